"""Helpers of the Redis adapter tests: Socket.IO clients speaking raw frames over real TCP,
in-process minisock servers on a :class:`RedisBus`, and a raw RESP connection to Redis.

The clients are :class:`minisock.testing.WsClient` WebSockets to ``127.0.0.1:port``; the same
client talks to a minisock server in this process, to ``minisock_app.py`` or to
``node_app.mjs``. Every wait is bounded.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from minisock import Server, Socket
from minisock.adapters.redis import RedisBus
from minisock.testing import WsClient, WsClosed, eio_target, running_server

WS_TARGET = eio_target("/socket.io/", transport="websocket")
STEP = 5.0  # seconds: the bound of one wait for something that should come promptly


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class Packet:
    """One Socket.IO packet as a client reads it, attachments put back in place."""

    type: int
    nsp: str
    ack_id: int | None
    data: Any

    @property
    def event(self) -> str:
        assert self.type in (2, 5) and isinstance(self.data, list), self
        name = self.data[0]
        assert isinstance(name, str)
        return name

    @property
    def args(self) -> list[Any]:
        assert isinstance(self.data, list)
        return self.data[1:]


_HEAD = re.compile(r"^(\d)(?:(\d+)-)?(?:(/[^,]*),)?(\d+)?")


def parse_packet(text: str) -> tuple[Packet, int]:
    """A Socket.IO packet's text and the number of binary attachments that follow it."""
    match = _HEAD.match(text)
    assert match is not None, text
    kind, attachments, nsp, ack_id = match.groups()
    rest = text[match.end() :]
    data = json.loads(rest) if rest else None
    packet = Packet(int(kind), nsp or "/", int(ack_id) if ack_id else None, data)
    return packet, int(attachments or 0)


def _fill(value: Any, buffers: list[bytes]) -> Any:
    if isinstance(value, dict):
        if value.get("_placeholder") is True and isinstance(value.get("num"), int):
            return buffers[value["num"]]
        return {k: _fill(v, buffers) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, buffers) for v in value]
    return value


@dataclass(eq=False)
class SioClient:
    """One Socket.IO client on its own WebSocket, connected to one namespace.

    Reading happens on demand, in the caller's task: :meth:`next_event` and :meth:`call`
    read until what they want arrives, queueing the rest.
    """

    ws: WsClient
    nsp: str = "/"
    sid: str = ""
    events: deque[Packet] = field(default_factory=deque)
    acks: dict[int, list[Any]] = field(default_factory=dict)
    disconnected: bool = False
    closed: bool = False
    _next_ack: int = 0

    @classmethod
    async def connect(
        cls, port: int, auth: dict[str, Any] | None = None, nsp: str = "/"
    ) -> SioClient:
        with trio.fail_after(STEP):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            ws = await WsClient.connect(stream, f"127.0.0.1:{port}", WS_TARGET)
            opened = await ws.receive()
            assert isinstance(opened, str) and opened.startswith("0"), opened
            client = cls(ws, nsp)
            head = "" if nsp == "/" else f"{nsp},"
            await ws.send_text(f"40{head}{compact(auth) if auth is not None else ''}")
            packet = await client._read()
            assert packet is not None and packet.type == 0 and packet.nsp == nsp, packet
            assert isinstance(packet.data, dict)
            client.sid = packet.data["sid"]
            return client

    async def _read(self) -> Packet | None:
        """The next Socket.IO packet (Engine.IO pings answered on the way); ``None`` once the
        connection closed."""
        while True:
            try:
                message = await self.ws.receive()
            except (WsClosed, trio.BrokenResourceError, trio.ClosedResourceError):
                self.closed = True
                return None
            if message == "2":
                await self.ws.send_text("3")
                continue
            assert isinstance(message, str), message
            if message == "1":
                self.closed = True
                return None
            assert message.startswith("4"), message
            packet, attachments = parse_packet(message[1:])
            buffers: list[bytes] = []
            for _ in range(attachments):
                binary = await self.ws.receive()
                assert isinstance(binary, bytes)
                buffers.append(binary)
            packet.data = _fill(packet.data, buffers)
            return packet

    async def _pump_one(self) -> bool:
        packet = await self._read()
        if packet is None:
            return False
        if packet.type in (3, 6):
            assert packet.ack_id is not None
            self.acks[packet.ack_id] = packet.data
        elif packet.type == 1:
            self.disconnected = True
        else:
            self.events.append(packet)
        return True

    async def next_event(self, timeout: float = STEP) -> Packet:
        with trio.fail_after(timeout):
            while not self.events:
                if not await self._pump_one():
                    raise AssertionError(f"client {self.sid} closed while waiting for an event")
            return self.events.popleft()

    async def events_until(self, name: str, timeout: float = STEP) -> list[Packet]:
        """The events before the first ``name`` event (which is consumed)."""
        seen: list[Packet] = []
        with trio.fail_after(timeout):
            while True:
                packet = await self.next_event(timeout)
                if packet.event == name:
                    return seen
                seen.append(packet)

    async def emit(self, event: str, *args: Any) -> None:
        head = "" if self.nsp == "/" else f"{self.nsp},"
        await self.ws.send_text(f"42{head}{compact([event, *args])}")

    async def call(self, event: str, *args: Any, timeout: float = STEP) -> Any:
        """Emit with an ack; returns the ack's first argument."""
        ack_id = self._next_ack
        self._next_ack += 1
        head = "" if self.nsp == "/" else f"{self.nsp},"
        await self.ws.send_text(f"42{head}{ack_id}{compact([event, *args])}")
        with trio.fail_after(timeout):
            while ack_id not in self.acks:
                if not await self._pump_one():
                    raise AssertionError(f"client {self.sid} closed while waiting for {event}")
        answer = self.acks.pop(ack_id)
        return answer[0] if answer else None

    async def answer(self, ack_id: int, *args: Any) -> None:
        head = "" if self.nsp == "/" else f"{self.nsp},"
        await self.ws.send_text(f"43{head}{ack_id}{compact(list(args))}")

    async def wait_disconnected(self, timeout: float = STEP) -> list[Packet]:
        """Read until the server disconnects this socket (``41``) or closes; returns the
        events seen meanwhile."""
        seen: list[Packet] = []
        with trio.fail_after(timeout):
            while not self.disconnected and not self.closed:
                if self.events:
                    seen.append(self.events.popleft())
                    continue
                await self._pump_one()
        seen.extend(self.events)
        self.events.clear()
        return seen

    async def aclose(self) -> None:
        with trio.move_on_after(1):
            await self.ws.aclose()


