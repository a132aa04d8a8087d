"""HTTP long-polling: the handshake GET, the waiting GET, the POST, and plain routes.

Each function answers exactly one request, and every path through it answers: a refused
request is never left hanging (the reference once forgot, CVE-2026-59725).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import trio

from minisock import trace
from minisock._http import BodyTooLargeError, HttpConnection, MalformedBodyError
from minisock.errors import EngineProtocolError
from minisock.proto.eio import RECORD_SEPARATOR, decode_packet, encode_payload, wants_compression
from minisock.proto.eio_session import CloseReason, EngineSession, PollOverlapError, Transport
from minisock.proto.http_compression import choose_encoding, compress_body
from minisock.proto.route import ErrorCode, Reject
from minisock.request import Request, Response

if TYPE_CHECKING:
    from minisock.engine import EngineServer, RouteHandler
    from minisock.engine_socket import EngineSocket

__all__ = [
    "HeldPoll",
    "answer_preflight",
    "serve_get",
    "serve_handshake",
    "serve_post",
    "serve_route",
]

log = logging.getLogger("minisock.polling")

_TEXT = "text/plain; charset=UTF-8"
_NO_STORE = [("Cache-Control", "no-store")]  # a poll answer is never to be replayed
_MALFORMED_BODY = {"code": 3, "message": "malformed request body"}
_MALFORMED = Reject(400, ErrorCode.BAD_REQUEST, "malformed request body")
_NOT_UTF8 = "Payload is not valid UTF-8"
_TRANSPORT_FAULTS = {CloseReason.TRANSPORT_ERROR, CloseReason.PARSE_ERROR, CloseReason.PING_TIMEOUT}
# Engine.IO clients never compress what they send; a compressed body would be read as garbage.
_ENCODED_BODY = Reject(415, ErrorCode.BAD_REQUEST, "Content-Encoding is not supported")


def _too_large(limit: int) -> Reject:
    return Reject(413, ErrorCode.BAD_REQUEST, f"Payload over maxPayload ({limit} bytes)")


async def serve_handshake(
    server: EngineServer,
    http: HttpConnection,
    request: Request,
    identity: Any,
    claims: dict[str, Any] | None,
    eio_sid: str | None = None,
) -> None:
    """Open a polling session: the answer is the open packet alone, as in the reference."""
    sock = server.create_session(request, Transport.POLLING, identity, claims, eio_sid)
    body = encode_payload(sock.state.take_outbox())
    if trace.enabled():
        trace.payload(trace.S2C, sock.eio_sid, body)
    headers = (
        server.cors_headers(request)
        + server.response_headers(request, eio_sid=sock.eio_sid)
        + _NO_STORE
    )
    # The connect handler runs before the answer is written, as Node emits "connection"
    # before its write completes: a client that reads the open packet may POST at once on
    # another connection, and that message must not reach the application before connect.
    await server.call_connect(sock)
    await http.respond(200, body.encode("utf-8"), content_type=_TEXT, headers=headers)


async def serve_get(
    server: EngineServer, http: HttpConnection, request: Request, sock: EngineSocket
) -> None:
    """Hold the GET until there is something to send, then send all of it in one body."""
    state = sock.state
    try:
        state.poll_begin()
    except PollOverlapError as exc:
        server.refresh(sock)
        await server.reject(http, request, Reject(400, ErrorCode.BAD_REQUEST, str(exc)))
        return
    server.transport_started()
    held: HeldPoll | None = None
    try:
        body, compressible = _poll_take(state)
        if body is None:
            held = HeldPoll(server, http, request, sock)
            taken = await held.wait()
            if taken is None:
                return  # answered from the task that queued the packets
            body, compressible = taken
        server.refresh(sock)
        if body is None:
            raise trio.BrokenResourceError("client abandoned its poll")
        await _send_answer(
            server, http, sock, _answer(server, http, request, sock, body, compressible)
        )
    finally:
        if held is None or not held.finished:
            server.transport_finished()


class HeldPoll:
    """A GET waiting for packets, registered as its session's :attr:`~EngineSocket.poll_wait`.

    Whoever queues packets answers it at once, from its own task (:meth:`kick`): a write the
    kernel takes whole costs no wake-up of the GET's task, which stays where it waits anyway,
    on its socket, for the client's next request (or for the client to leave, which
    abandons the poll). Node answers a waiting GET the same way, at the first packet sent.
    The GET's task takes over when the answer cannot be written so (TLS, a full socket
    buffer, a closed session's final answer).
    """

    __slots__ = ("answered", "finished", "http", "request", "scope", "server", "sock", "unsent")

    def __init__(
        self, server: EngineServer, http: HttpConnection, request: Request, sock: EngineSocket
    ) -> None:
        self.server = server
        self.http = http
        self.request = request
        self.sock = sock
        self.scope = trio.CancelScope()
        self.answered = False
        """The answer was taken from the session (and written, unless :attr:`unsent`)."""
        self.unsent: bytes | memoryview | None = None
        """What the GET's task must still write: the rest of the answer, or all of it."""
        self.finished = False
        """Written whole by another task: the transport is no longer active."""

    def kick(self) -> None:
        """The session changed: answer now if there is something to say, or wake the GET."""
        if self.answered:
            return
        sock, state, http = self.sock, self.sock.state, self.http
        if not state.is_open:
            self.scope.cancel()  # the final answer and the session's end: the GET's task
            return
        body, compressible = _poll_take(state)
        if body is None:
            return  # nothing for the client (a sender waiting for room was woken)
        self.answered = True
        sock.poll_wait = None
        content = _answer(self.server, http, self.request, sock, body, compressible)
        try:
            rest = http.write_nowait(content)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            rest = content  # the GET's task meets the error and closes the session
        if rest is None or rest:
            self.unsent = content if rest is None else rest
            self.scope.cancel()
            return
        self.finished = True
        self.server.transport_finished()
        http.await_next_request()
        if http.has_buffered:
            self.scope.cancel()  # a pipelined request waits in the buffer: serve it now

    async def wait(self) -> tuple[str | None, bool] | None:
        """What to answer, ``(None, False)`` if the client left, or ``None`` if another
        task answered (this one then wrote what that task could not)."""
        sock, state, http = self.sock, self.sock.state, self.http
        while True:
            taken = _poll_take(state)
            if taken[0] is not None:
                return taken
            with self.scope:
                sock.poll_wait = self
                try:
                    more = await http.wait_for_peer()
                    if more and not self.answered:
                        await trio.sleep_forever()  # a pipelined request waits for this answer
                finally:
                    if sock.poll_wait is self:
                        sock.poll_wait = None
            if self.answered:
                if self.unsent is not None:
                    await _send_answer(self.server, http, sock, self.unsent)
                return None
            if not self.scope.cancelled_caught:
                break  # the client closed its side
            self.scope = trio.CancelScope()
        state.poll_abandon()
        return None, False


