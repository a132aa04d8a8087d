"""minisock.testing.SocketIOClient against a minisock Server in memory, on a virtual clock.

The scenarios of ``tests/_sio_app.py`` run here on every transport with no socket at all
(the client reaches the server through :func:`minisock.testing.memory_connection`), under
``autojump_clock`` with the production heartbeat (pingInterval 25 s, pingTimeout 20 s), so a
wait of minutes costs nothing. The same scenarios run on 127.0.0.1 against minisock
(``tests/integration/test_sio_test_client_tcp.py``) and against the Node reference
(``tests/js/test_sio_test_client_reference.py``). Below them: what only an in-process test
can see, such as the reasons the server's handlers get and the client's own timeouts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import _sio_app
import jwt
import pytest
import trio
import trio.testing

from minisock import (
    AckTimeoutError,
    EngineServer,
    EngineSocket,
    JWTAuth,
    JWTVerifier,
    Server,
    Socket,
)
from minisock.testing import (
    ConnectError,
    ReceivedEvent,
    SocketIOClient,
    TransportChoice,
    running_server,
)

LIMIT = 600.0  # virtual seconds


@asynccontextmanager
async def serving(sio: Server | EngineServer) -> AsyncIterator[None]:
    engine = sio.engine if isinstance(sio, Server) else sio
    with trio.fail_after(LIMIT):
        async with running_server(engine, in_memory=True):
            yield


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
@pytest.mark.parametrize("scenario", list(_sio_app.SCENARIOS))
async def test_scenario_in_memory(
    autojump_clock: trio.testing.MockClock, scenario: str, transport: str
) -> None:
    sio = _sio_app.build_app()
    async with serving(sio):
        await _sio_app.SCENARIOS[scenario](partial(SocketIOClient, sio), transport)


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
async def test_pings_are_answered_for_minutes(
    autojump_clock: trio.testing.MockClock, transport: str
) -> None:
    sio = _sio_app.build_app()
    async with serving(sio):
        await _sio_app.pings_are_answered(partial(SocketIOClient, sio), transport, 300.0)


class Reasons:
    """The disconnect reasons the server's handlers get, by namespace."""

    def __init__(self, sio: Server, *namespaces: str) -> None:
        self.seen: dict[str, str] = {}
        self.changed = trio.Event()
        for nsp in namespaces:
            sio.of(nsp).on("disconnect")(self._record)

    async def _record(self, socket: Socket, reason: str) -> None:
        self.seen[socket.nsp] = reason
        self.changed.set()
        self.changed = trio.Event()

    async def wait(self, count: int) -> dict[str, str]:
        while len(self.seen) < count:
            await self.changed.wait()
        return self.seen


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
async def test_the_server_sees_the_clients_disconnects(
    autojump_clock: trio.testing.MockClock, transport: TransportChoice
) -> None:
    sio = _sio_app.build_app()
    reasons = Reasons(sio, "/", "/admin")
    async with serving(sio):
        async with SocketIOClient(sio, transport=transport) as client:
            root = await client.connect()
            await client.connect("/admin", auth={"token": "secret"})
            await root.disconnect()
            assert root.disconnect_reason == "io client disconnect"
            assert await reasons.wait(1) == {"/": "client namespace disconnect"}
        # leaving the block leaves /admin (41/admin,) before it closes the session
        assert await reasons.wait(2) == {
            "/": "client namespace disconnect",
            "/admin": "client namespace disconnect",
        }
        assert client.close_reason == "forced close"
        await trio.testing.wait_all_tasks_blocked()
        assert sio.engine.sessions == {}


async def test_upgrade_moves_the_session_to_a_websocket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = _sio_app.build_app()
    async with serving(sio), SocketIOClient(sio) as client:  # "upgrade" by default
        assert client.transport == "polling"
        root = await client.connect()
        await client.wait_upgraded()
        assert client.transport == "websocket"
        await trio.testing.wait_all_tasks_blocked()  # the server has read C→S 5
        (session,) = sio.engine.sessions.values()
        assert session.transport == "websocket"
        assert session.eio_sid == client.eio_sid
        assert await root.call("ack", b"after") == b"after"


