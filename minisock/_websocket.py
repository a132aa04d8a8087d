"""WebSocket connections for Engine.IO sessions, on a trio stream.

A WebSocket joins a session in one of two roles:

- **transport**: a sid-less WebSocket handshake creates the session on it, or an upgrade
  completed and the outbox moved here;
- **probe**: a WebSocket carrying the sid of a polling session, upgrading it. Until the
  client sends ``5`` it only answers ``2probe``; polling still carries the session.

Each connection has one task, its reader. It decodes frames with the pure
:class:`~minisock.proto.ws.FrameParser` and hands messages to the application inline, so a
slow handler stops the reading and TCP pushes back. There is no writer task: whoever changes
the session (a sender queueing packets, the heartbeat timer, a close) *kicks* the connection,
which writes the outbox to the socket at once. Only what the kernel does not take at once
needs a task, a flusher that lives while that write waits. An idle connection therefore
costs one task, and that task holds no HTTP state: once the handshake is answered, a plain
TCP connection is handed to a task of its own (on a duplicate of its socket), so the HTTP
handler's frames, its parser and its request objects are let go.

Whoever decides first how the connection ends records the close code; the reader then
sends that close frame, waits briefly for the client's, and closes TCP.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import trio

from minisock import trace
from minisock._http import HttpConnection
from minisock.errors import EngineProtocolError, HandshakeError, WebSocketProtocolError
from minisock.proto import ws, ws_deflate, ws_handshake
from minisock.proto.eio import Packet, WirePacket, decode_packet, wants_compression
from minisock.proto.eio_session import CloseReason, Transport, UpgradeOutcome, UpgradeRefusedError
from minisock.proto.route import ErrorCode, Reject
from minisock.request import Request

if TYPE_CHECKING:
    from minisock.engine import EngineServer
    from minisock.engine_socket import EngineSocket

__all__ = ["WebSocket", "abort_probe", "serve_new", "serve_upgrade"]

log = logging.getLogger("minisock.websocket")

_READ_SIZE = 65536
_CLOSE_WAIT = 1.0  # for the close handshake itself
_DRAIN_WAIT = 5.0  # for a closed session's last frames to reach a client that reads slowly
# The close code for a session that ended for each reason; the reason goes in the frame too.
_CLOSE_CODES = {
    CloseReason.SERVER_SHUTTING_DOWN: ws.CloseCode.GOING_AWAY,
    CloseReason.PARSE_ERROR: ws.CloseCode.PROTOCOL_ERROR,
    CloseReason.TRANSPORT_ERROR: ws.CloseCode.PROTOCOL_ERROR,
    CloseReason.SLOW_CONSUMER: ws.CloseCode.POLICY_VIOLATION,
    "forced server close": ws.CloseCode.PROTOCOL_ERROR,  # Socket.IO: a packet out of turn
}


class WebSocket:
    """RFC 6455 on a trio stream: the pure parser for reading, a lock for writing.

    Writes have a fast path. When nobody is writing and nothing is left over, a frame is
    written straight to the socket without waiting (:meth:`write_now`): no task switch, no
    scheduler pass. Whatever the kernel does not take at once is kept in ``unsent`` and a
    flusher task sends it, in order, before anything else. The lock that orders writes
    which wait is made by the first of them: an idle connection never has one.

    On a plain TCP socket, reads go to the file descriptor as well (``os.read`` after trio's
    ``wait_readable``, or straight away when the last read filled its buffer): the same
    checkpoints as trio's ``receive_some``, without its four coroutine frames under every
    idle reader.
    """

    __slots__ = (
        "_fd",
        "_lock",
        "close_received",
        "close_sent",
        "deflater",
        "drained",
        "eio_sid",
        "parser",
        "read_full",
        "stream",
        "torn",
        "unsent",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        trailing: bytes,
        *,
        max_message_size: int,
        deflate: tuple[ws_deflate.Agreement, ws_deflate.Deflate] | None = None,
    ) -> None:
        self.stream = stream
        self.deflater: ws_deflate.MessageDeflater | None = None
        """Set when permessage-deflate was negotiated; None costs nothing per message."""
        self.parser = ws.FrameParser(max_message_size=max_message_size)
        if deflate is not None:
            agreement, settings = deflate
            self.deflater = ws_deflate.MessageDeflater(agreement, settings)
            self.parser.inflater = ws_deflate.MessageInflater(agreement, max_size=max_message_size)
        if trailing:
            self.parser.receive_data(trailing)
        self._lock: trio.StrictFIFOLock | None = None
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self.unsent = b""
        self.torn = False
        """A frame went out only in part: no other byte may follow it."""
        self.eio_sid: str | None = None
        self.drained = False
        """The last :meth:`receive` took every event the parser held."""
        self.read_full = False
        """The last read filled its buffer (more is likely waiting in the kernel)."""
        self.close_sent = False
        self.close_received = False

    def can_write_now(self) -> bool:
        """Whether a write may go straight to the socket: a real socket, nobody writing,
        nothing left over, not closing."""
        lock = self._lock
        return (
            self._fd >= 0
            and not self.unsent
            and not self.torn
            and (lock is None or not lock.locked())
            and not self.close_sent
        )

    def is_idle(self) -> bool:
        """No write in flight: engine.io's WebSocket ``writable`` (for volatile packets)."""
        lock = self._lock
        return not (
            self.unsent or self.torn or (lock is not None and lock.locked()) or self.close_sent
        )

    def write_now(self, data: bytes) -> bool:
        """Write ``data`` without waiting (check :meth:`can_write_now` first).

        The socket is non-blocking (trio made it so): the kernel takes what fits and the rest
        waits in ``unsent``. Returns whether a flusher task must finish the job.
        """
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            written = 0  # the flusher meets the error through trio and ends the connection
        if written < len(data):
            self.unsent = data[written:]
            return True
        return False

    async def flush_unsent(self) -> None:
        data, self.unsent = self.unsent, b""
        if data:
            await self.send(data)

    async def receive(self) -> list[ws.WsEvent] | None:
        """The next batch of events, or ``None`` at end of stream.

        Raises :class:`WebSocketProtocolError` once no valid event precedes the violation.
        """
        parser = self.parser
        while True:
            if self.drained:
                self.drained = False  # the last batch emptied the parser: read first
            else:
                events: list[ws.WsEvent] = []
                try:
                    while (event := parser.next_event()) is not None:
                        events.append(event)
                        if not parser.buffered:
                            break  # the read's last frame: no call to learn there is none
                except WebSocketProtocolError:
                    if not events:
                        raise
                else:
                    self.drained = bool(events)
                if events:
                    return events
                del events  # not kept while waiting
            fd = self._fd
            if fd < 0:
                data = bytes(await self.stream.receive_some(_READ_SIZE))
            else:
                read = None
                if self.read_full:
                    # The last read filled the buffer: more is likely there. trio's
                    # receive_some without its frames: a checkpoint after a read that
                    # succeeds at once, a wait (itself a checkpoint) when there is nothing.
                    await trio.lowlevel.checkpoint_if_cancelled()
                    read = _read_nowait(fd)
                    if read is not None:
                        await trio.lowlevel.cancel_shielded_checkpoint()
                # Else a client that waits for our answer before it sends again (an echo,
                # an ack) has sent nothing yet: wait first, rather than try a read that fails.
                while read is None:
                    await trio.lowlevel.wait_readable(fd)
                    read = _read_nowait(fd)
                data = read
            self.read_full = len(data) == _READ_SIZE
            if not data:
                return None
            if trace.enabled():
                trace.raw_bytes(trace.C2S, self.eio_sid, data, "frame bytes, masked")
            parser.receive_data(data)

    async def send(self, data: bytes) -> None:
        lock = self._lock
        if lock is None:
            lock = self._lock = trio.StrictFIFOLock()
        try:
            lock.acquire_nowait()  # uncontended: skip the scheduler pass acquire() costs
        except trio.WouldBlock:
            await lock.acquire()
        try:
            self.torn = True  # until send_all returns: cancelled halfway, a frame is cut
            await self.stream.send_all(data)
            self.torn = False
        finally:
            lock.release()

    async def close(self, code: int | None, reason: str = "") -> None:
        """Send our close frame (once), wait briefly for the client's, then close TCP.

        If a frame was cut halfway (a write cancelled, or the client stopped reading), nothing
        more may follow it: the TCP connection just ends, and the client sees 1006.
        """
        with trio.move_on_after(_CLOSE_WAIT) as scope:
            scope.shield = True
            try:
                if not self.close_sent and not self.torn:
                    self.close_sent = True
                    await self.flush_unsent()  # a frame cut short must end before the close
                    if trace.enabled():
                        trace.emit(trace.S2C, "websocket", self.eio_sid, f"close {code}", reason)
                    await self.send(ws.encode_close(code, reason))
                while not self.close_received:
                    events = await self.receive()
                    if events is None:
                        break
                    self.close_received = any(type(e) is ws.CloseReceived for e in events)
            except (trio.BrokenResourceError, trio.ClosedResourceError, WebSocketProtocolError):
                pass
        self._fd = -1  # the number may soon be another connection's
        await trio.aclose_forcefully(self.stream)