def _answer(
    server: EngineServer,
    http: HttpConnection,
    request: Request,
    sock: EngineSocket,
    body: str,
    compressible: bool,
) -> bytes:
    """The whole HTTP answer of a poll that carries ``body``."""
    if trace.enabled():
        trace.payload(trace.S2C, sock.eio_sid, body)
    headers = server.cors_headers(request) + server.response_headers(request) + _NO_STORE
    content = body.encode("utf-8")
    if compressible:
        content = _compressed(server, request, sock, content, headers)
    return http.response_bytes(200, content, _TEXT, headers)


async def _send_answer(
    server: EngineServer, http: HttpConnection, sock: EngineSocket, data: bytes | memoryview
) -> None:
    try:
        await http.write(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        # The client left as we answered: it may not have these packets, and we cannot
        # take them back. Close the session visibly rather than lose them silently.
        if sock.state.fail(CloseReason.TRANSPORT_ERROR):
            server.refresh(sock)
        raise


def _poll_take(state: EngineSession) -> tuple[str | None, bool]:
    """The poll's answer, and whether it may be compressed: as in Node, when any of its
    packets was not sent with ``compress(False)``."""
    compressible = any(wants_compression(wire) for wire in state.outbox)
    return state.poll_take(), compressible


def _compressed(
    server: EngineServer,
    request: Request,
    sock: EngineSocket,
    content: bytes,
    headers: list[tuple[str, str]],
) -> bytes:
    """``content`` compressed as the client accepts (adding Content-Encoding), if the
    server compresses answers of its size; else as it is."""
    settings = server.http_compression
    if settings is None or len(content) < settings.threshold:
        return content
    encoding = choose_encoding(request.header("accept-encoding"))
    if encoding is None:
        return content
    compressed = compress_body(content, encoding, settings.level)
    headers.append(("Content-Encoding", encoding))
    if trace.enabled():
        note = f"body of {len(content)} bytes sent as {len(compressed)}"
        trace.emit(trace.S2C, "polling", sock.eio_sid, f"Content-Encoding: {encoding}", note)
    return compressed


async def serve_post(
    server: EngineServer, http: HttpConnection, request: Request, sock: EngineSocket
) -> None:
    """Decode a payload and hand each message to the application, in order; answer ``ok``."""
    state = sock.state
    limit = server.config.max_payload
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type == "application/octet-stream":
        # v3 sent binary payloads this way; in v4 binary travels as base64 text.
        state.fail(CloseReason.TRANSPORT_ERROR)
        server.refresh(sock)
        reject = Reject(400, ErrorCode.BAD_REQUEST, "Binary POST bodies are not used in EIO=4")
        await server.reject(http, request, reject)
        return
    encoding = (request.header("content-encoding") or "identity").strip().lower()
    if encoding != "identity":
        await server.reject(http, request, _ENCODED_BODY, close=True)
        return
    declared = request.header("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await server.reject(http, request, _too_large(limit), close=True)
        return
    try:
        state.post_begin()
    except PollOverlapError as exc:
        server.refresh(sock)
        await server.reject(http, request, Reject(400, ErrorCode.BAD_REQUEST, str(exc)))
        return
    try:
        body = await http.read_body(limit)
    except BodyTooLargeError:
        state.post_end()
        await server.reject(http, request, _too_large(limit), close=True)
        return
    except MalformedBodyError:
        state.post_end()
        await server.reject(http, request, _MALFORMED, close=True)
        return
    except BaseException:
        state.post_end()  # cancelled, or the client left while sending
        raise
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        state.post_end()
        state.fail(CloseReason.PARSE_ERROR)
        server.refresh(sock)
        await server.reject(http, request, Reject(400, ErrorCode.BAD_REQUEST, _NOT_UTF8))
        return
    if trace.enabled():
        trace.payload(trace.C2S, sock.eio_sid, text)
    await PostDelivery(server, http, request, sock, iter(text.split(RECORD_SEPARATOR))).run()


class PostDelivery:
    """A POST's packets, handed to the application in order, then its ``ok``; meanwhile the
    session's :class:`~minisock.engine_socket.Reader`.

    If a handler waits (the Socket.IO layer then calls :meth:`hand_off`), a new task takes
    the rest over: the packets left, the answer, and the connection's next requests, so that
    the client's next POST (an ack the handler may be waiting for) is read. This task stays
    with the handler until it returns, and touches the connection no more.
    """

    __slots__ = ("http", "moved", "records", "request", "server", "sock")

    def __init__(
        self,
        server: EngineServer,
        http: HttpConnection,
        request: Request,
        sock: EngineSocket,
        records: Iterator[str],
    ) -> None:
        self.server = server
        self.http = http
        self.request = request
        self.sock = sock
        self.records = records
        self.moved = False

    def hand_off(self) -> None:
        http = self.http
        acceptor = http.acceptor
        assert acceptor is not None
        rest = PostDelivery(self.server, http, self.request, self.sock, self.records)
        acceptor.spawn(acceptor.serve_requests, http, rest.run)
        self.moved = True
        http.owner = None  # until the new task takes it

    async def run(self) -> None:
        """Deliver each packet in order, then answer; a bad packet ends the session after
        those before it were delivered, as in the reference. The mark of a POST in progress
        is released before the answer is written, never after: a client that reads the
        answer may send its next POST at once on another connection, and that POST must not
        find this one still marked."""
        server, sock = self.server, self.sock
        state = sock.state
        released = False
        try:
            error = await self._deliver()
            if self.moved:
                released = True  # the task that took over releases it
                return
            state.post_end()
            released = True
            server.refresh(sock)
            if error is not None:
                reject = Reject(400, ErrorCode.BAD_REQUEST, error)
                await server.reject(self.http, self.request, reject)
                return
            headers = server.cors_headers(self.request) + server.response_headers(self.request)
            await self.http.respond(200, b"ok", content_type=_TEXT, headers=headers)
        finally:
            if not released:  # cancelled or failed while delivering
                state.post_end()

    async def _deliver(self) -> str | None:
        """Hand the packets over; an error message if one was bad."""
        server, sock = self.server, self.sock
        state = sock.state
        try:
            for record in self.records:
                if not state.is_open:
                    if state.close_reason in _TRANSPORT_FAULTS:
                        # Failed meanwhile (an overlapping POST, a timeout): these packets
                        # were not taken, so the client must not be told "ok".
                        return f"Session closed: {state.close_reason}"
                    # The client's own "1" came earlier in this payload, or the server
                    # closed the session (a handler, an event after a server disconnect):
                    # the rest is dropped and the answer is "ok", as in Node, so that the
                    # client learns of the close from its GET, not as a transport error.
                    break
                try:
                    packet = decode_packet(record)
                except EngineProtocolError as exc:
                    state.fail(CloseReason.PARSE_ERROR)
                    return f"Invalid packet: {exc.message}"
                data = state.receive(packet, trio.current_time())
                if data is not None:
                    sock.reader = self
                    await server.deliver(sock, data)
                    if self.moved:
                        return None
        finally:
            if sock.reader is self:
                sock.reader = None  # an idle session keeps no POST
        return None


async def serve_route(
    server: EngineServer, http: HttpConnection, request: Request, route: RouteHandler
) -> None:
    """Answer a plain route with its handler's response; its errors become a 500."""
    try:
        request.body = await http.read_body(server.config.max_payload)
    except BodyTooLargeError:
        await http.respond_json(413, {"code": 413, "message": "Body too large"}, close=True)
        return
    except MalformedBodyError:
        await http.respond_json(400, _MALFORMED_BODY, close=True)
        return
    try:
        response = await route(request)
    except Exception:
        log.exception("route handler failed")
        response = Response.json({"code": 500, "message": "Internal server error"}, 500)
    await http.respond(response.status, response.body, content_type=None, headers=response.headers)


async def answer_preflight(server: EngineServer, http: HttpConnection, request: Request) -> None:
    """Answer a CORS preflight for an allowlisted Origin."""
    headers = [
        *server.cors_headers(request),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ]
    wanted = request.header("access-control-request-headers")
    if wanted and wanted.isascii():  # obs-text cannot be echoed; no browser sends it
        headers.append(("Access-Control-Allow-Headers", wanted))
    await http.respond(204, content_type=None, headers=headers)
