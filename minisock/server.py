"""The Socket.IO server: namespaces and handlers on top of an Engine.IO server.

    sio = Server()                       # serves /socket.io/

    @sio.on("chat")
    async def chat(socket: Socket, text: str) -> str:
        await sio.to("room").emit("chat", text)
        return "delivered"               # becomes the ack, if the client asked for one

    trio.run(sio.serve, "127.0.0.1", 3000)

The Engine.IO server underneath is ``sio.engine``; options not named here (ping timings,
maxPayload, CORS, ...) pass through to it.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload, runtime_checkable

import trio

from minisock import trace
from minisock._client import Client
from minisock._timers import TimerHeap
from minisock.adapters import Adapter
from minisock.adapters.local import OFFSET_EPOCH, LocalAdapter
from minisock.auth import JWTAuth
from minisock.broadcast import BroadcastOperator
from minisock.engine import EngineServer, RouteHandler
from minisock.engine_socket import EngineSocket
from minisock.namespace import Handler, Middleware, Namespace
from minisock.observer import SocketObserver
from minisock.parent_namespace import NamespaceMatcher, ParentNamespace
from minisock.proto.eio_session import CloseReason
from minisock.proto.parser import Parser, parser_named
from minisock.proto.recovery import Recovery
from minisock.proto.sio import DecoderLimits, check_namespace_name
from minisock.proto.token_bucket import RateLimit
from minisock.stats import ServerStats

if TYPE_CHECKING:
    from minisock.class_namespace import ClassNamespace
    from minisock.remote_socket import RemoteSocket
    from minisock.socket import Socket

__all__ = ["Server"]

log = logging.getLogger("minisock.server")

H = TypeVar("H", bound=Handler)


@runtime_checkable
class ClusterBus(Protocol):
    """An adapter factory that also runs something (a Redis connection) while serving."""

    def __call__(self, namespace: Namespace) -> Adapter: ...
    async def run(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None: ...


# The Socket.IO name for an Engine.IO session we closed ourselves.
_REASONS = {CloseReason.FORCED_CLOSE: "forced server close"}


class Server:
    """A Socket.IO v5 server. Times are in seconds."""

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        connect_timeout: float = 45.0,
        max_attachments: int = 10,
        max_args: int = 1000,
        max_depth: int = 32,
        max_queued_events: int = 64,
        max_rooms_per_socket: int = 1000,
        max_room_name_length: int = 256,
        adapter: Callable[[Namespace], Adapter] = LocalAdapter,
        auth: JWTAuth | None = None,
        cleanup_empty_child_namespaces: bool = False,
        max_namespaces: int = 1000,
        rate_limit: RateLimit | None = None,
        connection_state_recovery: Recovery | None = None,
        parser: str = "json",
        **engine_options: Any,
    ) -> None:
        self.parser: Parser = parser_named(parser)
        """The wire format of every connection: ``"json"`` (socket.io-parser, the default) or
        ``"msgpack"`` (socket.io-msgpack-parser; needs ``minisock[msgpack]``)."""
        self.auth = auth
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        """A child of a dynamic namespace goes when its last socket leaves (Node 4.6+)."""
        self.max_namespaces = max_namespaces
        """The bound on child namespaces at once (CONNECTs beyond it are refused)."""
        self.rate_limit = rate_limit
        """Per-socket limit on incoming events (``Namespace.rate_limit`` overrides it)."""
        self.recovery = connection_state_recovery
        """Connection state recovery (see ``minisock/proto/recovery.py``), off by default."""
        if connection_state_recovery is not None:
            trace.mark_offsets(OFFSET_EPOCH)
        self.observer: SocketObserver | None = None
        """Told when a socket connects or disconnects (``minisock.admin`` sets it); ``None``
        costs one check per connect and disconnect, never per message."""
        self.stats = ServerStats()
        """What the server dropped: volatile packets, rate-limited events."""
        if auth is not None:
            engine_options.setdefault("handshake_check", auth.check_handshake)
        self.engine = EngineServer(path=path, **engine_options)
        self.connect_timeout = connect_timeout
        self.decoder_limits = DecoderLimits(
            max_attachments=max_attachments, max_args=max_args, max_depth=max_depth
        )
        self.max_queued_events = max_queued_events
        self.max_rooms_per_socket = max_rooms_per_socket
        self.max_room_name_length = max_room_name_length
        self.adapter_factory = adapter
        if isinstance(adapter, ClusterBus):
            self.engine.run_service(adapter.run)
        self.namespaces: dict[str, Namespace] = {}
        """Static namespaces and the children of dynamic ones, by name."""
        self.parents: list[ParentNamespace] = []
        """Dynamic namespaces, in the order they were made (asked in that order)."""
        self._timers: TimerHeap[Client] = TimerHeap(self._on_timer)
        self.engine.on_connect = self._engine_connect
        self.engine.on_message = self._engine_message
        self.engine.on_disconnect = self._engine_disconnect
        self.engine.run_in_background(self._timers.run)
        self.of("/")

    # ---------------------------------------------------------------- namespaces

    @overload
    def of(self, name: str) -> Namespace: ...
    @overload
    def of(self, name: re.Pattern[str] | NamespaceMatcher) -> ParentNamespace: ...

    def of(self, name: str | re.Pattern[str] | NamespaceMatcher) -> Namespace:
        """The namespace ``name``, created on first use; or, given a compiled regular
        expression or a ``(name, auth) -> bool`` callable (sync or async), a new dynamic
        namespace whose children are made when clients connect to a name it allows (see
        :mod:`minisock.parent_namespace`). A name holding ``\\x1e`` raises ``ValueError``
        (:func:`~minisock.proto.sio.check_namespace_name`)."""
        if not isinstance(name, str):
            parent = ParentNamespace(self, name)
            self.parents.append(parent)
            return parent
        if not name.startswith("/"):
            name = "/" + name
        namespace = self.namespaces.get(name)
        if namespace is not None:
            return namespace
        check_namespace_name(name)
        for parent in self.parents:
            if isinstance(parent.matcher, re.Pattern) and parent.matcher.search(name):
                if self.child_namespaces_full():
                    raise ValueError(self._full_message())
                return parent.create_child(name)
        namespace = self.namespaces[name] = Namespace(self, name)
        return namespace

    async def namespace_for(self, name: str, auth: dict[str, Any]) -> Namespace | str:
        """Where a client's CONNECT to ``name`` goes, or why it is refused (the message)."""
        namespace = self.namespaces.get(name)
        if namespace is not None:
            return namespace
        try:
            check_namespace_name(name)  # a WebSocket client can send such a name
        except ValueError:
            return "Invalid namespace"  # no parent may make it: Node's answer to unknown names
        for parent in list(self.parents):
            if not await parent.allows(name, auth):
                continue
            namespace = self.namespaces.get(name)
            if namespace is not None:
                return namespace  # made by another connection while we asked
            if self.child_namespaces_full():
                log.warning("refused the namespace %r: %s", name, self._full_message())
                return self._full_message()
            return parent.create_child(name)
        return "Invalid namespace"

    def child_namespaces_full(self) -> bool:
        return sum(len(parent.children) for parent in self.parents) >= self.max_namespaces

    def _full_message(self) -> str:
        return f"Too many namespaces: this server holds at most {self.max_namespaces}"

    def register_namespace(self, handlers: ClassNamespace) -> Namespace:
        """Serve a class-based namespace (see :class:`~minisock.class_namespace.ClassNamespace`)."""
        return handlers.bind(self)

    @property
    def sockets(self) -> Namespace:
        """The default namespace ``/``."""
        return self.namespaces["/"]

    def on(self, event: str) -> Callable[[H], H]:
        """Register a handler on the default namespace (see :class:`Namespace`)."""
        return self.sockets.on(event)

    def use(self, middleware: Middleware) -> Middleware:
        return self.sockets.use(middleware)

    def to(self, *rooms: str) -> BroadcastOperator:
        return self.sockets.to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        return self.sockets.except_(*rooms)

    @property
    def local(self) -> BroadcastOperator:
        """The default namespace on this server only: ``sio.local.emit(...)``."""
        return self.sockets.local

    @property
    def volatile(self) -> BroadcastOperator:
        """``sio.volatile.emit(...)``: sockets that cannot write now miss it (counted)."""
        return self.sockets.volatile

    def compress(self, compress: bool) -> BroadcastOperator:
        """``sio.compress(False).emit(...)``: this broadcast goes uncompressed."""
        return self.sockets.compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """``await sio.timeout(5).call("event")``: every client's answer (see ``call``)."""
        return self.sockets.timeout(seconds)

    async def emit(self, event: str, *args: Any) -> None:
        await self.sockets.emit(event, *args)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        return await self.sockets.fetch_sockets()

    async def sockets_join(self, *rooms: str) -> None:
        await self.sockets.sockets_join(*rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        await self.sockets.sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.sockets.disconnect_sockets(close)

    def on_server_side(self, event: str) -> Callable[[H], H]:
        """Register a server-side event handler on the default namespace."""
        return self.sockets.on_server_side(event)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the other servers of the cluster (see :class:`Namespace`)."""
        await self.sockets.server_side_emit(event, *args)

    async def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Every other server's answer to ``event`` (see :meth:`Namespace.server_side_call`)."""
        return await self.sockets.server_side_call(event, *args, timeout=timeout)

    def mount(self, engine: EngineServer) -> None:
        """Also serve a plain Engine.IO server (on its own path) on this server's port."""
        self.engine.mount(engine)

    def route(self, method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
        """A plain HTTP route served beside ``/socket.io/`` (see :meth:`EngineServer.route`)."""
        return self.engine.route(method, path)

    # ---------------------------------------------------------------- lifecycle

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and serve until cancelled or :meth:`shutdown`; reports the bound port.

        With ``ssl_context`` it serves ``https://`` and ``wss://``."""
        await self.engine.serve(host, port, ssl_context=ssl_context, task_status=task_status)

    async def serve_listeners(
        self,
        listeners: Sequence[trio.SocketListener | trio.SSLListener[trio.SocketStream]],
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await self.engine.serve_listeners(listeners, task_status=task_status)

    def shutdown(self) -> None:
        """Disconnect everyone ("server shutting down") and stop serving."""
        self.engine.shutdown()

    # ---------------------------------------------------------------- engine events

    def _client_of(self, engine: EngineSocket) -> Client:
        client = engine.app
        if client is None:
            client = engine.app = Client(self, engine, trio.current_time())
            self.schedule(client)
        assert isinstance(client, Client)
        return client

    async def _engine_connect(self, engine: EngineSocket) -> None:
        self._client_of(engine)

    async def _engine_message(self, engine: EngineSocket, data: str | bytes) -> None:
        client = engine.app  # made at connect: looked up here without a call per message
        if client is None:
            client = self._client_of(engine)
        await client.receive(data)

    async def _engine_disconnect(self, engine: EngineSocket, reason: str) -> None:
        client = engine.app
        if isinstance(client, Client):
            client.engine_closed(_REASONS.get(reason, reason))

    def schedule(self, client: Client) -> None:
        self._timers.schedule(client, client.next_deadline())

    def _on_timer(self, client: Client, now: float) -> None:
        if client.state.connect_expired(now) and not client.engine.closed:
            log.debug("no namespace joined within connectTimeout; closing")
            client.engine.close("connect timeout")
        client.expire_tokens(now)
        self.schedule(client)
