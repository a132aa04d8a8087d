"""Stopping a server the way people do: Ctrl-C (SIGINT) and SIGTERM, sent by PID.

Each example runs as a subprocess on a free port with real clients: the npm client over
WebSocket, the npm client over long-polling, and a raw long-poll GET left pending. After the
signal, every client must have been told (close 1001 on the WebSocket, the close packet ``1``
on the waiting polls: the npm client then says "transport close", where a dropped connection
would give 1006 or "transport error"), the server must have logged exactly one line about it,
printed no traceback, and exited 0.

The Node reference server (``tests/js/shutdown_reference_server.mjs``, which calls
``io.close()`` on the signal, as a Node application must) is run through the same clients
first: its clients see the same reasons, with close code 1005, because ``ws.close()`` is
called without a code there.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

import _node
import pytest
import trio
from _server_process import (
    EXAMPLES,
    NodeClients,
    PendingPoll,
    ServerProcess,
    login_token,
    python_example,
)

from minisock import EngineServer
from minisock.runner import serve_until_signal

SHUTDOWN_LINE = "shutting down gracefully"


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    kind: str = "sio"  # the npm client: socket.io-client, or engine.io-client ("eio")
    path: str = "/socket.io/"
    login: bool = False
    env: tuple[tuple[str, str], ...] = ()
    logs: bool = True  # configures logging, so its one shutdown line is shown


JWT_DEMO = Case(tuple(python_example("jwt_app.py", "--connect-auth")), login=True)
# The suite's default heartbeat (300 ms) would keep the polling client between GETs often.
SUITE = Case(tuple(python_example("socketio_suite.py", "--ping-interval", "25000")))
ECHO = Case(tuple(python_example("engineio_echo.py")), kind="eio", path="/engine.io/")
# The bench server: /socket.io/ and /engine.io/ on one port, no logging configured.
BENCH = (sys.executable, str(EXAMPLES / "bench_server.py"))
BENCH_SIO = Case(BENCH, env=(("PORT", "0"),), logs=False)
BENCH_EIO = Case(BENCH, kind="eio", path="/engine.io/", env=(("PORT", "0"),), logs=False)


def stop_with_clients(
    case: Case, signum: signal.Signals
) -> tuple[ServerProcess, dict[str, Any], str]:
    """Start ``case``, connect the clients, send ``signum``; what the clients saw, and the poll."""
    server = ServerProcess(case.argv, dict(case.env))
    clients: NodeClients | None = None
    try:
        port = server.wait_for_port()
        headers = {"Authorization": f"Bearer {login_token(port)}"} if case.login else None
        poll = PendingPoll(port, case.path, headers)  # its GET is sent before the clients start
        clients = NodeClients(f"http://127.0.0.1:{port}", kind=case.kind, login=case.login)
        clients.wait_ready()
        server.signal(signum)
        endings = clients.endings()
        answer = poll.result()
        assert server.wait() == 0, server.stderr
    finally:
        server.kill()
        if clients is not None:
            clients.kill()
    return server, endings, answer or ""


def assert_told_and_clean(
    server: ServerProcess, endings: dict[str, Any], answer: str, *, logs: bool = True
) -> None:
    assert endings["websocket"]["reason"] == "transport close", endings
    assert endings["polling"] == {
        "reason": "transport close",
        "description": "transport closed by the server",
        "code": None,
    }, endings
    assert answer == "1", answer  # the Engine.IO close packet, on the pending GET
    assert "Traceback" not in server.stderr, server.stderr
    if not logs:
        assert not any(SHUTDOWN_LINE in line for line in server.lines), server.stderr
        return
    assert sum(SHUTDOWN_LINE in line for line in server.lines) == 1, server.stderr
    after = server.lines[[SHUTDOWN_LINE in line for line in server.lines].index(True) :]
    assert len(after) == 1, f"more than the one shutdown line:\n{server.stderr}"


def test_node_reference_tells_clients_on_io_close() -> None:
    node = _node.require_node("socket.io", "socket.io-client")
    reference = Case((node, str(_node.JS_DIR / "shutdown_reference_server.mjs")))
    server, endings, answer = stop_with_clients(reference, signal.SIGTERM)
    assert_told_and_clean(server, endings, answer)
    assert endings["websocket"]["code"] == 1005  # ws.close() without a code


@pytest.mark.parametrize(
    ("case", "signum"),
    [
        pytest.param(JWT_DEMO, signal.SIGINT, id="jwt_app-SIGINT"),
        pytest.param(JWT_DEMO, signal.SIGTERM, id="jwt_app-SIGTERM"),
        pytest.param(SUITE, signal.SIGTERM, id="socketio_suite-SIGTERM"),
        pytest.param(ECHO, signal.SIGINT, id="engineio_echo-SIGINT"),
        pytest.param(BENCH_SIO, signal.SIGTERM, id="bench_server-socketio-SIGTERM"),
        pytest.param(BENCH_EIO, signal.SIGTERM, id="bench_server-engineio-SIGTERM"),
    ],
)
def test_example_shuts_down_gracefully_on_signal(case: Case, signum: signal.Signals) -> None:
    server, endings, answer = stop_with_clients(case, signum)
    assert_told_and_clean(server, endings, answer, logs=case.logs)
    assert endings["websocket"]["code"] == 1001, endings  # going away
    assert endings["websocket"]["description"] == "websocket connection closed"


async def test_second_signal_cuts_the_graceful_shutdown_short(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer(shutdown_timeout=1000.0)
    stopped_by: list[signal.Signals | None] = []

    async def run(*, task_status: trio.TaskStatus[int]) -> None:
        stopped_by.append(await serve_until_signal(server, task_status=task_status))

    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        server.transport_started()  # a transport that never ends: the graceful part waits for it
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep(10)
        assert stopped_by == [], "stopped before the graceful part timed out"
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped_by == [signal.SIGTERM]
    assert trio.current_time() < 1000.0  # the second signal ended it, not shutdown_timeout


async def test_shutdown_stops_serve_until_signal_without_a_signal() -> None:
    server = EngineServer()
    async with trio.open_nursery() as nursery:
        stopped_by: list[signal.Signals | None] = []

        async def run(*, task_status: trio.TaskStatus[int]) -> None:
            stopped_by.append(await serve_until_signal(server, task_status=task_status))

        await nursery.start(run)
        server.shutdown()
    assert stopped_by == [None]


async def test_a_signal_before_the_server_listens_stops_it_at_once() -> None:
    server = EngineServer()

    async def never_ready(*, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep_forever()  # a cluster bus that cannot connect

    server.run_service(never_ready)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stopped_by: list[signal.Signals | None] = []

            async def run() -> None:
                stopped_by.append(await serve_until_signal(server))

            nursery.start_soon(run)
            await trio.testing.wait_all_tasks_blocked()
            os.kill(os.getpid(), signal.SIGINT)
    assert stopped_by == [signal.SIGINT]
