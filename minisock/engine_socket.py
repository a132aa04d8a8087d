"""The application's handle on one Engine.IO session.

An :class:`EngineSocket` wraps the pure :class:`~minisock.proto.eio_session.EngineSession`
with the one trio object a session needs: a parking lot where whoever drains the outbox
(a pending long-poll GET, or the WebSocket writer) and senders waiting for room sleep.
An idle session owns no task of its own; the server's timer heap wakes it when needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from minisock.errors import RecordSeparatorError, SessionClosedError
from minisock.proto.eio import WirePacket
from minisock.proto.eio_session import CloseReason, EngineSession, Transport
from minisock.request import Request

if TYPE_CHECKING:
    from minisock.engine import EngineServer

__all__ = ["EngineSocket"]


class EngineSocket:
    """One client session. Send with :meth:`send`; close with :meth:`close`."""

    __slots__ = (
        "_lot",
        "_probe",
        "_reported_closed",
        "_server",
        "app",
        "claims",
        "data",
        "flush_now",
        "identity",
        "on_close",
        "poll_wait",
        "request",
        "state",
        "timer_at",
        "write_idle",
    )

    def __init__(self, server: EngineServer, state: EngineSession, request: Request) -> None:
        self._server = server
        self.state = state
        self.request = request
        """The handshake request: headers, query and peer address."""
        self.data: dict[str, Any] = {}
        """Free space for the application (the decoded JWT user goes here, for instance)."""
        self.identity: Any = None
        """Who the handshake's bearer token says this is (``None`` without authentication)."""
        self.claims: dict[str, Any] | None = None
        """The verified claims of that token."""
        self.app: Any = None
        """The per-session object of the layer above (the Socket.IO client state)."""
        self.timer_at = math.inf
        self._lot = trio.lowlevel.ParkingLot()
        self.on_close: Callable[[], None] | None = None
        """Set by a WebSocket transport: called once when the session closes."""
        self.flush_now: Callable[[], bool] | None = None
        """Set by a WebSocket transport: sends the outbox at once if it can (True)."""
        self.write_idle: Callable[[], bool] | None = None
        """Set by a WebSocket transport: whether no write is in flight."""
        self._probe: Any = None
        self.poll_wait: trio.CancelScope | None = None
        """Set by a long-poll GET while it waits (watching its socket): :meth:`wake` ends it."""
        self._reported_closed = False

    @property
    def eio_sid(self) -> str:
        return self.state.eio_sid

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``."""
        return self.state.transport.value

    @property
    def closed(self) -> bool:
        return not self.state.is_open

    @property
    def close_reason(self) -> str | None:
        return self.state.close_reason

    @property
    def writable(self) -> bool:
        """Node's ``transport.writable``: a packet queued now leaves at once (nothing is
        queued, and on polling a GET is waiting, on WebSocket no write is in flight).
        Volatile packets are sent only then."""
        state = self.state
        if not state.is_open or state.outbox:  # queued packets: a write is under way
            return False
        if state.transport is Transport.POLLING:
            return state.poll_pending
        write_idle = self.write_idle
        return write_idle is not None and write_idle()

    def send_nowait(self, data: str | bytes) -> None:
        """Queue a message without waiting.

        Raises :class:`trio.WouldBlock` when the outbox is full,
        :class:`~minisock.errors.SessionClosedError` when the session is closed, and
        :class:`~minisock.errors.RecordSeparatorError` for text holding ``\\x1e``.
        """
        self.send_wires_nowait([_message_wire(data)])

    async def send(self, data: str | bytes) -> None:
        """Queue a message (``str`` text, ``bytes`` binary); waits while the outbox is full.

        Text holding ``\\x1e`` raises :class:`~minisock.errors.RecordSeparatorError`.
        """
        await self.send_wires([_message_wire(data)])

    def send_wires_nowait(self, wires: list[WirePacket]) -> None:
        """Queue several wire packets together, all or none (a Socket.IO packet and its
        attachments must stay contiguous)."""
        state = self.state
        if not state.is_open:
            raise SessionClosedError(f"session closed: {state.close_reason}")
        if not state.has_room():
            raise trio.WouldBlock
        self._queue(wires)

    def send_protocol_nowait(self, wires: list[WirePacket]) -> None:
        """Queue protocol packets (a CONNECT answer, a DISCONNECT) past the outbox bound,
        which is there for application messages. Once the session is closed, nothing."""
        if self.state.is_open:
            self._queue(wires)

    def _queue(self, wires: list[WirePacket]) -> None:
        self.state.outbox.extend(wires)
        flush_now = self.flush_now
        if flush_now is None or not flush_now():
            self.wake()

    async def send_wires(self, wires: list[WirePacket]) -> None:
        """Like :meth:`send_wires_nowait`, waiting while the outbox is full."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.send_wires_nowait(wires)
            except trio.WouldBlock:
                await self._lot.park()
            else:
                break
        await trio.lowlevel.cancel_shielded_checkpoint()

    def close(self, reason: str = CloseReason.FORCED_CLOSE) -> None:
        """Close the session. What is already queued is still delivered; idempotent."""
        self._server.close_session(self, reason)

    def abort(self, reason: str) -> None:
        """Close the session now, dropping what is queued (a slow consumer, say)."""
        self._server.fail_session(self, reason)

    def wake(self) -> None:
        """Wake whoever waits on this session (transports, blocked senders)."""
        self._lot.unpark_all()
        if self.poll_wait is not None:
            self.poll_wait.cancel()

    async def wait_changed(self) -> None:
        """Sleep until :meth:`wake` is called."""
        await self._lot.park()

    def __repr__(self) -> str:
        state = "open" if self.state.is_open else f"closed ({self.state.close_reason})"
        return f"<EngineSocket {self.transport} {state}>"


def _message_wire(data: str | bytes) -> WirePacket:
    """An application's message as a wire packet. Checked here, where Engine.IO text comes
    in, and only here: Socket.IO's packets go through :meth:`EngineSocket.send_wires`, and
    its JSON escapes control characters, so it never carries a raw ``\\x1e``."""
    if not isinstance(data, str):
        return bytes(data)
    if "\x1e" in data:
        raise RecordSeparatorError(
            "an Engine.IO text message cannot contain the record separator \\x1e: "
            "long-polling uses it between packets (send bytes, or escape it)"
        )
    return f"4{data}"
