"""Where an idle session's bytes go: RSS, tracemalloc and object counts per idle session.

    PYTHONPATH=$PWD python bench/idle_memory.py                      # both kinds, N=1000
    PYTHONPATH=$PWD python bench/idle_memory.py --kind polling -n 2000 --out /tmp/idle.md

The server is the bench server's default configuration (``examples/bench_server.py``:
``build_socketio`` with the ``/engine.io/`` echo mounted, no JWT), run
in a **child process** of this script, so that the clients' memory is not counted. The
clients are real TCP connections from this process on 127.0.0.1, speaking the wire
protocols through the load generator's own client code (``bench/loadgen.py``):

- ``websocket``: ``GET /socket.io/?EIO=4&transport=websocket`` (no polling first), then the
  Socket.IO CONNECT (``40`` answered by ``40{"sid":...}``), then nothing;
- ``polling``: one keep-alive connection per session: the handshake GET, a POST of ``40``,
  the GET that brings ``40{"sid":...}``, then one more GET that the server holds.

For each kind the server is started twice, fresh each time; each run warms up (50 sessions
opened and closed), measures, opens N sessions, waits ``--settle`` seconds, measures again
(well inside the 25 s ping interval, so nothing is answered or sent while measuring), and
checks that every session is still open (and every polling GET still held):

1. **RSS run**, without tracemalloc and without any census: ``VmRSS`` of the server process
   read from ``/proc`` by this script before and after. This is the figure ``loadgen``'s
   ``connect`` scenario reports (``bytes_per_conn``).
2. **Traced run**, with ``tracemalloc`` started in the server process before anything is
   imported (``--frames`` frames per allocation): a snapshot before and after, and a census
   of objects by type (every gc-tracked object, plus the untracked ones they hold:
   ``bytes``, ``bytearray``, ``str``, atomic-only ``dict``... sized with ``sys.getsizeof``), of
   the coroutines and generators alive by name (the tasks' await chains, frames included)
   and of the trio task tree by task name. The snapshots' difference is grouped by the allocating
   line: the innermost frame in minisock, trio, h11 or the bench server (the innermost frame
   of all is shown beside it when it is elsewhere, e.g. in the standard library).

   The census also says *who holds* each plain object (dict, set, list, tuple, str, bytes,
   cell...): the nearest object of a class (a minisock, trio or socket object) or coroutine
   frame that refers to it, directly or through other plain objects (breadth first, so the
   nearest holder wins). Each object of a class, with the plain objects it holds, falls into
   one of a few groups: task stacks (coroutine frames and what their locals hold), the trio
   runtime (tasks, cancel scopes, parking lots, waits), sockets, the kept HTTP request, the
   Engine.IO session, the Socket.IO session, buffers (``bytes``/``bytearray`` held by no
   object of a class). That is the first table, "where an idle session's bytes go".

``--tree DIR`` measures the minisock of another checkout (say, a worktree of ``main``) with
this script, so that a change is seen before and after in the same tables.

What RSS includes that tracemalloc does not: the allocators' slack (pymalloc pools and arenas
only partly used, glibc malloc headers, free lists and fragmentation: tracemalloc counts the
bytes asked for, not what the allocator rounded them to or could not give back), memory that C
code gets without Python's allocators (OpenSSL, zlib, the event loop's epoll set), thread
stacks and page-granular effects (a page touched once stays resident). It does not include
the kernel's socket buffers (those are not in any process's RSS). In the traced run the RSS
also carries tracemalloc's own bookkeeping (a trace per live block), which is why the RSS
figure comes from the untraced run. The census's ``sys.getsizeof`` sizes do not include the
pymalloc rounding either, and an object shared by all sessions counts once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROJECT_MARKERS = ("/minisock/", "/trio/", "/h11/", "bench_server.py")
TMP = Path("/tmp")


# ======================================================================= the server (child)


def _rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _type_name(t: type) -> str:
    module = t.__module__
    return t.__qualname__ if module == "builtins" else f"{module}.{t.__qualname__}"


_STACKS = (types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType, types.FrameType)
# What a module's objects are, for the groups of "where an idle session's bytes go".
_GROUPS = (
    ("minisock.request", "HTTP request kept"),
    ("h11", "HTTP request kept"),
    ("minisock._http", "HTTP request kept"),
    ("minisock.socket", "Socket.IO session"),
    ("minisock._client", "Socket.IO session"),
    ("minisock.proto.sio", "Socket.IO session"),
    ("minisock.proto.rooms", "Socket.IO session"),
    ("minisock.adapters", "Socket.IO session"),
    ("minisock.namespace", "Socket.IO session"),
    ("minisock.server", "Socket.IO session"),
    ("minisock", "Engine.IO session and transport"),
    ("trio.SocketStream", "sockets"),
    ("trio._socket", "sockets"),
    ("trio._util.ConflictDetector", "sockets"),
    ("socket", "sockets"),
    ("trio", "trio runtime (tasks, scopes, waits)"),
    ("_contextvars", "trio runtime (tasks, scopes, waits)"),
)
STACK_GROUP = "task stacks (coroutine frames)"


def _group_of(holder: str) -> str:
    if holder == "(coroutine frames)":
        return STACK_GROUP
    if holder == "(nobody)":
        return "buffers and values held by no object"
    for prefix, group in _GROUPS:
        if holder == prefix or holder.startswith(prefix + "."):
            return group
    return "other"


# Builtin types whose objects hold others rather than being held: each is a holder of its own.
_NOT_PLAIN = ("coroutine", "generator", "async_generator", "frame", "type", "code", "module")


_PLAIN_MODULES = ("builtins", "collections", "functools")


def _is_plain(o: object) -> bool:
    """A builtin value or container, charged to whoever holds it (not a holder itself)."""
    return type(o).__module__ in _PLAIN_MODULES and type(o).__qualname__ not in _NOT_PLAIN


def _is_plain_name(name: str) -> bool:
    """:func:`_is_plain`, for a census key."""
    module = name.rsplit(".", 1)[0] if "." in name else "builtins"
    return module in _PLAIN_MODULES and name not in _NOT_PLAIN


def _holder_name(o: object) -> str:
    return "(coroutine frames)" if isinstance(o, _STACKS) else _type_name(type(o))


def _holder_census(objs: list[object]) -> dict[str, list[int]]:
    """``{holder: [plain objects, their bytes]}``: each plain object (dict, list, str, cell,
    bound method...) charged to the nearest object of a class or coroutine frame that refers
    to it, breadth first; modules, classes and functions' globals are not searched (shared)."""
    by_id: dict[int, str] = {}
    frontier: list[tuple[object, str]] = []
    for o in objs:
        if not _is_plain(o) and not isinstance(o, types.ModuleType):
            frontier.append((o, _holder_name(o)))
    census: dict[str, list[int]] = {}
    while frontier:
        following: list[tuple[object, str]] = []
        for o, holder in frontier:
            for r in gc.get_referents(o):
                if id(r) in by_id or not _is_plain(r):
                    continue
                if isinstance(r, types.FunctionType) and r.__closure__ is None:
                    continue  # a module's function: shared, and its globals are everyone's
                by_id[id(r)] = holder
                entry = census.setdefault(holder, [0, 0])
                entry[0] += 1
                entry[1] += sys.getsizeof(r)
                if not isinstance(r, types.FunctionType):  # a closure counts, not its globals
                    following.append((r, holder))
        frontier = following
    return census