def _read_nowait(fd: int) -> bytes | None:
    """What the socket holds (``b""`` at end of stream), or ``None`` when nothing yet."""
    try:
        return os.read(fd, _READ_SIZE)
    except BlockingIOError:
        return None
    except OSError as exc:
        raise trio.BrokenResourceError(f"socket read failed: {exc}") from exc


class _Binding:
    """This WebSocket's place in its session: its role, its writes, and how it ends.

    As the session's transport it is the session's :class:`~minisock.engine_socket.Writer`:
    :meth:`kick` writes the outbox at once, or starts a flusher task for what must wait.
    """

    __slots__ = (
        "batch",
        "close_code",
        "close_reason",
        "counted",
        "decided",
        "flush_scope",
        "flushing",
        "generation",
        "http",
        "probing",
        "scope",
        "server",
        "sock",
        "socket",
    )

    def __init__(
        self, server: EngineServer, socket: WebSocket, sock: EngineSocket, *, probing: bool
    ) -> None:
        self.server = server
        self.socket = socket
        self.sock = sock
        self.probing = probing
        self.scope: trio.CancelScope | None = None
        """The reader's: cancelled when the connection is to end."""
        self.flush_scope: trio.CancelScope | None = None
        self.flushing = False
        """A flusher task is writing (or about to): it sees any change when it loops."""
        self.decided = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.counted = False
        """The reader runs in a task of its own, counted in ``server.connections``."""
        self.generation = 0
        """Which reader task reads: each :meth:`hand_off` starts the next one."""
        self.batch: Iterator[ws.WsEvent] | None = None
        """The events read and not handled yet: the next reader starts with them."""
        self.http: HttpConnection | None = None
        """The HTTP connection whose task reads, when that is the reader (TLS, in memory)."""

    def hand_off(self) -> None:
        """The handler running in the reader's task waits: a new task reads on, starting
        with the rest of the batch; the old one ends once the handler returns."""
        self.server.spawn(_serve, self, False, True)
        http = self.http
        if http is not None:  # the connection's count moves from the HTTP handler's task
            http.owner = None
            self.http = None
            self.counted = True
        self.generation += 1
        self.scope = None  # the old reader's scope is the handler's now, not to be ended

    def decide(self, code: int | None, reason: str = "") -> None:
        """Record how the connection ends; the first decision wins."""
        if not self.decided:
            self.decided = True
            self.close_code = code
            self.close_reason = reason

    def end(self, code: int | None, reason: str = "") -> None:
        """Decide how the connection ends, and stop its reader, which then closes it."""
        self.decide(code, reason)
        if self.scope is not None:
            self.scope.cancel()

    def is_idle(self) -> bool:
        return self.socket.is_idle()

    def write_now(self, wires: list[WirePacket]) -> bool:
        """The outbox is empty: write ``wires`` as frames straight to the socket if it is
        ours to write now (no copy through the outbox, no second look at the session);
        what the kernel does not take goes to a flusher, as in :meth:`kick`."""
        socket = self.socket
        if (
            self.flushing
            or self.probing
            or self.decided
            or socket.deflater is not None
            or not socket.can_write_now()
            or trace.enabled()  # the outbox's path traces each frame
        ):
            return False
        data = _frame(wires[0]) if len(wires) == 1 else b"".join(map(_frame, wires))
        if socket.write_now(data):
            self.flushing = True
            self.server.spawn(_flush, self)
        return True

    def kick(self) -> None:
        """The session changed: write its outbox now if the socket takes it, else start a
        flusher; end the connection once a closed session has nothing left to send."""
        if self.decided:
            return
        sock, socket = self.sock, self.socket
        state = sock.state
        if self.flushing:
            if not state.is_open and self.flush_scope is not None:
                _give_up_soon(self.flush_scope)  # the write may be blocked for good
            if socket._fd < 0:
                sock.wake_waiters()  # a flusher that stays (see _flush) sleeps there
            return
        if not self.probing and state.outbox:
            if socket.can_write_now():
                socket.write_now(_take_frames(sock, socket))
                sock.wake_waiters()  # senders waiting for room
            if socket.unsent or state.outbox:
                self.flushing = True
                self.server.spawn(_flush, self)
                return
        if not state.is_open:
            reason = state.close_reason or ""
            self.end(_CLOSE_CODES.get(reason, ws.CloseCode.NORMAL), reason)


