"""Every advisory and design row of SECURITY.md that no other test shows, replayed on minisock.

Each test names its row in the docstring (``tests/security/README.md`` maps every row, including
those shown elsewhere). The shape of most tests:

1. open a *bystander* session before the attack (:class:`Bystander`), which echoes;
2. send the hostile input and check minisock's answer: the HTTP status and its JSON reason, the
   WebSocket close code, the Socket.IO CONNECT_ERROR, or the connection closing;
3. check that the bystander still echoes, so the server kept serving everyone else, and that
   nothing minisock accepted was lost.

A server that crashes shows up as the ``ExceptionGroup`` that :func:`running_server` raises.

Real sockets listen on 127.0.0.1 port 0; the tests about time (slowloris, slow consumers) run on
in-memory streams under ``autojump_clock``, so their waits cost nothing. Every test runs under an
absolute ``trio.fail_after``. The few timing bounds (decoding a megabyte) are generous DoS
guards, not performance tests.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import logging
import socket as stdlib_socket
import struct
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import trio
import trio.testing
from jwt.warnings import InsecureKeyLengthWarning

import minisock
from minisock import (
    EngineServer,
    EngineSocket,
    JWTAuth,
    JWTVerifier,
    Server,
    SessionClosedError,
    Socket,
    TokenError,
)
from minisock.proto import ws
from minisock.proto.sio import Decoder, PayloadTooDeepError, SocketIOProtocolError
from minisock.testing import (
    EventRecorder,
    HttpClient,
    WsClient,
    WsClosed,
    WsRejected,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    memory_connection,
    running_server,
)

LIMIT = 10.0  # wall-clock seconds, for tests on real sockets
VLIMIT = 600.0  # virtual seconds, for tests under autojump_clock
PATH = "/socket.io/"
WS_TARGET = eio_target(transport="websocket")
SIO_WS_TARGET = eio_target(PATH, transport="websocket")
MASK = b"\x0f\x1e\x2d\x3c"
P0 = '{"_placeholder":true,"num":0}'
VALID_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# How a refused Socket.IO connection's WebSocket closes: 1002 (protocol error) with the reason
# in the frame; 1000 is accepted too (a plain close, as the reference sends).
SIO_REFUSAL_CODES = (1000, 1002)
SECRET = "k7Qm2vX9pL4sT8wZ1cR6yB3nH5jD0fGaE7uK2iO9qW4xV8tY1zM6bN3rS5dF0gHj"  # 64 bytes
ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
PEM_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n"
)


# ================================================================ helpers: waiting, raw bytes


async def wait_until(predicate: Callable[[], bool], step: float = 0.01) -> None:
    while not predicate():
        await trio.sleep(step)


async def settle(wall_seconds: float = 2.0) -> None:
    """Under autojump_clock: return once every task is blocked. A server that never goes idle
    fails here after ``wall_seconds`` of real time instead of freezing the virtual clock."""
    done = threading.Event()
    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            idle = await trio.to_thread.run_sync(done.wait, wall_seconds, abandon_on_cancel=True)
            if not idle:
                raise AssertionError(f"the server kept running for {wall_seconds} s of wall time")

        nursery.start_soon(watchdog)
        await trio.testing.wait_all_tasks_blocked()
        done.set()
        nursery.cancel_scope.cancel()


@dataclass
class RawAnswer:
    """What came back on a raw connection: the first response, what followed, whether it ended."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    rest: bytes
    closed: bool

    def json(self) -> Any:
        return json.loads(self.body)


def parse_answer(data: bytes, closed: bool) -> RawAnswer:
    head, sep, tail = data.partition(b"\r\n\r\n")
    if not sep:
        return RawAnswer(None, {}, b"", data, closed)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return RawAnswer(status, headers, tail[:length], tail[length:], closed)


def response_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole response (head, and a body as long as it says)."""
    answer = parse_answer(data, False)
    return answer.status is not None and len(answer.body) == int(
        answer.headers.get("content-length", "0")
    )


async def read_all(
    stream: trio.abc.ReceiveStream, wait: float, *, until_close: bool = True
) -> tuple[bytes, bool]:
    """What the peer sends within ``wait`` seconds, and whether it closed (EOF or reset).

    Stops at the close, or (``until_close=False``) as soon as one whole response is in.
    """
    data = b""
    closed = False
    with trio.move_on_after(wait):
        while until_close or not response_complete(data):
            try:
                chunk = await stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return data, closed


async def raw_request(
    port: int, data: bytes, *, wait: float = 3.0, until_close: bool = True
) -> RawAnswer:
    """Send ``data`` on a new TCP connection; read until the server closes (or, with
    ``until_close=False``, until one whole response is in), at most ``wait`` seconds."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(data)
        raw, closed = await read_all(stream, wait, until_close=until_close)
    finally:
        await trio.aclose_forcefully(stream)
    return parse_answer(raw, closed)


async def reset(stream: trio.SocketStream) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing or hostile peer does."""
    stream.socket.setsockopt(
        stdlib_socket.SOL_SOCKET, stdlib_socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    await trio.aclose_forcefully(stream)


def upgrade_head(target: str, host: str, *extra: str) -> bytes:
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {VALID_KEY}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_refusal(answer: RawAnswer, status: int, code: int | None = None) -> None:
    """A JSON refusal ``{"code": n, "message": "..."}`` with ``status``."""
    assert answer.status == status, (answer.status, answer.body[:200])
    assert answer.headers.get("content-type") == "application/json"
    body = answer.json()
    assert isinstance(body["message"], str)
    if code is not None:
        assert body["code"] == code, body


def count_tasks() -> int:
    """Every task alive in this trio run."""
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack = [root]
    count = 0
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


# ================================================================ helpers: sessions


def echo_engine(**options: Any) -> tuple[EngineServer, EventRecorder]:
    """An Engine.IO server whose application echoes every message."""
    server = EngineServer(**options)
    return server, EventRecorder(server, echo=True)


class Bystander:
    """A WebSocket session opened before an attack; :meth:`check` proves it is still served.

    ``sio`` bystanders joined ``/`` of a :class:`SioApp` and use its ``echo`` ack; engine
    bystanders rely on the echoing :func:`echo_engine`. Engine.IO pings are answered on the way.
    """

    def __init__(self, client: WsClient, *, sio: bool) -> None:
        self.ws = client
        self.sio = sio
        self.rounds = 0

    @classmethod
    async def connect(cls, stream: trio.abc.Stream, *, sio: bool = False) -> Bystander:
        target = SIO_WS_TARGET if sio else WS_TARGET
        client = await WsClient.connect(stream, "127.0.0.1", target)
        opened = await client.receive()
        assert isinstance(opened, str) and opened.startswith("0")
        if sio:
            await client.send_text("40")
            assert str(await recv(client)).startswith("40{")
        return cls(client, sio=sio)

    @classmethod
    async def tcp(cls, port: int) -> Bystander:
        return await cls.connect(await trio.open_tcp_stream("127.0.0.1", port))

    @classmethod
    async def memory(cls, server: EngineServer, *, sio: bool = False) -> Bystander:
        return await cls.connect(memory_connection(server), sio=sio)

    async def finish(self) -> None:
        """A last :meth:`check`, then close (so the server's shutdown need not wait for us)."""
        await self.check()
        await self.ws.aclose()

    async def check(self) -> None:
        self.rounds += 1
        if self.sio:
            await self.ws.send_text(f'42{self.rounds}["echo","alive"]')
            answer = await recv(self.ws)
            while isinstance(answer, str) and answer.startswith("42"):
                answer = await recv(self.ws)  # broadcasts meant for everyone, it included
            assert answer == f'43{self.rounds}["alive"]'
        else:
            text = f"4still served {self.rounds}"
            await self.ws.send_text(text)
            assert await recv(self.ws) == text


async def recv(client: WsClient) -> str | bytes:
    """The next message that is not an Engine.IO ping; pings are answered on the way."""
    while True:
        message = await client.receive()
        if message != "2":
            return message
        await client.send_text("3")


async def until_closed(client: WsClient, within: float) -> tuple[list[str | bytes], WsClosed]:
    """Messages until the server closes the WebSocket; fails if that takes over ``within`` s."""
    seen: list[str | bytes] = []
    with trio.move_on_after(within):
        while True:
            try:
                seen.append(await recv(client))
            except WsClosed as closed:
                return seen, closed
    raise AssertionError(f"the server did not close the connection within {within} s: {seen!r}")


async def open_engine_ws(port: int) -> tuple[WsClient, str]:
    client = await WsClient.open(port, WS_TARGET)
    opened = await client.receive()
    assert isinstance(opened, str) and opened.startswith("0")
    sid: str = json.loads(opened[1:])["sid"]
    return client, sid


class SioApp:
    """A Socket.IO server whose handlers record what reaches the application."""

    def __init__(self, **options: Any) -> None:
        self.sio = Server(**options)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        """Every application event handler call: ``(event, args)``."""
        self.connected: list[Socket] = []
        self.disconnects: dict[str, str] = {}
        """Socket.IO sid -> reason given to the disconnect handler."""
        sio = self.sio

        @sio.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any]) -> None:
            self.connected.append(socket)

        @sio.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            self.disconnects[socket.sid] = reason

        @sio.on("echo")
        async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
            if args != ("alive",):  # the bystander's checks are not the application's business
                self.calls.append(("echo", args))
            return args

        @sio.on("*")
        async def anything(socket: Socket, event: str, *args: Any) -> None:
            self.calls.append((event, args))

    @property
    def engine(self) -> EngineServer:
        return self.sio.engine


