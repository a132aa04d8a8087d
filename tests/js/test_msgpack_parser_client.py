"""The msgpack parser against the real npm ``socket.io-client`` 4.8 with
``parser: require("socket.io-msgpack-parser")`` (3.0.2): events, acks both ways, binary,
namespaces and CONNECT_ERROR, over long-polling only and over WebSocket only.

Each scenario of ``msgpack_scenarios.mjs`` runs first against the Node reference server
(``msgpack_node_server.mjs``, socket.io 4.8.4 with the same parser, started as a subprocess and
stopped by PID), so its expectations are the reference's behaviour; then against
:func:`build_server`, minisock built to the same contract with ``Server(parser="msgpack")``.
Never skips: a missing toolchain is a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import _node
import pytest

from minisock import AckTimeoutError, ConnectRefusedError, Server, Socket

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "msgpack_scenarios.mjs"
NODE_SERVER = JS_DIR / "msgpack_node_server.mjs"
SCENARIOS = ["events", "acks", "binary", "namespaces"]
TRANSPORTS = ["polling", "websocket"]
PACKAGES = ("socket.io-client", "socket.io", "socket.io-msgpack-parser")
DEADLINE = 30.0  # the script has its own 15 s timeout; this guards against a wedged process


def build_server() -> Server:
    """The contract at the top of msgpack_scenarios.mjs, in minisock."""
    sio = Server(parser="msgpack")

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("ping-me")
    async def ping_me(socket: Socket, payload: Any) -> None:
        await socket.emit("pong", payload)

    @sio.on("broadcast-me")
    async def broadcast_me(socket: Socket, payload: Any) -> None:
        await sio.emit("news", payload)

    @sio.on("ask-me")
    async def ask_me(socket: Socket, question: Any) -> Any:
        try:
            return await socket.timeout(2.0).call("question", question)
        except AckTimeoutError:
            return "timeout"

    admin = sio.of("/admin")

    @admin.use
    async def token(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") != "ok":
            raise ConnectRefusedError("not authorized", {"reason": "bad token"})

    @admin.on("connect")
    async def welcome(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("welcome", {"nsp": socket.nsp})

    return sio


async def run_scenario(scenario: str, base_url: str, transport: str) -> None:
    await _node.run_scenario(
        SCRIPT, scenario, base_url, transport, packages=PACKAGES, deadline=DEADLINE
    )


@pytest.fixture(scope="module")
def node_server() -> Iterator[str]:
    """The Node reference server of the contract; its base URL. Stopped by PID."""
    with _node.reference_server(NODE_SERVER, packages=PACKAGES) as url:
        yield url


@pytest.fixture
async def minisock_server() -> AsyncIterator[str]:
    async with _node.serving(build_server()) as url:
        yield url


@pytest.mark.js
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_the_node_reference(
    scenario: str, transport: str, node_server: str
) -> None:
    await run_scenario(scenario, node_server, transport)


@pytest.mark.js
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_minisock(scenario: str, transport: str, minisock_server: str) -> None:
    await run_scenario(scenario, minisock_server, transport)