def _object_census() -> dict[str, list[int]]:
    """``{type name: [count, getsizeof bytes]}`` of the gc-tracked objects and of the
    untracked objects they hold; ``{"%holder": [...]}`` the plain objects by holder
    (:func:`_holder_census`)."""
    gc.collect()
    objs = gc.get_objects()
    seen = {id(o) for o in objs}
    seen.add(id(objs))
    census: dict[str, list[int]] = {}

    def add(o: object) -> None:
        size = sys.getsizeof(o)
        entry = census.setdefault(_type_name(type(o)), [0, 0])
        entry[0] += 1
        entry[1] += size
        if isinstance(o, types.CoroutineType | types.GeneratorType | types.AsyncGeneratorType):
            # the tasks' await chains: which coroutine frames are alive (key starts with "@")
            entry = census.setdefault("@" + o.__qualname__, [0, 0])
            entry[0] += 1
            entry[1] += size

    for o in objs:
        add(o)
    for o in objs:
        stack = [r for r in gc.get_referents(o) if not gc.is_tracked(r)]
        while stack:  # untracked objects, and the untracked ones they hold (an atomic dict's)
            r = stack.pop()
            if id(r) not in seen:
                seen.add(id(r))
                add(r)
                stack.extend(x for x in gc.get_referents(r) if not gc.is_tracked(x))
    for holder, entry in _holder_census(objs).items():
        census["%" + holder] = entry
    del objs
    return census