@asynccontextmanager
async def serving_sio(app: SioApp) -> AsyncIterator[Bystander]:
    """Run ``app`` in memory (virtual clock) with a joined bystander; checks it at the end."""
    with trio.fail_after(VLIMIT):
        async with running_server(app.engine, in_memory=True):
            bystander = await Bystander.memory(app.engine, sio=True)
            yield bystander
            await bystander.finish()


async def sio_ws(app: SioApp) -> tuple[WsClient, EngineSocket]:
    """A Socket.IO client's WebSocket (not joined yet) and its Engine.IO session."""
    before = set(app.engine.sessions)
    client = await WsClient.connect(memory_connection(app.engine), "127.0.0.1", SIO_WS_TARGET)
    opened = await client.receive()
    assert isinstance(opened, str) and opened.startswith("0")
    (sid,) = set(app.engine.sessions) - before
    return client, app.engine.sessions[sid]


async def join(client: WsClient, nsp: str = "/", payload: str = "") -> str:
    head = "40" if nsp == "/" else f"40{nsp},"
    await client.send_text(head + payload)
    ack = await recv(client)
    assert isinstance(ack, str) and ack.startswith(head + "{"), ack
    sio_sid: str = json.loads(ack[len(head) :])["sid"]
    return sio_sid


async def send_all_of(client: WsClient, packets: Sequence[str | bytes]) -> None:
    """Send ``packets``; the server may already have closed after an early one."""
    for packet in packets:
        try:
            await client.send(packet)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return


async def assert_only_this_connection_closes(
    app: SioApp,
    packets: Sequence[str | bytes],
    *,
    join_first: bool = True,
    reasons: Sequence[str] = ("parse error",),
) -> None:
    """Send ``packets`` on a fresh connection: it must close at once (the joined socket's
    disconnect reason one of ``reasons``), no handler may see anything, and the server keeps
    serving the others."""
    client, engine = await sio_ws(app)
    sio_sid = await join(client) if join_first else None
    start = trio.current_time()
    await send_all_of(client, packets)
    seen, closed = await until_closed(client, within=5.0)
    assert trio.current_time() - start < 2.0, "closed only by a timeout, not by the refusal"
    assert closed.code in SIO_REFUSAL_CODES, closed
    assert not [m for m in seen if isinstance(m, str) and m.startswith(("42", "43"))], seen
    assert app.calls == []
    assert engine.closed
    if sio_sid is not None:
        await wait_until(lambda: sio_sid in app.disconnects)
        assert app.disconnects[sio_sid] in reasons
    await wait_until(lambda: engine.eio_sid not in app.engine.sessions)


def deep_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


# ================================================================ helpers: JWT


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    claims["data"] = {"id": 7}
    claims.update(changes)
    return claims


def hand_made(
    header: dict[str, Any], payload: Any, *, key: str = SECRET, sig: str | None = None
) -> str:
    """A compact JWS built by hand: HMAC-SHA256 with ``key`` unless ``sig`` is given."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    if sig is None:
        digest = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
        sig = b64url(digest)
    return f"{signing_input}.{sig}"


def hs256(payload: dict[str, Any], key: str = SECRET, **headers: Any) -> str:
    return hand_made({"alg": "HS256", "typ": "JWT", **headers}, payload, key=key)


# ################################################################ §1 engine.io


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_cve_2020_36048_a_100_mb_post_is_refused_413_without_reading_it(
    framing: str,
) -> None:
    """CVE-2020-36048: a POST of 100 MB (declared, or chunked with no end) against the default
    maxPayload of 1 MB is answered 413 while the body is still coming: minisock never waits
    for (or buffers) the whole body. The session survives and keeps what it accepted."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, opened = await eio_handshake(client)
            assert opened["maxPayload"] == 1_000_000
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            framing_header = (
                "Content-Length: 100000000"
                if framing == "content-length"
                else "Transfer-Encoding: chunked"
            )
            head = (
                f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\n{framing_header}\r\n\r\n"
            ).encode()
            piece = b"4" + b"a" * 65535
            if framing == "chunked":
                piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
            sent = 0

            async def stream_body() -> None:
                nonlocal sent
                try:
                    await stream.send_all(head)
                    while sent < 4_000_000:  # a few MB of the 100 MB, never the end
                        await stream.send_all(piece)
                        sent += len(piece)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream_body)
                data, closed = await read_all(stream, 5.0)
                nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)
            answer = parse_answer(data, closed)
            assert_refusal(answer, 413, 3)
            assert answer.headers.get("connection") == "close"
            assert closed
            assert events.messages_of(sid) == []
            assert server.sessions[sid].state.is_open
            async with await HttpClient.open(port) as client:
                assert (await eio_post(client, sid, "4after")).body == b"ok"
                assert (await eio_poll(client, sid)).body == b"4after"
            assert events.disconnects == {}
            await bystander.finish()


async def test_python_engineio_chunked_post_bodies_are_counted_and_delivered() -> None:
    """python-engineio 4.15.1 (seen with hostile input): a POST without Content-Length
    (chunked) was read as empty and answered 200, its messages lost. minisock reads the chunks,
    delivers every packet and echoes them; over maxPayload the chunks are counted (413)."""
    server, events = echo_engine(max_payload=64)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                await client.send_head(
                    "POST", eio_target(sid=sid), headers=[("Transfer-Encoding", "chunked")]
                )
                for part in (b"4one\x1e4tw", b"o\x1e4thr", b"ee"):
                    await client.send_body(part, end=False)
                await client.send_body(b"")
                response = await client.read_response()
                assert (response.status, response.body) == (200, b"ok")
                assert events.messages_of(sid) == ["one", "two", "three"]
                assert (await eio_poll(client, sid)).body == b"4one\x1e4two\x1e4three"
            async with await HttpClient.open(port) as client:
                await client.send_head(
                    "POST", eio_target(sid=sid), headers=[("Transfer-Encoding", "chunked")]
                )
                for _ in range(5):  # 5 chunks of 20 bytes: the count passes 64 in the 4th
                    await client.send_body(b"4" + b"z" * 19, end=False)
                response = await client.read_response()
                assert response.status == 413
            assert events.messages_of(sid) == ["one", "two", "three"]
            await bystander.finish()


@pytest.mark.parametrize(
    "body",
    [b"6\r\n4helloXX0\r\n\r\n", b"6\r\n4hello\n0\r\n\r\n", b"zz\r\n4hello\r\n0\r\n\r\n"],
    ids=["two-bytes-instead-of-crlf", "lf-instead-of-crlf", "bad-chunk-size"],
)
async def test_cve_2025_43859_bad_chunk_framing_is_answered_400_and_closed(body: bytes) -> None:
    """CVE-2025-43859 (h11 < 0.16) and D09: chunk data followed by two bytes other than CRLF
    (or a bad chunk size) is a framing error: the answer is 400 with ``Connection: close``, the
    connection is closed, nothing of the body is delivered, and the server goes on."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            head = (
                f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
            answer = await raw_request(port, head + body)
            assert_refusal(answer, 400)
            assert answer.headers.get("connection") == "close"
            assert answer.closed
            assert events.messages_of(sid) == []
            await trio.sleep(0.2)
            await bystander.finish()


@pytest.mark.parametrize(
    ("how", "framing"),
    [("fin", "content-length"), ("fin", "chunked"), ("rst", "content-length")],
)
async def test_cve_2022_41940_class_a_peer_leaving_mid_body_fails_only_its_request(
    how: str, framing: str
) -> None:
    """CVE-2022-41940 / CVE-2022-21676 (class: an error on one connection must not reach the
    process): a client that closes (FIN) or resets (RST) its connection in the middle of a
    POST body. Only that request ends; nothing partial is delivered; the session and the
    server go on."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            framing_header = (
                "Content-Length: 100"
                if framing == "content-length"
                else "Transfer-Encoding: chunked"
            )
            partial = b"4hello" if framing == "content-length" else b"10\r\n4hello"
            await stream.send_all(
                f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"{framing_header}\r\n\r\n".encode()
                + partial
            )
            await trio.sleep(0.1)
            if how == "fin":
                await stream.aclose()
            else:
                await reset(stream)
            await wait_until(lambda: server.connections == 1)  # only the bystander's
            await trio.sleep(0.2)
            await bystander.finish()
            assert events.messages_of(sid) == []
            async with await HttpClient.open(port) as client:
                assert (await eio_post(client, sid, "4whole")).body == b"ok"
                assert (await eio_poll(client, sid)).body == b"4whole"


