#!/usr/bin/env python3
"""The minisock benchmark's load generator: every server, one run, side by side.

    make bench                                   # installs the peers, then runs this
    bench/.venv/bin/python bench/loadgen.py --minisock-python .venv/bin/python [options]

It speaks the wire protocol itself (HTTP/1.1, RFC 6455 with client masking, Engine.IO v4
and Socket.IO v5 framing) on asyncio streams and protocols, so no client library's cost
sits between it and the servers. It starts each server itself (``PORT=<n> CMD``) pinned to
one CPU with taskset while it runs pinned to the other, reads the server's RSS and CPU time
from /proc (the PID and its descendants), runs the scenario group, and stops the server with
SIGTERM. Groups are interleaved: every server runs ``connect``, then every server runs
``echo``, and so on, so a burst of noise on this shared machine hits one case of each server
rather than all cases of one server. Everything runs on 127.0.0.1 and every wait is bounded.

The bench-server contract is /work/shared/bench-contract.md (summarised in bench/README.md).
Output: JSON lines and a markdown table in bench/results/ (``latest.md`` is the newest table).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
HOST = "127.0.0.1"

ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
JWT_SECRET = "bench-secret-" + "0123456789abcdef" * 2

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(Exception):
    """A case could not run (server failure, timeout): reported as ``fatal``."""


# =============================================================================== servers


class ServerSpec:
    def __init__(
        self, name: str, cmd: list[str], caps: set[str], env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.caps = caps
        self.env = env or {}


ALL_CAPS = {"ws", "sio", "rooms", "raw", "poll", "jwt", "origin", "nsp", "deflate"}


def server_specs(args: argparse.Namespace) -> list[ServerSpec]:
    bench_py = sys.executable
    specs = {
        "minisock": ServerSpec(
            "minisock", [args.minisock_python, str(REPO / "examples" / "bench_server.py")], ALL_CAPS
        ),
        "python-socketio": ServerSpec(
            "python-socketio",
            [bench_py, str(HERE / "peers" / "python_socketio_server.py")],
            ALL_CAPS,
        ),
        "node": ServerSpec(
            "node", [args.node, str(HERE / "peers" / "node_socketio_server.mjs")], ALL_CAPS
        ),
        "floor": ServerSpec(
            "floor",
            [args.minisock_python, str(HERE / "peers" / "floor_server.py")],
            {"ws", "sio", "rooms", "raw", "poll"},  # poll: polling_floor.py, in the same process
        ),
    }
    return [specs[name] for name in args.servers]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


class ServerProc:
    """One running server: start, wait for the port, read /proc, stop."""

    def __init__(self, spec: ServerSpec, args: argparse.Namespace, log_dir: Path) -> None:
        self.spec = spec
        self.args = args
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.pids: list[int] = []
        self.stop_s: float | None = None
        self.killed = False

    async def start(self, env_extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port))
        env.pop("BENCH_JWT_SECRET", None)
        env.update(self.spec.env)
        env.update(env_extra or {})
        log = open(self.log_dir / f"{self.spec.name}.log", "ab")  # noqa: SIM115
        log.write(f"--- start {time.strftime('%H:%M:%S')} {env_extra or ''}\n".encode())
        log.flush()
        cmd = ["taskset", "-c", str(self.args.server_cpu), *self.spec.cmd]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(REPO)
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.spec.name} exited with {self.proc.returncode} at start")
            try:
                _r, w = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), 1)
                w.close()
                break
            except (TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise BenchError(f"{self.spec.name} did not listen within 30 s") from None
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        self.refresh_pids()

    def refresh_pids(self) -> None:
        assert self.proc is not None
        self.pids = descendants(self.proc.pid)

    def cpu_s(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError):
                pass
        return total / CLK_TCK

    def rss(self) -> int:
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    total += int(f.read().split()[1]) * PAGE
            except (OSError, IndexError):
                pass
        return total

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def settle(self, limit: float = 10.0) -> None:
        """Wait (bounded) until the server is idle again, e.g. after thousands of sessions
        went away at once, so that the SIGTERM that follows times the shutdown itself."""
        end = time.monotonic() + limit
        last = self.cpu_s()
        while time.monotonic() < end and self.alive():
            await asyncio.sleep(0.2)
            now = self.cpu_s()
            if now - last < 0.02:
                return
            last = now

    async def stop(self) -> None:
        if self.proc is None:
            return
        await self.settle()
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            while self.proc.poll() is None and time.monotonic() - t0 < 5:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
        self.stop_s = time.monotonic() - t0


# =============================================================================== meters


def core_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def lg_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Meter:
    """Wall time, server CPU, load generator CPU and whole-machine busy time over a window."""

    def __init__(self, server: ServerProc) -> None:
        self.server = server
        self.t0 = time.perf_counter()
        self.cpu0 = server.cpu_s()
        self.lg0 = lg_cpu_s()
        self.busy0, self.total0 = core_times()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        cpu = self.server.cpu_s() - self.cpu0
        lg = lg_cpu_s() - self.lg0
        busy, total = core_times()
        dtotal = max(total - self.total0, 1)
        return {
            "wall_s": wall,
            "server_cpu_s": cpu,
            "server_cpu_pct": 100 * cpu / wall if wall else 0.0,
            "lg_cpu_pct": 100 * lg / wall if wall else 0.0,
            "core_busy_pct": 100 * (busy - self.busy0) / dtotal,
            # what other processes took, in % of one core: the noise on this shared machine
            "other_cpu_pct": max(
                0.0,
                (os.cpu_count() or 1) * 100 * (busy - self.busy0) / dtotal
                - 100 * (cpu + lg) / wall,
            )
            if wall
            else 0.0,
        }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


# =============================================================================== JWT


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any], secret: str = JWT_SECRET, alg: str = "HS256") -> str:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signing = f"{header}.{body}".encode()
    if alg == "none":
        return f"{header}.{body}."
    sig = hmac.new(secret.encode(), signing, hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(sig)}"


def good_claims(sub: int = 1, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(sub),
        "data": {"id": sub},
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(over)
    return claims


# =============================================================================== WebSocket


class HttpStatusError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def _mask_int(key: bytes, n: int) -> int:
    return int.from_bytes((key * (n // 4 + 1))[:n], "big")


class WS(asyncio.Protocol):
    """A WebSocket client connection carrying one Engine.IO session.

    ``handler`` gets every Engine.IO message payload (the text after ``4``); by default they
    go to ``inbox``. Pings (``2``) are answered with ``3``.
    """

    def __init__(
        self, path: str, port: int, headers: list[tuple[str, str]], deflate: bool = False
    ) -> None:
        if deflate:
            offer = "permessage-deflate; client_max_window_bits"
            headers = [*headers, ("Sec-WebSocket-Extensions", offer)]
        self.request = self._request(path, port, headers)
        # permessage-deflate (RFC 7692), once the 101 accepts it: context takeover both ways.
        self.deflated = False
        self._deflater: Any = None
        self._inflater: Any = None
        self._frag_rsv1 = False
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.closed = False
        loop = asyncio.get_running_loop()
        self.open_fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.closed_fut: asyncio.Future[None] = loop.create_future()
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.handler: Callable[[str], None] = self.inbox.put_nowait
        key = os.urandom(4)
        while key == b"\0\0\0\0":
            key = os.urandom(4)
        self.key = key
        self._masks: dict[int, int] = {}
        self._frag: list[bytes] = []
        self.close_code: int | None = None
        self.data: Any = None  # scenario state
        self.rx_bytes = 0  # bytes read after the 101 (what compression saves shows here)

    @staticmethod
    def _request(path: str, port: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.open_fut.done():
            self.open_fut.set_exception(ConnectionError("closed before the open packet"))
        if not self.closed_fut.done():
            self.closed_fut.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            status = int(head.split(" ", 2)[1])
            if status != 101:
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if len(buf) < end + 4 + length:
                    return
                body = bytes(buf[end + 4 : end + 4 + length])
                if not self.open_fut.done():
                    self.open_fut.set_exception(HttpStatusError(status, body))
                self.abort()
                return
            del buf[: end + 4]
            self.upgraded = True
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-extensions" and (
                    value.strip().startswith("permessage-deflate")
                ):
                    self.deflated = True
                    self._deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
                    self._inflater = zlib.decompressobj(-15)
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            opcode = b0 & 0x0F
            if not b0 & 0x80:  # a fragment
                if opcode:
                    self._frag_rsv1 = bool(b0 & 0x40)
                self._frag.append(payload)
                continue
            rsv1 = bool(b0 & 0x40)
            if opcode == 0:
                self._frag.append(payload)
                payload, self._frag = b"".join(self._frag), []
                opcode = 1
                rsv1 = self._frag_rsv1
            elif self._frag and opcode in (1, 2):
                payload, self._frag = b"".join([*self._frag, payload]), []
            if rsv1 and opcode in (1, 2):
                payload = self._inflater.decompress(payload + b"\x00\x00\xff\xff")
            if opcode == 1:
                self._message(payload.decode("utf-8"))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self.abort()
                break
            elif opcode == 9:
                self.send_frame(payload, 0xA)
        if pos:
            del buf[:pos]

    def _message(self, text: str) -> None:
        kind = text[:1]
        if kind == "4":
            self.handler(text[1:])
        elif kind == "2":
            self.send_text("3")
        elif kind == "0":
            if not self.open_fut.done():
                self.open_fut.set_result(json.loads(text[1:]))
        elif kind == "1":
            self.abort()

    def send_frame(self, payload: bytes, opcode: int = 1) -> None:
        if self.deflated and opcode == 1 and len(payload) >= 1024:
            out = self._deflater.compress(payload) + self._deflater.flush(zlib.Z_SYNC_FLUSH)
            payload, opcode = out[:-4], 0x41  # RSV1: compressed (RFC 7692 §7.2.1)
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
        mask = self._masks.get(n)
        if mask is None:
            mask = self._masks[n] = _mask_int(self.key, n)
        masked = (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big") if n else b""
        if self.transport is not None and not self.closed:
            self.transport.write(head + self.key + masked)

    def send_text(self, text: str) -> None:
        self.send_frame(text.encode("utf-8"))

    def send(self, message: str) -> None:
        """An Engine.IO message packet (``4`` + message)."""
        self.send_frame(("4" + message).encode("utf-8"))

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.send_frame(b"\x03\xe8", 8)
            self.transport.close()
            self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    async def next(self, timeout: float = 3.0) -> str:
        return await asyncio.wait_for(self.inbox.get(), timeout)


async def ws_open(
    port: int,
    path: str = "/socket.io/",
    headers: list[tuple[str, str]] | None = None,
    timeout: float = 10.0,
    deflate: bool = False,
) -> tuple[WS, dict[str, Any]]:
    """A new WebSocket Engine.IO session, straight to websocket (no polling first);
    ``deflate`` offers permessage-deflate."""
    loop = asyncio.get_running_loop()
    target = f"{path}?EIO=4&transport=websocket"
    _t, conn = await asyncio.wait_for(
        loop.create_connection(lambda: WS(target, port, headers or [], deflate), HOST, port),
        timeout,
    )
    try:
        opened = await asyncio.wait_for(conn.open_fut, timeout)
    except BaseException:
        conn.abort()
        raise
    return conn, opened


async def sio_connect(
    port: int,
    headers: list[tuple[str, str]] | None = None,
    timeout: float = 10.0,
    deflate: bool = False,
) -> WS:
    """A Socket.IO connection on ``/``: open, ``40``, wait for ``40{...}``."""
    conn, _open = await ws_open(port, headers=headers, timeout=timeout, deflate=deflate)
    conn.send("0")
    reply = await conn.next(timeout)
    if not reply.startswith("0"):
        conn.abort()
        raise ConnectionError(f"CONNECT refused: {reply[:200]}")
    return conn


async def connect_many(
    port: int,
    n: int,
    concurrency: int,
    headers: Callable[[int], list[tuple[str, str]]] | None = None,
    latencies: list[float] | None = None,
    deadline_s: float = 60.0,
    deflate: bool = False,
) -> tuple[list[WS], int]:
    """``n`` Socket.IO connections, at most ``concurrency`` in progress; (conns, errors)."""
    conns: list[WS] = []
    errors = 0
    counter = iter(range(n))
    deadline = time.monotonic() + deadline_s

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if time.monotonic() > deadline:
                errors += 1
                continue
            t0 = time.perf_counter()
            try:
                conn = await sio_connect(port, headers(i) if headers else None, deflate=deflate)
            except (TimeoutError, OSError, ConnectionError, HttpStatusError):
                errors += 1
                continue
            if latencies is not None:
                latencies.append(time.perf_counter() - t0)
            conns.append(conn)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return conns, errors


def close_all(conns: list[WS]) -> None:
    for conn in conns:
        conn.abort()


# =============================================================================== HTTP


class Http:
    """One keep-alive HTTP/1.1 client connection (for long-polling)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
        return await asyncio.wait_for(self._request(method, target, body, headers or []), timeout)

    async def _request(
        self, method: str, target: str, body: bytes, headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        if method == "POST":
            lines += ["Content-Type: text/plain;charset=UTF-8", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head[:-4].split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        hdrs: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            hdrs[name.strip().lower()] = value.strip()
        if "content-length" in hdrs:
            data = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            data = b"".join(parts)
        elif status in (101, 204, 304):
            data = b""
        else:
            data = await self.reader.read()
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None


class Poller:
    """A long-polling Engine.IO session: one connection for GETs, one for POSTs."""

    def __init__(self, port: int, path: str = "/socket.io/") -> None:
        self.port = port
        self.path = path
        self.get_conn = Http(port)
        self.post_conn = Http(port)
        self.sid = ""

    async def handshake(self, headers: list[tuple[str, str]] | None = None) -> tuple[int, str]:
        status, _h, body = await self.get_conn.request(
            "GET", f"{self.path}?EIO=4&transport=polling", headers=headers
        )
        text = body.decode("utf-8", "replace")
        if status == 200 and text.startswith("0"):
            self.sid = json.loads(text[1:].split("\x1e")[0])["sid"]
        return status, text

    def target(self) -> str:
        return f"{self.path}?EIO=4&transport=polling&sid={self.sid}"

    async def post(self, packets: list[str], timeout: float = 10.0) -> int:
        body = "\x1e".join(packets).encode("utf-8")
        status, _h, _b = await self.post_conn.request("POST", self.target(), body, timeout=timeout)
        return status

    async def get(self, timeout: float = 10.0) -> list[str]:
        status, _h, body = await self.get_conn.request("GET", self.target(), timeout=timeout)
        if status != 200:
            raise HttpStatusError(status, body)
        return body.decode("utf-8").split("\x1e")

    def close(self) -> None:
        self.get_conn.close()
        self.post_conn.close()


# =============================================================================== payloads


def payload(seq: int, size: int) -> str:
    """``#S<10 digits>#`` then filler: ``size`` characters (ASCII, so also bytes)."""
    head = f"#S{seq:010d}#"
    return head + "x" * (size - len(head)) if size > len(head) else head


_WORDS = (
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
)


def json_document(seq: int, size: int) -> str:
    """A JSON object of about ``size`` bytes, shaped like an application's data: records
    with ids, names, e-mail addresses, numbers, flags and tags, the numbers different in
    every message. Its ``id`` carries the sequence number. Integers and ASCII only, so any
    server re-encodes it to the same text."""
    rows = []
    total = 24
    i = 0
    while total < size - 160:
        n = seq * 31 + i * 7
        first, last = _WORDS[n % 26], _WORDS[(n // 26 + i) % 26]
        row = (
            f'{{"id":{n},"name":"{first} {last}","email":"{first}.{last}{i}@example.com",'
            f'"score":{(n * 2654435761) % 100000},"active":{"true" if n % 3 else "false"},'
            f'"tags":["{_WORDS[(n + 3) % 26]}","{_WORDS[(n + 11) % 26]}"]}}'
        )
        rows.append(row)
        total += len(row) + 1
        i += 1
    return f'{{"id":"#S{seq:010d}#","rows":[{",".join(rows)}]}}'


def seq_of(text: str) -> int:
    i = text.find("#S")
    return int(text[i + 2 : i + 12]) if i >= 0 else -1


# =============================================================================== check


class Checker:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def record(self, name: str, ok: bool, detail: str = "") -> None:
        self.results.append({"name": name, "pass": bool(ok), "detail": detail[:300]})

    async def run(self, name: str, fn: Callable[[], Awaitable[tuple[bool, str]]]) -> None:
        try:
            ok, detail = await asyncio.wait_for(fn(), 15)
        except Exception as exc:  # a check that crashes fails, with the reason
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        self.record(name, ok, detail)


async def quiet(conn: WS, seconds: float) -> list[str]:
    """Messages that arrive on ``conn`` within ``seconds`` (expected: none)."""
    got = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            got.append(await conn.next(left))
        except TimeoutError:
            break
    return got


def parse_sio(text: str) -> tuple[str, int | None, Any]:
    """A Socket.IO packet on ``/``: (type, ack id, data)."""
    kind = text[0]
    i = 1
    while i < len(text) and text[i].isdigit():
        i += 1
    ack = int(text[1:i]) if i > 1 else None
    data = json.loads(text[i:]) if i < len(text) else None
    return kind, ack, data


async def check_server(server: ServerProc, checker: Checker, jwt_on: bool) -> None:
    port = server.port
    caps = server.spec.caps
    if jwt_on:
        await check_jwt(port, checker, caps)
        return

    async def open_packet() -> tuple[bool, str]:
        conn, opened = await ws_open(port)
        conn.abort()
        fields = ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
        missing = [f for f in fields if f not in opened]
        big = opened.get("maxPayload", 0) >= 20000
        return not missing and big, f"missing={missing} maxPayload={opened.get('maxPayload')}"

    await checker.run("ws open packet (5 fields, maxPayload > 16 KiB)", open_packet)

    async def echo_args() -> tuple[bool, str]:
        conn = await sio_connect(port)
        args = ["héllo ✓ 日本 🚀", 1, 2.5, {"a": [1, None, "ü"]}, True, None, [], -7]
        conn.send("2" + json.dumps(["echo", *args], ensure_ascii=False))
        kind, ack, data = parse_sio(await conn.next())
        conn.abort()
        return kind == "2" and ack is None and data == ["echo", *args], f"{kind}{ack} {data}"

    await checker.run("echo: any args, non-ASCII", echo_args)

    async def echo_none() -> tuple[bool, str]:
        conn = await sio_connect(port)
        conn.send('2["echo"]')
        kind, _ack, data = parse_sio(await conn.next())
        conn.abort()
        return kind == "2" and data == ["echo"], f"{kind} {data}"

    await checker.run("echo: no args", echo_none)

    async def echo_ack() -> tuple[bool, str]:
        conn = await sio_connect(port)
        conn.send('217["echo","x",{"k":"ü"}]')
        kind, ack, data = parse_sio(await conn.next())
        extra = await quiet(conn, 0.3)
        conn.abort()
        ok = kind == "3" and ack == 17 and data == ["x", {"k": "ü"}] and not extra
        return ok, f"{kind}{ack} {data} then {extra[:2]}"

    await checker.run("echo with ack: 43<id>[args] instead of the event", echo_ack)

    async def echo_big() -> tuple[bool, str]:
        conn = await sio_connect(port)
        big = payload(42, 16384)
        conn.send(f'2["echo","{big}"]')
        kind, _ack, data = parse_sio(await conn.next())
        conn.send(f'25["echo","{big}"]')
        kind2, ack2, data2 = parse_sio(await conn.next())
        conn.abort()
        ok = data == ["echo", big] and kind2 == "3" and ack2 == 5 and data2 == [big]
        return ok, f"{kind} {kind2}{ack2} sizes {len(str(data))} {len(str(data2))}"

    await checker.run("echo 16 KiB, event and ack", echo_big)

    async def rooms() -> tuple[bool, str]:
        a = await sio_connect(port)
        b = await sio_connect(port)
        c = await sio_connect(port)
        a.send('21["join","roomA"]')
        b.send('22["join","roomA"]')
        ra, rb = parse_sio(await a.next()), parse_sio(await b.next())
        if ra != ("3", 1, []) or rb != ("3", 2, []):
            return False, f"join acks {ra} {rb}"
        a.send('2["bcast","roomA","p1 ✓"]')
        ma, mb = parse_sio(await a.next()), parse_sio(await b.next())
        a.send('29["bcast","roomA",{"x":1}]')
        got_a = sorted([await a.next(), await a.next()])
        mb2 = parse_sio(await b.next())
        extra_c = await quiet(c, 0.4)
        extra_a = await quiet(a, 0.1)
        for conn in (a, b, c):
            conn.abort()
        want = ("2", None, ["msg", "p1 ✓"])
        ok = (
            ma == want
            and mb == want
            and [parse_sio(t) for t in got_a] == [("2", None, ["msg", {"x": 1}]), ("3", 9, [])]
            and mb2 == ("2", None, ["msg", {"x": 1}])
            and not extra_c
            and not extra_a
        )
        return ok, f"a={ma} b={mb} a2={got_a} b2={mb2} non-member={extra_c[:2]} a-extra={extra_a}"

    if "rooms" in caps:
        await checker.run("join ack, bcast to members incl. sender, not to non-members", rooms)

    async def raw_ws() -> tuple[bool, str]:
        conn, opened = await ws_open(port, "/engine.io/")
        conn.send("hello ✓ raw")
        got = await conn.next()
        conn.abort()
        return got == "hello ✓ raw" and "sid" in opened, repr(got)

    if "raw" in caps:
        await checker.run("raw Engine.IO echo on /engine.io/ (websocket)", raw_ws)

    async def raw_poll() -> tuple[bool, str]:
        p = Poller(port, "/engine.io/")
        status, _text = await p.handshake()
        if status != 200:
            return False, f"handshake {status}"
        await p.post(["4abc ✓"])
        got: list[str] = []
        for _ in range(3):
            got += await p.get(5)
            if "4abc ✓" in got:
                break
        p.close()
        return "4abc ✓" in got, repr(got)

    if "poll" in caps:
        await checker.run("raw Engine.IO echo on /engine.io/ (polling)", raw_poll)

    async def sio_poll() -> tuple[bool, str]:
        p = Poller(port)
        status, text = await p.handshake()
        if status != 200:
            return False, f"handshake {status} {text[:100]}"
        await p.post(["40"])
        got = []
        for _ in range(3):
            got += await p.get(5)
            if any(g.startswith("40") for g in got):
                break
        if not any(g.startswith("40{") for g in got):
            p.close()
            return False, f"no CONNECT ack: {got}"
        await p.post(['42["echo","a ✓"]', '421["echo","b"]'])  # one batched POST
        replies: list[str] = []
        for _ in range(4):
            replies += [r for r in await p.get(5) if r.startswith("4")]
            if len(replies) >= 2:
                break
        p.close()
        parsed = sorted(str(parse_sio(r[1:])) for r in replies)
        want = sorted([str(("2", None, ["echo", "a ✓"])), str(("3", 1, ["b"]))])
        return parsed == want, f"{replies}"

    if "poll" in caps:
        await checker.run("polling: handshake, 40, batched POST echo + ack", sio_poll)

    async def bad_nsp() -> tuple[bool, str]:
        conn, _o = await ws_open(port)
        conn.send("0/nope,")
        got = await conn.next()
        conn.abort()
        data = json.loads(got[7:]) if got.startswith("4/nope,") else None
        ok = isinstance(data, dict) and data.get("message") == "Invalid namespace"
        return ok, got[:200]

    if "nsp" in caps:
        await checker.run("unknown namespace -> CONNECT_ERROR Invalid namespace", bad_nsp)

    async def origin() -> tuple[bool, str]:
        details = []
        try:
            conn, _o = await ws_open(port, headers=[("Origin", "http://evil.example.com")])
            conn.abort()
            refused_ws = False
            details.append("ws cross-origin: 101")
        except HttpStatusError as exc:
            refused_ws = 400 <= exc.status < 500
            details.append(f"ws cross-origin: {exc.status}")
        p = Poller(port)
        status, _t = await p.handshake([("Origin", "http://evil.example.com")])
        p.close()
        refused_poll = 400 <= status < 500
        details.append(f"poll cross-origin: {status}")
        conn, _o = await ws_open(port, headers=[("Origin", f"http://{HOST}:{port}")])
        conn.abort()
        details.append("ws same-origin: 101")
        return refused_ws and refused_poll, ", ".join(details)

    if "origin" in caps:
        await checker.run("Origin differing from Host refused; same origin accepted", origin)


async def jwt_outcome(port: int, token: str | None) -> str:
    """'connected', 'http <status>' or 'connect_error' for a websocket session with token."""
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    try:
        conn, _o = await ws_open(port, headers=headers)
    except HttpStatusError as exc:
        return f"http {exc.status}"
    conn.send("0")
    got = await conn.next()
    conn.abort()
    if got.startswith("0"):
        return "connected"
    if got.startswith("4"):
        return "connect_error"
    return f"other {got[:50]}"


async def jwt_poll_outcome(port: int, token: str | None) -> str:
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    p = Poller(port)
    try:
        status, _t = await p.handshake(headers)
        if status != 200:
            return f"http {status}"
        await p.post(["40"])
        got: list[str] = []
        for _ in range(3):
            got += await p.get(5)
            if any(g.startswith("4") for g in got):
                break
        return "connected" if any(g.startswith("40") for g in got) else "connect_error"
    finally:
        p.close()


async def check_jwt(port: int, checker: Checker, caps: set[str]) -> None:
    now = int(time.time())
    cases: list[tuple[str, str | None, bool]] = [
        ("valid token", make_jwt(good_claims()), True),
        ("missing token", None, False),
        (
            "bad signature",
            make_jwt(good_claims(), secret="wrong-secret-wrong-secret-wrong!"),
            False,
        ),
        ("wrong aud", make_jwt(good_claims(aud="other.net")), False),
        ("wrong iss", make_jwt(good_claims(iss="evil.example.com")), False),
        ("expired", make_jwt(good_claims(iat=now - 7200, exp=now - 3600)), False),
        ("alg none", make_jwt(good_claims(), alg="none"), False),
    ]
    for name, token, accept in cases:

        async def one(token: str | None = token, accept: bool = accept) -> tuple[bool, str]:
            outcome = await jwt_outcome(port, token)
            refused = outcome in ("http 401", "connect_error")
            return (outcome == "connected") if accept else refused, outcome

        await checker.run(f"jwt ws: {name} -> {'accepted' if accept else 'refused'}", one)
    if "poll" in caps:
        for name, token, accept in (cases[0], cases[1], cases[3]):

            async def one_poll(
                token: str | None = token, accept: bool = accept
            ) -> tuple[bool, str]:
                outcome = await jwt_poll_outcome(port, token)
                refused = outcome in ("http 401", "connect_error")
                return (outcome == "connected") if accept else refused, outcome

            await checker.run(
                f"jwt polling: {name} -> {'accepted' if accept else 'refused'}", one_poll
            )


# =============================================================================== scenarios


class Case:
    """One measured case of one server: its parameters and figures, one JSON line."""

    def __init__(self, server: str, scenario: str, name: str, **params: Any) -> None:
        self.row: dict[str, Any] = {
            "server": server,
            "scenario": scenario,
            "case": name,
            **params,
            "ok": True,
            "errors": 0,
        }

    def fail(self, why: str) -> None:
        self.row["ok"] = False
        self.row.setdefault("fatal", why)


async def scenario_connect(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Connect N sessions at concurrency C, hold them idle, read RSS: 1,000 then 5,000."""
    port = server.port
    rows = []
    warm, _e = await connect_many(port, 50, 10)
    close_all(warm)
    await asyncio.sleep(1.0)
    base = server.rss()
    held: list[WS] = []
    for total in args.connect_counts:
        add = total - len(held)
        case = Case(
            server.spec.name,
            "connect",
            f"connect {total}",
            sessions=total,
            concurrency=args.concurrency,
        )
        lat: list[float] = []
        meter = Meter(server)
        conns, errors = await connect_many(port, add, args.concurrency, latencies=lat)
        figures = meter.stop()
        held += conns
        await asyncio.sleep(args.hold)
        server.refresh_pids()
        rss = server.rss()
        alive = sum(1 for c in held if not c.closed)
        case.row.update(
            errors=errors,
            conn_per_s=round(len(conns) / figures["wall_s"], 1),
            conn_per_server_cpu_s=round(len(conns) / figures["server_cpu_s"], 1)
            if figures["server_cpu_s"]
            else None,
            connect_p50_ms=ms(percentile(lat, 0.5)),
            connect_p99_ms=ms(percentile(lat, 0.99)),
            rss_before=base,
            rss_held=rss,
            bytes_per_conn=round((rss - base) / total) if total else None,
            alive_after_hold=alive,
            **{k: round(v, 3) for k, v in figures.items()},
        )
        if errors or alive != total:
            case.fail(f"{errors} connect errors, {total - alive} closed while idle")
        rows.append(case.row)
    close_all(held)
    return rows


async def scenario_jwt(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Connect rate with a valid bearer token on every handshake."""
    tokens = [make_jwt(good_claims(i)) for i in range(args.jwt_sessions)]
    warm, _e = await connect_many(
        server.port, 20, 5, headers=lambda i: [("Authorization", f"Bearer {tokens[i]}")]
    )
    close_all(warm)
    await asyncio.sleep(0.5)
    case = Case(
        server.spec.name,
        "jwt",
        f"jwt connect {args.jwt_sessions}",
        sessions=args.jwt_sessions,
        concurrency=args.concurrency,
    )
    lat: list[float] = []
    meter = Meter(server)
    conns, errors = await connect_many(
        server.port,
        args.jwt_sessions,
        args.concurrency,
        headers=lambda i: [("Authorization", f"Bearer {tokens[i]}")],
        latencies=lat,
    )
    figures = meter.stop()
    close_all(conns)
    case.row.update(
        errors=errors,
        conn_per_s=round(len(conns) / figures["wall_s"], 1),
        conn_per_server_cpu_s=round(len(conns) / figures["server_cpu_s"], 1)
        if figures["server_cpu_s"]
        else None,
        connect_p50_ms=ms(percentile(lat, 0.5)),
        connect_p99_ms=ms(percentile(lat, 0.99)),
        **{k: round(v, 3) for k, v in figures.items()},
    )
    if errors:
        case.fail(f"{errors} connect errors")
    return [case.row]


class EchoRun:
    """Closed-loop echo over WebSockets: each client keeps ``depth`` requests outstanding."""

    def __init__(self, mode: str, size: int, depth: int) -> None:
        self.mode = mode  # "event", "ack" or "raw"
        self.size = size
        self.depth = depth
        self.seq = 0
        self.running = True
        self.measuring = False
        self.count = 0
        self.lat: list[float] = []
        self.wrong = 0
        self.outstanding = 0

    def message(self, conn: WS, seq: int) -> str:
        if self.mode == "json":
            return f'2["echo",{json_document(seq, self.size)}]'
        text = payload(seq, self.size)
        if self.mode == "raw":
            return text
        if self.mode == "ack":
            return f'2{seq % 100000}["echo","{text}"]'
        return f'2["echo","{text}"]'

    def expected(self, seq: int) -> str:
        if self.mode == "json":
            return f'2["echo",{json_document(seq, self.size)}]'
        text = payload(seq, self.size)
        if self.mode == "raw":
            return text
        if self.mode == "ack":
            return f'3{seq % 100000}["{text}"]'
        return f'2["echo","{text}"]'

    def send_next(self, conn: WS) -> None:
        self.seq += 1
        seq = self.seq
        conn.data[seq] = time.perf_counter()
        self.outstanding += 1
        conn.send(self.message(conn, seq))

    def attach(self, conn: WS) -> None:
        conn.data = {}

        def on_message(text: str) -> None:
            now = time.perf_counter()
            seq = seq_of(text)
            sent = conn.data.pop(seq, None)
            if sent is None:
                self.wrong += 1
                return
            self.outstanding -= 1
            if text != self.expected(seq):
                try:  # any JSON whitespace is fine: compare parsed values
                    want, got = self.expected(seq), text
                    same = parse_sio(want) == parse_sio(got) if self.mode != "raw" else False
                except (ValueError, IndexError):
                    same = False
                if not same:
                    self.wrong += 1
            if self.measuring:
                self.count += 1
                self.lat.append(now - sent)
            if self.running:
                self.send_next(conn)

        conn.handler = on_message


async def measure_echo(
    server: ServerProc,
    args: argparse.Namespace,
    case: Case,
    run: EchoRun,
    conns: list[WS],
    errors: int,
    label: str,
) -> int | None:
    """Drive ``run`` over ``conns`` (warm-up, one measured window, drain), close them and fill
    ``case.row``. Returns the bytes the clients read in the window, ``None`` if connects failed."""
    if errors:
        close_all(conns)
        case.fail(f"{errors} connect errors")
        return None
    for conn in conns:
        run.attach(conn)
        for _ in range(args.depth):
            run.send_next(conn)
    await asyncio.sleep(args.warmup)
    rx_before = sum(c.rx_bytes for c in conns)
    run.measuring = True
    meter = Meter(server)
    await measured_sleep(server, args, label)
    run.measuring = False
    figures = meter.stop()
    rx = sum(c.rx_bytes for c in conns) - rx_before
    run.running = False
    deadline = time.monotonic() + 5
    while run.outstanding and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    lost = run.outstanding
    closed = sum(1 for c in conns if c.closed)
    close_all(conns)
    case.row.update(
        msgs_per_s=round(run.count / figures["wall_s"], 1),
        per_server_cpu_s=round(run.count / figures["server_cpu_s"], 1)
        if figures["server_cpu_s"]
        else None,
        p50_ms=ms(percentile(run.lat, 0.5)),
        p99_ms=ms(percentile(run.lat, 0.99)),
        round_trips=run.count,
        lost=lost,
        wrong=run.wrong,
        errors=errors + closed,
        **{k: round(v, 3) for k, v in figures.items()},
    )
    if lost or run.wrong or closed:
        case.fail(f"lost={lost} wrong={run.wrong} closed={closed}")
    return rx


async def scenario_echo_case(
    server: ServerProc, args: argparse.Namespace, clients: int, size: int, mode: str
) -> dict[str, Any]:
    name = {"event": "echo", "ack": "echo+ack", "raw": "raw eio echo"}[mode]
    label = f"{name} {clients}c {size_label(size)}"
    scenario = "raw" if mode == "raw" else "echo"
    case = Case(
        server.spec.name,
        scenario,
        label,
        clients=clients,
        payload_bytes=size,
        depth=args.depth,
        transport="websocket",
        mode=mode,
    )
    port = server.port
    run = EchoRun(mode, size, args.depth)
    if mode == "raw":
        conns = []
        errors = 0
        for _ in range(clients):
            try:
                conn, _o = await ws_open(port, "/engine.io/")
                conns.append(conn)
            except (TimeoutError, OSError, ConnectionError, HttpStatusError):
                errors += 1
    else:
        conns, errors = await connect_many(port, clients, min(clients, 50))
    await measure_echo(server, args, case, run, conns, errors, label)
    return case.row


def size_label(size: int) -> str:
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


async def scenario_echo(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for clients, size, mode in args.echo_cases:
        rows.append(await scenario_echo_case(server, args, clients, size, mode))
        await asyncio.sleep(0.3)
    return rows


async def deflate_case(
    server: ServerProc, args: argparse.Namespace, clients: int, offer: bool
) -> dict[str, Any]:
    """``echo`` of 16 KiB JSON documents over WebSocket, the client offering permessage-deflate
    or not, to a server started with ``BENCH_DEFLATE=1`` (compression allowed)."""
    size = 16384
    label = f"echo {clients}c {size_label(size)} JSON, deflate {'on' if offer else 'off'}"
    case = Case(
        server.spec.name,
        "deflate",
        label,
        clients=clients,
        payload_bytes=size,
        depth=args.depth,
        transport="websocket",
        mode="json",
        offer=offer,
    )
    run = EchoRun("json", size, args.depth)
    conns, errors = await connect_many(server.port, clients, clients, deflate=offer)
    negotiated = sum(1 for c in conns if c.deflated)
    rx = await measure_echo(server, args, case, run, conns, errors, label)
    if rx is not None:
        case.row.update(
            negotiated=negotiated,
            rx_bytes_per_msg=round(rx / run.count) if run.count else None,
        )
    return case.row


async def scenario_deflate(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for offer in (False, True):
        rows.append(await deflate_case(server, args, args.deflate_clients, offer))
        await asyncio.sleep(0.3)
    return rows


async def scenario_raw(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [await scenario_echo_case(server, args, args.raw_clients, 20, "raw")]


async def scenario_fanout(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for receivers in args.fanout_counts:
        rows.append(await fanout_case(server, args, receivers))
        await asyncio.sleep(0.5)
    return rows


async def fanout_case(
    server: ServerProc, args: argparse.Namespace, receivers: int
) -> dict[str, Any]:
    """N receivers join ``r`` (acked), the sender joins last and keeps W broadcasts in flight;
    a slot frees when all N+1 copies arrived; incomplete after 10 s counts as lost."""
    window = args.fanout_window
    case = Case(
        server.spec.name,
        "fanout",
        f"fanout {receivers}",
        receivers=receivers,
        window=window,
        payload_bytes=20,
    )
    port = server.port
    conns, errors = await connect_many(port, receivers, args.concurrency)
    if errors:
        close_all(conns)
        case.fail(f"{errors} connect errors")
        return case.row
    room = "r"

    async def join(conn: WS, ack: int) -> bool:
        conn.send(f'2{ack}["join","{room}"]')
        try:
            return parse_sio(await conn.next(10)) == ("3", ack, [])
        except TimeoutError:
            return False

    joined = await asyncio.gather(*(join(c, i % 1000) for i, c in enumerate(conns)))
    sender = await sio_connect(port)
    sender_joined = await join(sender, 1)
    if not all(joined) or not sender_joined:
        close_all([*conns, sender])
        case.fail(f"{joined.count(False)} joins not acked")
        return case.row
    copies = receivers + 1
    inflight: dict[int, list[float]] = {}  # seq -> [sent_at, remaining]
    state = {
        "seq": 0,
        "running": True,
        "measuring": False,
        "deliveries": 0,
        "bcasts": 0,
        "lost": 0,
        "wrong": 0,
    }
    lat: list[float] = []

    def send_one() -> None:
        state["seq"] += 1
        seq = state["seq"]
        inflight[seq] = [time.perf_counter(), copies]
        sender.send(f'2["bcast","{room}","{payload(seq, 20)}"]')

    def on_copy(is_receiver: bool) -> Callable[[str], None]:
        def handler(text: str) -> None:
            now = time.perf_counter()
            entry = inflight.get(seq_of(text))
            if entry is None or not text.startswith('2["msg"'):
                state["wrong"] += 1
                return
            if is_receiver and state["measuring"]:
                state["deliveries"] += 1
                lat.append(now - entry[0])
            entry[1] -= 1
            if entry[1] == 0:
                del inflight[seq_of(text)]
                if state["measuring"]:
                    state["bcasts"] += 1
                if state["running"]:
                    send_one()

        return handler

    receive = on_copy(True)
    for conn in conns:
        conn.handler = receive
    sender.handler = on_copy(False)

    async def reaper() -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.perf_counter()
            for seq, entry in list(inflight.items()):
                if now - entry[0] > 10:
                    state["lost"] += entry[1]
                    del inflight[seq]
                    if state["running"]:
                        send_one()

    reap = asyncio.create_task(reaper())
    for _ in range(window):
        send_one()
    await asyncio.sleep(args.warmup)
    state["measuring"] = True
    meter = Meter(server)
    await measured_sleep(server, args, f"fanout {receivers}")
    state["measuring"] = False
    figures = meter.stop()
    state["running"] = False
    deadline = time.monotonic() + 11
    while inflight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    reap.cancel()
    lost = state["lost"] + sum(e[1] for e in inflight.values())
    closed = sum(1 for c in conns if c.closed)
    close_all([*conns, sender])
    deliveries = state["deliveries"]
    case.row.update(
        deliveries_per_s=round(deliveries / figures["wall_s"], 1),
        per_server_cpu_s=round(deliveries / figures["server_cpu_s"], 1)
        if figures["server_cpu_s"]
        else None,
        bcasts_per_s=round(state["bcasts"] / figures["wall_s"], 1),
        p50_ms=ms(percentile(lat, 0.5)),
        p99_ms=ms(percentile(lat, 0.99)),
        deliveries=deliveries,
        lost_deliveries=lost,
        wrong=state["wrong"],
        errors=closed,
        **{k: round(v, 3) for k, v in figures.items()},
    )
    if lost or state["wrong"] or closed:
        case.fail(f"lost={lost} wrong={state['wrong']} closed={closed}")
    return case.row


async def scenario_poll(server: ServerProc, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for clients in args.poll_counts:
        rows.append(await poll_case(server, args, clients))
        await asyncio.sleep(0.3)
    return rows


async def poll_case(server: ServerProc, args: argparse.Namespace, clients: int) -> dict[str, Any]:
    """Echo over long-polling: per client one GET always pending and one echo outstanding."""
    case = Case(
        server.spec.name,
        "poll",
        f"poll echo {clients}c",
        clients=clients,
        payload_bytes=20,
        transport="polling",
    )
    port = server.port
    state = {"seq": 0, "running": True, "measuring": False, "count": 0, "wrong": 0, "errors": 0}
    lat: list[float] = []
    outstanding: dict[int, float] = {}

    async def client() -> None:
        p = Poller(port)
        mine: dict[int, float] = {}  # this client's outstanding echo: seq -> sent at
        pongs: list[str] = []
        slot = asyncio.Event()
        failed: list[BaseException] = []

        async def getter() -> None:
            try:
                while True:
                    packets = await p.get(10)
                    now = time.perf_counter()
                    for packet in packets:
                        if packet == "2":
                            pongs.append("3")
                            continue
                        if packet == "6" or not packet:
                            continue
                        seq = seq_of(packet)
                        sent = mine.pop(seq, None)
                        want = f'42["echo","{payload(seq, 20)}"]'
                        if sent is None or (
                            packet != want and parse_sio(packet[1:]) != parse_sio(want[1:])
                        ):
                            state["wrong"] += 1
                        if sent is not None:
                            outstanding.pop(seq, None)
                            if state["measuring"]:
                                state["count"] += 1
                                lat.append(now - sent)
                    slot.set()
            except Exception as exc:
                failed.append(exc)
                slot.set()

        try:
            status, _t = await p.handshake()
            if status != 200:
                raise HttpStatusError(status, b"")
            await p.post(["40"])
            got: list[str] = []
            while not any(g.startswith("40") for g in got):
                got += await p.get(10)
            task = asyncio.create_task(getter())
            try:
                while state["running"] and not failed:
                    packets = pongs[:]
                    pongs.clear()
                    if not mine:
                        state["seq"] += 1
                        seq = state["seq"]
                        now = time.perf_counter()
                        mine[seq] = outstanding[seq] = now
                        packets.append(f'42["echo","{payload(seq, 20)}"]')
                    if packets:
                        await p.post(packets)
                    await slot.wait()
                    slot.clear()
                end = time.monotonic() + 5
                while mine and not failed and time.monotonic() < end:
                    await asyncio.sleep(0.01)
            finally:
                task.cancel()
            if failed:
                raise failed[0]
        except (TimeoutError, OSError, HttpStatusError, asyncio.IncompleteReadError, ValueError):
            if state["running"]:
                state["errors"] += 1
        finally:
            p.close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(args.warmup)
    state["measuring"] = True
    meter = Meter(server)
    await measured_sleep(server, args, f"poll echo {clients}c")
    state["measuring"] = False
    figures = meter.stop()
    state["running"] = False
    await asyncio.wait(tasks, timeout=8)
    for task in tasks:
        task.cancel()
    lost = len(outstanding)
    case.row.update(
        msgs_per_s=round(state["count"] / figures["wall_s"], 1),
        per_server_cpu_s=round(state["count"] / figures["server_cpu_s"], 1)
        if figures["server_cpu_s"]
        else None,
        p50_ms=ms(percentile(lat, 0.5)),
        p99_ms=ms(percentile(lat, 0.99)),
        round_trips=state["count"],
        lost=lost,
        wrong=state["wrong"],
        errors=state["errors"],
        **{k: round(v, 3) for k, v in figures.items()},
    )
    if lost or state["wrong"] or state["errors"]:
        case.fail(f"lost={lost} wrong={state['wrong']} errors={state['errors']}")
    return case.row


# =============================================================================== driver

SCENARIOS: dict[
    str, Callable[[ServerProc, argparse.Namespace], Awaitable[list[dict[str, Any]]]]
] = {
    "connect": scenario_connect,
    "echo": scenario_echo,
    "fanout": scenario_fanout,
    "poll": scenario_poll,
    "raw": scenario_raw,
    "jwt": scenario_jwt,
    "deflate": scenario_deflate,
}
NEEDS = {
    "connect": "sio",
    "echo": "sio",
    "fanout": "rooms",
    "poll": "poll",
    "raw": "raw",
    "jwt": "jwt",
    "deflate": "deflate",
}


async def measured_sleep(server: ServerProc, args: argparse.Namespace, label: str) -> None:
    """The measurement window; with ``--profile``, py-spy samples the minisock server in it."""
    profiler = None
    if (
        args.profile is not None
        and server.spec.name.startswith("minisock")
        and server.proc is not None
    ):
        profiler = Profiler(args.profile / server.spec.name)
        profiler.start(server.proc.pid, label)
    try:
        await asyncio.sleep(args.duration)
    finally:
        if profiler is not None:
            await profiler.stop()


class Profiler:
    """py-spy sampling the minisock server during a measurement window (``--profile``).

    Writes ``<case>.txt`` (py-spy's collapsed stacks, for flame graph tools) and
    ``<case>.top.txt``: the functions by own time and by inclusive time.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        self.path: Path | None = None

    def start(self, pid: int, label: str) -> None:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            print("  (py-spy not found: no profile)", file=sys.stderr)
            return
        self.out.mkdir(parents=True, exist_ok=True)
        name = label.replace(" ", "_").replace("/", "_")
        self.path = self.out / f"{name}.txt"
        cmd = [exe, "record", "--pid", str(pid), "--rate", "500", "--format", "raw"]
        cmd += ["--nonblocking", "--output", str(self.path)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc = None
            if self.path is not None and self.path.exists():
                top = summarize_profile(self.path.read_text())
                self.path.with_suffix(".top.txt").write_text(top)


def summarize_profile(collapsed: str, limit: int = 30) -> str:
    """Own and inclusive time per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + n
    lines = [f"{total} samples", "", "own time:"]
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(f"  {100 * n / max(total, 1):5.1f}%  {frame}")
    lines += ["", "inclusive time:"]
    for frame, n in sorted(incl.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(f"  {100 * n / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines) + "\n"


async def run_group(
    group: str,
    spec: ServerSpec,
    args: argparse.Namespace,
    log_dir: Path,
    emit: Callable[[dict[str, Any]], None],
) -> None:
    server = ServerProc(spec, args, log_dir)
    jwt_on = group in ("jwt", "check-jwt")
    env = {"BENCH_JWT_SECRET": JWT_SECRET} if jwt_on else None
    if group == "deflate":
        env = {"BENCH_DEFLATE": "1"}
    try:
        await server.start(env)
        if group.startswith("check"):
            checker = Checker()
            await check_server(server, checker, jwt_on)
            results = checker.results
            passed = sum(r["pass"] for r in results)
            row = {
                "server": spec.name,
                "scenario": group,
                "case": group,
                "pass": passed,
                "fail": len(results) - passed,
                "results": results,
                "ok": passed == len(results),
            }
            emit(row)
        else:
            rows = await asyncio.wait_for(SCENARIOS[group](server, args), args.group_timeout)
            for row in rows:
                emit(row)
    except (TimeoutError, BenchError, OSError, ConnectionError, HttpStatusError) as exc:
        emit(
            {
                "server": spec.name,
                "scenario": group,
                "case": group,
                "ok": False,
                "fatal": f"{type(exc).__name__}: {exc}",
            }
        )
    finally:
        alive = server.alive()
        await server.stop()
        if not alive:
            emit(
                {
                    "server": spec.name,
                    "scenario": "stop",
                    "case": f"after {group}",
                    "ok": False,
                    "fatal": f"server died during {group}",
                }
            )
        else:
            emit(
                {
                    "server": spec.name,
                    "scenario": "stop",
                    "case": f"stop after {group}",
                    "stop_s": round(server.stop_s or 0.0, 2),
                    "ok": not server.killed,
                    **({"fatal": "did not exit within 5 s of SIGTERM"} if server.killed else {}),
                }
            )


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 10000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:.1f}" if value >= 10 else f"{value:.2f}")


def headline(row: dict[str, Any]) -> tuple[str, float | None, str]:
    """(cell text, per-CPU-second figure used for ratios, unit)."""
    if (
        not row.get("ok", False)
        and "fatal" in row
        and not any(k in row for k in ("msgs_per_s", "deliveries_per_s", "conn_per_s"))
    ):
        return "FAIL", None, ""
    mark = "" if row.get("ok") else " ⚠"
    sc = row["scenario"]
    if sc == "connect":
        kb = row["bytes_per_conn"] / 1024 if row.get("bytes_per_conn") is not None else None
        text = (
            f"{kb:.1f} KB/conn · {fmt_rate(row['conn_per_s'])} conn/s · "
            f"{fmt_rate(row['conn_per_server_cpu_s'])}/cpu-s{mark}"
        )
        return text, row.get("bytes_per_conn"), "bytes"
    if sc == "jwt":
        text = (
            f"{fmt_rate(row['conn_per_s'])} conn/s · "
            f"{fmt_rate(row['conn_per_server_cpu_s'])}/cpu-s · "
            f"p99 {fmt_ms(row['connect_p99_ms'])} ms{mark}"
        )
        return text, row.get("conn_per_server_cpu_s"), "conn"
    if sc == "fanout":
        text = (
            f"{fmt_rate(row['deliveries_per_s'])}/s · {fmt_rate(row['per_server_cpu_s'])}/cpu-s · "
            f"p99 {fmt_ms(row['p99_ms'])} ms · lost {row['lost_deliveries']}{mark}"
        )
        return text, row.get("per_server_cpu_s"), "deliveries"
    if sc == "deflate":
        text = (
            f"{fmt_rate(row['msgs_per_s'])}/s · {fmt_rate(row['per_server_cpu_s'])}/cpu-s · "
            f"p99 {fmt_ms(row['p99_ms'])} ms · {row['rx_bytes_per_msg']} B/msg read · "
            f"deflate on {row['negotiated']}/{row['clients']}{mark}"
        )
        return text, row.get("per_server_cpu_s"), "msgs"
    text = (
        f"{fmt_rate(row['msgs_per_s'])}/s · {fmt_rate(row['per_server_cpu_s'])}/cpu-s · "
        f"p50 {fmt_ms(row['p50_ms'])} · p99 {fmt_ms(row['p99_ms'])} ms{mark}"
    )
    return text, row.get("per_server_cpu_s"), "msgs"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def targets(rows: list[dict[str, Any]], me: str = "minisock") -> list[tuple[str, str, str]]:
    """The issue's targets for the server ``me``: (target, measured, verdict)."""
    by = {(r["server"], r["case"]): r for r in rows if "case" in r}

    def get(server: str, case: str, key: str) -> Any:
        row = by.get((server, case))
        return None if row is None else row.get(key)

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    out = []
    polls = sorted(
        {r["case"] for r in rows if r["scenario"] == "poll"}, key=lambda c: int(c.split()[2][:-1])
    )
    for case in ["echo 10c 20 B", "raw eio echo 10c 20 B", *polls, "fanout 100", "fanout 1000"]:
        m = get(me, case, "per_server_cpu_s")
        rp = ratio(m, get("python-socketio", case, "per_server_cpu_s"))
        out.append(
            (
                f"{case}: ≥2× python-socketio",
                fmt_ratio(rp),
                verdict(None if rp is None else rp >= 2),
            )
        )
        if case in polls:
            out.append(
                (
                    f"{case}: ≥1.25× python-socketio (issue 13)",
                    fmt_ratio(rp),
                    verdict(None if rp is None else rp >= 1.25),
                )
            )
        f = get("floor", case, "per_server_cpu_s")
        if f is not None:
            rf = ratio(m, f)
            out.append(
                (
                    f"{case}: ≥75 % of the polling floor (issue 13)"
                    if case in polls
                    else f"{case}: ≥75 % of the floor",
                    fmt_ratio(rf),
                    verdict(None if rf is None else rf >= 0.75),
                )
            )
    for case in ["echo 10c 20 B", "echo 100c 20 B"]:
        m = get(me, case, "per_server_cpu_s")
        rp = ratio(m, get("python-socketio", case, "per_server_cpu_s"))
        rf = ratio(m, get("floor", case, "per_server_cpu_s"))
        out.append(
            (
                f"{case}: ≥2× python-socketio (issue 13)",
                fmt_ratio(rp),
                verdict(None if rp is None else rp >= 2),
            )
        )
        out.append(
            (
                f"{case}: ≥70 % of the floor (issue 13)",
                fmt_ratio(rf),
                verdict(None if rf is None else rf >= 0.70),
            )
        )
    rn = ratio(
        get(me, "fanout 1000", "per_server_cpu_s"), get("node", "fanout 1000", "per_server_cpu_s")
    )
    out.append(
        (
            "fanout 1000: ≥1.0× Node (issue 13)",
            fmt_ratio(rn),
            verdict(None if rn is None else rn >= 1.0),
        )
    )
    conn_case = f"connect {max(ARGS.connect_counts)}" if ARGS else "connect 5000"
    m, n = get(me, conn_case, "bytes_per_conn"), get("node", conn_case, "bytes_per_conn")
    out.append(
        (
            f"memory per idle ws session ({conn_case}) ≤ 10 KB (issue 13)",
            f"{m / 1024:.1f} KB" if m is not None else "–",
            verdict(None if m is None else m <= 10 * 1024),
        )
    )
    out.append(
        (
            f"memory per idle ws session ({conn_case}) ≤ Node's",
            f"{m / 1024:.1f} vs {n / 1024:.1f} KB" if m is not None and n is not None else "–",
            verdict(None if m is None or n is None else m <= n),
        )
    )
    lost = get(me, "fanout 1000", "lost_deliveries")
    out.append(
        (
            "fanout 1000: zero lost deliveries",
            str(lost) if lost is not None else "–",
            verdict(None if lost is None else lost == 0),
        )
    )
    m, p = get(me, "fanout 1000", "p99_ms"), get("python-socketio", "fanout 1000", "p99_ms")
    out.append(
        (
            "fanout 1000: p99 ≤ ½ python-socketio's",
            f"{fmt_ms(m)} vs {fmt_ms(p)} ms" if m and p else "–",
            verdict(None if not m or not p else m <= p / 2),
        )
    )
    jc = f"jwt connect {ARGS.jwt_sessions}" if ARGS else "jwt connect 1000"
    r = ratio(
        get(me, jc, "conn_per_server_cpu_s"), get("python-socketio", jc, "conn_per_server_cpu_s")
    )
    out.append(
        (
            "JWT connect rate ≥1.5× python-socketio",
            fmt_ratio(r),
            verdict(None if r is None else r >= 1.5),
        )
    )
    return out


def markdown(rows: list[dict[str, Any]], servers: list[str], meta: dict[str, Any]) -> str:
    lines = [
        f"### minisock benchmark, {meta['date']}",
        "",
        f"minisock at {meta['commit']}.",
        "",
        f"Machine: {meta['machine']}. Server on CPU {meta['server_cpu']}, load generator on CPU "
        f"{meta['lg_cpu']}; {meta['duration']} s per case after {meta['warmup']} s warm-up"
        + (
            f"; each cell the median of {meta['repeat']} passes"
            if meta.get("repeat", 1) > 1
            else ""
        )
        + ". Shared machine: compare servers within this run (ratios), "
        "not absolute numbers across runs.",
        "",
    ]
    checks = [r for r in rows if r["scenario"] in ("check", "check-jwt")]
    if checks:
        lines += ["| conformance | " + " | ".join(servers) + " |", "|---|" + "---|" * len(servers)]
        for group in ("check", "check-jwt"):
            cells = []
            for s in servers:
                r = next((x for x in checks if x["server"] == s and x["scenario"] == group), None)
                cells.append(
                    "–"
                    if r is None
                    else (f"{r['pass']}/{r['pass'] + r['fail']} pass" if "pass" in r else "FAIL")
                )
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
        lines.append("")
    others = [s for s in servers if s != "minisock"]
    head = ["case", *servers] + [f"minisock / {s}" for s in others]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    cases: list[tuple[str, str]] = []
    for r in rows:
        if r["scenario"] in ("check", "check-jwt", "stop"):
            continue
        key = (r["scenario"], r["case"])
        if key not in cases:
            cases.append(key)
    for scenario, case in cases:
        cells, figures = [], {}
        for s in servers:
            r = next(
                (
                    x
                    for x in rows
                    if x["server"] == s and x["case"] == case and x["scenario"] == scenario
                ),
                None,
            )
            if r is None:
                cells.append("–")
                continue
            text, fig, _unit = headline(r)
            cells.append(text)
            figures[s] = fig
        ratios = []
        for s in others:
            ratios.append(fmt_ratio(ratio(figures.get("minisock"), figures.get(s))))
        lines.append(f"| {case} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    lines += [
        "",
        "Cells: wall-clock rate · rate per server CPU-second · latency (ms). Ratios compare the "
        "per-server-CPU-second figures (for `connect` rows: bytes per idle session, lower is "
        "better). ⚠ marks a case with lost, wrong or missing replies.",
        "",
    ]
    stop_times: dict[str, float] = {}
    for r in rows:
        if r["scenario"] == "stop" and "stop_s" in r:
            stop_times[r["server"]] = max(stop_times.get(r["server"], 0.0), r["stop_s"])
    if stop_times:
        slowest = ", ".join(f"{name} {sec:.1f} s" for name, sec in stop_times.items())
        lines += [f"SIGTERM to exit, slowest per server: {slowest}.", ""]
    stops = [r for r in rows if r["scenario"] == "stop" and not r.get("ok")]
    fatals = [r for r in rows if r.get("fatal") and r["scenario"] != "stop"]
    if stops or fatals:
        lines.append("Problems:")
        for r in stops + fatals:
            lines.append(f"- {r['server']} {r['case']}: {r.get('fatal')}")
        lines.append("")
    noise = [r["other_cpu_pct"] for r in rows if "other_cpu_pct" in r]
    if noise:
        noisy = sum(1 for n in noise if n > 25)
        lines += [
            f"Other processes on the machine used {sum(noise) / len(noise):.0f} % of a core on "
            f"average during the measurement windows (over 25 % in {noisy} of {len(noise)} "
            "cases; `other_cpu_pct` in the JSON lines).",
            "",
        ]
    mine = [s for s in servers if s.startswith("minisock")]
    if mine:
        tables = [targets(rows, me) for me in mine]
        head = ["target (issue 6 unless marked), per server CPU-second"]
        for me in mine:
            head += [me, "verdict"]
        lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for i, (target, _m, _v) in enumerate(tables[0]):
            cells = [target]
            for table in tables:
                cells += [table[i][1], table[i][2]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


ARGS: argparse.Namespace | None = None


def parse_echo_case(text: str) -> tuple[int, int, str]:
    clients, size, mode = text.split(":")
    if mode not in ("event", "ack"):
        raise SystemExit(f"echo case mode must be event or ack: {text}")
    return int(clients), int(size), mode


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minisock-python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--node", default="node")
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["minisock", "python-socketio", "node", "floor"],
        help="of minisock, python-socketio, node, floor",
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=[
            "check",
            "check-jwt",
            "connect",
            "echo",
            "fanout",
            "poll",
            "raw",
            "jwt",
            "deflate",
        ],
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per case")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--depth", type=int, default=1, help="outstanding echoes per client")
    parser.add_argument("--concurrency", type=int, default=50, help="connects in progress")
    parser.add_argument("--hold", type=float, default=2.0, help="idle seconds before reading RSS")
    parser.add_argument("--connect-counts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--fanout-counts", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--fanout-window", type=int, default=8)
    parser.add_argument("--poll-counts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--echo-cases",
        nargs="+",
        default=[
            # the grid of clients x payload, plus the ack variant at 10 clients
            "1:20:event",
            "10:20:event",
            "100:20:event",
            "1:16384:event",
            "10:16384:event",
            "100:16384:event",
            "10:20:ack",
            "10:16384:ack",
        ],
        help="CLIENTS:BYTES:event|ack",
    )
    parser.add_argument("--raw-clients", type=int, default=10)
    parser.add_argument("--deflate-clients", type=int, default=10)
    parser.add_argument("--jwt-sessions", type=int, default=1000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="passes over everything; the median pass is shown"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--lg-cpu", type=int, default=1)
    parser.add_argument("--group-timeout", type=float, default=120.0)
    parser.add_argument("--total-timeout", type=float, default=1200.0)
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the minisock server into DIR"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--no-latest", action="store_true", help="do not overwrite results/latest.md"
    )
    args = parser.parse_args(argv)
    args.echo_cases = [parse_echo_case(c) for c in args.echo_cases]
    return args


async def main_async(args: argparse.Namespace) -> int:
    specs = server_specs(args)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / f"run-{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    jsonl = args.out / f"run-{stamp}.jsonl"
    rows: list[dict[str, Any]] = []
    meta = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"Node {node_version(args.node)}"
        ),
        "commit": git_state(),
        "server_cpu": args.server_cpu,
        "lg_cpu": args.lg_cpu,
        "duration": args.duration,
        "warmup": args.warmup,
        "repeat": args.repeat,
    }

    with open(jsonl, "a") as f:
        f.write(json.dumps({"run": stamp, "scenario": "meta", **meta, "args": sys.argv[1:]}) + "\n")

    def emit(row: dict[str, Any]) -> None:
        row = {"run": stamp, **row}
        rows.append(row)
        with open(jsonl, "a") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        text = row.get("case", "")
        if row["scenario"] == "stop" and row.get("ok"):
            return
        if row["scenario"] in ("check", "check-jwt"):
            failed = [
                r["name"] + ": " + r["detail"] for r in row.get("results", []) if not r["pass"]
            ]
            status = (
                f"{row.get('pass', 0)} pass, {row.get('fail', 0)} fail"
                if "pass" in row
                else row.get("fatal")
            )
            print(f"  {row['server']:16} {text:24} {status}", flush=True)
            for f_ in failed:
                print(f"      FAIL {f_}", flush=True)
        else:
            cell = (
                headline(row)[0]
                if "fatal" not in row
                or any(k in row for k in ("msgs_per_s", "deliveries_per_s", "conn_per_s"))
                else f"FATAL {row.get('fatal')}"
            )
            print(f"  {row['server']:16} {text:24} {cell}", flush=True)

    start = time.monotonic()
    for rep in range(args.repeat):
        order = specs[rep % len(specs) :] + specs[: rep % len(specs)]  # rotate who goes first
        for group in args.scenarios:
            print(f"== {group}" + (f" (pass {rep + 1}/{args.repeat})" if args.repeat > 1 else ""))
            for spec in order:
                if group in SCENARIOS and NEEDS[group] not in spec.caps:
                    continue
                if group == "check-jwt" and "jwt" not in spec.caps:
                    continue
                if time.monotonic() - start > args.total_timeout:
                    print("total time limit reached; stopping", flush=True)
                    break
                await run_group(
                    group, spec, args, log_dir, lambda row, rep=rep: emit({"rep": rep, **row})
                )
    rows = collapse(rows)
    md = markdown(rows, [s.name for s in specs], meta)
    (args.out / f"run-{stamp}.md").write_text(md)
    if not args.no_latest:
        (args.out / "latest.md").write_text(md)
    print()
    print(md)
    print(f"results: {jsonl} and {args.out / f'run-{stamp}.md'}")
    return 0


def collapse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """With ``--repeat``: per server and case, the pass whose headline figure is the median
    (a check or failure row from any pass is kept)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["server"], row["scenario"], row.get("case", "")), []).append(row)
    out = []
    for members in groups.values():
        if len(members) == 1 or members[0]["scenario"] in ("check", "check-jwt", "stop"):
            out.extend(members if members[0]["scenario"] == "stop" else members[-1:])
            continue
        scored = [(headline(r)[1], r) for r in members if headline(r)[1] is not None]
        if not scored:
            out.append(members[-1])
            continue
        scored.sort(key=lambda pair: pair[0])
        row = dict(scored[len(scored) // 2][1])
        row["reps"] = len(members)
        row["spread"] = [round(v, 1) for v, _r in scored]
        row["ok"] = all(r.get("ok") for r in members)
        out.append(row)
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def git_state() -> str:
    """The commit measured, and which minisock files differ from it (others may be editing)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "minisock", "examples"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def node_version(node: str) -> str:
    try:
        return subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main() -> int:
    global ARGS
    args = ARGS = parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # children inherit it
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.lg_cpu})
    try:
        import uvloop  # type: ignore[import-not-found]

        runner: Callable[..., int] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(main_async(args))


if __name__ == "__main__":
    random.seed()
    sys.exit(main())