def abort_probe(sock: EngineSocket) -> None:
    """End an upgrade in progress (the timer calls this when upgradeTimeout passes)."""
    binding = sock._probe
    sock._probe = None
    if isinstance(binding, _Binding):
        binding.end(ws.CloseCode.NORMAL, "upgrade timed out")
    sock.wake()


class _LastFrame:
    """The frame of the wire packet framed last, kept by identity.

    A broadcast hands the very same packet object to every member in turn, so with this
    one-entry cache it is UTF-8-encoded and framed once, not once per recipient.
    """

    wire: WirePacket | None = None
    frame = b""


def _frame(wire: WirePacket) -> bytes:
    if wire is _LastFrame.wire:
        return _LastFrame.frame
    frame = ws.encode_text(wire) if isinstance(wire, str) else ws.encode_binary(wire)
    _LastFrame.wire, _LastFrame.frame = wire, frame
    return frame


def _deflated_frame(deflater: ws_deflate.MessageDeflater, wire: WirePacket) -> bytes:
    """The frame of ``wire`` on a connection that negotiated permessage-deflate.

    Messages under the threshold, and those sent with ``compress(False)``, go as plain frames
    (and share the broadcast cache); the others are compressed per connection, since each
    connection's deflate stream has its own history.
    """
    if not wants_compression(wire):
        return _frame(wire)
    if isinstance(wire, str):
        data, opcode = wire.encode("utf-8"), ws.Opcode.TEXT
    else:
        data, opcode = wire, ws.Opcode.BINARY
    if len(data) < deflater.threshold:
        return _frame(wire)
    return ws.encode_deflated(opcode, deflater.compress(data))


