"""``Server(inline_handlers=True)``: handlers run in the connection's reader.

The mode trades the ordered per-client queue for speed; these tests pin down what it keeps
(order, acks, contained errors, the suite's bytes) and the one thing it refuses: waiting
for the same client's ack inside an inline handler, which could only deadlock.
"""

from __future__ import annotations

from typing import Any

import pytest
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


async def test_inline_handlers_keep_order_and_ack(autojump_clock: trio.testing.MockClock) -> None:
    sio = Server(inline_handlers=True)
    seen: list[int] = []

    @sio.on("n")
    async def numbered(socket: Socket, n: int) -> int:
        if n % 3 == 0:
            await trio.sleep(0.01)  # a handler that waits still delays only its own client
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


async def test_call_inside_an_inline_handler_raises_instead_of_deadlocking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server(inline_handlers=True)
    errors: list[str] = []

    @sio.on("ask")
    async def ask(socket: Socket) -> str:
        try:
            await socket.call("question")
        except RuntimeError as exc:
            errors.append(str(exc))
            return "refused"
        return "answered"

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["ask"]')
            assert await ws.receive() == '431["refused"]'
            await ws.close()
    assert errors and "inline handler" in errors[0]


async def test_call_from_a_task_of_the_handler_works(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server(inline_handlers=True)
    replies: list[Any] = []

    @sio.on("ask")
    async def ask(socket: Socket) -> None:
        async def question() -> None:
            replies.append(await socket.call("question", 1))

        sio.engine.spawn(question)

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('42["ask"]')
            assert await ws.receive() == '420["question",1]'
            await ws.send_text('430["yes"]')
            while not replies:
                await trio.sleep(0.01)
            await ws.close()
    assert replies == ["yes"]


async def test_an_inline_handler_error_is_contained(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server(inline_handlers=True)

    @sio.on("boom")
    async def boom(socket: Socket) -> None:
        raise ValueError("handler bug")

    @sio.on("ping-me")
    async def ping_me(socket: Socket) -> str:
        return "pong"

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('425["boom"]')
            assert await ws.receive() == "435[]"
            await ws.send_text('426["ping-me"]')
            assert await ws.receive() == '436["pong"]'
            await ws.close()


@pytest.mark.parametrize("inline", [False, True])
async def test_a_handler_knows_whether_an_ack_was_asked(
    autojump_clock: trio.testing.MockClock, inline: bool
) -> None:
    sio = Server(inline_handlers=inline)
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
