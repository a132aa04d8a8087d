"""The Engine.IO hooks seen on the wire, and TLS: real sockets on 127.0.0.1 or in-memory.

What the npm clients can see is checked against the Node reference in
``tests/js/test_tls_and_hooks.py``; this file covers the rest: each answer's headers, every
refusal's ``connection_error``, the hooks' failures, and the request's peer under TLS.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import trio
import trio.testing
import trustme

from minisock import (
    ConnectionErrorEvent,
    CookieOptions,
    EngineServer,
    EngineSocket,
    Request,
    RequestRefusedError,
)
from minisock.testing import (
    EventRecorder,
    HttpClient,
    WsClient,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    memory_connection,
    running_server,
)


def _headers_server() -> EngineServer:
    server = EngineServer(cookie=CookieOptions(name="lb", max_age=60))

    @server.on("initial_headers")
    def initial(headers: list[tuple[str, str]], request: Request) -> None:
        headers.append(("X-Initial", request.method))

    @server.on("headers")
    def every(headers: list[tuple[str, str]], request: Request) -> None:
        headers.append(("X-Every", request.method))

    return server


async def test_headers_hooks_on_every_polling_answer_and_initial_ones_on_the_handshake() -> None:
    server = _headers_server()
    EventRecorder(server, echo=True)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            client = HttpClient(memory_connection(server))
            response = await client.get(eio_target())
            sid = json.loads(response.body[1:])["sid"]
            assert response.header_values("set-cookie") == [
                f"lb={sid}; Max-Age=60; Path=/; HttpOnly; SameSite=Lax"
            ]
            assert response.header("x-initial") == "GET"
            assert response.header("x-every") == "GET"
            post = await eio_post(client, sid, "4hi")
            assert (post.header("x-every"), post.header("x-initial")) == ("POST", None)
            assert post.header("set-cookie") is None
            poll = await eio_poll(client, sid)
            assert poll.body == b"4hi"
            assert (poll.header("x-every"), poll.header("x-initial")) == ("GET", None)
            refused = await client.get(eio_target(sid="unknown"))
            assert refused.status == 400
            assert refused.header("x-every") is None  # as Node: successes only


async def test_headers_hooks_on_the_101_of_a_new_session_and_of_an_upgrade() -> None:
    server = _headers_server()
    EventRecorder(server)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            ws = await WsClient.connect(
                memory_connection(server), "localhost", eio_target(transport="websocket")
            )
            sid = json.loads(str(await ws.receive())[1:])["sid"]
            assert dict(ws.response_headers) == {
                b"set-cookie": f"lb={sid}; Max-Age=60; Path=/; HttpOnly; SameSite=Lax".encode(),
                b"x-initial": b"GET",
                b"x-every": b"GET",
            }
            await ws.aclose()
            sid, _ = await eio_handshake(HttpClient(memory_connection(server)))
            probe = await WsClient.connect(
                memory_connection(server), "localhost", eio_target(sid=sid, transport="websocket")
            )
            assert dict(probe.response_headers) == {b"x-every": b"GET"}
            await probe.aclose()


async def test_a_failing_or_invalid_headers_hook_loses_its_headers_not_the_answer() -> None:
    server = EngineServer()
    EventRecorder(server)

    @server.on("initial_headers")
    def injecting(headers: list[tuple[str, str]], request: Request) -> None:
        headers.append(("X-Fine", "1"))
        headers.append(("X-Evil", "a\r\nSet-Cookie: stolen=1"))

    @server.on("connection_error")
    def never(event: ConnectionErrorEvent) -> None:
        raise AssertionError("nothing is refused here")

    @server.on("headers")
    def failing(headers: list[tuple[str, str]], request: Request) -> None:
        raise RuntimeError("a bug in the hook")

    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            response = await HttpClient(memory_connection(server)).get(eio_target())
            assert response.status == 200 and response.body.startswith(b"0{")
            assert response.header("x-fine") is None
            assert response.header("set-cookie") is None


async def test_every_refusal_fires_connection_error_with_nodes_code_and_context() -> None:
    server = EngineServer(max_sessions=1, cors_origins=["https://good.example"])
    EventRecorder(server)
    events: list[ConnectionErrorEvent] = []
    server.on("connection_error")(events.append)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            client = HttpClient(memory_connection(server))
            await client.get("/engine.io/?EIO=4&transport=bogus")
            await client.get(eio_target(sid="nope"))
            await client.post(eio_target(), b"")
            await client.get(eio_target(eio="3"))
            await client.get(eio_target(), headers=[("Origin", "https://evil.example")])
            await eio_handshake(client)
            full = await client.get(eio_target())
            assert full.status == 503
    assert [(e.code, e.message, e.context) for e in events] == [
        (0, "Transport unknown", {"transport": "bogus"}),
        (1, "Session ID unknown", {"sid": "nope"}),
        (2, "Bad handshake method", {"method": "POST"}),
        (5, "Unsupported protocol version", {"protocol": 3}),
        (4, "Forbidden", {"name": "ORIGIN_NOT_ALLOWED", "origin": "https://evil.example"}),
        (3, "Bad request", {"name": "TOO_MANY_SESSIONS"}),
    ]
    assert all(isinstance(e.request, Request) for e in events)


async def test_allow_request_verdicts_and_failures() -> None:
    verdicts: dict[str, Any] = {}

    async def allow_request(request: Request) -> bool:
        verdict = verdicts[request.query["who"]]
        if isinstance(verdict, BaseException):
            raise verdict
        await trio.sleep(0)
        return bool(verdict)

    verdicts.update(
        yes=True, no=False, banned=RequestRefusedError("banned"), broken=RuntimeError("db down")
    )
    server = EngineServer(allow_request=allow_request)
    EventRecorder(server)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            client = HttpClient(memory_connection(server))
            answers = {}
            for who in ("yes", "no", "banned", "broken"):
                response = await client.get(eio_target(who=who))
                answers[who] = (response.status, response.body)
    assert answers["yes"][0] == 200
    assert answers["no"] == (403, b'{"code":4,"message":"Forbidden"}')
    assert answers["banned"] == (403, b'{"code":4,"message":"banned"}')
    assert answers["broken"] == (503, b'{"code":3,"message":"Service unavailable"}')


async def test_allow_request_is_bounded_and_a_waiting_one_blocks_no_other_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A check that never answers ends in 503 after ``hook_timeout``; meanwhile, and after
    its refusal, the sessions already open carry on."""
    stuck = trio.Event()

    async def allow_request(request: Request) -> bool:
        if request.query.get("who") == "stuck":
            await stuck.wait()
        return True

    server = EngineServer(allow_request=allow_request, hook_timeout=5.0)
    recorder = EventRecorder(server)
    async with running_server(server, in_memory=True):
        client = HttpClient(memory_connection(server))
        sid, _ = await eio_handshake(client)
        async with trio.open_nursery() as nursery:
            answers: list[int] = []

            async def stuck_handshake() -> None:
                waiting = HttpClient(memory_connection(server))
                answers.append((await waiting.get(eio_target(who="stuck"))).status)

            nursery.start_soon(stuck_handshake)
            await trio.testing.wait_all_tasks_blocked()
            assert (await eio_post(client, sid, "4during")).body == b"ok"
            assert answers == []
        assert answers == [503]
        assert (await eio_post(client, sid, "4after")).body == b"ok"
        assert await recorder.wait_messages(sid, 2) == ["during", "after"]
        assert not server.sessions[sid].closed


