"""The floor: the least a trio program can do to answer the benchmark's WebSocket cases.

    PORT=3003 .venv/bin/python bench/peers/floor_server.py

It shows how close minisock runs to the limit of its own stack (trio + pure Python). It is
not a server anyone should run: it parses the upgrade request just enough to find the key,
answers ``101``, sends a fixed open packet, then reads frames, unmasks them and answers by
byte surgery, with no heartbeat, no validation (not even UTF-8), no JWT, no Origin check,
and no limits (a connection whose first request is not an upgrade goes to the polling floor,
``polling_floor.py``):

- ``40`` -> ``40{"sid":...}``;
- ``42["echo",...]`` -> the same bytes back; ``42<id>["echo",a...]`` -> ``43<id>[a...]``;
- ``42<id>["join","r"]`` -> joins, ``43<id>[]``; ``42["bcast","r",p]`` -> ``42["msg",p]``
  framed once and written to every member of ``r`` (room names must not contain ``"``);
- on ``/engine.io/``: ``4...`` -> the same bytes back.

Frames read together are answered with one write, straight to the socket when it takes it
(no scheduler pass), as minisock's own fast path does. One task per connection.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import signal
import struct
import sys

import trio
from polling_floor import reply, serve_polling

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
OPEN = b'0{"sid":"%d","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
_DIGITS = b"0123456789"
_ids = itertools.count(1)


class Conn:
    """A connection. A write goes straight to the (non-blocking) socket when nobody else is
    writing to it; only what the kernel does not take at once waits, under a lock, so that a
    broadcast from another connection's task never interleaves with this one's replies."""

    __slots__ = ("fd", "lock", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.fd = stream.socket.fileno()
        self.lock = trio.StrictFIFOLock()

    async def send(self, data: bytes) -> None:
        if not self.lock.locked():
            try:
                sent = os.write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise trio.BrokenResourceError from exc
            if sent == len(data):
                return
            data = data[sent:]
        async with self.lock:
            await self.stream.send_all(data)


rooms: dict[bytes, set[Conn]] = {}


def frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def answer(conn: Conn, p: bytes, out: list[bytes], raw: bool) -> tuple[bytes, set[Conn]] | None:
    """Append the answer to the message ``p`` (unmasked payload) to ``out``; a broadcast is
    returned as (frame, members) for the caller to write. Connect, echo and ack are
    :func:`polling_floor.reply`'s, shared with the polling floor."""
    answered = reply(p, raw)
    if answered is not None:
        out.append(frame(answered))
        return None
    if not raw and p[:2] == b"42":
        i = 2
        while p[i] in _DIGITS:
            i += 1
        ack = p[2:i]
        rest = p[i:]
        if rest.startswith(b'["bcast","'):
            cut = rest.index(b'",', 10)
            if ack:
                out.append(frame(b"43" + ack + b"[]"))
            members = rooms.get(rest[10:cut])
            if members:
                return frame(b'42["msg",' + rest[cut + 2 :]), members
        elif rest.startswith(b'["join","'):
            rooms.setdefault(rest[9 : rest.rindex(b'"')], set()).add(conn)
            if ack:
                out.append(frame(b"43" + ack + b"[]"))
    return None


async def handle(stream: trio.SocketStream) -> None:
    buf = bytearray()
    while (end := buf.find(b"\r\n\r\n")) < 0:
        data = await stream.receive_some(65536)
        if not data:
            return
        buf += data
    head = bytes(buf[:end])
    conn = Conn(stream)
    start = head.lower().find(b"\r\nsec-websocket-key:") + 20
    if start < 20:
        try:
            await serve_polling(conn, bytes(buf))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)
        return
    del buf[: end + 4]
    raw = b" /engine.io" in head[: head.find(b"\r\n")]
    key = head[start : head.find(b"\r\n", start)].strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + frame(OPEN % next(_ids))
    )
    try:
        await read_loop(conn, buf, raw)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        for members in rooms.values():
            members.discard(conn)
        await trio.aclose_forcefully(stream)


async def read_loop(conn: Conn, buf: bytearray, raw: bool) -> None:
    stream = conn.stream
    pos = 0
    while True:
        out: list[bytes] = []
        n = len(buf)
        while n - pos >= 6:
            b0, b1 = buf[pos], buf[pos + 1] & 0x7F
            head = 2
            if b1 == 126:
                b1, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif b1 == 127:
                b1, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + 4 or n - pos < head + 4 + b1:
                break
            mask = buf[pos + head : pos + head + 4]
            start = pos + head + 4
            pos = start + b1
            p = (
                int.from_bytes(buf[start:pos], "big")
                ^ int.from_bytes((mask * (b1 // 4 + 1))[:b1], "big")
            ).to_bytes(b1, "big")
            opcode = b0 & 0x0F
            if opcode == 1:
                bcast = answer(conn, p, out, raw)
                if bcast is not None:
                    msg, members = bcast
                    if out:
                        await conn.send(b"".join(out))
                        out = []
                    for member in list(members):
                        try:
                            await member.send(msg)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            members.discard(member)
            elif opcode == 8:
                out.append(frame(p[:2], 8))
                await conn.send(b"".join(out))
                return
            elif opcode == 9:
                out.append(frame(p, 10))
        if pos:
            del buf[:pos]
            pos = 0
        if out:
            await conn.send(b"".join(out))
        data = await stream.receive_some(65536)
        if not data:
            return
        buf += data


async def main() -> None:
    port = int(os.environ.get("PORT", "3003"))
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        print(f"floor server (trio {trio.__version__}) on port {port}", file=sys.stderr, flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
