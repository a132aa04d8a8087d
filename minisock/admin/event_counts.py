"""The admin UI's aggregated events: counts per second, per type, between two stats ticks.

Node's ``EventBuffer`` (``@socket.io/admin-ui``, ``dist/index.js``) keys each count by the
second it happened in, its type and its sub-type, and hands everything over (and forgets it)
with every ``server_stats``. The types are ``rawConnection``, ``rawDisconnection`` (sub-type:
the reason), ``packetsIn``, ``packetsOut``, ``bytesIn`` and ``bytesOut``.

Pure: the time is passed in (Unix seconds). Bounded: past ``max_keys`` distinct keys in one
interval, new keys are dropped and counted in :attr:`EventCounts.dropped` (existing keys
still count), so a flood of odd disconnect reasons cannot grow it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventCounts"]


class EventCounts:
    """Counts since the last :meth:`take`."""

    __slots__ = ("_counts", "dropped", "max_keys")

    def __init__(self, max_keys: int = 1000) -> None:
        self.max_keys = max_keys
        self._counts: dict[tuple[int, str, str | None], int] = {}
        self.dropped = 0
        """Increments refused because :attr:`max_keys` keys were already held."""

    def add(self, kind: str, now: float, count: int = 1, sub_type: str | None = None) -> None:
        key = (int(now) * 1000, kind, sub_type)  # the second, in milliseconds, as Node's
        counts = self._counts
        if key in counts:
            counts[key] += count
        elif len(counts) < self.max_keys:
            counts[key] = count
        else:
            self.dropped += 1

    def take(self) -> list[dict[str, Any]]:
        """Every count as the UI reads it (``{timestamp, type, subType?, count}``), and forget
        them. ``subType`` is left out when there is none, as Node's JSON leaves ``undefined``."""
        counts, self._counts = self._counts, {}
        taken: list[dict[str, Any]] = []
        for (timestamp, kind, sub_type), count in counts.items():
            item: dict[str, Any] = {"timestamp": timestamp, "type": kind}
            if sub_type is not None:
                item["subType"] = sub_type
            item["count"] = count
            taken.append(item)
        return taken

    def __len__(self) -> int:
        return len(self._counts)