async def test_generate_id_sync_async_and_unusable_ones() -> None:
    ids = iter(["first", "first", "has/slash", "x" * 500])

    def generate_id(request: Request) -> Any:
        if request.query.get("mode") == "async":

            async def later() -> str:
                await trio.sleep(0)
                return "second"

            return later()
        if request.query.get("mode") == "raise":
            raise RuntimeError("no more ids")
        return next(ids)

    server = EngineServer(generate_id=generate_id)
    recorder = EventRecorder(server)
    events: list[ConnectionErrorEvent] = []
    server.on("connection_error")(events.append)
    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            client = HttpClient(memory_connection(server))
            assert (await eio_handshake(client))[0] == "first"
            statuses = []
            for _ in range(3):  # the duplicate "first", then two malformed ids
                statuses.append((await client.get(eio_target())).status)
            second = await client.get(eio_target(mode="async"))
            raised = await client.get(eio_target(mode="raise"))
            # The live "first" session is untouched by the duplicate.
            assert (await eio_post(client, "first", "4still mine")).body == b"ok"
            assert await recorder.wait_messages("first", 1) == ["still mine"]
    assert statuses == [400, 400, 400]
    assert json.loads(second.body[1:])["sid"] == "second"
    assert raised.status == 400
    assert raised.body == b'{"code":3,"message":"Bad request"}'
    assert [e.context["name"] for e in events] == ["ID_GENERATION_ERROR"] * 4
    assert events[0].context["error"].startswith("duplicate")


