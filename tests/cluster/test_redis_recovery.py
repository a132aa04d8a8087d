"""Connection state recovery with the Redis adapter: sessions are kept per server.

Node's ``@socket.io/redis-adapter`` 8.x extends the base in-memory ``Adapter``, whose
``persistSession`` does nothing and ``restoreSession`` finds nothing: with it, Node sends a
``pid`` but never recovers. minisock keeps each server's sessions and offsets in that
server's memory, as its in-memory adapter does, and logs the broadcasts that come from the
other servers too. So a client that comes back *to the same server* is recovered, with the
events the other servers broadcast meanwhile; one that lands on another server names an
offset that server never gave, and is a new socket there.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from minisock import Recovery, Server, Socket
from minisock.adapters.redis import RedisBus
from minisock.testing import WsClient, eio_target

from ._procs import RedisServer
from ._redis_helpers import Node, serving, wait_for

pytestmark = pytest.mark.cluster

WS_TARGET = eio_target("/socket.io/", transport="websocket")


def node(name: str, url: str) -> Node:
    bus = RedisBus(url)
    sio = Server(adapter=bus, connection_state_recovery=Recovery(max_disconnection_duration=60))

    @sio.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)
        await socket.emit("joined", room)

    return Node(name, sio, bus)


async def recv(ws: WsClient) -> str:
    while True:
        message = await ws.receive()
        assert isinstance(message, str)
        if message != "2":
            return message
        await ws.send_text("3")


async def connect(port: int, auth: dict[str, Any] | None = None) -> tuple[WsClient, Any]:
    ws = await WsClient.open(port, WS_TARGET)
    assert (await recv(ws)).startswith("0")
    await ws.send_text("40" + (json.dumps(auth) if auth is not None else ""))
    answer = await recv(ws)
    assert answer.startswith("40"), answer
    return ws, json.loads(answer[2:])


async def event(ws: WsClient) -> list[Any]:
    message = await recv(ws)
    assert message.startswith("42"), message
    data: list[Any] = json.loads(message[2:])
    return data


async def test_recovered_on_the_same_server_with_the_other_servers_broadcasts(
    redis_server: RedisServer,
) -> None:
    a, b = node("A", redis_server.url), node("B", redis_server.url)
    async with serving(a), serving(b):
        ws, answer = await connect(b.port)
        sid, pid = answer["sid"], answer["pid"]
        await ws.send_text('42["join","r"]')
        offset = (await event(ws))[2]
        await ws.aclose()
        await wait_for("B to see the cut", lambda: sid not in b.sio.sockets.sockets)

        await a.sio.to("r").emit("one")  # through Redis, to a room with no member left on B
        await a.sio.emit("two")
        log = b.sio.sockets.adapter.recovery
        assert log is not None
        await wait_for("B to log both", lambda: log.logged == 3)  # "joined", "one", "two"

        # On A, the offset and the pid mean nothing: a new socket.
        other, answer = await connect(a.port, {"pid": pid, "offset": offset})
        assert answer["sid"] != sid
        await other.aclose()

        back, answer = await connect(b.port, {"pid": pid, "offset": offset})
        assert answer == {"sid": sid, "pid": pid}
        one, two = await event(back), await event(back)
        assert (one[0], two[0]) == ("one", "two")
        assert b.sio.sockets.sockets[sid].rooms == {sid, "r"}
        await back.aclose()
