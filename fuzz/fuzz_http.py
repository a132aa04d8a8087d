"""atheris harness: raw bytes through minisock's whole HTTP handling.

Each input is played into ``EngineServer.handle_connection`` over in-memory streams, inside
one ``trio.run`` under a virtual clock (``MockClock``, autojump), so head and body timeouts,
heartbeats and close waits all elapse at once. The server is a Socket.IO ``Server`` with JWT
on the handshake or in CONNECT auth (``/socket.io/``), a plain Engine.IO echo mounted on
``/engine.io/`` and a plain route ``GET /health``. Session ids are made deterministic
(``sid1``, ``sid2``...) so the seeds can post to, poll and upgrade a session they opened.

Contract, per connection: what the server writes is a sequence of well-formed HTTP/1.1
responses (status line, headers, a body of exactly Content-Length bytes) with statuses from
the documented set, nothing after one that says ``Connection: close``; after a ``101``, only
whole, unmasked, valid server frames ending at most with one Close. The server closes every
connection by itself within bounded (virtual) time, no exception escapes ``handle_connection``
and the server itself never fails. A request body never yields a 5xx other than 503.

Input bytes: a flags byte, then the client's bytes. With flag bit 1, byte ``0xF5`` means "pause
2 s" and ``0xF6`` "switch to the next connection" (three at most, served concurrently).
Bit 0: half-close every connection at the end (else the client goes silent and waits).
"""

from __future__ import annotations

import itertools
import logging
import secrets
from typing import Any

from _harness import instrumented, known, main

with instrumented("minisock", "h11"):
    import trio
    import trio.testing

    from minisock import EngineServer, Server
    from minisock.auth import JWTAuth, JWTVerifier
    from minisock.request import Request, Response

KEY = b"k" * 32
ALLOWED = {101, 200, 204, 400, 401, 403, 404, 413, 414, 426, 431, 503, 505}
PAUSE, SWITCH = 0xF5, 0xF6
HANG = 600.0  # virtual seconds; every timeout of the server is far below
_OPCODES = {0x1, 0x2, 0x8, 0x9, 0xA}

_counter = itertools.count(1)
MemoryPair = trio.StapledStream[trio.testing.MemorySendStream, trio.testing.MemoryReceiveStream]


def _fixed_sid(nbytes: int | None = None) -> str:
    return f"sid{next(_counter)}"


secrets.token_urlsafe = _fixed_sid  # sids the seeds can name


class Finding(AssertionError):
    pass


class _ErrorLog(logging.Handler):
    """Collects ERROR records that carry an exception: an internal failure minisock contained
    (a handler, the encoder...). The harness's own handlers only fail by emitting to a
    session that just closed (SessionClosedError), which is not counted."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ != "SessionClosedError":
            self.records.append(record)


_errors = _ErrorLog()
logging.getLogger("minisock").addHandler(_errors)
logging.getLogger("minisock").propagate = False


def build_server() -> Server:
    auth = JWTAuth(JWTVerifier(KEY, issuer="fuzz", audience="minisock"), connect_auth=True)
    sio = Server(auth=auth, max_payload=4096, max_connections=3, max_sessions=4)

    @sio.on("message")
    async def message(socket: Any, *args: Any) -> tuple[Any, ...]:
        await socket.emit("message-back", *args)
        return args

    echo = EngineServer(path="/engine.io/", max_payload=4096)

    @echo.on("message")
    async def on_message(sock: Any, data: str | bytes) -> None:
        await sock.send(data)

    sio.mount(echo)

    @sio.route("GET", "/health")
    async def health(request: Request) -> Response:
        return Response.text("ok")

    return sio


def _check_frames(data: bytes, where: str) -> None:
    """Server frames after a 101: whole, unmasked, FIN, known opcodes, nothing after Close."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise Finding(f"{where}: half a frame header at the end: {data[pos:]!r}")
        b0, b1 = data[pos], data[pos + 1]
        opcode = b0 & 0x0F
        if b0 & 0x70 or not b0 & 0x80 or opcode not in _OPCODES or b1 & 0x80:
            raise Finding(f"{where}: bad server frame header {data[pos : pos + 2]!r}")
        length, head = b1 & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        payload = data[pos + head : pos + head + length]
        if len(payload) != length:
            raise Finding(f"{where}: frame cut short ({len(payload)} of {length} bytes)")
        pos += head + length
        if opcode == 0x1:
            payload.decode("utf-8")
        if opcode == 0x8:
            if len(payload) >= 2:
                code = int.from_bytes(payload[:2], "big")
                if not (1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999):
                    raise Finding(f"{where}: close code {code} on the wire")
            if pos != len(data):
                raise Finding(f"{where}: {len(data) - pos} bytes after the Close frame")


