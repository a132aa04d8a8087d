"""What an idle WebSocket session keeps alive, against a real server on 127.0.0.1.

An idle session is the common case (issue 13: at most 10 KB each), so its shape is checked
here: one task (its reader), no writer task, no HTTP objects left over from the handshake,
no lock or parking lot. And the writes that the socket cannot take at once still leave in
order, through a flusher task that lives only while they wait.

Real TCP sockets matter: on them the connection runs on a duplicate of the accepted socket
in a task of its own, and writes and reads go to the file descriptor.
"""

from __future__ import annotations

import gc
import inspect
from collections import Counter

import trio
import trio.testing

from minisock import EngineServer, EngineSocket
from minisock._http import HttpConnection
from minisock.request import Request
from minisock.testing import EventRecorder, WsClient, eio_target, running_server

LIMIT = 10.0
WS_TARGET = eio_target(transport="websocket")


def task_names() -> Counter[str]:
    """Every trio task alive, by name (``trio.lowlevel.Task`` objects the runner holds)."""
    gc.collect()
    living = trio.lowlevel.current_statistics().tasks_living
    tasks = [o for o in gc.get_objects() if isinstance(o, trio.lowlevel.Task)]
    running = [t for t in tasks if inspect.getcoroutinestate(t.coro) != inspect.CORO_CLOSED]
    names = Counter(task.name.rsplit(".", 1)[-1] for task in running)
    assert sum(names.values()) == living, (names, living)
    return names


def alive(kind: type) -> int:
    gc.collect()
    return sum(isinstance(o, kind) for o in gc.get_objects())


async def open_session(port: int) -> WsClient:
    client = await WsClient.open(port, WS_TARGET, [])
    opened = await client.receive()
    assert isinstance(opened, str) and opened.startswith("0")
    return client


async def test_an_idle_websocket_session_keeps_one_task_and_no_http_objects() -> None:
    server = EngineServer()
    EventRecorder(server, echo=True)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            await trio.testing.wait_all_tasks_blocked()
            tasks_before = task_names()
            kinds = (HttpConnection, trio.StrictFIFOLock, trio.lowlevel.ParkingLot, Request)
            before = {kind: alive(kind) for kind in kinds}
            clients = [await open_session(port) for _ in range(5)]
            await trio.testing.wait_all_tasks_blocked()
            grown = task_names() - tasks_before
            assert grown == Counter({"_serve": 5}), grown  # the readers, nothing else
            now = {kind: alive(kind) - before[kind] for kind in kinds}
            assert now[HttpConnection] == 0  # the handshake's handler has returned
            assert now[trio.StrictFIFOLock] == 0
            assert now[trio.lowlevel.ParkingLot] == 0
            assert now[Request] == 5  # kept: the application sees it (sock.request)
            assert server.connections == 5  # still counted for max_connections
            # Idle does not mean stuck: both ways still work on every session.
            for i, client in enumerate(clients):
                await client.send_text(f"4hello {i}")
                assert await client.receive() == f"4hello {i}"
            for client in clients:
                await client.close()
            with trio.move_on_after(5):
                while server.connections:
                    await trio.sleep(0.01)
            assert server.connections == 0
            assert not server.sessions


async def test_writes_the_socket_cannot_take_leave_in_order_through_a_passing_flusher() -> None:
    """A client that does not read: the kernel's buffers fill, what is left waits in the
    flusher task, more messages queue behind it; once the client reads, every message
    arrives whole and in order, and the flusher task ends."""
    server = EngineServer(max_outbox_packets=100_000)
    sessions: list[EngineSocket] = []

    @server.on("connect")
    async def connect(sock: EngineSocket) -> None:
        sessions.append(sock)

    big = "x" * 262_144
    count = 120  # 30 MB: far more than loopback buffers hold
    with trio.fail_after(LIMIT * 3):
        async with running_server(server) as port:
            client = await open_session(port)
            await trio.testing.wait_all_tasks_blocked()
            (sock,) = sessions
            for i in range(count):
                sock.send_nowait(f"{i:04d}{big}")
            await trio.testing.wait_all_tasks_blocked()
            assert task_names()["_flush"] == 1  # one write is waiting on the client
            assert not sock.writable  # volatile packets would be dropped now
            for i in range(count):
                message = await client.receive()
                assert message == f"4{i:04d}{big}", f"message {i} out of order or cut"
            await trio.testing.wait_all_tasks_blocked()
            assert task_names()["_flush"] == 0  # nothing waits: no write task either
            assert sock.writable
            sock.send_nowait("after")  # straight to the socket again
            assert await client.receive() == "4after"
            await client.close()
