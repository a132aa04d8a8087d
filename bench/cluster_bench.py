#!/usr/bin/env python3
"""The cluster benchmark: two bench servers on one Redis, minisock beside Node.

    make bench                 # runs bench/loadgen.py, then this
    make bench-cluster         # only this
    bench/.venv/bin/python bench/cluster_bench.py --minisock-python .venv/bin/python [options]

It starts ``redis-server`` on a free port of 127.0.0.1 and, per group, two bench servers
(``examples/bench_server.py`` or ``bench/peers/node_socketio_server.mjs``) with
``BENCH_REDIS_URL`` set, so ``bcast`` on server A reaches the room's members on server B through
the Redis adapter (minisock's ``RedisBus``, Node's ``@socket.io/redis-adapter`` 8.3; the two
speak the same protocol, so mixed pairs work too). It reuses loadgen's wire-level client.

- ``latency``: a client on B joins a room; a client on A sends ``42["bcast",room,payload]`` at
  200 msg/s, 1,000 messages, paced (open loop); latency = from the write on A's connection to
  the ``msg`` read on B's. The same-node row is the same with the receiver on A.
- ``rate``: the same, cross-node, at 500, 1,000, 2,000, 4,000... msg/s, 3 s each; a step passes
  with nothing lost and p99 < 50 ms; the first failure ends it; the last pass is reported.
- ``fanout``: 1,000 receivers in one room, the sender (not a member) on A keeps 8 ``bcast`` in
  flight, a slot frees when all 1,000 copies arrived (10 s: lost), as loadgen's fanout. On one
  process (1,000 on A), and on two (500 on A, 500 on B). CPU seconds per process from /proc.

Pinning (a 2-core machine): the load generator on CPU 1; servers A and B *and Redis* share
CPU 0, so a cluster gets the same one core as loadgen's single server. The fan-out on two
processes is also run with one server per core (A on CPU 0, B on CPU 1) and the load generator
and Redis unpinned, which is the only way two processes can use two cores here; that row
shares its cores with the load generator and says so. Every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import loadgen as lg
from loadgen import WS, ServerProc, ServerSpec, connect_many, ms, percentile, sio_connect

RATES = [500, 1000, 2000, 4000, 8000, 16000, 32000, 64000]
P99_LIMIT_MS = 50.0
NOISY_PCT = 25.0  # other processes' CPU (% of one core) above which a failed step runs again
SECTION_START = "<!-- cluster-bench:start -->"
SECTION_END = "<!-- cluster-bench:end -->"


# =============================================================================== processes


class Redis:
    """``redis-server`` on a free port, no persistence, stopped by PID."""

    def __init__(self, cpu: str, log_dir: Path) -> None:
        self.cpu = cpu
        self.log_dir = log_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="cluster-bench-redis-")

    @property
    def url(self) -> str:
        return f"redis://{lg.HOST}:{self.port}"

    async def start(self) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = lg.free_port()
        argv = [exe, "--port", str(self.port), "--bind", lg.HOST, "--save", ""]
        argv += ["--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"]
        log = open(self.log_dir / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.cpu, *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise lg.BenchError(f"redis-server exited with {self.proc.returncode}")
            with contextlib.suppress(TimeoutError, OSError):
                r, w = await asyncio.wait_for(asyncio.open_connection(lg.HOST, self.port), 1)
                w.write(b"PING\r\n")
                line = await asyncio.wait_for(r.readline(), 1)
                w.close()
                if line.startswith(b"+PONG"):
                    return
            await asyncio.sleep(0.05)
        raise lg.BenchError("redis-server did not answer PING within 10 s")

    def pin(self, cpus: set[int]) -> None:
        if self.proc is not None:
            os.sched_setaffinity(self.proc.pid, cpus)

    def cpu_s(self) -> float:
        return proc_cpu_s([self.proc.pid] if self.proc else [])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def proc_cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / lg.CLK_TCK


def spec(kind: str, role: str, args: argparse.Namespace) -> ServerSpec:
    if kind == "minisock":
        cmd = [args.minisock_python, str(lg.REPO / "examples" / "bench_server.py")]
    else:
        cmd = [args.node, str(lg.HERE / "peers" / "node_socketio_server.mjs")]
    return ServerSpec(f"{kind}-{role}", cmd, lg.ALL_CAPS)


async def start_server(
    kind: str, role: str, cpu: str, redis: Redis | None, args: argparse.Namespace, log_dir: Path
) -> ServerProc:
    """A bench server on Redis (on the in-memory adapter when ``redis`` is None)."""
    server = ServerProc(spec(kind, role, args), argparse.Namespace(server_cpu=cpu), log_dir)
    await server.start({"BENCH_REDIS_URL": redis.url} if redis else {})
    return server


class Window:
    """CPU seconds of each process (and the load generator) over a measurement window."""

    def __init__(self, procs: dict[str, Any]) -> None:
        self.procs = procs
        self.t0 = time.perf_counter()
        self.cpu0 = {name: p.cpu_s() for name, p in procs.items()}
        self.lg0 = lg.lg_cpu_s()
        self.busy0, self.total0 = lg.core_times()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        busy, total = lg.core_times()
        cpu = {n: round(p.cpu_s() - self.cpu0[n], 3) for n, p in self.procs.items()}
        lg_s = lg.lg_cpu_s() - self.lg0
        busy_pct = 100 * (busy - self.busy0) / max(total - self.total0, 1)
        ours = 100 * (sum(cpu.values()) + lg_s) / wall
        return {
            "wall_s": round(wall, 3),
            "cpu_s": cpu,
            "lg_cpu_pct": round(100 * lg_s / wall, 1),
            "core_busy_pct": round(busy_pct, 1),
            # what other processes took, in % of one core: the noise on this shared machine
            "other_cpu_pct": round(max(0.0, (os.cpu_count() or 1) * busy_pct - ours), 1),
        }


# =============================================================================== clients


async def join(conn: WS, room: str, ack: int = 1, timeout: float = 10.0) -> bool:
    conn.send(f'2{ack}["join","{room}"]')
    try:
        return lg.parse_sio(await conn.next(timeout)) == ("3", ack, [])
    except TimeoutError:
        return False


async def cluster_ready(a: ServerProc, b: ServerProc, timeout: float = 10.0) -> bool:
    """A ``bcast`` on A reaches a member on B (Node subscribes after it listens)."""
    sender, receiver = await sio_connect(a.port), await sio_connect(b.port)
    try:
        if not await join(receiver, "probe"):
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sender.send('2["bcast","probe","#S0000000000#probe"]')
            with contextlib.suppress(TimeoutError):
                if (await receiver.next(0.1)).startswith('2["msg"'):
                    await asyncio.sleep(0.2)  # let the probe's stragglers arrive
                    return True
        return False
    finally:
        lg.close_all([sender, receiver])


async def paced(
    sender: WS, receiver: WS, room: str, rate: float, count: int, procs: dict[str, Any]
) -> dict[str, Any]:
    """``count`` broadcasts at ``rate``/s from ``sender``; latency at ``receiver``."""
    sent: dict[int, float] = {}
    lat: list[float] = []
    state = {"wrong": 0, "dup": 0}
    done = asyncio.Event()
    seen: set[int] = set()

    def on_msg(text: str) -> None:
        now = time.perf_counter()
        seq = lg.seq_of(text)
        t = sent.get(seq)
        if t is None or not text.startswith('2["msg"'):
            state["wrong"] += 1
            return
        if seq in seen:
            state["dup"] += 1
            return
        seen.add(seq)
        lat.append(now - t)
        if len(seen) == count:
            done.set()

    receiver.handler = on_msg
    window = Window(procs)
    t0 = time.perf_counter()
    i = 0
    while i < count:
        now = time.perf_counter()
        due = min(count, int((now - t0) * rate) + 1)
        while i < due:
            i += 1
            sent[i] = time.perf_counter()
            sender.send(f'2["bcast","{room}","{lg.payload(i, 20)}"]')
        # ticks of at least 1 ms (the loop's timer resolution): a burst of what is due
        await asyncio.sleep(max(0.001, t0 + i / rate - time.perf_counter()))
    send_s = time.perf_counter() - t0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), 5.0)
    figures = window.stop()
    lost = count - len(seen)
    return {
        "rate": rate,
        "messages": count,
        "sent_rate": round(count / send_s, 1),
        "p50_ms": ms(percentile(lat, 0.5)),
        "p99_ms": ms(percentile(lat, 0.99)),
        "max_ms": ms(max(lat) if lat else None),
        "lost": lost,
        "wrong": state["wrong"],
        "dup": state["dup"],
        "closed": int(sender.closed) + int(receiver.closed),
        **figures,
    }


async def latency_case(
    a: ServerProc, rx: ServerProc, rate: float, count: int, procs: dict[str, Any], room: str
) -> dict[str, Any]:
    sender, receiver = await sio_connect(a.port), await sio_connect(rx.port)
    try:
        if not await join(receiver, room):
            return {"fatal": "join not acked"}
        await asyncio.sleep(0.1)
        return await paced(sender, receiver, room, rate, count, procs)
    finally:
        lg.close_all([sender, receiver])


async def fanout_case(
    placement: list[tuple[ServerProc, int]], args: argparse.Namespace, procs: dict[str, Any]
) -> dict[str, Any]:
    """Receivers spread as ``placement`` says; the sender on the first server, not a member;
    W broadcasts in flight, a slot frees when every copy arrived; 10 s incomplete: lost."""
    room = "fan"
    conns: list[WS] = []
    for server, n in placement:
        got, errors = await connect_many(server.port, n, args.concurrency)
        conns += got
        if errors:
            lg.close_all(conns)
            return {"fatal": f"{errors} connect errors"}
    sender = await sio_connect(placement[0][0].port)
    try:
        joined = await asyncio.gather(*(join(c, room, i % 1000) for i, c in enumerate(conns)))
        if not all(joined):
            return {"fatal": f"{joined.count(False)} joins not acked"}
        await asyncio.sleep(0.3)  # the cluster's view settles (joins are local; no-op here)
        copies = len(conns)
        inflight: dict[int, list[float]] = {}
        st = {"seq": 0, "running": True, "measuring": False, "deliveries": 0, "lost": 0}
        st["wrong"] = 0
        lat: list[float] = []

        def send_one() -> None:
            st["seq"] += 1
            inflight[st["seq"]] = [time.perf_counter(), copies]
            sender.send(f'2["bcast","{room}","{lg.payload(st["seq"], 20)}"]')

        def on_copy(text: str) -> None:
            now = time.perf_counter()
            seq = lg.seq_of(text)
            entry = inflight.get(seq)
            if entry is None or not text.startswith('2["msg"'):
                st["wrong"] += 1
                return
            if st["measuring"]:
                st["deliveries"] += 1
                lat.append(now - entry[0])
            entry[1] -= 1
            if entry[1] == 0:
                del inflight[seq]
                if st["running"]:
                    send_one()

        for conn in conns:
            conn.handler = on_copy

        async def reaper() -> None:
            while True:
                await asyncio.sleep(0.5)
                now = time.perf_counter()
                for seq, entry in list(inflight.items()):
                    if now - entry[0] > 10:
                        st["lost"] += int(entry[1])
                        del inflight[seq]
                        if st["running"]:
                            send_one()

        reap = asyncio.create_task(reaper())
        for _ in range(args.fanout_window):
            send_one()
        await asyncio.sleep(args.warmup)
        st["measuring"] = True
        window = Window(procs)
        await asyncio.sleep(args.duration)
        st["measuring"] = False
        figures = window.stop()
        st["running"] = False
        deadline = time.monotonic() + 11
        while inflight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        reap.cancel()
        lost = st["lost"] + int(sum(e[1] for e in inflight.values()))
        return {
            "receivers": copies,
            "deliveries_per_s": round(st["deliveries"] / figures["wall_s"], 1),
            "p50_ms": ms(percentile(lat, 0.5)),
            "p99_ms": ms(percentile(lat, 0.99)),
            "lost": lost,
            "wrong": st["wrong"],
            "closed": sum(1 for c in conns if c.closed),
            **figures,
        }
    finally:
        lg.close_all([*conns, sender])


# =============================================================================== groups


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out.mkdir(parents=True, exist_ok=True)
        self.log_dir = args.out / f"cluster-run-{self.stamp}-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = args.out / f"cluster-run-{self.stamp}.jsonl"
        self.rows: list[dict[str, Any]] = []

    def emit(self, row: dict[str, Any]) -> None:
        row = {"run": self.stamp, **row}
        self.rows.append(row)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if "fatal" in row:
            cell = f"FATAL {row['fatal']}"
        elif "sustained_rate" in row:
            cell = f"last passing step: {row['sustained_rate']} msg/s"
        elif "deliveries_per_s" in row:
            cell = (
                f"{row['deliveries_per_s']:.0f} deliveries/s p99 {row['p99_ms']} ms "
                f"lost {row['lost']} cpu {row['cpu_s']}"
            )
        else:
            cell = (
                f"{row['sent_rate']:.0f}/s p50 {row['p50_ms']} p99 {row['p99_ms']} ms "
                f"lost {row['lost']}"
            )
        print(f"  {row['pair']:18} {row['case']:28} {cell}", flush=True)

    async def pair_group(self, kind_a: str, kind_b: str, redis: Redis) -> None:
        """Latency (cross-node, and same-node for a same-kind pair) and the rate steps."""
        args = self.args
        pair = f"{kind_a}->{kind_b}"
        cpu = str(args.server_cpu)
        a = b = None
        try:
            a = await start_server(kind_a, "A", cpu, redis, args, self.log_dir)
            b = await start_server(kind_b, "B", cpu, redis, args, self.log_dir)
            procs = {"A": a, "B": b, "redis": redis}
            if not await cluster_ready(a, b):
                self.emit({"pair": pair, "case": "cluster", "fatal": "bcast A->B never arrived"})
                return
            n, r = args.latency_messages, args.latency_rate
            cases = [("cross-node", b)] + ([("same-node", a)] if kind_a == kind_b else [])
            for i, (where, rx) in enumerate(cases):
                row = await latency_case(a, rx, r, n, procs, f"lat{i}")
                self.emit({"pair": pair, "case": f"latency {where}", "where": where, **row})
                await asyncio.sleep(0.3)
            if kind_a != kind_b or not args.rates:
                return
            best = None
            for rate in args.rates:
                count = int(rate * args.step_seconds)
                for attempt in range(1 + args.noisy_retries):
                    row = await latency_case(a, b, rate, count, procs, f"rate{rate}.{attempt}")
                    noisy = row.get("other_cpu_pct", 0) > NOISY_PCT
                    if (
                        not noisy
                        or (
                            "lost" in row
                            and row["lost"] == 0
                            and row["p99_ms"] is not None
                            and row["p99_ms"] < P99_LIMIT_MS
                        )
                        or attempt == args.noisy_retries
                    ):
                        break
                    row["attempt"] = attempt + 1
                    self.emit({"pair": pair, "case": f"rate {rate}/s (noisy, again)", **row})
                    await asyncio.sleep(1.0)
                row["attempts"] = attempt + 1
                ok = (
                    "fatal" not in row
                    and row["lost"] == 0
                    and row["wrong"] == 0
                    and row["dup"] == 0
                    and row["p99_ms"] is not None
                    and row["p99_ms"] < P99_LIMIT_MS
                )
                lg_limited = "fatal" not in row and row["sent_rate"] < 0.9 * rate
                if lg_limited:  # the load generator could not keep the pace: no verdict
                    ok = False
                    row["note"] = "load generator could not keep the pace"
                self.emit({"pair": pair, "case": f"rate {rate}/s", "step": rate, "pass": ok, **row})
                if not ok:
                    break
                best = rate
                await asyncio.sleep(0.5)
            self.emit({"pair": pair, "case": "sustained", "sustained_rate": best})
        finally:
            for server in (a, b):
                if server is not None:
                    await server.stop()

    async def fanout_group(self, kind: str, layout: str, redis: Redis) -> None:
        args = self.args
        total = args.fanout_receivers
        servers: list[ServerProc] = []
        cpu0, cpu1 = str(args.server_cpu), str(args.lg_cpu)
        affinity = os.sched_getaffinity(0)
        try:
            if layout.startswith("1 process"):
                url = None if layout.endswith("in-memory adapter") else redis
                a = await start_server(kind, "A", cpu0, url, args, self.log_dir)
                servers = [a]
                placement = [(a, total)]
            else:
                spread = layout.endswith("one per core")
                a = await start_server(kind, "A", cpu0, redis, args, self.log_dir)
                servers.append(a)
                b = await start_server(
                    kind, "B", cpu1 if spread else cpu0, redis, args, self.log_dir
                )
                servers.append(b)
                if not await cluster_ready(a, b):
                    self.emit({"pair": kind, "case": f"fanout {layout}", "fatal": "no cluster"})
                    return
                placement = [(a, total // 2), (b, total - total // 2)]
                if spread:  # the load generator and Redis go wherever the kernel puts them
                    os.sched_setaffinity(0, {args.server_cpu, args.lg_cpu})
                    redis.pin({args.server_cpu, args.lg_cpu})
            procs: dict[str, Any] = {"A": servers[0]}
            if len(servers) > 1:
                procs["B"] = servers[1]
            procs["redis"] = redis
            row = await fanout_case(placement, args, procs)
            cpus = {"A": cpu0, "B": cpu1 if layout.endswith("one per core") else cpu0}
            pins = {n: cpus[n] for n in procs if n in cpus}
            self.emit(
                {"pair": kind, "case": f"fanout {layout}", "layout": layout, "pins": pins, **row}
            )
        finally:
            os.sched_setaffinity(0, affinity)
            redis.pin({args.server_cpu})
            for server in servers:
                await server.stop()


# =============================================================================== report


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value}{unit}"


def find(rows: list[dict[str, Any]], pair: str, case: str) -> dict[str, Any] | None:
    for row in rows:
        if row.get("pair") == pair and row.get("case") == case:
            return row
    return None


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    out = [
        f"### minisock cluster benchmark (Redis adapter), {meta['date']}",
        "",
        f"minisock at {meta['commit']}. Machine: {meta['machine']}; Redis {meta['redis']}.",
        f"Load average before the run: {meta['loadavg']}.",
        "",
        f"Pinning: load generator on CPU {meta['lg_cpu']}; servers A and B and Redis all on "
        f"CPU {meta['server_cpu']} (the cluster gets one core, as loadgen's single server), "
        "except the fan-out rows marked *one per core*: A on CPU 0, B on CPU 1, the load "
        "generator and Redis unpinned (sharing both cores).",
        "",
        f"Latency: a client on A sends `bcast` to a room at {meta['latency_rate']:g} msg/s "
        f"({meta['latency_messages']} messages, paced); the room's one member is on B "
        "(cross-node) or on A (same-node); from the write on A's connection to the read of "
        "`msg`. All servers on the Redis adapter.",
        "",
        "| A -> B | case | sent/s | p50 ms | p99 ms | max ms | lost | CPU s A / B / Redis "
        "| other CPU % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not str(row.get("case", "")).startswith("latency"):
            continue
        if "fatal" in row:
            out.append(f"| {row['pair']} | {row['case']} | FATAL {row['fatal']} |||||")
            continue
        cpu = row["cpu_s"]
        out.append(
            f"| {row['pair']} | {row['where']} | {fmt(row['sent_rate'])} | {fmt(row['p50_ms'])} "
            f"| {fmt(row['p99_ms'])} | {fmt(row['max_ms'])} | {row['lost']} "
            f"| {cpu['A']:.2f} / {cpu['B']:.2f} / {cpu['redis']:.2f} "
            f"| {row['other_cpu_pct']:.0f} |"
        )
    out += [
        "",
        f"Sustained cross-node rate: steps of {meta['step_seconds']:g} s; a step passes with "
        f"nothing lost (5 s grace), no wrong or duplicate copy, and p99 < {P99_LIMIT_MS:g} ms; "
        f"a step that fails while other processes take > {NOISY_PCT:g}% of a core runs again "
        f"(at most {meta['noisy_retries']} times, listed).",
        "",
        "| A -> B | sustained | steps (rate: p99 ms, lost, CPU s A / B / Redis, LG CPU %, "
        "other CPU %) |",
        "|---|---|---|",
    ]
    for pair in meta["rate_pairs"]:
        sus = find(rows, pair, "sustained")
        steps = [r for r in rows if r.get("pair") == pair and "step" in r]
        retried = [r for r in rows if r.get("pair") == pair and "again" in str(r.get("case"))]
        cells = []
        for r in steps:
            if "fatal" in r:
                cells.append(f"{r['step']}: FATAL {r['fatal']}")
                continue
            c = r["cpu_s"]
            cells.append(
                f"{r['step']}{'' if r['pass'] else ' ✗'}: sent {fmt(r['sent_rate'])}/s, "
                f"p99 {fmt(r['p99_ms'])}, "
                f"lost {r['lost']}, "
                f"{c['A']:.2f}/{c['B']:.2f}/{c['redis']:.2f}, LG {r['lg_cpu_pct']:.0f}%, "
                f"other {r['other_cpu_pct']:.0f}%" + (f" ({r['note']})" if "note" in r else "")
            )
        best = sus.get("sustained_rate") if sus else None
        if retried:
            cells.append(
                f"({len(retried)} noisy failed run(s) repeated: "
                + ", ".join(f"{r['rate']:g}/s p99 {fmt(r['p99_ms'])}" for r in retried)
                + ")"
            )
        out.append(f"| {pair} | {fmt(best, ' msg/s')} | {'; '.join(cells)} |")
    out += [
        "",
        f"Fan-out: {meta['fanout_receivers']} receivers in one room, the sender (on A, not a "
        f"member) keeps {meta['fanout_window']} `bcast` in flight; {meta['duration']:g} s "
        f"measured after {meta['warmup']:g} s warm-up. CPU seconds in the window per process.",
        "",
        "| server | layout | deliveries/s | p50 ms | p99 ms | lost | CPU s A | CPU s B "
        "| CPU s Redis | LG CPU % | other CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if not str(row.get("case", "")).startswith("fanout"):
            continue
        if "fatal" in row:
            out.append(f"| {row['pair']} | {row['case']} | FATAL {row['fatal']} ||||||||")
            continue
        cpu, pins = row["cpu_s"], row["pins"]
        b = f"{cpu['B']:.2f} (CPU {pins['B']})" if "B" in cpu else "–"
        out.append(
            f"| {row['pair']} | {row['layout']} | {fmt(row['deliveries_per_s'])} "
            f"| {fmt(row['p50_ms'])} | {fmt(row['p99_ms'])} | {row['lost']} "
            f"| {cpu['A']:.2f} (CPU {pins['A']}) | {b} | {cpu['redis']:.2f} "
            f"| {row['lg_cpu_pct']:.0f} | {row['other_cpu_pct']:.0f} |"
        )
    out += ["", "Targets:", "", "| target | figures | met |", "|---|---|---|"]
    for name, figures, met in targets(rows):
        out.append(f"| {name} | {figures} | {met} |")
    return "\n".join(out) + "\n"


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    res = []
    mine = find(rows, "minisock->minisock", "latency cross-node")
    node = find(rows, "node->node", "latency cross-node")
    if mine and node and mine.get("p50_ms") is not None and node.get("p50_ms") is not None:
        diff = mine["p50_ms"] - node["p50_ms"]
        res.append(
            (
                "cross-node p50 within 1 ms of Node<->Node",
                f"{mine['p50_ms']:.2f} vs {node['p50_ms']:.2f} ms ({diff:+.2f} ms)",
                "met" if diff <= 1.0 else "not met",
            )
        )
    else:
        res.append(("cross-node p50 within 1 ms of Node<->Node", "not measured", "–"))
    ms_rate = find(rows, "minisock->minisock", "sustained")
    nd_rate = find(rows, "node->node", "sustained")
    if ms_rate and nd_rate:
        a, b = ms_rate.get("sustained_rate"), nd_rate.get("sustained_rate")
        capped = b is not None and b == max(RATES_USED)
        met = a is not None and (b is None or a >= b)
        res.append(
            (
                "sustained cross-node rate at least Node's",
                f"{fmt(a)} vs {fmt(b)} msg/s" + (" (Node passed every step)" if capped else ""),
                "met" if met else "not met",
            )
        )
    else:
        res.append(("sustained cross-node rate at least Node's", "not measured", "–"))
    lost = sum(int(r.get("lost", 0)) for r in rows)
    bad = sum(int(r.get("wrong", 0)) + int(r.get("dup", 0)) for r in rows)
    fatal = [r for r in rows if "fatal" in r]
    res.append(
        (
            "nothing lost in any run",
            f"{lost} lost, {bad} wrong/duplicate, {len(fatal)} failed cases",
            "met" if not lost and not bad and not fatal else "not met",
        )
    )
    return res


RATES_USED: list[int] = RATES


def replace_section(path: Path, text: str) -> None:
    """Put ``text`` in ``path`` between the section markers, replacing an earlier one."""
    old = path.read_text() if path.exists() else ""
    block = f"{SECTION_START}\n{text}{SECTION_END}\n"
    if SECTION_START in old and SECTION_END in old:
        head, rest = old.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        new = head + block + tail
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + block
    path.write_text(new)


# =============================================================================== main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minisock-python", default=str(lg.REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--node", default="node")
    parser.add_argument(
        "--pairs",
        nargs="*",
        default=["minisock:minisock", "node:node", "minisock:node", "node:minisock"],
        help="A:B server kinds for latency (and, same kind, the rate steps)",
    )
    parser.add_argument("--fanout-servers", nargs="*", default=["minisock", "node"])
    parser.add_argument(
        "--fanout-layouts",
        nargs="*",
        default=[
            "1 process, in-memory adapter",
            "1 process",
            "2 processes",
            "2 processes, one per core",
        ],
    )
    parser.add_argument("--latency-rate", type=float, default=200.0)
    parser.add_argument("--latency-messages", type=int, default=1000)
    parser.add_argument("--rates", type=int, nargs="*", default=RATES)
    parser.add_argument("--step-seconds", type=float, default=3.0)
    parser.add_argument(
        "--noisy-retries",
        type=int,
        default=2,
        help=f"reruns of a failed rate step while others took > {NOISY_PCT:g}%% of a core",
    )
    parser.add_argument("--fanout-receivers", type=int, default=1000)
    parser.add_argument("--fanout-window", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0, help="fan-out seconds measured")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--lg-cpu", type=int, default=1)
    parser.add_argument("--total-timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=lg.RESULTS)
    parser.add_argument(
        "--no-latest",
        action="store_true",
        help="write only cluster-run-*; leave cluster-latest.md and latest.md alone",
    )
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> int:
    global RATES_USED
    RATES_USED = args.rates
    run = Run(args)
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    meta = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, {lg.cpu_model()}, "
            f"Linux {platform.release()}, Python {platform.python_version()}, "
            f"Node {lg.node_version(args.node)}"
        ),
        "redis": redis_version(),
        "commit": lg.git_state(),
        "loadavg": " ".join(loadavg),
        "server_cpu": args.server_cpu,
        "lg_cpu": args.lg_cpu,
        "latency_rate": args.latency_rate,
        "latency_messages": args.latency_messages,
        "step_seconds": args.step_seconds,
        "noisy_retries": args.noisy_retries,
        "fanout_receivers": args.fanout_receivers,
        "fanout_window": args.fanout_window,
        "duration": args.duration,
        "warmup": args.warmup,
        "rate_pairs": [f"{p.split(':')[0]}->{p.split(':')[1]}" for p in args.pairs]
        if args.rates
        else [],
    }
    meta["rate_pairs"] = [p for p in meta["rate_pairs"] if p.split("->")[0] == p.split("->")[1]]
    with open(run.jsonl, "a") as f:
        f.write(json.dumps({"run": run.stamp, "case": "meta", **meta, "args": sys.argv[1:]}) + "\n")
    print(f"load average {meta['loadavg']}", flush=True)
    redis = Redis(str(args.server_cpu), run.log_dir)
    start = time.monotonic()
    try:
        await redis.start()
        print(f"== latency and rate (Redis on port {redis.port})", flush=True)
        for pair in args.pairs:
            kind_a, kind_b = pair.split(":")
            if time.monotonic() - start > args.total_timeout:
                print("total time limit reached; stopping", flush=True)
                break
            try:
                await asyncio.wait_for(run.pair_group(kind_a, kind_b, redis), 300)
            except (lg.BenchError, TimeoutError, OSError, ConnectionError) as exc:
                run.emit({"pair": pair.replace(":", "->"), "case": "group", "fatal": repr(exc)})
        print("== fan-out", flush=True)
        for layout in args.fanout_layouts:
            for kind in args.fanout_servers:
                if time.monotonic() - start > args.total_timeout:
                    break
                try:
                    await asyncio.wait_for(run.fanout_group(kind, layout, redis), 120)
                except (lg.BenchError, TimeoutError, OSError, ConnectionError) as exc:
                    run.emit({"pair": kind, "case": f"fanout {layout}", "fatal": repr(exc)})
    finally:
        redis.stop()
    md = markdown(run.rows, meta)
    (args.out / f"cluster-run-{run.stamp}.md").write_text(md)
    if not args.no_latest:
        (args.out / "cluster-latest.md").write_text(md)
        replace_section(args.out / "latest.md", md)
    print()
    print(md)
    print(f"results: {run.jsonl} and {args.out / f'cluster-run-{run.stamp}.md'}")
    return 0


def redis_version() -> str:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        return next((w[2:] for w in out.split() if w.startswith("v=")), "?")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main() -> int:
    args = parse_args()
    soft, hard = lg.resource.getrlimit(lg.resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != lg.resource.RLIM_INFINITY else 65536
    if soft < want:
        lg.resource.setrlimit(lg.resource.RLIMIT_NOFILE, (want, hard))
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {args.lg_cpu})
    try:
        import uvloop  # type: ignore[import-not-found]

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    return int(runner(main_async(args)))


if __name__ == "__main__":
    sys.exit(main())
