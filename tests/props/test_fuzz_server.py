"""Hypothesis fuzzing of the server parts the codec properties do not reach.

The codecs have their own properties (``test_eio_props``, ``test_sio_props``,
``test_ws_props``). This module drives the *server*: every example plays bytes into
``EngineServer.handle_connection`` over an in-memory stream, inside its own ``trio.run`` on a
virtual clock (``MockClock``, autojump), so head and body timeouts, heartbeats and close waits
elapse at once, and each example is bounded by ``trio.fail_after`` in virtual time: a
connection the server never closes fails the example instead of hanging it.

- HTTP: random request heads and bodies (methods, targets, versions, headers, framing,
  truncation) get well-formed responses with a status from the documented set, or a clean
  close; nothing escapes ``handle_connection``.
- Polling POST: random payload bodies get ``200 ok`` (messages delivered in order) or ``400``
  after which the session is gone.
- WebSocket: random frames after a valid handshake end, if they end the connection, with a
  close code of 1000-1011 (or the client's own code, echoed); the session is then gone.
- Socket.IO decoder: a state machine interleaving text and binary messages.

Then one test per bug these found, minimal and deterministic (see ``fuzz/README.md``).
The contract is issue 7's and STYLE.md §8's: any input is accepted or refused as documented.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from minisock import EngineServer, EngineSocket, Server
from minisock.auth import JWTAuth, JWTVerifier
from minisock.errors import TokenError
from minisock.proto.eio import RECORD_SEPARATOR, PacketType, decode_packet
from minisock.proto.sio import (
    Decoder,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    encode,
)
from minisock.proto.ws import encode_client_frame
from minisock.request import Request, Response

# Each example is one trio.run of a few milliseconds; the budget keeps the module near 10 s.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG = 600.0  # virtual seconds: far above every timeout of the server
ALLOWED = {200, 204, 400, 401, 403, 404, 413, 414, 417, 431, 501, 503, 505}
UPGRADE_ALLOWED = ALLOWED | {101, 426}
WS_HEAD = (
    b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)
MASK = b"\x11\x22\x33\x44"
SERVER_CLOSE_CODES = set(range(1000, 1012)) - {1004, 1005, 1006}


def _deny(request: Request) -> tuple[Any, dict[str, Any] | None]:
    if request.header("x-deny") is not None:
        raise TokenError("malformed", "denied by the test")
    return None, None


def echo_server(**options: Any) -> EngineServer:
    """An Engine.IO echo server with small limits, a route, and a handshake check."""
    settings_: dict[str, Any] = {
        "max_payload": 1000,
        "max_head_size": 2048,
        "max_url_length": 512,
        "max_headers": 20,
        "handshake_check": _deny,
    }
    settings_.update(options)
    server = EngineServer(**settings_)

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    @server.route("GET", "/health")
    async def health(request: Request) -> Response:
        return Response.text("ok")

    return server


# ------------------------------------------------------------------------- the driver


class Played:
    """What one connection produced: the bytes the server wrote, and what escaped.

    A single task reads the client's end into ``output``; scripts wait for whole responses
    with :meth:`next_response`.
    """

    def __init__(self) -> None:
        self.output = bytearray()
        self.escaped: BaseException | None = None
        self.closed_by_server = False
        self.cursor = 0
        self._changed = trio.Event()

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def next_response(self) -> tuple[int, bytes]:
        """The next whole response (status, body) after the ones already taken."""
        while True:
            data = self.output
            end = data.find(b"\r\n\r\n", self.cursor)
            if end != -1:
                head = bytes(data[self.cursor : end])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                if len(data) >= end + 4 + length:
                    self.cursor = end + 4 + length
                    return int(head[9:12]), bytes(data[end + 4 : self.cursor])
            if self.closed_by_server:
                raise AssertionError(f"the server closed without answering: {bytes(data)!r}")
            await self._changed.wait()


Script = Callable[[trio.abc.Stream, Played], Awaitable[None]]


async def _serve(server: EngineServer, script: Script) -> Played:
    played = Played()

    async def serve_one(stream: trio.abc.Stream) -> None:
        try:
            await server.handle_connection(stream)
        except BaseException as exc:  # nothing may escape, not even Cancelled
            played.escaped = exc

    async def read_all(stream: trio.abc.Stream, done: trio.Event) -> None:
        try:
            while data := await stream.receive_some(65536):
                played.output += data
                played.notify()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        played.closed_by_server = True
        played.notify()
        done.set()

    with trio.fail_after(HANG):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve_listeners, [])
            client, server_end = trio.testing.memory_stream_pair()
            done = trio.Event()
            nursery.start_soon(serve_one, server_end)
            nursery.start_soon(read_all, client, done)
            await script(client, played)
            await done.wait()  # the server closes every connection by itself
            await trio.aclose_forcefully(client)
            await trio.sleep(2)  # the close wait of a WebSocket; handle_connection returns
            server.shutdown()
    return played


class _SafetyNet(logging.Handler):
    """Records what reached handle_connection's catch-all ("connection handler failed"):
    that net keeps the server up, but an exception caught there escaped every documented
    path, so for the contract it counts as escaping."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.caught: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        failed = record.getMessage() == "connection handler failed"
        if failed and record.exc_info and record.exc_info[1] is not None:
            self.caught.append(record.exc_info[1])


