"""Generate the transcripts of PROTOCOL.md from real runs of minisock.

    python docs/transcripts.py            # rewrite the generated blocks of PROTOCOL.md
    python docs/transcripts.py --check    # exit 1 if PROTOCOL.md is out of date

Each block of PROTOCOL.md between ``<!-- transcript:NAME -->`` and ``<!-- /transcript -->`` is
the output of one scenario below: a client written here, byte by byte, talks to an in-process
minisock server over an in-memory stream, and what the server saw and said is read from its
wire tracer (the ``minisock.wire`` logger, one :class:`~minisock.trace.WireEntry` per packet).
A few blocks show bytes as they crossed the client's socket instead (the tracer logs packets,
not HTTP headers); those say so in their first line.

Everything that would differ between runs is made fixed or replaced by a stable name:

- time is trio's :class:`~trio.testing.MockClock` (it jumps ahead only when every task is
  blocked), so heartbeats fire at exactly 25 s;
- the client masks every frame with RFC 6455's sample key ``37 fa 21 3d`` and opens its
  WebSockets with RFC 6455's sample ``Sec-WebSocket-Key``, so the bytes are the RFC's;
- Engine.IO sids become ``<eio#1>``, ``<eio#2>`` (the tracer's own aliases, renumbered per
  scenario) and Socket.IO sids ``<sio#1>``; JSON Web Tokens become ``<jwt>``; tokens are
  made with a fixed clock anyway.

``tests/unit/test_protocol_doc.py`` calls :func:`render_all` and compares; the curl
walkthrough's requests live in :data:`CURL_STEPS`, shared by this generator and that test.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib.util
import json
import logging
import re
import sys
import warnings
import zlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import trio
import trio.testing

from minisock import (
    ConnectRefusedError,
    Deflate,
    EngineServer,
    EngineSocket,
    HttpCompression,
    JWTAuth,
    JWTVerifier,
    Recovery,
    Request,
    RequestRefusedError,
    Response,
    Server,
    Socket,
    trace,
)
from minisock.adapters.local import OFFSET_EPOCH
from minisock.proto import wire_notation, ws_handshake
from minisock.testing import memory_connection, running_server
from minisock.trace import WireEntry

__all__ = [
    "CURL_SERVER",
    "CURL_STEPS",
    "DOCUMENT",
    "CurlStep",
    "Reply",
    "render_all",
    "replace_blocks",
    "update_document",
]

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "PROTOCOL.md"
HOST = "localhost:3000"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3, the sample nonce
RFC_MASK = bytes.fromhex("37fa213d")  # RFC 6455 §5.7, the masking key of its examples
BLOCK = re.compile(
    r"(<!-- transcript:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /transcript -->)", re.S
)
# The guide's demo values (examples/jwt_app.py), and a fixed "now" so tokens never change.
JWT_SECRET = "Mys3cr3t"
JWT_ISSUER = "accounts.examplesoft.com"
JWT_AUDIENCE = "yoursite.net"
JWT_NOW = 1_800_000_000

C2S = "C→S"
S2C = "S→C"


# ============================================================================ the client


@dataclass
class Reply:
    """One HTTP response as the client read it, bytes included."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Frame:
    """One WebSocket frame from the server (never masked)."""

    fin: bool
    opcode: int
    payload: bytes
    raw: bytes

    @property
    def close_code(self) -> int | None:
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8")


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """A frame as a client writes it (RFC 6455 §5.2), masked with the RFC's sample key.

    Written here rather than borrowed from minisock, so that the two ends of every
    transcript are independent readings of the RFC.
    """
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if len(payload) < 126:
        head.append(mask_bit | len(payload))
    elif len(payload) < 1 << 16:
        head += bytes([mask_bit | 126]) + len(payload).to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + len(payload).to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    body = bytes(b ^ RFC_MASK[i % 4] for i, b in enumerate(payload))
    return bytes(head) + RFC_MASK + body


class Peer:
    """A client on one connection that writes exact bytes: HTTP/1.1, then maybe WebSocket."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.sent: list[bytes] = []
        self.exchanges: list[tuple[bytes, bytes]] = []
        """Every HTTP request this client made and the response it read, as bytes."""

    async def send(self, data: bytes) -> None:
        self.sent.append(data)
        await self.stream.send_all(data)

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    async def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    # ---------------------------------------------------------------- HTTP

    @staticmethod
    def request_bytes(
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        host: str = HOST,
        version: str = "1.1",
    ) -> bytes:
        lines = [f"{method} {target} HTTP/{version}", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | str = b"",
    ) -> Reply:
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = self.request_bytes(method, target, headers, data)
        await self.send(request)
        reply = await self.read_response()
        self.exchanges.append((request, reply.raw))
        return reply

    async def get(self, target: str, headers: Sequence[tuple[str, str]] = ()) -> Reply:
        return await self.request("GET", target, headers)

    async def post(
        self, target: str, body: bytes | str, headers: Sequence[tuple[str, str]] = ()
    ) -> Reply:
        return await self.request("POST", target, headers, body)

    async def read_response(self) -> Reply:
        while b"\r\n\r\n" not in self.buffer:
            await self._fill()
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = await self._take(end)
        lines = head.decode("latin-1").split("\r\n")[:-2]
        _version, status, reason = [*lines[0].split(" ", 2), ""][:3]
        headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        reply = Reply(int(status), reason, headers, b"", head)
        length = reply.header("content-length")
        if length is not None and reply.status != 101:
            reply.body = await self._take(int(length))
            reply.raw += reply.body
        return reply

    # ---------------------------------------------------------------- WebSocket

    async def ws_open(self, target: str, headers: Sequence[tuple[str, str]] = ()) -> Reply:
        """The opening handshake (RFC 6455 §4.1) with the RFC's sample key."""
        upgrade = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", RFC_KEY),
            ("Sec-WebSocket-Version", "13"),
            *headers,
        ]
        return await self.request("GET", target, upgrade)

    async def ws_send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        await self.send(client_frame(opcode, payload, fin=fin))

    async def ws_text(self, *texts: str) -> None:
        """Text frames, all in one write (so the server reads them in one go)."""
        await self.send(b"".join(client_frame(0x1, t.encode("utf-8")) for t in texts))

    async def ws_messages(self, *messages: str | bytes) -> None:
        frames = [
            client_frame(0x1, m.encode("utf-8")) if isinstance(m, str) else client_frame(0x2, m)
            for m in messages
        ]
        await self.send(b"".join(frames))

    async def ws_receive(self) -> Frame:
        head = await self._take(2)
        length = head[1] & 0x7F
        extra = b""
        if length == 126:
            extra = await self._take(2)
            length = int.from_bytes(extra, "big")
        elif length == 127:
            extra = await self._take(8)
            length = int.from_bytes(extra, "big")
        payload = await self._take(length)
        return Frame(bool(head[0] & 0x80), head[0] & 0x0F, payload, head + extra + payload)

    async def ws_read(self) -> str | bytes:
        """The next text or binary message (pings are answered, for completeness)."""
        while True:
            frame = await self.ws_receive()
            if frame.opcode == 0x1:
                return frame.payload.decode("utf-8")
            if frame.opcode == 0x2:
                return frame.payload
            if frame.opcode == 0x9:
                await self.ws_send(0xA, frame.payload)
            elif frame.opcode == 0x8:
                raise EOFError(f"closed: {frame.close_code} {frame.close_reason!r}")

    async def ws_wait_close(self) -> Frame:
        """Read until the server's Close frame, answer it with the same code, return it."""
        while True:
            frame = await self.ws_receive()
            if frame.opcode == 0x8:
                try:
                    await self.ws_send(0x8, frame.payload[:2])
                except trio.BrokenResourceError:
                    pass  # the server did not wait for our answer
                return frame

    async def ws_close(self, code: int = 1000) -> Frame:
        await self.ws_send(0x8, code.to_bytes(2, "big"))
        while True:
            frame = await self.ws_receive()
            if frame.opcode == 0x8:
                return frame

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


# ============================================================================ capture


@dataclass(frozen=True)
class Traced:
    """One tracer entry and the (virtual) time it was logged at."""

    time: float
    entry: WireEntry


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.items: list[Traced] = []

    def emit(self, record: logging.LogRecord) -> None:
        entry = getattr(record, "wire", None)
        if isinstance(entry, WireEntry):
            self.items.append(Traced(trio.current_time(), entry))


@contextmanager
def _quiet_minisock() -> Iterator[None]:
    """Keep minisock's ordinary logs (a refused token, a failing handler) off stderr."""
    logger = logging.getLogger("minisock")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def _tracing(collector: _Collector) -> Iterator[None]:
    wire = logging.getLogger("minisock.wire")
    saved = wire.level, wire.propagate
    trace.configure(show_sids=False)
    wire.addHandler(collector)
    wire.setLevel(logging.DEBUG)
    wire.propagate = False
    try:
        yield
    finally:
        wire.removeHandler(collector)
        wire.setLevel(saved[0])
        wire.propagate = saved[1]


