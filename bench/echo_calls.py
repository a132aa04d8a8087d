"""Deterministic cost of the Socket.IO echo and fan-out paths: calls and scheduler passes.

    PYTHONPATH=$PWD python bench/echo_calls.py [--clients 10] [--messages 4000]
    PYTHONPATH=$PWD python bench/echo_calls.py --fanout 1000 --messages 50
    PYTHONPATH=$PWD python bench/echo_calls.py --polling --messages 2000

The bench server's Socket.IO side (examples/bench_server.py) runs in this process; a client
process drives it over real WebSockets on 127.0.0.1 (raw frames, blocking sockets, nothing
shared with the server), or with ``--polling`` as one long-polling client: a GET sent
first and left to wait (1 ms), then the POST with the echo, then both answers read.
Between a ``prof`` event that starts the count and one that stops it, the server counts,
per echoed (or fanned-out) message: Python function calls (``cProfile``), trio task steps
(scheduler passes) and task spawns. Unlike rates on a shared machine these do not depend on
the load, so a change to the hot path shows in them at once. ``--top N`` prints the N
functions with the most calls, ``--callers REGEX`` who calls the functions it matches.
``--time`` measures instead the server's CPU time per message, without the profiler: run
it on a quiet machine, pinned (``taskset -c 0 ... --client-cpu 1``), and compare trees in
one sitting.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import resource
import selectors
import socket
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from bench_server import build_socketio

from minisock import Socket


class Counter(trio.abc.Instrument):
    """Counts task steps and spawns while on."""

    def __init__(self) -> None:
        self.on = False
        self.steps = 0
        self.spawns = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.on:
            self.steps += 1

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if self.on:
            self.spawns += 1


async def serve(args: argparse.Namespace) -> None:
    sio = build_socketio(None)
    counter = Counter()
    trio.lowlevel.add_instrument(counter)
    profile = cProfile.Profile()
    cpu = [0.0, 0.0, 0.0, 0.0]  # user at start, at end; system at start, at end
    done = trio.Event()

    @sio.on("prof")
    async def prof(socket: Socket, on: int) -> int:
        if on:
            counter.on = True
            start = resource.getrusage(resource.RUSAGE_SELF)
            cpu[0], cpu[2] = start.ru_utime, start.ru_stime
            if not args.time:
                profile.enable()
        else:
            end = resource.getrusage(resource.RUSAGE_SELF)
            cpu[1], cpu[3] = end.ru_utime, end.ru_stime
            profile.disable()
            counter.on = False
            done.set()
        return on

    async with trio.open_nursery() as nursery:
        port = await nursery.start(sio.serve, "127.0.0.1", 0)
        client = await trio.lowlevel.open_process(
            [sys.executable, __file__, "--client", str(port), *sys.argv[1:]]
        )
        await done.wait()
        await client.wait()
        nursery.cancel_scope.cancel()
    n = args.messages * (args.fanout or 1)
    what = f"fanout {args.fanout}" if args.fanout else f"echo {args.clients}c"
    if args.polling:
        what = "polling echo 1c, GET held"
    if args.time:
        user, system = (cpu[1] - cpu[0]) * 1e6 / n, (cpu[3] - cpu[2]) * 1e6 / n
        print(
            f"{what}: {user + system:.1f} µs of server CPU per message, {user:.1f} user + "
            f"{system:.1f} system ({n} messages)"
        )
        return
    stats = pstats.Stats(profile)
    total = stats.total_calls  # type: ignore[attr-defined]
    print(
        f"{what}: {total / n:.1f} calls, {counter.steps / n:.2f} task steps, "
        f"{counter.spawns / n:.2f} spawns per message ({n} messages)"
    )
    if args.top:
        stats.sort_stats(args.sort).print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)


# ---------------------------------------------------------------- the client process


def ws_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock


class Conn:
    def __init__(self, port: int) -> None:
        self.sock = ws_connect(port)
        self.buf = b""

    def send(self, text: str) -> None:
        data = text.encode()
        assert len(data) < 126
        self.sock.sendall(bytes([0x81, 0x80 | len(data)]) + b"\0\0\0\0" + data)

    def frames(self) -> list[str]:
        """Whole frames received so far (reads once)."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk
        out = []
        while len(self.buf) >= 2:
            n = self.buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, start = int.from_bytes(self.buf[2:4], "big"), 4
            if len(self.buf) < start + n:
                break
            out.append(self.buf[start : start + n].decode())
            self.buf = self.buf[start + n :]
        return out

    def expect(self, prefix: str) -> str:
        while True:
            for frame in self.frames():
                if frame.startswith(prefix):
                    return frame
                if frame == "2":
                    self.send("3")


