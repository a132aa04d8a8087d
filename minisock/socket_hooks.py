"""What one socket may add to its event path: middlewares, catch-all listeners, a bucket.

Most sockets add nothing, so a :class:`~minisock.socket.Socket` holds ``None`` until its first
``use``, ``on_any``... or rate-limited event makes a :class:`SocketHooks`. The order, read from
Node's ``socket.ts`` (``onevent`` then ``dispatch``):

1. the rate limit (minisock's own; before anything runs, so a flood never fills the queue);
2. the incoming catch-all listeners (``on_any``), for every event, handled or not, before
   the middlewares, and even for events that a middleware then drops;
3. the middlewares (``use``), in order; one that raises drops the event, and the namespace's
   ``"error"`` handler gets ``(socket, exception)`` (Node: ``socket.emit("error", err)``).
   A middleware may ``socket.take_ack()`` (Node passes it the ack callback), say to answer
   a refusal;
4. the event's handler, else the namespace's ``"*"`` handler.

Outgoing catch-all listeners (``on_any_outgoing``) see every event sent to this socket:
:meth:`Socket.emit`, :meth:`Socket.call`, volatile emits (even those then dropped) and
broadcasts; never acks (as in Node, where ``ack()`` writes the packet directly).

Listeners are plain (sync) callables, ``listener(event, *args)``, as in Node: they run inline,
in order, and cannot reorder or delay the event. One that needs to wait starts a task. A
listener that raises is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from minisock.proto.token_bucket import TokenBucket

if TYPE_CHECKING:
    from minisock.socket import Socket

__all__ = ["AnyListener", "EventMiddleware", "SocketHooks", "notify"]

log = logging.getLogger("minisock.socket")

AnyListener = Callable[..., Any]
"""``listener(event, *args)``; its return value is ignored."""

EventMiddleware = Callable[["Socket", list[Any]], Awaitable[None]]
"""``async def middleware(socket, event)``: ``event`` is ``[name, *args]``; change it in place
to change what the handler gets; raise to drop the event."""


class SocketHooks:
    """The per-socket additions; lists stay empty until something is added."""

    __slots__ = ("any_incoming", "any_outgoing", "bucket", "middlewares")

    def __init__(self) -> None:
        self.middlewares: list[EventMiddleware] = []
        self.any_incoming: list[AnyListener] = []
        self.any_outgoing: list[AnyListener] = []
        self.bucket: TokenBucket | None = None


def notify(listeners: list[AnyListener], data: list[Any]) -> None:
    """Call each listener with ``data`` (``[event, *args]``), containing their errors."""
    for listener in listeners[:]:  # a copy: a listener may remove itself, as in Node
        try:
            listener(*data)
        except Exception:
            log.exception("a catch-all listener failed")


def remove(listeners: list[AnyListener], listener: AnyListener | None) -> None:
    """``off_any``: remove ``listener`` (its first registration), or every one when ``None``."""
    if listener is None:
        listeners.clear()
    elif listener in listeners:
        listeners.remove(listener)
