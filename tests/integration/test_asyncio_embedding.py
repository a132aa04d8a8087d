"""minisock inside an asyncio program (``minisock.asyncio``, trio's guest mode).

``examples/asyncio_app.py`` runs as a subprocess and serves the npm ``socket.io-client``: the
client joins room ``news`` and receives a headline that an *asyncio* task emitted to that
room, gets an ack computed by an asyncio coroutine called from a trio handler, and sees its
own published headline come back through the asyncio feed. A signal then stops the program
gracefully, as for every example. In-process, ``asyncio.run`` ending while the server still
runs (it cancels the task) must shut minisock down gracefully: a waiting poll is answered.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess

import _node
import pytest
import trio
from _server_process import STOP_TIMEOUT, PendingPoll, ServerProcess, python_example

from minisock import Server
from minisock.asyncio import run_in_asyncio, serving

CLIENT = _node.JS_DIR / "asyncio_client.mjs"


@pytest.mark.parametrize(
    ("transport", "signum"),
    [("websocket", signal.SIGINT), ("polling", signal.SIGTERM)],
)
def test_asyncio_task_emits_to_a_room_of_npm_clients(
    transport: str, signum: signal.Signals
) -> None:
    node = _node.require_node("socket.io-client")
    server = ServerProcess(python_example("asyncio_app.py", "--interval", "1.0"))
    client: subprocess.Popen[str] | None = None
    try:
        port = server.wait_for_port()
        poll = PendingPoll(port, "/socket.io/")
        config = json.dumps({"url": f"http://127.0.0.1:{port}", "transport": transport})
        client = subprocess.Popen(
            [node, str(CLIENT), config], cwd=_node.JS_DIR, stdout=subprocess.PIPE, text=True
        )
        assert client.stdout is not None
        got = json.loads(client.stdout.readline() or "{}")
        assert got == {
            "subscribed": True,
            "first": got.get("first"),
            "looked": "hello from asyncio",
            "published": True,
            "own": "from the client",
        }, got
        assert str(got["first"]).startswith("headline "), got  # made by the asyncio task
        server.signal(signum)
        ending = json.loads(client.stdout.readline() or "{}")
        assert client.wait(STOP_TIMEOUT) == 0
        assert server.wait() == 0, server.stderr
    finally:
        server.kill()
        if client is not None and client.poll() is None:
            client.kill()
    expected_code = 1001 if transport == "websocket" else None
    assert ending == {"reason": "transport close", "code": expected_code}, ending
    assert poll.result() == "1"
    assert "Traceback" not in server.stderr, server.stderr
    assert sum("shutting down gracefully" in line for line in server.lines) == 1, server.stderr


def test_asyncio_run_ending_shuts_minisock_down_gracefully() -> None:
    sio = Server()
    answers: list[object] = []
    tasks: list[asyncio.Task[None]] = []

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    async def main() -> PendingPoll:
        ports: asyncio.Queue[int] = asyncio.Queue()

        async def serve() -> None:
            async with serving(sio, signals=()) as running:
                answers.append(await running.run_in_trio(trio_side, 21))
                await ports.put(running.port)
                await asyncio.Event().wait()  # until asyncio.run cancels this task

        async def trio_side(x: int) -> int:
            return await run_in_asyncio(double, x)  # trio -> asyncio, inside asyncio -> trio

        tasks.append(asyncio.create_task(serve()))  # never awaited: asyncio.run cancels it
        port = await ports.get()
        poll = await asyncio.to_thread(PendingPoll, port, "/socket.io/")
        while not sio.engine._active_transports:  # its GET is waiting in the server
            await asyncio.sleep(0.01)
        return poll

    poll = asyncio.run(main())
    assert tasks[0].cancelled()
    assert answers == [42]
    assert poll.result() == "1"  # the close packet: the shutdown was graceful


async def test_run_in_asyncio_needs_guest_mode() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError):
        await run_in_asyncio(nothing)


def test_run_in_trio_returns_raises_and_is_cancelled_like_a_local_call() -> None:
    async def answer() -> int:
        await trio.sleep(0)
        return 42

    async def fails() -> None:
        raise ValueError("from trio")

    cancelled = []

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append(True)

    async def main() -> None:
        async with serving(Server(), signals=()) as running:
            assert await running.run_in_trio(answer) == 42
            with pytest.raises(ValueError, match="from trio"):
                await running.run_in_trio(fails)
            waiting = asyncio.create_task(running.run_in_trio(forever))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        with pytest.raises(RuntimeError, match="not running"):
            await running.run_in_trio(trio.sleep, 0)

    asyncio.run(main())
    assert cancelled == [True]  # the trio side was cancelled too


def test_serving_raises_when_the_server_cannot_start() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(ExceptionGroup) as raised:
                async with serving(Server(), "127.0.0.1", taken.getsockname()[1], signals=()):
                    pytest.fail("the block ran without a server")
            assert raised.group_contains(OSError)

    asyncio.run(main())


def test_a_second_cancellation_hurries_the_graceful_shutdown() -> None:
    sio = Server(shutdown_timeout=30.0)

    async def main() -> None:
        started = asyncio.Event()

        async def serve() -> None:
            async with serving(sio, signals=()):
                sio.engine.transport_started()  # one that never ends: the graceful part waits
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(serve())
        await started.wait()
        task.cancel()
        await asyncio.sleep(0.2)
        assert not task.done(), "the graceful part did not wait for the transport"
        task.cancel()  # the second: stop waiting
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10.0)
        assert task.cancelled()

    asyncio.run(main())