@pytest.mark.parametrize("rsv", [4, 2, 1, 7], ids=["rsv1", "rsv2", "rsv3", "all"])
async def test_cve_2022_21676_rsv_bits_fail_the_connection_not_the_process(rsv: int) -> None:
    """CVE-2022-21676: a frame with RSV bits set (no extension negotiated) fails that
    connection with close 1002; the session ends visibly ("transport error"); nothing is
    delivered; the process and the other sessions go on."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            client, sid = await open_engine_ws(port)
            await client.send_raw(ws.encode_client_frame(ws.Opcode.TEXT, b"4x", MASK, rsv=rsv))
            closed = await client.wait_closed()
            assert closed.code == 1002
            assert await events.wait_disconnect(sid) == "transport error"
            assert events.messages_of(sid) == []
            await client.aclose()
            await bystander.finish()


async def test_cve_2022_21676_class_a_write_error_fails_the_connection_not_the_process(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2022-21676 (class) and CVE-2026-48809 ("make sure the client disconnects when the
    write loop exits"): the server's write to one WebSocket fails (the peer stopped receiving).
    That connection ends, its session is reported closed, and the server keeps serving.
    Deterministic, on in-memory streams whose client side stops receiving."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            bystander = await Bystander.memory(server)
            c2s_send, c2s_recv = trio.testing.memory_stream_one_way_pair()
            s2c_send, s2c_recv = trio.testing.memory_stream_one_way_pair()
            server.spawn(server.handle_connection, trio.StapledStream(s2c_send, c2s_recv))
            client = await WsClient.connect(
                trio.StapledStream(c2s_send, s2c_recv), "127.0.0.1", WS_TARGET
            )
            opened = await client.receive()
            assert isinstance(opened, str)
            sid = json.loads(opened[1:])["sid"]
            s2c_recv.close()  # the client's receiving side is gone; its sending side is not
            server.sessions[sid].send_nowait("into the void")
            assert await events.wait_disconnect(sid) in ("transport error", "transport close")
            await wait_until(lambda: server.connections == 1)
            assert sid not in server.sessions
            await bystander.finish()


async def test_cve_2022_21676_class_a_reset_while_the_server_writes() -> None:
    """CVE-2022-21676 (class), on real TCP: the client resets its WebSocket while the server
    is writing a large burst to it. Only that connection fails."""
    server = EngineServer()
    disconnects: list[str] = []

    @server.on("message")
    async def burst(sock: EngineSocket, data: str | bytes) -> None:
        if data == "burst":
            for _ in range(100):
                await sock.send("x" * 100_000)
        else:
            await sock.send(data)

    @server.on("disconnect")
    async def gone(sock: EngineSocket, reason: str) -> None:
        disconnects.append(reason)

    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            client, _ = await open_engine_ws(port)
            await client.send_text("4burst")
            await trio.sleep(0.2)
            stream = client.stream
            assert isinstance(stream, trio.SocketStream)
            await reset(stream)
            await wait_until(lambda: bool(disconnects))
            await trio.sleep(0.3)
            await bystander.finish()


UNHANDLED_UPGRADES = {
    "other-path-websocket": ("/other", ["Upgrade: websocket"]),
    "other-path-h2c": ("/other", ["Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]),
    "engine-path-proto-transport": ("/engine.io/?EIO=4&transport=__proto__", []),
    "engine-path-unknown-sid": ("/engine.io/?EIO=4&transport=websocket&sid=nope", []),
    "engine-path-new-session": (WS_TARGET, []),
}


@pytest.mark.parametrize("case", list(UNHANDLED_UPGRADES))
async def test_cve_2022_41940_an_upgrade_whose_peer_resets(case: str) -> None:
    """CVE-2022-41940: an Upgrade request (another path, an HTTP/2 upgrade, a refused or an
    accepted WebSocket) whose peer resets the connection right away. First the same request
    answered normally (404 / 400 / 101), then 20 resets: the server must go on."""
    target, extra = UNHANDLED_UPGRADES[case]
    server, _ = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            host = f"127.0.0.1:{port}"
            request = upgrade_head(target, host, *extra)
            if "h2c" in case:
                request = request.replace(b"Upgrade: websocket\r\n", b"", 1)
            answer = await raw_request(port, request, wait=2.0, until_close=False)
            expected = {"other": 404, "engine-path-proto": 400, "engine-path-unk": 400}
            status = next((s for prefix, s in expected.items() if case.startswith(prefix)), 101)
            assert answer.status == status, answer
            for _ in range(20):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await stream.send_all(request)
                await reset(stream)
            await trio.sleep(0.3)
            await bystander.finish()


@pytest.mark.parametrize(
    "name", ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"]
)
async def test_cve_2023_31125_prototype_names_as_transport(name: str) -> None:
    """CVE-2023-31125: ``?transport=__proto__`` (and other prototype names) on an upgrade,
    with and without a sid, and on polling: 400 ``{"code":0,"message":"Transport unknown"}``.
    The live session named by the sid is untouched."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                for query in ({}, {"sid": sid}):
                    with pytest.raises(WsRejected) as info:
                        await WsClient.open(port, eio_target(transport=name, **query))
                    assert info.value.status == 400
                    assert json.loads(info.value.body) == {
                        "code": 0,
                        "message": "Transport unknown",
                    }
                    response = await client.get(eio_target(transport=name, **query))
                    assert response.status == 400
                    assert response.json() == {"code": 0, "message": "Transport unknown"}
                state = server.sessions[sid].state
                assert state.is_open and not state.upgrading
                assert server.sessions[sid].transport == "polling"
                assert (await eio_post(client, sid, "4fine")).body == b"ok"
                assert (await eio_poll(client, sid)).body == b"4fine"
            assert events.disconnects == {}
            await bystander.finish()


async def test_cve_2026_59725_octet_stream_post_is_answered_without_its_body() -> None:
    """CVE-2026-59725: an ``application/octet-stream`` POST after the handshake (v3's binary
    framing) is answered 400 ``{"code":3,...}`` at once, even while its (chunked) body never
    ends; the session closes visibly ("transport error"); the server goes on."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            async with await HttpClient.open(port) as client:
                await client.send_head(
                    "POST",
                    eio_target(sid=sid),
                    headers=[
                        ("Content-Type", "application/octet-stream"),
                        ("Transfer-Encoding", "chunked"),
                    ],
                )
                await client.send_body(b"\x04\x01\x02", end=False)  # and never the end
                response = await client.read_response()
                assert response.status == 400
                assert response.json()["code"] == 3
            assert await events.wait_disconnect(sid) == "transport error"
            assert events.messages == []
            await bystander.finish()


async def start_pending_post(port: int, sid: str, first: bytes, length: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(
        f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
        + first
    )
    return stream


async def test_911d0e35_overlapping_post_is_400_not_500_and_closes_the_session() -> None:
    """engine.io 911d0e35: a second POST while one is pending was answered 500. minisock: 400
    ``{"code":3,...}``, the session closes ("transport error"); every request is answered."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            state = server.sessions[sid].state
            first = await start_pending_post(port, sid, b"4first", 12)
            await wait_until(lambda: bool(state._polling_post))
            async with await HttpClient.open(port) as client:
                second = await eio_post(client, sid, "4second")
                assert second.status == 400
                assert second.json()["code"] == 3
            assert await events.wait_disconnect(sid) == "transport error"
            await first.send_all(b"\x1e4last")
            data, _ = await read_all(first, 2.0, until_close=False)
            await first.aclose()
            assert parse_answer(data, False).status in (200, 400)  # answered, not left hanging
            assert "second" not in events.messages_of(sid)
            await bystander.finish()