class Names:
    """Stable names for what varies between runs: sids, Socket.IO sids, tokens."""

    def __init__(self) -> None:
        self.eio_sids: list[str] = []
        self.tracer_aliases: dict[str, str] = {}
        self.sio_sids: dict[str, str] = {}

    def learn_eio_sid(self, eio_sid: str) -> None:
        if eio_sid not in self.eio_sids:
            self.eio_sids.append(eio_sid)

    def _tracer_alias(self, match: re.Match[str]) -> str:
        number = self.tracer_aliases.setdefault(match.group(1), str(len(self.tracer_aliases) + 1))
        return f"<eio#{number}>"

    def _sio_sid(self, match: re.Match[str]) -> str:
        name = self.sio_sids.setdefault(match.group(2), f"<sio#{len(self.sio_sids) + 1}>")
        return f"{match.group(1)}{name}"

    def normalise(self, text: str) -> str:
        text = re.sub(r"<eio#(\d+)>", self._tracer_alias, text)
        for number, eio_sid in enumerate(self.eio_sids, 1):
            text = text.replace(eio_sid, f"<eio#{number}>")
        text = re.sub(r'("sid\\?":\\?")([A-Za-z0-9_-]{20})(?=\\?")', self._sio_sid, text)
        text = re.sub(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*", "<jwt>", text)
        return text.replace("<jwt redacted>", "<jwt>")

    def session(self, label: str) -> str:
        """A session column: the tracer's alias, renumbered like the sids in the text."""
        if label.startswith("eio#"):
            return self.normalise(f"<{label}>")[1:-1]
        return "" if label == "-" else label


# ============================================================================ running


class Run:
    """One scenario's world: a running server, its clients and what the tracer saw."""

    def __init__(self, engine: EngineServer, collector: _Collector) -> None:
        self.engine = engine
        self.collector = collector
        self.names = Names()
        self.peers: list[Peer] = []
        self._mark = 0

    async def connect(self) -> Peer:
        peer = Peer(memory_connection(self.engine))
        self.peers.append(peer)
        return peer

    async def settle(self) -> None:
        """Wait until the server has done everything the client's last bytes asked for."""
        await trio.testing.wait_all_tasks_blocked()

    async def handshake(self, peer: Peer, path: str = "/engine.io/") -> str:
        """Open a polling session; returns its sid (and learns it, for normalisation)."""
        reply = await peer.get(f"{path}?EIO=4&transport=polling")
        eio_sid: str = json.loads(reply.body[1:])["sid"]
        self.names.learn_eio_sid(eio_sid)
        return eio_sid

    def learn_open_packet(self, text: str) -> str:
        eio_sid: str = json.loads(text[1:])["sid"]
        self.names.learn_eio_sid(eio_sid)
        return eio_sid

    def session(self, eio_sid: str) -> EngineSocket:
        return self.engine.sessions[eio_sid]

    # ---------------------------------------------------------------- output

    def mark(self) -> None:
        """Forget what was traced so far (the set-up the reader has already seen)."""
        self._mark = len(self.collector.items)

    def entries(self) -> list[Traced]:
        return self.collector.items[self._mark :]

    def transcript(
        self,
        *,
        frame_bytes: bool = False,
        times: bool = False,
        drop: Callable[[WireEntry], bool] | None = None,
    ) -> str:
        """The tracer's entries since the last :meth:`mark`: each the line the compact tracer
        prints (``python -m minisock trace``), then ``#`` and the bytes it took on the wire.

        ``times``: with the offset (virtual seconds since the scenario began).
        ``frame_bytes``: with the lines the compact format leaves out (a client frame's bytes).
        """
        rows: list[tuple[str, str]] = []
        for item in self.entries():
            entry = item.entry
            if entry.direction == trace.LOCAL:
                continue  # a session's end crossed no wire
            if entry.packet is None and entry.meaning == "frame bytes, masked" and not frame_bytes:
                continue
            if drop is not None and drop(entry):
                continue
            text = self.names.normalise(entry.meaning if entry.packet is None else entry.packet)
            ids = (self.names.session(entry.session), entry.socket)
            line = wire_notation.compact_line(
                item.time if times else None, entry.direction, entry.transport, ids, text, 10_000
            )
            raw = self.names.normalise(entry.raw)
            wire = (
                "" if raw == text or entry.transport == "http" or raw.startswith("close ") else raw
            )
            if text.startswith("OPEN ") and wire.endswith(text[5:]):
                wire = wire[: -len(text[5:])] + "{…}"  # the JSON is on the line already
            rows.append((line, wire))
        return _columns(rows)

    def raw_exchange(self, *exchanges: tuple[bytes, bytes]) -> str:
        """HTTP bytes as they crossed the client's socket, one labelled line per line."""
        lines = ["(bytes on the client's socket; CRLF line ends not shown)"]
        for request, response in exchanges:
            for direction, data in ((C2S, request), (S2C, response)):
                text = self.names.normalise(data.decode("utf-8", "replace"))
                head, sep, body = text.partition("\r\n\r\n")
                for line in head.split("\r\n") + ([""] if sep else []):
                    lines.append(f"{direction}  {line}".rstrip())
                if body:
                    lines.append(f"{direction}  {_visible(body)}")
        return "\n".join(lines)


def _visible(text: str) -> str:
    return text.replace("\x1e", "\\x1e")


def _columns(rows: list[tuple[str, str]]) -> str:
    """The lines, with the bytes lined up after them (past the longest short line)."""
    if not rows:
        return ""
    width = min(max(len(line) for line, _ in rows), 60)
    out = [f"{line:<{width}}  # {wire}" if wire else line for line, wire in rows]
    return "\n".join(line.rstrip() for line in out)


Scenario = Callable[[Run], Awaitable[str]]
ServerFactory = Callable[[], EngineServer | Server]


def run_scenario(make_server: ServerFactory, scenario: Scenario) -> str:
    """Run ``scenario`` against a fresh server under a virtual clock; return its text."""

    async def main() -> str:
        made = make_server()
        engine = made.engine if isinstance(made, Server) else made
        collector = _Collector()
        trace.forget_aliases()
        async with running_server(engine, in_memory=True):
            with _tracing(collector):
                run = Run(engine, collector)
                text = await scenario(run)
        return text

    with _quiet_minisock():
        return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# ============================================================================ servers


def _load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` (the examples are scripts, not a package)."""
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_minisock_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def echo_engine() -> EngineServer:
    """``examples/engineio_echo.py`` with its default options."""
    server: EngineServer = _load_example("engineio_echo").build_server()
    return server


def curl_engine() -> EngineServer:
    """``examples/engineio_echo.py`` as :data:`CURL_SERVER` starts it for the curl walkthrough."""
    example = _load_example("engineio_echo")
    server: EngineServer = example.build_server(ping_interval_ms=CURL_PING_INTERVAL_MS)
    return server


def chat_server(parser: str = "json") -> Server:
    """The small Socket.IO application of the Socket.IO transcripts."""
    sio = Server(parser=parser)

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("welcome", auth.get("name", "stranger"))

    @sio.on("shout")
    async def shout(socket: Socket, text: str) -> str:
        return text.upper()

    @sio.on("quiz")
    async def quiz(socket: Socket) -> None:
        answer = await socket.call("question", "6 x 7?")
        await socket.emit("verdict", "right" if answer == 42 else "wrong")

    @sio.on("reverse")
    async def reverse(socket: Socket, name: str, data: bytes) -> tuple[str, bytes]:
        return name, data[::-1]

    @sio.on("leave")
    async def leave(socket: Socket) -> None:
        await socket.disconnect()

    admin = sio.of("/admin")

    @admin.use
    async def admins_only(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("role") != "admin":
            raise ConnectRefusedError("admins only", {"role": auth.get("role")})

    @admin.on("stats")
    async def stats(socket: Socket) -> dict[str, int]:
        return {"sockets": len(sio.sockets.sockets)}

    return sio


def make_token(now: int = JWT_NOW, secret: str = JWT_SECRET, **claims: Any) -> str:
    """A token as the guide's /login issues it, at a fixed time."""
    body = {"data": {"id": 1, "username": "john"}, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE}
    body |= {"iat": now, "exp": now + 3600} | claims
    return jwt.encode(body, secret, algorithm="HS256")


def jwt_server(*, connect_auth: bool = False) -> Server:
    """The guide's policy (examples/jwt_app.py), with the clock fixed at JWT_NOW."""
    verifier = JWTVerifier(JWT_SECRET, issuer=JWT_ISSUER, audience=JWT_AUDIENCE)
    auth = JWTAuth(verifier, connect_auth=connect_auth, clock=lambda: float(JWT_NOW))
    sio = Server(auth=auth)

    @sio.on("connect")
    async def connect(socket: Socket, payload: dict[str, Any]) -> None:
        await socket.emit("hello", socket.identity["username"])

    return sio


# ============================================================================ scenarios

TRANSCRIPTS: dict[str, Callable[[], str]] = {}


def transcript(name: str, make_server: ServerFactory) -> Callable[[Scenario], Scenario]:
    """Register ``scenario`` as the generator of the block ``name``."""

    def register(scenario: Scenario) -> Scenario:
        TRANSCRIPTS[name] = lambda: run_scenario(make_server, scenario)
        return scenario

    return register


EIO = "/engine.io/?EIO=4&transport=polling"
SIO = "/socket.io/?EIO=4&transport=polling"
SIO_WS = "/socket.io/?EIO=4&transport=websocket"


def eio(eio_sid: str, transport: str = "polling", path: str = "/engine.io/") -> str:
    return f"{path}?EIO=4&transport={transport}&sid={eio_sid}"


def sio(eio_sid: str, transport: str = "polling") -> str:
    return eio(eio_sid, transport, "/socket.io/")


@transcript("layers", chat_server)
async def _layers(run: Run) -> str:
    peer = await run.connect()
    await peer.ws_open(SIO_WS)
    run.learn_open_packet(str(await peer.ws_read()))
    await peer.ws_text('40{"name":"ada"}')
    await peer.ws_read()
    await peer.ws_read()
    run.mark()
    await peer.ws_text('421["shout","hi"]')
    await peer.ws_read()
    await run.settle()
    return run.transcript(frame_bytes=True)


@transcript("handshake-raw", echo_engine)
async def _handshake_raw(run: Run) -> str:
    peer = await run.connect()
    await run.handshake(peer)
    return run.raw_exchange(*peer.exchanges)


@transcript("handshake-polling", echo_engine)
async def _handshake_polling(run: Run) -> str:
    await run.handshake(await run.connect())
    return run.transcript()


@transcript("handshake-websocket", echo_engine)
async def _handshake_websocket(run: Run) -> str:
    peer = await run.connect()
    await peer.ws_open("/engine.io/?EIO=4&transport=websocket")
    run.learn_open_packet(str(await peer.ws_read()))
    return run.transcript()


@transcript("polling", echo_engine)
async def _polling(run: Run) -> str:
    getter, poster = await run.connect(), await run.connect()
    eio_sid = await run.handshake(getter)
    run.mark()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(getter.get, eio(eio_sid))
        await run.settle()  # the GET now waits: the server has nothing to say
        await poster.post(eio(eio_sid), "4hello")
    await poster.post(eio(eio_sid), "4¡hola!\x1eb3q2+7w==")
    await run.settle()
    await getter.get(eio(eio_sid))
    return run.transcript()


@transcript("heartbeat", echo_engine)
async def _heartbeat(run: Run) -> str:
    getter = await run.connect()
    eio_sid = await run.handshake(getter)
    assert (await getter.get(eio(eio_sid))).text == "2"  # waits until t = 25 s
    await (await run.connect()).post(eio(eio_sid), "3")
    assert (await getter.get(eio(eio_sid))).text == "2"  # t = 50 s
    # No pong this time: the next GET waits, and at 70 s the session is over.
    assert (await getter.get(eio(eio_sid))).text == "1"
    return run.transcript(times=True)


@transcript("websocket-handshake-raw", echo_engine)
async def _websocket_handshake_raw(run: Run) -> str:
    peer = await run.connect()
    await peer.ws_open("/engine.io/?EIO=4&transport=websocket")
    run.learn_open_packet(str(await peer.ws_read()))
    return run.raw_exchange(*peer.exchanges)


@transcript("websocket-frames", echo_engine)
async def _websocket_frames(run: Run) -> str:
    peer = await run.connect()
    await peer.ws_open("/engine.io/?EIO=4&transport=websocket")
    run.learn_open_packet(str(await peer.ws_read()))
    run.mark()
    await peer.ws_text("4hello")
    assert await peer.ws_read() == "4hello"
    await peer.ws_messages(bytes.fromhex("deadbeef"))
    assert await peer.ws_read() == bytes.fromhex("deadbeef")
    await peer.ws_close(1000)
    await run.settle()
    return run.transcript(frame_bytes=True)


@transcript("frame-anatomy", echo_engine)
async def _frame_anatomy(run: Run) -> str:
    peer = await run.connect()
    await peer.ws_open("/engine.io/?EIO=4&transport=websocket")
    await peer.ws_read()
    run.mark()
    await peer.ws_text("4hello")
    reply = await peer.ws_receive()
    [masked] = [t.entry for t in run.entries() if t.entry.meaning == "frame bytes, masked"]
    return _anatomy(bytes.fromhex(masked.raw), C2S) + "\n\n" + _anatomy(reply.raw, S2C)


_OPCODES = {0x0: "continuation", 0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping"}


def _anatomy(frame: bytes, direction: str) -> str:
    """One short frame drawn byte by byte, computed from its bytes alone."""
    b0, b1 = frame[0], frame[1]
    fin, rsv, opcode, mask, length = b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F, b1 >> 7, b1 & 0x7F
    assert length < 126, "the drawing covers short frames only"
    rows: list[tuple[str, str]] = [
        (f"{b0:02x}", f"{b0 >> 4:04b} {b0 & 15:04b}   FIN = {fin}: the last frame of its message"),
        ("", f"            RSV1-3 = {rsv:03b}: no extension in use"),
        ("", f"            opcode = {opcode:#x}: {_OPCODES.get(opcode, '?')}"),
        (
            f"{b1:02x}",
            f"{b1 >> 4:04b} {b1 & 15:04b}   MASK = {mask}: "
            + ("masked, as every client frame must be" if mask else "not masked (server frame)"),
        ),
        ("", f"            payload length = {length:07b} = {length} bytes"),
    ]
    payload = frame[2 : 2 + length]
    if mask:
        key = frame[2:6]
        payload = frame[6 : 6 + length]
        stream = bytes(key[i % 4] for i in range(length))
        clear = bytes(b ^ k for b, k in zip(payload, stream, strict=True))
        rows += [
            (key.hex(" "), "masking key (4 bytes)"),
            (payload.hex(" "), "payload, masked"),
            (stream.hex(" "), "XOR with the key, repeated"),
            (clear.hex(" "), f"= {clear.decode('utf-8')!r}, the Engine.IO packet"),
        ]
    else:
        rows.append((payload.hex(" "), f"payload = {payload.decode('utf-8')!r}"))
    width = max(len(left) for left, _ in rows)
    lines = [f"{direction}  {frame.hex(' ')}", ""]
    lines += [f"{direction}  {left:<{width}}   {right}".rstrip() for left, right in rows]
    return "\n".join(lines)


@transcript("accept-key", echo_engine)
async def _accept_key(run: Run) -> str:
    peer = await run.connect()
    reply = await peer.ws_open("/engine.io/?EIO=4&transport=websocket")
    await peer.ws_read()
    guid = ws_handshake.WS_GUID
    digest = hashlib.sha1((RFC_KEY + guid).encode("ascii")).digest()
    accept = base64.b64encode(digest).decode("ascii")
    assert accept == reply.header("sec-websocket-accept") == ws_handshake.accept_key(RFC_KEY)
    return "\n".join(
        [
            ">>> import base64, hashlib",
            f'>>> key = "{RFC_KEY}"            # the client\'s Sec-WebSocket-Key',
            f'>>> guid = "{guid}"   # fixed by RFC 6455',
            ">>> digest = hashlib.sha1((key + guid).encode()).digest()",
            ">>> digest.hex(' ')",
            repr(digest.hex(" ")),
            ">>> base64.b64encode(digest).decode()",
            repr(accept),
        ]
    )


@transcript("upgrade", echo_engine)
async def _upgrade(run: Run) -> str:
    getter, probe = await run.connect(), await run.connect()
    eio_sid = await run.handshake(getter)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(getter.get, eio(eio_sid))
        await run.settle()  # the GET waits
        await probe.ws_open(eio(eio_sid, "websocket"))
        await run.settle()  # minisock answers the waiting GET as soon as the 101 is out
        await probe.ws_text("2probe")
        assert await probe.ws_read() == "3probe"
    assert getter.exchanges[-1][1].endswith(b"\r\n\r\n6")
    await probe.ws_text("5")
    await run.settle()
    await probe.ws_text("4over the WebSocket now")
    await probe.ws_read()
    return run.transcript()


async def _sio_websocket(run: Run) -> Peer:
    """A websocket-only Engine.IO session on /socket.io/, ready for Socket.IO packets."""
    peer = await run.connect()
    await peer.ws_open(SIO_WS)
    run.learn_open_packet(str(await peer.ws_read()))
    return peer


async def _exchange(run: Run, peer: Peer, *send: str | bytes, expect: int = 0) -> None:
    """Send messages in one write, then read ``expect`` messages and let the server settle."""
    if send:
        await peer.ws_messages(*send)
    for _ in range(expect):
        await peer.ws_read()
    await run.settle()


@transcript("socketio-polling", chat_server)
async def _socketio_polling(run: Run) -> str:
    getter, poster = await run.connect(), await run.connect()
    eio_sid = await run.handshake(getter, "/socket.io/")
    await poster.post(sio(eio_sid), '40{"name":"ada"}')
    await run.settle()
    await getter.get(sio(eio_sid))
    await poster.post(sio(eio_sid), '421["shout","hello"]')
    await run.settle()
    await getter.get(sio(eio_sid))
    return run.transcript()


@transcript("socketio-connect", chat_server)
async def _socketio_connect(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, '40{"name":"ada"}', expect=2)
    return run.transcript()


@transcript("socketio-events", chat_server)
async def _socketio_events(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40", expect=2)
    run.mark()
    await _exchange(run, peer, '42["shout","no ack wanted"]')
    await _exchange(run, peer, '4217["shout","ack please"]', expect=1)
    await _exchange(run, peer, '42["quiz"]', expect=1)
    await _exchange(run, peer, "430[42]", expect=1)
    return run.transcript()


@transcript("socketio-binary", chat_server)
async def _socketio_binary(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40", expect=2)
    run.mark()
    text = '451-3["reverse","abc.bin",{"_placeholder":true,"num":0}]'
    await _exchange(run, peer, text, bytes.fromhex("010203"), expect=2)
    return run.transcript()


@transcript("socketio-binary-polling", chat_server)
async def _socketio_binary_polling(run: Run) -> str:
    getter, poster = await run.connect(), await run.connect()
    eio_sid = await run.handshake(getter, "/socket.io/")
    await poster.post(sio(eio_sid), "40")
    await run.settle()
    await getter.get(sio(eio_sid))
    run.mark()
    text = '451-3["reverse","abc.bin",{"_placeholder":true,"num":0}]'
    await poster.post(sio(eio_sid), text + "\x1ebAQID")
    await run.settle()
    await getter.get(sio(eio_sid))
    return run.transcript()


def _client_msgpack(packet: dict[str, Any]) -> bytes:
    """A packet as socket.io-client writes it with socket.io-msgpack-parser (keys in its order)."""
    import msgpack

    data: bytes = msgpack.packb(packet, use_bin_type=True)
    return data


MSGPACK_CONNECT = _client_msgpack({"type": 0, "data": {"name": "ada"}, "nsp": "/"})
MSGPACK_REVERSE = _client_msgpack(
    {
        "type": 2,
        "data": ["reverse", "abc.bin", b"\x01\x02\x03"],
        "options": {"compress": True},
        "id": 3,
        "nsp": "/",
    }
)


def _not_the_connect_ack(entry: WireEntry) -> bool:
    """The CONNECT ack carries the random Socket.IO sid inside its bytes: left out."""
    return entry.direction == S2C and "Socket.IO CONNECT /" in entry.meaning


@transcript("msgpack-websocket", lambda: chat_server("msgpack"))
async def _msgpack_websocket(run: Run) -> str:
    peer = await _sio_websocket(run)
    run.mark()
    await _exchange(run, peer, MSGPACK_CONNECT, expect=2)
    await _exchange(run, peer, MSGPACK_REVERSE, expect=1)
    return run.transcript(frame_bytes=False, drop=_not_the_connect_ack)


@transcript("msgpack-polling", lambda: chat_server("msgpack"))
async def _msgpack_polling(run: Run) -> str:
    getter, poster = await run.connect(), await run.connect()
    eio_sid = await run.handshake(getter, "/socket.io/")
    await poster.post(sio(eio_sid), "b" + base64.b64encode(MSGPACK_CONNECT).decode())
    await run.settle()
    await getter.get(sio(eio_sid))
    run.mark()
    await poster.post(sio(eio_sid), "b" + base64.b64encode(MSGPACK_REVERSE).decode())
    await run.settle()
    await getter.get(sio(eio_sid))
    return run.transcript()


@transcript("socketio-namespaces", chat_server)
async def _socketio_namespaces(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40", expect=2)
    run.mark()
    await _exchange(run, peer, '40/admin,{"role":"admin"}', expect=1)
    await _exchange(run, peer, '42/admin,1["stats"]', expect=1)
    await _exchange(run, peer, "40/nowhere,", expect=1)
    return run.transcript()


@transcript("socketio-refused", chat_server)
async def _socketio_refused(run: Run) -> str:
    peer = await _sio_websocket(run)
    run.mark()
    await _exchange(run, peer, '40/admin,{"role":"guest"}', expect=1)
    await _exchange(run, peer, '42/admin,["stats"]')
    await peer.ws_wait_close()
    await run.settle()
    return run.transcript()


@transcript("socketio-disconnect", chat_server)
async def _socketio_disconnect(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40", '40/admin,{"role":"admin"}', expect=3)
    run.mark()
    await _exchange(run, peer, "41/admin,")
    await _exchange(run, peer, '42["leave"]', expect=1)
    await _exchange(run, peer, "1")
    await peer.ws_wait_close()
    await run.settle()
    return run.transcript()


@transcript("jwt-handshake-raw", jwt_server)
async def _jwt_handshake_raw(run: Run) -> str:
    getter, poster = await run.connect(), await run.connect()
    await getter.get(SIO)
    reply = await getter.get(SIO, [("Authorization", f"Bearer {make_token()}")])
    eio_sid = run.learn_open_packet(reply.text)
    await poster.post(sio(eio_sid), "40")
    await run.settle()
    await getter.get(sio(eio_sid))
    return run.raw_exchange(*getter.exchanges[:2], poster.exchanges[0], getter.exchanges[2])


@transcript("jwt-connect-auth", lambda: jwt_server(connect_auth=True))
async def _jwt_connect_auth(run: Run) -> str:
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40", expect=1)
    forged = make_token(secret="not the server's secret")
    await _exchange(run, peer, f'40{{"token":"{forged}"}}', expect=1)
    await _exchange(run, peer, f'40{{"token":"{make_token()}"}}', expect=2)
    return run.transcript()


_RECOVERY_SERVERS: list[Server] = []


def recovery_server() -> Server:
    """Connection state recovery on; ``join`` joins a room and says so."""
    sio = Server(connection_state_recovery=Recovery(max_disconnection_duration=120))
    _RECOVERY_SERVERS[:] = [sio]

    @sio.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)
        await socket.emit("joined", room)

    return sio


def _handshakes(entry: WireEntry) -> bool:
    """The WebSocket handshakes and open packets, which sections 2 and 5 show already."""
    return entry.transport == "http" or entry.meaning.startswith("open")


@transcript("recovery", recovery_server)
async def _recovery(run: Run) -> str:
    """Connect, get an offset, lose the transport, miss a broadcast, come back."""
    sio_server = _RECOVERY_SERVERS[0]
    peer = await _sio_websocket(run)
    await _exchange(run, peer, "40")
    answer = json.loads(str(await peer.ws_read())[2:])
    await _exchange(run, peer, '42["join","news"]')
    offset = json.loads(str(await peer.ws_read())[2:])[-1]
    await peer.aclose()  # the transport is lost: no close frame, no DISCONNECT
    await run.settle()
    await sio_server.to("news").emit("headline", "recovery works")
    await run.settle()
    back = await _sio_websocket(run)
    await _exchange(run, back, f'40{{"pid":"{answer["pid"]}","offset":"{offset}"}}', expect=2)
    text = run.transcript(drop=_handshakes)
    return text.replace(answer["pid"], "<pid#1>").replace(OFFSET_EPOCH, "<epoch>")


# ============================================================================ error tables


@dataclass(frozen=True)
class ErrorCase:
    """One way to make minisock refuse something, and how to observe its answer."""

    table: str
    trigger: str
    make_server: ServerFactory
    probe: Callable[[Run], Awaitable[tuple[str, str]]]
    """Returns the answer and what became of the session, both as markdown."""


ERROR_CASES: list[ErrorCase] = []


def error_case(
    table: str, trigger: str, make_server: ServerFactory = echo_engine
) -> Callable[[Callable[[Run], Awaitable[tuple[str, str]]]], None]:
    def register(probe: Callable[[Run], Awaitable[tuple[str, str]]]) -> None:
        ERROR_CASES.append(ErrorCase(table, trigger, make_server, probe))

    return register


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def http_answer(reply: Reply) -> str:
    """``400`` and the body, plus any header beyond the usual two."""
    shown = f"`{reply.status}` `{reply.text}`" if reply.body else f"`{reply.status}`"
    for name, value in reply.headers:
        if name.lower() not in ("content-type", "content-length"):
            shown += f" + `{name}: {value}`"
    if reply.body and reply.header("content-type") != "application/json":
        shown += f" (`{reply.header('content-type')}`)"
    return shown


def close_answer(frame: Frame) -> str:
    if frame.close_code is None:
        return "Close frame with no code"
    reason = f" `{frame.close_reason}`" if frame.close_reason else ", no reason"
    return f"close `{frame.close_code}`{reason}"


def fate(run: Run, eio_sid: str | None, before: int = 0) -> str:
    """What became of session ``eio_sid``; with none, whether the request created one."""
    if eio_sid is None:
        return "none created" if len(run.engine.sessions) <= before else "created"
    sock = run.engine.sessions.get(eio_sid)
    return "kept" if sock is not None and sock.state.is_open else "closed"


async def _session(run: Run, path: str = "/engine.io/") -> tuple[Peer, str]:
    peer = await run.connect()
    return peer, await run.handshake(peer, path)


async def _ws_session(run: Run, path: str = "/engine.io/") -> tuple[Peer, str]:
    peer = await run.connect()
    await peer.ws_open(f"{path}?EIO=4&transport=websocket")
    return peer, run.learn_open_packet(str(await peer.ws_read()))


async def _refused(
    run: Run, method: str, target: str, *headers: tuple[str, str]
) -> tuple[str, str]:
    peer = await run.connect()
    before = len(run.engine.sessions)
    reply = await peer.request(method, target, headers)
    return http_answer(reply), fate(run, None, before)


def refusal(
    table: str,
    trigger: str,
    method: str,
    target: str,
    *headers: tuple[str, str],
    make_server: ServerFactory = echo_engine,
) -> None:
    """An error case that is one request and its answer."""

    async def probe(run: Run) -> tuple[str, str]:
        return await _refused(run, method, target, *headers)

    ERROR_CASES.append(ErrorCase(table, trigger, make_server, probe))


def raw_refusal(table: str, trigger: str, request: bytes) -> None:
    """An error case that is bytes no HTTP client would send, and the answer to them."""

    async def probe(run: Run) -> tuple[str, str]:
        peer = await run.connect()
        await peer.send(request)
        return http_answer(await peer.read_response()), fate(run, None)

    ERROR_CASES.append(ErrorCase(table, trigger, echo_engine, probe))


async def _upgraded(run: Run) -> tuple[Peer, Peer, str]:
    poller, eio_sid = await _session(run)
    probe = await run.connect()
    await probe.ws_open(eio(eio_sid, "websocket"))
    await probe.ws_text("2probe")
    await probe.ws_read()
    await probe.ws_text("5")
    await run.settle()
    return poller, probe, eio_sid


# ---------------------------------------------------------------- HTTP, Engine.IO rules


refusal("http", "no `transport` in the query", "GET", "/engine.io/?EIO=4")
refusal(
    "http",
    "a transport minisock does not serve (`transport=webtransport`)",
    "GET",
    "/engine.io/?EIO=4&transport=webtransport",
)
refusal(
    "http",
    "a `sid` the server does not know (a polling request)",
    "GET",
    eio("AAAAAAAAAAAAAAAAAAAAAA"),
)


@error_case("http", "a `sid` the server does not know (a WebSocket upgrade)")
async def _unknown_sid_ws(run: Run) -> tuple[str, str]:
    peer = await run.connect()
    reply = await peer.ws_open(eio("AAAAAAAAAAAAAAAAAAAAAA", "websocket"))
    return http_answer(reply), fate(run, None)


refusal("http", "a handshake (no `sid`) that is not a GET", "POST", EIO)
refusal(
    "http",
    "`EIO=3`, or no `EIO` at all, on a handshake",
    "GET",
    "/engine.io/?EIO=3&transport=polling",
)
refusal(
    "http",
    "`transport=websocket` without `Upgrade: websocket`",
    "GET",
    "/engine.io/?EIO=4&transport=websocket",
)


@error_case("http", "a method other than GET or POST on a session (`PUT`)")
async def _put(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    reply = await peer.request("PUT", eio(eio_sid), body="4x")
    return http_answer(reply), fate(run, eio_sid)


@error_case("http", "a second GET while one is waiting")
async def _overlapping_get(run: Run) -> tuple[str, str]:
    first, eio_sid = await _session(run)
    second = await run.connect()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.get, eio(eio_sid))
        await run.settle()
        reply = await second.get(eio(eio_sid))
    waiting = first.exchanges[-1][1].split(b"\r\n\r\n", 1)[1].decode()
    return f"{http_answer(reply)}; the waiting GET gets `{waiting}`", fate(run, eio_sid)


@error_case("http", "a second POST while one is still being read")
async def _overlapping_post(run: Run) -> tuple[str, str]:
    first, eio_sid = await _session(run)
    second = await run.connect()
    await first.send(Peer.request_bytes("POST", eio(eio_sid), body=b"4hello")[:-3])
    await run.settle()
    reply = await second.post(eio(eio_sid), "4x")
    await first.send(b"llo")
    late = await first.read_response()
    return (
        f"{http_answer(reply)}; the first POST, once complete, gets `{late.status}` `{late.text}`",
        fate(run, eio_sid),
    )


@error_case("http", "a POST body with an unknown packet type (`x`)")
async def _bad_packet(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    return http_answer(await peer.post(eio(eio_sid), "x")), fate(run, eio_sid)


@error_case("http", "an empty POST body")
async def _empty_post(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    return http_answer(await peer.post(eio(eio_sid), "")), fate(run, eio_sid)


@error_case("http", "a `b` packet whose base64 is broken (`b!!`)")
async def _bad_base64(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    return http_answer(await peer.post(eio(eio_sid), "b!!")), fate(run, eio_sid)


@error_case("http", "a POST body that is not UTF-8 (byte `ff`)")
async def _not_utf8(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    return http_answer(await peer.post(eio(eio_sid), b"4\xff")), fate(run, eio_sid)


@error_case("http", "a chunked POST body whose chunk framing is broken")
async def _bad_chunks(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    head = Peer.request_bytes("POST", eio(eio_sid)).replace(
        b"Content-Length: 0", b"Transfer-Encoding: chunked"
    )
    await peer.send(head + b"6\r\n4helloXX0\r\n\r\n")
    return http_answer(await peer.read_response()), fate(run, eio_sid)


@error_case(
    "http",
    "a POST with `Content-Type: application/octet-stream` (binary bodies were Engine.IO v3's;"
    " the v4 spec's text still mentions them, the reference refuses them too)",
)
async def _octet_stream(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    headers = [("Content-Type", "application/octet-stream")]
    return http_answer(await peer.post(eio(eio_sid), b"\x04hi", headers)), fate(run, eio_sid)


@error_case("http", "a POST whose `Content-Length` is over `maxPayload` (1 000 000 bytes)")
async def _too_large(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    head = Peer.request_bytes("POST", eio(eio_sid)).replace(
        b"Content-Length: 0", b"Content-Length: 1000001"
    )
    await peer.send(head)
    return http_answer(await peer.read_response()), fate(run, eio_sid)


@error_case("http", "a polling request for a session that has moved to WebSocket")
async def _transport_mismatch(run: Run) -> tuple[str, str]:
    poller, _probe, eio_sid = await _upgraded(run)
    return http_answer(await poller.get(eio(eio_sid))), fate(run, eio_sid)


refusal(
    "http",
    "an `Origin` that is neither the `Host` nor allowlisted (`cors_origins`)",
    "GET",
    EIO,
    ("Origin", "https://elsewhere.example"),
)
refusal(
    "http",
    "no bearer token on a handshake, with `auth=JWTAuth(...)`",
    "GET",
    SIO,
    make_server=jwt_server,
)


@error_case("http", "an expired bearer token on a handshake", jwt_server)
async def _expired_token(run: Run) -> tuple[str, str]:
    token = make_token(now=JWT_NOW - 7200)
    return await _refused(run, "GET", SIO, ("Authorization", f"Bearer {token}"))


@error_case("http", "a request the server is shutting down for")
async def _shutting_down(run: Run) -> tuple[str, str]:
    _ws, _eio_sid = await _ws_session(run)
    late = await run.connect()
    run.engine.shutdown()
    await run.settle()  # the WebSocket waits (up to 1 s) for our Close: still shutting down
    reply = await late.get(EIO)
    return http_answer(reply), fate(run, None)


@error_case(
    "http", "a handshake beyond `max_sessions` (here 1)", lambda: EngineServer(max_sessions=1)
)
async def _too_many_sessions(run: Run) -> tuple[str, str]:
    await _session(run)
    return await _refused(run, "GET", EIO)


def _hooked_engine() -> EngineServer:
    """The echo engine with an ``allow_request`` that answers by the query's ``who``."""
    server = echo_engine()

    async def allow_request(request: Request) -> bool:
        who = request.query.get("who")
        if who == "banned":
            raise RequestRefusedError("banned")
        if who == "broken":
            raise RuntimeError("the revocation database is down")
        return who != "stranger"

    server.allow_request = allow_request
    return server


refusal(
    "http",
    "a handshake `allow_request` refuses (returns `False`)",
    "GET",
    EIO + "&who=stranger",
    make_server=_hooked_engine,
)
refusal(
    "http",
    'a handshake `allow_request` refuses with `RequestRefusedError("banned")`',
    "GET",
    EIO + "&who=banned",
    make_server=_hooked_engine,
)
refusal(
    "http",
    "a handshake whose `allow_request` raises (or passes `hook_timeout`)",
    "GET",
    EIO + "&who=broken",
    make_server=_hooked_engine,
)


def _duplicate_ids() -> EngineServer:
    server = echo_engine()
    server.generate_id = lambda request: "always-the-same"
    return server


@error_case("http", "a handshake whose `generate_id` gives a live session's sid", _duplicate_ids)
async def _duplicate_id(run: Run) -> tuple[str, str]:
    await _session(run)
    return await _refused(run, "GET", EIO)


@error_case(
    "http",
    "a request on a connection beyond `max_connections` (here 1)",
    lambda: EngineServer(max_connections=1),
)
async def _too_many_connections(run: Run) -> tuple[str, str]:
    await run.connect()  # open, idle: it counts
    await run.settle()
    return await _refused(run, "GET", EIO)


# ---------------------------------------------------------------- HTTP, other rules


def _routes() -> EngineServer:
    server = echo_engine()

    @server.route("POST", "/upload")
    async def upload(request: Request) -> Response:
        return Response.text("thanks")

    @server.route("GET", "/crash")
    async def crash(request: Request) -> Response:
        raise RuntimeError("a bug in the application")

    return server


refusal(
    "http-other",
    "a path that is neither the engine's nor a route",
    "GET",
    "/nowhere",
    make_server=_routes,
)
refusal("http-other", "a route's handler raises", "GET", "/crash", make_server=_routes)


@error_case("http-other", "a route's body is over `max_payload`", _routes)
async def _route_too_large(run: Run) -> tuple[str, str]:
    peer = await run.connect()
    head = Peer.request_bytes("POST", "/upload", body=b"x" * 1_000_001)
    await peer.send(head)
    return http_answer(await peer.read_response()), fate(run, None)


raw_refusal(
    "http-other",
    "a header line that is not `name: value`",
    b"GET / HTTP/1.1\r\nHost: localhost:3000\r\nnot a header\r\n\r\n",
)


raw_refusal(
    "http-other",
    "both `Content-Length` and `Transfer-Encoding`",
    b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost:3000\r\n"
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
)


refusal("http-other", "a request target over 8 192 bytes", "GET", EIO + "&pad=" + "x" * 8192)
refusal(
    "http-other",
    "a request head over 16 384 bytes (one 20 000-byte header)",
    "GET",
    EIO,
    ("X-Padding", "x" * 20_000),
)


raw_refusal(
    "http-other",
    "a request head still incomplete after 16 384 bytes",
    b"GET / HTTP/1.1\r\nHost: localhost:3000\r\nX-Padding: " + b"x" * 70_000,
)


refusal(
    "http-other", "more than 100 header fields", "GET", EIO, *[(f"X-{n}", "1") for n in range(101)]
)


raw_refusal(
    "http-other",
    "a `Transfer-Encoding` other than `chunked` (`gzip`)",
    b"POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost:3000\r\n"
    b"Transfer-Encoding: gzip\r\n\r\n",
)


raw_refusal(
    "http-other",
    "`Transfer-Encoding` in an HTTP/1.0 request",
    b"POST /engine.io/?EIO=4&transport=polling HTTP/1.0\r\nHost: localhost:3000\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
)


refusal(
    "http-other",
    "an `Expect` other than `100-continue`",
    "GET",
    EIO,
    ("Expect", "something-else"),
)


@error_case("http-other", "an HTTP version other than 1.0 and 1.1 (`HTTP/2.0`)")
async def _http2(run: Run) -> tuple[str, str]:
    peer = await run.connect()
    await peer.send(Peer.request_bytes("GET", EIO, version="2.0"))
    return http_answer(await peer.read_response()), fate(run, None)


# ---------------------------------------------------------------- the WebSocket handshake


async def _ws_refused(run: Run, drop: str = "", *extra: tuple[str, str]) -> tuple[str, str]:
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    names = {name for name, _ in extra}
    headers = [(k, v) for k, v in headers if k != drop and k not in names] + list(extra)
    peer = await run.connect()
    reply = await peer.request("GET", "/engine.io/?EIO=4&transport=websocket", headers)
    return http_answer(reply), fate(run, None)


@error_case("websocket-handshake", "no `Sec-WebSocket-Key`")
async def _no_key(run: Run) -> tuple[str, str]:
    return await _ws_refused(run, "Sec-WebSocket-Key")


@error_case("websocket-handshake", "a `Sec-WebSocket-Key` that is not base64 of 16 bytes")
async def _bad_key(run: Run) -> tuple[str, str]:
    return await _ws_refused(run, "", ("Sec-WebSocket-Key", "abc"))


@error_case("websocket-handshake", "`Connection` without the `Upgrade` token")
async def _no_connection_upgrade(run: Run) -> tuple[str, str]:
    return await _ws_refused(run, "", ("Connection", "keep-alive"))


@error_case("websocket-handshake", "no `Sec-WebSocket-Version`")
async def _no_version(run: Run) -> tuple[str, str]:
    return await _ws_refused(run, "Sec-WebSocket-Version")


@error_case("websocket-handshake", "`Sec-WebSocket-Version: 8`")
async def _old_version(run: Run) -> tuple[str, str]:
    return await _ws_refused(run, "", ("Sec-WebSocket-Version", "8"))


@error_case("websocket-handshake", "an upgrade over HTTP/1.0")
async def _ws_http10(run: Run) -> tuple[str, str]:
    peer = await run.connect()
    request = Peer.request_bytes("GET", "/engine.io/?EIO=4&transport=websocket", version="1.0")
    await peer.send(
        request.replace(
            b"\r\n\r\n",
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
        )
    )
    return http_answer(await peer.read_response()), fate(run, None)


# ---------------------------------------------------------------- WebSocket close codes


@error_case("websocket", "the client sends the Engine.IO close packet `1`")
async def _client_close_packet(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.ws_text("1")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "the client closes with a code of its own (`4000`)")
async def _client_close_code(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    frame = await peer.ws_close(4000)
    await run.settle()
    return f"{close_answer(frame)} (the client's code, echoed)", fate(run, eio_sid)


@error_case("websocket", "the server shuts down")
async def _ws_shutdown(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    run.engine.shutdown()
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "no pong within `pingTimeout` (20 s) of the first ping (sent at 25 s)")
async def _ws_ping_timeout(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    assert await peer.ws_read() == "2"
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "the client sends a ping `2` (in v4 only the server pings)")
async def _client_ping(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.ws_text("2")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a text frame that is not an Engine.IO packet (`x`)")
async def _ws_bad_packet(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.ws_text("x")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "an empty text frame")
async def _ws_empty(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.ws_text("")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a client frame that is not masked")
async def _unmasked(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.send(client_frame(0x1, b"4hi", masked=False))
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a frame with a reserved bit set (no extension was agreed)")
async def _rsv(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    frame = bytearray(client_frame(0x1, b"4hi"))
    frame[0] |= 0x40
    await peer.send(bytes(frame))
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "an unknown opcode (`0x3`)")
async def _opcode(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.send(client_frame(0x3, b"4hi"))
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a text message that is not UTF-8")
async def _ws_not_utf8(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    await peer.send(client_frame(0x1, b"4\xff"))
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a frame header announcing more than `maxPayload` bytes")
async def _ws_too_big(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run)
    header = bytes([0x81, 0xFF]) + (1_000_001).to_bytes(8, "big") + RFC_MASK
    await peer.send(header)
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a second WebSocket for a session that already upgraded")
async def _second_ws(run: Run) -> tuple[str, str]:
    _poller, _probe, eio_sid = await _upgraded(run)
    second = await run.connect()
    await second.ws_open(eio(eio_sid, "websocket"))
    return f"`101`, then {close_answer(await second.ws_wait_close())}", fate(run, eio_sid)


@error_case("websocket", "anything but `2probe` or `5` on a WebSocket that is upgrading")
async def _upgrade_aborted(run: Run) -> tuple[str, str]:
    _poller, eio_sid = await _session(run)
    probe = await run.connect()
    await probe.ws_open(eio(eio_sid, "websocket"))
    await probe.ws_text("4too early")
    frame = await probe.ws_wait_close()
    await run.settle()
    return f"{close_answer(frame)}; polling goes on", fate(run, eio_sid)


@error_case("websocket", "no `5` within `upgradeTimeout` (10 s) of the upgrade request")
async def _upgrade_timeout(run: Run) -> tuple[str, str]:
    _poller, eio_sid = await _session(run)
    probe = await run.connect()
    await probe.ws_open(eio(eio_sid, "websocket"))
    await probe.ws_text("2probe")
    await probe.ws_read()
    frame = await probe.ws_wait_close()
    await run.settle()
    return f"{close_answer(frame)}; polling goes on", fate(run, eio_sid)


# ---------------------------------------------------------------- Socket.IO


def _sio_errors() -> Server:
    sio = chat_server()

    @sio.of("/broken").on("connect")
    async def broken(socket: Socket, auth: dict[str, Any]) -> None:
        raise RuntimeError("a bug in the application")

    return sio


async def _sio_answer(run: Run, *messages: str | bytes, connect: bool = True) -> tuple[str, str]:
    """Send ``messages`` on a websocket-only session; the answer is a packet or a Close."""
    peer, eio_sid = await _ws_session(run, "/socket.io/")
    if connect:
        await _exchange(run, peer, "40", expect=2)
    await peer.ws_messages(*messages)
    frame = await peer.ws_receive()
    if frame.opcode == 0x8:
        answer = f"the connection ends: {close_answer(frame)}"
    else:
        answer = f"`{frame.payload.decode()}`"
    await run.settle()
    return answer, fate(run, eio_sid)


@error_case("socketio", "CONNECT to a namespace the server does not have", _sio_errors)
async def _invalid_namespace(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, "40/nowhere,", connect=False)


@error_case("socketio", "a middleware raises `ConnectRefusedError(message, data)`", _sio_errors)
async def _middleware_refuses(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, '40/admin,{"role":"guest"}', connect=False)


@error_case("socketio", "a connect handler raises anything else", _sio_errors)
async def _connect_crash(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, "40/broken,", connect=False)


@error_case(
    "socketio",
    "`JWTAuth(connect_auth=True)`: no token in the CONNECT payload",
    lambda: jwt_server(connect_auth=True),
)
async def _connect_no_token(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, "40", connect=False)


@error_case(
    "socketio",
    "`JWTAuth(connect_auth=True)`: an expired token in the CONNECT payload",
    lambda: jwt_server(connect_auth=True),
)
async def _connect_expired(run: Run) -> tuple[str, str]:
    token = make_token(now=JWT_NOW - 7200)
    return await _sio_answer(run, f'40{{"token":"{token}"}}', connect=False)


@error_case("socketio", "an EVENT before any CONNECT", _sio_errors)
async def _event_first(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, '42["shout","hi"]', connect=False)


@error_case("socketio", "the same, over polling", _sio_errors)
async def _event_first_polling(run: Run) -> tuple[str, str]:
    poster, eio_sid = await _session(run, "/socket.io/")
    getter = await run.connect()
    posted = await poster.post(sio(eio_sid), '42["shout","hi"]')
    await run.settle()
    polled = await getter.get(sio(eio_sid))
    answer = f"the POST gets `{posted.status}` `{posted.text}`, the next GET `{polled.text}`"
    return answer, fate(run, eio_sid)


@error_case("socketio", "a payload that is not JSON (`42[`)", _sio_errors)
async def _bad_json(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, "42[")


@error_case("socketio", "an event name that is not a string (`42[1]`)", _sio_errors)
async def _number_event(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, "42[1]")


@error_case("socketio", 'a reserved event name (`42["disconnect"]`)', _sio_errors)
async def _reserved_event(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, '42["disconnect"]')


@error_case("socketio", "more than 10 binary attachments", _sio_errors)
async def _attachments(run: Run) -> tuple[str, str]:
    return await _sio_answer(run, '4511-["shout"]')


@error_case("socketio", "no CONNECT within `connectTimeout` (45 s)", _sio_errors)
async def _connect_timeout(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _ws_session(run, "/socket.io/")
    while (frame := await peer.ws_receive()).opcode != 0x8:
        if frame.payload == b"2":
            await peer.ws_text("3")  # answer the heartbeat: only the missing CONNECT counts
    await run.settle()
    return f"{close_answer(frame)} at {trio.current_time():.0f} s", fate(run, eio_sid)


def _error_row(case: ErrorCase) -> str:
    async def scenario(run: Run) -> str:
        answer, session = await case.probe(run)
        return f"| {case.trigger} | {_cell(run.names.normalise(answer))} | {session} |"

    return run_scenario(case.make_server, scenario)


def render_errors(table: str) -> str:
    """The markdown table of one group of error cases, each observed in its own run."""
    rows = ["| what the client did | what minisock answers | session |", "| --- | --- | --- |"]
    rows += [_error_row(case) for case in ERROR_CASES if case.table == table]
    return "\n".join(rows)


def _error_table(table: str) -> Callable[[], str]:
    return lambda: render_errors(table)


for _table in ("http", "http-other", "websocket-handshake", "websocket", "socketio"):
    TRANSCRIPTS[f"errors-{_table}"] = _error_table(_table)


# ============================================================================ compression


def deflate_engine() -> EngineServer:
    """The echo engine with permessage-deflate on, at a threshold that keeps lines short."""
    server = echo_engine()
    server.per_message_deflate = Deflate(threshold=64)
    # The open packet is compressed too, and its history shapes how the later message
    # compresses: a random sid sharing a few letters with it changed its size by a byte.
    server.generate_id = _fixed_sid
    return server


def _fixed_sid(request: Request) -> str:
    return "0123456789ABCDEFGHIJKL"  # no lowercase: nothing in common with DEFLATE_TEXT


def gzip_engine() -> EngineServer:
    """The echo engine compressing poll answers from 64 bytes (Node's default is 1024)."""
    server = echo_engine()
    server.http_compression = HttpCompression(threshold=64)
    return server


def _raw_deflate(data: bytes) -> bytes:
    """What a client sends for ``data`` (RFC 7692 §7.2.1), with the stdlib's zlib."""
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH))[:-4]


DEFLATE_TEXT = '4{"greeting":"hello","again":"hello hello hello","and":"hello hello hello"}'


@transcript("deflate-websocket", deflate_engine)
async def _deflate_websocket(run: Run) -> str:
    peer = await run.connect()
    offer = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
    reply = await peer.ws_open("/engine.io/?EIO=4&transport=websocket", [offer])
    answer = reply.header("sec-websocket-extensions")
    inflater = zlib.decompressobj(-15)  # the client's end of the server's context takeover

    async def read() -> str:
        frame = await peer.ws_receive()
        if frame.raw[0] & 0x40:  # RSV1: inflate (RFC 7692 §7.2.2)
            return inflater.decompress(frame.payload + b"\x00\x00\xff\xff").decode()
        return frame.payload.decode()

    run.learn_open_packet(await read())  # the open packet is over 64 bytes: compressed too
    run.mark()
    await peer.ws_text("4hi")  # under the threshold: a plain frame each way
    assert await read() == "4hi"
    # 0x40 | 0x1: RSV1 and text, the compressed form of the same kind of message.
    await peer.ws_send(0x41, _raw_deflate(DEFLATE_TEXT.encode()))
    assert await read() == DEFLATE_TEXT
    await run.settle()
    head = (
        "(bytes on the client's socket, shortened to the request and status lines and the"
        " extension header; then the tracer's lines)\n"
        f"{C2S}  GET /engine.io/?EIO=4&transport=websocket  ({offer[0]}: {offer[1]})\n"
        f"{S2C}  HTTP/1.1 {reply.status} {reply.reason}  (Sec-WebSocket-Extensions: {answer})\n"
    )
    return head + "\n" + run.transcript(frame_bytes=True)


@transcript("gzip-polling", gzip_engine)
async def _gzip_polling(run: Run) -> str:
    getter = await run.connect()
    eio_sid = await run.handshake(getter)
    await run.session(eio_sid).send(DEFLATE_TEXT[1:])
    run.mark()
    reply = await getter.get(eio(eio_sid), [("Accept-Encoding", "gzip, deflate, br")])
    assert gzip.decompress(reply.body).decode() == DEFLATE_TEXT
    head = reply.raw[: len(reply.raw) - len(reply.body)].decode("latin-1")
    target = run.names.normalise(eio(eio_sid))
    lines = [
        "(bytes on the client's socket, the request shortened to its line and one header, the"
        " body to its size; CRLF line ends not shown; then the tracer's lines)",
        f"{C2S}  GET {target}  (Accept-Encoding: gzip, deflate, br)",
    ]
    lines += [f"{S2C}  {line}" for line in head.split("\r\n") if line]
    lines.append(f"{S2C}  <{len(reply.body)} bytes of gzip>")
    return "\n".join(lines) + "\n\n" + run.transcript()


def deflate_default_engine() -> EngineServer:
    """The echo engine with ``per_message_deflate=Deflate()`` (threshold 1024)."""
    server = echo_engine()
    server.per_message_deflate = Deflate()
    return server


async def _deflate_session(run: Run) -> tuple[Peer, str]:
    peer = await run.connect()
    offer = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
    await peer.ws_open("/engine.io/?EIO=4&transport=websocket", [offer])
    return peer, run.learn_open_packet(str(await peer.ws_read()))  # under 1024: plain


@error_case("http", "a POST with a `Content-Encoding` (`gzip`): clients never compress bodies")
async def _encoded_post(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _session(run)
    body = gzip.compress(b"4hello", mtime=0)
    reply = await peer.post(eio(eio_sid), body, [("Content-Encoding", "gzip")])
    return http_answer(reply), fate(run, eio_sid)


@error_case(
    "websocket",
    "a compressed message that inflates past `maxPayload` (10 MB of zeros sent as 10 KB)",
    deflate_default_engine,
)
async def _deflate_bomb(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _deflate_session(run)
    await peer.ws_send(0x41, _raw_deflate(b"4" + b"0" * 10_000_000))
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "a compressed message whose data does not inflate", deflate_default_engine)
async def _deflate_garbage(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _deflate_session(run)
    await peer.ws_send(0x41, b"\xff\xff\xff\xff")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


@error_case("websocket", "RSV1 on a ping, permessage-deflate agreed", deflate_default_engine)
async def _deflate_rsv1_ping(run: Run) -> tuple[str, str]:
    peer, eio_sid = await _deflate_session(run)
    await peer.ws_send(0x49, b"")
    return close_answer(await peer.ws_wait_close()), fate(run, eio_sid)


# ============================================================================ curl


@dataclass(frozen=True)
class CurlStep:
    """One request of the curl walkthrough: what it sends and how curl is told to send it."""

    method: str
    target: str
    """Path and query; ``{sid}`` stands for the session id."""
    body: bytes = b""
    headers_too: bool = False
    """``curl -i``: print the status line and headers before the body."""
    printf: str = ""
    """Feed the body through ``printf`` (for bytes a shell quote cannot hold)."""
    cat_v: bool = False
    """Pipe the answer through ``cat -v`` (to make the record separator visible)."""
    keep_sid: bool = False
    """Keep the open packet's sid in ``$SID`` and print it (the handshake, as a one-liner)."""

    @property
    def command(self) -> str:
        url = f"http://localhost:3000{self.target}".replace("{sid}", "$SID")
        url = f'"{url}"' if "$" in url else f"'{url}'"
        flags = "-si" if self.headers_too else "-s"
        if self.keep_sid:
            return f'SID=$(curl {flags} {url} | cut -d\'"\' -f4); echo "$SID"'
        if self.printf:
            line = f"printf '{self.printf}' | curl {flags} --data-binary @- {url}"
        elif self.method == "POST":
            line = f"curl {flags} --data-binary '{self.body.decode()}' {url}"
        else:
            line = f"curl {flags} {url}"
        return line + (" | cat -v" if self.cat_v else "")

    def request(self, eio_sid: str, host: str) -> bytes:
        """The bytes curl sends for this step (minus headers the server ignores)."""
        headers = [("User-Agent", "curl"), ("Accept", "*/*")]
        if self.method == "POST":
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        target = self.target.replace("{sid}", eio_sid)
        return Peer.request_bytes(self.method, target, headers, self.body, host=host)

    def shown(self, reply: Reply) -> str:
        """What curl prints for ``reply``."""
        body = reply.body.decode("utf-8")
        if self.keep_sid:
            return str(json.loads(body[1:])["sid"])  # echo's newline ends the line
        if self.cat_v:
            body = body.replace("\x1e", "^^")
        if not self.headers_too:
            return body
        return (
            reply.raw[: len(reply.raw) - len(reply.body)].decode("latin-1").replace("\r\n", "\n")
            + body
        )


POLL = "/engine.io/?EIO=4&transport=polling&sid={sid}"
CURL_SERVER = "python examples/engineio_echo.py --port 3000 --ping-interval 600000"
"""How the walkthrough's reader starts the server: a ping only every ten minutes."""
CURL_PING_INTERVAL_MS = 600_000
CURL_STEPS: list[CurlStep] = [
    CurlStep("GET", EIO, headers_too=True),
    CurlStep("GET", EIO, keep_sid=True),
    CurlStep("POST", POLL, b"4hello"),
    CurlStep("GET", POLL),
    # \036 (octal), not \x1e: dash's printf, /bin/sh on Debian, knows no hex escapes.
    CurlStep("POST", POLL, b"4one\x1e4two\x1ebAQID", printf="4one\\0364two\\036bAQID"),
    CurlStep("GET", POLL, cat_v=True),
    CurlStep("POST", POLL, b"1"),
    CurlStep("GET", POLL, headers_too=True),
]


def render_curl(answers: Sequence[str]) -> str:
    """The walkthrough as a terminal shows it: each command, then what curl printed."""
    parts = []
    for step, answer in zip(CURL_STEPS, answers, strict=True):
        parts.append(f"$ {step.command}\n{answer}")
    return "\n\n".join(parts)


def parse_curl(block: str) -> list[tuple[str, str]]:
    """(command, answer) pairs from a rendered walkthrough: the inverse of render_curl."""
    pairs = []
    for part in block.split("\n\n$ "):
        command, _, answer = part.removeprefix("$ ").partition("\n")
        pairs.append((command, answer))
    return pairs


async def _curl(run: Run) -> str:
    answers: list[str] = []
    eio_sid = ""
    for step in CURL_STEPS:
        peer = await run.connect()  # curl opens a new connection for every command
        await peer.send(step.request(eio_sid, HOST))
        reply = await peer.read_response()
        if not eio_sid or step.keep_sid:
            eio_sid = run.learn_open_packet(reply.text)
        await run.settle()
        answers.append(run.names.normalise(step.shown(reply)))
    return render_curl(answers)


TRANSCRIPTS["curl"] = lambda: run_scenario(curl_engine, _curl)


# ============================================================================ the document

FENCED = "```"


def render_all() -> dict[str, str]:
    """Every generated block of PROTOCOL.md, by name, as it belongs between its markers."""
    with warnings.catch_warnings():
        # The guide's demo secret is short on purpose; PyJWT rightly says so every time.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        rendered = {name: render() for name, render in TRANSCRIPTS.items()}
    return {
        name: text if name.startswith("errors-") else f"{FENCED}text\n{text}\n{FENCED}"
        for name, text in rendered.items()
    }


def document_blocks(document: str) -> dict[str, str]:
    """The blocks currently in ``document``, by name (the text between the markers)."""
    return {m.group("name"): m.group("body").rstrip("\n") for m in BLOCK.finditer(document)}


def replace_blocks(document: str, blocks: dict[str, str]) -> str:
    """``document`` with every marked block replaced by its new text.

    Raises ``KeyError`` for a marker with no generator, so a typo cannot go unnoticed.
    """

    def fill(match: re.Match[str]) -> str:
        return f"{match.group(1)}{blocks[match.group('name')]}\n{match.group(4)}"

    return BLOCK.sub(fill, document)


def update_document(path: Path = DOCUMENT) -> bool:
    """Regenerate the blocks of ``path`` in place; returns whether anything changed."""
    old = path.read_text("utf-8")
    new = replace_blocks(old, render_all())
    if new != old:
        path.write_text(new, "utf-8")
    return new != old


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if PROTOCOL.md is stale")
    parser.add_argument("--print", dest="show", metavar="NAME", help="print one block")
    options = parser.parse_args(argv)
    if options.show:
        print(render_all()[options.show])
        return 0
    if options.check:
        blocks = render_all()
        stale = replace_blocks(DOCUMENT.read_text("utf-8"), blocks) != DOCUMENT.read_text("utf-8")
        print("PROTOCOL.md is out of date" if stale else "PROTOCOL.md is up to date")
        return 1 if stale else 0
    changed = update_document()
    print("PROTOCOL.md updated" if changed else "PROTOCOL.md was already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
