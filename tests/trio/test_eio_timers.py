"""Heartbeat, upgrade and linger deadlines with the production timings, on a virtual clock.

The server runs with its defaults (pingInterval 25 s, pingTimeout 20 s, upgradeTimeout 10 s,
closeTimeout 30 s) and no listener; every client connection is an in-memory stream pair, so
``autojump_clock`` can skip the waits and each test runs in milliseconds. Each request uses
a fresh connection, as ``fetch`` does: an idle keep-alive connection would otherwise meet
the server's 10 s head timeout while a test waits.

Times are asserted exactly (to a microsecond): the clock only jumps to a deadline someone
set, so a ping "due at 25 s" must arrive at 25 s, not somewhere after it.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from minisock import EngineServer
from minisock.testing import (
    EventRecorder,
    HttpClient,
    HttpResponse,
    WsClient,
    WsClosed,
    eio_handshake,
    eio_target,
    memory_connection,
    running_server,
)

LIMIT = 600.0  # virtual seconds: a hung test fails instead of jumping forever
EXACT = 1e-6


async def request(
    server: EngineServer, method: str, target: str, body: bytes = b""
) -> HttpResponse:
    async with HttpClient(memory_connection(server)) as client:
        return await client.request(method, target, body=body)


async def handshake(server: EngineServer) -> str:
    async with HttpClient(memory_connection(server)) as client:
        sid, _ = await eio_handshake(client)
    return sid


async def poll(server: EngineServer, sid: str) -> HttpResponse:
    return await request(server, "GET", eio_target(sid=sid))


async def post(server: EngineServer, sid: str, payload: str) -> HttpResponse:
    return await request(server, "POST", eio_target(sid=sid), payload.encode())


async def probe(server: EngineServer, sid: str) -> WsClient:
    ws = await WsClient.connect(
        memory_connection(server), "127.0.0.1", eio_target(sid=sid, transport="websocket")
    )
    await ws.send_text("2probe")
    assert await ws.receive() == "3probe"
    return ws


def server_sid(events: EventRecorder) -> str:
    """The sid of the only session the server opened."""
    (sid,) = events.connected
    return sid


def assert_unknown_sid(response: HttpResponse) -> None:
    assert response.status == 400
    assert response.json()["code"] == 1


# ---------------------------------------------------------------- heartbeat


async def test_first_ping_is_due_ping_interval_after_the_handshake(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            created = trio.current_time()
            response = await poll(server, sid)
            assert response.body == b"2"
            assert trio.current_time() - created == pytest.approx(25.0, abs=EXACT)


async def test_a_session_that_never_polls_is_gone_after_interval_plus_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            created = trio.current_time()
            await trio.sleep_until(created + 44.999)
            assert sid in server.sessions
            assert sid not in events.disconnects
            assert await events.wait_disconnect(sid) == "ping timeout"
            assert events.disconnect_times[sid] - created == pytest.approx(45.0, abs=EXACT)
            assert sid not in server.sessions
            assert_unknown_sid(await poll(server, sid))


async def test_a_pending_get_at_the_ping_timeout_is_answered_close(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            created = trio.current_time()
            assert (await poll(server, sid)).body == b"2"
            response = await poll(server, sid)  # held, since we never answer the ping
            assert response.body == b"1"
            assert trio.current_time() - created == pytest.approx(45.0, abs=EXACT)
            assert events.disconnect_log == [(sid, "ping timeout")]


async def test_pong_schedules_the_next_ping_ping_interval_after_the_pong(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            created = trio.current_time()
            pong_at = created
            for round_ in range(3):
                assert (await poll(server, sid)).body == b"2"
                assert trio.current_time() - pong_at == pytest.approx(25.0, abs=EXACT)
                await trio.sleep(7.0 + round_)  # answer late, but within pingTimeout
                pong_at = trio.current_time()
                assert (await post(server, sid, "3")).body == b"ok"
            # Without a pong, the session closes pingTimeout after the fourth ping.
            assert (await poll(server, sid)).body == b"2"
            ping_at = trio.current_time()
            assert ping_at - pong_at == pytest.approx(25.0, abs=EXACT)
            assert await events.wait_disconnect(sid) == "ping timeout"
            assert events.disconnect_times[sid] - ping_at == pytest.approx(20.0, abs=EXACT)


async def test_websocket_heartbeat_and_ping_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            ws = await WsClient.connect(
                memory_connection(server), "127.0.0.1", eio_target(transport="websocket")
            )
            created = trio.current_time()
            opened = await ws.receive()
            assert isinstance(opened, str)
            assert opened.startswith("0")
            assert await ws.receive() == "2"
            assert trio.current_time() - created == pytest.approx(25.0, abs=EXACT)
            await trio.sleep(3.0)
            await ws.send_text("3")
            pong_at = trio.current_time()
            assert await ws.receive() == "2"
            assert trio.current_time() - pong_at == pytest.approx(25.0, abs=EXACT)
            ping_at = trio.current_time()
            with pytest.raises(WsClosed):
                await ws.receive()
            assert trio.current_time() - ping_at == pytest.approx(20.0, abs=EXACT)
            assert events.disconnect_log == [(server_sid(events), "ping timeout")]
            await ws.aclose()


# ---------------------------------------------------------------- upgrade timeout


async def test_an_upgrade_not_completed_in_time_closes_the_probe_and_polling_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server, echo=True)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            created = trio.current_time()
            await trio.sleep(1.0)
            probe_started = trio.current_time()
            ws = await probe(server, sid)
            closed = await ws.wait_closed()
            assert closed.code == 1000
            assert trio.current_time() - probe_started == pytest.approx(10.0, abs=EXACT)
            await ws.aclose()
            # Polling carries the session as if nothing happened.
            sock = server.sessions[sid]
            assert sock.transport == "polling"
            assert not sock.state.upgrading
            assert (await post(server, sid, "4still here")).body == b"ok"
            assert (await poll(server, sid)).body == b"4still here"
            assert (await poll(server, sid)).body == b"2"
            assert trio.current_time() - created == pytest.approx(25.0, abs=EXACT)
            assert events.disconnects == {}


async def test_an_upgrade_expires_even_without_a_probe(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            started = trio.current_time()
            ws = await WsClient.connect(
                memory_connection(server), "127.0.0.1", eio_target(sid=sid, transport="websocket")
            )
            closed = await ws.wait_closed()
            assert closed.code == 1000
            assert trio.current_time() - started == pytest.approx(10.0, abs=EXACT)
            await ws.aclose()
            # A new upgrade may start once the old one expired, and complete this time.
            ws = await probe(server, sid)
            await ws.send_text("5")
            await ws.send_text("4over ws")
            await trio.sleep(15.0)  # past the first upgrade deadline: nothing expires now
            assert server.sessions[sid].transport == "websocket"
            await ws.close()


async def test_a_pending_get_during_the_probe_is_released_with_noop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            async with trio.open_nursery() as nursery:
                answers: list[bytes] = []

                async def held_poll() -> None:
                    answers.append((await poll(server, sid)).body)

                nursery.start_soon(held_poll)
                await trio.testing.wait_all_tasks_blocked()
                assert server.sessions[sid].state.poll_pending
                ws = await probe(server, sid)
            assert answers == [b"6"]
            await ws.close()


# ---------------------------------------------------------------- linger


async def test_a_closed_polling_session_lingers_then_is_forgotten(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            sock = server.sessions[sid]
            await sock.send("bye")
            closed_at = trio.current_time()
            sock.close()
            assert await events.wait_disconnect(sid) == "forced close"
            await trio.sleep_until(closed_at + 29.999)
            assert server.sessions.get(sid) is sock
            await trio.sleep_until(closed_at + 30.001)
            assert sid not in server.sessions
            assert_unknown_sid(await poll(server, sid))


async def test_a_get_during_the_linger_receives_the_final_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    server = EngineServer()
    events = EventRecorder(server)
    with trio.fail_after(LIMIT):
        async with running_server(server, in_memory=True):
            sid = await handshake(server)
            sock = server.sessions[sid]
            await sock.send("bye")
            await sock.send(b"\x01\x02")
            sock.close()
            await trio.sleep(20.0)
            assert (await poll(server, sid)).body == b"4bye\x1ebAQI=\x1e1"
            assert sid not in server.sessions
            assert_unknown_sid(await poll(server, sid))
            assert events.disconnect_log == [(sid, "forced close")]
