"""Engine.IO over HTTP long-polling, against a real server on 127.0.0.1 (port 0).

Covers every long-polling expectation of the official Engine.IO v4 test suite (handshake,
message, heartbeat, close), then the rules the suite leaves out: error codes, payload
limits, CORS and Origin, the session cookie, sid entropy, graceful shutdown and the reason
each disconnect reports. Every test runs under an absolute ``trio.fail_after``; the only
real waits are the heartbeat tests' few hundred milliseconds.

Concurrent requests (a held GET plus a POST) need two connections, as a browser uses;
:func:`held_poll` starts a GET in the background and returns once the server holds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import trio

from minisock import EngineServer, EngineSocket
from minisock.testing import (
    EventRecorder,
    HttpClient,
    HttpResponse,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    running_server,
)

LIMIT = 5.0
OPEN_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


def engine(**options: Any) -> tuple[EngineServer, EventRecorder]:
    """A server whose application echoes every message, and the recorder doing it."""
    server = EngineServer(**options)
    return server, EventRecorder(server, echo=True)


def open_payload(response: HttpResponse) -> dict[str, Any]:
    assert response.status == 200
    assert response.text.startswith("0")
    value: dict[str, Any] = json.loads(response.text[1:])
    return value


def error_code(response: HttpResponse) -> int:
    """The Engine.IO error code of a refusal, checking the JSON shape on the way."""
    assert response.header("content-type") == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["message"], str)
    return int(body["code"])


async def wait_until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await trio.sleep(0.001)


async def held_poll(
    nursery: trio.Nursery, server: EngineServer, port: int, sid: str, answers: list[HttpResponse]
) -> None:
    """Start a GET on its own connection; return once the server holds it."""

    async def run() -> None:
        async with await HttpClient.open(port) as client:
            answers.append(await eio_poll(client, sid))

    nursery.start_soon(run)
    await wait_until(lambda: server.sessions[sid].state.poll_pending)


# ---------------------------------------------------------------- handshake (official suite)


async def test_handshake_opens_a_session() -> None:
    server, events = engine(ping_interval=0.3, ping_timeout=0.2)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get("/engine.io/?EIO=4&transport=polling")
            assert response.status == 200
            assert response.header("content-type") == "text/plain; charset=UTF-8"
            value = open_payload(response)
            assert set(value) == OPEN_KEYS
            assert isinstance(value["sid"], str)
            assert value["upgrades"] == ["websocket"]
            assert value["pingInterval"] == 300
            assert value["pingTimeout"] == 200
            assert value["maxPayload"] == 1_000_000
            assert server.sessions[value["sid"]].transport == "polling"
            await wait_until(lambda: bool(events.connected))
            assert events.connected == [value["sid"]]


@pytest.mark.parametrize("eio", [None, "abc"])
async def test_missing_or_invalid_eio_is_refused(eio: str | None) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(eio_target(eio=eio))
            assert response.status == 400
            assert error_code(response) == 5
            assert server.sessions == {}


@pytest.mark.parametrize("target", ["/engine.io/?EIO=4", "/engine.io/?EIO=4&transport=abc"])
async def test_missing_or_unknown_transport_is_refused(target: str) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(target)
            assert response.status == 400
            assert error_code(response) == 0
            assert server.sessions == {}


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_handshake_with_another_method_is_refused(method: str) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.request(method, eio_target())
            assert response.status == 400
            assert error_code(response) == 2
            assert server.sessions == {}


# ---------------------------------------------------------------- handshake (beyond the suite)


async def test_eio_3_is_refused_as_an_unsupported_protocol_version() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(eio_target(eio="3"))
            assert response.status == 400
            assert error_code(response) == 5
            assert "Unsupported protocol version" in response.json()["message"]


async def test_open_packet_follows_the_configuration() -> None:
    server, _ = engine(ping_interval=1.5, ping_timeout=0.75, max_payload=12345)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            _, value = await eio_handshake(client)
            assert value["pingInterval"] == 1500
            assert value["pingTimeout"] == 750
            assert value["maxPayload"] == 12345
            assert value["upgrades"] == ["websocket"]


async def test_open_packet_offers_no_upgrade_without_the_websocket_transport() -> None:
    server, _ = engine(transports=("polling",))
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            _, value = await eio_handshake(client)
            assert value["upgrades"] == []


async def test_sids_are_long_random_and_unique() -> None:
    # 128 random bits in base64url: at least 20 characters of 6 bits each carry >= 120 bits.
    server, _ = engine()
    sids: set[str] = set()
    with trio.fail_after(20):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            for _ in range(1000):
                sid, _value = await eio_handshake(client)
                assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", sid), sid
                sids.add(sid)
    assert len(sids) == 1000


async def test_path_without_trailing_slash_works() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client, "/engine.io")
            assert (await eio_post(client, sid, "4hi", "/engine.io")).body == b"ok"
            assert (await eio_poll(client, sid, "/engine.io")).body == b"4hi"


@pytest.mark.parametrize(
    "path", ["/", "/socket.io/", "/engine.io/extra", "/engine.iox/", "/ENGINE.IO/"]
)
async def test_other_paths_are_not_found(path: str) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(f"{path}?EIO=4&transport=polling")
            assert response.status == 404
            assert server.sessions == {}


async def test_unknown_sid_is_refused() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await eio_poll(client, "no-such-session")
            assert response.status == 400
            assert error_code(response) == 1
            response = await eio_post(client, "no-such-session", "4hello")
            assert response.status == 400
            assert error_code(response) == 1
            assert events.messages == []


async def test_post_without_sid_is_a_bad_handshake_method() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.post(eio_target(), "4hello")
            assert response.status == 400
            assert error_code(response) == 2
            assert server.sessions == {}
            assert events.messages == []


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
async def test_other_methods_on_a_session_are_client_errors(method: str) -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await client.request(method, eio_target(sid=sid), body=b"4x")
            assert 400 <= response.status < 500
            assert events.messages == []


@pytest.mark.parametrize("with_sid", [False, True])
async def test_options_without_cors_is_a_client_error(with_sid: bool) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            target = eio_target(sid=sid) if with_sid else eio_target()
            for origin in (None, f"http://127.0.0.1:{port}", "https://elsewhere.example"):
                headers = [("Access-Control-Request-Method", "POST")]
                if origin is not None:
                    headers.append(("Origin", origin))
                response = await client.request("OPTIONS", target, headers=headers)
                assert 400 <= response.status < 500, origin
                assert response.header("access-control-allow-origin") is None


# ---------------------------------------------------------------- messages (official suite)


@pytest.mark.parametrize(
    "payload",
    ["4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA=="],
    ids=["one-text-packet", "several-text-packets", "text-and-binary-packets"],
)
async def test_payload_is_echoed(payload: str) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            pushed = await eio_post(client, sid, payload)
            assert pushed.status == 200
            assert pushed.body == b"ok"
            polled = await eio_poll(client, sid)
            assert polled.status == 200
            assert polled.body == payload.encode()


async def test_application_receives_text_as_str_and_binary_as_bytes() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            await eio_post(client, sid, "4hello\x1ebAQIDBA==\x1e4\x1e4é ✓")
            assert events.messages_of(sid) == ["hello", b"\x01\x02\x03\x04", "", "é ✓"]


async def test_invalid_packet_closes_the_session() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await eio_post(client, sid, "abc")
            assert response.status == 400
            response = await eio_poll(client, sid)
            assert response.status == 400
            assert error_code(response) == 1
            assert await events.wait_disconnect(sid) == "parse error"
    assert events.disconnect_log == [(sid, "parse error")]


async def test_packets_before_an_invalid_one_are_delivered() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await eio_post(client, sid, "4first\x1e4second\x1ezzz\x1e4never")
            assert response.status == 400
            assert events.messages_of(sid) == ["first", "second"]
            assert await events.wait_disconnect(sid) == "parse error"
    assert events.disconnect_log == [(sid, "parse error")]


async def test_duplicate_get_closes_the_session() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            first: list[HttpResponse] = []
            async with trio.open_nursery() as nursery:
                await held_poll(nursery, server, port, sid, first)
                second = await eio_poll(client, sid)
                assert second.status == 400
            assert first[0].status == 200
            assert first[0].body == b"1"
            response = await eio_poll(client, sid)
            assert response.status == 400
            assert error_code(response) == 1
            assert await events.wait_disconnect(sid) == "transport error"
    assert events.disconnect_log == [(sid, "transport error")]


async def test_abandoning_a_held_get_closes_the_session() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            client = await HttpClient.open(port)
            await client.send_head("GET", eio_target(sid=sid))
            await client.send_body(b"")
            await wait_until(lambda: server.sessions[sid].state.poll_pending)
            await client.aclose()
            assert await events.wait_disconnect(sid) == "transport error"
            assert sid not in server.sessions
    assert events.disconnect_log == [(sid, "transport error")]


# ---------------------------------------------------------------- bodies the server refuses


async def test_octet_stream_post_is_refused() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await client.post(
                eio_target(sid=sid),
                b"\x04\x01\x02",
                headers=[("Content-Type", "application/octet-stream")],
            )
            assert response.status == 400
            assert events.messages == []


async def test_invalid_utf8_post_is_refused() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await eio_post(client, sid, b"4caf\xe9")
            assert response.status == 400
            assert events.messages == []


async def test_post_over_max_payload_is_refused_and_the_session_survives() -> None:
    server, events = engine(max_payload=64)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                response = await eio_post(client, sid, "4" + "x" * 64)
                assert response.status == 413
            # Without a declared length: a chunked body is cut off once it passes the limit.
            async with await HttpClient.open(port) as client:
                await client.send_head(
                    "POST", eio_target(sid=sid), headers=[("Transfer-Encoding", "chunked")]
                )
                await client.send_body(b"4" + b"y" * 100)
                response = await client.read_response()
                assert response.status == 413
            async with await HttpClient.open(port) as client:
                exactly = "4" + "z" * 63
                assert (await eio_post(client, sid, exactly)).body == b"ok"
                assert (await eio_poll(client, sid)).body == exactly.encode()
            assert events.messages_of(sid) == ["z" * 63]
            assert server.sessions[sid].state.is_open
            assert events.disconnects == {}


async def test_declared_length_over_max_payload_is_refused_before_the_body_is_sent() -> None:
    server, events = engine(max_payload=64)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            async with await HttpClient.open(port) as client:
                # Only the head goes out; the answer must come without waiting for a body.
                await client.send_head("POST", eio_target(sid=sid), body_length=10_000_000)
                response = await client.read_response()
                assert response.status == 413
            assert server.sessions[sid].state.is_open
            async with await HttpClient.open(port) as client:
                assert (await eio_post(client, sid, "4after")).body == b"ok"
                assert (await eio_poll(client, sid)).body == b"4after"
            assert events.disconnects == {}


# ---------------------------------------------------------------- heartbeat (official suite)


async def test_ping_pong_three_rounds() -> None:
    server, events = engine(ping_interval=0.2, ping_timeout=0.2)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            for _ in range(3):
                polled = await eio_poll(client, sid)
                assert polled.status == 200
                assert polled.body == b"2"
                pushed = await eio_post(client, sid, "3")
                assert pushed.status == 200
            assert server.sessions[sid].state.is_open
            assert events.disconnects == {}


async def test_ping_timeout_closes_the_session() -> None:
    server, events = engine(ping_interval=0.2, ping_timeout=0.1)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            started = trio.current_time()  # the session is created after this
            sid, _ = await eio_handshake(client)
            assert await events.wait_disconnect(sid) == "ping timeout"
            assert events.disconnect_times[sid] - started >= 0.3 - 1e-9
            response = await eio_poll(client, sid)
            assert response.status == 400
            assert error_code(response) == 1
    assert events.disconnect_log == [(sid, "ping timeout")]


# ---------------------------------------------------------------- close


async def test_client_close_releases_the_pending_get_with_noop() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            held: list[HttpResponse] = []
            async with trio.open_nursery() as nursery:
                await held_poll(nursery, server, port, sid, held)
                pushed = await eio_post(client, sid, "1")
                assert pushed.status == 200
            assert held[0].status == 200
            assert held[0].body == b"6"
            response = await eio_poll(client, sid)
            assert response.status == 400
            assert error_code(response) == 1
            assert await events.wait_disconnect(sid) == "transport close"
    assert events.disconnect_log == [(sid, "transport close")]


async def test_server_close_sends_queued_messages_then_close_to_the_next_get() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            sock = server.sessions[sid]
            await sock.send("first")
            await sock.send(b"\x01\x02")
            sock.close()
            assert await events.wait_disconnect(sid) == "forced close"
            polled = await eio_poll(client, sid)
            assert polled.status == 200
            assert polled.body == b"4first\x1ebAQI=\x1e1"
            response = await eio_poll(client, sid)
            assert response.status == 400
            assert error_code(response) == 1
    assert events.disconnect_log == [(sid, "forced close")]


@pytest.mark.parametrize(
    ("sent", "answers"),
    [
        (None, [b"1"]),
        # As in Node: the waiting GET takes the first packet sent; what follows (here the
        # close) waits for the next GET (engine.io 6.6 answers that one ``6\x1e1``).
        ("bye", [b"4bye", b"1"]),
    ],
)
async def test_server_close_answers_the_pending_get(sent: str | None, answers: list[bytes]) -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
                held: list[HttpResponse] = []
                async with trio.open_nursery() as nursery:
                    await held_poll(nursery, server, port, sid, held)
                    sock = server.sessions[sid]
                    if sent is not None:
                        sock.send_nowait(sent)
                    sock.close()
                assert held[0].body == answers[0]
                for answer in answers[1:]:
                    assert (await eio_poll(client, sid)).body == answer
                assert sid not in server.sessions
                assert (await eio_poll(client, sid)).status == 400
            assert await events.wait_disconnect(sid) == "forced close"
    assert events.disconnect_log == [(sid, "forced close")]


async def test_a_post_during_which_the_application_closes_is_answered_ok() -> None:
    """As engine.io 6.6 does (checked with a Node script): ``4a␞4bye␞4c`` where "bye" closes
    the session is answered ``ok``; "c" is dropped; the client learns of the close from its
    GET, not as a failed POST (a transport error)."""
    server = EngineServer()
    seen: list[str | bytes] = []

    @server.on("message")
    async def message(sock: EngineSocket, data: str | bytes) -> None:
        seen.append(data)
        if data == "bye":
            sock.close()

    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await eio_post(client, sid, "4a\x1e4bye\x1e4c")
            assert (response.status, response.body) == (200, b"ok")
            assert seen == ["a", "bye"]
            assert (await eio_poll(client, sid)).body == b"1"


async def test_shutdown_answers_the_pending_get_with_close() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            held: list[HttpResponse] = []
            async with trio.open_nursery() as nursery:
                await held_poll(nursery, server, port, sid, held)
                server.shutdown()
            assert held[0].status == 200
            assert held[0].body == b"1"
            assert await events.wait_disconnect(sid) == "server shutting down"
    assert events.disconnect_log == [(sid, "server shutting down")]


# ---------------------------------------------------------------- Origin and CORS


async def test_foreign_origin_is_forbidden() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            evil = [("Origin", "https://evil.example")]
            response = await client.get(eio_target(), headers=evil)
            assert response.status == 403
            assert error_code(response) == 4
            assert server.sessions == {}
            # Requests on an existing session are checked too.
            sid, _ = await eio_handshake(client)
            response = await client.post(eio_target(sid=sid), "4stolen", headers=evil)
            assert response.status == 403
            assert events.messages == []
            # Same host, other port: a different origin.
            other_port = [("Origin", f"http://127.0.0.1:{port + 1}")]
            assert (await client.get(eio_target(), headers=other_port)).status == 403


async def test_same_origin_and_no_origin_are_allowed_without_cors_headers() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            for headers in ([], [("Origin", f"http://127.0.0.1:{port}")]):
                response = await client.get(eio_target(), headers=headers)
                assert response.status == 200
                assert open_payload(response)["upgrades"] == ["websocket"]
                names = {name for name, _ in response.headers}
                assert not any(name.startswith(b"access-control-") for name in names)


async def test_allowlisted_origin_gets_cors_headers() -> None:
    app = "https://app.example"
    server, _ = engine(cors_origins=[app])
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            origin = [("Origin", app)]
            response = await client.get(eio_target(), headers=origin)
            assert response.status == 200
            assert response.header("access-control-allow-origin") == app
            assert response.header("vary") == "Origin"
            assert response.header("access-control-allow-credentials") is None
            sid = open_payload(response)["sid"]
            response = await client.post(eio_target(sid=sid), "4hi", headers=origin)
            assert response.header("access-control-allow-origin") == app
            response = await client.get(eio_target(sid=sid), headers=origin)
            assert response.body == b"4hi"
            assert response.header("access-control-allow-origin") == app
            # Refusals carry the headers too, so the page can read why.
            response = await client.get(eio_target(sid="unknown"), headers=origin)
            assert response.status == 400
            assert response.header("access-control-allow-origin") == app
            # Another origin is still refused, without CORS headers.
            other = [("Origin", "https://other.example")]
            response = await client.get(eio_target(), headers=other)
            assert response.status == 403
            assert response.header("access-control-allow-origin") is None


async def test_cors_credentials_when_configured() -> None:
    app = "https://app.example"
    server, _ = engine(cors_origins=[app], cors_credentials=True)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(eio_target(), headers=[("Origin", app)])
            assert response.header("access-control-allow-origin") == app
            assert response.header("access-control-allow-credentials") == "true"


async def test_preflight_for_an_allowlisted_origin() -> None:
    app = "https://app.example"
    server, _ = engine(cors_origins=[app], cors_credentials=True)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            response = await client.request(
                "OPTIONS",
                eio_target(sid=sid),
                headers=[
                    ("Origin", app),
                    ("Access-Control-Request-Method", "POST"),
                    ("Access-Control-Request-Headers", "content-type"),
                ],
            )
            assert response.status == 204
            assert response.body == b""
            assert response.header("access-control-allow-origin") == app
            assert response.header("access-control-allow-credentials") == "true"
            methods = response.header("access-control-allow-methods") or ""
            assert {"GET", "POST"} <= {m.strip() for m in methods.split(",")}
            assert response.header("access-control-allow-headers") == "content-type"
            # The preflight did not disturb the session.
            assert (await eio_post(client, sid, "4after")).body == b"ok"
            # The handshake itself may be preflighted too.
            response = await client.request(
                "OPTIONS",
                eio_target(),
                headers=[("Origin", app), ("Access-Control-Request-Method", "GET")],
            )
            assert response.status == 204
            assert response.header("access-control-allow-origin") == app
            assert response.header("access-control-allow-headers") is None
            assert list(server.sessions) == [sid]


# ---------------------------------------------------------------- cookie


async def test_cookie_option_sets_the_session_cookie() -> None:
    server, _ = engine(cookie="io")
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(eio_target())
            sid = open_payload(response)["sid"]
            assert response.header_values("set-cookie") == [
                f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
            ]
            # Only the handshake sets it.
            assert (await eio_post(client, sid, "4x")).header("set-cookie") is None


async def test_no_cookie_by_default() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            response = await client.get(eio_target())
            assert response.status == 200
            assert response.header("set-cookie") is None