async def test_911d0e35_a_post_answered_ok_lost_nothing() -> None:
    """engine.io 911d0e35, stricter: the first of two overlapping POSTs completes after the
    overlap closed the session. If it is answered 200 "ok", its packets must have reached the
    application; otherwise it must be refused (4xx). "ok" with the packets dropped loses what
    minisock said it accepted."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            state = server.sessions[sid].state
            first = await start_pending_post(port, sid, b"4first", 12)
            await wait_until(lambda: bool(state._polling_post))
            async with await HttpClient.open(port) as client:
                assert (await eio_post(client, sid, "4second")).status == 400
            await first.send_all(b"\x1e4last")
            data, _ = await read_all(first, 2.0, until_close=False)
            await first.aclose()
            answer = parse_answer(data, False)
            if answer.status == 200:
                assert events.messages_of(sid) == ["first", "last"], (
                    f"answered 200 {answer.body!r} but delivered {events.messages_of(sid)!r}"
                )
            else:
                assert answer.status is not None and 400 <= answer.status < 500


async def test_688e404b_caps_on_sessions_and_connections_answer_503() -> None:
    """engine.io bot PR 688e404b / D04: engine.io has no cap on sessions. minisock caps
    sessions (``max_sessions``) and connections (``max_connections``): over the cap the answer
    is 503 ``{"code":3,...}``, on polling and on a WebSocket handshake; room comes back when a
    session or connection ends."""
    server, _ = echo_engine(max_sessions=3, max_connections=4)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)  # session 1, connection 1
            async with await HttpClient.open(port) as client:  # connection 2
                sid2, _ = await eio_handshake(client)
                await eio_handshake(client)  # session 3
                full = await client.get(eio_target())
                assert full.status == 503
                assert full.json()["code"] == 3
                with pytest.raises(WsRejected) as info:
                    await WsClient.open(port, WS_TARGET)
                assert info.value.status == 503
                assert len(server.sessions) == 3
                assert (await eio_post(client, sid2, "1")).body == b"ok"  # the client closes one
                await wait_until(lambda: len(server.sessions) == 2)
                await eio_handshake(client)  # room again
            await wait_until(lambda: server.connections == 1)
            keep = [await HttpClient.open(port) for _ in range(3)]  # connections 2..4
            for client in keep:
                assert (await client.get("/nothing-here")).status == 404
            over = await raw_request(
                port, f"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            )
            assert_refusal(over, 503, 3)
            assert over.closed
            await keep[0].aclose()
            await wait_until(lambda: server.connections == 3)
            again = await raw_request(
                port,
                f"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Connection: close\r\n\r\n".encode(),
            )
            assert again.status == 404
            for client in keep[1:]:
                await client.aclose()
            await bystander.finish()


# ################################################################ §1 socket.io


async def test_cve_2017_16031_session_ids_are_unguessable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2017-16031: socket ids from ``Math.random``. Engine.IO sids (the bearer credential)
    and Socket.IO sids come from ``secrets``: at least 20 base64url characters, unique, the
    Socket.IO sid unrelated to the Engine.IO one, and their bits balanced."""
    app = SioApp()
    eio_sids: list[str] = []
    sio_sids: list[str] = []
    async with serving_sio(app):
        for _ in range(100):
            client, engine = await sio_ws(app)
            eio_sids.append(engine.eio_sid)
            sio_sids.append(await join(client))
            await client.aclose()
    for eio_sid, sio_sid in zip(eio_sids, sio_sids, strict=True):
        for sid in (eio_sid, sio_sid):
            assert len(sid) >= 20
            assert set(sid) <= set(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            )
        assert eio_sid[:8] not in sio_sid
    assert len(set(eio_sids)) == len(set(sio_sids)) == 100
    raw = b"".join(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)) for s in eio_sids + sio_sids)
    ones = sum(bin(byte).count("1") for byte in raw) / (8 * len(raw))
    assert 0.47 < ones < 0.53, ones


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://127.0.0.1:{port}.evil.example",
        "http://127.0.0.1:{port}@evil.example",
        "http://evil.example/http://127.0.0.1:{port}",
        "http://127.0.0.1:{other}",
        "http://localhost:{port}",
        "chrome-extension://abcdefghijklmnop",
    ],
)
async def test_cve_2020_28481_and_python_engineio_7548f70_cross_site_origins_are_refused(
    origin: str,
) -> None:
    """CVE-2020-28481 (CORS on by default) and python-engineio 7548f70 (cross-site WebSocket
    hijacking: browsers skip CORS on WebSockets). With CORS not configured, Origins that only
    look like the server's are refused 403 ``{"code":4,...}`` on the WebSocket handshake and on
    polling, and no response carries ``Access-Control-Allow-Origin``."""
    server, _ = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            value = origin.format(port=port, other=port + 1)
            with pytest.raises(WsRejected) as info:
                await WsClient.open(port, WS_TARGET, [("Origin", value)])
            assert info.value.status == 403
            assert json.loads(info.value.body)["code"] == 4
            names = {name.lower() for name, _ in info.value.headers}
            assert b"access-control-allow-origin" not in names
            async with await HttpClient.open(port) as client:
                response = await client.get(eio_target(), headers=[("Origin", value)])
                assert response.status == 403
                assert response.json()["code"] == 4
                assert response.header("access-control-allow-origin") is None
            assert len(server.sessions) == 1
            await bystander.finish()


