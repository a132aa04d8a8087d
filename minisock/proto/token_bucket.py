"""A token bucket: the per-socket rate limit on incoming events, as pure state.

Theory of operation:

1. A bucket holds at most ``burst`` tokens and starts full, so a client may send ``burst``
   events at once after a quiet spell.
2. Tokens come back at ``rate`` per second, continuously, never past ``burst``.
3. Each event takes one token; an event that finds less than one is *over the limit* and
   takes nothing (a client that keeps flooding stays limited, but is not punished beyond
   the limit: it gets ``rate`` events per second through).
4. Time is passed in (trio's clock in the server), and a clock that goes backwards adds
   nothing, so the bucket never grows past what real time allows.

Node's socket.io and python-socketio have no such limit; nothing is sent to the client
about it here (what the server does with an event over the limit is its own choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RateLimit", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` events per second, ``burst`` at once; over it, drop (or ``disconnect``)."""

    rate: float
    burst: int
    disconnect: bool = False

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("a rate limit's rate is a positive, finite number of events/s")
        if not (isinstance(self.burst, int) and self.burst >= 1):
            raise ValueError("a rate limit's burst is an integer of at least 1")


class TokenBucket:
    """One client's tokens; made on its first event (idle sockets carry none)."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.tokens = float(limit.burst)
        self.stamp = now

    def take(self, limit: RateLimit, now: float) -> bool:
        """One event at ``now``: ``True`` if it is within the limit (a token was taken)."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(float(limit.burst), self.tokens + elapsed * limit.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
