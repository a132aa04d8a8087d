"""The application's handle on one Engine.IO session.

An :class:`EngineSocket` wraps the pure :class:`~minisock.proto.eio_session.EngineSession`
with the one trio object a session may need: a parking lot where a pending long-poll GET and
senders waiting for room sleep, made the first time someone waits. A WebSocket transport
waits on nothing: it registers itself as the session's :class:`Writer` and is told when the
session changes. An idle session owns no task of its own; the server's timer heap wakes it
when needed.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Protocol

import trio

from minisock.errors import RecordSeparatorError, SessionClosedError
from minisock.proto.eio import WirePacket
from minisock.proto.eio_session import CloseReason, EngineSession, Transport
from minisock.request import Request

if TYPE_CHECKING:
    from minisock.engine import EngineServer

__all__ = ["EngineSocket", "Writer"]

# Words that every session's handshake request repeats: one shared copy of each, rather
# than one per idle session (a header name is 40 to 60 bytes, a query key about 55). A fixed
# list: words a client makes up are not kept for good.
_SHARED_BYTES = {
    word: word
    for word in (
        b"accept",
        b"accept-encoding",
        b"accept-language",
        b"authorization",
        b"cache-control",
        b"connection",
        b"cookie",
        b"host",
        b"origin",
        b"pragma",
        b"referer",
        b"sec-websocket-extensions",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"upgrade",
        b"user-agent",
        b"x-forwarded-for",
        b"13",
        b"Upgrade",
        b"websocket",
        b"keep-alive",
        b"no-cache",
        b"*/*",
    )
}
_SHARED_STRS = {
    word: word
    for word in ("GET", "POST", "1.0", "1.1", "EIO", "4", "transport", "websocket", "polling")
}
_SHARED_STRS.update({word: word for word in ("sid", "t", "j", "b64")})


def _share_words(request: Request) -> None:
    """Swap the handshake request's common words for shared copies (equal values: what the
    application sees does not change). Once per session, so a kept request costs less."""
    shared, strs = _SHARED_BYTES, _SHARED_STRS
    request.headers = [(shared.get(k, k), shared.get(v, v)) for k, v in request.headers]
    request.method = strs.get(request.method, request.method)
    request.http_version = strs.get(request.http_version, request.http_version)
    request.path = sys.intern(request.path)  # one of the engines' paths: few values
    request.query = {strs.get(k, k): strs.get(v, v) for k, v in request.query.items()}


class Transporter(Protocol):
    """What a transport waiting for the session's packets offers it: a WebSocket
    (``minisock/_websocket.py``), or a long-poll GET (``minisock/_polling.py``)."""

    def kick(self) -> None:
        """The session changed (packets queued, closed): write now, or arrange to."""


class Writer(Transporter, Protocol):
    """What a WebSocket transport offers its session."""

    def is_idle(self) -> bool:
        """Whether no write is in flight."""

    def write_now(self, wires: list[WirePacket]) -> bool:
        """Write ``wires`` to the socket at once, bypassing the empty outbox, if nothing is
        in flight; ``False`` when they must be queued instead."""


class Reader(Protocol):
    """The transport reading the session's messages, as the application's handler for one
    of them runs in its task: a WebSocket's reader, or a POST's delivery."""

    def hand_off(self) -> None:
        """The handler running in the reader's task waits: go on reading in a new task.
        (The Socket.IO layer calls this; a raw Engine.IO handler keeps its reader.)"""


class EngineSocket:
    """One client session. Send with :meth:`send`; close with :meth:`close`."""

    __slots__ = (
        "_data",
        "_lot",
        "_probe",
        "_reported_closed",
        "_server",
        "app",
        "claims",
        "identity",
        "poll_wait",
        "reader",
        "request",
        "state",
        "timer_at",
        "writer",
    )

    def __init__(self, server: EngineServer, state: EngineSession, request: Request) -> None:
        self._server = server
        self.state = state
        _share_words(request)
        self.request = request
        """The handshake request: headers, query and peer address."""
        self._data: dict[str, Any] | None = None
        self.identity: Any = None
        """Who the handshake's bearer token says this is (``None`` without authentication)."""
        self.claims: dict[str, Any] | None = None
        """The verified claims of that token."""
        self.app: Any = None
        """The per-session object of the layer above (the Socket.IO client state)."""
        self.timer_at = math.inf
        self._lot: trio.lowlevel.ParkingLot | None = None
        self.writer: Writer | None = None
        """The WebSocket carrying the session, once it has one."""
        self._probe: Writer | None = None
        """A WebSocket probing to upgrade this polling session."""
        self.poll_wait: Transporter | None = None
        """A long-poll GET while it waits (``_polling.HeldPoll``): :meth:`wake` kicks it,
        which answers it at once when there is something to send."""
        self.reader: Reader | None = None
        """Set by the transport before it delivers a message (see :class:`Reader`)."""
        self._reported_closed = False

    @property
    def data(self) -> dict[str, Any]:
        """Free space for the application (the decoded JWT user goes here, for instance);
        made on first use."""
        data = self._data
        if data is None:
            data = self._data = {}
        return data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

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
        writer = self.writer
        return writer is not None and writer.is_idle()

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
        writer = self.writer
        if writer is not None and not state.outbox and writer.write_now(wires):
            return  # nearly every emit and broadcast on an idle WebSocket
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
        writer = self.writer
        if writer is not None:
            writer.kick()
        else:
            self.wake_waiters()

    async def send_wires(self, wires: list[WirePacket]) -> None:
        """Like :meth:`send_wires_nowait`, waiting while the outbox is full."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.send_wires_nowait(wires)
            except trio.WouldBlock:
                await self.wait_changed()
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
        """The session changed: tell its WebSocket (or the one probing it), wake the tasks
        waiting on it (a long-poll GET, blocked senders)."""
        self.wake_waiters()
        writer = self.writer or self._probe
        if writer is not None:
            writer.kick()

    def wake_waiters(self) -> None:
        """Wake the tasks waiting on the session: those in :meth:`wait_changed` and a long-poll
        GET (its :attr:`poll_wait`), not the WebSocket writer."""
        lot = self._lot
        if lot is not None:
            lot.unpark_all()
        held = self.poll_wait
        if held is not None:
            held.kick()

    async def wait_changed(self) -> None:
        """Sleep until :meth:`wake` (or :meth:`wake_waiters`) is called."""
        lot = self._lot
        if lot is None:
            lot = self._lot = trio.lowlevel.ParkingLot()
        await lot.park()

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
