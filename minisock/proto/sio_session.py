"""Socket.IO namespace state for one Engine.IO session, with time passed in.

Rules (the reference's ``client.ts``, made explicit):

1. A client joins namespaces with CONNECT. While a CONNECT is being decided (middlewares and
   the connect handler run), the namespace is *connecting*; then it is connected or refused.
2. Any other packet for a namespace that is not connected is an "invalid state": the whole
   Engine.IO connection is closed. So is a second CONNECT to a namespace already joined or
   being joined.
3. An Engine.IO session that has joined no namespace within ``connect_timeout`` of its
   creation is closed. Once one namespace was joined, the timer is gone for good: leaving all
   namespaces later keeps the session open, as in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet

from minisock.proto.sio import SioPacket, SioPacketType, SocketIOProtocolError

__all__ = ["SioSession"]

_NONE: frozenset[str] = frozenset()


class SioSession:
    """Which namespaces this connection has joined, and its connect deadline."""

    __slots__ = ("_connect_deadline", "_connecting", "connected")

    def __init__(self, now: float, connect_timeout: float) -> None:
        self.connected: dict[str, str] = {}
        """Namespace name -> Socket.IO sid."""
        self._connecting: set[str] | None = None
        """Made by the first CONNECT (most sessions are idle, and a set is 216 bytes)."""
        self._connect_deadline: float | None = now + connect_timeout

    @property
    def connecting(self) -> AbstractSet[str]:
        """Namespaces whose CONNECT is being decided."""
        return self._connecting or _NONE

    def check(self, packet: SioPacket) -> None:
        """Raise :class:`SocketIOProtocolError` when ``packet`` is not allowed now."""
        nsp = packet.nsp
        if packet.type is SioPacketType.CONNECT:
            connecting = self._connecting
            if nsp in self.connected or (connecting is not None and nsp in connecting):
                raise SocketIOProtocolError(f"invalid state: already connected to {nsp}")
        elif nsp not in self.connected:
            raise SocketIOProtocolError(f"invalid state: not connected to {nsp}")

    def begin_connect(self, nsp: str) -> None:
        if self._connecting is None:
            self._connecting = set()
        self._connecting.add(nsp)

    def connect_succeeded(self, nsp: str, sio_sid: str) -> None:
        self._connect_done(nsp)
        self.connected[nsp] = sio_sid
        self._connect_deadline = None

    def connect_failed(self, nsp: str) -> None:
        self._connect_done(nsp)

    def disconnected(self, nsp: str) -> None:
        self.connected.pop(nsp, None)
        self._connect_done(nsp)

    def _connect_done(self, nsp: str) -> None:
        connecting = self._connecting
        if connecting is not None:
            connecting.discard(nsp)
            if not connecting:
                self._connecting = None

    def next_deadline(self) -> float:
        return self._connect_deadline if self._connect_deadline is not None else math.inf

    def connect_expired(self, now: float) -> bool:
        """Whether the connect deadline has passed with no namespace joined.

        Answers true once: the deadline is consumed, so the timer does not fire again.
        """
        deadline = self._connect_deadline
        if deadline is None or now < deadline:
            return False
        self._connect_deadline = None
        return not self.connected
