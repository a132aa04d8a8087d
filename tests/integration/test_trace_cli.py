"""``python -m minisock trace``, end to end: the Socket.IO example under the tracer, a real
``socket.io-client`` (tests/js/trace_client.mjs) talking to it over 127.0.0.1, and the lines
the tracer printed on stderr.

The client opens ``/`` and ``/custom`` on one Engine.IO session over long-polling, upgrades
to WebSocket, emits with an ack and a 300-character argument, and disconnects. Offsets and
the client's cache-busting ``t=`` vary between runs, so they are masked; the rest of each
line is checked exactly.
"""

from __future__ import annotations

import re
import signal
import sys

import _node
import pytest
from _server_process import EXAMPLES, ServerProcess

SCRIPT = _node.JS_DIR / "trace_client.mjs"
OFFSET = re.compile(r"^ *\+\d+\.\d{3}s ")
SERVER_LOGS = ("INFO ", "WARNING ", "DEBUG ")


async def traced_run(*options: str) -> list[str]:
    """The tracer's lines for one client run (offsets and ``t=`` masked)."""
    argv = [sys.executable, "-m", "minisock", "trace", *options]
    argv += [str(EXAMPLES / "socketio_suite.py"), "--port", "0", "--ping-interval", "25000"]
    server = ServerProcess(argv)
    try:
        port = server.wait_for_port()
        await _node.run_scenario(
            SCRIPT, f"http://127.0.0.1:{port}", packages=("socket.io-client",), deadline=20
        )
        server.signal(signal.SIGINT)
        assert server.wait() == 0, server.stderr
    finally:
        server.kill()
    lines = [line for line in server.lines if not line.startswith(SERVER_LOGS)]
    return [re.sub(r"&t=[^&\s]+", "&t=…", line) for line in lines]


@pytest.mark.js
async def test_compact_is_the_default_one_line_per_packet() -> None:
    lines = await traced_run("--trace-width", "60")
    assert lines, "the tracer printed nothing"
    assert all(OFFSET.match(line) for line in lines), lines
    shown = [OFFSET.sub("", line) for line in lines]
    assert shown[:2] == [
        "C→S http      -             GET /socket.io/?EIO=4&transport=polling&t=…",
        'S→C polling   eio#1         OPEN {"sid":"<eio#1>","upgrades":["websocket"],"pingI…(+54)',
    ]
    # Whether a CONNECT and its answer went by polling or already by WebSocket depends on
    # how fast the upgrade went: that column is masked for them.
    either = [
        "C→S ~ eio#1         CONNECT /",
        'S→C ~ eio#1  sio#1  CONNECT / {"sid":"<sio#1>"}',
        'S→C ~ eio#1  sio#1  EVENT / ["auth",{}]',
        "C→S ~ eio#1         CONNECT /custom",
        'S→C ~ eio#1  sio#2  CONNECT /custom {"sid":"<sio#2>"}',
        'S→C ~ eio#1  sio#2  EVENT /custom ["auth",{}]',
    ]
    websocket = [
        'C→S websocket eio#1         PING "probe"',
        'S→C websocket eio#1         PONG "probe"',
        "C→S websocket eio#1         UPGRADE",
        'C→S websocket eio#1  sio#1  EVENT / 0 ["message-with-ack","bar","xxxxxxxxxxxxxxxx…(+286)',
        'S→C websocket eio#1  sio#1  ACK / 0 ["bar","xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…(+265)',
        "C→S websocket eio#1  sio#2  DISCONNECT /custom",
        "C→S websocket eio#1  sio#1  DISCONNECT /",
        "C→S websocket eio#1         close frame",
        '--- websocket eio#1         session closed "transport close"',
    ]
    masked = [re.sub(r"^(C→S|S→C) (polling  |websocket)", r"\1 ~", line) for line in shown]
    # In order within each namespace's handshake, and along the WebSocket.
    for group, seen in ((either[:3], masked), (either[3:], masked), (websocket, shown)):
        missing = [line for line in group if line not in seen]
        assert not missing, "\n".join(["missing:", *missing, "printed:", *shown])
        positions = [seen.index(line) for line in group]
        assert positions == sorted(positions), shown
    # One line per packet: no frame bytes, no payload summary, no packet shown twice.
    packets = [line for line in shown if " http " not in line]  # POSTs look alike, masked
    assert len(packets) == len(set(packets)), shown
    assert not any("frame bytes" in line or "payload of" in line for line in shown)
    assert max(len(line) for line in lines) == len("  +0.000s C→S websocket eio#1  sio#1  ") + 60
    assert not any(re.search(r'"sid":"[A-Za-z0-9_-]{20,}"', line) for line in lines)


@pytest.mark.js
async def test_full_format_keeps_the_long_form() -> None:
    """The long form: the raw packet (frame bytes, polling bodies), then what it means."""
    lines = await traced_run("--trace-format", "full")
    assert (
        lines[0]
        == "C→S http      -     GET /socket.io/?EIO=4&transport=polling&t=…    HTTP request"
    )
    assert 'C→S polling   eio#1 40    message "0" = Socket.IO CONNECT /' in lines
    # One such line per read of the socket, and frames sent together may share a read.
    assert sum("frame bytes, masked" in line for line in lines) >= 1
    event = [line for line in lines if line.startswith('C→S websocket eio#1 420["message-with')]
    assert len(event) == 1
    assert event[0].endswith("… (330 chars)")
    assert '    message "20[\\"message-with-ack\\",\\"bar\\",' in event[0]