async def _validated_key(
    server: EngineServer, http: HttpConnection, request: Request
) -> str | None:
    """The client's Sec-WebSocket-Key; or None once a bad upgrade has been answered."""
    try:
        return ws_handshake.validate_upgrade(
            request.method.encode("ascii"), request.http_version.encode("ascii"), request.headers
        )
    except HandshakeError as exc:
        headers = [("Sec-WebSocket-Version", "13")] if exc.http_status == 426 else []
        reject = Reject(exc.http_status, ErrorCode.BAD_REQUEST, exc.message)
        context = {"name": "TRANSPORT_HANDSHAKE_ERROR", "message": exc.message}
        await server.reject(http, request, reject, context=context, headers=headers, close=True)
        return None


async def _switch(
    server: EngineServer, http: HttpConnection, request: Request, key: str, eio_sid: str | None
) -> WebSocket:
    """Send the 101 and wrap the stream; the HTTP connection no longer owns it.

    ``eio_sid`` is the new session's on a handshake (its cookie and ``initial_headers``).
    """
    headers = ws_handshake.response_headers(key)
    extra = server.response_headers(request, eio_sid=eio_sid)
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra]
    deflate = None
    settings = server.per_message_deflate
    if settings is not None:
        negotiated = ws_deflate.negotiate(request.headers, settings)
        if negotiated is not None:
            agreement, answer = negotiated
            deflate = (agreement, settings)
            headers.append((b"sec-websocket-extensions", answer.encode("ascii")))
    trailing = await http.accept_upgrade(headers)
    stream = http.stream
    if type(stream) is trio.SocketStream and server._nursery is not None:
        # A socket of our own: the HTTP handler's caller closes its socket when the handler
        # returns, and the handler returns at once (see _hand_over).
        stream = trio.SocketStream(stream.socket.dup())
    return WebSocket(stream, trailing, max_message_size=server.config.max_payload, deflate=deflate)


