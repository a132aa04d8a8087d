"""The in-memory adapter: one process, rooms in a :class:`RoomRegistry`.

Every cluster-wide operation of :class:`~minisock.adapters.Adapter` has its one-server answer
here, and the Redis adapter builds on these for its own share of the sockets.

Room events (``create-room``, ``delete-room``, ``join-room``, ``leave-room``) are fired here,
from what the registry reports, as the reference's in-memory adapter emits them; listeners
are called synchronously, in order, and one that raises is logged and does not stop the
others. Until the first listener is added, the registry is not even asked to report.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import trio

from minisock.adapters import AckCallbacks, BroadcastOptions, RoomListener
from minisock.proto.eio import WirePacket, uncompressed
from minisock.proto.recovery import Claim, KeptSession, RecoveryStore
from minisock.proto.rooms import RoomChange, RoomEvent, RoomRegistry
from minisock.proto.sio import SioPacket, SioPacketType
from minisock.socket_hooks import notify

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.remote_socket import RemoteSocket
    from minisock.socket import Socket

__all__ = ["LocalAdapter"]

log = logging.getLogger("minisock.adapter")

OFFSET_EPOCH = secrets.token_urlsafe(6)
"""Starts every offset this process gives: a client coming back from another process (or
from before a restart) names an offset that does not parse here, so it is a new socket."""


class LocalAdapter:
    """The sockets of this process only."""

    __slots__ = ("_listeners", "namespace", "recovery", "registry")

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.registry = RoomRegistry()
        self._listeners: dict[RoomEvent, list[RoomListener]] | None = None  # until one listens
        config = namespace.server.recovery
        self.recovery = RecoveryStore(config, OFFSET_EPOCH) if config is not None else None

    def add(self, sio_sid: str, rooms: Iterable[str]) -> None:
        if self._listeners is None:
            self.registry.add(sio_sid, rooms)
            return
        changes: list[RoomChange] = []
        self.registry.add(sio_sid, rooms, changes)
        self._fire(changes)

    def remove(self, sio_sid: str, room: str) -> None:
        if self._listeners is None:
            self.registry.remove(sio_sid, room)
            return
        changes: list[RoomChange] = []
        self.registry.remove(sio_sid, room, changes)
        self._fire(changes)

    def remove_all(self, sio_sid: str) -> None:
        if self._listeners is None:
            self.registry.remove_all(sio_sid)
            return
        changes: list[RoomChange] = []
        self.registry.remove_all(sio_sid, changes)
        self._fire(changes)

    # ---------------------------------------------------------------- room events

    def on(self, event: str) -> Callable[[RoomListener], RoomListener]:
        """Listen to a room event: ``@ns.adapter.on("join-room")`` over ``def(room, sid)``.

        ``create-room`` and ``delete-room`` listeners take ``(room)``; ``join-room`` and
        ``leave-room`` take ``(room, sid)``. Listeners are plain functions, called at once.
        """
        kind = RoomEvent(event)  # ValueError for a name the reference does not emit

        def register(listener: RoomListener) -> RoomListener:
            if self._listeners is None:
                self._listeners = {}
            self._listeners.setdefault(kind, []).append(listener)
            return listener

        return register

    def _fire(self, changes: list[RoomChange]) -> None:
        listeners = self._listeners
        assert listeners is not None
        for kind, room, sio_sid in changes:
            for listener in listeners.get(kind, ()):
                try:
                    if sio_sid is None:
                        listener(room)
                    else:
                        listener(room, sio_sid)
                except Exception:
                    log.exception("a %s listener failed", kind.value)

    def close(self) -> None:
        """The namespace is gone (an empty child namespace cleaned up): nothing to release."""

    def rooms_of(self, sio_sid: str) -> frozenset[str]:
        return self.registry.rooms_of(sio_sid)

    def local_targets(self, opts: BroadcastOptions) -> list[Socket]:
        sockets = self.namespace.sockets
        chosen = self.registry.select(opts.rooms, opts.except_rooms)
        return [sockets[sid] for sid in chosen if sid in sockets]

    # ---------------------------------------------------------------- this server's share

    def deliver(self, packet: SioPacket, opts: BroadcastOptions) -> None:
        """Encode once, then hand the same wire packets to every target, never waiting on one."""
        volatile = opts.volatile
        if self.recovery is not None and packet.type is SioPacketType.EVENT and not volatile:
            stamped, wires = self.stamp(packet)
            self.record(stamped, wires, opts.rooms, opts.except_rooms)
        else:
            wires = self.namespace.engine_wires(packet)
        if not opts.compress:
            wires = [uncompressed(wire) for wire in wires]
        for socket in self.local_targets(opts):
            if socket.hooks is not None:  # Node notifies before the volatile check
                notify(socket.hooks.any_outgoing, packet.data)
            socket.deliver_nowait(wires, volatile)

    # ---------------------------------------------------------------- recovery

    def stamp(self, packet: SioPacket) -> tuple[SioPacket, list[WirePacket]]:
        """``packet`` with the next offset as its last argument, and its wire packets. Not
        in the log until :meth:`record` (a send that waits for room stamps again)."""
        assert self.recovery is not None
        data = [*packet.data, self.recovery.next_offset()]
        stamped = SioPacket(packet.type, packet.nsp, data)
        return stamped, self.namespace.engine_wires(stamped)

    def record(
        self,
        packet: SioPacket,
        wires: list[WirePacket],
        rooms: frozenset[str],
        except_rooms: frozenset[str],
    ) -> None:
        """Log a stamped event as sent to ``rooms`` minus ``except_rooms``."""
        assert self.recovery is not None
        size = sum(len(wire) for wire in wires)
        dropped = self.recovery.record(packet.data, rooms, except_rooms, size, trio.current_time())
        if dropped:
            log.warning(
                "recovery log of %s full: dropped its %d oldest event(s); sockets that "
                "missed them will come back as new sockets",
                self.namespace.name,
                dropped,
            )

    def persist_session(self, session: KeptSession) -> None:
        """Keep a socket's session for ``max_disconnection_duration``."""
        assert self.recovery is not None
        evicted = self.recovery.persist(session)
        if evicted is not None:
            log.warning(
                "recovery store of %s full (%d sessions): dropped the oldest one",
                self.namespace.name,
                len(self.recovery),
            )

    def restore_session(self, pid: str, offset: str, identity: Any) -> Claim | None:
        """Claim the session ``pid`` for a reconnecting client, or ``None`` (a new socket)."""
        assert self.recovery is not None
        claim = self.recovery.claim(pid, offset, identity, trio.current_time())
        if isinstance(claim, str):
            log.info("connection state not recovered in %s: %s", self.namespace.name, claim)
            return None
        return claim

    def deliver_with_ack(
        self, packet: SioPacket, opts: BroadcastOptions, callbacks: AckCallbacks
    ) -> Callable[[], None]:
        """One ack id for every target (it comes from the namespace's counter, so it is free
        on each of them), so the packet is still encoded once."""
        ack_id = self.namespace.next_ack_id()
        wires = self.namespace.engine_wires(SioPacket(packet.type, packet.nsp, packet.data, ack_id))
        if not opts.compress:
            wires = [uncompressed(wire) for wire in wires]
        targets = self.local_targets(opts)

        def answered(args: list[Any] | None) -> None:
            if args is not None:  # None: the socket left first; like the reference, no answer
                callbacks.ack(args[0] if args else None)

        for socket in targets:
            socket.expect_ack(ack_id, answered)
            if socket.hooks is not None:
                notify(socket.hooks.any_outgoing, packet.data)
            socket.deliver_nowait(wires, opts.volatile)
        callbacks.client_count(len(targets))

        def forget() -> None:
            for socket in targets:
                socket.forget_ack(ack_id)

        return forget

    def add_local(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for socket in self.local_targets(opts):
            socket.join(*rooms)

    def del_local(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for socket in self.local_targets(opts):
            for room in rooms:
                socket.leave(room)

    def disconnect_local(self, opts: BroadcastOptions, close: bool) -> None:
        for socket in self.local_targets(opts):
            socket.disconnect_nowait(close)

    # ---------------------------------------------------------------- the Adapter seam

    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None:
        self.deliver(packet, opts)
        await trio.lowlevel.checkpoint()

    async def broadcast_with_ack(
        self, packet: SioPacket, opts: BroadcastOptions, callbacks: AckCallbacks
    ) -> Callable[[], None]:
        await trio.lowlevel.checkpoint()  # first: cancelled here, nothing was sent
        return self.deliver_with_ack(packet, opts, callbacks)

    async def server_count(self) -> int:
        await trio.lowlevel.checkpoint()
        return 1

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocket]:
        await trio.lowlevel.checkpoint()
        return list(self.local_targets(opts))

    async def sids(self, opts: BroadcastOptions) -> set[str]:
        await trio.lowlevel.checkpoint()
        return self.registry.select(opts.rooms, opts.except_rooms)

    async def has_members(self, opts: BroadcastOptions) -> bool:
        await trio.lowlevel.checkpoint()
        return self.has_local_members(opts)

    def has_local_members(self, opts: BroadcastOptions) -> bool:
        """Cheap when asking about rooms without exceptions: one lookup per room."""
        if opts.rooms and not opts.except_rooms:
            return any(self.registry.has_members(room) for room in opts.rooms)
        return bool(self.registry.select(opts.rooms, opts.except_rooms))

    async def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        self.add_local(opts, rooms)
        await trio.lowlevel.checkpoint()

    async def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        self.del_local(opts, rooms)
        await trio.lowlevel.checkpoint()

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self.disconnect_local(opts, close)
        await trio.lowlevel.checkpoint()

    async def all_rooms(self) -> set[str]:
        await trio.lowlevel.checkpoint()
        return set(self.registry.rooms())

    async def server_side_emit(self, data: list[Any]) -> None:
        """No other server to tell (the reference does not deliver to itself either)."""
        await trio.lowlevel.checkpoint()

    async def server_side_call(self, data: list[Any], timeout: float | None) -> list[Any]:
        await trio.lowlevel.checkpoint()
        return []