async def test_cve_2024_38355_an_event_named_error_is_just_an_event(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2024-38355: a client emitting ``error`` crashed the reference (EventEmitter throws
    on an unhandled ``error``). In minisock ``error`` and prototype-ish names are plain events:
    they reach the catch-all, an ack asked for is answered, and the session goes on."""
    app = SioApp()
    async with serving_sio(app):
        client, engine = await sio_ws(app)
        await join(client)
        names = ["error", "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]
        for name in names:
            await client.send_text(f'42["{name}",{{"message":"boom"}}]')
        await client.send_text('427["error"]')
        assert await recv(client) == "437[]"
        await settle()
        assert [event for event, _ in app.calls] == [*names, "error"]
        assert not engine.closed
        await client.send_text('428["echo","after"]')
        assert await recv(client) == '438["after"]'
        await client.aclose()


@pytest.mark.parametrize(
    "name",
    ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"],
)
async def test_cve_2024_38355_reserved_event_names_close_only_that_connection(
    autojump_clock: trio.testing.MockClock, name: str
) -> None:
    """CVE-2024-38355 / CVE-2023-32695 (d9db4737, reserved names): an event carrying a reserved
    name is a decode error: that connection closes ("parse error"), no handler sees it."""
    app = SioApp()
    async with serving_sio(app):
        await assert_only_this_connection_closes(app, [f'42["{name}",1]'])


DECODE_INPUTS = {
    "long-string-argument": '2["x","' + "a" * 1_000_000 + '"]',
    "long-ack-id": "2" + "9" * 1_000_000 + '["x"]',
    "long-namespace": "2/" + "n" * 1_000_000 + ',["x"]',
    "long-attachment-count": "5" + "1" * 1_000_000 + '-["x"]',
    "deep-brackets": '2["x",' + "[" * 500_000 + "]" * 500_000 + "]",
    "many-small-arguments": '2["x"' + ",1" * 500_000 + "]",
}


@pytest.mark.parametrize("shape", list(DECODE_INPUTS))
def test_cve_2020_36049_decoding_a_megabyte_is_linear(shape: str) -> None:
    """CVE-2020-36049: quadratic string building made ~100 MB packets fatal. Each 1 MB shape
    is decoded or refused within 2 s (a generous DoS guard, not a performance test)."""
    text = DECODE_INPUTS[shape]
    start = time.perf_counter()
    try:
        Decoder().receive(text)
    except SocketIOProtocolError:
        pass
    assert time.perf_counter() - start < 2.0


async def test_cve_2020_36049_a_megabyte_event_over_the_wire(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2020-36049, end to end: a ~1 MB ``2["echo","aaaa…"]`` is decoded, handled and
    acknowledged in bounded time; a ~1 MB v3-style ``99999991:4222…`` polling body is refused
    400 in bounded time."""
    app = SioApp(max_payload=2_000_000)
    payload = "a" * 1_000_000
    with trio.fail_after(LIMIT):
        async with running_server(app.engine, in_memory=True):
            bystander = await Bystander.memory(app.engine, sio=True)
            client, _ = await sio_ws(app)
            await join(client)
            start = time.perf_counter()
            await client.send_text(f'421["echo","{payload}"]')
            assert await recv(client) == f'431["{payload}"]'
            assert time.perf_counter() - start < 2.0
            async with HttpClient(memory_connection(app.engine)) as http:
                sid, _ = await eio_handshake(http, PATH)
                start = time.perf_counter()
                response = await eio_post(http, sid, "99999991:4" + "2" * 1_000_000, PATH)
                assert response.status == 400
                assert time.perf_counter() - start < 2.0
            await client.aclose()
            await bystander.finish()


@pytest.mark.parametrize(
    "num", ['"toString"', '"__proto__"', '"constructor"', "1", "-1", "0.0", "true", "null", None]
)
async def test_cve_2022_2421_placeholders_must_name_a_real_attachment(
    autojump_clock: trio.testing.MockClock, num: str | None
) -> None:
    """CVE-2022-2421: placeholders whose ``num`` is not an integer in [0, attachments) (a
    prototype key, out of range, a float or a bool, missing) are "illegal attachments": the
    connection closes, no handler sees a reference to anything."""
    app = SioApp()
    placeholder = '{"_placeholder":true' + ("" if num is None else f',"num":{num}') + "}"
    async with serving_sio(app):
        await assert_only_this_connection_closes(app, [f'451-["x",{placeholder}]', b"\x01"])


@pytest.mark.parametrize(
    "packet",
    ['42[{"toString":"foo"}]', '42[{"__proto__":{}}]', "42[]", "42[null]", "42[1]", '42[["x"]]'],
)
async def test_cve_2023_32695_and_1b901de_event_names_must_be_strings(
    autojump_clock: trio.testing.MockClock, packet: str
) -> None:
    """CVE-2023-32695 (``2[{"toString":"foo"}]``) and python-socketio 1b901de (``42[]``): an
    event without a string name is a decode error: that connection closes, nothing crashes."""
    app = SioApp()
    async with serving_sio(app):
        await assert_only_this_connection_closes(app, [packet])


@pytest.mark.parametrize(
    "packet",
    [
        "4511-["
        + ",".join(['"x"'] + [f'{{"_placeholder":true,"num":{i}}}' for i in range(11)])
        + "]",
        '45100000000-["x"]',
        '4599999999999999999999999-["x"]',
        "4611-1[" + P0 + "]",
    ],
    ids=["11", "10-digits", "24-digits", "binary-ack-11"],
)
async def test_cve_2026_33151_too_many_attachments_close_the_connection_at_once(
    autojump_clock: trio.testing.MockClock, packet: str
) -> None:
    """CVE-2026-33151: ``5<huge>-[…]`` then binary frames made the reference buffer without
    bound. Over maxAttachments (10) the connection closes on the header alone, before any
    attachment is sent."""
    app = SioApp()
    async with serving_sio(app):
        await assert_only_this_connection_closes(app, [packet])


# ################################################################ §1 ws


async def test_cve_2016_10518_pongs_echo_exactly_the_ping_payload() -> None:
    """CVE-2016-10518 (``ping(number)`` leaked uninitialised memory) and CVE-2026-45736
    (uninitialised memory disclosure): every pong carries exactly its ping's payload, for every
    control-frame length; a 126-byte ping is a protocol error (1002)."""
    server, _ = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            client, _ = await open_engine_ws(port)
            for length in (0, 1, 2, 3, 4, 63, 64, 100, 125):
                payload = bytes((i * 37 + length) % 256 for i in range(length))
                await client.ping(payload)
                assert await client.receive_pong() == payload
            await client.send_raw(ws.encode_client_frame(ws.Opcode.PING, b"p" * 126, MASK))
            assert (await client.wait_closed()).code == 1002
            await client.aclose()


@pytest.mark.parametrize(
    ("declared", "code"), [(1 << 40, 1009), (1 << 63, 1002)], ids=["one-terabyte", "msb-set"]
)
async def test_cve_2016_10542_a_huge_frame_header_is_refused_before_its_payload(
    declared: int, code: int
) -> None:
    """CVE-2016-10542: no payload cap. A frame header declaring a terabyte closes with 1009
    (1002 when the 64-bit length's top bit is set) at once, from the header alone: the payload
    is never awaited nor buffered."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            client, sid = await open_engine_ws(port)
            await client.send_raw(bytes((0x82, 0x80 | 127)) + struct.pack("!Q", declared) + MASK)
            assert (await client.wait_closed()).code == code
            assert await events.wait_disconnect(sid) == "transport error"
            await client.aclose()
            await bystander.finish()


async def test_ghsa_5v72_xg48_5rpm_extension_offers_with_prototype_keys_are_ignored() -> None:
    """GHSA-5v72-xg48-5rpm: prototype keys in ``Sec-WebSocket-Extensions`` crashed the parser.
    minisock negotiates no extension: the offer is ignored, the 101 carries no extension, and
    the session works."""
    server, _ = echo_engine()
    offers = "constructor; __proto__=1, toString, hasOwnProperty; x=y, permessage-deflate"
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            answer = await raw_request(
                port,
                upgrade_head(WS_TARGET, f"127.0.0.1:{port}", f"Sec-WebSocket-Extensions: {offers}"),
                until_close=False,
            )
            assert answer.status == 101
            assert "sec-websocket-extensions" not in answer.headers
            async with await WsClient.open(
                port, WS_TARGET, [("Sec-WebSocket-Extensions", offers)]
            ) as client:
                assert str(await client.receive()).startswith("0")
                await client.send_text("4works")
                assert await client.receive() == "4works"


async def test_cve_2021_32640_many_spaces_in_handshake_headers_are_linear() -> None:
    """CVE-2021-32640: ``Sec-WebSocket-Protocol`` with many spaces was a ReDoS. minisock
    ignores subprotocols and splits token lists linearly: 12 000 spaces in the header (and
    comma-heavy Connection) is answered 101 in well under a second, no subprotocol."""
    server, _ = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            spaces = " " * 6_000
            start = time.perf_counter()
            answer = await raw_request(
                port,
                upgrade_head(
                    WS_TARGET,
                    f"127.0.0.1:{port}",
                    f"Sec-WebSocket-Protocol: a{spaces}b,{spaces},c",
                ).replace(b"Connection: Upgrade", b"Connection: " + b", " * 1000 + b"Upgrade"),
                until_close=False,
            )
            assert answer.status == 101
            assert time.perf_counter() - start < 1.5
            assert "sec-websocket-protocol" not in answer.headers


@pytest.mark.parametrize(("fillers", "status"), [(95, 101), (150, 431)])
async def test_cve_2024_37890_the_websocket_key_is_never_silently_dropped(
    fillers: int, status: int
) -> None:
    """CVE-2024-37890: more headers than ``maxHeadersCount`` silently dropped
    ``Sec-WebSocket-Key`` and crashed. minisock counts headers itself: up to ``max_headers``
    (100) the key is seen and the upgrade succeeds; over it the request is refused 431 and the
    connection closed."""
    server, _ = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            extra = [f"X-Filler-{i}: {i}" for i in range(fillers)]
            answer = await raw_request(
                port,
                upgrade_head(WS_TARGET, f"127.0.0.1:{port}", *extra),
                until_close=status == 431,  # a refusal also closes; a 101 stays open
            )
            assert answer.status == status
            if status == 431:
                assert_refusal(answer, 431)
                assert answer.closed
            await bystander.finish()


@pytest.mark.parametrize("flood", ["one-byte-fragments", "empty-fragments", "pings-in-between"])
async def test_cve_2026_48779_and_d12_fragment_floods_are_bounded(flood: str) -> None:
    """CVE-2026-48779 / D12 (ws #2331: a fragment count alone still amplifies): a message cut
    into tiny fragments is bounded by the bytes it holds (1-byte fragments summing over
    maxPayload) and by its fragment count (empty fragments); control frames between fragments
    change nothing. Each closes with 1009, delivers nothing, and the server goes on."""
    server, events = echo_engine(max_payload=200)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            client, sid = await open_engine_ws(port)
            frames = [ws.encode_client_frame(ws.Opcode.TEXT, b"4", MASK, fin=False)]
            if flood == "one-byte-fragments":
                frames += [ws.encode_client_frame(0, b"a", MASK, fin=False)] * 300
            elif flood == "empty-fragments":
                frames += [ws.encode_client_frame(0, b"", MASK, fin=False)] * 5000
            else:
                for _ in range(300):
                    frames.append(ws.encode_client_frame(ws.Opcode.PING, b"", MASK))
                    frames.append(ws.encode_client_frame(0, b"a", MASK, fin=False))
            try:
                await client.send_raw(b"".join(frames))
            except trio.BrokenResourceError:
                pass
            assert (await client.wait_closed()).code == 1009
            assert await events.wait_disconnect(sid) == "transport error"
            assert events.messages_of(sid) == []
            await client.aclose()
            await bystander.finish()


# ################################################################ §1 python-engineio/socketio


async def test_cve_2026_48802_ping_and_pong_floods_start_no_tasks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2026-48802: every pong scheduled a new ping task. Here 2 000 Engine.IO pongs, 2 000
    WebSocket pings and 500 Socket.IO events cost no task and no timer entry each: the task
    count and the timer heap stay where they were (the handlers, which do not wait, run in
    the reader); every ping gets its pong."""
    app = SioApp(max_payload=1_000_000)
    async with serving_sio(app):
        client, _ = await sio_ws(app)
        await join(client)
        await settle()
        tasks = count_tasks()
        heap = len(app.engine._timers)
        most = tasks
        for i in range(2000):
            await client.send_text("3")
            await client.ping(b"p")
            if i % 100 == 0:
                most = max(most, count_tasks())
        for i in range(500):
            await client.send_text(f'42["flood",{i}]')
            if i % 50 == 0:
                most = max(most, count_tasks())
        await settle()
        assert most == tasks, (tasks, most)
        assert count_tasks() == tasks
        assert len(app.engine._timers) <= heap + 1
        for _ in range(2000):
            assert await client.receive_pong() == b"p"
        assert len(app.calls) == 500
        await client.aclose()


@pytest.mark.parametrize("mode", ["noticed", "same-instant"])
async def test_python_engineio_an_abandoned_get_never_swallows_the_next_message(
    autojump_clock: trio.testing.MockClock, mode: str
) -> None:
    """python-engineio 4.15.1: a GET abandoned by the client still received the next message,
    which was lost. Here a GET is held, the client closes its socket, then the application
    sends. The next GET on the session must either receive that message, or the session must
    have closed visibly (400 on the next GET and a disconnect reported). ``same-instant``:
    the close and the send happen in the same scheduler step (in-memory streams), the case a
    watcher task alone cannot win."""
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(VLIMIT):
        async with running_server(server, in_memory=True):
            async with HttpClient(memory_connection(server)) as client:
                sid, _ = await eio_handshake(client)
            sock = server.sessions[sid]
            c2s_send, c2s_recv = trio.testing.memory_stream_one_way_pair()
            s2c_send, s2c_recv = trio.testing.memory_stream_one_way_pair()
            server.spawn(server.handle_connection, trio.StapledStream(s2c_send, c2s_recv))
            held = HttpClient(trio.StapledStream(c2s_send, s2c_recv))
            await held.send_head("GET", eio_target(sid=sid))
            await held.send_body(b"")
            await wait_until(lambda: sock.state.poll_pending)
            c2s_send.close()  # synchronous: nothing runs between these lines
            s2c_recv.close()
            if mode == "noticed":
                await trio.sleep(0.5)
            try:
                sock.send_nowait("the next message")
                refused = False
            except SessionClosedError:
                refused = True
            await trio.sleep(0.5)
            async with HttpClient(memory_connection(server)) as client:
                with trio.move_on_after(60):
                    response = await eio_poll(client, sid)
            if response.status == 200 and b"the next message" in response.body:
                assert not refused
            else:
                assert response.status == 400, (response.status, response.body)
                assert sid in events.disconnects, "the session ended without a disconnect"


@pytest.mark.parametrize(
    "body",
    [b"4caf\xe9", b"\x00\x01\xff\xfe", b"bAQID!!", b"4\xed\xa0\x80", b"4ok\x1e4\xc3"],
    ids=["latin1", "raw-binary", "bad-base64", "encoded-surrogate", "truncated-sequence"],
)
async def test_python_engineio_invalid_or_binary_post_bodies_are_refused_400(body: bytes) -> None:
    """python-engineio 4.15.1: invalid UTF-8 or binary POST bodies were answered 200 and
    dropped. minisock answers 400 ``{"code":3,...}``, delivers nothing, and closes the session
    visibly ("parse error")."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                response = await eio_post(client, sid, body)
                assert response.status == 400
                assert response.json()["code"] == 3
            assert await events.wait_disconnect(sid) == "parse error"
            assert events.messages_of(sid) == []
            await bystander.finish()


@pytest.mark.parametrize("where", ["before-connect", "unjoined-namespace"])
async def test_cve_2026_48804_binary_packets_of_unconnected_namespaces_are_refused_at_once(
    autojump_clock: trio.testing.MockClock, where: str
) -> None:
    """CVE-2026-48804 (python-socketio ca140fe): BINARY_EVENT on a namespace the client never
    joined buffered its attachments. The fix refuses such a packet at its header: the
    connection closes before any attachment is accepted (here a header announcing 10)."""
    app = SioApp()
    app.sio.of("/admin")
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(10))
    nsp = "" if where == "before-connect" else "/admin,"
    async with serving_sio(app):
        await assert_only_this_connection_closes(
            app,
            [f'4510-{nsp}["upload",{placeholders}]'],
            join_first=where != "before-connect",
            reasons=("parse error", "forced server close"),  # a decode or a state refusal
        )


async def test_cve_2026_48804_a_partial_binary_packet_is_purged_on_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """CVE-2026-48804: a partial binary packet followed by a disconnect left its attachments
    buffered. After the disconnect, the session's decoder holds nothing."""
    app = SioApp()
    async with serving_sio(app):
        client, engine = await sio_ws(app)
        sio_sid = await join(client)
        await client.send_text(f'452-["upload",{P0},{{"_placeholder":true,"num":1}}]')
        await client.send_bytes(b"A" * 100_000)  # one of two attachments
        await settle()
        decoder = engine.app.decoder
        assert decoder.awaiting_attachments
        await client.aclose()
        await wait_until(lambda: sio_sid in app.disconnects)
        await settle()
        assert not decoder.awaiting_attachments, "attachments still buffered after the disconnect"
        assert app.calls == []


def test_cve_2025_61765_and_d08_no_pickle_or_eval_anywhere() -> None:
    """CVE-2025-61765 (python-socketio unpickled queue messages) / D08: minisock never imports
    pickle-like deserialisers (nor ``random``, for ids) and never calls eval/exec/compile."""
    forbidden_modules = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "jsonpickle"}
    forbidden_modules |= {"yaml", "random"}
    forbidden_calls = {"eval", "exec", "compile", "__import__"}
    package = Path(minisock.__file__).parent
    files = sorted(package.rglob("*.py"))
    assert len(files) > 10
    found: list[str] = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            line = getattr(node, "lineno", 0)
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in forbidden_modules:
                    found.append(f"{path.name}:{line} imports {name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in forbidden_calls
            ):
                found.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr in {
                "PyJWKClient",
                "PyJWK",
                "PyJWKSet",
            }:
                found.append(f"{path.name}:{node.lineno} uses jwt.{node.attr}")
    assert found == []


# ################################################################ §1 PyJWT / jsonwebtoken


def hostile_tokens() -> dict[str, str]:
    now = int(time.time())
    return {
        "alg-none": hand_made({"alg": "none", "typ": "JWT"}, good_claims(), sig=""),
        "rs256-header-hmac-body": hand_made({"alg": "RS256", "typ": "JWT"}, good_claims()),
        "hs512": jwt.encode(good_claims(), SECRET, algorithm="HS512"),
        "substring-iss": hs256(good_claims(iss=ISSUER[:-1])),
        "unknown-crit": hs256(good_claims(), crit=["exp2"], exp2=1),
        "b64-false": hs256(good_claims(), b64=False, crit=["b64"]),
        "numeric-string-exp": hs256(good_claims(exp=str(now + 3600))),
        "bool-exp": hs256(good_claims(exp=True)),
    }


@pytest.mark.parametrize("kind", list(hostile_tokens()))
async def test_pyjwt_rows_hostile_tokens_are_refused_on_the_wire_and_in_connect_auth(
    kind: str,
) -> None:
    """PyJWT/jsonwebtoken rows over the wire (unit tests cover the verifier): alg confusion
    (CVE-2017-11424, CVE-2022-29217, jsonwebtoken CVE-2015-9235/2022-23540), a substring
    ``iss`` (CVE-2024-53861), an unknown ``crit`` (CVE-2026-32597, jsonwebtoken 9.0.3), the
    b64=false extension (GHSA-w7vc-732c-9m39), a numeric-string ``exp`` (PyJWT 2.15.1). In the
    Authorization header: 401 and no session. In the CONNECT payload (D11, same verifier):
    ``44{"message":"unauthorized",...}`` and no socket; the session may retry."""
    token = hostile_tokens()[kind]
    app = SioApp(auth=JWTAuth(JWTVerifier(SECRET, ISSUER, AUDIENCE), connect_auth=True))
    with trio.fail_after(LIMIT):
        async with running_server(app.engine, in_memory=True):
            async with HttpClient(memory_connection(app.engine)) as http:
                response = await http.get(
                    eio_target(PATH), headers=[("Authorization", f"Bearer {token}")]
                )
                assert response.status == 401
                assert response.header("www-authenticate") == 'Bearer error="invalid_token"'
                assert app.engine.sessions == {}
            client, engine = await sio_ws(app)
            await client.send_text("40" + json.dumps({"token": token}))
            refusal = await recv(client)
            assert isinstance(refusal, str) and refusal.startswith("44")
            assert json.loads(refusal[2:])["message"] == "unauthorized"
            assert app.connected == []
            assert not engine.closed
            await client.send_text("40" + json.dumps({"token": hs256(good_claims())}))
            assert str(await recv(client)).startswith("40{")
            assert len(app.connected) == 1
            await client.aclose()


@pytest.mark.parametrize(
    "key",
    [
        PEM_PUBLIC_KEY,
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA user@host",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDBwbqPg user@host",
    ],
    ids=["pem-public-key", "ssh-rsa", "ssh-ed25519"],
)
async def test_cve_2017_11424_and_cve_2022_29217_public_keys_are_refused_as_hmac_secrets(
    key: str,
) -> None:
    """CVE-2017-11424 / CVE-2022-29217: a public key (PEM or SSH) used as the HMAC secret lets
    anyone who knows it forge HS256 tokens. The promise: such keys are *refused* as HMAC
    secrets. Either ``JWTVerifier`` refuses the configuration (ValueError), or every token
    is refused with a TokenError: 401 on the wire, and the server goes on."""
    try:
        verifier = JWTVerifier(key, ISSUER, AUDIENCE)
    except ValueError:
        return  # refused when configured: the best outcome
    forged = hs256(good_claims(), key=key)
    app = SioApp(auth=JWTAuth(verifier))
    with trio.fail_after(LIMIT):
        async with running_server(app.engine, in_memory=True):
            async with HttpClient(memory_connection(app.engine)) as http:
                response = await http.get(
                    eio_target(PATH), headers=[("Authorization", f"Bearer {forged}")]
                )
                assert response.status == 401
            async with HttpClient(memory_connection(app.engine)) as http:
                assert (await http.get("/nothing-here")).status == 404
    with pytest.raises(TokenError):
        verifier.verify(forged, time.time())


def test_cve_2025_45768_and_d06_a_weak_hmac_secret_is_never_silent() -> None:
    """CVE-2025-45768 / D06: short HMAC keys were accepted silently. A verifier with the how-to's
    8-byte demo secret ``Mys3cr3t`` warns (InsecureKeyLengthWarning) every time it verifies; a
    32-byte secret does not."""
    claims = good_claims()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak_token = jwt.encode(claims, "Mys3cr3t", algorithm="HS256")
    with pytest.warns(InsecureKeyLengthWarning):
        JWTVerifier("Mys3cr3t", ISSUER, AUDIENCE).verify(weak_token, time.time())
    strong = "s" * 32
    strong_token = jwt.encode(claims, strong, algorithm="HS256")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureKeyLengthWarning)
        JWTVerifier(strong, ISSUER, AUDIENCE).verify(strong_token, time.time())


