"""A Socket.IO namespace: its handlers, middlewares, sockets and rooms.

``server.of("/admin")`` makes one; the default namespace is ``/``. Handlers:

- ``@ns.on("connect")``: ``async def(socket, auth)``; raise
  :class:`~minisock.errors.ConnectRefusedError` to refuse (CONNECT_ERROR with message and data);
- ``@ns.on("disconnect")``: ``async def(socket, reason)``;
- ``@ns.on("<event>")``: ``async def(socket, *args)``; the return value becomes the ack
  (``None`` -> no arguments, a tuple -> several; ``NO_ACK`` -> none is sent, and
  ``socket.take_ack()`` answers later: see ``minisock/ack.py``);
- ``@ns.on("*")``: ``async def(socket, event, *args)`` for events with no handler of their own;
- ``@ns.on("error")``: ``async def(socket, error)`` when a socket's event middleware
  (``socket.use``) raises (a client's own ``"error"`` event reaches it too, as in Node);
- ``@ns.use``: ``async def(socket, auth)`` middlewares, run in order before ``connect``;
- ``@ns.on_server_side("<event>")``: ``async def(*args)`` for :meth:`server_side_emit` from
  the other servers of a cluster (never from clients); the return value answers
  :meth:`server_side_call`.

A *child* namespace is one that a client's CONNECT made from a parent (``server.of(regex)``
or ``server.of(callable)``, see :mod:`minisock.parent_namespace`); with the server's
``cleanup_empty_child_namespaces`` it goes when its last socket leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from minisock.adapters import Adapter
from minisock.broadcast import BroadcastOperator
from minisock.errors import ConnectRefusedError
from minisock.proto.sio import MAX_ACK_ID, RESERVED_EVENTS, check_event_name
from minisock.proto.token_bucket import RateLimit

if TYPE_CHECKING:
    from minisock.parent_namespace import ParentNamespace
    from minisock.remote_socket import RemoteSocket
    from minisock.server import Server
    from minisock.socket import Socket

__all__ = ["Namespace"]

log = logging.getLogger("minisock.namespace")

Handler = Callable[..., Awaitable[Any]]
Middleware = Callable[["Socket", dict[str, Any]], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])


class Namespace:
    """One namespace of a :class:`~minisock.server.Server`."""

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.engine_wires = server.parser.engine_wires
        """The server's encoder, one attribute away from every emit."""
        self.parent = parent
        """The parent namespace this child was made by, or ``None``."""
        self.closed = False
        """A child namespace that was cleaned up once empty (no longer the server's)."""
        self.sockets: dict[str, Socket] = {}
        """Connected sockets, by Socket.IO sid."""
        self.handlers: dict[str, Handler] = {}
        self.catch_all: Handler | None = None
        self.connect_handler: Handler | None = None
        self.disconnect_handler: Handler | None = None
        self.middlewares: list[Middleware] = []
        self.server_side_handlers: dict[str, Handler] = {}
        self._next_ack_id = 0
        self.rate_limit: RateLimit | None = server.rate_limit
        """The per-socket limit on incoming events here (the server's unless set)."""
        self.own_auth = False
        """This namespace checks its clients itself (the admin UI's login): the server's
        ``JWTAuth`` does not check its CONNECTs. The handshake is checked as always."""
        self.adapter: Adapter = self._new_adapter()

    def _new_adapter(self) -> Adapter:
        return self.server.adapter_factory(self)

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

    def on_server_side(self, event: str) -> Callable[[H], H]:
        """Register the handler of a server-side ``event``: ``async def(*args)``."""
        check_event_name(event, server_side=True)

        def register(handler: H) -> H:
            self.server_side_handlers[event] = handler
            return handler

        return register

    def next_ack_id(self) -> int:
        """Ack ids come from one counter per namespace, as in the reference: a broadcast with
        acks then uses one id for every socket, and it is free on each of them."""
        ack_id = self._next_ack_id
        self._next_ack_id = (ack_id + 1) % MAX_ACK_ID
        return ack_id

    # ---------------------------------------------------------------- membership

    def add(self, socket: Socket) -> None:
        # A child cleaned up while this socket's middlewares ran: open it again, unless the
        # name is another namespace's by now (the client may simply connect again).
        if self.closed and (self.parent is None or not self.parent.reopen(self)):
            raise ConnectRefusedError("Invalid namespace")
        self.sockets[socket.sid] = socket
        self.adapter.add(socket.sid, (socket.sid,))

    def remove(self, socket: Socket) -> None:
        self.sockets.pop(socket.sid, None)
        self.adapter.remove_all(socket.sid)
        self.release_if_empty()

    def release_if_empty(self) -> None:
        """A child namespace with no socket goes, if the server cleans up empty children."""
        if (
            self.parent is not None
            and not self.sockets
            and not self.closed
            and self.server.cleanup_empty_child_namespaces
        ):
            self.parent.close_child(self)

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

    @property
    def local(self) -> BroadcastOperator:
        """Every socket of this namespace on this server only."""
        return BroadcastOperator(self).local

    @property
    def volatile(self) -> BroadcastOperator:
        """Every socket of this namespace, dropping the packet where it cannot leave now."""
        return BroadcastOperator(self).volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        """Every socket of this namespace; ``compress(False)`` sends uncompressed."""
        return BroadcastOperator(self).compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return BroadcastOperator(self).timeout(seconds)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of this namespace, on every server."""
        await BroadcastOperator(self).emit(event, *args)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        return await BroadcastOperator(self).fetch_sockets()

    async def sockets_join(self, *rooms: str) -> None:
        await BroadcastOperator(self).sockets_join(*rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        await BroadcastOperator(self).sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await BroadcastOperator(self).disconnect_sockets(close)

    # ---------------------------------------------------------------- between servers

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to this namespace on every *other* server of the cluster."""
        check_event_name(event, server_side=True)
        await self.adapter.server_side_emit([event, *args])

    async def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`, and return every other server's answer.

        After ``timeout`` (the adapter's request timeout by default), raises
        :class:`~minisock.errors.AckTimeoutError` carrying the answers that came.
        """
        check_event_name(event, server_side=True)
        return await self.adapter.server_side_call([event, *args], timeout)

    async def run_server_side(self, data: list[Any]) -> tuple[bool, Any]:
        """Run the handler of a server-side event from another server.

        Returns ``(answered, value)``: with no handler there is no answer (the reference
        never calls the ack then, so the asking server waits out its timeout).
        """
        event, *args = data
        handler = self.server_side_handlers.get(event)
        if handler is None:
            return False, None
        try:
            return True, await handler(*args)
        except Exception:
            log.exception("server-side handler for %r failed", event)
            return True, None
