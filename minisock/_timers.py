"""One timer task for every session's heartbeat, upgrade and linger deadlines.

A task per session just to sleep would cost memory on every idle connection. Instead each
session's pure state machine says when it next needs attention (``next_deadline``), and
this heap wakes up at the earliest one. Entries are never removed early: a stale entry pops,
finds nothing due, and costs one comparison.
"""

from __future__ import annotations

import heapq
import itertools
import math
import weakref
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import trio

__all__ = ["TimerHeap"]


class _Scheduled(Protocol):
    timer_at: float


T = TypeVar("T", bound=_Scheduled)


class TimerHeap(Generic[T]):
    """Calls ``fire(item, now)`` at each item's deadline; ``fire`` must not block."""

    def __init__(self, fire: Callable[[T, float], None], *, weak: bool = False) -> None:
        self._fire = fire
        self._weak = weak
        """Hold items by weak reference: for items nothing else keeps once they are done (an
        HTTP connection handed to a WebSocket), so a stale entry does not keep them alive
        until its deadline."""
        self._heap: list[tuple[float, int, Any]] = []
        self._counter = itertools.count()
        self._sleep: trio.CancelScope | None = None

    def schedule(self, item: T, deadline: float) -> None:
        """Make sure ``item`` is looked at no later than ``deadline``."""
        if deadline >= item.timer_at or math.isinf(deadline):
            return
        item.timer_at = deadline
        entry = weakref.ref(item) if self._weak else item
        heapq.heappush(self._heap, (deadline, next(self._counter), entry))
        if self._sleep is not None and deadline < self._sleep.deadline:
            self._sleep.deadline = deadline

    def __len__(self) -> int:
        return len(self._heap)

    async def run(self) -> None:
        """The timer task: runs until cancelled."""
        heap = self._heap
        while True:
            now = trio.current_time()
            due: list[T] = []
            while heap and heap[0][0] <= now:
                deadline, _, entry = heapq.heappop(heap)
                item = entry() if self._weak else entry
                if item is None:
                    continue  # gone: nothing left to time
                if item.timer_at == deadline:
                    item.timer_at = math.inf
                due.append(item)
            # Fire after popping, so an item that asks again for a time already past waits
            # for the next round (after a checkpoint) instead of spinning here.
            for item in due:
                self._fire(item, now)
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._sleep = scope
                await trio.sleep_forever()
            self._sleep = None
