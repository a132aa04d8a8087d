"""A waiting GET answered by the task that queued the packets (``_polling.HeldPoll``), on real
sockets: the GET's own task stays on its socket, so what it must still do afterwards (write
what the kernel did not take, serve a pipelined request, time out an idle connection, leave
a newer GET alone) is checked here.

Real clock; each check waits for an outcome under an absolute limit, never for a duration.
"""

from __future__ import annotations

import trio

from minisock import EngineServer, EngineSocket
from minisock.testing import HttpClient, eio_handshake, eio_poll, eio_target, running_server

LIMIT = 10.0


async def wait_until_held(server: EngineServer, sid: str) -> EngineSocket:
    sock = server.sessions[sid]
    while not sock.state.poll_pending:
        await trio.sleep(0.005)
    return sock


def get_request(sid: str) -> bytes:
    return f"GET {eio_target(sid=sid)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


async def read_response(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    """One whole response with a Content-Length; returns its body."""
    while b"\r\n\r\n" not in buffer:
        chunk = await stream.receive_some(65536)
        assert chunk, "connection closed before an answer"
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    start = len(head) + 4
    while len(buffer) < start + length:
        chunk = await stream.receive_some(65536)
        assert chunk, "connection closed inside an answer"
        buffer += chunk
    body = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return body


async def open_session(port: int) -> str:
    async with await HttpClient.open(port) as client:
        sid, _ = await eio_handshake(client)
    return sid


async def held_get(server: EngineServer, port: int) -> tuple[str, trio.SocketStream, EngineSocket]:
    """A new session whose GET, sent on a connection of its own, the server now holds."""
    sid = await open_session(port)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(get_request(sid))
    return sid, stream, await wait_until_held(server, sid)


async def test_an_answer_the_kernel_takes_in_part_is_finished_by_the_gets_task() -> None:
    server = EngineServer(max_payload=10_000_000)
    big = "x" * 4_000_000
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            sid, stream, sock = await held_get(server, port)
            sock.send_nowait(big)  # far more than the socket buffers hold: the rest waits
            await trio.sleep(0.2)  # the client reads late
            buffer = bytearray()
            assert await read_response(stream, buffer) == b"4" + big.encode()
            # The connection goes on: the next GET on it is served.
            await stream.send_all(get_request(sid))
            await wait_until_held(server, sid)
            sock.send_nowait("next")
            assert await read_response(stream, buffer) == b"4next"
            await stream.aclose()


async def test_a_request_pipelined_behind_the_waiting_get_is_served_after_its_answer() -> None:
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            _, stream, sock = await held_get(server, port)
            unknown = get_request("unknown-sid")  # answered 400, after the GET's answer
            await stream.send_all(unknown)
            await trio.sleep(0.05)
            sock.send_nowait("first")
            buffer = bytearray()
            assert await read_response(stream, buffer) == b"4first"
            assert b'"message":"Session ID unknown"' in await read_response(stream, buffer)
            await stream.aclose()


async def test_the_connection_of_an_answered_get_still_times_out_when_idle() -> None:
    server = EngineServer(head_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            _, stream, sock = await held_get(server, port)
            sock.send_nowait("hi")
            buffer = bytearray()
            assert await read_response(stream, buffer) == b"4hi"
            # No next request: the server closes the connection after head_timeout.
            assert await stream.receive_some(65536) == b""
            await stream.aclose()
            assert sock.state.is_open  # the session outlives an idle connection


async def test_an_answered_get_leaving_does_not_unhook_the_next_one() -> None:
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            sid, first, sock = await held_get(server, port)
            sock.send_nowait("a")
            assert await read_response(first, bytearray()) == b"4a"
            # The next GET on another connection waits while the first connection's task
            # still sits on its socket; then that connection closes.
            async with await HttpClient.open(port) as client:
                async with trio.open_nursery() as nursery:
                    answers: list[bytes] = []

                    async def poll() -> None:
                        answers.append((await eio_poll(client, sid)).body)

                    nursery.start_soon(poll)
                    await wait_until_held(server, sid)
                    await first.aclose()
                    await trio.sleep(0.05)  # its task wakes, finds the end of stream, goes
                    sock.send_nowait("b")
                assert answers == [b"4b"]
            assert sock.state.is_open
