"""Dynamic namespaces: a parent made by ``server.of(regex)`` or ``server.of(callable)``.

    rooms = sio.of(re.compile(r"^/room-\\d+$"))

    @rooms.on("connect")
    async def hello(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("hello", socket.nsp)       # "/room-42": the child namespace

    await rooms.emit("news", "to every /room-N")     # each child, on every server

Theory of operation, after the reference (socket.io ``index.ts`` ``of`` and
``_checkNamespace``, ``parent-namespace.ts``):

1. A CONNECT to a namespace the server has (static, or a child made earlier) goes there.
   So an exact name wins over every pattern.
2. Otherwise the parents are asked in the order they were made: a pattern matches with
   ``re.search`` (JavaScript's ``regex.test``), a callable gets ``(name, auth)`` and answers
   with a truth value, possibly after awaiting. The first that says yes makes the child; if
   another connection made it meanwhile, that one is used. A callable that raises counts as
   "no" (logged), as an error does in the reference. Nobody says yes: ``Invalid namespace``.
3. A child is an ordinary namespace of the server, with its own adapter (its own Redis
   channels with the Redis adapter). It gets the parent's middlewares and handlers, including
   those registered on the parent later (the reference copies them once, at creation).
4. Broadcasts on the parent go to each child it has on this server, and from there to that
   child on the other servers. Queries (``fetch_sockets``...) are refused, as in the
   reference: a child may exist on one server and not on another.
5. ``server.of("/room-7")`` with a name that a pattern parent matches makes that child (the
   reference does too); callables are only asked by connections.
6. Bounded (the reference is not): at most ``Server(max_namespaces=...)`` children at once;
   beyond it, the CONNECT is refused with a message saying so.
7. With ``Server(cleanup_empty_child_namespaces=True)`` a child goes when its last socket
   leaves (or when the connection that made it is refused): its adapter is closed (Redis
   unsubscribed), and a later CONNECT makes it again.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import trio

from minisock.adapters import AckCallbacks, Adapter, BroadcastOptions, RoomListener
from minisock.namespace import H, Middleware, Namespace
from minisock.proto.eio import WirePacket
from minisock.proto.recovery import Claim, KeptSession, RecoveryStore
from minisock.proto.rooms import RoomEvent
from minisock.proto.sio import SioPacket

if TYPE_CHECKING:
    from minisock.remote_socket import RemoteSocket
    from minisock.server import Server
    from minisock.socket import Socket

__all__ = ["NamespaceMatcher", "ParentNamespace"]

log = logging.getLogger("minisock.namespace")

NamespaceMatcher = Callable[[str, dict[str, Any]], bool | Awaitable[bool]]
"""``(name, auth) -> bool``, sync or async: may a client connect to namespace ``name``?"""

_count = itertools.count()


class ParentNamespace(Namespace):
    """Handlers, middlewares and broadcasts for every child namespace its matcher allows."""

    def __init__(self, server: Server, matcher: re.Pattern[str] | NamespaceMatcher) -> None:
        self.matcher = matcher
        self.children: dict[str, Namespace] = {}
        """This server's children, by name."""
        # The reference's name for a parent; never a namespace a client can reach.
        super().__init__(server, f"/_{next(_count)}")

    def _new_adapter(self) -> Adapter:
        return ParentAdapter(self)

    # ---------------------------------------------------------------- matching

    async def allows(self, name: str, auth: dict[str, Any]) -> bool:
        """Whether this parent takes ``name`` (rule 2); a matcher that raises says no."""
        matcher = self.matcher
        if isinstance(matcher, re.Pattern):
            return matcher.search(name) is not None
        try:
            answer = matcher(name, auth)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception:
            log.exception("the namespace check for %r failed; refusing it", name)
            return False
        return bool(answer)

    # ---------------------------------------------------------------- children

    def create_child(self, name: str) -> Namespace:
        """Make and register the child ``name`` (the caller checked the server's bound)."""
        child = Namespace(self.server, name, parent=self)
        child.handlers = dict(self.handlers)
        child.catch_all = self.catch_all
        child.connect_handler = self.connect_handler
        child.disconnect_handler = self.disconnect_handler
        child.middlewares = list(self.middlewares)
        child.server_side_handlers = dict(self.server_side_handlers)
        child.rate_limit = self.rate_limit
        self._attach(child)
        log.debug("created the child namespace %s", name)
        return child

    def _attach(self, child: Namespace) -> None:
        adapter = self.adapter
        assert isinstance(adapter, ParentAdapter)
        for event, listeners in adapter.listeners.items():
            for listener in listeners:
                child.adapter.on(event)(listener)
        self.children[child.name] = child
        self.server.namespaces[child.name] = child

    def close_child(self, child: Namespace) -> None:
        """Cleanup of an empty child (rule 7): it stops being the server's."""
        child.closed = True
        if self.server.namespaces.get(child.name) is child:
            del self.server.namespaces[child.name]
        if self.children.get(child.name) is child:
            del self.children[child.name]
        child.adapter.close()
        log.debug("closed the empty child namespace %s", child.name)

    def reopen(self, child: Namespace) -> bool:
        """Register a closed child again, with a new adapter, if its name and the bound allow."""
        server = self.server
        if child.name in server.namespaces or server.child_namespaces_full():
            return False
        child.closed = False
        child.adapter = child._new_adapter()
        self._attach(child)
        return True

    # ---------------------------------------------------------------- registration, for all

    def on(self, event: str) -> Callable[[H], H]:
        """Register a handler here and on every child, present and future."""

        def register(handler: H) -> H:
            super(ParentNamespace, self).on(event)(handler)
            for child in self.children.values():
                child.on(event)(handler)
            return handler

        return register

    def use(self, middleware: Middleware) -> Middleware:
        super().use(middleware)
        for child in self.children.values():
            child.use(middleware)
        return middleware

    def on_server_side(self, event: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            super(ParentNamespace, self).on_server_side(event)(handler)
            for child in self.children.values():
                child.on_server_side(event)(handler)
            return handler

        return register

    def __repr__(self) -> str:
        return f"<ParentNamespace {self.name} of {self.matcher!r}: {len(self.children)} children>"


class ParentAdapter:
    """A parent's adapter: what it is asked, it asks of each child's adapter (rule 4)."""

    __slots__ = ("listeners", "namespace", "recovery")

    def __init__(self, namespace: ParentNamespace) -> None:
        self.namespace: Namespace = namespace
        self.listeners: dict[str, list[RoomListener]] = {}
        self.recovery: RecoveryStore | None = None  # each child keeps its own sessions

    def _children(self) -> list[Namespace]:
        parent = self.namespace
        assert isinstance(parent, ParentNamespace)
        return list(parent.children.values())  # a copy: children may go while we await

    # A parent has no sockets of its own.
    def add(self, sio_sid: str, rooms: Iterable[str]) -> None:
        raise TypeError("a parent namespace has no sockets of its own")

    def remove(self, sio_sid: str, room: str) -> None:
        pass

    def stamp(self, packet: SioPacket) -> tuple[SioPacket, list[WirePacket]]:
        raise TypeError("a parent namespace has no sockets of its own")

    def record(
        self,
        packet: SioPacket,
        wires: list[WirePacket],
        rooms: frozenset[str],
        except_rooms: frozenset[str],
    ) -> None:
        raise TypeError("a parent namespace has no sockets of its own")

    def persist_session(self, session: KeptSession) -> None:
        raise TypeError("a parent namespace has no sockets of its own")

    def restore_session(self, pid: str, offset: str, identity: Any) -> Claim | None:
        return None

    def remove_all(self, sio_sid: str) -> None:
        pass

    def rooms_of(self, sio_sid: str) -> frozenset[str]:
        return frozenset()

    def on(self, event: str) -> Callable[[RoomListener], RoomListener]:
        """Room events of every child, present and future: ``(room)`` or ``(room, sid)``."""
        RoomEvent(event)  # ValueError for a name the reference does not emit

        def register(listener: RoomListener) -> RoomListener:
            self.listeners.setdefault(event, []).append(listener)
            for child in self._children():
                child.adapter.on(event)(listener)
            return listener

        return register

    def close(self) -> None:
        pass

    # ---------------------------------------------------------------- fanned out to children

    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None:
        for child in self._children():
            await child.adapter.broadcast(_for(child, packet), opts)

    async def broadcast_with_ack(
        self, packet: SioPacket, opts: BroadcastOptions, callbacks: AckCallbacks
    ) -> Callable[[], None]:
        """Each child counts as the servers it has (see :meth:`server_count`). On this server
        only (``local``), the children's counts are added up and reported as one server's."""
        total = 0

        def add(count: int) -> None:
            nonlocal total
            total += count

        passed = AckCallbacks(add, callbacks.ack) if opts.local else callbacks
        forgets = [
            await child.adapter.broadcast_with_ack(_for(child, packet), opts, passed)
            for child in self._children()
        ]
        if opts.local:
            callbacks.client_count(total)

        def forget() -> None:
            for each in forgets:
                each()

        return forget

    async def server_count(self) -> int:
        count = 0
        for child in self._children():
            count += await child.adapter.server_count()
        return count

    async def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for child in self._children():
            await child.adapter.add_sockets(opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for child in self._children():
            await child.adapter.del_sockets(opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for child in self._children():
            await child.adapter.disconnect_sockets(opts, close)

    async def server_side_emit(self, data: list[Any]) -> None:
        for child in self._children():
            await child.adapter.server_side_emit(data)

    async def server_side_call(self, data: list[Any], timeout: float | None) -> list[Any]:
        answers: list[Any] = []
        for child in self._children():
            answers += await child.adapter.server_side_call(data, timeout)
        return answers

    # ---------------------------------------------------------------- refused, as in the reference

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocket]:
        await trio.lowlevel.checkpoint()
        raise NotImplementedError(_NO_QUERIES.format("fetch_sockets"))

    async def sids(self, opts: BroadcastOptions) -> set[str]:
        await trio.lowlevel.checkpoint()
        raise NotImplementedError(_NO_QUERIES.format("sids"))

    async def has_members(self, opts: BroadcastOptions) -> bool:
        await trio.lowlevel.checkpoint()
        raise NotImplementedError(_NO_QUERIES.format("has_members"))

    async def all_rooms(self) -> set[str]:
        await trio.lowlevel.checkpoint()
        raise NotImplementedError(_NO_QUERIES.format("all_rooms"))


_NO_QUERIES = (
    "{}() is not supported on a parent namespace (a child may exist on one server and not on "
    "another); ask a child: server.of('/name')"
)


def _for(child: Namespace, packet: SioPacket) -> SioPacket:
    """The parent's packet, addressed to ``child``."""
    return SioPacket(packet.type, child.name, packet.data, packet.id)
