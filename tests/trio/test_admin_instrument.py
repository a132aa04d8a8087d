"""minisock.admin.instrument() beyond what the reference test covers: the loud warning, a
connection refused by its connect handler, hostile commands, the queue's bound, and what
an uninstrumented (or production-mode) server does not pay. In memory, with minisock's
own Socket.IO test client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from minisock import ConnectRefusedError, Server, Socket
from minisock.admin import instrument
from minisock.engine_socket import EngineSocket
from minisock.testing import ConnectError, SocketIOClient, running_server
from minisock.testing.sio_client import ClientSocket

LIMIT = 20.0


@asynccontextmanager
async def serving(sio: Server) -> AsyncIterator[None]:
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine, in_memory=True):
            yield


async def next_named(admin: ClientSocket, name: str) -> tuple[Any, ...]:
    """The arguments of the next ``name`` event the admin receives (others are skipped)."""
    while True:
        event = await admin.receive(timeout=5)
        if event.name == name:
            return event.args


def app_server() -> Server:
    sio = Server()

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("refuse"):
            raise ConnectRefusedError("not today")
        socket.join("user:1")

    @sio.on("leave-own-room")
    async def leave_own_room(socket: Socket) -> None:
        socket.leave(socket.sid)
        socket.join("marker")

    return sio


async def test_without_auth_it_warns_and_lets_anyone_in(caplog: pytest.LogCaptureFixture) -> None:
    sio = app_server()
    with caplog.at_level(logging.WARNING, logger="minisock.admin"):
        instrument(sio, auth=None)
    assert "NO authentication" in caplog.text and "anyone" in caplog.text
    assert "every socket" in caplog.text and "disconnect sockets" in caplog.text
    async with serving(sio), SocketIOClient(sio) as ui, SocketIOClient(sio) as app:
        admin = await ui.connect("/admin")
        (config,) = await next_named(admin, "config")
        assert "ALL_EVENTS" in config["supportedFeatures"]
        await app.connect("/")
        (details, _) = await next_named(admin, "socket_connected")
        assert details["nsp"] == "/" and details["rooms"] == [details["id"]]
        assert (await next_named(admin, "room_joined"))[:3] == ("/", "user:1", details["id"])


def test_the_warning_says_what_each_mode_exposes(caplog: pytest.LogCaptureFixture) -> None:
    """Production mode sends no socket and no event, only counts; read-only takes the
    commands away."""
    with caplog.at_level(logging.WARNING, logger="minisock.admin"):
        instrument(app_server(), auth=None, mode="production", read_only=True)
    assert "NO authentication" in caplog.text and "counts" in caplog.text
    assert "every socket" not in caplog.text and "disconnect" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minisock.admin"):
        instrument(app_server(), auth=None, mode="production")
    assert "counts" in caplog.text and "every socket" not in caplog.text
    assert "disconnect sockets" in caplog.text


async def test_a_refused_connection_is_told_as_gone() -> None:
    """Node has no refusal after its middlewares; minisock's connect handler may refuse. The
    UI heard the socket come (it joined its own room), so it hears it go."""
    sio = app_server()
    instrument(sio, auth=None)
    async with serving(sio), SocketIOClient(sio) as ui, SocketIOClient(sio) as app:
        admin = await ui.connect("/admin")
        await next_named(admin, "all_sockets")
        with pytest.raises(ConnectError):
            await app.connect("/", auth={"refuse": True})
        (details, _) = await next_named(admin, "socket_connected")
        nsp, sid, reason, _ = await next_named(admin, "socket_disconnected")
        assert (nsp, sid, reason) == ("/", details["id"], "server namespace disconnect")
        assert (await next_named(admin, "room_left"))[:3] == ("/", sid, sid)


async def test_leaving_its_own_room_is_not_leaving() -> None:
    sio = app_server()
    instrument(sio, auth=None)
    async with serving(sio), SocketIOClient(sio) as ui, SocketIOClient(sio) as app:
        admin = await ui.connect("/admin")
        await next_named(admin, "all_sockets")
        user = await app.connect("/")
        await user.emit("leave-own-room")
        seen: list[tuple[Any, ...]] = []
        while not seen or seen[-1][:3] != ("room_joined", "/", "marker"):
            event = await admin.receive(timeout=5)
            seen.append((event.name, *event.args))
        assert ("room_left", "/", user.sid, user.sid) in [e[:4] for e in seen]
        assert "socket_disconnected" not in [e[0] for e in seen]


async def test_hostile_commands_change_nothing() -> None:
    sio = app_server()
    instrument(sio, auth=None)
    async with serving(sio), SocketIOClient(sio) as ui, SocketIOClient(sio) as app:
        admin = await ui.connect("/admin")
        user = await app.connect("/")
        await admin.emit("join", "/made-up", "room", None)  # Node would make "/made-up"
        await admin.emit("join", "/", 42, None)
        await admin.emit("_disconnect", "/", "yes", None)
        await admin.emit("emit", "/", None, "disconnect")  # a reserved name
        await admin.emit("leave")
        await admin.emit("join", "/", "x" * 10_000, None)
        await admin.emit("join", "/", "fine", None)  # the session still works
        (nsp, room, sid, _) = await next_named(admin, "room_joined")
        while room != "fine":
            (nsp, room, sid, _) = await next_named(admin, "room_joined")
        assert (nsp, sid) == ("/", user.sid)
        assert "/made-up" not in sio.namespaces
        assert user.connected


async def test_read_only_offers_and_accepts_no_command() -> None:
    sio = app_server()
    instrument(sio, auth=None, read_only=True, mode="production")
    assert not {"join", "leave", "_disconnect", "emit"} & set(sio.of("/admin").handlers)
    async with serving(sio), SocketIOClient(sio) as ui, SocketIOClient(sio) as app:
        admin = await ui.connect("/admin")
        (config,) = await next_named(admin, "config")
        assert config == {"supportedFeatures": ["AGGREGATED_EVENTS"]}
        user = await app.connect("/")
        await admin.emit("_disconnect", "/", True, None)
        (stats,) = await next_named(admin, "server_stats")
        assert user.connected
        assert {"name": "/", "socketsCount": 1} in stats["namespaces"]
        # production mode adds nothing to the application's sockets
        assert all(s.hooks is None for s in sio.sockets.sockets.values())


async def test_the_queue_is_bounded() -> None:
    sio = app_server()
    admin = instrument(sio, auth=None, max_queued=3)
    for _ in range(10):
        admin.publish("event_sent", "/", "sid", ["x"], "date")
    assert admin.dropped == 7


def test_an_uninstrumented_server_carries_no_hook() -> None:
    sio = Server()
    assert sio.observer is None and sio.engine.session_class is EngineSocket
    instrument(sio, auth=None, mode="production")
    assert sio.observer is not None and sio.engine.session_class is not EngineSocket
    with pytest.raises(RuntimeError, match="instrumented already"):
        instrument(sio, auth=None)