def _task_census() -> dict[str, int]:
    """Trio tasks alive, by name (the coroutine function's qualified name)."""
    import trio

    counts: Counter[str] = Counter()
    root = trio.lowlevel.current_root_task()
    assert root is not None
    stack = [root]
    while stack:
        task = stack.pop()
        counts[task.name] += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return dict(counts)


def _measure(label: str, traced: bool, tag: str) -> dict[str, Any]:
    gc.collect()
    reply: dict[str, Any] = {"label": label, "rss": _rss_bytes()}
    if not traced:
        return reply
    reply["traced"] = tracemalloc.get_traced_memory()[0]
    snapshot = tracemalloc.take_snapshot()
    path = TMP / f"idle_memory-{tag}-{label}.snap"
    snapshot.dump(str(path))
    del snapshot
    reply["snapshot"] = str(path)
    reply["tasks"] = _task_census()
    reply["types"] = _object_census()
    return reply


async def _serve(port: int, traced: bool, tag: str, tree: Path) -> None:
    import trio

    sys.path.insert(0, str(tree / "examples"))
    import bench_server  # type: ignore[import-not-found]  # the bench server's configuration

    sio = bench_server.build_socketio(None)
    sio.mount(bench_server.build_engineio())
    async with trio.open_nursery() as nursery:
        await nursery.start(sio.serve, "127.0.0.1", port)
        print(json.dumps({"ready": port}), flush=True)
        control = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        pending = b""
        while data := await control.receive_some():
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                reply = _measure(line.decode().strip(), traced, tag)
                print(json.dumps(reply), flush=True)
        sio.shutdown()


def serve_main(port: int, frames: int, tag: str, tree: Path) -> None:
    if frames:
        tracemalloc.start(frames)  # before trio, h11 and minisock are imported
    import trio

    trio.run(_serve, port, bool(frames), tag, tree)