# --------------------------------------------------------------------- in-process servers


@dataclass(eq=False)
class Node:
    """A minisock server in this process, on a :class:`RedisBus`."""

    name: str
    sio: Server
    bus: RedisBus
    port: int = 0
    server_side: list[tuple[str, list[Any]]] = field(default_factory=list)


def build_node(name: str, url: str, **bus_options: Any) -> Node:
    """A server with the test application: ``connect`` with ``auth = {name, rooms}`` sets
    ``data`` and joins the rooms; ``shout`` broadcasts ``shouted`` to everyone else;
    ``echo`` acks its argument; ``note`` (server side) is recorded, ``whoami`` answers."""
    bus = RedisBus(url, **bus_options)
    sio = Server(adapter=bus)
    node = Node(name, sio, bus)

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any] | None) -> None:
        auth = auth or {}
        socket.data.update({"name": auth.get("name"), "node": name})
        socket.join(*auth.get("rooms", ()))

    @sio.on("shout")
    async def shout(socket: Socket, *args: Any) -> None:
        await socket.to().emit("shouted", *args)

    @sio.on("echo")
    async def echo(socket: Socket, value: Any = None) -> Any:
        return value

    @sio.on_server_side("note")
    async def note(*args: Any) -> None:
        node.server_side.append(("note", list(args)))

    @sio.on_server_side("whoami")
    async def whoami(*args: Any) -> str:
        node.server_side.append(("whoami", list(args)))
        return name

    return node


@asynccontextmanager
async def serving(node: Node) -> AsyncIterator[Node]:
    """Listen on an ephemeral port of 127.0.0.1 for the length of the block (the adapter's
    subscriptions are confirmed before the server listens)."""
    async with running_server(node.sio.engine) as port:
        node.port = port
        yield node


async def wait_for(what: str, check: Callable[[], bool], timeout: float = STEP) -> float:
    """Poll ``check()`` every 10 ms; returns the seconds it took, fails after ``timeout``."""
    start = trio.current_time()
    with trio.move_on_after(timeout):
        while not check():
            await trio.sleep(0.01)
        return trio.current_time() - start
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def redis_records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "minisock.redis" and r.levelno >= level
    ]


# --------------------------------------------------------------------- raw Redis


def resp_command(*args: bytes | str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class RawRedis:
    """A plain RESP connection: what anyone who can reach Redis could send. Replies are read
    as far as the tests need them (integers, simple strings, and pub/sub pushes)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    @classmethod
    async def open(cls, port: int) -> RawRedis:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("Redis closed the connection")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    async def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count + 2:
            data = await self.stream.receive_some(65536)
            if not data:
                raise trio.BrokenResourceError("Redis closed the connection")
            self.buffer += data
        value, self.buffer = self.buffer[:count], self.buffer[count + 2 :]
        return value

    async def reply(self) -> Any:
        line = await self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else await self._exactly(size)
        if kind == b"*":
            return [await self.reply() for _ in range(int(rest))]
        raise AssertionError(f"unexpected RESP reply {line!r}")

    async def command(self, *args: bytes | str) -> Any:
        await self.stream.send_all(resp_command(*args))
        return await self.reply()

    async def publish(self, channel: bytes | str, data: bytes | str) -> int:
        count = await self.command("PUBLISH", channel, data)
        assert isinstance(count, int), count
        return count

    async def aclose(self) -> None:
        await self.stream.aclose()
