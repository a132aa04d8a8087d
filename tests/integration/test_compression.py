"""Compression against a real server on 127.0.0.1, seen from raw clients written here.

- permessage-deflate: the 101's answer; frames at or above the threshold carry RSV1 and
  inflate (with the client's own zlib stream) to the message; smaller ones and those sent
  with ``compress(False)`` go plain; compressed client messages are inflated; a 10 MB bomb
  of a few KB is refused with 1009 and the server keeps serving; RSV1 unnegotiated is 1002.
- HTTP compression of poll answers: gzip or deflate by ``Accept-Encoding`` from 1024 bytes,
  nothing when off, nothing when every packet was sent ``compress(False)``; an encoded POST
  gets 415.

The WebSocket client is a few lines of raw socket code with the stdlib's zlib, so it shares
nothing with the server's frame and deflate code.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from minisock import Deflate, EngineServer, HttpCompression, Server, Socket
from minisock.proto import ws
from minisock.testing import EventRecorder, HttpClient, eio_target, running_server

LIMIT = 10.0
MASK = b"\x11\x22\x33\x44"
BIG = "x" * 3000
TAIL = b"\x00\x00\xff\xff"


class RawWs:
    """A WebSocket client over a TCP stream: masked frames out, server frames parsed in."""

    def __init__(self, stream: trio.SocketStream, response: bytes, rest: bytes) -> None:
        self.stream = stream
        self.response = response.decode("latin-1")
        self.buf = bytearray(rest)
        self.inflate = zlib.decompressobj(-15)  # the client's side of context takeover

    @classmethod
    async def open(cls, port: int, offer: str | None, target: str | None = None) -> RawWs:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (
            f"GET {target or eio_target(transport='websocket')} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if offer is not None:
            head += f"Sec-WebSocket-Extensions: {offer}\r\n"
        await stream.send_all((head + "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            assert chunk, "closed during the handshake"
            data += chunk
        response, _, rest = data.partition(b"\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 101"), response
        return cls(stream, response, rest)

    def extension(self) -> str | None:
        for line in self.response.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-extensions":
                return value.strip()
        return None

    async def frame(self) -> tuple[int, int, bytes]:
        """The next server frame: (first byte, opcode, payload as sent)."""
        while True:
            if len(self.buf) >= 10 or (len(self.buf) >= 2 and self.buf[1] < 126):
                length, at = self.buf[1] & 0x7F, 2
                if length == 126:
                    length, at = int.from_bytes(self.buf[2:4], "big"), 4
                elif length == 127:
                    length, at = int.from_bytes(self.buf[2:10], "big"), 10
                if len(self.buf) >= at + length:
                    b0, payload = self.buf[0], bytes(self.buf[at : at + length])
                    del self.buf[: at + length]
                    return b0, b0 & 0x0F, payload
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise trio.BrokenResourceError("closed")
            self.buf += chunk

    async def message(self) -> tuple[bool, str]:
        """The next text message (pings answered), and whether it came with RSV1."""
        while True:
            b0, opcode, payload = await self.frame()
            if opcode == ws.Opcode.TEXT:
                assert b0 & 0x80, "the server sends whole messages"
                if b0 & 0x40:
                    return True, self.inflate.decompress(payload + TAIL).decode()
                return False, payload.decode()
            if opcode == ws.Opcode.CLOSE:
                raise AssertionError(f"closed: {payload!r}")

    async def close_code(self) -> int:
        while True:
            _, opcode, payload = await self.frame()
            if opcode == ws.Opcode.CLOSE:
                return int.from_bytes(payload[:2], "big")

    async def send(self, text: str, *, compressed: bool = False) -> None:
        data = text.encode()
        if compressed:
            deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
            data = (deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
        await self.send_raw(data, rsv=4 if compressed else 0)

    async def send_raw(self, payload: bytes, *, rsv: int = 0) -> None:
        await self.stream.send_all(ws.encode_client_frame(ws.Opcode.TEXT, payload, MASK, rsv=rsv))


@asynccontextmanager
async def engine(**options: Any) -> AsyncIterator[tuple[int, EventRecorder]]:
    server = EngineServer(**options)
    events = EventRecorder(server, echo=True)
    async with running_server(server) as port:
        yield port, events


OFFER = "permessage-deflate; client_max_window_bits"


async def test_no_extension_unless_enabled() -> None:
    with trio.fail_after(LIMIT):
        async with engine() as (port, _):
            client = await RawWs.open(port, OFFER)
            assert client.extension() is None
            await client.message()  # the open packet
            await client.send_raw(b"\x01", rsv=4)  # RSV1 though nothing was negotiated
            assert await client.close_code() == 1002


async def test_negotiated_and_threshold_applied_both_ways() -> None:
    with trio.fail_after(LIMIT):
        async with engine(per_message_deflate=Deflate()) as (port, events):
            client = await RawWs.open(port, OFFER)
            assert client.extension() == "permessage-deflate"
            assert (await client.message())[0] is False  # the open packet: small
            await client.send("4small")
            assert await client.message() == (False, "4small")
            await client.send("4" + BIG, compressed=True)
            assert await client.message() == (True, "4" + BIG)
            # Context takeover both ways: the second one shares the first's window.
            await client.send("4" + BIG, compressed=True)
            assert await client.message() == (True, "4" + BIG)
            assert [m for _, m in events.messages] == ["small", BIG, BIG]


async def test_server_no_context_takeover() -> None:
    settings = Deflate(server_no_context_takeover=True, threshold=100)
    with trio.fail_after(LIMIT):
        async with engine(per_message_deflate=settings) as (port, _):
            client = await RawWs.open(port, "permessage-deflate")
            assert client.extension() == "permessage-deflate; server_no_context_takeover"
            await client.message()
            for _ in range(2):
                await client.send("4" + BIG)
                client.inflate = zlib.decompressobj(-15)  # each message stands alone
                assert await client.message() == (True, "4" + BIG)


async def test_ten_megabyte_bomb_closes_1009_and_the_server_lives_on() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = (deflate.compress(b"4" + b"0" * 10_000_000) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(bomb) < 20_000
    with trio.fail_after(LIMIT):
        async with engine(per_message_deflate=Deflate()) as (port, events):
            client = await RawWs.open(port, OFFER)
            await client.message()
            await client.send_raw(bomb, rsv=4)
            assert await client.close_code() == 1009
            assert events.messages == []
            other = await RawWs.open(port, OFFER)
            await other.message()
            await other.send("4" + BIG, compressed=True)
            assert await other.message() == (True, "4" + BIG)


@asynccontextmanager
async def sio_server(**options: Any) -> AsyncIterator[int]:
    sio = Server(**options)

    @sio.on("go")
    async def go(socket: Socket) -> None:
        await socket.emit("a", BIG)
        await socket.compress(False).emit("b", BIG)
        await sio.compress(False).emit("c", BIG)
        await sio.to(socket.sid).compress(False).emit("d", BIG)
        await sio.to(socket.sid).emit("e", BIG)

    @sio.on("plain")
    async def plain(socket: Socket) -> None:
        await socket.compress(False).emit("b", BIG)
        await sio.to(socket.sid).compress(False).emit("d", BIG)

    async with trio.open_nursery() as nursery:
        port = await nursery.start(sio.serve, "127.0.0.1", 0)
        yield port
        nursery.cancel_scope.cancel()


async def test_compress_false_per_emit_and_broadcast_on_websocket() -> None:
    with trio.fail_after(LIMIT):
        async with sio_server(per_message_deflate=Deflate()) as port:
            target = "/socket.io/?EIO=4&transport=websocket"
            client = await RawWs.open(port, OFFER, target)
            await client.message()
            await client.send("40")
            await client.message()  # the CONNECT answer
            await client.send('42["go"]')
            seen = [await client.message() for _ in range(5)]
            assert [(rsv1, text[:6]) for rsv1, text in seen] == [
                (True, '42["a"'),
                (False, '42["b"'),
                (False, '42["c"'),
                (False, '42["d"'),
                (True, '42["e"'),
            ]


# ---------------------------------------------------------------- HTTP compression


async def poll_answer(
    port: int, sid: str, accept: str | None, sio_target: bool = False
) -> tuple[str | None, bytes]:
    headers = [("Accept-Encoding", accept)] if accept is not None else []
    path = "/socket.io/" if sio_target else "/engine.io/"
    async with await HttpClient.open(port) as http:
        answer = await http.get(f"{path}?EIO=4&transport=polling&sid={sid}", headers=headers)
    assert answer.status == 200
    return answer.header("content-encoding"), answer.body


async def open_polling(port: int) -> str:
    async with await HttpClient.open(port) as http:
        answer = await http.get(eio_target())
    sid: str = json.loads(answer.text[1:])["sid"]
    return sid


@asynccontextmanager
async def polling_session(**options: Any) -> AsyncIterator[tuple[int, str, EngineServer]]:
    server = EngineServer(**options)
    EventRecorder(server)
    async with running_server(server) as port:
        async with await HttpClient.open(port) as http:
            answer = await http.get(eio_target())
        sid: str = json.loads(answer.text[1:])["sid"]
        yield port, sid, server


def decoded(encoding: str | None, body: bytes) -> str:
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    return body.decode()


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br", "gzip"),
        ("deflate", "deflate"),
        ("deflate, gzip", "deflate"),
        ("deflate;q=0.5, gzip;q=0.4", "deflate"),
        ("*", "gzip"),
        ("br", None),
        ("gzip;q=0", None),
        (None, None),
    ],
)
async def test_poll_answer_encoding(accept: str | None, encoding: str | None) -> None:
    with trio.fail_after(LIMIT):
        async with polling_session() as (port, sid, server):
            await server.sessions[sid].send("big " + BIG)
            got, body = await poll_answer(port, sid, accept)
            assert got == encoding
            assert decoded(encoding, body) == "4big " + BIG


async def test_small_answers_and_compression_off_go_plain() -> None:
    with trio.fail_after(LIMIT):
        async with polling_session() as (port, sid, server):
            await server.sessions[sid].send("x" * 1022)  # 1023 bytes with its "4"
            assert await poll_answer(port, sid, "gzip") == (None, b"4" + b"x" * 1022)
            await server.sessions[sid].send("x" * 1023)  # 1024: the threshold
            assert (await poll_answer(port, sid, "gzip"))[0] == "gzip"
        async with polling_session(http_compression=False) as (port, sid, server):
            await server.sessions[sid].send(BIG)
            assert (await poll_answer(port, sid, "gzip"))[0] is None
        async with polling_session(http_compression=HttpCompression(threshold=10)) as (
            port,
            sid,
            server,
        ):
            await server.sessions[sid].send("y" * 20)
            assert (await poll_answer(port, sid, "gzip"))[0] == "gzip"


async def test_poll_answer_uncompressed_only_when_every_packet_says_so() -> None:
    with trio.fail_after(LIMIT):
        async with sio_server() as port:
            async with await HttpClient.open(port) as http:
                opened = await http.get("/socket.io/?EIO=4&transport=polling")
                sid = json.loads(opened.text[1:])["sid"]
                target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
                await http.post(target, b"40")
                await http.get(target)  # the CONNECT answer
                await http.post(target, b'42["go"]')
            # "a" (the first packet of the first answer) wants compression.
            encodings = await poll_until(port, sid, 5)
            assert encodings[0] == "gzip"
            async with await HttpClient.open(port) as http:
                await http.post(target, b'42["plain"]')
            assert set(await poll_until(port, sid, 2)) == {None}  # none wants compression


async def poll_until(port: int, sid: str, count: int) -> list[str | None]:
    """Poll until ``count`` events carrying BIG came; the encoding of each answer."""
    encodings: list[str | None] = []
    while count > 0:
        encoding, body = await poll_answer(port, sid, "gzip", sio_target=True)
        encodings.append(encoding)
        count -= decoded(encoding, body).count(BIG)
    return encodings


async def test_encoded_post_is_refused_with_415() -> None:
    with trio.fail_after(LIMIT):
        async with polling_session() as (port, sid, _):
            async with await HttpClient.open(port) as http:
                answer = await http.post(
                    f"/engine.io/?EIO=4&transport=polling&sid={sid}",
                    gzip.compress(b"4hello"),
                    headers=[("Content-Encoding", "gzip")],
                )
            assert answer.status == 415
            assert answer.json() == {"code": 3, "message": "Content-Encoding is not supported"}


async def test_hostile_offers_are_declined_and_a_good_one_is_taken() -> None:
    """Prototype names and junk in ``Sec-WebSocket-Extensions`` (GHSA-5v72-xg48-5rpm hit ws's
    parser with them) only decline the offers that carry them; the next good one is used."""
    offers = (
        "constructor; __proto__=1, toString, permessage-deflate; __proto__=1, "
        "permessage-deflate; hasOwnProperty, permessage-deflate; client_max_window_bits=x, "
        "permessage-deflate; client_max_window_bits"
    )
    with trio.fail_after(LIMIT):
        async with engine(per_message_deflate=Deflate()) as (port, _):
            client = await RawWs.open(port, offers)
            assert client.extension() == "permessage-deflate"
            await client.message()
            await client.send("4" + BIG, compressed=True)
            assert await client.message() == (True, "4" + BIG)


def test_the_suite_example_exposes_both_switches() -> None:
    """``examples/socketio_suite.py --deflate --no-http-compression`` builds this server."""
    path = Path(__file__).resolve().parents[2] / "examples" / "socketio_suite.py"
    spec = importlib.util.spec_from_file_location("_socketio_suite_for_compression", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    default = module.build_server()
    assert default.engine.per_message_deflate is None
    assert default.engine.http_compression == HttpCompression()
    switched = module.build_server(deflate=True, http_compression=False)
    assert switched.engine.per_message_deflate == Deflate()
    assert switched.engine.http_compression is None
