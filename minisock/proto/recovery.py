"""Connection state recovery: the kept sessions and the log of missed packets, time passed in.

Theory of operation (the reference's ``SessionAwareAdapter`` of socket.io-adapter, bounded):

1. With recovery on, every EVENT that the reference would record gets an *offset*, appended
   as its last argument: broadcasts and ``socket.emit`` alike (Node sends the latter as a
   broadcast to the socket's own room). Events that wait for an ack and volatile events get
   none: an ack callback cannot outlive the connection, and a volatile packet may be lost by
   design. Each recorded event goes into one log per namespace, with its target and excepted
   rooms, in the order it was sent.
2. The CONNECT answer gives the client a private session id, ``pid``. The client keeps it and
   the offset of the last event it handled, and puts both in the CONNECT payload when it
   reconnects.
3. When a socket leaves for a reason that is nobody's decision (the transport closed or
   failed, a ping timed out, the server shuts down), its session is *kept*: sid, pid, rooms,
   ``data`` and the identity it was admitted with. A disconnect on purpose (either side's
   ``disconnect()``, a refusal) keeps nothing.
4. A reconnection that names a kept pid, with the same identity, and an offset still in the
   log, *claims* the session: it is gone from the store, the new socket takes its sid, rooms
   and data, and receives the logged events after that offset which its rooms select.
   Anything else (unknown or forged pid, malformed or too old offset, too late, another
   identity) is refused with a reason, and the connection goes on as a new socket.
5. Everything is bounded: the log by packets, bytes and age (``max_disconnection_duration``),
   the store by the number of sessions and by age, and one session's missed events by count
   and bytes. Whatever a bound drops is reported to the caller, who logs it.

Nothing here reads a clock: each call takes ``now``. Expiry is lazy, done by the calls that
touch the store, so an idle server owns no timer for it.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RECOVERABLE_REASONS",
    "Claim",
    "KeptSession",
    "Recovery",
    "RecoveryStore",
]

RECOVERABLE_REASONS = frozenset(
    {
        "transport error",
        "transport close",
        "forced close",
        "ping timeout",
        "server shutting down",
        "forced server close",
    }
)
"""The disconnect reasons after which a session is kept (the reference's list)."""

_MAX_SEQ_DIGITS = 16


@dataclass(frozen=True, slots=True)
class Recovery:
    """``Server(connection_state_recovery=Recovery(...))``; times in seconds.

    ``skip_middlewares``: a recovered socket does not run the namespace's middlewares again
    (the JWT check still runs). The other fields bound memory, per namespace.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_sessions: int = 10_000
    max_log_packets: int = 10_000
    max_log_bytes: int = 16 * 2**20
    max_missed_packets: int = 1_000
    max_missed_bytes: int = 2**20

    def __post_init__(self) -> None:
        if not self.max_disconnection_duration > 0:
            raise ValueError("max_disconnection_duration is a positive number of seconds")
        bounds = (
            self.max_sessions,
            self.max_log_packets,
            self.max_log_bytes,
            self.max_missed_packets,
            self.max_missed_bytes,
        )
        if min(bounds) < 1:
            raise ValueError("every recovery bound is at least 1")


@dataclass(frozen=True, slots=True)
class KeptSession:
    """What a socket leaves behind when it may come back."""

    sio_sid: str
    pid: str
    rooms: frozenset[str]
    data: Any
    identity: Any
    disconnected_at: float


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed session and where its missed events start in the log."""

    session: KeptSession
    after_seq: int


@dataclass(frozen=True, slots=True)
class _Logged:
    seq: int
    rooms: frozenset[str]
    except_rooms: frozenset[str]
    data: list[Any]
    size: int
    emitted_at: float


class RecoveryStore:
    """The kept sessions and the packet log of one namespace."""

    __slots__ = ("_bytes", "_log", "_next_seq", "_sessions", "config", "epoch")

    def __init__(self, config: Recovery, epoch: str) -> None:
        self.config = config
        self.epoch = epoch
        """Starts every offset of this store, so that another process's do not parse."""
        self._sessions: dict[str, KeptSession] = {}  # by pid, oldest disconnect first
        self._log: deque[_Logged] = deque()
        self._next_seq = 0
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def logged(self) -> int:
        return len(self._log)

    # ---------------------------------------------------------------- the log

    def next_offset(self) -> str:
        """The offset the next recorded event gets. Nothing changes until :meth:`record`,
        so an event that fails to encode, or waits for room, takes no place in the log."""
        return f"{self.epoch}{self._next_seq:x}"

    def record(
        self,
        data: list[Any],
        rooms: frozenset[str],
        except_rooms: frozenset[str],
        size: int,
        now: float,
    ) -> int:
        """Log an event stamped with :meth:`next_offset` (``data`` ends with it) that goes to
        ``rooms`` minus ``except_rooms``; ``size`` is its encoded size. Returns how many old
        events the log's bounds dropped."""
        self._log.append(_Logged(self._next_seq, rooms, except_rooms, data, size, now))
        self._next_seq += 1
        self._bytes += size
        config = self.config
        dropped = 0
        while len(self._log) > config.max_log_packets or (
            self._bytes > config.max_log_bytes and len(self._log) > 1
        ):
            self._drop_oldest()
            dropped += 1
        self._expire(now)
        return dropped

    def _drop_oldest(self) -> None:
        self._bytes -= self._log.popleft().size

    def _expire(self, now: float) -> None:
        threshold = now - self.config.max_disconnection_duration
        log = self._log
        while log and log[0].emitted_at < threshold:
            self._drop_oldest()
        sessions = self._sessions
        while sessions:
            pid, oldest = next(iter(sessions.items()))
            if oldest.disconnected_at >= threshold:
                break
            del sessions[pid]

    def _seq_of(self, offset: str) -> int | None:
        """The log position named by a client's ``offset``, or ``None`` if it names none."""
        epoch = self.epoch
        digits = offset[len(epoch) :]
        if (
            not offset.startswith(epoch)
            or not 0 < len(digits) <= _MAX_SEQ_DIGITS
            or digits.strip("0123456789abcdef")
        ):
            return None
        seq = int(digits, 16)
        first = self._next_seq - len(self._log)
        # The event itself may have left the log, as long as none after it did.
        return seq if first - 1 <= seq < self._next_seq else None

    # ---------------------------------------------------------------- sessions

    def persist(self, session: KeptSession) -> KeptSession | None:
        """Keep ``session``; returns the oldest session dropped to make room, if any."""
        self._expire(session.disconnected_at)
        evicted = None
        sessions = self._sessions
        sessions.pop(session.pid, None)
        if len(sessions) >= self.config.max_sessions:
            oldest = next(iter(sessions))
            evicted = sessions.pop(oldest)
        sessions[session.pid] = session
        return evicted

    def claim(self, pid: str, offset: str, identity: Any, now: float) -> Claim | str:
        """Take the session ``pid`` for a client that last handled ``offset``, or say why
        not. A session of another identity stays where it is."""
        self._expire(now)
        session = self._sessions.get(pid)
        if session is None:
            return "unknown or expired session"
        if session.identity != identity:
            return "another identity"
        seq = self._seq_of(offset)
        if seq is None:
            return "offset unknown or too old"  # kept: the reference keeps it too
        count = size = 0
        for entry in self._after(seq, session.rooms):
            count += 1
            size += entry.size
        config = self.config
        del self._sessions[pid]
        if count > config.max_missed_packets or size > config.max_missed_bytes:
            return f"too much missed ({count} events, {size} bytes)"
        return Claim(session, seq)

    def missed(self, claim: Claim) -> list[list[Any]]:
        """The logged events after the claim's offset that the session's rooms select, in
        order, each ending with its offset. Asked in the same step as the socket joins its
        rooms again, so that no event falls between the log and the rooms."""
        return [entry.data for entry in self._after(claim.after_seq, claim.session.rooms)]

    def _after(self, seq: int, rooms: frozenset[str]) -> list[_Logged]:
        first = self._next_seq - len(self._log)
        start = max(0, seq - first + 1)
        return [
            entry for entry in itertools.islice(self._log, start, None) if _selects(entry, rooms)
        ]


def _selects(entry: _Logged, rooms: frozenset[str]) -> bool:
    """The reference's ``shouldIncludePacket``: to anyone or one of the rooms, and not to an
    excepted one."""
    return (not entry.rooms or not entry.rooms.isdisjoint(rooms)) and entry.except_rooms.isdisjoint(
        rooms
    )
