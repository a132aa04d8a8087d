"""5,000 concurrent connections on one server, which must still answer promptly (issue 7,
"Resources").

The server and the clients share this process and one trio loop, over real TCP on 127.0.0.1:
4,000 connections that each completed an Engine.IO polling handshake and stay open
(keep-alive, session open; half of them then hold a long-poll GET), and 1,000 WebSocket
sessions. That is 10,000 sockets plus the
listener, so the test raises its RLIMIT_NOFILE soft limit to the hard limit first.

With all of them held, a fresh client must get a handshake and an echo (polling and
WebSocket) within a second. Then every client leaves, the polite way (a ``1`` packet, a Close
frame) or the rude way (TCP closed, abandoning a held GET or a WebSocket), and the session
table and the connection count must drop to zero. The clients are a few lines of raw HTTP
and RFC 6455 each, so the server's work, not a client library's, dominates the time; the
whole test runs well under 30 s on two cores.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
import trio

from minisock import EngineServer, EngineSocket
from minisock.proto.ws import encode_client_frame
from minisock.testing import running_server

POLLING = 4000
WEBSOCKETS = 1000
TOTAL = POLLING + WEBSOCKETS
LIMIT = 30.0  # seconds, wall clock: a hard stop (about 8 s on two cores, 19 s on one)
PROMPT = 1.0  # seconds for a fresh handshake plus an echo while all are held
SETUP_PARALLEL = 200  # handshakes in flight at once (the listen backlog is finite)
MASK = b"\x01\x02\x03\x04"
KEY_HEADERS = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)
FDS_NEEDED = 2 * (TOTAL + 10) + 200


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, FDS_NEEDED)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < FDS_NEEDED:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < the {FDS_NEEDED} fds this test holds")


class RawHttp:
    """A keep-alive HTTP/1.1 connection that sends literal requests and reads whole answers."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        await self.stream.send_all(raw)
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end != -1:
                head = bytes(self.buffer[:end])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(self.buffer) >= end + 4 + length:
                    body = bytes(self.buffer[end + 4 : end + 4 + length])
                    del self.buffer[: end + 4 + length]
                    return int(head[9:12]), body
            data = await self.stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("the server closed the connection")
            self.buffer += data


def _get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _post(target: str, body: bytes) -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def polling_session(port: int) -> tuple[RawHttp, str]:
    """Connect and complete a polling handshake; the connection stays open."""
    http = RawHttp(await trio.open_tcp_stream("127.0.0.1", port))
    status, body = await http.request(_get("/engine.io/?EIO=4&transport=polling"))
    assert status == 200 and body.startswith(b"0{"), (status, body)
    sid: str = json.loads(body[1:])["sid"]
    return http, sid


def _server_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the whole (unmasked) server frames at the front of ``buffer``."""
    frames: list[tuple[int, bytes]] = []
    while len(buffer) >= 2:
        length, head = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                break
            length, head = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            if len(buffer) < 10:
                break
            length, head = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < head + length:
            break
        frames.append((buffer[0] & 0x0F, bytes(buffer[head : head + length])))
        del buffer[: head + length]
    return frames


class RawWs:
    """A WebSocket client in a few lines: masked frames out, whole server frames in."""

    def __init__(self, stream: trio.SocketStream, buffer: bytearray) -> None:
        self.stream = stream
        self.buffer = buffer
        self.frames: list[tuple[int, bytes]] = []

    @classmethod
    async def open(cls, port: int, target: str) -> RawWs:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: x\r\n".encode() + KEY_HEADERS)
        buffer = bytearray()
        while b"\r\n\r\n" not in buffer:
            data = await stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("closed during the handshake")
            buffer += data
        end = buffer.index(b"\r\n\r\n")
        assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:end])
        del buffer[: end + 4]
        return cls(stream, buffer)

    async def receive(self) -> tuple[int, bytes]:
        while not self.frames:
            self.frames += _server_frames(self.buffer)
            if self.frames:
                break
            data = await self.stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("the server closed the connection")
            self.buffer += data
        return self.frames.pop(0)

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(encode_client_frame(0x1, text.encode(), MASK))

    async def close(self) -> int:
        """Send Close 1000 and read until the server's Close; returns its code."""
        await self.stream.send_all(encode_client_frame(0x8, (1000).to_bytes(2, "big"), MASK))
        while True:
            opcode, payload = await self.receive()
            if opcode == 0x8:
                await self.stream.aclose()
                return int.from_bytes(payload[:2], "big") if payload else 1005