@pytest.mark.parametrize(
    "payload",
    ['"{token}"', '["{token}"]', "null", "-123", '"Bearer {token}"'],
    ids=["string", "array", "null", "number", "bearer-string"],
)
async def test_d11_a_connect_auth_payload_that_is_not_an_object_is_refused(
    autojump_clock: trio.testing.MockClock, payload: str
) -> None:
    """D11 (and python-socketio accepting a string CONNECT payload): with ``connect_auth``, a
    CONNECT whose payload is not an object (even one holding a valid token) is refused: the
    connection closes ("parse error"), no socket connects, and the server goes on."""
    token = hs256(good_claims())
    app = SioApp(auth=JWTAuth(JWTVerifier(SECRET, ISSUER, AUDIENCE), connect_auth=True))
    with trio.fail_after(VLIMIT):
        async with running_server(app.engine, in_memory=True):
            client, engine = await sio_ws(app)
            await client.send_text("40" + payload.replace("{token}", token))
            seen, closed = await until_closed(client, within=5.0)
            assert not [m for m in seen if str(m).startswith("40")]
            assert closed.code in SIO_REFUSAL_CODES
            assert app.connected == []
            await wait_until(lambda: engine.eio_sid not in app.engine.sessions)
            other, _ = await sio_ws(app)
            await join(other, payload=json.dumps({"token": token}))
            assert len(app.connected) == 1
            await other.aclose()


