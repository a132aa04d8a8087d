"""minisock.testing.SocketIOClient against a minisock Server on 127.0.0.1 (port 0).

The scenarios of ``tests/_sio_app.py`` over real TCP connections, on every transport, with
the client given a port or a URL. The heartbeat is short here (pingInterval 0.2 s), so the
ping scenario sees several pings in real time.
"""

from __future__ import annotations

from functools import partial

import _sio_app
import pytest
import trio

from minisock.testing import SocketIOClient, running_server

LIMIT = 20.0


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
@pytest.mark.parametrize("scenario", list(_sio_app.SCENARIOS))
async def test_scenario_over_tcp(scenario: str, transport: str) -> None:
    sio = _sio_app.build_app()
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine) as port:
            await _sio_app.SCENARIOS[scenario](partial(SocketIOClient, port), transport)


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
async def test_pings_are_answered_by_url(transport: str) -> None:
    sio = _sio_app.build_app(ping_interval=0.2, ping_timeout=1.0)
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine) as port:
            make = partial(SocketIOClient, f"http://127.0.0.1:{port}")
            await _sio_app.pings_are_answered(make, transport, 2.0)


def test_a_url_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="path="):
        SocketIOClient("http://127.0.0.1:3000/admin")


async def silent_server(stream: trio.SocketStream) -> None:
    """Answers the handshake GET with an open packet (short heartbeat), then never pings."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += await stream.receive_some(65536)
    if b"sid=" in received.split(b"\r\n", 1)[0]:
        await trio.sleep_forever()  # a poll that never gets an answer: no ping either
    body = b'0{"sid":"x","upgrades":[],"pingInterval":100,"pingTimeout":100,"maxPayload":1000}'
    head = f"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n\r\n"
    await stream.send_all(head.encode() + body)
    await trio.sleep_forever()


async def test_a_server_that_stops_pinging_is_left_with_ping_timeout() -> None:
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            serve = partial(trio.serve_tcp, silent_server, 0, host="127.0.0.1")
            (listener,) = await nursery.start(serve)
            port = listener.socket.getsockname()[1]
            async with SocketIOClient(port, transport="polling") as client:
                opened_at = trio.current_time()
                assert await client.wait_closed() == "ping timeout"
                assert trio.current_time() - opened_at >= 0.2 - 0.05  # pingInterval + pingTimeout
            nursery.cancel_scope.cancel()
