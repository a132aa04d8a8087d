"""A Socket.IO namespace: its handlers, middlewares, sockets and rooms.

``server.of("/admin")`` makes one; the default namespace is ``/``. Handlers:

- ``@ns.on("connect")``: ``async def(socket, auth)``; raise
  :class:`~minisock.errors.ConnectRefusedError` to refuse (CONNECT_ERROR with message and data);
- ``@ns.on("disconnect")``: ``async def(socket, reason)``;
- ``@ns.on("<event>")``: ``async def(socket, *args)``; the return value becomes the ack
  (``None`` -> no arguments, a tuple -> several);
- ``@ns.on("*")``: ``async def(socket, event, *args)`` for events with no handler of their own;
- ``@ns.use``: ``async def(socket, auth)`` middlewares, run in order before ``connect``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from minisock.adapter import Adapter
from minisock.broadcast import BroadcastOperator
from minisock.proto.sio import RESERVED_EVENTS

if TYPE_CHECKING:
    from minisock.server import Server
    from minisock.socket import Socket

__all__ = ["Namespace"]

Handler = Callable[..., Awaitable[Any]]
Middleware = Callable[["Socket", dict[str, Any]], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


class Namespace:
    """One namespace of a :class:`~minisock.server.Server`."""

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        """Connected sockets, by Socket.IO sid."""
        self.handlers: dict[str, Handler] = {}
        self.catch_all: Handler | None = None
        self.connect_handler: Handler | None = None
        self.disconnect_handler: Handler | None = None
        self.middlewares: list[Middleware] = []
        self.adapter: Adapter = server.adapter_factory(self)

    # ---------------------------------------------------------------- registration

    def on(self, event: str) -> Callable[[H], H]:
        """Register the handler of ``event`` (see the module docstring for signatures)."""

        def register(handler: H) -> H:
            if event == "connect":
                self.connect_handler = handler
            elif event == "disconnect":
                self.disconnect_handler = handler
            elif event == "*":
                self.catch_all = handler
            elif event in RESERVED_EVENTS:
                raise ValueError(f"{event!r} is reserved")
            else:
                self.handlers[event] = handler
            return handler

        return register

    def use(self, middleware: Middleware) -> Middleware:
        """Add a middleware: ``async def(socket, auth)``, run before the connect handler."""
        self.middlewares.append(middleware)
        return middleware

    # ---------------------------------------------------------------- membership

    def add(self, socket: Socket) -> None:
        self.sockets[socket.sid] = socket
        self.adapter.add(socket.sid, (socket.sid,))

    def remove(self, socket: Socket) -> None:
        self.sockets.pop(socket.sid, None)
        self.adapter.remove_all(socket.sid)

    def join(self, socket: Socket, rooms: Iterable[str]) -> None:
        """Join ``rooms``, within the server's bounds on room names and rooms per socket."""
        rooms = list(rooms)
        limit = self.server.max_room_name_length
        for room in rooms:
            if not isinstance(room, str) or len(room) > limit:
                raise ValueError(f"a room name is a string of at most {limit} characters")
        joined = self.adapter.rooms_of(socket.sid)
        new = {room for room in rooms if room not in joined}
        if len(joined) + len(new) > self.server.max_rooms_per_socket:
            raise ValueError(f"a socket joins at most {self.server.max_rooms_per_socket} rooms")
        self.adapter.add(socket.sid, rooms)

    # ---------------------------------------------------------------- broadcasting

    def to(self, *rooms: str) -> BroadcastOperator:
        return BroadcastOperator(self).to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        return BroadcastOperator(self).except_(*rooms)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of this namespace."""
        await BroadcastOperator(self).emit(event, *args)

    async def fetch_sockets(self) -> list[Socket]:
        return await BroadcastOperator(self).fetch_sockets()

    async def disconnect_sockets(self, close: bool = False) -> None:
        await BroadcastOperator(self).disconnect_sockets(close)