# ################################################################ §1 h11


def framing_cases(port: int, sid: str) -> dict[str, tuple[bytes, int]]:
    host = f"Host: 127.0.0.1:{port}\r\n"
    smuggled = f"GET {eio_target()} HTTP/1.1\r\n{host}\r\n"
    post = f"POST {eio_target(sid=sid)} HTTP/1.1\r\n{host}"
    return {
        "64KiB-header": (
            f"GET {eio_target()} HTTP/1.1\r\n{host}X-Big: {'b' * 65536}\r\n\r\n".encode(),
            431,
        ),
        "100KiB-url": (
            f"GET {eio_target()}&x={'u' * 100_000} HTTP/1.1\r\n{host}\r\n".encode(),
            414,
        ),
        "9KiB-url": (f"GET {eio_target()}&x={'u' * 9000} HTTP/1.1\r\n{host}\r\n".encode(), 414),
        "150-headers": (
            (f"GET {eio_target()} HTTP/1.1\r\n{host}" + "X-H: v\r\n" * 150 + "\r\n").encode(),
            431,
        ),
        "http-9.9": (f"GET {eio_target()} HTTP/9.9\r\n{host}\r\n".encode(), 505),
        "http-2.0": (f"GET {eio_target()} HTTP/2.0\r\n{host}\r\n".encode(), 505),
        "cl-and-te": (
            (
                f"{post}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                f"6\r\n4hello\r\n0\r\n\r\n{smuggled}"
            ).encode(),
            400,
        ),
        "cl-10^21": (f"{post}Content-Length: {10**21}\r\n\r\n4x".encode(), 400),
        "cl-5000-digits": (f"{post}Content-Length: {'9' * 5000}\r\n\r\n4x".encode(), 400),
        "missing-host": (f"GET {eio_target()} HTTP/1.1\r\n\r\n".encode(), 400),
        "illegal-request-line": (f"GET {eio_target()} HTTP/1.1 x\r\n{host}\r\n".encode(), 400),
        "illegal-header-line": (
            f"GET {eio_target()} HTTP/1.1\r\n{host}Bad : x\r\n\r\n".encode(),
            400,
        ),
    }


FRAMING_IDS = list(framing_cases(0, "x"))


@pytest.mark.parametrize("case", FRAMING_IDS)
async def test_h11_rows_and_d09_malformed_heads_get_one_answer_then_close(case: str) -> None:
    """h11 rows (CVE-2025-43859 family; h11 0.15.0 Content-Length ≥ 10^21; 64 KiB header or
    100 KiB URL in one read; HTTP/9.9; CL together with TE) and D09: minisock's own limits
    answer 431/414/505/400 with a JSON reason and ``Connection: close``, then close; whatever
    followed on the connection (a smuggled request) is never answered."""
    server, events = echo_engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            bystander = await Bystander.tcp(port)
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            request, status = framing_cases(port, sid)[case]
            answer = await raw_request(port, request)
            assert_refusal(answer, status)
            assert answer.headers.get("connection") == "close"
            assert answer.closed
            assert answer.rest == b"", "a second response: the stream was read past the error"
            assert len(server.sessions) == 2  # the bystander's and sid: nothing smuggled opened
            assert events.messages_of(sid) == []
            await bystander.finish()


# ################################################################ §1 seen with hostile input


def many_args(count: int, event: str = "anything") -> str:
    return f'42["{event}"' + ",1" * count + "]"


@pytest.mark.parametrize(
    "packet",
    [many_args(200_000), many_args(50_000, "echo"), '42["echo",' + "[" * 5000 + "]" * 5000 + "]"],
    ids=["200000-args", "50000-args-to-a-rest-handler", "5000-deep-to-an-echo-handler"],
)
async def test_socketio_484_crash_packets_are_refused_at_decode(
    autojump_clock: trio.testing.MockClock, packet: str
) -> None:
    """socket.io 4.8.4 (seen with hostile input, a single packet under 1 MB killed Node):
    200 000 arguments (~400 KB), 50 000 arguments to a rest-parameter handler, a 5 000-deep
    array for an echo handler to re-emit. minisock's decoder refuses each (argument count,
    nesting depth): that connection closes, no handler runs, the server goes on."""
    assert len(packet) < 1_000_000
    app = SioApp()
    async with serving_sio(app):
        await assert_only_this_connection_closes(app, [packet])


@pytest.mark.parametrize(
    "how", ["emit", "broadcast", "ack-deep", "ack-unserializable", "connect-emit"]
)
async def test_d01_an_outgoing_packet_that_cannot_be_encoded_stays_in_its_session(
    autojump_clock: trio.testing.MockClock, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """D01 / socket.io 4.8.4 (c): the application itself emits a 5 000-deep structure (or
    returns one, or a set, as an ack). The encoder refuses it on every Python version (the
    outgoing depth bound, 256, not the interpreter's recursion limit: 3.13 alone would encode
    5 000 levels) and the error is contained: it is logged, nothing deep is sent, the client
    gets its answer (an empty ack, or a refused namespace), the other sessions are served."""
    app = SioApp()
    deep = deep_list(5000)
    sio = app.sio

    @sio.on("make")
    async def make(socket: Socket) -> Any:
        if how == "emit":
            await socket.emit("deep", deep)
        elif how == "broadcast":
            await sio.emit("deep", deep)
        elif how == "ack-deep":
            return deep
        elif how == "ack-unserializable":
            return {1, 2, 3}
        return None

    if how == "connect-emit":

        @sio.of("/deep").on("connect")
        async def connect_deep(socket: Socket, auth: dict[str, Any]) -> None:
            await socket.emit("deep", deep)

    with caplog.at_level(logging.ERROR, logger="minisock"):
        async with serving_sio(app) as bystander:
            client, _ = await sio_ws(app)
            await join(client)
            if how == "connect-emit":
                await client.send_text("40/deep,")
            else:
                await client.send_text('421["make"]')
            await settle()
            await bystander.check()
            answer = await recv(client)
            await client.aclose()
    if how == "connect-emit":
        assert answer == '44/deep,{"message":"Internal server error"}', answer
    else:
        assert answer == "431[]", answer  # the ack, and nothing before it
    failures = [record.exc_info[1] for record in caplog.records if record.exc_info]
    expected = TypeError if how == "ack-unserializable" else PayloadTooDeepError
    assert failures, "the failure was not logged"
    assert all(isinstance(failure, expected) for failure in failures), failures


# ################################################################ §5 design rows


async def test_d02_a_trickled_head_is_cut_at_head_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """D02 (slowloris): a request head sent one byte every 0.1 s never completes within
    ``head_timeout`` (2 s): the connection is closed about then, nothing is served, and the
    server goes on."""
    server, _ = echo_engine(head_timeout=2.0, body_timeout=1.0)
    head = f"GET {eio_target()} HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 200}\r\n\r\n".encode()
    with trio.fail_after(VLIMIT):
        async with running_server(server, in_memory=True):
            bystander = await Bystander.memory(server)
            client = memory_connection(server)
            sent = 0

            async def trickle() -> None:
                nonlocal sent
                for byte in head:
                    try:
                        await client.send_all(bytes((byte,)))
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return
                    sent += 1
                    await trio.sleep(0.1)

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trickle)
                data, closed = await read_all(client, 60.0)
                cut_after = trio.current_time() - start
                nursery.cancel_scope.cancel()
            assert closed
            assert not data.startswith(b"HTTP/1.1 2"), data
            assert 2.0 <= cut_after <= 3.5, cut_after
            assert sent < len(head)
            assert len(server.sessions) == 1  # the bystander's
            await bystander.finish()


