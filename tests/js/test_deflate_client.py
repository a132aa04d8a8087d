"""Compression against the real npm clients, the Node reference first.

Each scenario of ``deflate_scenarios.mjs`` runs against the Node socket.io 4.8 server with
``perMessageDeflate`` on (``deflate_node_server.mjs``), so the test states the reference's
behaviour, then against minisock with ``per_message_deflate=Deflate()``:

- socket.io-client on WebSocket (its ``ws`` offers permessage-deflate by default): messages
  both ways, and which frames carried RSV1;
- the ``ws`` package alone with several ``perMessageDeflate`` options: minisock's
  ``Sec-WebSocket-Extensions`` answer is the reference's, byte for byte;
- socket.io-client on the Fetch polling transport: undici's fetch sends ``Accept-Encoding``,
  and big answers come back gzipped from both servers.

Where the two differ on purpose (the threshold, ``compress(False)``), the test says so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import _node
import pytest

from minisock import Deflate, Server, Socket

JS_DIR = Path(__file__).resolve().parent
SCENARIOS = JS_DIR / "deflate_scenarios.mjs"
NODE_SERVER = JS_DIR / "deflate_node_server.mjs"
DEADLINE = 30.0
BIG = "x" * 16 * 1024
EVENTS = [
    {"event": "a", "length": len(BIG)},
    {"event": "b", "length": len(BIG)},
    {"event": "small", "length": 2},
    {"event": "c", "length": len(BIG)},
    {"event": "e", "length": len(BIG)},
]


def build_server(**options: Any) -> Server:
    """minisock to the contract at the top of ``deflate_scenarios.mjs``."""
    sio = Server(**options)

    @sio.on("echo")
    async def echo(socket: Socket, value: Any) -> Any:
        return value

    @sio.on("go")
    async def go(socket: Socket) -> None:
        await socket.emit("a", BIG)
        await socket.compress(False).emit("b", BIG)
        await socket.emit("small", "hi")
        await sio.to(socket.sid).compress(False).emit("c", BIG)
        await sio.to(socket.sid).emit("e", BIG)

    return sio


@asynccontextmanager
async def minisock_url(**options: Any) -> AsyncIterator[str]:
    async with _node.serving(build_server(**options)) as url:
        yield url


def node_url() -> AbstractContextManager[str]:
    return _node.reference_server(NODE_SERVER)


async def run(scenario: str, url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = [] if options is None else [json.dumps(options)]
    return await _node.run_scenario(
        SCENARIOS,
        scenario,
        url,
        *extra,
        packages=("socket.io-client", "ws"),
        deadline=DEADLINE,
    )


async def test_socketio_client_on_websocket() -> None:
    with node_url() as url:
        node = await run("sio-ws", url)
    assert node["extensions"] == "permessage-deflate"
    assert node["echoOk"] and node["events"] == EVENTS
    # The reference (engine.io 6.6 with ws 8, context takeover) compresses every message:
    # ws applies the threshold only without context takeover, and engine.io's WebSocket
    # transport no longer passes a packet's compress flag to ws.
    assert node["rsv1"] == {"a": True, "b": True, "small": True, "c": True, "e": True}
    async with minisock_url(per_message_deflate=Deflate()) as url:
        ours = await run("sio-ws", url)
    assert ours["extensions"] == "permessage-deflate"
    assert ours["echoOk"] and ours["events"] == EVENTS
    # minisock: the threshold (1024) and compress(False) are honoured, as documented.
    assert ours["rsv1"] == {"a": True, "b": False, "small": False, "c": False, "e": True}


async def test_without_deflate_the_offer_is_declined() -> None:
    async with minisock_url() as url:
        ours = await run("sio-ws", url)
    assert ours["extensions"] == ""
    assert ours["events"] == EVENTS
    assert set(ours["rsv1"].values()) == {False}


OFFERS = [
    {},
    {
        "serverNoContextTakeover": True,
        "clientNoContextTakeover": True,
        "serverMaxWindowBits": 10,
        "clientMaxWindowBits": 12,
    },
    {"clientMaxWindowBits": 9},
    {"serverMaxWindowBits": 9},
    {"clientMaxWindowBits": False},
]


@pytest.mark.parametrize("offer", OFFERS, ids=lambda o: json.dumps(o, sort_keys=True))
async def test_ws_package_gets_the_reference_answer(offer: dict[str, Any]) -> None:
    with node_url() as url:
        node = await run("raw-ws", url, offer)
    async with minisock_url(per_message_deflate=Deflate()) as url:
        ours = await run("raw-ws", url, offer)
    assert node["echoOk"] and ours["echoOk"]
    assert ours["answer"] == node["answer"]
    assert ours["rsv1"]["a"] is node["rsv1"]["a"] is True
    assert ours["rsv1"]["small"] is False


async def test_fetch_polling_gets_gzip_answers() -> None:
    with node_url() as url:
        node = await run("fetch-polling", url)
    assert node["echoOk"] and node["events"] == EVENTS
    assert "gzip" in node["encodings"]
    async with minisock_url() as url:  # http_compression is on by default, as in Node
        ours = await run("fetch-polling", url)
    assert ours["echoOk"] and ours["events"] == EVENTS
    assert "gzip" in ours["encodings"]
    async with minisock_url(http_compression=False) as url:
        plain = await run("fetch-polling", url)
    assert plain["events"] == EVENTS
    assert set(plain["encodings"]) == {None}
