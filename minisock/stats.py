"""Counters an application reads to see what the server dropped on its behalf."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerStats"]


@dataclass(slots=True)
class ServerStats:
    """``server.stats``: counts since the server was made (this process only)."""

    volatile_dropped: int = 0
    """Volatile packets not sent because the socket's transport was not writable."""
    rate_limited: int = 0
    """Incoming events dropped because their socket was over its rate limit."""
    rate_limit_disconnects: int = 0
    """Sockets disconnected (reason ``"rate limit"``) for going over their limit."""
