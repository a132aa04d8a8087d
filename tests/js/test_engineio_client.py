"""Engine.IO conformance: the real npm ``engine.io-client`` against our server.

Each test starts a minisock :class:`EngineServer` in-process (an echo server that closes the
session on the text ``"close-me"``) and runs one scenario of ``eio_scenarios.mjs`` under Node.js
as a subprocess. The script prints one JSON line with what it observed and exits 0 only if every
check passed; the whole output is shown when a test fails.

Needs ``node`` on PATH and ``tests/js/node_modules`` (``make test`` runs ``npm ci`` for you).
These tests never skip: a missing toolchain is a failure.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _node
import pytest
import trio

from minisock import EngineServer, EngineSocket

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "eio_scenarios.mjs"

# The scenarios read these from the handshake; heartbeat idles for 5 x ping_interval.
PING_INTERVAL = 0.3
PING_TIMEOUT = 0.2
# The script has its own 10 s timeout; this only guards against a wedged subprocess.
SCENARIO_DEADLINE = 20.0
DISCONNECT_DEADLINE = 3.0
MAX_STDERR_SHOWN = 8000


@dataclass
class RunningServer:
    port: int
    disconnects: list[str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class ScenarioRun:
    scenario: str
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def describe(self, server: RunningServer) -> str:
        stderr = self.stderr
        if len(stderr) > MAX_STDERR_SHOWN:
            stderr = "...(truncated)...\n" + stderr[-MAX_STDERR_SHOWN:]
        reason = self.report.get("reason") if self.report is not None else "<no JSON report>"
        return (
            f"scenario {self.scenario!r}: exit code {self.returncode}, reason: {reason}\n"
            f"server-side disconnect reasons: {server.disconnects}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{stderr}"
        )


def require_node() -> str:
    """Path of ``node``; fails (never skips) if it or engine.io-client is missing."""
    return _node.require_node("engine.io-client")


@pytest.fixture
async def eio_server() -> AsyncIterator[RunningServer]:
    """Our Engine.IO echo server on an ephemeral port of 127.0.0.1."""
    server = EngineServer(ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)
    disconnects: list[str] = []

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        if data == "close-me":
            sock.close()
            return
        await sock.send(data)

    @server.on("disconnect")
    async def gone(sock: EngineSocket, reason: str) -> None:
        disconnects.append(reason)

    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(server.serve, "127.0.0.1", 0)
        yield RunningServer(port=port, disconnects=disconnects)
        nursery.cancel_scope.cancel()


def _parse_report(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


async def run_scenario(scenario: str, server: RunningServer) -> ScenarioRun:
    node = require_node()
    with trio.fail_after(SCENARIO_DEADLINE):
        proc = await trio.run_process(
            [node, str(SCRIPT), scenario, server.base_url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    return ScenarioRun(
        scenario=scenario,
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        report=_parse_report(stdout),
    )


def assert_passed(run: ScenarioRun, server: RunningServer) -> None:
    if run.report is None or run.returncode != 0 or run.report.get("ok") is not True:
        pytest.fail(run.describe(server), pytrace=False)


async def wait_for_disconnect(server: RunningServer, reason: str) -> bool:
    with trio.move_on_after(DISCONNECT_DEADLINE):
        while reason not in server.disconnects:
            await trio.sleep(0.02)
    return reason in server.disconnects


@pytest.mark.js
@pytest.mark.parametrize("scenario", ["upgrade", "polling", "websocket"])
async def test_echo(eio_server: RunningServer, scenario: str) -> None:
    """100 mixed text / non-ASCII / binary messages echoed exactly and in order."""
    run = await run_scenario(scenario, eio_server)
    assert_passed(run, eio_server)


@pytest.mark.js
async def test_heartbeat(eio_server: RunningServer) -> None:
    """An idle client sees at least 3 server pings in 5 x pingInterval and is not closed."""
    run = await run_scenario("heartbeat", eio_server)
    assert_passed(run, eio_server)


@pytest.mark.js
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_client_close(eio_server: RunningServer, transport: str) -> None:
    """socket.close() on the client: "forced close" there, "transport close" here."""
    run = await run_scenario(f"client-close-{transport}", eio_server)
    assert_passed(run, eio_server)
    if not await wait_for_disconnect(eio_server, "transport close"):
        pytest.fail(
            f'server never reported disconnect reason "transport close" within '
            f"{DISCONNECT_DEADLINE} s\n" + run.describe(eio_server),
            pytrace=False,
        )


@pytest.mark.js
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_server_close(eio_server: RunningServer, transport: str) -> None:
    """sock.close() on "close-me": "transport close" on the client, "forced close" here."""
    run = await run_scenario(f"server-close-{transport}", eio_server)
    assert_passed(run, eio_server)
    if not await wait_for_disconnect(eio_server, "forced close"):
        pytest.fail(
            f'server never reported disconnect reason "forced close" within '
            f"{DISCONNECT_DEADLINE} s\n" + run.describe(eio_server),
            pytrace=False,
        )
