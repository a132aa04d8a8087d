"""The event path against the real npm socket.io-client, the Node reference first.

Each scenario of ``event_scenarios.mjs`` runs against the Node socket.io 4.8 server
(``event_node_server.mjs``), so the test states the reference's behaviour, then against
minisock built here to the same contract: acks answered late (``take_ack``) or never
(``NO_ACK``, which socket.io-client's ``retries`` rely on), ``socket.use`` middlewares and
their errors, catch-all listeners both ways, volatile packets. The rate-limit scenarios
have no reference (Node has no rate limit) and run against minisock only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import _node
import pytest
import trio

from minisock import NO_ACK, Server, Socket
from minisock.ack import NoAck
from minisock.proto.token_bucket import RateLimit

JS_DIR = Path(__file__).resolve().parent
SCENARIOS = JS_DIR / "event_scenarios.mjs"
NODE_SERVER = JS_DIR / "event_node_server.mjs"
DEADLINE = 30.0


def build_server(**options: Any) -> Server:
    """minisock to the contract at the top of ``event_scenarios.mjs``."""
    sio = Server(ping_interval=2.0, ping_timeout=5.0, **options)
    errors: dict[str, list[str]] = {}
    seen: dict[str, tuple[list[str], list[str]]] = {}
    counts: dict[str, int] = {}

    async def refuse(socket: Socket, event: list[Any]) -> None:
        if event[0] == "forbidden":
            raise ValueError("nope")

    async def shout(socket: Socket, event: list[Any]) -> None:
        if event[0] == "shout":
            event[1] = str(event[1]).upper()

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        incoming, outgoing = seen[socket.sid] = ([], [])
        errors[socket.sid] = []
        socket.on_any(lambda event, *args: incoming.append(event))
        socket.on_any_outgoing(lambda event, *args: outgoing.append(event))
        socket.use(refuse)
        socket.use(shout)

    @sio.on("error")
    async def error(socket: Socket, exc: Exception) -> None:
        errors[socket.sid].append(str(exc))

    @sio.on("flaky")
    async def flaky(socket: Socket) -> int | NoAck:
        socket.data["flaky"] = attempt = socket.data.get("flaky", 0) + 1
        return attempt if attempt > 2 else NO_ACK

    @sio.on("never")
    async def never(socket: Socket) -> NoAck:
        return NO_ACK

    @sio.on("later")
    async def later(socket: Socket, x: Any) -> None:
        ack = socket.take_ack()
        assert ack is not None

        async def answer() -> None:
            await trio.sleep(0.2)
            ack("late", x)

        sio.engine.spawn(answer)

    @sio.on("shout")
    async def shouted(socket: Socket, text: str) -> str:
        return text

    @sio.on("forbidden")
    async def forbidden(socket: Socket) -> str:
        return "handler ran"

    @sio.on("errors")
    async def errors_seen(socket: Socket) -> list[str]:
        return errors[socket.sid]

    @sio.on("hello")
    async def hello(socket: Socket) -> None:
        await socket.emit("greet")
        await sio.to(socket.sid).emit("bc")

    @sio.on("seen")
    async def seen_so_far(socket: Socket) -> dict[str, list[str]]:
        incoming, outgoing = seen[socket.sid]
        return {"incoming": list(incoming), "outgoing": list(outgoing)}

    @sio.on("vol")
    async def vol(socket: Socket) -> None:
        await socket.emit("a")
        await socket.volatile.emit("b")
        await sio.to(socket.sid).emit("c")
        await sio.volatile.to(socket.sid).emit("d")

        async def later_ones() -> None:
            await trio.sleep(0.3)
            await socket.volatile.emit("e")
            await trio.sleep(0.3)
            await sio.volatile.to(socket.sid).emit("f")
            await trio.sleep(0.3)
            await socket.emit("g")

        sio.engine.spawn(later_ones)

    @sio.on("count")
    async def count(socket: Socket) -> None:
        counts[socket.sid] = counts.get(socket.sid, 0) + 1

    @sio.on("count?")
    async def count_so_far(socket: Socket) -> int:
        return counts.get(socket.sid, 0)

    return sio


@asynccontextmanager
async def minisock_url(**options: Any) -> AsyncIterator[tuple[str, Server]]:
    sio = build_server(**options)
    async with _node.serving(sio) as url:
        yield url, sio


def node_url() -> AbstractContextManager[str]:
    return _node.reference_server(NODE_SERVER)


async def run(scenario: str, url: str) -> dict[str, Any]:
    return await _node.run_scenario(
        SCENARIOS, scenario, url, packages=("socket.io-client",), deadline=DEADLINE
    )


REFERENCE_SCENARIOS = ["acks", "middleware", "catch-all", "volatile-polling"]


@pytest.mark.parametrize("scenario", REFERENCE_SCENARIOS)
async def test_scenario_on_node_then_minisock(scenario: str) -> None:
    with node_url() as url:
        await run(scenario, url)
    async with minisock_url() as (url, sio):
        await run(scenario, url)
        if scenario == "volatile-polling":
            assert sio.stats.volatile_dropped == 2  # "b" and "d"


async def test_volatile_on_websocket_reaches_an_idle_transport() -> None:
    with node_url() as url:
        node_report = await run("volatile-websocket", url)
    assert node_report["received"] == ["a", "c", "e", "f", "g"]  # Node: a write was in flight
    async with minisock_url() as (url, sio):
        report = await run("volatile-websocket", url)
    # minisock writes "a" to the kernel at once, so "b" may find the transport idle.
    assert set(report["received"]) >= {"a", "c", "e", "f", "g"}
    assert len(report["received"]) + sio.stats.volatile_dropped == 7


async def test_rate_limit_drops_events_over_the_burst() -> None:
    async with minisock_url(rate_limit=RateLimit(rate=0.5, burst=3)) as (url, sio):
        await run("rate-limit", url)
        assert sio.stats.rate_limited == 7
        assert sio.stats.rate_limit_disconnects == 0


async def test_rate_limit_can_disconnect_with_reason_rate_limit() -> None:
    reasons: list[str] = []
    async with minisock_url(rate_limit=RateLimit(rate=0.5, burst=3, disconnect=True)) as (
        url,
        sio,
    ):

        @sio.on("disconnect")
        async def gone(socket: Socket, reason: str) -> None:
            reasons.append(reason)

        await run("rate-limit-disconnect", url)
        with trio.fail_after(5):
            while not reasons:
                await trio.sleep(0.01)
        assert reasons == ["rate limit"]
        assert sio.stats.rate_limit_disconnects == 1