# ======================================================================= the clients (parent)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """The server process, with a line-based control channel on its stdin/stdout."""

    def __init__(self, frames: int, tag: str, tree: Path) -> None:
        self.port = _free_port()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.port)]
        cmd += ["--frames", str(frames), "--tag", tag, "--tree", str(tree)]
        env = {**os.environ, "PYTHONPATH": f"{tree}:{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True
        )
        self._read()  # {"ready": port}

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server exited ({self.proc.poll()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def measure(self, label: str) -> dict[str, Any]:
        rss = _rss_bytes(self.proc.pid)  # before the child does anything for us
        assert self.proc.stdin is not None
        self.proc.stdin.write(label + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        reply["rss_outside"] = rss
        return reply

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def open_websocket(port: int, n: int, concurrency: int) -> tuple[list[Any], list[Any]]:
    import loadgen

    conns, errors = await loadgen.connect_many(port, n, concurrency)
    if errors:
        raise RuntimeError(f"{errors} websocket sessions failed to connect")
    return conns, []


async def _polling_session(port: int) -> tuple[Any, asyncio.Task[Any]]:
    import loadgen

    http = loadgen.Http(port)
    base = "/socket.io/?EIO=4&transport=polling"
    status, _h, body = await http.request("GET", base)
    text = body.decode()
    if status != 200 or not text.startswith("0"):
        raise RuntimeError(f"handshake: {status} {text[:100]}")
    sid = json.loads(text[1:])["sid"]
    target = f"{base}&sid={sid}"
    status, _h, body = await http.request("POST", target, b"40")
    if status != 200 or body != b"ok":
        raise RuntimeError(f"POST 40: {status} {body[:100]!r}")
    status, _h, body = await http.request("GET", target)
    if status != 200 or not body.startswith(b"40{"):
        raise RuntimeError(f"GET after 40: {status} {body[:100]!r}")
    held = asyncio.ensure_future(http.request("GET", target, timeout=3600))
    return http, held


async def open_polling(port: int, n: int, concurrency: int) -> tuple[list[Any], list[Any]]:
    conns: list[Any] = []
    held: list[asyncio.Task[Any]] = []
    counter = iter(range(n))

    async def worker() -> None:
        for _ in counter:
            http, task = await _polling_session(port)
            conns.append(http)
            held.append(task)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
    return conns, held


def close_clients(conns: list[Any], held: list[asyncio.Task[Any]]) -> None:
    for task in held:
        task.cancel()
    for conn in conns:
        if hasattr(conn, "abort"):
            conn.abort()
        else:
            conn.close()


def _alive(kind: str, conns: list[Any], held: list[asyncio.Task[Any]]) -> int:
    if kind == "websocket":
        return sum(not c.closed for c in conns)
    return sum(not t.done() for t in held)


async def run_once(kind: str, n: int, frames: int, args: argparse.Namespace) -> dict[str, Any]:
    opener = open_websocket if kind == "websocket" else open_polling
    tag = f"{kind}-{'traced' if frames else 'rss'}"
    child = Child(frames, tag, args.tree)
    try:
        warm, warm_held = await opener(child.port, 50, 10)
        close_clients(warm, warm_held)
        await asyncio.sleep(1.0)
        before = child.measure("before")
        t0 = time.monotonic()
        conns, held = await opener(child.port, n, args.concurrency)
        open_s = time.monotonic() - t0
        await asyncio.sleep(args.settle)
        alive = _alive(kind, conns, held)
        after = child.measure("after")
        alive = min(alive, _alive(kind, conns, held))
        close_clients(conns, held)
        await asyncio.sleep(0.2)
    finally:
        child.stop()
    return {"before": before, "after": after, "alive": alive, "open_s": open_s}


# ======================================================================= the report


def _project_key(frames: tracemalloc.Traceback) -> tuple[str, str]:
    """(innermost project line, innermost line when it is elsewhere, else '')."""

    def short(frame: tracemalloc.Frame) -> str:
        name = frame.filename
        for marker in ("/minisock/", "/trio/", "/h11/", "/examples/", "/lib/python3"):
            if marker in name:
                name = marker.strip("/").split("/")[-1] + "/" + name.split(marker, 1)[1]
                break
        return f"{name}:{frame.lineno}"

    inner = frames[-1]  # a Traceback runs from the oldest frame to the innermost
    for frame in reversed(frames):
        if any(m in frame.filename for m in PROJECT_MARKERS):
            via = "" if frame == inner else short(inner)
            return short(frame), via
    return "(elsewhere) " + short(inner), ""


def _by_line(before_path: str, after_path: str) -> dict[tuple[str, str], list[int]]:
    sums: dict[tuple[str, str], list[int]] = {}
    for sign, path in ((-1, before_path), (1, after_path)):
        snap = tracemalloc.Snapshot.load(path).filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        for trace in snap.traces:
            entry = sums.setdefault(_project_key(trace.traceback), [0, 0])
            entry[0] += sign * trace.size
            entry[1] += sign
    return sums


def _per(value: float, n: int) -> str:
    return f"{value / n:,.1f}" if abs(value / n) < 100 else f"{value / n:,.0f}"


_BUFFER_TYPES = ("bytes", "bytearray", "memoryview")


def _where_it_goes(types_b: dict[str, list[int]], types_a: dict[str, list[int]], n: int) -> str:
    """The census delta in a few groups: each object of a class (or coroutine frame) with the
    plain objects it holds; what nobody holds is its own row."""
    groups: dict[str, int] = {}
    plain = reached = buffers = 0
    for name in set(types_a) | set(types_b):
        if name.startswith("@"):
            continue
        delta = types_a.get(name, [0, 0])[1] - types_b.get(name, [0, 0])[1]
        if name.startswith("%"):
            group = _group_of(name[1:])
            reached += delta
        elif _is_plain_name(name):
            plain += delta
            buffers += delta if name in _BUFFER_TYPES else 0
            continue
        elif name in ("coroutine", "generator", "async_generator", "frame"):
            group = STACK_GROUP
        else:
            group = _group_of(name)
        groups[group] = groups.get(group, 0) + delta
    groups[_group_of("(nobody)")] = plain - reached
    total = sum(groups.values())
    out = ["\n**where an idle session's bytes go** (census delta, `sys.getsizeof`; per session)\n"]
    out.append("| group | B | share |")
    out.append("| --- | ---: | ---: |")
    for group, size in sorted(groups.items(), key=lambda kv: -kv[1]):
        share = f"{100 * size / total:.0f} %" if total else ""
        out.append(f"| {group} | {_per(size, n)} | {share} |")
    out.append(f"| **total** | **{_per(total, n)}** | |")
    out.append(
        f"| of which `bytes`/`bytearray`/`memoryview`, whoever holds them | {_per(buffers, n)} | |"
    )
    return "\n".join(out)


def report(kind: str, n: int, rss_run: dict[str, Any], traced_run: dict[str, Any], top: int) -> str:
    out: list[str] = []
    b, a = traced_run["before"], traced_run["after"]
    rss_delta = rss_run["after"]["rss_outside"] - rss_run["before"]["rss_outside"]
    traced_delta = a["traced"] - b["traced"]
    traced_rss = a["rss_outside"] - b["rss_outside"]
    out.append(f"### Idle {kind} sessions, N = {n}\n")
    out.append("| figure | per session | runs |")
    out.append("| --- | ---: | --- |")
    out.append(
        f"| RSS delta (untraced run) | {rss_delta / n / 1024:.2f} KB | "
        f"{rss_run['alive']}/{n} alive, opened in {rss_run['open_s']:.1f} s |"
    )
    out.append(
        f"| tracemalloc delta (traced run) | {traced_delta / n / 1024:.2f} KB | "
        f"{traced_run['alive']}/{n} alive, opened in {traced_run['open_s']:.1f} s |"
    )
    out.append(
        f"| RSS delta in the traced run (with tracemalloc's bookkeeping) | "
        f"{traced_rss / n / 1024:.2f} KB | |"
    )
    out.append(_where_it_goes(b["types"], a["types"], n))
    lines = _by_line(b["snapshot"], a["snapshot"])
    ranked = sorted(lines.items(), key=lambda kv: -kv[1][0])
    shown = ranked[:top]
    rest = sum(v[0] for _k, v in ranked[top:])
    out.append(
        f"\n**tracemalloc delta by allocating line** (top {top}; bytes and blocks / session)\n"
    )
    out.append("| allocating line (minisock / trio / h11) | innermost, if elsewhere | B | blocks |")
    out.append("| --- | --- | ---: | ---: |")
    for (line, via), (size, count) in shown:
        out.append(
            f"| `{line}` | {f'`{via}`' if via else ''} | {_per(size, n)} | {_per(count, n)} |"
        )
    out.append(f"| (all other lines) | | {_per(rest, n)} | |")
    out.append(f"| **total** | | **{_per(traced_delta, n)}** | |")
    files: dict[str, list[int]] = {}
    for (line, _via), (size, count) in lines.items():
        entry = files.setdefault(line.rsplit(":", 1)[0], [0, 0])
        entry[0] += size
        entry[1] += count
    out.append(f"\n**tracemalloc delta by allocating file** (top {top}; per session)\n")
    out.append("| file (minisock / trio / h11) | B | blocks |")
    out.append("| --- | ---: | ---: |")
    ranked_files = sorted(files.items(), key=lambda kv: -kv[1][0])
    for name, (size, count) in ranked_files[:top]:
        out.append(f"| `{name}` | {_per(size, n)} | {_per(count, n)} |")
    out.append(f"| (other files) | {_per(sum(v[0] for _k, v in ranked_files[top:]), n)} | |")

    types_b, types_a = b["types"], a["types"]
    tdiff = []
    for name in set(types_a) | set(types_b):
        if name.startswith(("@", "%")):
            continue
        ca, sa = types_a.get(name, [0, 0])
        cb, sb = types_b.get(name, [0, 0])
        if ca - cb or sa - sb:
            tdiff.append((name, ca - cb, sa - sb))
    tdiff.sort(key=lambda t: -t[2])
    census_total = sum(t[2] for t in tdiff)
    out.append(f"\n**objects by type** (census delta, top {top} by bytes; per session)\n")
    out.append("| type | objects | B (getsizeof) |")
    out.append("| --- | ---: | ---: |")
    for name, count, size in tdiff[:top]:
        out.append(f"| `{name}` | {_per(count, n)} | {_per(size, n)} |")
    rest_size = sum(t[2] for t in tdiff[top:])
    out.append(f"| (other types) | | {_per(rest_size, n)} |")
    out.append(f"| **total** | | **{_per(census_total, n)}** |")

    holders = []
    for name in set(types_a) | set(types_b):
        if name.startswith("%"):
            ca, sa = types_a.get(name, [0, 0])
            cb, sb = types_b.get(name, [0, 0])
            if ca - cb or sa - sb:
                holders.append((name[1:], ca - cb, sa - sb))
    holders.sort(key=lambda t: -t[2])
    out.append(
        f"\n**plain objects by holder** (dicts, lists, strings, bytes... charged to the nearest "
        f"object of a class or coroutine frame holding them; top {top}; per session)\n"
    )
    out.append("| holder | plain objects | B (getsizeof) |")
    out.append("| --- | ---: | ---: |")
    for name, count, size in holders[:top]:
        out.append(f"| `{name}` | {_per(count, n)} | {_per(size, n)} |")
    out.append(f"| (other holders) | | {_per(sum(t[2] for t in holders[top:]), n)} |")

    watched = (
        ("trio", "Task"),
        ("trio", "Nursery"),
        ("trio", "CancelScope"),
        ("trio", "ParkingLot"),
        ("trio", "Event"),
        ("trio", "StrictFIFOLock"),
        ("h11", "Connection"),
        ("", "bytearray"),
        ("", "dict"),
        ("", "coroutine"),
    )
    names = set(types_a) | set(types_b)
    out.append("\n**selected types** (objects per session)\n")
    out.append("| " + " | ".join(f"`{short}`" for _m, short in watched) + " |")
    out.append("|" + " ---: |" * len(watched))
    cells = []
    for module, short in watched:
        if module:
            full = [k for k in names if k.startswith(module + ".") and k.endswith("." + short)]
        else:
            full = [short]
        delta = sum(types_a.get(k, [0, 0])[0] - types_b.get(k, [0, 0])[0] for k in full)
        cells.append(_per(delta, n))
    out.append("| " + " | ".join(cells) + " |")

    frames = []
    for name in names:
        if name.startswith("@"):
            ca, sa = types_a.get(name, [0, 0])
            cb, sb = types_b.get(name, [0, 0])
            if ca - cb:
                frames.append((name[1:], ca - cb, sa - sb))
    frames.sort(key=lambda t: -t[2])
    out.append("\n**coroutines and generators alive** (the tasks' await chains; per session)\n")
    out.append("| coroutine / generator | objects | B (getsizeof, frame included) |")
    out.append("| --- | ---: | ---: |")
    for name, count, size in frames[:top]:
        out.append(f"| `{name}` | {_per(count, n)} | {_per(size, n)} |")
    out.append(f"| (others) | | {_per(sum(t[2] for t in frames[top:]), n)} |")

    tasks_b, tasks_a = b["tasks"], a["tasks"]
    out.append("\n**trio tasks alive** (per session, by task name)\n")
    out.append("| task | per session |")
    out.append("| --- | ---: |")
    for name in sorted(set(tasks_a) | set(tasks_b)):
        delta = tasks_a.get(name, 0) - tasks_b.get(name, 0)
        if delta:
            out.append(f"| `{name}` | {_per(delta, n)} |")
    return "\n".join(out) + "\n"


async def main_async(args: argparse.Namespace) -> str:
    sys.path.insert(0, str(HERE))
    parts = [
        f"# Idle memory per session (bench/idle_memory.py, Python {sys.version.split()[0]}, "
        f"tracemalloc frames {args.frames}, settle {args.settle} s, tree {args.tree})\n"
    ]
    for kind in args.kind:
        rss_run = await run_once(kind, args.n, 0, args)
        traced_run = await run_once(kind, args.n, args.frames, args)
        parts.append(report(kind, args.n, rss_run, traced_run, args.top))
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="idle sessions (default 1000)")
    parser.add_argument(
        "--kind", nargs="+", choices=("websocket", "polling"), default=["websocket", "polling"]
    )
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before measuring")
    parser.add_argument(
        "--frames", type=int, default=4, help="tracemalloc frames per block (deeper is much slower)"
    )
    parser.add_argument("--top", type=int, default=15, help="rows per breakdown table")
    parser.add_argument("--out", type=Path, help="also write the report here (e.g. under /tmp)")
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="the checkout whose minisock and examples/bench_server.py are measured "
        "(default: this one)",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the child: its port
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_main(args.serve, args.frames, args.tag, args.tree.resolve())
        return
    text = asyncio.run(main_async(args))
    print(text)
    if args.out is not None:
        with contextlib.suppress(OSError):
            args.out.write_text(text)


if __name__ == "__main__":
    main()