async def serve_new(
    server: EngineServer,
    http: HttpConnection,
    request: Request,
    identity: Any,
    claims: dict[str, Any] | None,
    eio_sid: str | None = None,
) -> bool:
    """A sid-less WebSocket: create the session on it. Returns True once the stream is ours."""
    key = await _validated_key(server, http, request)
    if key is None:
        return False
    sock = server.create_session(request, Transport.WEBSOCKET, identity, claims, eio_sid)
    socket = await _switch(server, http, request, key, sock.eio_sid)
    socket.eio_sid = sock.eio_sid
    await _hand_over(http, _Binding(server, socket, sock, probing=False), connect=True)
    return True


async def serve_upgrade(
    server: EngineServer, http: HttpConnection, request: Request, sock: EngineSocket
) -> bool:
    """A WebSocket with a sid: probe and upgrade a polling session."""
    key = await _validated_key(server, http, request)
    if key is None:
        return False
    socket = await _switch(server, http, request, key, None)
    socket.eio_sid = sock.eio_sid
    try:
        sock.state.upgrade_begin(trio.current_time())
    except UpgradeRefusedError as exc:
        # Like the reference: complete the handshake, then close this extra WebSocket.
        await socket.close(ws.CloseCode.POLICY_VIOLATION, exc.message)
        return True
    binding = _Binding(server, socket, sock, probing=True)
    sock._probe = binding
    server.refresh(sock)
    await _hand_over(http, binding, connect=False)
    return True


async def _hand_over(http: HttpConnection, binding: _Binding, *, connect: bool) -> None:
    """Serve the connection: in a task of its own when its socket is (``_switch``), so the
    HTTP handler returns and takes its frames and objects with it; else in this task."""
    server = binding.server
    server.transport_started()  # now, not when the task starts: a shutdown waits for it
    if binding.socket.stream is http.stream:
        binding.http = http
        await _serve(binding, connect, False)
        return
    server.connections += 1  # still a connection, for max_connections
    binding.counted = True
    server.spawn(_serve, binding, connect, False)


async def _serve(binding: _Binding, connect: bool, resumed: bool) -> None:
    """The connection's reader, and in the end its closing. ``resumed``: a reader taking
    over from one whose handler waits (:meth:`_Binding.hand_off`)."""
    server, socket, sock = binding.server, binding.socket, binding.sock
    generation = binding.generation
    try:
        with trio.CancelScope() as scope:
            binding.scope = scope
            if binding.decided:  # ended before it started (the upgrade timed out)
                scope.cancel()
            if not binding.probing and not resumed:
                sock.writer = binding
                binding.kick()  # the open packet
            if connect:
                await server.call_connect(sock)
            await _read_loop(server, socket, sock, binding, generation)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        if binding.generation == generation:
            _connection_lost(binding)
    except Exception:
        # One connection's failure must never take the server down with it.
        log.exception("websocket connection failed")
    finally:
        if binding.generation == generation:  # else a newer reader owns the ending
            await _end(binding)


