"""Dynamic and class-based namespaces and adapter room events, checked by the npm
``socket.io-client``.

Each scenario of ``nsp_scenarios.mjs`` runs first against the Node reference server
(``nsp_node_server.mjs``, socket.io 4.8, started as a subprocess and stopped by PID), so the
scenario's expectations are the reference's behaviour; then against the same server built
with minisock (:func:`build_server`). Never skips: a missing toolchain is a failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import _node
import pytest
import trio

from minisock import ClassNamespace, ConnectRefusedError, Namespace, Server, Socket

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "nsp_scenarios.mjs"
NODE_SERVER = JS_DIR / "nsp_node_server.mjs"
SCENARIOS = ["dynamic", "room-events"]
DEADLINE = 30.0  # the script has its own 15 s timeout; this guards against a wedged process


class Hello(ClassNamespace):
    """The handlers of ``hello`` below, as a class-based namespace (python-socketio's style)."""

    def __init__(self, namespace: str | re.Pattern[str], kind: str) -> None:
        super().__init__(namespace)
        self.kind = kind

    async def on_connect(self, socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("hello", {"nsp": socket.nsp, "kind": self.kind})

    async def on_join(self, socket: Socket, rooms: list[str]) -> list[str]:
        socket.join(*rooms)
        return sorted(room for room in socket.rooms if room != socket.sid)

    def on_leave(self, socket: Socket, room: str) -> bool:  # a plain method works too
        socket.leave(room)
        return True


def build_server(class_based: bool = False) -> Server:
    """The server of the contract at the top of nsp_scenarios.mjs.

    With ``class_based``, the static and the first regex namespace get their handlers from
    :class:`Hello` instead of decorated functions: the client must not see a difference.
    """
    sio = Server(cleanup_empty_child_namespaces=True)

    def hello(namespace: Namespace, kind: str) -> None:
        @namespace.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any]) -> None:
            await socket.emit("hello", {"nsp": socket.nsp, "kind": kind})

        @namespace.on("join")
        async def join(socket: Socket, rooms: list[str]) -> list[str]:
            socket.join(*rooms)
            return sorted(room for room in socket.rooms if room != socket.sid)

        @namespace.on("leave")
        async def leave(socket: Socket, room: str) -> bool:
            socket.leave(room)
            return True

    if class_based:
        sio.register_namespace(Hello("/dyn-0", "static"))
        digits = sio.register_namespace(Hello(re.compile(r"^/dyn-\d+$"), "regex"))
    else:
        hello(sio.of("/dyn-0"), "static")
        digits = sio.of(re.compile(r"^/dyn-\d+$"))

    @digits.use
    async def deny(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("deny"):
            raise ConnectRefusedError("denied")

    if not class_based:
        hello(digits, "regex")
    hello(sio.of(re.compile(r"^/dyn-")), "regex2")

    def fn_only(name: str, auth: dict[str, Any]) -> bool:
        return name.startswith("/fn-") and auth.get("ok") is True

    hello(sio.of(fn_only), "fn")

    async def boom(name: str, auth: dict[str, Any]) -> bool:
        await trio.lowlevel.checkpoint()
        if name == "/boom":
            raise RuntimeError("boom")
        return False

    sio.of(boom)

    room_log: list[list[Any]] = []
    events = sio.of("/events")
    for kind in ("create-room", "delete-room"):
        events.adapter.on(kind)(lambda room, kind=kind: room_log.append([kind, room, None]))
    for kind in ("join-room", "leave-room"):
        events.adapter.on(kind)(lambda room, sid, kind=kind: room_log.append([kind, room, sid]))
    hello(events, "events")

    @sio.on("parent-emit")
    async def parent_emit(socket: Socket, spec: dict[str, Any]) -> bool:
        await digits.emit(spec["event"], spec["payload"])
        return True

    @sio.on("parent-to")
    async def parent_to(socket: Socket, spec: dict[str, Any]) -> bool:
        await digits.to(spec["room"]).emit(spec["event"], spec["payload"])
        return True

    @sio.on("namespaces")
    async def namespaces(socket: Socket) -> list[str]:
        return sorted(sio.namespaces)

    @sio.on("room-log")
    async def room_log_of(socket: Socket) -> list[list[Any]]:
        return room_log

    return sio


async def run_scenario(scenario: str, base_url: str) -> dict[str, Any]:
    node = _node.require_node("socket.io-client", "socket.io")
    with trio.fail_after(DEADLINE):
        proc = await trio.run_process(
            [node, str(SCRIPT), scenario, base_url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = proc.stdout.decode("utf-8", "replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or report.get("ok") is not True:
        pytest.fail(
            f"{scenario} at {base_url}: exit {proc.returncode}, {report.get('reason')}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{proc.stderr.decode('utf-8', 'replace')}",
            pytrace=False,
        )
    return report


@pytest.fixture
def node_server() -> Iterator[str]:
    """The Node reference server of the contract; its base URL. Stopped by PID."""
    node = _node.require_node("socket.io-client", "socket.io")
    proc = subprocess.Popen(
        [node, str(NODE_SERVER)],
        cwd=JS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready "), (line, proc.stderr.read() if proc.stderr else "")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(params=["decorated", "class-based"])
async def minisock_server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    sio = build_server(class_based=request.param == "class-based")
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sio.serve, "127.0.0.1", 0)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_the_node_reference(scenario: str, node_server: str) -> None:
    await run_scenario(scenario, node_server)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_minisock(scenario: str, minisock_server: str) -> None:
    await run_scenario(scenario, minisock_server)
