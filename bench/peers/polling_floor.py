"""The polling floor: the least a trio + h11 program can do to answer the benchmark's
long-polling cases.

``floor_server.py`` hands it every connection whose first request is not a WebSocket
upgrade, so the ``floor`` server answers the ``poll`` rows too. It is this stack's limit for
Engine.IO long-polling, as the WebSocket floor is for WebSockets; it is not a server anyone
should run. Each request is parsed by h11 (keep-alive: a fresh ``h11.Connection`` per
request, carrying over what was read past it, so that the answer can be written as
ready-made bytes instead of through h11's writer), and answered with the bytes minisock
sends for it:

- a GET without ``sid`` opens a session: the open packet (``"upgrades":[]``);
- a GET with ``sid`` takes what waits, joined by ``\\x1e``; when nothing waits it is held,
  and the POST that brings something answers it, written from the POST's task: no task, no
  event and no scheduler pass for the wait;
- a POST gets ``ok``; its packets are answered by :func:`reply`: ``40`` ->
  ``40{"sid":...}``, an ``echo`` event back, ``42<id>["echo",a...]`` -> ``43<id>[a...]``;
  on ``/engine.io/``, ``4...`` back.

No heartbeat, no validation, no limits, no Origin check, no compression, no rooms over
polling, no upgrade, and no session ever closes.
"""

from __future__ import annotations

import itertools
from typing import Protocol

import h11
import trio

# Byte for byte what minisock sends (examples/bench_server.py), but the upgrades.
OPEN = b'0{"sid":"%s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
POLL_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n"
    b"Cache-Control: no-store\r\n\r\n"
)
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 2\r\n\r\nok"
UNKNOWN = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
_DIGITS = b"0123456789"
_ids = itertools.count(1)


class Writer(Protocol):
    """A connection as ``floor_server.Conn`` has it: the stream and a write that goes
    straight to the socket when it can."""

    stream: trio.SocketStream

    async def send(self, data: bytes) -> None: ...


class Session:
    """A long-polling session: the packets waiting for a GET, or the GET waiting for them."""

    __slots__ = ("held", "out", "raw")

    def __init__(self, raw: bool) -> None:
        self.raw = raw
        self.out: list[bytes] = []
        self.held: Writer | None = None


sessions: dict[bytes, Session] = {}


def reply(p: bytes, raw: bool) -> bytes | None:
    """The answer to one message (a WebSocket frame's payload or one record of a POST) when
    it is a Socket.IO connect, an ``echo`` or an ``echo`` with ack; on ``/engine.io/``
    (``raw``), a ``4...`` message back. ``None`` for anything else."""
    if raw:
        return p if p[:1] == b"4" else None
    if p[:2] == b"42":
        i = 2
        while p[i] in _DIGITS:
            i += 1
        rest = p[i:]
        if rest.startswith(b'["echo"'):
            if i == 2:
                return p
            if rest[7:8] == b",":
                return b"43" + p[2:i] + b"[" + rest[8:]
            return b"43" + p[2:i] + b"[]"
    elif p[:2] == b"40":
        return b'40{"sid":"%020d"}' % next(_ids)
    return None


def sid_of(target: bytes) -> bytes | None:
    at = target.find(b"sid=")
    if at < 0:
        return None
    end = target.find(b"&", at)
    return target[at + 4 : end if end >= 0 else len(target)]


async def serve_polling(conn: Writer, data: bytes) -> None:
    """Answer the requests of one connection; ``data`` is what was read of it so far."""
    h = h11.Connection(h11.SERVER)
    h.receive_data(data)
    method = target = b""
    body: list[bytes] = []
    held_in: Session | None = None  # the session whose GET this connection holds, if any
    try:
        while True:
            event = h.next_event()
            if type(event) is h11.Request:  # not isinstance: h11 events are ABCs
                method, target, body = event.method, event.target, []
            elif type(event) is h11.Data:
                body.append(event.data)
            elif type(event) is h11.EndOfMessage:
                held_in = await answer(conn, method, target, b"".join(body))
                rest, _closed = h.trailing_data
                h = h11.Connection(h11.SERVER)
                if rest:
                    h.receive_data(rest)
            elif event is h11.NEED_DATA:
                data = await conn.stream.receive_some(65536)
                if not data:
                    return
                h.receive_data(data)
            else:
                return
    finally:
        if held_in is not None and held_in.held is conn:
            held_in.held = None  # its socket closes: nothing may be written to it any more


async def answer(conn: Writer, method: bytes, target: bytes, body: bytes) -> Session | None:
    """Answer one request; returns the session when the request is a GET left waiting."""
    sid = sid_of(target)
    if sid is None:
        sid = b"%022d" % next(_ids)
        sessions[sid] = Session(target.startswith(b"/engine.io/"))
        packet = OPEN % sid
        await conn.send(POLL_HEAD % len(packet) + packet)
        return None
    session = sessions.get(sid)
    if session is None:
        await conn.send(UNKNOWN)
        return None
    out = session.out
    if method == b"POST":
        raw = session.raw
        for record in body.split(b"\x1e"):
            answered = reply(record, raw)
            if answered is not None:
                out.append(answered)
        held = session.held
        if out and held is not None:
            session.held = None
            payload = b"\x1e".join(out)
            out.clear()
            try:
                await held.send(POLL_HEAD % len(payload) + payload)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await conn.send(OK)
        return None
    if not out:
        session.held = conn
        return session
    payload = b"\x1e".join(out)
    out.clear()
    await conn.send(POLL_HEAD % len(payload) + payload)
    return None
