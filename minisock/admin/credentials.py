"""The admin UI's login: a username and a bcrypt-hashed password, as Node's
``auth: {type: "basic", username, password}``.

bcrypt is the optional extra ``minisock[admin]`` (``pip install minisock[admin]``); it is
imported only when credentials are made. Checking a password is slow on purpose (the hash's
cost), so the instrumentation runs :meth:`BasicAuth.check` in a worker thread, one at a time.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BasicAuth", "hash_password"]

# A bcrypt hash: $2a$, $2b$, $2x$ or $2y$, a two-digit cost, 53 characters of bcrypt's base64.
_BCRYPT_HASH = re.compile(r"\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}")


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError as exc:  # pragma: no cover - the extra is installed by make test
        raise ImportError(
            "the admin UI's password check needs bcrypt: pip install 'minisock[admin]'"
        ) from exc
    return bcrypt


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password``, to give :class:`BasicAuth` (and keep out of the code)."""
    salt = _bcrypt().gensalt(rounds)
    return str(_bcrypt().hashpw(password.encode("utf-8"), salt).decode("ascii"))


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Who may log in to the admin UI: ``password_hash`` is a bcrypt hash, never the password
    (make one with :func:`hash_password`, or ``htpasswd -nbBC 12 "" secret``)."""

    username: str
    password_hash: str

    def __post_init__(self) -> None:
        if not _BCRYPT_HASH.fullmatch(self.password_hash):
            raise ValueError("password_hash must be a bcrypt hash ($2b$12$...)")
        _bcrypt()  # fail now, at instrument(), rather than at the first login

    def check(self, username: object, password: object) -> bool:
        """Whether the CONNECT payload's ``username`` and ``password`` are these. The hash is
        compared even for a wrong username, so the time taken does not tell which was wrong.
        Blocking (bcrypt's cost): run it in a thread."""
        if not isinstance(username, str) or not isinstance(password, str):
            return False
        secret = password.encode("utf-8")
        if len(secret) > 72:  # bcrypt's limit; bcrypt 5 refuses longer ones
            return False
        right_name = hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))
        right_password = bool(_bcrypt().checkpw(secret, self.password_hash.encode("ascii")))
        return right_name and right_password
