"""Broadcast operators: ``server.to("room").except_("other").emit(...)``.

An operator is an immutable selection of sockets in one namespace. Each ``to``/``except_``
returns a new one, so a selection can be kept and reused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minisock.adapter import BroadcastOptions
from minisock.proto.sio import RESERVED_EVENTS, SioPacket, SioPacketType

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.socket import Socket

__all__ = ["BroadcastOperator"]


class BroadcastOperator:
    """Sockets of a namespace chosen by rooms, to emit to or act on."""

    __slots__ = ("_namespace", "_opts")

    def __init__(self, namespace: Namespace, opts: BroadcastOptions | None = None) -> None:
        self._namespace = namespace
        self._opts = opts if opts is not None else BroadcastOptions()

    def to(self, *rooms: str) -> BroadcastOperator:
        """Also target the members of ``rooms``."""
        opts = BroadcastOptions(self._opts.rooms | frozenset(rooms), self._opts.except_rooms)
        return BroadcastOperator(self._namespace, opts)

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        """Leave out the members of ``rooms``."""
        opts = BroadcastOptions(self._opts.rooms, self._opts.except_rooms | frozenset(rooms))
        return BroadcastOperator(self._namespace, opts)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every selected socket. Never waits on a slow one: a socket whose
        queue is full is disconnected instead."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        packet = SioPacket(SioPacketType.EVENT, self._namespace.name, [event, *args])
        await self._namespace.adapter.broadcast(packet, self._opts)

    async def fetch_sockets(self) -> list[Socket]:
        return await self._namespace.adapter.fetch_sockets(self._opts)

    async def sids(self) -> set[str]:
        """The Socket.IO ids of the selected sockets."""
        return await self._namespace.adapter.sids(self._opts)

    async def has_members(self) -> bool:
        """Whether any socket is selected: "is this user connected?" for ``to("user:1")``."""
        return await self._namespace.adapter.has_members(self._opts)

    async def sockets_join(self, *rooms: str) -> None:
        for socket in await self.fetch_sockets():
            socket.join(*rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        for socket in await self.fetch_sockets():
            for room in rooms:
                socket.leave(room)

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket; ``close`` also closes their Engine.IO sessions."""
        for socket in await self.fetch_sockets():
            await socket.disconnect(close=close)