class HttpConn:
    """One keep-alive HTTP/1.1 connection, requests written and answers read by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, method: str, target: str, body: str = "") -> None:
        data = body.encode()
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(data)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + data)

    def answer(self) -> str:
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        assert head.startswith(b"HTTP/1.1 200"), head
        return rest[:length].decode()


def polling_client(port: int, args: argparse.Namespace) -> None:
    """Echoes over long-polling, each answered to a GET that was already waiting."""
    gets, posts = HttpConn(port), HttpConn(port)
    gets.send("GET", "/socket.io/?EIO=4&transport=polling")
    sid = gets.answer().split('"sid":"')[1].split('"')[0]
    target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    posts.send("POST", target, "40")
    assert posts.answer() == "ok"
    gets.send("GET", target)
    assert gets.answer().startswith("40")

    def exchange(packet: str, want: str) -> None:
        gets.send("GET", target)
        time.sleep(0.001)  # the GET waits before the POST arrives
        posts.send("POST", target, packet)
        assert posts.answer() == "ok"
        answer = gets.answer()
        assert answer.startswith(want), answer

    for _ in range(200):
        exchange('42["echo","xxxxxxxxxxxxxxxxxxxx"]', '42["echo"')
    exchange('422["prof",1]', "432")
    for _ in range(args.messages):
        exchange('42["echo","xxxxxxxxxxxxxxxxxxxx"]', '42["echo"')
    exchange('423["prof",0]', "433")


def client(port: int, args: argparse.Namespace) -> None:
    if args.client_cpu >= 0:
        os.sched_setaffinity(0, {args.client_cpu})
    if args.polling:
        polling_client(port, args)
        return
    count = args.fanout or args.clients
    conns = [Conn(port) for _ in range(count)]
    for conn in conns:
        conn.expect("0")
        conn.send("40")
        conn.expect("40")
    ctl = conns[0]
    if args.fanout:
        for conn in conns:
            conn.send('421["join","r"]')
            conn.expect("431")
        run_fanout(conns, 5)
        ctl.send('422["prof",1]')
        ctl.expect("432")
        run_fanout(conns, args.messages)
    else:
        run_echo(conns, 200)
        ctl.send('422["prof",1]')
        ctl.expect("432")
        run_echo(conns, args.messages)
    ctl.send('423["prof",0]')
    ctl.expect("433")
    for conn in conns:
        conn.sock.close()


def run_echo(conns: list[Conn], messages: int) -> None:
    """``messages`` echoes in all, one outstanding per client."""
    sel = selectors.DefaultSelector()
    left = {conn: 0 for conn in conns}
    sent = 0
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
        if sent < messages:
            conn.send('42["echo","xxxxxxxxxxxxxxxxxxxx"]')
            sent += 1
            left[conn] += 1
    received = 0
    while received < messages:
        for key, _ in sel.select():
            conn = key.data
            for frame in conn.frames():
                if frame.startswith('42["echo"'):
                    received += 1
                    left[conn] -= 1
                    if sent < messages:
                        conn.send('42["echo","xxxxxxxxxxxxxxxxxxxx"]')
                        sent += 1
                        left[conn] += 1
    sel.close()


def run_fanout(conns: list[Conn], messages: int) -> None:
    """``messages`` broadcasts from the first client, each awaited by every client."""
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    for _ in range(messages):
        conns[0].send('42["bcast","r","xxxxxxxxxxxxxxxxxxxx"]')
        got = 0
        while got < len(conns):
            for key, _ in sel.select():
                got += sum(f.startswith('42["msg"') for f in key.data.frames())
    sel.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--fanout", type=int, default=0)
    parser.add_argument("--polling", action="store_true")
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--callers", default="")
    parser.add_argument("--sort", default="ncalls", help="the order of --top: ncalls, tottime...")
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--client-cpu", type=int, default=-1, help="pin the client process")
    parser.add_argument("--client", type=int, default=0, help=argparse.SUPPRESS)
    args: Any = parser.parse_args()
    if args.client:
        client(args.client, args)
    else:
        trio.run(serve, args)


if __name__ == "__main__":
    main()
