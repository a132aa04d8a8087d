"""Child namespaces made at runtime on the Redis adapter: two in-process minisock servers on a
real redis-server, real WebSocket clients, and a plain RESP connection asking Redis who
listens (``PUBSUB NUMSUB`` / ``NUMPAT``).

A child made by a client's CONNECT subscribes to its own channels, so a broadcast to it from
the other server (to the child, or through the parent) arrives. With
``cleanup_empty_child_namespaces`` the child goes when its last socket leaves, and its
channels are unsubscribed: the other server stops counting this one for that namespace.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio

from minisock import Server, Socket
from minisock.adapters.redis import RedisAdapter
from minisock.proto.cluster import Channels

from ._procs import RedisServer
from ._redis_helpers import RawRedis, SioClient, build_node, serving, wait_for

pytestmark = pytest.mark.cluster

DIGITS = re.compile(r"^/room-\d+$")


def with_rooms(url: str, name: str) -> tuple[Any, Server]:
    """A node of the helpers' test app, plus a parent ``/room-N`` that echoes ``where``."""
    node = build_node(name, url)
    sio = node.sio
    sio.cleanup_empty_child_namespaces = True
    parent = sio.of(DIGITS)

    @parent.on("where")
    async def where(socket: Socket) -> str:
        return f"{name}{socket.nsp}"

    return node, sio


async def listeners(redis: RawRedis, channel: str) -> int:
    reply = await redis.command("PUBSUB", "NUMSUB", channel)
    assert isinstance(reply[1], int), reply
    return reply[1]


async def pattern_listeners(redis: RawRedis, channels: Channels) -> int:
    """How many servers the namespace's broadcast pattern reaches: a publish to a room nobody
    is in (each server drops it undecoded) returns the number of receivers."""
    return await redis.publish(channels.room("nobody-is-here"), b"unread")


async def test_a_child_made_at_runtime_crosses_servers_and_unsubscribes_once_empty(
    redis_server: RedisServer,
) -> None:
    a, sio_a = with_rooms(redis_server.url, "A")
    b, sio_b = with_rooms(redis_server.url, "B")
    channels = Channels("socket.io", "/room-1")
    redis = await RawRedis.open(redis_server.port)
    async with serving(a), serving(b):
        on_a = await SioClient.connect(a.port, nsp="/room-1")
        on_b = await SioClient.connect(b.port, nsp="/room-1")
        assert await on_b.call("where") == "B/room-1"
        await wait_for("both servers on /room-1", lambda: _subscribed(sio_a) and _subscribed(sio_b))

        async def two_listen() -> bool:
            return await listeners(redis, channels.request) == 2

        with trio.fail_after(5):
            while not await two_listen():
                await trio.sleep(0.01)
        assert await pattern_listeners(redis, channels) == 2

        await sio_a.of("/room-1").emit("direct", 1)  # the child, on every server
        await sio_a.parents[0].emit("through-parent", 2)
        for client in (on_a, on_b):
            got = [await client.next_event(), await client.next_event()]
            assert [(e.nsp, e.event, e.args) for e in got] == [
                ("/room-1", "direct", [1]),
                ("/room-1", "through-parent", [2]),
            ]

        # B's last socket leaves: B's child goes, and B stops listening to its channels.
        await on_b.aclose()
        await wait_for("B's child to go", lambda: "/room-1" not in sio_b.namespaces)
        assert "/room-1" not in b.bus.adapters
        with trio.fail_after(5):
            while await listeners(redis, channels.request) != 1:
                await trio.sleep(0.01)
        assert await listeners(redis, channels.response) == 1
        assert await pattern_listeners(redis, channels) == 1
        child_a = sio_a.namespaces["/room-1"].adapter
        assert isinstance(child_a, RedisAdapter)
        assert await child_a.server_count() == 1
        await sio_a.of("/room-1").emit("alone", 3)  # B ignores it; A's client still gets it
        assert (await on_a.next_event()).event == "alone"

        # Back on B: made again, subscribed again, reachable again.
        again = await SioClient.connect(b.port, nsp="/room-1")
        with trio.fail_after(5):
            while await listeners(redis, channels.request) != 2:
                await trio.sleep(0.01)
        await sio_a.of("/room-1").emit("welcome-back", 4)
        assert (await again.next_event()).args == [4]
        for client in (on_a, again):
            await client.aclose()


async def test_a_child_closed_before_its_subscription_ran_ends_unsubscribed(
    redis_server: RedisServer,
) -> None:
    """Made and closed within one scheduling round, then made again: the last change wins,
    whatever order the subscribe and unsubscribe tasks run in."""
    node = build_node("A", redis_server.url)
    sio = node.sio
    sio.cleanup_empty_child_namespaces = True
    parent = sio.of(DIGITS)
    redis = await RawRedis.open(redis_server.port)
    channels = Channels("socket.io", "/room-5")
    async with serving(node):
        for round_ in range(3):
            child = sio.of("/room-5")
            parent.close_child(child)
            await trio.sleep(0.2)
            assert await listeners(redis, channels.request) == 0, round_
            assert await pattern_listeners(redis, channels) == 0, round_
            kept = sio.of("/room-5")
            with trio.fail_after(5):
                while await listeners(redis, channels.request) != 1:
                    await trio.sleep(0.01)
            parent.close_child(kept)
            with trio.fail_after(5):
                while await listeners(redis, channels.request) != 0:
                    await trio.sleep(0.01)
            assert await pattern_listeners(redis, channels) == 0
            assert "/room-5" not in node.bus.adapters


def _subscribed(sio: Server) -> bool:
    namespace = sio.namespaces.get("/room-1")
    return namespace is not None and isinstance(namespace.adapter, RedisAdapter)