async def test_call_times_out_with_ack_timeout_error_and_receive_with_too_slow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = _sio_app.build_app()
    async with serving(sio), SocketIOClient(sio, transport="websocket", timeout=30.0) as client:
        root = await client.connect()
        assert (await root.receive()).name == "auth"
        asked_at = trio.current_time()
        with pytest.raises(AckTimeoutError):
            await root.call("no-handler-answers-this", timeout=7.0)
        assert trio.current_time() - asked_at == pytest.approx(7.0)
        with pytest.raises(trio.TooSlowError):
            await root.receive()  # the client's default: 30 s
        assert trio.current_time() - asked_at == pytest.approx(37.0)
        assert await root.call("ack", 1) == 1  # nothing else was disturbed


async def test_a_malformed_packet_from_the_server_closes_with_parse_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    engine = EngineServer(path="/socket.io/")

    @engine.on("message")
    async def answer(sock: EngineSocket, data: str | bytes) -> None:
        if data == "0":  # C→S 40
            await sock.send('0{"sid":"s"}')  # S→C 40{"sid":"s"}
        else:
            await sock.send("9 is no packet type")  # S→C 49 is no packet type

    async with serving(engine), SocketIOClient(engine, transport="websocket") as client:
        root = await client.connect()
        assert root.sid == "s"
        await root.emit("anything")
        assert await root.wait_disconnected() == "parse error"
        assert client.close_reason == "parse error"


async def test_events_nobody_receives_are_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = _sio_app.build_app()
    with pytest.raises(ExceptionGroup) as failed:
        async with serving(sio), SocketIOClient(sio, max_queued_events=3) as client:
            root = await client.connect()  # "auth" is the first queued event
            for i in range(3):
                await root.emit("echo", i)
            await trio.sleep(LIMIT)
    assert failed.group_contains(RuntimeError, match="were never received")


async def test_handlers_registered_before_connect_see_the_connect_handlers_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        answer = await socket.call("who-are-you", b"\x01")
        await socket.emit("you-are", answer)

    async with serving(sio), SocketIOClient(sio, transport="polling") as client:
        root = client.socket()
        root.on("who-are-you")(lambda data: ("ada", data))
        await root.connect()
        assert await root.receive() == ReceivedEvent("you-are", (["ada", b"\x01"],))


SECRET = "k7Qm2vX9pL4sT8wZ1cR6yB3nH5jD0fGaE7uK2iO9qW4xV8tY1zM6bN3rS5dF0gHj"


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
async def test_a_refused_handshake_is_a_connect_error_with_the_http_answer(
    autojump_clock: trio.testing.MockClock, transport: TransportChoice
) -> None:
    sio = Server(auth=JWTAuth(JWTVerifier(SECRET, "issuer", "audience")))
    identities: list[Any] = []

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        identities.append(socket.identity)

    token = jwt.encode(
        {"iss": "issuer", "aud": "audience", "exp": 2**40, "data": {"id": 7}}, SECRET, "HS256"
    )
    async with serving(sio):
        bad = [("Authorization", "Bearer not-a-token")]
        with pytest.raises(ConnectError) as refused:
            async with SocketIOClient(sio, transport=transport, headers=bad):
                pass
        assert refused.value.status == 401
        assert isinstance(refused.value.data, dict)
        assert refused.value.message == refused.value.data["message"]
        good = [("Authorization", f"Bearer {token}")]
        async with SocketIOClient(sio, transport=transport, headers=good) as client:
            await client.connect()
            if transport == "upgrade":
                await client.wait_upgraded()  # the WebSocket carries the sid, not the token
        assert identities == [{"id": 7}]
