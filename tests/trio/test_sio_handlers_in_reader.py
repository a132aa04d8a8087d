"""Handlers run in the task that read their message until they first wait
(``minisock/_handoff.py``); then the reading moves to a new task.

What that must keep: each client's order, acks both ways, contained errors, a client that
leaves while its handler waits. What it buys: a handler that does not wait costs no task
(counted with a trio instrument), and one that waits for its own client's ack gets it, over
a WebSocket and over long-polling (where the next POST comes on the same connection).
Raw frames in memory under ``autojump_clock``; the polling test on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from minisock import Server, Socket
from minisock.testing import WsClient, memory_connection, running_server

WS_TARGET = "/socket.io/?EIO=4&transport=websocket"


async def connect(sio: Server) -> WsClient:
    ws = await WsClient.connect(memory_connection(sio.engine), "127.0.0.1", WS_TARGET)
    assert str(await ws.receive()).startswith("0")
    await ws.send_text("40")
    assert str(await ws.receive()).startswith('40{"sid":')
    return ws


class Spawns(trio.abc.Instrument):
    def __init__(self) -> None:
        self.count = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.count += 1


async def test_order_and_acks_hold_when_some_handlers_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    seen: list[int] = []

    @sio.on("n")
    async def numbered(socket: Socket, n: int) -> int:
        if n % 3 == 0:
            await trio.sleep(0.01)  # it waits: the next ones queue behind it
        seen.append(n)
        await socket.emit("back", n)
        return n * 2

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            for n in range(20):
                await ws.send_text(f'42{n}["n",{n}]')
            answers = [await ws.receive() for _ in range(40)]
            await ws.close()
    assert seen == list(range(20))
    expected: list[Any] = []
    for n in range(20):
        expected += [f'42["back",{n}]', f"43{n}[{n * 2}]"]
    assert answers == expected


async def test_a_handler_that_does_not_wait_costs_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("echo")
    async def echo(socket: Socket, n: int) -> None:
        await socket.emit("echo", n)

    @sio.on("slow")
    async def slow(socket: Socket) -> str:
        await trio.sleep(1)
        return "done"

    spawns = Spawns()
    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            trio.lowlevel.add_instrument(spawns)
            for n in range(50):
                await ws.send_text(f'42["echo",{n}]')
                assert await ws.receive() == f'42["echo",{n}]'
            quick = spawns.count
            await ws.send_text('421["slow"]')
            assert await ws.receive() == '431["done"]'
            trio.lowlevel.remove_instrument(spawns)
            await ws.close()
    assert quick == 0
    assert spawns.count == 1  # the reader that took over while "slow" waited


async def test_a_handler_gets_its_own_clients_ack_while_later_events_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    order: list[str] = []

    @sio.on("ask")
    async def ask(socket: Socket) -> Any:
        answer = await socket.call("question")  # read by the task that took the reading
        order.append(f"ask got {answer}")
        return answer

    @sio.on("next")
    async def next_event(socket: Socket) -> None:
        order.append("next")

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["ask"]')
            assert await ws.receive() == '420["question"]'
            await ws.send_text('42["next"]')  # queued: "ask" has not returned
            await trio.sleep(1)
            assert order == []
            await ws.send_text('430["yes"]')
            assert await ws.receive() == '431["yes"]'
            await trio.sleep(1)
            await ws.close()
    assert order == ["ask got yes", "next"]


async def test_a_client_that_leaves_while_its_handler_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    events: list[str] = []
    release = trio.Event()

    @sio.on("wait")
    async def wait(socket: Socket) -> None:
        events.append("waiting")
        await release.wait()
        events.append("released")

    @sio.on("disconnect")
    async def gone(socket: Socket, reason: str) -> None:
        events.append(f"disconnect: {reason}")

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('42["wait"]')
            await trio.sleep(1)
            await ws.close()  # read and answered by the reader that took over
            await trio.sleep(1)
            assert sio.engine.connections == 0
            assert not sio.engine.sessions
            release.set()
            await trio.sleep(1)
    # The disconnect handler runs after the handler that was running, as the client's order.
    assert events == ["waiting", "released", "disconnect: transport close"]


async def test_a_handler_error_is_contained(autojump_clock: trio.testing.MockClock) -> None:
    sio = Server()

    @sio.on("boom")
    async def boom(socket: Socket) -> None:
        raise ValueError("handler bug")

    @sio.on("late-boom")
    async def late_boom(socket: Socket) -> None:
        await trio.sleep(1)
        raise ValueError("handler bug after a wait")

    @sio.on("ping-me")
    async def ping_me(socket: Socket) -> str:
        return "pong"

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('425["boom"]')
            assert await ws.receive() == "435[]"
            await ws.send_text('427["late-boom"]')
            assert await ws.receive() == "437[]"
            await ws.send_text('426["ping-me"]')
            assert await ws.receive() == '436["pong"]'
            await ws.close()


async def test_a_handler_knows_whether_an_ack_was_asked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    seen: list[bool] = []

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> tuple[Any, ...] | None:
        seen.append(socket.ack_requested)
        if socket.ack_requested:
            return args
        await socket.emit("echo", *args)
        return None

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('42["echo",1]')
            assert await ws.receive() == '42["echo",1]'
            await ws.send_text('427["echo",2]')
            assert await ws.receive() == "437[2]"
            await ws.close()
    assert seen == [False, True]
