"""The seam through which instrumentation sees sockets come and go (``Server.observer``).

Node's ``@socket.io/admin-ui`` adds its own ``connection`` and ``disconnect`` listeners; a
minisock namespace has one connect and one disconnect handler, the application's. So the
server tells one observer instead, if it has one. Calls are plain and synchronous, made as
the reference emits its events:

- ``socket_connected`` once the CONNECT answer is queued (after the connect handler, or
  when ``call()`` inside it commits the connection early);
- ``socket_disconnected`` for a socket that was connected, before it leaves its rooms (Node
  emits ``disconnect`` before the adapter's ``leave-room`` listeners are told, on the next
  tick).

An observer must not raise and must not wait: it runs inside the server's bookkeeping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from minisock.socket import Socket

__all__ = ["SocketObserver"]


class SocketObserver(Protocol):
    def socket_connected(self, socket: Socket) -> None: ...
    def socket_disconnected(self, socket: Socket, reason: str) -> None: ...
