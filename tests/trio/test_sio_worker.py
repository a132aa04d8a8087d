"""The per-client handler worker: one task for a client that keeps sending, none when idle.

A worker that ran an event handler waits ``WORKER_LINGER`` seconds for the next event (a
wake-up costs less than a new task), then ends; a client that leaves ends it at once. These
tests pin both ends of that, by the identity of the task each handler runs in.
"""

from __future__ import annotations

import trio
import trio.testing

from minisock import Server, Socket
from minisock._client import WORKER_LINGER
from minisock.testing import WsClient, memory_connection, running_server

WS_TARGET = "/socket.io/?EIO=4&transport=websocket"


async def connect(sio: Server) -> WsClient:
    ws = await WsClient.connect(memory_connection(sio.engine), "127.0.0.1", WS_TARGET)
    assert str(await ws.receive()).startswith("0")
    await ws.send_text("40")
    assert str(await ws.receive()).startswith('40{"sid":')
    return ws


def recording_server() -> tuple[Server, list[trio.lowlevel.Task]]:
    sio = Server()
    tasks: list[trio.lowlevel.Task] = []

    @sio.on("where")
    async def where(socket: Socket) -> int:
        tasks.append(trio.lowlevel.current_task())
        return len(tasks)

    return sio, tasks


async def test_the_worker_takes_the_next_event_then_retires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, tasks = recording_server()
    with trio.fail_after(60):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["where"]')
            assert await ws.receive() == "431[1]"
            await trio.sleep(WORKER_LINGER / 2)
            await ws.send_text('422["where"]')
            assert await ws.receive() == "432[2]"
            await trio.sleep(3 * WORKER_LINGER)
            await ws.send_text('423["where"]')
            assert await ws.receive() == "433[3]"
            await ws.close()
    assert tasks[0] is tasks[1]  # woken, not spawned
    assert tasks[2] is not tasks[1]  # the idle one had ended; a new one came


async def test_a_client_that_leaves_ends_its_waiting_worker_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, tasks = recording_server()
    with trio.fail_after(60):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["where"]')
            assert await ws.receive() == "431[1]"
            worker = tasks[0]
            assert worker.coro.cr_frame is not None  # waiting for the next event
            start = trio.current_time()
            await ws.close()
            while worker.coro.cr_frame is not None:
                await trio.sleep(0.01)
            assert trio.current_time() - start < WORKER_LINGER / 2
