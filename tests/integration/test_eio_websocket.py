"""Engine.IO sessions opened directly on a WebSocket, against a real server on 127.0.0.1.

Covers the WebSocket expectations of the official Engine.IO v4 test suite (handshake,
messages, heartbeat, close), then the frame layer seen from outside (ping frames, size
limit, protocol violations written with ``send_raw``), Origin and cookie on the upgrade
request, graceful shutdown (close 1001) and the reason each disconnect reports.

The client is wsproto (:class:`minisock.testing.WsClient`), an implementation independent of
the server's own frame code. Every test runs under an absolute ``trio.fail_after``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from minisock import EngineServer
from minisock.proto import ws
from minisock.testing import (
    EventRecorder,
    WsClient,
    WsRejected,
    eio_target,
    running_server,
)

LIMIT = 5.0
OPEN_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
WS_TARGET = eio_target(transport="websocket")
MASK = b"\x0f\x1e\x2d\x3c"


def engine(**options: Any) -> tuple[EngineServer, EventRecorder]:
    """A server whose application echoes every message, and the recorder doing it."""
    server = EngineServer(**options)
    return server, EventRecorder(server, echo=True)


async def open_session(port: int, headers: list[tuple[str, str]] | None = None) -> WsClient:
    """Connect and read the open packet (which the tests check where it matters)."""
    client = await WsClient.open(port, WS_TARGET, headers or [])
    opened = await client.receive()
    assert isinstance(opened, str)
    assert opened.startswith("0")
    return client


def open_payload(packet: str | bytes) -> dict[str, Any]:
    assert isinstance(packet, str)
    assert packet.startswith("0")
    value: dict[str, Any] = json.loads(packet[1:])
    return value


def rejection_code(rejected: WsRejected) -> int:
    return int(json.loads(rejected.body)["code"])


def only_sid(events: EventRecorder) -> str:
    (sid,) = events.connected
    return sid


# ---------------------------------------------------------------- handshake (official suite)


async def test_handshake_opens_a_session() -> None:
    server, events = engine(ping_interval=0.3, ping_timeout=0.2)
    with trio.fail_after(LIMIT):
        async with (
            running_server(server) as port,
            await WsClient.open(port, "/engine.io/?EIO=4&transport=websocket") as client,
        ):
            value = open_payload(await client.receive())
            assert set(value) == OPEN_KEYS
            assert isinstance(value["sid"], str)
            assert value["upgrades"] == []
            assert value["pingInterval"] == 300
            assert value["pingTimeout"] == 200
            assert value["maxPayload"] == 1_000_000
            assert server.sessions[value["sid"]].transport == "websocket"
            assert events.connected == [value["sid"]]
            await client.close()


@pytest.mark.parametrize("eio", [None, "abc", "3"])
async def test_missing_or_invalid_eio_is_refused(eio: str | None) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            with pytest.raises(WsRejected) as info:
                await WsClient.open(port, eio_target(transport="websocket", eio=eio))
            assert info.value.status == 400
            assert rejection_code(info.value) == 5
            assert server.sessions == {}


@pytest.mark.parametrize("target", ["/engine.io/?EIO=4", "/engine.io/?EIO=4&transport=abc"])
async def test_missing_or_unknown_transport_is_refused(target: str) -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            with pytest.raises(WsRejected) as info:
                await WsClient.open(port, target)
            assert info.value.status == 400
            assert rejection_code(info.value) == 0
            assert server.sessions == {}


async def test_unknown_sid_is_refused() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            with pytest.raises(WsRejected) as info:
                await WsClient.open(port, eio_target(transport="websocket", sid="nope"))
            assert info.value.status == 400
            assert rejection_code(info.value) == 1


# ---------------------------------------------------------------- messages (official suite)


async def test_text_packet_is_echoed() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_text("4hello")
            assert await client.receive() == "4hello"
            assert events.messages_of(only_sid(events)) == ["hello"]
            await client.close()


async def test_binary_packet_is_echoed() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_bytes(bytes([1, 2, 3, 4]))
            assert await client.receive() == bytes([1, 2, 3, 4])
            assert events.messages_of(only_sid(events)) == [b"\x01\x02\x03\x04"]
            await client.close()


async def test_messages_keep_their_order() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            sent: list[str | bytes] = [f"4m{i}" if i % 3 else bytes([i]) for i in range(50)]
            for message in sent:
                await client.send(message)
            assert [await client.receive() for _ in sent] == sent
            await client.close()


async def test_invalid_packet_closes_the_session() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_text("abc")
            closed = await client.wait_closed()
            assert closed.code == 1002
            sid = only_sid(events)
            assert await events.wait_disconnect(sid) == "parse error"
            assert sid not in server.sessions
    assert events.disconnect_log == [(sid, "parse error")]


# ---------------------------------------------------------------- heartbeat (official suite)


async def test_ping_pong_three_rounds() -> None:
    server, events = engine(ping_interval=0.2, ping_timeout=0.2)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            for _ in range(3):
                assert await client.receive() == "2"
                await client.send_text("3")
            sid = only_sid(events)
            assert server.sessions[sid].state.is_open
            assert events.disconnects == {}
            await client.close()


async def test_ping_timeout_closes_the_websocket() -> None:
    server, events = engine(ping_interval=0.2, ping_timeout=0.1)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            started = trio.current_time()  # the session is created after this
            async with await open_session(port) as client:
                assert await client.receive() == "2"
                closed = await client.wait_closed()
                assert closed.code != 1006  # a Close frame, not a dropped connection
                sid = only_sid(events)
                assert await events.wait_disconnect(sid) == "ping timeout"
                assert events.disconnect_times[sid] - started >= 0.3 - 1e-9
    assert events.disconnect_log == [(sid, "ping timeout")]


# ---------------------------------------------------------------- close


async def test_close_packet_from_the_client_closes_the_websocket() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_text("1")
            closed = await client.wait_closed()
            assert closed.code == 1000
            sid = only_sid(events)
            assert await events.wait_disconnect(sid) == "transport close"
            assert sid not in server.sessions
    assert events.disconnect_log == [(sid, "transport close")]


async def test_close_frame_from_the_client_is_transport_close() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            answer = await client.close(1000)
            assert answer.code == 1000  # the server echoes our code
            assert await events.wait_disconnect(only_sid(events)) == "transport close"
    assert events.disconnect_log == [(only_sid(events), "transport close")]


async def test_dropped_connection_is_transport_close() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            client = await open_session(port)
            await client.aclose()
            assert await events.wait_disconnect(only_sid(events)) == "transport close"
            assert server.sessions == {}
    assert events.disconnect_log == [(only_sid(events), "transport close")]


async def test_server_close_sends_queued_messages_then_closes() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            sock = server.sessions[only_sid(events)]
            sock.send_nowait("first")
            sock.send_nowait(b"\x01\x02")
            sock.close()
            assert await client.receive() == "4first"
            assert await client.receive() == b"\x01\x02"
            closed = await client.wait_closed()
            assert closed.code == 1000
            assert await events.wait_disconnect(sock.eio_sid) == "forced close"
    assert events.disconnect_log == [(only_sid(events), "forced close")]


async def test_shutdown_closes_the_websocket_with_going_away() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            server.shutdown()
            closed = await client.wait_closed()
            assert closed.code == 1001
            assert await events.wait_disconnect(only_sid(events)) == "server shutting down"
    assert events.disconnect_log == [(only_sid(events), "server shutting down")]


# ---------------------------------------------------------------- frames


async def test_ping_frame_gets_a_pong_with_the_same_payload() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.ping(b"are you there")
            assert await client.receive_pong() == b"are you there"
            await client.send_text("4still open")
            assert await client.receive() == "4still open"
            await client.close()


@pytest.mark.parametrize("message", ["4" + "x" * 100, b"\x00" * 100], ids=["text", "binary"])
async def test_message_over_max_payload_closes_with_1009(message: str | bytes) -> None:
    server, events = engine(max_payload=64)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send(message)
            closed = await client.wait_closed()
            assert closed.code == 1009
            sid = only_sid(events)
            await events.wait_disconnect(sid)
            assert events.messages == []


async def test_message_of_exactly_max_payload_is_accepted() -> None:
    server, _ = engine(max_payload=64)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_text("4" + "x" * 63)
            assert await client.receive() == "4" + "x" * 63
            await client.close()


async def test_unmasked_frame_is_a_protocol_error() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_raw(ws.encode_text("4hello"))  # a server frame: no mask
            closed = await client.wait_closed()
            assert closed.code == 1002
            await events.wait_disconnect(only_sid(events))
            assert events.messages == []


async def test_invalid_utf8_text_frame_closes_with_1007() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_raw(ws.encode_client_frame(ws.Opcode.TEXT, b"4caf\xe9", MASK))
            closed = await client.wait_closed()
            assert closed.code == 1007
            await events.wait_disconnect(only_sid(events))
            assert events.messages == []


async def test_fragmented_message_is_reassembled() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await open_session(port) as client:
            await client.send_raw(
                ws.encode_client_frame(ws.Opcode.TEXT, b"4hel", MASK, fin=False)
                + ws.encode_client_frame(ws.Opcode.CONTINUATION, b"lo", MASK)
            )
            assert await client.receive() == "4hello"
            await client.close()


# ---------------------------------------------------------------- Origin and cookie


async def test_foreign_origin_is_forbidden() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            with pytest.raises(WsRejected) as info:
                await WsClient.open(port, WS_TARGET, [("Origin", "https://evil.example")])
            assert info.value.status == 403
            assert rejection_code(info.value) == 4
            assert server.sessions == {}


async def test_same_origin_and_allowlisted_origin_are_allowed() -> None:
    app = "https://app.example"
    server, events = engine(cors_origins=[app])
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            for origin in (f"http://127.0.0.1:{port}", app):
                async with await open_session(port, [("Origin", origin)]) as client:
                    await client.send_text("4hi")
                    assert await client.receive() == "4hi"
                    await client.close()
            assert len(events.connected) == 2


async def test_cookie_option_sets_the_cookie_on_the_101() -> None:
    server, _ = engine(cookie="io")
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await WsClient.open(port, WS_TARGET) as client:
            sid = open_payload(await client.receive())["sid"]
            cookies = [v for k, v in client.response_headers if k.lower() == b"set-cookie"]
            assert cookies == [f"io={sid}; Path=/; HttpOnly; SameSite=Lax".encode()]
            await client.close()


async def test_no_cookie_by_default() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await WsClient.open(port, WS_TARGET) as client:
            names = {name.lower() for name, _ in client.response_headers}
            assert b"set-cookie" not in names
            await client.close()
