"""Connection state recovery in memory, on a virtual clock: raw Socket.IO frames.

The wire of a recovery, as the reference speaks it (see PROTOCOL.md section 8): the CONNECT
answer carries ``pid``; recorded events end with an offset; a CONNECT with ``pid`` and
``offset`` takes the kept session back. Here: the expiry, the bounds (and their log lines),
what is never recovered, JWT identity, and the recovery-off wire staying as it was. The
same behaviours against the real client and the Node reference: ``tests/js``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
import trio
import trio.testing

from minisock import ConnectRefusedError, JWTAuth, JWTVerifier, Recovery, Server, Socket
from minisock.testing import WsClient, eio_target, memory_connection, running_server

LIMIT = 600.0
WS_TARGET = eio_target("/socket.io/", transport="websocket")
SECRET = "a-secret-of-at-least-32-bytes-long!!"
NOW = 1_800_000_000.0


def app(**options: Any) -> Server:
    """``join`` room: joins and emits ``joined``; ``shout`` room text: broadcasts."""
    sio = Server(**options)

    @sio.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)
        await socket.emit("joined", room)

    @sio.on("bye")
    async def bye(socket: Socket) -> None:
        await socket.disconnect()

    return sio


@asynccontextmanager
async def serving(sio: Server) -> AsyncIterator[None]:
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine, in_memory=True):
            yield


async def recv(ws: WsClient) -> str:
    while True:
        message = await ws.receive()
        assert isinstance(message, str)
        if message != "2":
            return message
        await ws.send_text("3")


async def connect(sio: Server, auth: dict[str, Any] | None = None) -> tuple[WsClient, Any]:
    """A WebSocket session and its CONNECT to ``/``; returns it and the CONNECT answer."""
    ws = await WsClient.connect(memory_connection(sio.engine), "127.0.0.1", WS_TARGET)
    assert (await recv(ws)).startswith("0")
    await ws.send_text("40" + (json.dumps(auth) if auth is not None else ""))
    answer = await recv(ws)
    assert answer[:2] in ("40", "44"), answer
    return ws, json.loads(answer[2:])


async def event(ws: WsClient) -> list[Any]:
    message = await recv(ws)
    assert message.startswith("42"), message
    data: list[Any] = json.loads(message[2:])
    return data


async def joined(sio: Server, room: str = "r") -> tuple[WsClient, str, str, str]:
    """Connected, in ``room``, holding an offset: (ws, sid, pid, offset)."""
    ws, answer = await connect(sio)
    await ws.send_text(f'42["join","{room}"]')
    name, got, offset = await event(ws)
    assert (name, got) == ("joined", room)
    return ws, answer["sid"], answer["pid"], offset


async def cut(sio: Server, ws: WsClient) -> None:
    """The transport goes (no close frame); returns once the server has noticed."""
    count = len(sio.sockets.sockets)
    await ws.aclose()
    while len(sio.sockets.sockets) == count:
        await trio.sleep(0.01)


RECOVERY = Recovery(max_disconnection_duration=120)


async def test_recovered_within_the_duration_with_missed_events_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = app(connection_state_recovery=RECOVERY)
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        await sio.to("r").emit("one")
        await sio.to("elsewhere").emit("not this")
        await sio.emit("two")
        await trio.sleep(119)
        back, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer == {"sid": sid, "pid": pid}
        one, two = await event(back), await event(back)
        assert (one[0], two[0]) == ("one", "two")
        assert one[1] != two[1] and one[1] != offset
        socket = sio.sockets.sockets[sid]
        assert socket.recovered and socket.rooms == {sid, "r"}


async def test_a_reconnection_after_the_duration_is_a_new_socket(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sio = app(connection_state_recovery=RECOVERY)
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        await trio.sleep(121)
        with caplog.at_level(logging.INFO, "minisock.adapter"):
            _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid and answer["pid"] != pid
        assert not sio.sockets.sockets[answer["sid"]].recovered
        assert "not recovered in /: unknown or expired session" in caplog.text


async def test_too_many_missed_events_is_a_new_socket_and_says_so(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sio = app(connection_state_recovery=Recovery(max_missed_packets=2))
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        for n in range(3):
            await sio.to("r").emit("e", n)
        with caplog.at_level(logging.INFO, "minisock.adapter"):
            _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid
        assert "too much missed (3 events" in caplog.text


async def test_a_full_log_drops_its_oldest_events_and_says_so(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sio = app(connection_state_recovery=Recovery(max_log_packets=2))
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        with caplog.at_level(logging.WARNING, "minisock.adapter"):
            for n in range(3):
                await sio.to("r").emit("e", n)
        assert "recovery log of / full: dropped its 1 oldest event(s)" in caplog.text
        _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid  # "e" 0 is lost: not a complete recovery


async def test_a_disconnect_on_purpose_keeps_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = app(connection_state_recovery=RECOVERY)
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await ws.send_text("41")  # the client leaves
        while sid in sio.sockets.sockets:
            await trio.sleep(0.01)
        _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid
        ws, sid, pid, offset = await joined(sio)
        await ws.send_text('42["bye"]')  # the server sends it away
        assert await recv(ws) == "41"
        _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid
        assert all(len(ns.adapter.recovery or ()) == 0 for ns in sio.namespaces.values())


async def test_a_refusing_middleware_keeps_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = app(connection_state_recovery=Recovery(skip_middlewares=False))
    refuse = False

    @sio.use
    async def gate(socket: Socket, auth: dict[str, Any]) -> None:
        if refuse:
            raise ConnectRefusedError("no")

    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        refuse = True
        _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer == {"message": "no"}
        refuse = False
        _, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid  # the refused attempt used the session up


async def test_with_recovery_off_the_wire_is_unchanged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = app()
    async with serving(sio):
        ws, answer = await connect(sio, {"pid": "x", "offset": "y"})
        assert set(answer) == {"sid"}
        await ws.send_text('42["join","r"]')
        assert await event(ws) == ["joined", "r"]
        socket = sio.sockets.sockets[answer["sid"]]
        assert socket.pid is None and not socket.recovered
        assert sio.sockets.adapter.recovery is None


# ---------------------------------------------------------------- JWT


def token(user: str, exp: float) -> str:
    claims = {"data": {"user": user}, "exp": exp, "iss": "issuer", "aud": "audience"}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_with_jwt_the_token_is_checked_again_and_must_name_the_same_user(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = [NOW]
    auth = JWTAuth(
        JWTVerifier(SECRET, "issuer", "audience", leeway=0),
        connect_auth=True,
        close_at_exp=True,
        clock=lambda: clock[0],
    )
    sio = app(auth=auth, connection_state_recovery=RECOVERY)
    async with serving(sio):
        ws, answer = await connect(sio, {"token": token("alice", NOW + 60)})
        sid, pid = answer["sid"], answer["pid"]
        await ws.send_text('42["join","r"]')
        offset = (await event(ws))[2]
        await cut(sio, ws)
        again = {"pid": pid, "offset": offset}

        # Another user with the stolen pid: a new socket of their own; the session stays.
        _, answer = await connect(sio, {"token": token("mallory", NOW + 600), **again})
        assert answer["sid"] != sid

        # Alice's token expired meanwhile: refused, as any connect with it is.
        clock[0] = NOW + 61
        _, answer = await connect(sio, {"token": token("alice", NOW + 60), **again})
        assert answer == {"message": "unauthorized", "data": {"reason": "expired"}}

        # A fresh token of Alice's: recovered, and the socket now goes at its expiry.
        fresh_exp = NOW + 61 + 30
        _, answer = await connect(sio, {"token": token("alice", fresh_exp), **again})
        assert answer == {"sid": sid, "pid": pid}
        socket = sio.sockets.sockets[sid]
        assert socket.recovered and socket.identity == {"user": "alice"}
        clock[0] += 31
        await trio.sleep(31)
        assert sid not in sio.sockets.sockets  # "token expired": not outliving the token
        assert len(sio.sockets.adapter.recovery or ()) == 0  # and not kept either


async def test_what_happens_while_the_middlewares_run_again_arrives_once_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With ``skip_middlewares=False`` a middleware may emit, and broadcasts may come, while
    a recovered socket connects: each arrives once, after the missed events."""
    sio = app(connection_state_recovery=Recovery(skip_middlewares=False))
    during = trio.Event()

    @sio.use
    async def greet(socket: Socket, auth: dict[str, Any]) -> None:
        if socket.recovered:
            await socket.emit("mw-hello")
            during.set()
            await trio.sleep(1)

    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        await sio.to("r").emit("missed")
        async with trio.open_nursery() as nursery:

            async def broadcast_during() -> None:
                await during.wait()
                await sio.to("r").emit("during")

            nursery.start_soon(broadcast_during)
            back, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer == {"sid": sid, "pid": pid}
        names = [(await event(back))[0] for _ in range(3)]
        assert names == ["missed", "mw-hello", "during"]
        await back.send_text('42["join","r"]')
        assert (await event(back))[0] == "joined"  # nothing else was queued before it


async def test_a_missed_binary_event_comes_back_with_its_attachment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = app(connection_state_recovery=RECOVERY)
    async with serving(sio):
        ws, sid, pid, offset = await joined(sio)
        await cut(sio, ws)
        await sio.to(sid).emit("bin", b"\x01\x02")  # to its own room: logged while it is away
        back, answer = await connect(sio, {"pid": pid, "offset": offset})
        assert answer["sid"] == sid
        head = await recv(back)
        assert head.startswith('451-["bin",{"_placeholder":true,"num":0},"'), head
        assert await back.receive() == b"\x01\x02"
