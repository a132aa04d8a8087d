"""The HTTP layer on real TCP sockets, where it reads and writes the socket directly and its
timeouts close the socket from the timer heap (in-memory streams take trio's generic path,
which tests/security covers under a virtual clock).

Real clock, short timeouts; each check waits for an outcome (a close, an answer) under a
generous limit, never for a duration.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
import trustme

from minisock import EngineServer
from minisock.request import Request, Response
from minisock.testing import (
    EventRecorder,
    HttpClient,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    running_server,
)

LIMIT = 20.0


async def read_until_closed(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while True:
        try:
            chunk = await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return data
        if not chunk:
            return data
        data += chunk


async def test_a_head_that_never_completes_is_closed_unanswered() -> None:
    server = EngineServer(head_timeout=0.3, body_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(f"GET {eio_target()} HTTP/1.1\r\nHost: x\r\n".encode())
            assert await read_until_closed(stream) == b""
            await stream.aclose()
            assert not server.sessions


async def test_an_idle_keep_alive_connection_is_closed_after_head_timeout() -> None:
    server = EngineServer(head_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            client = await HttpClient.open(port)
            sid, _ = await eio_handshake(client)
            assert await read_until_closed(client.stream) == b""
            await client.aclose()
            assert sid in server.sessions  # the session outlives its connections


async def send_then_stall(stream: trio.SocketStream, head: bytes) -> None:
    await stream.send_all(head + b"4stalled")


async def send_then_trickle(stream: trio.SocketStream, head: bytes) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(head + b"4")
        for _ in range(999):
            await trio.sleep(0.05)
            await stream.send_all(b"x")


@pytest.mark.parametrize("send", [send_then_stall, send_then_trickle], ids=["idle", "trickle"])
async def test_a_slow_body_is_cut_and_the_session_goes_on(
    send: Callable[[trio.SocketStream, bytes], Awaitable[None]],
) -> None:
    """body_timeout bounds each gap in a body; request_timeout (review F6) the whole body."""
    server = EngineServer(body_timeout=0.3, request_timeout=0.5)
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                slow = await trio.open_tcp_stream("127.0.0.1", port)
                target = eio_target(sid=sid)
                head = f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send, slow, head.encode())
                    assert not (await read_until_closed(slow)).startswith(b"HTTP/1.1 2")
                    nursery.cancel_scope.cancel()
                await slow.aclose()
                assert (await eio_post(client, sid, "4after")).body == b"ok"
            assert events.messages_of(sid) == ["after"]


async def test_pipelined_requests_are_answered_in_order_then_close() -> None:
    server = EngineServer()
    EventRecorder(server, echo=True)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            post = f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n4hi"
            get = f"GET {eio_target(sid=sid)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all((post + get).encode())
            data = await read_until_closed(stream)
            await stream.aclose()
            first, _, second = data.partition(b"\r\n\r\nok")
            assert first.startswith(b"HTTP/1.1 200 OK\r\n")
            assert second.startswith(b"HTTP/1.1 200 OK\r\n")
            head, _, body = second.partition(b"\r\n\r\n")
            assert b"\r\nConnection: close" in head
            assert body == b"4hi"


async def test_an_answer_larger_than_the_socket_buffer_arrives_whole() -> None:
    """The direct write takes what the kernel accepts; trio sends the rest."""
    server = EngineServer(max_payload=10_000_000)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            sock = server.sessions[sid]
            messages = [f"{i:06d}" + "x" * 40_000 for i in range(100)]
            for message in messages:
                sock.send_nowait(message)
            await trio.sleep(0.2)  # the client has not read yet: the kernel buffer fills
            response = await eio_poll(client, sid)
            assert response.status == 200
            assert response.body.decode().split("\x1e") == ["4" + m for m in messages]


async def test_a_tls_head_that_never_completes_is_closed_unanswered() -> None:
    """Over TLS the timer closes the TCP socket beneath the TLS stream."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server = EngineServer(head_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server):
            # TLS as serve() does it: an SSLStream over each accepted socket.
            listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
            client_context = ssl.create_default_context()
            ca.configure_trust(client_context)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    trio.serve_listeners,
                    server.handle_connection,
                    [trio.SSLListener(listener, server_context)],
                )
                tls_port = listener.socket.getsockname()[1]
                stream = await trio.open_ssl_over_tcp_stream(
                    "127.0.0.1", tls_port, ssl_context=client_context
                )
                await stream.send_all(f"GET {eio_target()} HTTP/1.1\r\nHost: x\r\n".encode())
                assert await read_until_closed(stream) == b""
                await trio.aclose_forcefully(stream)
                while server.connections:
                    await trio.sleep(0.01)
                assert not server.sessions
                nursery.cancel_scope.cancel()


