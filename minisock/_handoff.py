"""Running a handler in its connection's reader until it waits, then moving the reading on.

A Socket.IO handler that returns without waiting (nearly all of them: an emit goes out at
once) should cost no task and no scheduler pass: it runs in the task that read its message.
One that waits (for an ack of its own client, a database, a lock) must not stop its
connection being read, or the ack it waits for would never arrive. A coroutine cannot leave
the task it parked in, so the reading leaves instead: at the moment the handler first parks,
``on_park`` starts a new task that goes on reading the connection, and this task stays with
the handler until it ends.

:func:`run_until_parked` drives the coroutine by hand, as ``await`` does, forwarding each of
its yields to trio and what trio sends back. A yield that only lets others run and comes
straight back (``cancel_shielded_checkpoint``, every sixteenth emit's) is not a park: no
reader moves for it.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from trio._core import _traps

__all__ = ["run_until_parked"]

log = logging.getLogger("minisock.handoff")

# The object trio's checkpoint yields: the task is rescheduled at once. If a trio release
# renames it, every yield counts as a park: correct, only a task more per checkpoint.
_BRIEF: object = getattr(_traps, "CancelShieldedCheckpoint", object())


@types.coroutine
def run_until_parked(
    coro: Coroutine[Any, Any, None], on_park: Callable[[], None]
) -> Generator[Any, Any, bool]:
    """Run ``coro`` in this task; call ``on_park()`` once, when it first parks.

    Returns whether it parked. Its exceptions propagate, as from ``await coro``.
    """
    parked = False
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            trap = coro.send(sent) if thrown is None else coro.throw(thrown)
        except StopIteration:
            return parked
        if not parked and trap is not _BRIEF:
            parked = True
            try:
                on_park()
            except Exception:
                # The reader stays here and waits for the handler, as an inline one would.
                log.exception("could not move a connection's reading to a new task")
        try:
            sent, thrown = (yield trap), None
        except BaseException as exc:  # trio throws in (or the task is closed): pass it on
            sent, thrown = None, exc
