"""Where broadcasts go: the adapter interface and the in-memory adapter.

A broadcast carries the *unencoded* packet plus its target and excepted rooms, and each
server encodes it once for its own sockets. That is the shape of the reference's adapters,
so a cluster adapter (Redis, later) can ship the same message between servers and deliver
what it receives through the same local path.

Membership changes are synchronous and local; operations that may cross servers are async.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import trio

from minisock.proto.eio import WirePacket
from minisock.proto.rooms import RoomRegistry
from minisock.proto.sio import SioPacket, encode

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.socket import Socket

__all__ = ["Adapter", "BroadcastOptions", "LocalAdapter", "engine_wires"]


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets: members of any of ``rooms`` (everyone if empty), minus ``except_rooms``."""

    rooms: frozenset[str] = field(default_factory=frozenset)
    except_rooms: frozenset[str] = field(default_factory=frozenset)


class Adapter(Protocol):
    """What a namespace needs from an adapter."""

    def add(self, sio_sid: str, rooms: Iterable[str]) -> None: ...
    def remove(self, sio_sid: str, room: str) -> None: ...
    def remove_all(self, sio_sid: str) -> None: ...
    def rooms_of(self, sio_sid: str) -> frozenset[str]: ...
    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None: ...
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket]: ...
    async def sids(self, opts: BroadcastOptions) -> set[str]: ...
    async def has_members(self, opts: BroadcastOptions) -> bool: ...


def engine_wires(packet: SioPacket) -> list[WirePacket]:
    """Encode ``packet`` once into the Engine.IO message wire packets every recipient gets."""
    parts = encode(packet)
    return [f"4{parts[0]!s}", *parts[1:]]


class LocalAdapter:
    """The in-memory adapter: one process, rooms in a :class:`RoomRegistry`."""

    __slots__ = ("namespace", "registry")

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.registry = RoomRegistry()

    def add(self, sio_sid: str, rooms: Iterable[str]) -> None:
        self.registry.add(sio_sid, rooms)

    def remove(self, sio_sid: str, room: str) -> None:
        self.registry.remove(sio_sid, room)

    def remove_all(self, sio_sid: str) -> None:
        self.registry.remove_all(sio_sid)

    def rooms_of(self, sio_sid: str) -> frozenset[str]:
        return self.registry.rooms_of(sio_sid)

    def _targets(self, opts: BroadcastOptions) -> list[Socket]:
        sockets = self.namespace.sockets
        chosen = self.registry.select(opts.rooms, opts.except_rooms)
        return [sockets[sid] for sid in chosen if sid in sockets]

    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None:
        """Encode once, then hand the same wire packets to every target, never waiting on one."""
        wires = engine_wires(packet)
        for socket in self._targets(opts):
            socket.deliver_nowait(wires)
        await trio.lowlevel.checkpoint()

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        await trio.lowlevel.checkpoint()
        return self._targets(opts)

    async def sids(self, opts: BroadcastOptions) -> set[str]:
        await trio.lowlevel.checkpoint()
        return self.registry.select(opts.rooms, opts.except_rooms)

    async def has_members(self, opts: BroadcastOptions) -> bool:
        """Cheap when asking about rooms without exceptions: one lookup per room."""
        await trio.lowlevel.checkpoint()
        if opts.rooms and not opts.except_rooms:
            return any(self.registry.has_members(room) for room in opts.rooms)
        return bool(self.registry.select(opts.rooms, opts.except_rooms))
