"""Connection state recovery against the real npm socket.io-client, the Node reference first.

Each scenario of ``recovery_scenarios.mjs`` runs against the Node socket.io 4.8 server with
``connectionStateRecovery`` (``recovery_node_server.mjs``), so the test states the reference's
behaviour, then against minisock built here to the same contract. The transport is cut from
the server's side (a TCP proxy in the scenario closes the connection), then the client comes
back: same id, ``recovered``, its rooms and ``data``, the room broadcasts it missed in order
and once; too late, or after a disconnect on purpose, it is a new socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import _node
import pytest
import trio
from _server_process import ServerProcess, python_example

from minisock import AckTimeoutError, Recovery, Server, SessionClosedError, Socket

JS_DIR = Path(__file__).resolve().parent
SCENARIOS = JS_DIR / "recovery_scenarios.mjs"
NODE_SERVER = JS_DIR / "recovery_node_server.mjs"
DEADLINE = 40.0


def build_server(duration: float, skip_middlewares: bool) -> Server:
    """minisock to the contract at the top of ``recovery_scenarios.mjs``."""
    sio = Server(
        ping_interval=2.0,
        ping_timeout=5.0,
        connection_state_recovery=Recovery(
            max_disconnection_duration=duration, skip_middlewares=skip_middlewares
        ),
    )

    @sio.use
    async def count_runs(socket: Socket, auth: dict[str, Any]) -> None:
        socket.data["mw"] = socket.data.get("mw", 0) + 1

    @sio.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)
        await socket.emit("joined", room)

    @sio.on("shout")
    async def shout(socket: Socket, room: str, text: str) -> None:
        await sio.to(room).emit("shout", text)

    @sio.on("set")
    async def set_data(socket: Socket, key: str, value: Any) -> None:
        socket.data[key] = value

    @sio.on("state")
    async def state(socket: Socket) -> dict[str, Any]:
        return {
            "id": socket.sid,
            "rooms": sorted(socket.rooms - {socket.sid}),
            "recovered": socket.recovered,
            "data": socket.data,
        }

    @sio.on("kinds")
    async def kinds(socket: Socket) -> None:
        await socket.volatile.emit("volatile", 2)
        await socket.emit("plain", 1)

        async def asking() -> None:
            with contextlib.suppress(AckTimeoutError, SessionClosedError):
                await socket.timeout(5).call("asking", 3)  # never answered

        sio.engine.spawn(asking)
        await trio.sleep(0.05)  # the ack-asking event leaves before the broadcast, as in Node
        await sio.to(socket.sid).emit("broadcast", 4)

    @sio.on("bye")
    async def bye(socket: Socket) -> None:
        await socket.disconnect()

    return sio


@asynccontextmanager
async def minisock_url(duration: float, skip: bool) -> AsyncIterator[tuple[str, Server]]:
    sio = build_server(duration, skip)
    async with _node.serving(sio) as url:
        yield url, sio


def node_url(duration: float, skip: bool) -> AbstractContextManager[str]:
    return _node.reference_server(
        NODE_SERVER, str(int(duration * 1000)), "true" if skip else "false"
    )


async def run(scenario: str, url: str) -> dict[str, Any]:
    return await _node.run_scenario(
        SCENARIOS, scenario, url, packages=("socket.io-client",), deadline=DEADLINE
    )


@pytest.mark.parametrize(
    "scenario", ["recover", "recover-polling", "on-purpose", "forged", "kinds"]
)
async def test_scenario_on_node_then_minisock(scenario: str) -> None:
    with node_url(60, True) as url:
        reference = await run(scenario, url)
    async with minisock_url(60, True) as (url, _):
        report = await run(scenario, url)
    if scenario.startswith("recover"):  # middlewares skipped on recovery: one run, kept in data
        assert reference["state"]["data"] == report["state"]["data"] == {"mw": 1, "k": "v"}


async def test_a_reconnection_after_the_duration_is_a_new_socket() -> None:
    with node_url(1, True) as url:
        await run("expired", url)
    async with minisock_url(1, True) as (url, _):
        await run("expired", url)


async def test_middlewares_run_again_unless_skipped() -> None:
    with node_url(60, False) as url:
        reference = await run("recover", url)
    async with minisock_url(60, False) as (url, _):
        report = await run("recover", url)
    assert reference["state"]["data"] == report["state"]["data"] == {"mw": 2, "k": "v"}


async def test_the_suite_example_serves_recovery_with_its_flag() -> None:
    server = ServerProcess(python_example("socketio_suite.py", "--recovery", "60"))
    try:
        port = await trio.to_thread.run_sync(server.wait_for_port)
        await run("suite", f"http://127.0.0.1:{port}")
    finally:
        server.kill()  # this process only, by its own handle