def play(server: EngineServer, script: Script) -> Played:
    net = _SafetyNet()
    engine_log = logging.getLogger("minisock.engine")
    engine_log.addHandler(net)
    try:
        played: Played = trio.run(
            _serve, server, script, clock=trio.testing.MockClock(autojump_threshold=0)
        )
    finally:
        engine_log.removeHandler(net)
    if played.escaped is not None:
        raise AssertionError(f"escaped handle_connection: {played.escaped!r}") from played.escaped
    if net.caught:
        exc = net.caught[0]
        raise AssertionError(f"reached handle_connection's catch-all: {exc!r}") from exc
    return played


def send_bytes(data: bytes, *, eof: bool) -> Script:
    async def script(client: trio.abc.Stream, played: Played) -> None:
        try:
            await client.send_all(data)
            if eof:
                await client.send_eof()  # type: ignore[attr-defined]
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    return script


def parse_responses(
    data: bytes, *, head_requests: bool = False
) -> tuple[list[tuple[int, dict[bytes, bytes], bytes]], bytes]:
    """Split server output into whole responses; returns them and what follows a 101.

    With ``head_requests``, a response may carry a ``Content-Length`` and no body: that is
    how a HEAD request is answered (RFC 9110 §9.3.2).
    """
    responses: list[tuple[int, dict[bytes, bytes], bytes]] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        assert end != -1, f"incomplete response head at the end: {data[pos:]!r}"
        status_line, *lines = data[pos:end].split(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        assert status_line[9:12].isdigit(), status_line
        status = int(status_line[9:12])
        headers: dict[bytes, bytes] = {}
        for line in lines:
            name, sep, value = line.partition(b":")
            assert sep and name and name == name.strip(), line
            headers[name.lower()] = value.strip()
        pos = end + 4
        if status == 101:
            responses.append((status, headers, b""))
            return responses, data[pos:]
        length = 0 if status == 204 else int(headers[b"content-length"])
        rest = data[pos:]
        if head_requests and (not rest or rest.startswith(b"HTTP/1.1 ")):
            length = 0  # the answer to a HEAD
        body = data[pos : pos + length]
        assert len(body) == length, f"body cut short: {len(body)} of {length}"
        pos += length
        responses.append((status, headers, body))
        if headers.get(b"connection", b"").lower() == b"close":
            assert pos == len(data), f"{len(data) - pos} bytes after Connection: close"
    return responses, b""


def parse_server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Server frames: whole, unmasked, unfragmented, nothing after a Close."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 2, "half a frame header"
        b0, b1 = data[pos], data[pos + 1]
        assert b0 & 0xF0 == 0x80, f"FIN/RSV bits {b0:#x}"
        assert not b1 & 0x80, "a masked server frame"
        opcode, length, head = b0 & 0x0F, b1 & 0x7F, 2
        if length == 126:
            length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
        payload = data[pos + head : pos + head + length]
        assert len(payload) == length, "a frame cut short"
        assert opcode in (0x1, 0x2, 0x8, 0x9, 0xA), opcode
        frames.append((opcode, payload))
        pos += head + length
        if opcode == 0x8:
            assert pos == len(data), "bytes after the Close frame"
    return frames


# ------------------------------------------------------------------------- HTTP heads


def _engine_target(query: dict[str, str]) -> str:
    return "/engine.io/?" + "&".join(f"{k}={v}" for k, v in query.items())


_query_values = st.one_of(
    st.sampled_from(["4", "3", "polling", "websocket", "abc", "", "1", "%00", "%ff"]),
    st.text("abcXYZ019-_%", max_size=12),
)
_engine_targets = st.dictionaries(
    st.sampled_from(["EIO", "transport", "sid", "t", "b64", "j"]), _query_values, max_size=4
).map(_engine_target)
_plain_targets = st.sampled_from(["/", "/health", "/engine.io", "/engine.io/", "*", "/x?y=1"])
# one_of picks a branch uniformly: the common shapes are listed twice, the huge one once.
_targets = st.one_of(
    _engine_targets,
    _engine_targets,
    _plain_targets,
    _plain_targets,
    st.text("/abc%?=&.", min_size=1, max_size=30).map(lambda s: "/" + s),
    st.integers(400, 700).map(lambda n: "/engine.io/?EIO=4&transport=polling&x=" + "a" * n),
)
_methods = st.sampled_from(["GET", "POST", "OPTIONS", "PUT", "DELETE", "HEAD", "PATCH", "BREW"])
_versions = st.sampled_from(
    ["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "XYZ"]
)
_header_names = st.one_of(
    st.sampled_from(
        [
            "Host",
            "Content-Type",
            "Origin",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Cookie",
            "X-Deny",
            "Expect",
            "Access-Control-Request-Headers",
        ]
    ),
    st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12),
)
_known_values = st.sampled_from(
    [
        "x",
        "websocket",
        "Upgrade",
        "13",
        "8",
        "dGhlIHNhbXBsZSBub25jZQ==",
        "application/octet-stream",
        "text/plain;charset=UTF-8",
        "http://x",
        "http://evil.example",
        "keep-alive",
        "close",
        "100-continue",
    ]
)
_header_values = st.one_of(
    _known_values,
    _known_values,
    _known_values,
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    st.integers(600, 2500).map(lambda n: "v" * n),
)


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    """One or two requests on a connection, each possibly broken, possibly truncated."""
    out = b""
    for _ in range(draw(st.integers(1, 2))):
        method = draw(_methods)
        target = draw(_targets)
        if draw(st.booleans()):  # a plausible request: HTTP/1.1, a Host, few headers
            version = "HTTP/1.1"
            headers = [("Host", "x")]
            headers += draw(st.lists(st.tuples(_header_names, _header_values), max_size=4))
        else:
            version = draw(_versions)
            headers = draw(st.lists(st.tuples(_header_names, _header_values), max_size=25))
            if draw(st.booleans()):
                headers.insert(0, ("Host", "x"))
        body = draw(st.binary(max_size=1200))
        framing = draw(st.sampled_from(["length", "short", "long", "chunked", "none"]))
        if framing == "length":
            headers.append(("Content-Length", str(len(body))))
        elif framing == "short":
            headers.append(("Content-Length", str(max(0, len(body) - 3))))
        elif framing == "long":
            headers.append(("Content-Length", str(len(body) + 50)))
        elif framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            body = (
                (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
            )
        else:
            body = b""
        head = f"{method} {target} {version}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
        out += head.encode("latin-1") + b"\r\n" + body
    cut = draw(st.one_of(st.none(), st.integers(0, len(out))))
    return out if cut is None else out[:cut]


@settings(FUZZ, max_examples=400)
@given(http_requests(), st.booleans())
def test_any_request_gets_a_documented_answer_or_a_clean_close(data: bytes, eof: bool) -> None:
    played = play(echo_server(), send_bytes(data, eof=eof))
    assert played.closed_by_server
    responses, after_101 = parse_responses(bytes(played.output), head_requests=b"HEAD " in data)
    for status, _headers, _body in responses:
        assert status in UPGRADE_ALLOWED, (status, responses)
    if responses and responses[-1][0] == 101:
        parse_server_frames(after_101)


# ------------------------------------------------------------------------- polling POST

_packet_texts = st.one_of(
    st.sampled_from(["4hello", "4", "3", "2", "1", "5", "6", "0", "7", "x", "", "b", "bAQID"]),
    st.text(max_size=20).map(lambda s: "4" + s.replace(RECORD_SEPARATOR, "")),
    st.text("0123456bx4=+/AQID", max_size=8),
)
_payloads = st.one_of(
    st.lists(_packet_texts, min_size=1, max_size=6).map(
        lambda items: RECORD_SEPARATOR.join(items).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=64),
)


async def _handshake(client: trio.abc.Stream, played: Played) -> str:
    request = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
    await client.send_all(request)
    status, body = await played.next_response()
    assert status == 200, (status, body)
    sid: str = json.loads(body[1:])["sid"]
    return sid


def _expected(payload: bytes) -> tuple[list[str | bytes], str]:
    """The messages the application must see, and how the POST must end: ``ok`` (200, the
    session lives), ``bad`` (400, gone), ``client close`` (a ``1``: 200, gone) or ``ping``
    (a client ``2`` is a transport error: gone, 200 or 400 depending on what follows)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return [], "bad"
    messages: list[str | bytes] = []
    for record in text.split(RECORD_SEPARATOR):
        try:
            packet = decode_packet(record)
        except Exception:
            return messages, "bad"
        if packet.type is PacketType.MESSAGE:
            messages.append(packet.data)
        elif packet.type is PacketType.CLOSE:
            return messages, "client close"
        elif packet.type is PacketType.PING:
            return messages, "ping"
    return messages, "ok"


@FUZZ
@given(_payloads)
def test_any_polling_payload_is_ok_or_400_and_the_session_ends(payload: bytes) -> None:
    server = EngineServer(max_payload=1000)
    seen: list[str | bytes] = []

    @server.on("message")
    async def record(sock: EngineSocket, data: str | bytes) -> None:
        seen.append(data)

    result: dict[str, Any] = {}

    async def script(client: trio.abc.Stream, played: Played) -> None:
        sid = await _handshake(client, played)
        target = f"/engine.io/?EIO=4&transport=polling&sid={sid}".encode()
        head = b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: "
        await client.send_all(head + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        status, body = await played.next_response()
        await trio.sleep(0)
        result.update(status=status, body=body, alive=sid in server.sessions)
        await client.send_eof()  # type: ignore[attr-defined]

    play(server, script)
    expected, outcome = _expected(payload)
    assert seen == expected
    answer = (result["status"], result["body"])
    if outcome in ("ok", "client close"):
        assert answer == (200, b"ok")
    elif outcome == "bad":
        assert result["status"] == 400, answer
        assert json.loads(result["body"])["code"] == 3
    else:
        assert result["status"] in (200, 400), answer
    assert result["alive"] == (outcome == "ok"), (outcome, result)


# ------------------------------------------------------------------------- WebSocket frames

_ws_payloads = st.one_of(
    st.sampled_from(
        [b"4hi", b"2", b"3", b"1", b"5", b"6", b"2probe", b"", b"\xff", b"\xed\xa0\x80"]
    ),
    st.text(max_size=30).map(lambda s: ("4" + s).encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.integers(126, 1100).map(lambda n: b"4" + b"x" * n),
)
_close_bodies = st.one_of(
    st.integers(0, 5000).map(lambda code: code.to_bytes(2, "big")),
    st.binary(max_size=3),
    st.just(b"\x03\xe8\xff"),
)


@st.composite
def ws_frames(draw: st.DrawFn) -> tuple[bytes, set[int]]:
    """Client frames, mostly well-formed; returns the bytes and the close codes they send."""
    out = b""
    sent_codes: set[int] = set()
    for _ in range(draw(st.integers(1, 6))):
        opcode = draw(st.sampled_from([0x1, 0x1, 0x2, 0x0, 0x8, 0x9, 0xA, 0x3, 0xB]))
        payload = draw(_close_bodies if opcode == 0x8 else _ws_payloads)
        if opcode == 0x8 and len(payload) >= 2:
            sent_codes.add(int.from_bytes(payload[:2], "big"))
        fin = draw(st.booleans()) if draw(st.integers(0, 4)) == 0 else True
        rsv = draw(st.integers(0, 7)) if draw(st.integers(0, 9)) == 0 else 0
        if draw(st.integers(0, 9)) == 0:  # unmasked, as a client must never send
            out += bytes([(0x80 if fin else 0) | rsv << 4 | opcode, min(len(payload), 125)])
            out += payload[:125]
        else:
            out += encode_client_frame(opcode, payload, MASK, fin=fin, rsv=rsv)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(out)))
        out = out[:cut]
    return out, sent_codes


@FUZZ
@given(ws_frames(), st.booleans())
def test_any_frames_after_a_handshake_close_with_a_proper_code(
    frames: tuple[bytes, set[int]], say_goodbye: bool
) -> None:
    data, sent_codes = frames
    server = echo_server(max_payload=1000)

    async def script(client: trio.abc.Stream, played: Played) -> None:
        request = b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n" + WS_HEAD
        await client.send_all(request + data)
        if say_goodbye:
            await trio.sleep(1)
            try:
                close = encode_client_frame(0x8, (1000).to_bytes(2, "big"), MASK)
                await client.send_all(close)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        else:
            await client.send_eof()  # type: ignore[attr-defined]

    played = play(server, script)
    responses, after = parse_responses(bytes(played.output))
    assert [status for status, _, _ in responses] == [101]
    frames_out = parse_server_frames(after)
    if frames_out and frames_out[0][0] == 0x1:
        assert frames_out[0][1].startswith(b"0{"), "the open packet comes first"
    for opcode, payload in frames_out:
        if opcode == 0x8 and payload:
            code = int.from_bytes(payload[:2], "big")
            assert code in SERVER_CLOSE_CODES or code in sent_codes, code
    assert server.sessions == {}, "the session outlived its WebSocket"


# ------------------------------------------------------------------------- Socket.IO decoder


_args = st.lists(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5)), max_size=3
)


class DecoderMachine(RuleBasedStateMachine):
    """Text and binary messages in any order; the model knows how many attachments are due.

    A protocol error ends the connection in the server, so the model then starts a new
    decoder, as the next connection would.
    """

    @initialize()
    def start(self) -> None:
        self.decoder = Decoder()
        self.due: list[bytes] = []
        self.pending: SioPacket | None = None
        self.errors = 0

    def _restart(self) -> None:
        self.decoder = Decoder()
        self.due, self.pending = [], None
        self.errors += 1

    @invariant()
    def awaiting_matches_the_model(self) -> None:
        assert self.decoder.awaiting_attachments == (self.pending is not None)

    @precondition(lambda self: self.pending is None)
    @rule(name=st.text(max_size=8), args=_args, ack=st.one_of(st.none(), st.integers(0, 99)))
    def plain_event(self, name: str, args: list[Any], ack: int | None) -> None:
        if name in ("connect", "connect_error", "disconnect", "disconnecting", "newListener"):
            name = "x" + name
        if name == "removeListener":
            name = "x"
        packet = SioPacket(SioPacketType.EVENT, "/", [name, *args], ack)
        (text,) = encode(packet)
        assert self.decoder.receive(text) == packet

    @precondition(lambda self: self.pending is None)
    @rule(blobs=st.lists(st.binary(max_size=8), min_size=1, max_size=4), ack=st.integers(0, 9))
    def binary_ack_head(self, blobs: list[bytes], ack: int) -> None:
        packet = SioPacket(SioPacketType.ACK, "/a", [*blobs, {"k": blobs[0]}], ack)
        text, *attachments = encode(packet)
        assert self.decoder.receive(text) is None
        self.pending = packet
        self.due = [a for a in attachments if isinstance(a, bytes)]

    @precondition(lambda self: self.pending is not None)
    @rule()
    def next_attachment(self) -> None:
        assert self.pending is not None
        result = self.decoder.receive(self.due.pop(0))
        if self.due:
            assert result is None
        else:
            assert result == self.pending
            self.pending = None

    @rule(text=st.one_of(st.text(max_size=12), st.sampled_from(["2[", '51-["x"]', "3", "0[]"])))
    def any_text(self, text: str) -> None:
        try:
            result = self.decoder.receive(text)
        except SocketIOProtocolError:
            self._restart()
            return
        assert self.pending is None, "a text message was accepted while attachments were due"
        if result is None:  # a binary head whose attachments are now due: start over
            assert self.decoder.awaiting_attachments
            self._restart()

    @precondition(lambda self: self.pending is None)
    @rule(data=st.binary(max_size=8))
    def stray_binary(self, data: bytes) -> None:
        with pytest.raises(SocketIOProtocolError):
            self.decoder.receive(data)
        self._restart()


DecoderMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=20, deadline=None)
test_sio_decoder_sequences = DecoderMachine.TestCase


# ------------------------------------------------------------------------- findings

# One test per bug found by this module and fuzz/ (fuzz/README.md, "Findings"). They state the
# contract for the smallest input that breaks it, and fail until minisock is fixed.

TOKEN_KEY = b"k" * 32


def _sio_with_connect_auth() -> Server:
    verifier = JWTVerifier(TOKEN_KEY, issuer="fuzz", audience="minisock")
    return Server(auth=JWTAuth(verifier, connect_auth=True))


def test_finding_head_request_gets_an_answer_and_nothing_escapes() -> None:
    """``HEAD / HTTP/1.1``: the 404 carries a body h11 will not send for HEAD."""
    request = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
    played = play(echo_server(), send_bytes(request, eof=True))
    responses, _ = parse_responses(bytes(played.output), head_requests=True)
    assert [status for status, _, _ in responses] in ([404], [405], [400])


def test_finding_post_body_cut_short_by_eof_does_not_escape() -> None:
    """A POST that declares more body than it sends, then half-closes: h11 raises
    RemoteProtocolError in read_body, which nothing catches."""
    server = echo_server()

    async def script(client: trio.abc.Stream, played: Played) -> None:
        sid = await _handshake(client, played)
        target = f"/engine.io/?EIO=4&transport=polling&sid={sid}".encode()
        await client.send_all(
            b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4hello"
        )
        await client.send_eof()  # type: ignore[attr-defined]

    play(server, script)


def test_finding_content_length_with_unknown_transfer_encoding_is_400_and_close() -> None:
    """Issue 7: Content-Length together with Transfer-Encoding -> 400, then close. With a
    coding other than chunked, h11 answers first, with 501."""
    request = (
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: gzip\r\n\r\nabc"
    )
    played = play(echo_server(), send_bytes(request, eof=True))
    responses, _ = parse_responses(bytes(played.output))
    assert [(s, h.get(b"connection")) for s, h, _ in responses] == [(400, b"close")]


def test_finding_lone_surrogate_token_in_connect_auth_is_refused() -> None:
    """``40{"token":"\\ud800"}``: PyJWT's token.encode("utf-8") raises UnicodeEncodeError,
    which is no TokenError: the client gets no CONNECT_ERROR (until 14b9f08 this one packet
    ended serve())."""
    sio = _sio_with_connect_auth()

    async def script(client: trio.abc.Stream, played: Played) -> None:
        request = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n" + WS_HEAD
        await client.send_all(request)
        await trio.sleep(1)
        frame = encode_client_frame(0x1, b'40{"token":"\\ud800"}', MASK)
        await client.send_all(frame)
        await trio.sleep(1)
        await client.send_all(encode_client_frame(0x8, (1000).to_bytes(2, "big"), MASK))

    played: Played = trio.run(
        _serve, sio.engine, script, clock=trio.testing.MockClock(autojump_threshold=0)
    )
    _, after = parse_responses(bytes(played.output))
    texts = [payload for opcode, payload in parse_server_frames(after) if opcode == 0x1]
    assert any(text.startswith(b'44{"message":"unauthorized"') for text in texts), texts


def test_finding_signed_token_with_huge_exp_is_a_token_error() -> None:
    """A signed token whose integer ``exp`` is beyond float range (10**400): ``exp +
    leeway`` raises OverflowError instead of TokenError (no 401, no CONNECT_ERROR)."""
    verifier = JWTVerifier(TOKEN_KEY, issuer="fuzz", audience="minisock")
    token = jwt.encode({"iss": "fuzz", "aud": "minisock", "exp": 10**400}, TOKEN_KEY)
    try:
        verifier.verify(token, 1_800_000_000.0)
    except TokenError:
        pass
