"""Upgrading a long-polling session to a WebSocket, against a real server on 127.0.0.1.

Covers the upgrade expectations of the official Engine.IO v4 test suite (probe, noop,
``5``, polling refused afterwards, a second WebSocket closed), then what the suite leaves
out: ``5`` without a probe, aborted upgrades, a transport mismatch that leaves the session
open, Origin on the upgrade request, and an upgrade in the middle of traffic flowing both
ways, where every message is numbered so a loss or a swap shows.

Where the suite relies on timing (a GET sent "after" ``5``), these tests wait for the
server's state instead, so they cannot race.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import trio

from minisock import EngineServer
from minisock.testing import (
    EventRecorder,
    HttpClient,
    HttpResponse,
    WsClient,
    WsRejected,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    running_server,
)

LIMIT = 5.0


def engine(**options: Any) -> tuple[EngineServer, EventRecorder]:
    """A server whose application echoes every message, and the recorder doing it."""
    server = EngineServer(**options)
    return server, EventRecorder(server, echo=True)


async def wait_until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await trio.sleep(0.001)


def error_code(response: HttpResponse) -> int:
    assert response.header("content-type") == "application/json"
    return int(response.json()["code"])


async def open_probe(port: int, sid: str) -> WsClient:
    """The WebSocket that upgrades session ``sid``."""
    return await WsClient.open(port, eio_target(sid=sid, transport="websocket"))


async def upgrade(port: int, server: EngineServer, sid: str) -> WsClient:
    """Probe, then complete; returns once the server has switched the session."""
    ws = await open_probe(port, sid)
    await ws.send_text("2probe")
    assert await ws.receive() == "3probe"
    await ws.send_text("5")
    await wait_until(lambda: server.sessions[sid].transport == "websocket")
    return ws


# ---------------------------------------------------------------- official suite


async def test_upgrade_from_polling_to_websocket() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await open_probe(port, sid) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                polled = await eio_poll(client, sid)
                assert polled.status == 200
                assert polled.body == b"6"
                await ws.send_text("5")
                await ws.send_text("4hello")
                assert await ws.receive() == "4hello"
                assert server.sessions[sid].transport == "websocket"
                assert events.messages_of(sid) == ["hello"]
                assert events.connected == [sid]  # the upgrade is no new connection
                await ws.close()
            assert await events.wait_disconnect(sid) == "transport close"
    assert events.disconnect_log == [(sid, "transport close")]


async def test_polling_get_after_upgrade_is_refused() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await upgrade(port, server, sid) as ws:
                response = await eio_poll(client, sid)
                assert response.status == 400
                assert error_code(response) == 3
                await ws.send_text("4hello")
                assert await ws.receive() == "4hello"
                assert events.disconnects == {}
                await ws.close()


async def test_second_websocket_after_upgrade_is_closed_and_the_first_goes_on() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await upgrade(port, server, sid) as ws:
                async with await open_probe(port, sid) as second:
                    closed = await second.wait_closed()
                    assert closed.code == 1008
                await ws.send_text("4hello")
                assert await ws.receive() == "4hello"
                assert events.disconnects == {}
                await ws.close()


# ---------------------------------------------------------------- beyond the suite


async def test_a_held_get_is_released_with_noop_by_the_probe() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            held: list[HttpResponse] = []
            async with trio.open_nursery() as nursery:

                async def poll() -> None:
                    async with await HttpClient.open(port) as poller:
                        held.append(await eio_poll(poller, sid))

                nursery.start_soon(poll)
                await wait_until(lambda: server.sessions[sid].state.poll_pending)
                ws = await open_probe(port, sid)
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
            assert held[0].status == 200
            assert held[0].body == b"6"
            await ws.close()


async def test_polling_post_after_upgrade_is_a_mismatch_and_the_session_stays_open() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await upgrade(port, server, sid) as ws:
                response = await eio_post(client, sid, "4over polling")
                assert response.status == 400
                assert error_code(response) == 3
                assert server.sessions[sid].state.is_open
                await ws.send_text("4over ws")
                assert await ws.receive() == "4over ws"
                assert events.messages_of(sid) == ["over ws"]
                assert events.disconnects == {}
                await ws.close()


async def test_upgrade_packet_without_a_probe_completes_the_upgrade() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await open_probe(port, sid) as ws:
                await ws.send_text("5")
                await ws.send_text("4direct")
                assert await ws.receive() == "4direct"
                assert server.sessions[sid].transport == "websocket"
                await ws.close()


async def test_messages_queued_before_the_upgrade_arrive_on_the_websocket() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            sock = server.sessions[sid]
            async with await open_probe(port, sid) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                await sock.send("queued 1")
                await sock.send(b"queued 2")
                await ws.send_text("5")
                assert await ws.receive() == "4queued 1"
                assert await ws.receive() == b"queued 2"
                await ws.close()


@pytest.mark.parametrize("packet", ["4hello", "2", "3probe", "6"])
async def test_anything_else_on_the_probe_aborts_the_upgrade(packet: str) -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await open_probe(port, sid) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                await ws.send_text(packet)
                closed = await ws.wait_closed()
                assert closed.code == 1000
            # Polling carries on, and nothing sent on the probe reached the application.
            sock = server.sessions[sid]
            assert sock.transport == "polling"
            assert not sock.state.upgrading
            assert (await eio_post(client, sid, "4still polling")).body == b"ok"
            assert (await eio_poll(client, sid)).body == b"4still polling"
            assert events.messages_of(sid) == ["still polling"]
            assert events.disconnects == {}


async def test_a_probe_closed_by_the_client_leaves_polling_in_charge() -> None:
    server, events = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            ws = await open_probe(port, sid)
            await ws.send_text("2probe")
            assert await ws.receive() == "3probe"
            await ws.aclose()
            await wait_until(lambda: not server.sessions[sid].state.upgrading)
            assert (await eio_post(client, sid, "4x")).body == b"ok"
            assert (await eio_poll(client, sid)).body == b"4x"
            assert events.disconnects == {}
            # And a new upgrade may follow.
            async with await upgrade(port, server, sid) as ws:
                await ws.send_text("4y")
                assert await ws.receive() == "4y"
                await ws.close()


async def test_a_second_websocket_during_the_probe_is_closed() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await open_probe(port, sid) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                async with await open_probe(port, sid) as second:
                    assert (await second.wait_closed()).code == 1008
                await ws.send_text("5")
                await ws.send_text("4first probe wins")
                assert await ws.receive() == "4first probe wins"
                await ws.close()


async def test_upgrade_with_a_foreign_origin_is_forbidden() -> None:
    server, _ = engine()
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            with pytest.raises(WsRejected) as info:
                await WsClient.open(
                    port,
                    eio_target(sid=sid, transport="websocket"),
                    [("Origin", "https://evil.example")],
                )
            assert info.value.status == 403
            assert json.loads(info.value.body)["code"] == 4
            assert server.sessions[sid].transport == "polling"
            assert not server.sessions[sid].state.upgrading


async def test_heartbeat_continues_over_the_websocket_after_the_upgrade() -> None:
    server, events = engine(ping_interval=0.2, ping_timeout=0.2)
    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            async with await upgrade(port, server, sid) as ws:
                for _ in range(2):
                    assert await ws.receive() == "2"
                    await ws.send_text("3")
                assert events.disconnects == {}
                await ws.close()


async def test_upgrade_amid_traffic_in_both_directions_loses_and_reorders_nothing() -> None:
    # The server sends s0..s299 from a background task, paced so the upgrade falls in the
    # middle; the client posts c0..c29 over polling while it probes, then c30..c59 over the
    # WebSocket. Like a real client, it stops polling once the probe is answered and sends
    # "5" only when its last GET and POST have returned.
    n_server, n_polling_posts, n_client = 300, 30, 60
    server = EngineServer()
    events = EventRecorder(server)
    over_polling: list[str] = []
    over_ws: list[str] = []
    with trio.fail_after(LIMIT):
        async with running_server(server) as port:
            async with await HttpClient.open(port) as client:
                sid, _ = await eio_handshake(client)
            sock = server.sessions[sid]
            probe_answered = trio.Event()
            polling_done = trio.Event()
            posting_done = trio.Event()

            async def server_sender() -> None:
                for i in range(n_server):
                    await sock.send(f"s{i}")
                    await trio.sleep(0.001)

            async def poller() -> None:
                async with await HttpClient.open(port) as http:
                    while True:
                        response = await eio_poll(http, sid)
                        assert response.status == 200
                        for packet in response.text.split("\x1e"):
                            if packet != "6":
                                assert packet.startswith("4"), packet
                                over_polling.append(packet[1:])
                        if probe_answered.is_set():
                            break
                polling_done.set()

            async def poster() -> None:
                async with await HttpClient.open(port) as http:
                    for i in range(n_polling_posts):
                        assert (await eio_post(http, sid, f"4c{i}")).body == b"ok"
                        await trio.sleep(0.001)
                posting_done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(server_sender)
                nursery.start_soon(poller)
                nursery.start_soon(poster)
                await wait_until(lambda: len(over_polling) >= 10)
                async with await open_probe(port, sid) as ws:
                    await ws.send_text("2probe")
                    assert await ws.receive() == "3probe"
                    probe_answered.set()
                    await polling_done.wait()
                    await posting_done.wait()
                    await ws.send_text("5")
                    for i in range(n_polling_posts, n_client):
                        await ws.send_text(f"4c{i}")
                    while len(over_polling) + len(over_ws) < n_server:
                        message = await ws.receive()
                        assert isinstance(message, str)
                        assert message.startswith("4"), message
                        over_ws.append(message[1:])
                    received = await events.wait_messages(sid, n_client)
                    await ws.close()
    assert over_polling + over_ws == [f"s{i}" for i in range(n_server)]
    assert over_polling, "the upgrade happened before any traffic"
    assert over_ws, "the upgrade happened after all traffic"
    assert received == [f"c{i}" for i in range(n_client)]
