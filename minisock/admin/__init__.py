"""The Socket.IO admin UI (``@socket.io/admin-ui``) for a minisock server.

    from minisock.admin import BasicAuth, instrument

    instrument(sio, auth=BasicAuth("admin", "$2b$12$..."), mode="development")

Then open the UI (https://admin.socket.io, or its files from the npm package, as the JWT
demo serves them at ``/admin/``), give it the server's URL and log in. See README.md,
"Admin UI". ``BasicAuth`` needs bcrypt: ``pip install 'minisock[admin]'``.
"""

from minisock.admin.credentials import BasicAuth, hash_password
from minisock.admin.instrument import AdminInstrument, instrument

__all__ = ["AdminInstrument", "BasicAuth", "hash_password", "instrument"]