def check_output(data: bytes, where: str = "connection") -> list[int]:
    """Parse what the server wrote; returns the statuses. Raises Finding on anything off."""
    statuses: list[int] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end == -1:
            raise Finding(f"{where}: an incomplete response head at the end: {data[pos:]!r}")
        lines = data[pos:end].split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1.1 ") or not status_line[9:12].isdigit():
            raise Finding(f"{where}: bad status line {status_line!r}")
        status = int(status_line[9:12])
        # Finding http-501-transfer-encoding: h11 refuses a Transfer-Encoding other than
        # chunked with 501 (RFC 9112 §6.1), even beside Content-Length (issue 7: 400).
        if status not in ALLOWED and not (status == 501 and known("http-501-transfer-encoding")):
            raise Finding(f"{where}: status {status} ({status_line!r})")
        statuses.append(status)
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise Finding(f"{where}: bad header line {line!r}")
            headers[name.lower()] = value.strip()
        pos = end + 4
        if status == 101:
            _check_frames(data[pos:], where)
            return statuses
        if status == 204:
            length = 0
        else:
            raw = headers.get(b"content-length")
            if raw is None or not raw.isdigit():
                raise Finding(f"{where}: {status} without Content-Length")
            length = int(raw)
        if len(data) - pos < length:
            raise Finding(f"{where}: body cut short ({len(data) - pos} of {length} bytes)")
        pos += length
        if headers.get(b"connection", b"").lower() == b"close" and pos != len(data):
            raise Finding(f"{where}: {len(data) - pos} bytes after Connection: close")
    return statuses


async def _play(segments: list[list[bytes]], eof: bool) -> list[bytes]:
    """Run a fresh server, play the segments, and return what each connection received."""
    global _counter
    _counter = itertools.count(1)
    sio = build_server()
    engine = sio.engine
    outputs: list[bytearray] = []
    escaped: list[BaseException] = []

    async def serve_one(stream: trio.abc.Stream) -> None:
        try:
            await engine.handle_connection(stream)
        except BaseException as exc:  # the contract: nothing escapes (Cancelled included)
            escaped.append(exc)

    async def read_all(stream: trio.abc.Stream, out: bytearray, done: trio.Event) -> None:
        try:
            while data := await stream.receive_some(65536):
                out += data
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(engine.serve_listeners, [])
        clients: list[MemoryPair] = []
        finished: list[trio.Event] = []
        for _ in segments:
            client, server_end = trio.testing.memory_stream_pair()
            clients.append(client)
            outputs.append(bytearray())
            finished.append(trio.Event())
            nursery.start_soon(serve_one, server_end)
            nursery.start_soon(read_all, client, outputs[-1], finished[-1])
        for index, chunks in _interleave(segments):
            if chunks is None:
                await trio.sleep(2)
                continue
            try:
                await clients[index].send_all(chunks)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            await trio.sleep(0)
        if eof:
            for client in clients:
                try:
                    await client.send_eof()
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        with trio.move_on_after(HANG) as scope:
            for done in finished:
                await done.wait()
        if scope.cancelled_caught:
            sizes = [len(o) for o in outputs]
            raise Finding(f"a connection still open after {HANG:.0f} s; received {sizes}")
        for client in clients:
            await trio.aclose_forcefully(client)
        await trio.sleep(1.5)  # the server's close wait, and handle_connection's return
        sio.shutdown()
    for exc in escaped:
        raise Finding(f"exception escaped handle_connection: {exc!r}") from exc
    if _errors.records:
        record = _errors.records[0]
        _errors.records.clear()
        assert record.exc_info is not None
        raise Finding(f"logged internal error: {record.getMessage()}") from record.exc_info[1]
    return [bytes(o) for o in outputs]


def _interleave(segments: list[list[bytes]]) -> list[tuple[int, bytes | None]]:
    """Round-robin over the connections' chunk lists; None between chunks means a pause."""
    steps: list[tuple[int, bytes | None]] = []
    for round_ in itertools.zip_longest(*segments):
        for index, chunk in enumerate(round_):
            if chunk is not None:
                steps.append((index, chunk))
        steps.append((0, None))
    return steps[:-1]


def split_input(data: bytes) -> tuple[list[list[bytes]], bool]:
    flags, body = (data[0], data[1:]) if data else (0, b"")
    eof = bool(flags & 1)
    if not flags & 2:
        return [[body]], eof
    connections = body.split(bytes([SWITCH]))[:3]
    return [conn.split(bytes([PAUSE])) for conn in connections], eof


