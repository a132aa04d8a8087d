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

from minisock.proto.sio import SioPacket, SioPacketType, SocketIOProtocolError

__all__ = ["SioSession"]


class SioSession:
    """Which namespaces this connection has joined, and its connect deadline."""

    __slots__ = ("_connect_deadline", "connected", "connecting")

    def __init__(self, now: float, connect_timeout: float) -> None:
        self.connected: dict[str, str] = {}
        """Namespace name -> Socket.IO sid."""
        self.connecting: set[str] = set()
        self._connect_deadline: float | None = now + connect_timeout

    def check(self, packet: SioPacket) -> None:
        """Raise :class:`SocketIOProtocolError` when ``packet`` is not allowed now."""
        nsp = packet.nsp
        if packet.type is SioPacketType.CONNECT:
            if nsp in self.connected or nsp in self.connecting:
                raise SocketIOProtocolError(f"invalid state: already connected to {nsp}")
        elif nsp not in self.connected:
            raise SocketIOProtocolError(f"invalid state: not connected to {nsp}")

    def begin_connect(self, nsp: str) -> None:
        self.connecting.add(nsp)

    def connect_succeeded(self, nsp: str, sio_sid: str) -> None:
        self.connecting.discard(nsp)
        self.connected[nsp] = sio_sid
        self._connect_deadline = None

    def connect_failed(self, nsp: str) -> None:
        self.connecting.discard(nsp)

    def disconnected(self, nsp: str) -> None:
        self.connected.pop(nsp, None)
        self.connecting.discard(nsp)

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