async def exchange(port: int, request: bytes) -> bytes:
    """Send one raw request and read until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(request)
    data = await read_until_closed(stream)
    await stream.aclose()
    return data


async def test_a_non_ascii_origin_is_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    """Review F3: an Origin with obs-text under cors "*" is answered without CORS headers
    (no browser sends one) instead of failing after the session was made."""
    server = EngineServer(cors_origins=["*"])
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            request = (
                f"GET {eio_target()} HTTP/1.1\r\nHost: a\r\nOrigin: http://\xe9.com\r\n"
                "Connection: close\r\n\r\n"
            ).encode("latin-1")
            data = await exchange(port, request)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"access-control-allow-origin" not in data.lower()
            plain = b"Origin: http://e.com\r\n".join(request.split(b"Origin: http://\xe9.com\r\n"))
            assert b"Access-Control-Allow-Origin: http://e.com\r\n" in await exchange(port, plain)
    assert "connection handler failed" not in caplog.text


async def test_non_ascii_requested_headers_are_not_echoed_in_a_preflight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EngineServer(cors_origins=["http://e.com"])
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            head = (
                "OPTIONS /engine.io/ HTTP/1.1\r\nHost: a\r\nOrigin: http://e.com\r\n"
                "Connection: close\r\n"
            )
            data = await exchange(
                port, (head + "Access-Control-Request-Headers: x\xff\r\n\r\n").encode("latin-1")
            )
            assert data.startswith(b"HTTP/1.1 204 ")
            assert b"Access-Control-Allow-Origin: http://e.com\r\n" in data
            assert b"access-control-allow-headers" not in data.lower()
            data = await exchange(
                port, (head + "Access-Control-Request-Headers: x-a\r\n\r\n").encode()
            )
            assert b"Access-Control-Allow-Headers: x-a\r\n" in data
    assert "connection handler failed" not in caplog.text


async def test_a_route_header_that_would_split_the_response_gets_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Review F10: the writer refuses the header; the client still gets an answer."""
    server = EngineServer()

    @server.route("GET", "/split")
    async def split(request: Request) -> Response:
        return Response(200, [("X-Evil", "a\r\nSet-Cookie: b=c")], b"hi")

    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            data = await exchange(port, b"GET /split HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"Set-Cookie" not in data and b"Connection: close\r\n" in data
    assert "connection handler failed" not in caplog.text
    assert "cannot send a 200 response" in caplog.text


@pytest.mark.parametrize(
    "target", [b"http://[/engine.io/?EIO=4&transport=polling", b"//[x/engine.io/", b"http://h][1/"]
)
async def test_a_target_urlsplit_refuses_gets_400(
    target: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Review F4: the ValueError from urlsplit used to escape with a traceback."""
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            data = await exchange(port, b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.endswith(b'{"code":3,"message":"malformed HTTP request"}')
    assert "connection handler failed" not in caplog.text


async def test_closed_connections_leave_no_buffers_in_the_timer_heap() -> None:
    """Review F5: the read timer heap keeps an entry until its deadline, but not the closed
    connection (nor its request buffer), whatever the client sent: it holds them weakly."""
    server = EngineServer(head_timeout=60)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            for tail in (b"X: " + b"a" * 16_000, b"X: a\n" + b"b" * 16_000):
                for _ in range(20):
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    await stream.send_all(b"GET / HTTP/1.1\r\nHost: a\r\n" + tail)
                    if b"\n" in tail:  # a bare LF: refused with 400 at once
                        assert (await read_until_closed(stream)).startswith(b"HTTP/1.1 400 ")
                    await stream.aclose()
            while server.connections:
                await trio.sleep(0.01)
            refs = [entry[-1] for entry in server._read_timers._heap]
            assert len(refs) >= 40  # the stale entries wait for their deadlines (60 s)...
            while any(ref() is not None for ref in refs):  # ...holding nothing of the
                await trio.sleep(0.01)  # connections once their tasks have ended
                gc.collect()


def big_route_server(size: int, body_timeout: float) -> EngineServer:
    server = EngineServer(body_timeout=body_timeout)

    @server.route("GET", "/big")
    async def big(request: Request) -> Response:
        return Response(200, [], b"x" * size)

    return server


async def test_a_client_that_never_reads_its_answer_is_closed() -> None:
    """Review F1: a response write that makes no progress for body_timeout ends the
    connection, which then no longer counts against max_connections."""
    server = big_route_server(8_000_000, body_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await sock.connect(("127.0.0.1", port))
            await sock.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            while not server.connections:
                await trio.sleep(0.01)
            while server.connections:  # never read: only the write timeout ends it
                await trio.sleep(0.01)
            sock.close()


async def test_a_slow_but_steady_reader_gets_the_whole_answer() -> None:
    """The write timeout bounds a wait without progress, not the whole answer."""
    size = 2_000_000
    server = big_route_server(size, body_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                data += chunk
                await trio.sleep(0.02)  # about 3 MB/s: the answer takes over 0.3 s
            await stream.aclose()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"\r\n\r\n" + b"x" * size)


async def test_expect_100_continue_gets_100_before_the_body_is_sent() -> None:
    """Review F7: as Node's http server (which sends 100 at once), the client hears
    ``100 Continue`` before it must send the body; here at the first read of it."""
    server = EngineServer(body_timeout=60)
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(
                f"POST {eio_target(sid=sid)} HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
                "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode()
            )
            assert await stream.receive_some(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
            await stream.send_all(b"4hello")
            data = await read_until_closed(stream)
            await stream.aclose()
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\nok")
    assert events.messages_of(sid) == ["hello"]


async def test_an_early_answer_to_expect_100_continue_closes_instead_of_draining() -> None:
    """The client never sends a body it was not asked for: waiting to drain it would hold
    the connection for body_timeout."""
    server = EngineServer(body_timeout=60)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            request = (
                b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            data = await exchange(port, request)
    assert data.startswith(b"HTTP/1.1 404 ") and b"100 Continue" not in data
    assert b"\r\nConnection: close\r\n" in data
