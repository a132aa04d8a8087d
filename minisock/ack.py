"""Acknowledgements a handler answers later, or never: :class:`Ack` and :data:`NO_ACK`.

The simple path stays the return value: what an event handler returns is the ack (``None``
-> no arguments, a tuple -> several). Two ways leave that path, as Node's ack callback
allows (the reference sends nothing until the callback is called, and socket.io-client's
``retries`` resend an event until one is):

- return :data:`NO_ACK`: the ack stays unanswered;
- call :meth:`Socket.take_ack() <minisock.Socket.take_ack>` inside the handler: it returns
  an :class:`Ack` (``None`` when the client asked for no ack), and the return value is not
  sent any more. Call the handle once, later, from any task: ``ack("done")``.

An :class:`Ack` answers once. A second answer raises :class:`RuntimeError` (a program that
answers twice has a bug; Node ignores the second call silently). An answer after the socket
left is dropped and returns ``False``, like any packet to a client that is gone. Acks never
wait: like :meth:`Socket.acknowledge`, they go past a full queue's wait (a client whose
queue is full is disconnected as a slow consumer).
"""

from __future__ import annotations

import contextvars
import enum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from minisock.socket import Socket

__all__ = ["NO_ACK", "Ack", "NoAck", "current_ack"]


class NoAck(enum.Enum):
    """The type of :data:`NO_ACK` (an enum member, so ``is`` checks type-narrow)."""

    NO_ACK = "NO_ACK"


NO_ACK: Final = NoAck.NO_ACK
"""Returned by an event handler: leave the client's ack request unanswered."""


class Ack:
    """The answer owed to one event the client sent with an ack id."""

    __slots__ = ("_socket", "ack_id", "answered", "taken")

    def __init__(self, socket: Socket, ack_id: int) -> None:
        self._socket = socket
        self.ack_id = ack_id
        self.taken = False
        """Handed out by :meth:`Socket.take_ack`: the handler's return value is not sent."""
        self.answered = False

    @property
    def socket(self) -> Socket:
        return self._socket

    def __call__(self, *args: Any) -> bool:
        """Answer with ``args``; ``False`` when the socket has left (nothing is sent).

        Raises :class:`RuntimeError` when this ack was already answered.
        """
        if self.answered:
            raise RuntimeError(f"ack {self.ack_id} was already answered")
        if not self._socket.connected:
            self.answered = True
            return False
        self._socket.acknowledge(self.ack_id, args)  # raises on what cannot be encoded
        self.answered = True
        return True

    def __repr__(self) -> str:
        state = "answered" if self.answered else "pending"
        return f"<Ack {self.ack_id} {state} {self._socket.nsp}>"


# The ack owed by the event handler running in this context (``None`` when its client asked
# for none). A context variable, so a task the handler starts sees the ack of its own event.
current_ack: contextvars.ContextVar[Ack | None] = contextvars.ContextVar(
    "minisock_current_ack", default=None
)