async def websocket_session(port: int) -> RawWs:
    ws = await RawWs.open(port, "/engine.io/?EIO=4&transport=websocket")
    opcode, payload = await ws.receive()
    assert opcode == 0x1 and payload.startswith(b"0{"), payload
    return ws


async def in_parallel(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    limiter = trio.CapacityLimiter(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            await job()

    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(run, job)


async def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


async def test_holds_5000_connections_and_still_answers() -> None:
    _raise_fd_limit()
    # head_timeout also bounds the idle time of a keep-alive connection between requests
    # (10 s by default); the idle polling connections here must outlive the whole setup.
    server = EngineServer(
        ping_interval=120.0,
        ping_timeout=60.0,
        head_timeout=LIMIT,
        max_connections=TOTAL + 100,
        max_sessions=TOTAL + 100,
    )

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    polling: list[tuple[RawHttp, str]] = []
    sockets: list[RawWs] = []

    async def open_polling(port: int) -> None:
        polling.append(await polling_session(port))

    async def open_websocket(port: int) -> None:
        sockets.append(await websocket_session(port))

    started = time.monotonic()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            # Interleave the kinds so both are in flight all along.
            jobs: list[Callable[[], Awaitable[None]]] = [
                partial(open_websocket if i % 5 == 4 else open_polling, port) for i in range(TOTAL)
            ]
            await in_parallel(jobs, SETUP_PARALLEL)
            # Half the polling clients now hold a long-poll GET open, as a browser does.
            for http_client, held_sid in polling[1::2]:
                target = f"/engine.io/?EIO=4&transport=polling&sid={held_sid}"
                await http_client.stream.send_all(_get(target))
            await wait_until(
                lambda: sum(s.state.poll_pending for s in server.sessions.values()) == POLLING // 2,
                10.0,
            )
            opened = time.monotonic() - started
            assert len(polling) == POLLING and len(sockets) == WEBSOCKETS
            assert len(server.sessions) == TOTAL
            assert server.connections == TOTAL

            # All held: a newcomer is served promptly, over both transports.
            t0 = time.monotonic()
            http, sid = await polling_session(port)
            target = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
            assert await http.request(_post(target, b"4still here")) == (200, b"ok")
            assert await http.request(_get(target)) == (200, b"4still here")
            ws = await websocket_session(port)
            await ws.send_text("4and here")
            assert await ws.receive() == (0x1, b"4and here")
            prompt = time.monotonic() - t0
            assert prompt < PROMPT, f"a fresh handshake and echo took {prompt:.2f} s"
            assert await ws.close() == 1000
            assert await http.request(_post(target, b"1")) == (200, b"ok")
            await http.stream.aclose()

            # Everyone leaves: half politely, half by dropping TCP.
            async def leave_polling(index: int) -> None:
                client, client_sid = polling[index]
                if index % 2 == 0:
                    target = f"/engine.io/?EIO=4&transport=polling&sid={client_sid}"
                    assert await client.request(_post(target, b"1")) == (200, b"ok")
                await client.stream.aclose()  # odd: abandons its held GET

            async def leave_websocket(index: int) -> None:
                if index % 2 == 0:
                    assert await sockets[index].close() == 1000
                else:
                    await sockets[index].stream.aclose()

            leaving: list[Callable[[], Awaitable[None]]] = []
            for i in range(POLLING):
                leaving.append(partial(leave_polling, i))
            for i in range(WEBSOCKETS):
                leaving.append(partial(leave_websocket, i))
            await in_parallel(leaving, SETUP_PARALLEL)
            await wait_until(lambda: server.connections == 0, 10.0)
            await wait_until(lambda: not server.sessions, 5.0)
            total = time.monotonic() - started
    print(
        f"\n{TOTAL} connections opened in {opened:.1f} s; newcomer served in"
        f" {prompt * 1000:.0f} ms; all closed, table empty; {total:.1f} s in all"
    )
