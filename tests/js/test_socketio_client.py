"""Socket.IO conformance: the real npm ``socket.io-client`` against our server.

Each test starts a minisock :class:`Server` in-process (built by :func:`build_server` to the
contract documented at the top of ``sio_scenarios.mjs``) and runs one scenario of that script
under Node.js as a subprocess. The script prints one JSON line with what it observed and exits 0
only if every check passed; the whole output is shown when a test fails. What only the server
can see (connects, disconnect reasons) is recorded here and checked after the run.

Needs ``node`` on PATH and ``tests/js/node_modules`` (``make test`` runs ``npm ci`` for you).
These tests never skip: a missing toolchain is a failure.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _node
import pytest
import trio

from minisock import ConnectRefusedError, Namespace, Server, Socket

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "sio_scenarios.mjs"

# Short pings, so that heartbeats happen during the scenarios, with a timeout generous enough
# for a loaded machine (socket.io-client answers pings on its own).
PING_INTERVAL = 0.25
PING_TIMEOUT = 0.5
CONNECT_TIMEOUT = 2.0
# The script has its own 15 s timeout; this only guards against a wedged subprocess.
SCENARIO_DEADLINE = 30.0
SERVER_SIDE_DEADLINE = 3.0
ASK_DEADLINE = 5.0
MAX_STDERR_SHOWN = 8000

# Must match the constants of sio_scenarios.mjs.
NON_ASCII = "héllo ✓ 日本 🎉"
NESTED: dict[str, Any] = {"list": [1, 2.5, None, True, "ü"], "obj": {"deep": ["x", {"y": "€"}]}}
SERVER_BINARY: tuple[Any, ...] = (
    bytes(range(256)),
    {"b": b"\x01\x02\x03", "list": [b"\xff", "text", {"deep": b""}]},
)

# What the server may report when a scenario's sockets go away (the script disconnects every
# socket it still has when it finishes).
CLEAN_REASONS = {"client namespace disconnect", "server namespace disconnect"}

Record = tuple[str, str | None]  # (namespace, auth tag)
DisconnectRecord = tuple[str, str | None, str]  # (namespace, auth tag, reason)


@dataclass
class RunningServer:
    port: int
    connects: list[Record] = field(default_factory=list)
    disconnects: list[DisconnectRecord] = field(default_factory=list)

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
            f"server-side connects: {server.connects}\n"
            f"server-side disconnects: {server.disconnects}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{stderr}"
        )


def _tag(socket: Socket) -> str | None:
    tag = socket.auth.get("tag")
    return tag if isinstance(tag, str) else None


def build_server(server: RunningServer) -> Server:
    """The server of the sio_scenarios.mjs contract; records connects and disconnects."""
    sio = Server(
        ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, connect_timeout=CONNECT_TIMEOUT
    )

    def common(ns: Namespace) -> None:
        @ns.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any]) -> None:
            server.connects.append((socket.nsp, _tag(socket)))
            await socket.emit(
                "welcome", {"nsp": socket.nsp, "auth": auth, "text": NON_ASCII, "nested": NESTED}
            )

        @ns.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            server.disconnects.append((socket.nsp, _tag(socket), reason))

        @ns.on("which-nsp")
        async def which_nsp(socket: Socket) -> str:
            return socket.nsp

    common(sio.sockets)
    common(sio.of("/custom"))

    @sio.use
    async def refuse(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("refuse"):
            raise ConnectRefusedError("not allowed", {"code": 42})

    @sio.on("ping-me")
    async def ping_me(socket: Socket, *args: Any) -> None:
        await socket.emit("pong-you", *args)

    @sio.on("echo-ack")
    async def echo_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("void-ack")
    async def void_ack(socket: Socket) -> None:
        return None

    @sio.on("square")
    async def square(socket: Socket, i: int) -> dict[str, int]:
        return {"i": i, "square": i * i}

    @sio.on("ask-me")
    async def ask_me(socket: Socket, x: Any) -> None:
        with trio.fail_after(ASK_DEADLINE):
            answer = await socket.call("question", x)
        if answer is None:
            args: tuple[Any, ...] = ()
        elif isinstance(answer, tuple):
            args = answer
        else:
            args = (answer,)
        await socket.emit("answer", *args)

    @sio.on("binary-echo")
    async def binary_echo(socket: Socket, *args: Any) -> None:
        await socket.emit("binary-back", *args)

    @sio.on("binary-please")
    async def binary_please(socket: Socket) -> None:
        await socket.emit("binary-server", *SERVER_BINARY)

    @sio.on("kick-me")
    async def kick_me(socket: Socket) -> None:
        await socket.disconnect()

    @sio.on("join")
    async def join(socket: Socket, rooms: list[str]) -> list[str]:
        socket.join(*rooms)
        return sorted(room for room in socket.rooms if room != socket.sid)

    async def selected(selection: dict[str, Any]) -> list[str]:
        operator = sio.to(*selection["rooms"]).except_(*selection["except"])
        return sorted(s.sid for s in await operator.fetch_sockets())

    @sio.on("members")
    async def members(socket: Socket, selection: dict[str, Any]) -> list[str]:
        return await selected(selection)

    @sio.on("broadcast")
    async def broadcast(socket: Socket, selection: dict[str, Any]) -> list[str]:
        sids = await selected(selection)
        operator = sio.to(*selection["rooms"]).except_(*selection["except"])
        await operator.emit(selection["event"], selection["payload"])
        return sids

    @sio.on("*")
    async def catch_all(socket: Socket, event: str, *args: Any) -> None:
        await socket.emit("caught", event, *args)

    return sio


def require_node() -> str:
    """Path of ``node``; fails (never skips) if it or socket.io-client is missing."""
    return _node.require_node("socket.io-client")


@pytest.fixture
async def sio_server() -> AsyncIterator[RunningServer]:
    """Our Socket.IO server (the scenario contract) on an ephemeral port of 127.0.0.1."""
    server = RunningServer(port=0)
    sio = build_server(server)
    async with trio.open_nursery() as nursery:
        server.port = await nursery.start(sio.serve, "127.0.0.1", 0)
        yield server
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


def _reasons(server: RunningServer, nsp: str, tag: str) -> list[str]:
    return [reason for n, t, reason in server.disconnects if (n, t) == (nsp, tag)]


async def expect_disconnect(
    run: ScenarioRun, server: RunningServer, nsp: str, tag: str, reason: str
) -> None:
    """The server reports exactly one disconnect of (nsp, tag), with ``reason``."""
    with trio.move_on_after(SERVER_SIDE_DEADLINE):
        while not _reasons(server, nsp, tag):
            await trio.sleep(0.02)
    await trio.sleep(0.05)  # a second (wrong) report would show up now
    got = _reasons(server, nsp, tag)
    if got != [reason]:
        pytest.fail(
            f"server-side disconnect of {nsp} {tag!r}: got reasons {got}, expected [{reason!r}]"
            f" within {SERVER_SIDE_DEADLINE} s\n" + run.describe(server),
            pytrace=False,
        )


async def expect_clean_disconnects(run: ScenarioRun, server: RunningServer) -> None:
    """Every socket that connected was reported gone once, for a namespace-disconnect reason."""
    with trio.move_on_after(SERVER_SIDE_DEADLINE):
        while len(server.disconnects) < len(server.connects):
            await trio.sleep(0.02)
    gone = sorted((nsp, tag) for nsp, tag, _ in server.disconnects)
    unclean = [d for d in server.disconnects if d[2] not in CLEAN_REASONS]
    if gone != sorted(server.connects) or unclean:
        pytest.fail(
            f"server-side bookkeeping after the run: every connect should have one disconnect "
            f"with a reason in {sorted(CLEAN_REASONS)}\n" + run.describe(server),
            pytrace=False,
        )


TRANSPORT_VARIANTS = ["", "-polling", "-websocket"]


@pytest.mark.js
async def test_namespaces(sio_server: RunningServer) -> None:
    """Namespaces "/" and "/custom" share one Manager and one Engine.IO connection; leaving
    one keeps the other."""
    run = await run_scenario("namespaces", sio_server)
    assert_passed(run, sio_server)
    await expect_disconnect(run, sio_server, "/custom", "ns-custom", "client namespace disconnect")
    await expect_clean_disconnects(run, sio_server)
    assert sorted(sio_server.connects) == [("/", "ns-main"), ("/custom", "ns-custom")]


@pytest.mark.js
@pytest.mark.parametrize("variant", TRANSPORT_VARIANTS)
async def test_events(sio_server: RunningServer, variant: str) -> None:
    """Events both ways (emit on connect, echo, catch-all) with non-ASCII and nested data."""
    run = await run_scenario(f"events{variant}", sio_server)
    assert_passed(run, sio_server)
    await expect_clean_disconnects(run, sio_server)


@pytest.mark.js
@pytest.mark.parametrize("variant", TRANSPORT_VARIANTS)
async def test_acks(sio_server: RunningServer, variant: str) -> None:
    """Client->server acks (binary, several args, none, 20 concurrent); server->client acks."""
    run = await run_scenario(f"acks{variant}", sio_server)
    assert_passed(run, sio_server)
    await expect_clean_disconnects(run, sio_server)


@pytest.mark.js
@pytest.mark.parametrize("variant", TRANSPORT_VARIANTS)
async def test_binary(sio_server: RunningServer, variant: str) -> None:
    """Buffer / Uint8Array / ArrayBuffer arguments, nested, both ways (64 KiB and empty too)."""
    run = await run_scenario(f"binary{variant}", sio_server)
    assert_passed(run, sio_server)
    await expect_clean_disconnects(run, sio_server)


@pytest.mark.js
async def test_middleware_refusal(sio_server: RunningServer) -> None:
    """A middleware's ConnectRefusedError reaches connect_error with its message and data."""
    run = await run_scenario("middleware-refusal", sio_server)
    assert_passed(run, sio_server)
    refused = [r for r in (*sio_server.connects, *sio_server.disconnects) if r[1] == "refused"]
    if refused:
        pytest.fail(
            f"a refused socket reached the connect/disconnect handlers: {refused}\n"
            + run.describe(sio_server),
            pytrace=False,
        )


@pytest.mark.js
async def test_rooms(sio_server: RunningServer) -> None:
    """to("r").except("x") reaches exactly A and B; after B leaves, A only."""
    run = await run_scenario("rooms", sio_server)
    assert_passed(run, sio_server)
    await expect_disconnect(run, sio_server, "/", "room-B", "client namespace disconnect")
    await expect_clean_disconnects(run, sio_server)


@pytest.mark.js
async def test_disconnect_reasons(sio_server: RunningServer) -> None:
    """Client-side and server-side namespace disconnects, seen from both ends."""
    run = await run_scenario("disconnect-reasons", sio_server)
    assert_passed(run, sio_server)
    await expect_disconnect(run, sio_server, "/", "dr-client", "client namespace disconnect")
    await expect_disconnect(run, sio_server, "/", "dr-server", "server namespace disconnect")
    await expect_clean_disconnects(run, sio_server)


@pytest.mark.js
async def test_upgrade(sio_server: RunningServer) -> None:
    """polling -> websocket while 50 numbered events flow; every echo arrives, in order."""
    run = await run_scenario("upgrade", sio_server)
    assert_passed(run, sio_server)
    await expect_clean_disconnects(run, sio_server)