async def test_d02_a_body_idle_past_body_timeout_is_cut(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """D02 (slowloris on the body): a body whose gaps stay under ``body_timeout`` (1 s) is
    read to the end and delivered; one that goes idle longer is cut about ``body_timeout``
    after its last byte, with nothing delivered, and the session and the server go on."""
    server, events = echo_engine(head_timeout=2.0, body_timeout=1.0)
    with trio.fail_after(VLIMIT):
        async with running_server(server, in_memory=True):
            bystander = await Bystander.memory(server)
            async with HttpClient(memory_connection(server)) as client:
                sid, _ = await eio_handshake(client)
            body = b"4" + b"s" * 39
            async with HttpClient(memory_connection(server)) as slow:
                await slow.send_head("POST", eio_target(sid=sid), body_length=len(body))
                for i in range(0, len(body), 5):
                    await trio.sleep(0.8)
                    await slow.send_body(body[i : i + 5], end=i + 5 >= len(body))
                assert (await slow.read_response()).body == b"ok"
            assert events.messages_of(sid) == ["s" * 39]
            stalled = HttpClient(memory_connection(server))
            await stalled.send_head("POST", eio_target(sid=sid), body_length=100)
            await stalled.send_body(b"4stalled", end=False)
            last_byte = trio.current_time()
            data, closed = await read_all(stalled.stream, 30.0)
            assert closed
            assert 1.0 <= trio.current_time() - last_byte <= 2.5
            assert not data.startswith(b"HTTP/1.1 2"), data
            await stalled.aclose()
            assert events.messages_of(sid) == ["s" * 39]
            async with HttpClient(memory_connection(server)) as client:
                assert (await eio_post(client, sid, "4after")).body == b"ok"
            assert events.messages_of(sid) == ["s" * 39, "after"]
            await bystander.finish()


async def test_d07_tokens_and_sids_never_reach_the_logs_even_on_error_paths(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """D07 (RFC 6750 §2.3, §5.3): neither tokens nor Engine.IO sids appear in any log record,
    with every logger at DEBUG (so the wire tracer is on and aliases sids), over a normal flow
    *and* the error paths: a malformed request line carrying a sid, malformed Authorization
    header lines, an over-long URL carrying both, a WebSocket protocol error, a CONNECT
    payload that is a bare token, and a forged token in CONNECT ``auth``."""
    caplog.set_level(logging.DEBUG)
    token = hs256(good_claims(sub="logged-in"))
    forged = hs256(good_claims(sub="forged"), key="f" * 64)
    app = SioApp(auth=JWTAuth(JWTVerifier(SECRET, ISSUER, AUDIENCE), connect_auth=True))
    sids: list[str] = []
    with trio.fail_after(LIMIT):
        async with running_server(app.engine) as port:
            host = f"Host: 127.0.0.1:{port}\r\n"
            async with await HttpClient.open(port) as http:
                sid, _ = await eio_handshake(
                    http, PATH, headers=[("Authorization", f"Bearer {token}")]
                )
                sids.append(sid)
                assert (await eio_post(http, sid, '40\x1e42["echo","polled"]', PATH)).body == b"ok"
                await eio_poll(http, sid, PATH)
            target = eio_target(PATH, sid=sid)
            handshake = f"GET {eio_target(PATH)} HTTP/1.1\r\n{host}"
            bad_requests = [
                f"GET {target} HTTP/1.1 junk\r\n{host}\r\n",
                f"{handshake}Authorization : Bearer {token}\r\n\r\n",
                f"{handshake}Authorization: Bearer {token}\x01\r\n\r\n",
                f"GET {target}&access_token={token}&pad={'p' * 9000} HTTP/1.1\r\n{host}\r\n",
            ]
            for request in bad_requests:
                answer = await raw_request(port, request.encode("latin-1"), until_close=False)
                assert answer.status is not None and answer.status >= 400
            client = await WsClient.open(
                port, SIO_WS_TARGET, [("Authorization", f"Bearer {token}")]
            )
            opened = await client.receive()
            sids.append(json.loads(str(opened)[1:])["sid"])
            await client.send_raw(ws.encode_client_frame(ws.Opcode.TEXT, b"4x", MASK, rsv=2))
            await client.wait_closed()
            await client.aclose()
            for payload in (f'"{token}"', json.dumps({"token": forged})):
                client = await WsClient.open(port, SIO_WS_TARGET)
                opened = await client.receive()
                sids.append(json.loads(str(opened)[1:])["sid"])
                await client.send_text("40" + payload)
                with trio.move_on_after(1.0):
                    try:
                        await client.receive()  # 44 for the forged token
                    except WsClosed:
                        pass  # a bare-token payload closes the connection
                await client.aclose()
            await wait_until(lambda: len(app.engine.sessions) <= 1)
    text = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert "minisock.wire" in text  # the tracer was on
    leaks = [
        name
        for name, secret in [
            ("token", token),
            ("token signature", token.rsplit(".", 1)[1]),
            ("forged token", forged),
            *((f"sid {i}", value) for i, value in enumerate(sids)),
        ]
        if secret in text
    ]
    assert leaks == [], f"found in the logs: {leaks}"


class ZeroWindow(trio.abc.HalfCloseableStream):
    """The server's end of a connection whose client stops reading at some point.

    Until :attr:`stalled` is set, what the server sends reaches the client; afterwards every
    ``send_all`` blocks for good, like TCP when the peer advertises a zero window.
    """

    def __init__(self, inner: trio.StapledStream[Any, Any]) -> None:
        self.inner = inner
        self.stalled = False
        self.closed = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.stalled:
            await trio.sleep_forever()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        if self.stalled:
            await trio.sleep_forever()
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


async def zero_window_client(
    server: EngineServer, target: str
) -> tuple[WsClient, ZeroWindow, EngineSocket]:
    """A WebSocket session whose client can stop reading (set ``stalled`` on the stream)."""
    c2s_send, c2s_recv = trio.testing.memory_stream_one_way_pair()
    s2c_send, s2c_recv = trio.testing.memory_stream_one_way_pair()
    server_end = ZeroWindow(trio.StapledStream(s2c_send, c2s_recv))
    before = set(server.sessions)
    server.spawn(server.handle_connection, server_end)
    client = await WsClient.connect(trio.StapledStream(c2s_send, s2c_recv), "127.0.0.1", target)
    opened = await client.receive()
    assert isinstance(opened, str) and opened.startswith("0")
    (sid,) = set(server.sessions) - before
    return client, server_end, server.sessions[sid]


@pytest.mark.parametrize("trigger", ["broadcast", "heartbeat"])
async def test_d04_and_d10_a_websocket_that_never_reads_is_closed(
    autojump_clock: trio.testing.MockClock, trigger: str
) -> None:
    """D04 (slow consumer) and D10 (broadcast never awaits a member): a WebSocket client stops
    reading while the server keeps sending. A broadcast returns at once and disconnects it
    ("slow consumer"); without broadcasts the heartbeat gives up on it ("ping timeout"). Either
    way the session ends and the server closes the connection, so a client that never reads
    cannot hold a connection (and the memory its pending write holds) forever."""
    app = SioApp(max_outbox_packets=8)
    async with serving_sio(app) as bystander:
        client, zero, engine = await zero_window_client(app.engine, SIO_WS_TARGET)
        sio_sid = await join(client)
        zero.stalled = True
        if trigger == "broadcast":
            start = trio.current_time()
            for i in range(20):
                await app.sio.emit("tick", i)
                assert trio.current_time() == start  # never waits on the stalled member
            assert engine.closed and engine.close_reason == "slow consumer"
        else:
            for i in range(3):
                await engine.send(f"4message {i}")
            with trio.move_on_after(100):
                while not engine.closed:
                    await bystander.check()  # it answers its own pings meanwhile
                    await trio.sleep(1.0)
            assert engine.close_reason == "ping timeout"
        await wait_until(lambda: sio_sid in app.disconnects, step=1.0)
        assert sio_sid not in app.sio.sockets.sockets  # D10: memberships gone
        with trio.move_on_after(30):
            await wait_until(lambda: zero.closed, step=1.0)
        assert zero.closed, "the session ended but its connection is still open"
        with trio.move_on_after(5):  # the count drops just after the stream closes
            await wait_until(lambda: app.engine.connections == 1, step=0.1)
        assert app.engine.connections == 1  # the bystander's


async def test_d04_the_outbox_stays_bounded_while_a_client_never_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """D04: the outbound queue per session is bounded. A client that stops reading but keeps
    sending events that ask for acks makes the server queue an ACK for each; the outbox must
    never grow past ``max_outbox_packets`` (plus a heartbeat ping and a protocol packet):
    before that, the session is closed as a slow consumer."""
    limit = 8
    app = SioApp(max_outbox_packets=limit)
    async with serving_sio(app):
        client, zero, engine = await zero_window_client(app.engine, SIO_WS_TARGET)
        await join(client)
        zero.stalled = True
        longest = 0
        for i in range(200):
            await client.send_text(f'42{i}["echo","{"x" * 1000}"]')
            await settle()
            longest = max(longest, len(engine.state.outbox))
            if engine.closed:
                break
        assert longest <= limit + 2, f"the outbox held {longest} packets (limit {limit})"
