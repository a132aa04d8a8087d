"""minisock.testing.SocketIOClient against the Node reference server, socket.io 4.8.4.

``reference_app.mjs`` runs the application of ``tests/_sio_app.py`` on Node; one process
serves the whole module on a port of 127.0.0.1 and is stopped by PID at the end. Every
scenario that passes against minisock must pass here too, on every transport: that is what
shows the test client speaks the real protocol (and not a dialect the two Python ends share).
The reference pings every 0.3 s, so every scenario also answers pings.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import _node
import _sio_app
import pytest
import trio
from cluster._procs import Proc

from minisock.testing import ConnectError, SocketIOClient, TransportChoice

SCRIPT = Path(__file__).resolve().parent / "reference_app.mjs"
LIMIT = 20.0

pytestmark = pytest.mark.js


class Reference:
    """The Node server of this module, started by the first test that asks for its port
    (so a missing Node is a test failure, never a setup error or a skip)."""

    def __init__(self) -> None:
        self.proc: Proc | None = None

    def port(self) -> int:
        node = _node.require_node("socket.io")
        if self.proc is None:
            argv = [node, str(SCRIPT), "--ping-interval", "300", "--ping-timeout", "1500"]
            self.proc = Proc.spawn("reference_app", argv)
        return int(self.proc.wait_for_line(r"^ready (\d+)$").group(1))


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    server = Reference()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.stop()  # by PID: SIGTERM, then SIGKILL


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
@pytest.mark.parametrize("scenario", list(_sio_app.SCENARIOS))
async def test_scenario_against_node(reference: Reference, scenario: str, transport: str) -> None:
    port = reference.port()
    with trio.fail_after(LIMIT):
        await _sio_app.SCENARIOS[scenario](partial(SocketIOClient, port), transport)


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
async def test_pings_are_answered_against_node(reference: Reference, transport: str) -> None:
    make = partial(SocketIOClient, f"http://127.0.0.1:{reference.port()}")
    with trio.fail_after(LIMIT):
        await _sio_app.pings_are_answered(make, transport, 3.0)


@pytest.mark.parametrize(
    ("transport", "status", "data"),
    [
        ("polling", 403, {"code": 4, "message": "refused by allowRequest"}),
        ("upgrade", 403, {"code": 4, "message": "refused by allowRequest"}),
        ("websocket", 400, "refused by allowRequest"),  # Node answers an upgrade in plain text
    ],
)
async def test_a_handshake_refused_by_allow_request_is_a_connect_error(
    reference: Reference, transport: TransportChoice, status: int, data: object
) -> None:
    port = reference.port()
    with trio.fail_after(LIMIT), pytest.raises(ConnectError) as refused:
        async with SocketIOClient(port, transport=transport, headers=[("x-refuse", "1")]):
            pass
    assert (refused.value.status, refused.value.data) == (status, data)
    assert refused.value.message == "refused by allowRequest"
