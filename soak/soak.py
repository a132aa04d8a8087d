"""Soak: churn Socket.IO clients over both transports, with upgrades, against one server process,
and check that nothing is lost, reordered or leaked.

    .venv/bin/python soak/soak.py --seconds 300        # what `make soak` runs
    SOAK_SECONDS=60 make soak

The server runs in its own process (this script with ``--serve``): a minisock ``Server`` whose
``msg`` handler checks that each client's messages arrive in order, emits ``echo`` back and
acknowledges with the sequence number. A stats route (``GET /soak/stats``) reports its session
table, sockets, rooms and order violations.

The clients run here, in one trio loop, with raw Engine.IO on minisock's own test clients
(``minisock.testing``: h11 for HTTP, wsproto for WebSocket), never minisock's server code.
Each worker loops over short sessions of one kind, chosen at random:

- ``polling``: long-polling only (one connection holding the GET, one for POSTs);
- ``upgrade``: polling, then a WebSocket upgrade (probe, pause, ``5``) *while messages flow*;
- ``websocket``: a WebSocket from the start;
- ``hostile`` (a few): a malformed POST (400 expected), an unknown sid (400 expected), or an
  unmasked WebSocket frame (close 1002 expected).

A session sends 5-40 ``msg`` events (some binary), each asking for an ack, at most 4 in
flight, then ``bye`` with its count, and leaves politely (``41`` + ``1``) or by dropping TCP.
Every ack must come exactly once, every ``echo`` exactly once and in order.

Meanwhile the server's RSS and open fds are sampled from ``/proc`` every second. At the end,
after every client has left: no lost, duplicated or reordered message, no unexpected status or
close code, no error in the server log, an empty session table, fds back to the baseline, and
RSS growth after warm-up below ``--rss-limit-mb`` (20 MB). Exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from minisock import Server, SessionClosedError, Socket
from minisock.proto.eio import Packet, PacketType, decode_packet, decode_payload, encode_payload
from minisock.proto.sio import Decoder, SioPacket, SioPacketType, encode
from minisock.proto.ws import Opcode, encode_frame
from minisock.request import Request, Response
from minisock.testing import HttpClient, WsClient, WsClosed, eio_target

PATH = "/socket.io/"
PING_INTERVAL = 5.0
PING_TIMEOUT = 5.0
SESSION_LIMIT = 60.0  # seconds one client session may take before it counts as stuck
WINDOW = 4  # unacknowledged messages in flight per client

# ================================================================================ server


def build_server() -> Server:
    sio = Server(
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        connect_timeout=10.0,
        max_payload=100_000,
    )
    cids: dict[str, int] = {}  # Socket.IO sid -> client id
    last_seq: dict[int, int] = {}  # client id -> last sequence number received
    totals = {"received": 0, "violations": 0, "bye_mismatch": 0}
    first_violations: list[str] = []

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        cid = int(auth["cid"])
        cids[socket.sid] = cid
        last_seq[cid] = 0
        socket.join(f"room{cid % 8}")

    @sio.on("disconnect")
    async def disconnect(socket: Socket, reason: str) -> None:
        cid = cids.pop(socket.sid, None)
        if cid is not None:
            last_seq.pop(cid, None)

    @sio.on("msg")
    async def msg(socket: Socket, cid: int, seq: int, payload: Any) -> int:
        totals["received"] += 1
        expected = last_seq.get(cid, 0) + 1
        if seq != expected:
            totals["violations"] += 1
            if len(first_violations) < 10:
                first_violations.append(f"client {cid}: got {seq}, expected {expected}")
        last_seq[cid] = seq
        try:
            await socket.emit("echo", seq)
            if seq % 10 == 0:
                await sio.to(f"room{cid % 8}").emit("room-note", cid, seq)
        except SessionClosedError:
            pass  # the client left while we answered
        return seq

    @sio.on("bye")
    async def bye(socket: Socket, cid: int, count: int) -> bool:
        ok = last_seq.get(cid) == count
        if not ok:
            totals["bye_mismatch"] += 1
        return ok

    @sio.route("GET", "/soak/stats")
    async def stats(request: Request) -> Response:
        namespace = sio.of("/")
        registry = getattr(namespace.adapter, "registry", None)
        rooms = len(getattr(registry, "_members", {}))
        return Response.json(
            {
                "sessions": len(sio.engine.sessions),
                "connections": sio.engine.connections - 1,  # not this request's
                "sockets": len(namespace.sockets),
                "rooms": rooms,
                "clients_tracked": len(last_seq),
                "first_violations": first_violations,
                **totals,
            }
        )

    baseline: dict[str, Any] = {}

    @sio.route("GET", "/soak/memory")
    async def memory(request: Request) -> Response:
        """Live objects by type (and, with --tracemalloc, allocation sites), as a diff
        against the mark that ``?mark=1`` sets. A leak shows up as a type or a line that
        grows with the number of sessions served."""
        gc.collect()
        types = Counter(type(o).__qualname__ for o in gc.get_objects())
        snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        blocks = sys.getallocatedblocks()
        if request.query.get("mark"):
            baseline.update(types=types, snapshot=snapshot, blocks=blocks)
            return Response.json({"marked": True})
        grown = types - baseline.get("types", Counter())
        report: dict[str, Any] = {
            "objects": dict(grown.most_common(15)),
            "blocks_at_mark": baseline.get("blocks", 0),
            "blocks_now": blocks,
        }
        if request.query.get("trim"):
            # Give free heap pages back to the kernel, so RSS shows what is really held.
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                report["trimmed"] = True
            except OSError:
                report["trimmed"] = False
        old = baseline.get("snapshot")
        if snapshot is not None and old is not None:
            stats = snapshot.compare_to(old, "lineno")[:12]
            report["allocations"] = [str(stat) for stat in stats]
        return Response.json(report)

    return sio


async def serve(port: int) -> None:
    sio = build_server()
    async with trio.open_nursery() as nursery:
        bound: int = await nursery.start(sio.serve, "127.0.0.1", port)
        print(f"PORT {bound}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                sio.shutdown()
                break


# ================================================================================ clients


@dataclass
class Stats:
    sessions: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    acks: int = 0
    echoes: int = 0
    room_notes: int = 0
    upgrades: int = 0
    expected_errors: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0

    def problem(self, text: str) -> None:
        self.unexpected.append(text)


class LockedWsClient(WsClient):
    """WsClient whose writes are serialised: the reader answers the server's Close (inside
    ``receive``) while the writer task may be sending."""

    _lock: trio.Lock | None = None

    async def _send(self, event: Any) -> None:
        if self._lock is None:
            self._lock = trio.Lock()
        async with self._lock:
            await super()._send(event)


class EngineClient:
    """An Engine.IO client on minisock.testing's HTTP and WebSocket clients.

    ``polling`` keeps one connection for the long-poll GET and one for POSTs, as a browser
    does. :meth:`upgrade` follows engine.io-client: probe, pause polling (the in-flight GET
    and POST finish), send ``5``, then carry on over the WebSocket.
    """

    def __init__(self, port: int, stats: Stats, nursery: trio.Nursery) -> None:
        self.port = port
        self.stats = stats
        self.nursery = nursery
        self.sid = ""
        self.transport = "polling"
        self.outbox: list[str | bytes] = []
        self.inbox_send, self.inbox = trio.open_memory_channel[str | bytes](1000)
        self._changed = trio.Event()
        self.pausing = False
        self.poll_paused = trio.Event()
        self.post_paused = trio.Event()
        self.closed = False
        self.leaving = False
        self.get_http: HttpClient | None = None
        self.post_http: HttpClient | None = None
        self.ws: WsClient | None = None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def send(self, wires: list[str | bytes]) -> None:
        """Queue wire packets (``"4..."`` text or raw bytes); they stay contiguous."""
        self.outbox.extend(wires)
        self._notify()

    # ---------------------------------------------------------------- opening

    async def open_polling(self) -> None:
        self.get_http = await HttpClient.open(self.port)
        self.post_http = await HttpClient.open(self.port)
        response = await self.get_http.get(eio_target(PATH))
        if response.status != 200 or not response.body.startswith(b"0{"):
            raise RuntimeError(f"handshake: {response.status} {response.body[:80]!r}")
        self.sid = json.loads(response.body[1:])["sid"]
        self.nursery.start_soon(self._poll_loop)
        self.nursery.start_soon(self._post_loop)

    async def open_websocket(self) -> None:
        self.ws = await LockedWsClient.open(self.port, eio_target(PATH, transport="websocket"))
        opened = await self.ws.receive()
        if not isinstance(opened, str) or not opened.startswith("0{"):
            raise RuntimeError(f"websocket open packet: {opened!r}")
        self.sid = json.loads(opened[1:])["sid"]
        self.transport = "websocket"
        self.nursery.start_soon(self._ws_reader)
        self.nursery.start_soon(self._ws_writer)

    # ---------------------------------------------------------------- polling

    async def _handle(self, packet: Packet) -> None:
        if packet.type is PacketType.MESSAGE:
            await self.inbox_send.send(packet.data)
        elif packet.type is PacketType.PING:
            self.send(["3"])
        elif packet.type is PacketType.CLOSE:
            self.closed = True
            self._notify()

    async def _poll_loop(self) -> None:
        assert self.get_http is not None
        try:
            while not self.closed and not self.pausing:
                response = await self.get_http.get(eio_target(PATH, sid=self.sid))
                if response.status != 200:
                    if not self.leaving:  # after our "1" the sid is gone: 400 is the answer
                        self.stats.problem(
                            f"poll GET answered {response.status}: {response.body[:100]!r}"
                        )
                    self.closed = True
                    self._notify()
                    return
                for packet in decode_payload(response.text):
                    await self._handle(packet)
        finally:
            self.poll_paused.set()

    async def _post_loop(self) -> None:
        assert self.post_http is not None
        try:
            while not self.closed and not self.pausing:
                if not self.outbox:
                    await self._changed.wait()
                    continue
                wires, self.outbox = self.outbox, []
                body = encode_payload(wires)
                response = await self.post_http.post(eio_target(PATH, sid=self.sid), body)
                if response.status != 200:
                    self.stats.problem(f"POST answered {response.status}: {response.body[:100]!r}")
                    self.closed = True
                    self._notify()
                    return
        finally:
            self.post_paused.set()

    # ---------------------------------------------------------------- websocket

    async def _ws_reader(self) -> None:
        assert self.ws is not None
        try:
            while True:
                message = await self.ws.receive()
                await self._handle(decode_packet(message))
        except WsClosed as closed:
            if closed.code not in (1000, 1005, 1006):
                self.stats.problem(f"server closed the WebSocket with {closed.code}")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        self.closed = True
        self._notify()

    async def _ws_writer(self) -> None:
        assert self.ws is not None
        while not self.closed:
            if not self.outbox:
                await self._changed.wait()
                continue
            wires, self.outbox = self.outbox, []
            for wire in wires:
                await self.ws.send(wire)

    # ---------------------------------------------------------------- upgrade and close

    async def upgrade(self) -> None:
        target = eio_target(PATH, transport="websocket", sid=self.sid)
        ws = await LockedWsClient.open(self.port, target)
        await ws.send("2probe")
        answer = await ws.receive()
        if answer != "3probe":
            raise RuntimeError(f"probe answered {answer!r}")
        self.pausing = True
        self._notify()
        await self.poll_paused.wait()
        await self.post_paused.wait()
        await ws.send("5")
        self.ws, self.transport = ws, "websocket"
        self.nursery.start_soon(self._ws_reader)
        self.nursery.start_soon(self._ws_writer)
        self.stats.upgrades += 1
        for http in (self.get_http, self.post_http):
            if http is not None:
                await http.aclose()

    async def leave(self) -> None:
        """Leave politely: Socket.IO DISCONNECT and Engine.IO close, then wait for the end."""
        self.leaving = True
        self.send(["41", "1"])
        with trio.move_on_after(10):
            while not self.closed:
                await self._changed.wait()
        if not self.closed:
            self.stats.problem(f"session {self.transport} did not end after 41 and 1")

    async def drop(self) -> None:
        """Close every connection at once (after the tasks using them are cancelled)."""
        self.closed = True
        for http in (self.get_http, self.post_http):
            if http is not None:
                await http.aclose()
        if self.ws is not None:
            await self.ws.aclose()


def _wires(packet: SioPacket) -> list[str | bytes]:
    parts = encode(packet)
    return [f"4{part}" if isinstance(part, str) else part for part in parts]


async def client_session(port: int, cid: int, kind: str, stats: Stats, rng: random.Random) -> None:
    count = rng.randint(5, 40)
    acked: Counter[int] = Counter()
    echoes: list[int] = []
    window = trio.Semaphore(WINDOW)
    connected = trio.Event()
    bye_answer: list[bool] = []
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        engine = EngineClient(port, stats, nursery)
        if kind == "websocket":
            await engine.open_websocket()
        else:
            await engine.open_polling()

        async def reader() -> None:
            decoder = Decoder()
            async for message in engine.inbox:
                packet = decoder.receive(message)
                if packet is None:
                    continue
                if packet.type is SioPacketType.CONNECT:
                    connected.set()
                elif packet.type is SioPacketType.ACK and packet.id is not None:
                    if packet.id == 0:
                        bye_answer.append(bool(packet.data and packet.data[0] is True))
                        done.set()
                    else:
                        if packet.data != [packet.id]:
                            stats.problem(f"client {cid}: ack {packet.id} carried {packet.data}")
                        acked[packet.id] += 1
                        stats.acks += 1
                        window.release()
                elif packet.type is SioPacketType.EVENT and packet.data[0] == "echo":
                    echoes.append(packet.data[1])
                    stats.echoes += 1
                elif packet.type is SioPacketType.EVENT and packet.data[0] == "room-note":
                    stats.room_notes += 1
                else:
                    stats.problem(f"client {cid}: unexpected packet {packet}")

        nursery.start_soon(reader)
        engine.send([f"40{json.dumps({'cid': cid})}"])
        await connected.wait()
        upgrade_at = rng.randint(1, count) if kind == "upgrade" else -1
        for seq in range(1, count + 1):
            if seq == upgrade_at:
                nursery.start_soon(engine.upgrade)  # messages keep flowing meanwhile
            await window.acquire()
            payload: Any = (
                rng.randbytes(rng.randint(1, 2000))
                if rng.random() < 0.1
                else "x" * rng.randint(0, 2000)
            )
            engine.send(
                _wires(SioPacket(SioPacketType.EVENT, "/", ["msg", cid, seq, payload], seq))
            )
            stats.messages += 1
            if rng.random() < 0.3:
                await trio.sleep(rng.random() * 0.02)
        for _ in range(WINDOW):
            await window.acquire()  # every ack is in
        while len(echoes) < count and not engine.closed:
            await trio.sleep(0.01)
        if kind == "upgrade":
            while engine.transport != "websocket" and not engine.closed:
                await trio.sleep(0.01)
        engine.send(_wires(SioPacket(SioPacketType.EVENT, "/", ["bye", cid, count], 0)))
        await done.wait()
        if rng.random() < 0.5:
            await engine.leave()
        nursery.cancel_scope.cancel()  # then drop TCP, whether or not we said goodbye
    await engine.drop()
    # exactly once, in order
    missing = [s for s in range(1, count + 1) if acked[s] == 0]
    stats.lost += len(missing)
    stats.duplicated += sum(n - 1 for n in acked.values() if n > 1)
    if echoes != list(range(1, count + 1)):
        if sorted(echoes) == list(range(1, count + 1)):
            stats.reordered += 1
        else:
            stats.lost += count - len(set(echoes))
            stats.duplicated += len(echoes) - len(set(echoes))
    if bye_answer != [True]:
        stats.problem(f"client {cid}: server saw a different count ({bye_answer})")


async def hostile_session(port: int, stats: Stats, rng: random.Random) -> None:
    """Misbehave in one of three ways, and check the server answers as documented."""
    which = rng.choice(["bad-post", "bad-sid", "unmasked"])
    if which == "unmasked":
        ws = await WsClient.open(port, eio_target(PATH, transport="websocket"))
        await ws.receive()
        await ws.send_raw(encode_frame(Opcode.TEXT, b"4hi"))  # a server-style (unmasked) frame
        closed = await ws.wait_closed()
        await ws.aclose()
        if closed.code == 1002:
            stats.expected_errors["ws 1002 (unmasked frame)"] += 1
        else:
            stats.problem(f"unmasked frame closed with {closed.code}")
        return
    async with await HttpClient.open(port) as http:
        if which == "bad-sid":
            response = await http.get(eio_target(PATH, sid="no-such-session"))
            label = "400 unknown sid"
        else:
            opened = await http.get(eio_target(PATH))
            sid = json.loads(opened.body[1:])["sid"]
            response = await http.post(eio_target(PATH, sid=sid), "zz")
            label = "400 malformed payload"
            # The session is gone (400), or closed and lingering for its final "1".
            after = await http.get(eio_target(PATH, sid=sid))
            if after.status != 400 and (after.status, after.body) != (200, b"1"):
                stats.problem(
                    f"session survived a malformed payload: {after.status} {after.body!r}"
                )
        if response.status == 400:
            stats.expected_errors[label] += 1
        else:
            stats.problem(f"{which}: answered {response.status}")


async def worker(port: int, stats: Stats, deadline: float, seed: int, ids: list[int]) -> None:
    rng = random.Random(seed)
    while trio.current_time() < deadline:
        kind = rng.choices(["polling", "upgrade", "websocket", "hostile"], [30, 35, 30, 5])[0]
        stats.sessions[kind] += 1
        ids[0] += 1
        try:
            with trio.fail_after(SESSION_LIMIT):
                if kind == "hostile":
                    await hostile_session(port, stats, rng)
                else:
                    await client_session(port, ids[0], kind, stats, rng)
        except trio.TooSlowError:
            stats.problem(f"a {kind} session took over {SESSION_LIMIT:.0f} s")
        except Exception as exc:
            stats.problem(f"{kind} session failed: {exc!r}")


# ================================================================================ measuring


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def server_get(port: int, target: str) -> dict[str, Any]:
    async with await HttpClient.open(port) as http:
        response = await http.get(target)
    value: dict[str, Any] = response.json()
    return value


async def server_stats(port: int) -> dict[str, Any]:
    return await server_get(port, "/soak/stats")


async def settle(
    pid: int, port: int, baseline_fds: int, limit: float
) -> tuple[dict[str, Any], int]:
    """Wait until the server has no session, no connection and its baseline fds."""
    deadline = trio.current_time() + limit
    while True:
        stats = await server_stats(port)
        await trio.sleep(0.3)  # let the stats connection itself close
        fds = fd_count(pid)
        idle = stats["sessions"] == 0 and stats["connections"] == 0 and fds <= baseline_fds
        if idle or trio.current_time() > deadline:
            return stats, fds
        await trio.sleep(0.5)


async def soak(args: argparse.Namespace, pid: int, port: int) -> bool:
    stats = Stats()
    warmup = min(30.0, args.seconds * 0.2)
    baseline_stats, baseline_fds = await settle(pid, port, 10**6, 1.0)
    rss_start = rss_mb(pid)
    samples: list[tuple[float, float, int]] = []
    start = trio.current_time()
    deadline = start + args.seconds
    ids = [0]

    async def sample() -> None:
        last_report = start
        while True:
            now = trio.current_time()
            samples.append((now - start, rss_mb(pid), fd_count(pid)))
            if now - last_report >= 15:
                last_report = now
                _, rss, fds = samples[-1]
                print(
                    f"  t={now - start:5.0f} s  rss {rss:6.1f} MB  fds {fds:5d}  "
                    f"sessions {sum(stats.sessions.values()):6d}  messages {stats.messages:7d}  "
                    f"problems {len(stats.unexpected)}",
                    flush=True,
                )
            await trio.sleep(1)

    print(
        f"soak: {args.seconds:.0f} s, {args.clients} clients, warm-up {warmup:.0f} s; "
        f"server pid {pid} on port {port}; baseline rss {rss_start:.1f} MB, fds {baseline_fds}",
        flush=True,
    )

    async def mark_after_warmup() -> None:
        await trio.sleep(warmup)
        await server_get(port, "/soak/memory?mark=1")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        nursery.start_soon(mark_after_warmup)
        async with trio.open_nursery() as workers:
            for index in range(args.clients):
                workers.start_soon(worker, port, stats, deadline, args.seed + index, ids)
        churn_seconds = trio.current_time() - start
        final_stats, final_fds = await settle(pid, port, baseline_fds, 3 * PING_INTERVAL + 5)
        nursery.cancel_scope.cancel()
    rss_end = rss_mb(pid)
    memory = await server_get(port, "/soak/memory?trim=1")
    rss_trimmed = rss_mb(pid)

    after_warmup = [rss for t, rss, _ in samples if t >= warmup]
    rss_warm = after_warmup[0] if after_warmup else rss_start
    rss_peak = max((rss for _, rss, _ in samples), default=rss_start)
    steady = [(t, rss) for t, rss, _ in samples if warmup <= t <= churn_seconds]
    slope = _slope(steady) * 60 if len(steady) >= 10 else float("nan")
    growth = rss_end - rss_warm

    print()
    print(f"sessions by kind   {dict(stats.sessions)} (total {sum(stats.sessions.values())})")
    print(f"upgrades done      {stats.upgrades}")
    print(
        f"messages           sent {stats.messages}, acked {stats.acks}, echoed {stats.echoes}; "
        f"server received {final_stats['received']}; room notes seen {stats.room_notes}"
    )
    print(
        f"delivery           lost {stats.lost}, duplicated {stats.duplicated}, "
        f"reordered sessions {stats.reordered}, server order violations "
        f"{final_stats['violations']}, bye mismatches {final_stats['bye_mismatch']}"
    )
    print(f"expected errors    {dict(stats.expected_errors)}")
    print(f"unexpected         {len(stats.unexpected)}")
    for line in stats.unexpected[:15]:
        print(f"                   - {line}")
    print(
        f"rss                start {rss_start:.1f} MB, after warm-up {rss_warm:.1f} MB, "
        f"peak {rss_peak:.1f} MB, end {rss_end:.1f} MB; growth after warm-up {growth:+.1f} MB "
        f"({100 * growth / rss_warm:+.1f} %); steady-state slope {slope:+.2f} MB/min"
    )
    print(f"fds                baseline {baseline_fds}, end {final_fds}")
    grown = ", ".join(f"{name} +{n}" for name, n in memory["objects"].items()) or "none"
    print(f"objects grown      since warm-up (after gc): {grown}")
    print(
        f"python heap        allocated blocks {memory['blocks_at_mark']} after warm-up, "
        f"{memory['blocks_now']} at the end; RSS after malloc_trim {rss_trimmed:.1f} MB"
    )
    for line in memory.get("allocations", []):
        print(f"                   {line}")
    print(
        f"server table       sessions {final_stats['sessions']}, connections "
        f"{final_stats['connections']}, sockets {final_stats['sockets']}, rooms "
        f"{final_stats['rooms']}, clients tracked {final_stats['clients_tracked']}"
    )

    checks = {
        "no message lost": stats.lost == 0,
        "no message duplicated": stats.duplicated == 0,
        "no message reordered": stats.reordered == 0 and final_stats["violations"] == 0,
        "server counted what each client sent": final_stats["bye_mismatch"] == 0,
        "every ack and echo arrived": stats.acks == stats.messages == stats.echoes,
        "no unexpected answer or failure": not stats.unexpected,
        f"RSS growth after warm-up < {args.rss_limit_mb:.0f} MB": growth < args.rss_limit_mb,
        "python heap not grown (allocated blocks, live objects by type)": memory["blocks_now"]
        <= memory["blocks_at_mark"] * 1.05
        and sum(memory["objects"].values()) < 1000,
        "fds back to the baseline": final_fds <= baseline_fds,
        "session table empty": final_stats["sessions"] == 0 and final_stats["connections"] == 0,
        "no socket, room or client state left": final_stats["sockets"] == 0
        and final_stats["rooms"] == baseline_stats["rooms"]
        and final_stats["clients_tracked"] == 0,
    }
    print()
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return all(checks.values())


def _slope(points: list[tuple[float, float]]) -> float:
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 300)))
    parser.add_argument("--clients", type=int, default=32, help="concurrent client workers")
    parser.add_argument("--rss-limit-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the server's allocations (slower)"
    )
    parser.add_argument("--serve", action="store_true", help="run the server (internal)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.serve:
        if args.tracemalloc:
            tracemalloc.start(8)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        trio.run(serve, args.port)
        return

    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115  (kept open for the child)
        prefix="minisock-soak-server-", suffix=".log", delete=False
    )
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(args.port),
            *(["--tracemalloc"] if args.tracemalloc else []),
        ],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    ok = False
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            sys.exit(f"the server did not start; see {log_file.name}")
        port = int(line.split()[1])
        ok = trio.run(soak, args, server.pid, port)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
    log_text = Path(log_file.name).read_text()
    errors = [line for line in log_text.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
    tracebacks = log_text.count("Traceback")
    clean_exit = server.returncode == 0
    print(f"  [{'ok' if not errors and not tracebacks else 'FAIL'}] server log clean ", end="")
    print(f"({len(errors)} errors, {tracebacks} tracebacks; {log_file.name})")
    print(
        f"  [{'ok' if clean_exit else 'FAIL'}] server exited cleanly (status {server.returncode})"
    )
    for line in errors[:10]:
        print(f"      {line}")
    if not (ok and not errors and not tracebacks and clean_exit):
        print("soak: FAILED")
        sys.exit(1)
    print("soak: passed")


if __name__ == "__main__":
    main()
