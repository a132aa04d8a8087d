"""Nothing waits on an answer's write: a fast client's next request finds the state it expects.

A write can take a while to *return* after its bytes have reached the client (TLS writes in
several steps; a busy scheduler resumes the writer late). These tests make that delay total:
the server's side of the connection delivers the bytes of a chosen write at once, then holds
the writer until the test lets it go. Whatever the server does only after such a write is
then visibly late, and the test fails without the fix it guards.
"""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing

from minisock import EngineServer, EngineSocket
from minisock.testing import (
    EventRecorder,
    HttpClient,
    WsClient,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    running_server,
)


class HeldWrites(trio.abc.HalfCloseableStream):
    """A server-side stream whose writes matching ``hold`` deliver, then block on ``release``."""

    def __init__(self, inner: trio.abc.HalfCloseableStream, hold: Callable[[bytes], bool]) -> None:
        self.inner = inner
        self.hold = hold
        self.release = trio.Event()
        self.held = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)
        if self.hold(bytes(data)):
            self.held.set()
            await self.release.wait()

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        self.release.set()
        await self.inner.aclose()


def held_connection(
    server: EngineServer, hold: Callable[[bytes], bool]
) -> tuple[trio.abc.Stream, HeldWrites]:
    """An in-memory connection whose server side holds the writes ``hold`` picks."""
    client, server_end = trio.testing.memory_stream_pair()
    held = HeldWrites(server_end, hold)
    server.spawn(server.handle_connection, held)
    return client, held


async def test_connect_handler_runs_before_a_fast_clients_first_message() -> None:
    """The polling handshake: the connect handler must not wait for the open packet's write.

    Without the fix the handler ran after that write returned, so a message POSTed at once
    on another connection reached the application before its session's connect.
    """
    server = EngineServer()
    seen: list[str] = []

    @server.on("connect")
    async def connect(sock: EngineSocket) -> None:
        seen.append("connect")

    @server.on("message")
    async def message(sock: EngineSocket, data: str | bytes) -> None:
        seen.append(f"message {data!r}")

    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            stream, held = held_connection(server, lambda data: b'"sid"' in data)
            sid, _ = await eio_handshake(HttpClient(stream))
            assert held.held.is_set()  # the handshake's writer is still held
            other, _unheld = held_connection(server, lambda data: False)
            # The POST is answered once its message has been delivered.
            assert (await eio_post(HttpClient(other), sid, "4first")).body == b"ok"
            held.release.set()
            assert seen == ["connect", "message 'first'"]


async def test_probe_releases_the_pending_get_before_its_3probe_write() -> None:
    """The upgrade: a pending GET gets ``6`` as soon as the probe is answered.

    The client ends its GET before it sends ``5``; a GET released only once the ``3probe``
    write returned would hold the upgrade for as long as that write waits.
    """
    server = EngineServer()
    EventRecorder(server)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            plain, _ = held_connection(server, lambda data: False)
            poller = HttpClient(plain)
            sid, _ = await eio_handshake(poller)
            async with trio.open_nursery() as nursery:
                answers: list[bytes] = []

                async def poll() -> None:
                    answers.append((await eio_poll(poller, sid)).body)

                nursery.start_soon(poll)
                await trio.testing.wait_all_tasks_blocked()
                stream, held = held_connection(server, lambda data: b"3probe" in data)
                target = eio_target(sid=sid, transport="websocket")
                ws = await WsClient.connect(stream, "localhost", target)
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                await trio.testing.wait_all_tasks_blocked()
                while_held = list(answers)
                held.release.set()
            assert while_held == [b"6"]
            await ws.send_text("5")
            await ws.aclose()


async def test_a_get_whose_answer_is_still_being_written_does_not_refuse_the_next_get() -> None:
    """The GET side was already right (checked in the issue 11 audit): a poll's mark goes
    when its body is taken, before the write, so the next GET on another connection waits
    normally instead of being refused as overlapping."""
    server = EngineServer()
    EventRecorder(server)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            first, _ = held_connection(server, lambda data: False)
            sid, _ = await eio_handshake(HttpClient(first))
            server.sessions[sid].send_nowait("hello")
            stream, held = held_connection(server, lambda data: b"4hello" in data)
            assert (await eio_poll(HttpClient(stream), sid)).body == b"4hello"
            other, _ = held_connection(server, lambda data: False)
            async with trio.open_nursery() as nursery:
                answers: list[tuple[int, bytes]] = []

                async def poll() -> None:
                    response = await eio_poll(HttpClient(other), sid)
                    answers.append((response.status, response.body))

                nursery.start_soon(poll)
                await trio.testing.wait_all_tasks_blocked()
                server.sessions[sid].send_nowait("next")
                await trio.testing.wait_all_tasks_blocked()
                held.release.set()
            assert answers == [(200, b"4next")]
