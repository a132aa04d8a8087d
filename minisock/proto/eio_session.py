"""The Engine.IO session state machine: one client's session, with time passed in.

Theory of operation
-------------------
A session outlives the HTTP requests and WebSocket connections that carry it, so this object
holds everything that must survive them: the outbox, the heartbeat clock, the upgrade in
progress and the close reason. It never reads a clock and never does I/O; the trio layer
(``minisock/_session.py``) calls it, and reacts to what it answers. The rules:

1. **Outbox.** Packets for the client wait here as wire packets (``"4hi"`` or ``b"..."``).
   Exactly one transport drains it: polling until an upgrade completes, then the WebSocket.
   Heartbeat pings bypass the size bound; application messages do not.
2. **Heartbeat** (v4: the *server* pings). The clock starts at creation: the first ``2`` is
   due after ``ping_interval``; then the client has ``ping_timeout`` to answer ``3``, else
   the session closes with "ping timeout". The next ping is due ``ping_interval`` after the
   pong. A ``2`` *from* the client is an error ("invalid heartbeat direction").
3. **Long-polling.** At most one GET and one POST at a time. A second concurrent one closes
   the session ("transport error"), and the pending GET is answered with the close packet
   ``1``. A GET waits until there is something to say: outbox content, or ``6`` (noop) when
   an upgrade makes it obsolete, or the final answer of a closed session.
4. **Upgrade.** A WebSocket carrying the sid of a polling session starts an upgrade, which
   must finish within ``upgrade_timeout``. On it, ``2probe`` is answered ``3probe``; from
   then on a pending GET with nothing to carry is released with ``6``. ``5`` completes the
   upgrade and hands the outbox to the WebSocket. Like the reference, ``5`` is accepted
   even without a probe first. Anything else aborts the upgrade: that WebSocket is closed
   and polling goes on.
5. **Close.** ``close(reason)`` is idempotent; the first reason wins. A close we initiate
   keeps the outbox so it is still delivered, followed by ``1`` on polling. A close caused by
   an error drops the outbox; the pending GET gets ``1``. A client's own ``1`` releases the
   pending GET with ``6``. A polling session that still owes its final answer *lingers*
   until a GET takes it or ``close_timeout`` passes.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from minisock.errors import EngineProtocolError, SessionClosedError
from minisock.proto.eio import Packet, PacketType, WirePacket, encode_payload

__all__ = [
    "CloseReason",
    "EngineSession",
    "PollOverlapError",
    "SessionConfig",
    "SessionState",
    "TimerOutcome",
    "Transport",
    "UpgradeOutcome",
    "UpgradeRefusedError",
]


class Transport(enum.Enum):
    POLLING = "polling"
    WEBSOCKET = "websocket"


class SessionState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class CloseReason:
    """The reason strings of the reference server, so handlers see familiar words."""

    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    FORCED_CLOSE = "forced close"
    SERVER_SHUTTING_DOWN = "server shutting down"
    SLOW_CONSUMER = "slow consumer"


class TimerOutcome(enum.Enum):
    NOTHING = "nothing"
    PING_QUEUED = "ping queued"
    UPGRADE_EXPIRED = "upgrade expired"
    CLOSED = "closed"
    LINGER_OVER = "linger over"


class UpgradeOutcome(enum.Enum):
    PROBE_ANSWERED = "probe answered"
    COMPLETED = "completed"
    ABORTED = "aborted"


class PollOverlapError(EngineProtocolError):
    """A second GET (or POST) arrived while one was pending; the session is now closed."""


class UpgradeRefusedError(EngineProtocolError):
    """A WebSocket asked to upgrade a session that cannot be upgraded (any more)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Timing and size settings, in seconds and bytes."""

    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    close_timeout: float = 30.0
    max_payload: int = 1_000_000
    max_outbox_packets: int = 1024


_PING: WirePacket = "2"
_CLOSE: WirePacket = "1"
_NOOP: WirePacket = "6"
_PROBE_ANSWER: WirePacket = "3probe"


class EngineSession:
    """One Engine.IO session. Every method is synchronous and takes ``now`` where time matters."""

    __slots__ = (
        "_final_poll",
        "_linger_until",
        "_ping_due",
        "_polling_get",
        "_polling_post",
        "_pong_deadline",
        "_probed",
        "_upgrade_deadline",
        "close_reason",
        "config",
        "eio_sid",
        "outbox",
        "state",
        "transport",
        "upgrading",
    )

    def __init__(self, eio_sid: str, transport: Transport, config: SessionConfig, now: float):
        self.eio_sid = eio_sid
        self.transport = transport
        self.config = config
        self.state = SessionState.OPEN
        self.close_reason: str | None = None
        self.outbox: list[WirePacket] = []
        self.upgrading = False
        self._probed = False
        self._ping_due: float | None = now + config.ping_interval
        self._pong_deadline: float | None = None
        self._upgrade_deadline: float | None = None
        self._linger_until: float | None = None
        self._polling_get = False
        self._polling_post = False
        self._final_poll: WirePacket | None = None

    # ---------------------------------------------------------------- outbound

    @property
    def is_open(self) -> bool:
        return self.state is SessionState.OPEN

    def has_room(self) -> bool:
        """Whether another application packet fits in the outbox."""
        return len(self.outbox) < self.config.max_outbox_packets

    def send(self, wire: WirePacket) -> None:
        """Queue one wire packet for the client. The caller checks :meth:`has_room` first."""
        if self.state is not SessionState.OPEN:
            raise SessionClosedError(f"session closed: {self.close_reason}")
        self.outbox.append(wire)

    def take_outbox(self) -> list[WirePacket]:
        """Everything queued, for the WebSocket writer, which owns the outbox after upgrade."""
        wires, self.outbox = self.outbox, []
        return wires

    # ---------------------------------------------------------------- inbound

    def receive(self, packet: Packet, now: float) -> str | bytes | None:
        """Handle one packet that arrived on the session's transport.

        Returns message data for the application, or ``None``. A ``1`` from the client or a
        forbidden packet closes the session; check :attr:`is_open` afterwards.
        """
        if self.state is not SessionState.OPEN:
            return None
        kind = packet.type
        if kind is PacketType.MESSAGE:
            return packet.data
        if kind is PacketType.PONG:
            if self._pong_deadline is not None:
                self._pong_deadline = None
                self._ping_due = now + self.config.ping_interval
            return None
        if kind is PacketType.CLOSE:
            self._close(CloseReason.TRANSPORT_CLOSE, keep_outbox=False, final=_NOOP)
            return None
        if kind is PacketType.PING:
            # v4 moved the heartbeat to the server; a client ping means a v3 client or a bug.
            self.fail(CloseReason.TRANSPORT_ERROR)
            return None
        # open, upgrade and noop mean nothing from a client on an established transport;
        # the reference ignores them, and so do we.
        return None

    # ---------------------------------------------------------------- long-polling

    def poll_begin(self) -> None:
        """A GET arrived. A second concurrent GET closes the session (spec: MUST)."""
        if self._polling_get:
            self.fail(CloseReason.TRANSPORT_ERROR)
            raise PollOverlapError("overlapping GET requests")
        self._polling_get = True

    def poll_take(self) -> str | None:
        """What the pending GET should answer now, or ``None`` to keep it waiting.

        Ends the poll when it returns a body.
        """
        if self.state is SessionState.CLOSED:
            final = [*self.outbox, self._final_poll] if self._final_poll else self.outbox
            self.outbox = []
            self._final_poll = None
            self._linger_until = None
            body = encode_payload(final) if final else _NOOP
        elif self.outbox and self.transport is Transport.POLLING:
            body = encode_payload(self.outbox)
            self.outbox = []
        elif (self.upgrading and self._probed) or self.transport is not Transport.POLLING:
            body = _NOOP
        else:
            return None
        self._polling_get = False
        assert isinstance(body, str)
        return body

    def poll_abandon(self) -> None:
        """The client went away while its GET was pending: the reference closes the session."""
        if self._polling_get:
            self._polling_get = False
            self.fail(CloseReason.TRANSPORT_ERROR)

    def post_begin(self) -> None:
        """A POST arrived. A second concurrent POST closes the session."""
        if self._polling_post:
            self.fail(CloseReason.TRANSPORT_ERROR)
            raise PollOverlapError("overlapping POST requests")
        self._polling_post = True

    def post_end(self) -> None:
        self._polling_post = False

    @property
    def lingering(self) -> bool:
        """Closed, but a GET may still come for the final answer."""
        return self._linger_until is not None

    # ---------------------------------------------------------------- upgrade

    def upgrade_begin(self, now: float) -> None:
        """A WebSocket with our sid arrived; only an open polling session may upgrade, once."""
        if self.state is not SessionState.OPEN:
            raise UpgradeRefusedError("session is closed")
        if self.transport is not Transport.POLLING or self.upgrading:
            raise UpgradeRefusedError("session already upgraded or upgrading")
        self.upgrading = True
        self._upgrade_deadline = now + self.config.upgrade_timeout

    def upgrade_receive(self, packet: Packet) -> tuple[UpgradeOutcome, WirePacket | None]:
        """A packet on the probing WebSocket. Returns the outcome and a direct reply, if any."""
        if not self.upgrading or self.state is not SessionState.OPEN:
            return UpgradeOutcome.ABORTED, None
        if packet.type is PacketType.PING and packet.data == "probe":
            self._probed = True
            return UpgradeOutcome.PROBE_ANSWERED, _PROBE_ANSWER
        if packet.type is PacketType.UPGRADE:
            self.upgrading = False
            self._upgrade_deadline = None
            self.transport = Transport.WEBSOCKET
            return UpgradeOutcome.COMPLETED, None
        self.upgrade_abort()
        return UpgradeOutcome.ABORTED, None

    def upgrade_abort(self) -> None:
        """The probing WebSocket failed, timed out or misbehaved; polling goes on."""
        self.upgrading = False
        self._probed = False
        self._upgrade_deadline = None

    # ---------------------------------------------------------------- timers

    def next_deadline(self) -> float:
        """The earliest time :meth:`on_timer` has work to do (``inf`` when none)."""
        return min(
            self._ping_due if self._ping_due is not None else math.inf,
            self._pong_deadline if self._pong_deadline is not None else math.inf,
            self._upgrade_deadline if self._upgrade_deadline is not None else math.inf,
            self._linger_until if self._linger_until is not None else math.inf,
        )

    def on_timer(self, now: float) -> TimerOutcome:
        """Run whichever deadline has passed. Call it at :meth:`next_deadline` or later."""
        if self._linger_until is not None and now >= self._linger_until:
            self._linger_until = None
            self._final_poll = None
            self.outbox = []
            return TimerOutcome.LINGER_OVER
        if self.state is not SessionState.OPEN:
            return TimerOutcome.NOTHING
        if self._pong_deadline is not None and now >= self._pong_deadline:
            self.fail(CloseReason.PING_TIMEOUT)
            return TimerOutcome.CLOSED
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self.upgrade_abort()
            return TimerOutcome.UPGRADE_EXPIRED
        if self._ping_due is not None and now >= self._ping_due:
            self._ping_due = None
            self._pong_deadline = now + self.config.ping_timeout
            self.outbox.append(_PING)
            return TimerOutcome.PING_QUEUED
        return TimerOutcome.NOTHING

    # ---------------------------------------------------------------- close

    def close(self, reason: str, now: float, *, linger: bool = True) -> bool:
        """Close on our side, keeping what is queued so it still reaches the client.

        On polling the outbox and a final ``1`` go to the pending GET, or else wait for one
        more GET for at most ``close_timeout`` (unless ``linger`` is false). Returns whether
        this call closed the session.
        """
        closed = self._close(reason, keep_outbox=True, final=_CLOSE)
        if closed and linger and self.transport is Transport.POLLING and not self._polling_get:
            self._linger_until = now + self.config.close_timeout
        return closed

    def fail(self, reason: str) -> bool:
        """Close because of an error: drop the outbox; a pending GET gets ``1``."""
        return self._close(reason, keep_outbox=False, final=_CLOSE)

    def _close(self, reason: str, *, keep_outbox: bool, final: WirePacket) -> bool:
        if self.state is SessionState.CLOSED:
            return False
        self.state = SessionState.CLOSED
        self.close_reason = reason
        self.upgrading = False
        self._ping_due = self._pong_deadline = self._upgrade_deadline = None
        if not keep_outbox:
            self.outbox = []
        self._final_poll = final if self.transport is Transport.POLLING else None
        return True

    @property
    def poll_pending(self) -> bool:
        return self._polling_get