async def _end(binding: _Binding) -> None:
    """Close the connection, once its reader is done."""
    server, socket, sock = binding.server, binding.socket, binding.sock
    if binding.flush_scope is not None:
        binding.flush_scope.cancel()  # nothing more is written but the close frame
    if not binding.decided:
        # Cancelled from outside (hard shutdown), or failed.
        _transport_lost(server, sock, binding, CloseReason.SERVER_SHUTTING_DOWN)
        binding.decide(ws.CloseCode.GOING_AWAY)
    if sock.writer is binding:
        sock.writer = None
    if sock.reader is binding:
        sock.reader = None
    await socket.close(binding.close_code, binding.close_reason)
    server.transport_finished()
    if binding.counted:
        server.connections -= 1


async def _flush(binding: _Binding) -> None:
    """Write what the socket did not take at once, then whatever was queued meanwhile.

    The one write task of a connection, alive only while a write waits (a client reading
    slowly). A stream with no file descriptor (TLS, in memory) has no write that does not
    wait: there the flusher stays, sleeping on the session, rather than being started again
    for every message. A closed session's last frames get ``_DRAIN_WAIT``: a client that
    stopped reading would otherwise hold the connection forever.
    """
    sock, socket = binding.sock, binding.socket
    state = sock.state
    drain_timed_out = failed = False
    try:
        with trio.CancelScope() as scope:
            binding.flush_scope = scope
            while not binding.decided:
                if not state.is_open:
                    _give_up_soon(scope)
                if socket.unsent:
                    await socket.flush_unsent()
                elif not binding.probing and state.outbox:
                    data = _take_frames(sock, socket)
                    sock.wake_waiters()  # senders waiting for room
                    await socket.send(data)
                elif socket._fd < 0 and state.is_open:
                    await sock.wait_changed()
                else:
                    break
        drain_timed_out = scope.cancelled_caught and not binding.decided
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        # The client reset the connection while we wrote: that client is gone, nobody else.
        _connection_lost(binding)
    except Exception:
        log.exception("websocket write failed")
        failed = True
    finally:
        binding.flushing = False
        binding.flush_scope = None
    if failed:
        if binding.scope is not None:
            binding.scope.cancel()  # the reader ends the session, as if it had failed
    elif drain_timed_out:
        binding.end(ws.CloseCode.GOING_AWAY)
    elif binding.decided:
        binding.end(binding.close_code)
    else:
        binding.kick()  # what came meanwhile, or the end of a closed session


def _give_up_soon(scope: trio.CancelScope) -> None:
    scope.deadline = min(scope.deadline, trio.current_time() + _DRAIN_WAIT)


def _connection_lost(binding: _Binding) -> None:
    binding.socket.close_sent = True  # nothing more can be written
    binding.decide(None, "connection lost")
    _transport_lost(binding.server, binding.sock, binding, CloseReason.TRANSPORT_ERROR)


def _take_frames(sock: EngineSocket, socket: WebSocket) -> bytes:
    """Everything in the outbox, as WebSocket frames in one buffer."""
    deflater = socket.deflater
    outbox = sock.state.outbox
    if deflater is None and len(outbox) == 1 and not trace.enabled():
        frame = _frame(outbox[0])  # the common case (an event, a broadcast): no new list
        outbox.clear()
        return frame
    wires = sock.state.take_outbox()
    if deflater is None:
        frames = [_frame(w) for w in wires]
    else:
        frames = [_deflated_frame(deflater, w) for w in wires]
    if trace.enabled():
        for wire, data in zip(wires, frames, strict=True):
            head = ws.frame_head(data)
            deflated = len(data) - len(head) if data[0] & 0x40 else None
            trace.frame(trace.S2C, sock.eio_sid, head, wire, deflated=deflated)
    return b"".join(frames)