def test_one_input(data: bytes) -> None:
    segments, eof = split_input(data)
    try:
        outputs = trio.run(_play, segments, eof, clock=trio.testing.MockClock(autojump_threshold=0))
    except BaseExceptionGroup as group:
        # Something failed inside the server's own nursery: the process would be down.
        if known_crash(group):
            return
        raise
    except Finding as finding:
        cause = finding.__cause__
        if cause is not None and known_crash(cause):
            return
        raise
    for index, output in enumerate(outputs):
        check_output(output, f"connection {index}")


def known_crash(exc: BaseException) -> bool:
    """Findings already reported (fuzz/README.md) that FUZZ_SKIP_KNOWN may step over."""
    leaves: list[BaseException] = []
    stack = [exc]
    while stack:
        item = stack.pop()
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        else:
            leaves.append(item)
    if not leaves:
        return False
    if all(isinstance(e, UnicodeEncodeError) for e in leaves):
        return known("jwt-surrogate-token")
    if all(isinstance(e, OverflowError) for e in leaves):
        return known("jwt-exp-overflow")
    if all(type(e).__name__ == "RemoteProtocolError" for e in leaves):
        # Finding http-truncated-body: EOF inside a POST body; h11's RemoteProtocolError
        # escaped HttpConnection.read_body (fixed in 14b9f08; see fuzz/README.md).
        return known("http-truncated-body")
    if all(type(e).__name__ == "LocalProtocolError" for e in leaves):
        # Finding http-head-body: any HEAD request is answered with a JSON body, which h11
        # refuses to send ("Too much data for declared Content-Length"); it escapes.
        return known("http-head-body")
    return False


def _token() -> str:
    import jwt

    claims = {"iss": "fuzz", "aud": "minisock", "exp": 4102444800}
    return jwt.encode(claims, KEY, algorithm="HS256")


def _seeds() -> list[bytes]:
    token = _token().encode()
    sio = b"/socket.io/?EIO=4&transport=polling"
    host = b"Host: x\r\n"
    hs = b"GET " + sio + b" HTTP/1.1\r\n" + host + b"\r\n"

    def post(sid: bytes, body: bytes, path: bytes = b"/socket.io/") -> bytes:
        target = path + b"?EIO=4&transport=polling&sid=" + sid
        head = b"POST " + target + b" HTTP/1.1\r\n" + host
        return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body

    def get(sid: bytes, path: bytes = b"/socket.io/") -> bytes:
        target = path + b"?EIO=4&transport=polling&sid=" + sid
        return b"GET " + target + b" HTTP/1.1\r\n" + host + b"\r\n"

    ws_head = (
        b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )

    def frame(b0: int, payload: bytes) -> bytes:
        return bytes([b0, 0x80 | len(payload)]) + b"\0\0\0\0" + payload

    connect = b'40{"token":"' + token + b'"}'
    return [
        b"\x01" + hs,
        b"\x01" + b"GET /health HTTP/1.1\r\n" + host + b"\r\n" + b"GET /nope HTTP/1.1\r\n\r\n",
        b"\x03" + hs + bytes([PAUSE]) + post(b"sid1", connect) + bytes([PAUSE]) + get(b"sid1"),
        b"\x03"
        + hs
        + bytes([PAUSE])
        + post(b"sid1", connect + b'\x1e42["message","hi"]\x1e421["message",1]')
        + bytes([PAUSE])
        + get(b"sid1")
        + bytes([PAUSE])
        + post(b"sid1", b"1"),
        # polling, a held GET, then an upgrade on a second connection
        b"\x03"
        + hs
        + bytes([PAUSE])
        + post(b"sid1", connect)
        + bytes([PAUSE])
        + get(b"sid1")
        + bytes([SWITCH, PAUSE, PAUSE])
        + b"GET /socket.io/?EIO=4&transport=websocket&sid=sid1 HTTP/1.1\r\n"
        + ws_head
        + frame(0x81, b"2probe")
        + frame(0x81, b"5")
        + frame(0x81, b'42["message","x"]')
        + frame(0x88, b"\x03\xe8"),
        b"\x01GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        + ws_head
        + frame(0x81, b"4hello")
        + frame(0x82, b"\x00\x01")
        + frame(0x89, b"p")
        + frame(0x81, b"3")
        + frame(0x88, b""),
        b"\x01" + post(b"sid1", b"4x", b"/engine.io/"),
        b"\x01POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x01POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        b"\x01GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + token + b"\r\n\r\n",
        b"\x01GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"\x00GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
    ]


if __name__ == "__main__":
    main("http", test_one_input, _seeds())
