"""A msgpack server in a Redis cluster: the adapter carries unencoded packets, so a server
with ``parser="msgpack"`` and one with the default JSON parser share one cluster, and each
encodes a broadcast once, in its own clients' format (binary included, both ways)."""

from __future__ import annotations

from typing import Any

import pytest

from minisock import Server, Socket
from minisock.adapters.redis import RedisBus
from minisock.testing import SocketIOClient

from ._procs import RedisServer
from ._redis_helpers import Node, serving, wait_for

pytestmark = pytest.mark.cluster


def _node(name: str, url: str, parser: str) -> Node:
    bus = RedisBus(url)
    sio = Server(adapter=bus, parser=parser)

    @sio.on("shout")
    async def shout(socket: Socket, *args: Any) -> None:
        await socket.to().emit("shouted", *args)  # everyone else, on every node

    return Node(name, sio, bus)


async def test_a_msgpack_node_and_a_json_node_share_broadcasts(redis_server: RedisServer) -> None:
    a = _node("A", redis_server.url, "msgpack")
    b = _node("B", redis_server.url, "json")
    async with (
        serving(a),
        serving(b),
        SocketIOClient(a.port, parser="msgpack", transport="websocket") as on_a,
        SocketIOClient(b.port, transport="polling") as on_b,
    ):
        root_a, root_b = await on_a.connect(), await on_b.connect()
        await wait_for(
            "both sockets", lambda: bool(a.sio.sockets.sockets and b.sio.sockets.sockets)
        )

        await root_a.emit("shout", "from A", b"\x00\xff", {"n": [1.5, None]})
        got = await root_b.receive(timeout=5)
        assert (got.name, got.args) == ("shouted", ("from A", b"\x00\xff", {"n": [1.5, None]}))

        await root_b.emit("shout", "from B", {"bin": b"\x01"})
        got = await root_a.receive(timeout=5)
        assert (got.name, got.args) == ("shouted", ("from B", {"bin": b"\x01"}))

        await a.sio.emit("all", b"\x02")  # from the msgpack node, to both
        for root in (root_a, root_b):
            got = await root.receive(timeout=5)
            assert (got.name, got.args) == ("all", (b"\x02",))