def _transport_lost(
    server: EngineServer, sock: EngineSocket, binding: _Binding, reason: str
) -> None:
    """This WebSocket is gone: abort the upgrade it was probing, or close its session."""
    if binding.probing:
        if sock._probe is binding:
            sock.state.upgrade_abort()
            sock._probe = None
    elif sock.state.is_open:
        sock.state.fail(reason)
    server.refresh(sock)


async def _read_loop(
    server: EngineServer,
    socket: WebSocket,
    sock: EngineSocket,
    binding: _Binding,
    generation: int,
) -> None:
    state = sock.state
    event: ws.WsEvent | None
    packet: Packet | None
    reply: WirePacket | None
    while True:
        batch = binding.batch  # what a reader that handed off left, or a new read
        if batch is None:
            try:
                events = await socket.receive()
            except WebSocketProtocolError as exc:
                binding.decide(exc.close_code, exc.message)
                _transport_lost(server, sock, binding, CloseReason.TRANSPORT_ERROR)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                events = None
            if events is None:
                socket.close_sent = True  # nobody is left to read our close frame
                binding.decide(None, "end of stream")
                _transport_lost(server, sock, binding, CloseReason.TRANSPORT_CLOSE)
                return
            batch = binding.batch = iter(events)
            del events
        for event in batch:
            kind = type(event)
            if kind is ws.TextMessage or kind is ws.BinaryMessage:
                assert isinstance(event, ws.TextMessage | ws.BinaryMessage)
                if not state.is_open and not binding.probing:
                    # The session is over and a flusher is sending its last frames: keep
                    # reading (a client blocked on sending would never read them), discard.
                    continue
                if trace.enabled():
                    trace.packets(trace.C2S, "websocket", sock.eio_sid, [event.data])
                try:
                    packet = decode_packet(event.data)
                except EngineProtocolError as exc:
                    binding.decide(ws.CloseCode.PROTOCOL_ERROR, f"parse error: {exc.message}")
                    if not binding.probing and state.is_open:
                        state.fail(CloseReason.PARSE_ERROR)
                    _transport_lost(server, sock, binding, CloseReason.PARSE_ERROR)
                    return
                if binding.probing:
                    outcome, reply = state.upgrade_receive(packet)
                    if outcome is UpgradeOutcome.COMPLETED:
                        binding.probing = False
                        sock._probe = None
                        sock.writer = binding
                    elif outcome is UpgradeOutcome.ABORTED:
                        binding.decide(ws.CloseCode.NORMAL, "upgrade aborted")
                        if sock._probe is binding:
                            sock._probe = None
                        server.refresh(sock)
                        return
                    # A pending GET may now answer "6". Before the 3probe write, not after
                    # it: that write may wait on the client, and the client ends its GET
                    # before it sends "5".
                    server.refresh(sock)
                    if reply is not None:
                        if trace.enabled():
                            trace.packets(trace.S2C, "websocket", sock.eio_sid, [reply])
                        await socket.send(_frame(reply))
                    continue
                data = state.receive(packet, trio.current_time())
                if data is not None:
                    sock.reader = binding
                    await server.deliver(sock, data)
                    if binding.generation != generation:
                        return  # the handler waited, and a new task reads on
                else:
                    server.refresh(sock)  # a pong reschedules the heartbeat
            elif kind is ws.Ping:
                assert isinstance(event, ws.Ping)
                if trace.enabled():
                    trace.emit(
                        trace.C2S, "websocket", sock.eio_sid, "ping frame", "answered with pong"
                    )
                await socket.send(ws.encode_pong(event.payload))
            elif kind is ws.CloseReceived:
                assert isinstance(event, ws.CloseReceived)
                if trace.enabled():
                    trace.emit(
                        trace.C2S, "websocket", sock.eio_sid, f"close {event.code}", event.reason
                    )
                socket.close_received = True
                binding.decide(event.code, "")  # echo the client's code (RFC 6455 §5.5.1)
                _transport_lost(server, sock, binding, CloseReason.TRANSPORT_CLOSE)
                return
        # Idle until the next read: hold nothing of this batch (a few hundred bytes).
        binding.batch = batch = event = packet = data = reply = None
