"""The admin UI's protocol (``@socket.io/admin-ui`` 0.5.1), as socket.io-client speaks it.

``admin_scenarios.mjs`` plays the UI: a refused login, a login, a session id reused; an
application client connects, sends an event with an ack, and the admin makes it join and
leave a room, sends it an event and disconnects it. It runs first against Node's
socket.io 4.8 instrumented by the npm package's own ``instrument()``
(``admin_node_server.mjs``), then against the same application on minisock with
:func:`minisock.admin.instrument`; both reports must agree, payload shapes included. The
bcrypt hash both servers check is made by Python's bcrypt, so bcryptjs reads it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _node
import bcrypt
import pytest

from minisock import Server, Socket
from minisock.admin import BasicAuth, instrument

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "admin_scenarios.mjs"
NODE_SERVER = JS_DIR / "admin_node_server.mjs"
PACKAGES = ("socket.io-client", "socket.io", "@socket.io/admin-ui")
DEADLINE = 40.0  # the script has its own 20 s timeout
MODES = [("development", False), ("production", True)]


def build_server(mode: str, read_only: bool, password_hash: str) -> Server:
    """The application of admin_node_server.mjs, instrumented the same way."""
    sio = Server()

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        socket.join("room-a")
        await socket.emit("welcome", {"n": 1})

    @sio.on("ping-me")
    async def ping_me(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return ("pong", *args)

    instrument(
        sio,
        auth=BasicAuth("admin", password_hash),
        mode="development" if mode == "development" else "production",
        read_only=read_only,
        server_id="the-server",
        stats_interval=0.5,
    )
    return sio


@pytest.mark.js
@pytest.mark.parametrize(("mode", "read_only"), MODES)
async def test_admin_protocol_matches_the_reference(mode: str, read_only: bool) -> None:
    password_hash = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    args = (mode, "true" if read_only else "false", password_hash)
    with _node.reference_server(NODE_SERVER, *args, packages=PACKAGES) as url:
        node = await _node.run_scenario(SCRIPT, url, packages=PACKAGES, deadline=DEADLINE)
    async with _node.serving(build_server(mode, read_only, password_hash)) as url:
        ours = await _node.run_scenario(SCRIPT, url, packages=PACKAGES, deadline=DEADLINE)

    for key in node.keys() - {"events", "stats"}:
        assert ours.get(key) == node[key], key
    assert ours["stats"] == node["stats"]
    assert ours["events"] == node["events"]  # the same events, payloads and order
