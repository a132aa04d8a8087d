"""A socket held by another server of the cluster, as ``fetch_sockets()`` returns it.

It is a snapshot (``id``, ``handshake``, ``rooms``, ``data`` as that server reported them)
plus methods that act on the real socket wherever it is, through the adapter: the
reference's ``RemoteSocket``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minisock.adapters import BroadcastOptions
from minisock.broadcast import BroadcastOperator

if TYPE_CHECKING:
    from minisock.namespace import Namespace

__all__ = ["RemoteSocket"]


class RemoteSocket:
    """One socket of another server."""

    __slots__ = ("_operator", "data", "handshake", "id", "namespace", "rooms")

    def __init__(
        self,
        namespace: Namespace,
        id: str,
        handshake: dict[str, Any],
        rooms: frozenset[str],
        data: Any,
    ) -> None:
        self.namespace = namespace
        self.id = id
        self.handshake = handshake
        self.rooms = rooms
        self.data = data
        opts = BroadcastOptions(rooms=frozenset({id}))
        self._operator = BroadcastOperator(namespace, opts, single=True)

    @property
    def sid(self) -> str:
        """The Socket.IO id (same as :attr:`id`, as on :class:`~minisock.socket.Socket`)."""
        return self.id

    @property
    def nsp(self) -> str:
        return self.namespace.name

    async def emit(self, event: str, *args: Any) -> None:
        await self._operator.emit(event, *args)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """``remote.timeout(5).call(...)`` returns the client's one answer."""
        return self._operator.timeout(seconds)

    async def join(self, *rooms: str) -> None:
        await self._operator.sockets_join(*rooms)

    async def leave(self, *rooms: str) -> None:
        await self._operator.sockets_leave(*rooms)

    async def disconnect(self, close: bool = False) -> None:
        await self._operator.disconnect_sockets(close)

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.nsp} {self.id}>"
