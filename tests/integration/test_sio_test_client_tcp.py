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
    sio = _sio_app.build_app(ping_interval=0.2, ping_timeout=0.5)
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine) as port:
            make = partial(SocketIOClient, f"http://127.0.0.1:{port}")
            await _sio_app.pings_are_answered(make, transport, 1.5)


def test_a_url_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="path="):
        SocketIOClient("http://127.0.0.1:3000/admin")