def _tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


async def test_serve_listeners_takes_ssl_listeners_and_the_request_knows_its_peer() -> None:
    """The bug: ``serve_listeners([trio.SSLListener(...)])`` raised AttributeError."""
    server_context, client_context = _tls_pair()
    server = EngineServer()
    requests: list[Request] = []

    @server.on("connect")
    async def connect(sock: EngineSocket) -> None:
        requests.append(sock.request)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            tcp = await trio.open_tcp_listeners(0, host="127.0.0.1")
            listeners = [trio.SSLListener(listener, server_context) for listener in tcp]
            port = await nursery.start(server.serve_listeners, listeners)
            assert port == tcp[0].socket.getsockname()[1]
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", port, ssl_context=client_context
            )
            local = stream.transport_stream.socket.getsockname()
            await eio_handshake(HttpClient(stream))
            plain = await trio.open_tcp_listeners(0, host="127.0.0.1")
            other = EngineServer()
            other.on("connect")(connect)
            plain_port = await nursery.start(other.serve_listeners, plain)
            await eio_handshake(await HttpClient.open(plain_port))
            server.shutdown()
            other.shutdown()
    assert requests[0].peer == (local[0], local[1])
    assert [r.secure for r in requests] == [True, False]


async def test_serve_with_ssl_context_serves_https_and_wss() -> None:
    server_context, client_context = _tls_pair()
    server = EngineServer()
    recorder = EventRecorder(server, echo=True)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                lambda task_status: server.serve(
                    "127.0.0.1", 0, ssl_context=server_context, task_status=task_status
                )
            )
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", port, ssl_context=client_context
            )
            ws = await WsClient.connect(stream, "localhost", eio_target(transport="websocket"))
            sid = json.loads(str(await ws.receive())[1:])["sid"]
            await ws.send("4over wss")
            assert await ws.receive() == "4over wss"
            assert await recorder.wait_messages(sid, 1) == ["over wss"]
            await ws.aclose()
            server.shutdown()


async def test_a_non_ascii_header_from_a_hook_is_dropped_on_polling_and_websocket() -> None:
    server = EngineServer()
    EventRecorder(server)

    @server.on("headers")
    def accented(headers: list[tuple[str, str]], request: Request) -> None:
        headers.append(("X-Name", "café"))

    with trio.fail_after(10):
        async with running_server(server, in_memory=True):
            response = await HttpClient(memory_connection(server)).get(eio_target())
            assert response.status == 200 and response.header("x-name") is None
            ws = await WsClient.connect(
                memory_connection(server), "localhost", eio_target(transport="websocket")
            )
            assert ws.response_headers == []
            await ws.aclose()


async def test_a_tls_handshake_that_never_comes_is_bounded_by_head_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The TLS handshake happens inside the first read of the request head, so a client that
    opens a connection and says nothing (or says garbage) costs one connection for
    ``head_timeout`` at most, and never a crash."""
    server_context, _ = _tls_pair()
    server = EngineServer(head_timeout=10.0)
    async with running_server(server, in_memory=True):
        silent, silent_end = trio.testing.memory_stream_pair()
        garbage, garbage_end = trio.testing.memory_stream_pair()
        for end in (silent_end, garbage_end):
            tls = trio.SSLStream(end, server_context, server_side=True, https_compatible=True)
            server.spawn(server.handle_connection, tls)
        await garbage.send_all(b"GET / HTTP/1.1\r\n\r\n")  # plain HTTP to a TLS port
        with trio.fail_after(10.0 + 1e-3):  # virtual time: the bound itself
            await _read_until_eof(garbage)
            assert await _read_until_eof(silent) == b""
        await trio.testing.wait_all_tasks_blocked()
        assert server.connections == 0


async def _read_until_eof(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while chunk := await stream.receive_some():
        data += chunk
    return data
