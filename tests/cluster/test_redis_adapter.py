"""The Redis adapter under interleavings: in-process minisock servers on a real redis-server,
real WebSocket clients, and (where the order of answers must be forced) a third "server"
made of two plain RESP connections that reads requests and answers them by hand.

- Concurrent fetch_sockets from one node each get their own answers.
- A broadcast call() gathers acks arriving interleaved from two other nodes, a client count
  after its node's acks included, and does not finish early.
- Integers beyond 2**53 raise ClusterEncodeError (a ValueError) to the caller before anything
  is delivered, locally or anywhere else.
- A broadcast call() while Redis is down fails with ClusterError before reaching a client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from minisock import ClusterError
from minisock.adapters.redis import RedisAdapter
from minisock.proto.cluster import (
    ClusterEncodeError,
    ClusterResponse,
    RequestType,
    decode_request,
    encode_response,
)

from ._procs import RedisServer
from ._redis_helpers import RawRedis, SioClient, build_node, serving, wait_for

pytestmark = pytest.mark.cluster


def names(sockets: list[Any]) -> list[str]:
    return sorted(s.data["name"] for s in sockets)


async def test_concurrent_fetch_sockets_from_one_node_get_their_own_answers(
    redis_server: RedisServer,
) -> None:
    a = build_node("A", redis_server.url)
    b = build_node("B", redis_server.url)
    async with serving(a), serving(b):
        layout = {
            "a1": (a, ["r1"]),
            "a2": (a, ["r2"]),
            "b1": (b, ["r1"]),
            "b2": (b, ["r2", "r3"]),
            "b3": (b, ["r3"]),
        }
        clients = [
            await SioClient.connect(node.port, {"name": name, "rooms": rooms})
            for name, (node, rooms) in layout.items()
        ]
        expected = {
            (): ["a1", "a2", "b1", "b2", "b3"],
            ("r1",): ["a1", "b1"],
            ("r2",): ["a2", "b2"],
            ("r3",): ["b2", "b3"],
            ("r1", "r3"): ["a1", "b1", "b2", "b3"],
            ("nobody",): [],
        }
        results: list[tuple[str, tuple[str, ...], list[str]]] = []

        async def fetch(node_name: str, rooms: tuple[str, ...]) -> None:
            node = a if node_name == "A" else b
            found = await node.sio.in_(*rooms).fetch_sockets()
            results.append((node_name, rooms, names(found)))

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                for rooms in expected:
                    nursery.start_soon(fetch, "A", rooms)
                    nursery.start_soon(fetch, "B", rooms)
        assert len(results) == 5 * len(expected) * 2
        for node_name, rooms, found in results:
            assert found == expected[rooms], (node_name, rooms, found)
        for node in (a, b):
            adapter = node.sio.sockets.adapter
            assert isinstance(adapter, RedisAdapter)
            assert len(adapter.pending) == 0
        for client in clients:
            await client.aclose()


async def test_a_broadcast_call_gathers_acks_interleaved_from_two_nodes(
    redis_server: RedisServer,
) -> None:
    """A asks; B (a minisock server) and C (answered by hand) reply. C sends one ack before
    its client count and one after, between B's acks and A's own: the call waits for all
    five answers, and returns them."""
    a = build_node("A", redis_server.url)
    b = build_node("B", redis_server.url)
    adapter = a.sio.sockets.adapter
    assert isinstance(adapter, RedisAdapter)
    c_sub = await RawRedis.open(redis_server.port)
    c_pub = await RawRedis.open(redis_server.port)
    assert (await c_sub.command("SUBSCRIBE", adapter.channels.request))[0] == b"subscribe"
    async with serving(a), serving(b):
        a1 = await SioClient.connect(a.port, {"name": "a1"})
        b1 = await SioClient.connect(b.port, {"name": "b1"})
        b2 = await SioClient.connect(b.port, {"name": "b2"})
        assert await adapter.server_count() == 3
        result: list[Any] = []

        async def ask() -> None:
            result.append(await a.sio.timeout(5).call("q", "question"))

        async def c_answers(request_id: str, *answers: ClusterResponse) -> None:
            for answer in answers:
                await c_pub.publish(adapter.channels.response, encode_response(answer))

        def c_ack(request_id: str, value: str) -> ClusterResponse:
            return ClusterResponse(RequestType.BROADCAST_ACK, request_id, packet=value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            with trio.fail_after(5):
                kind, _, data = await c_sub.reply()
            assert kind == b"message"
            request = decode_request(data)
            assert request.type is RequestType.BROADCAST and request.request_id is not None
            rid = request.request_id
            asked = {}
            for client in (a1, b1, b2):
                packet = await client.next_event()
                assert packet.event == "q" and packet.args == ["question"]
                assert packet.ack_id is not None
                asked[client] = packet.ack_id

            await c_answers(rid, c_ack(rid, "c1"))  # before C said how many it asked
            await b1.answer(asked[b1], "b1")
            await a1.answer(asked[a1], "a1")
            count = ClusterResponse(RequestType.BROADCAST_CLIENT_COUNT, rid, client_count=2)
            await c_answers(rid, count)
            await b2.answer(asked[b2], "b2", "ignored second argument")
            await trio.sleep(0.3)
            assert result == []  # C still owes one ack
            await c_answers(rid, c_ack(rid, "c2"))
        assert sorted(result[0]) == ["a1", "b1", "b2", "c1", "c2"]
        for client in (a1, b1, b2):
            await client.aclose()
    await c_sub.aclose()
    await c_pub.aclose()


BIG = 2**53 + 1


async def test_integers_beyond_2_53_raise_before_anything_is_delivered(
    redis_server: RedisServer,
) -> None:
    a = build_node("A", redis_server.url)
    b = build_node("B", redis_server.url)
    async with serving(a), serving(b):
        a1 = await SioClient.connect(a.port, {"name": "a1", "rooms": ["r"]})
        a2 = await SioClient.connect(a.port, {"name": "a2"})
        b1 = await SioClient.connect(b.port, {"name": "b1", "rooms": ["r"]})
        socket = a.sio.sockets.sockets[a1.sid]
        attempts: dict[str, Callable[[], Awaitable[Any]]] = {
            "emit": lambda: a.sio.emit("x", BIG),
            "to(r).emit, nested": lambda: a.sio.to("r").emit("x", {"n": [1, -BIG]}),
            "except_().emit": lambda: a.sio.except_("r").emit("x", [BIG]),
            "socket.to().emit": lambda: socket.to().emit("x", 2**64),
            "timeout().call": lambda: a.sio.timeout(2).call("x", BIG),
            "server_side_emit": lambda: a.sio.server_side_emit("note", BIG),
            "server_side_call": lambda: a.sio.server_side_call("whoami", BIG),
        }
        for what, attempt in attempts.items():
            with pytest.raises(ClusterEncodeError) as caught:
                await attempt()
            assert isinstance(caught.value, ValueError), what
            assert "2**53" in str(caught.value), (what, str(caught.value))
        # 2**53 itself is fine; as the fence it also shows that nothing came before it.
        await a.sio.emit("fence", 2**53, -(2**53))
        for client in (a1, a2, b1):
            assert await client.events_until("fence") == []
        await trio.sleep(0.1)
        assert a.server_side == b.server_side == []
        for client in (a1, a2, b1):
            await client.aclose()


async def test_a_broadcast_call_while_redis_is_down_fails_before_reaching_a_client(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "minisock.redis")
    a = build_node("A", redis_server.url)
    async with serving(a):
        a1 = await SioClient.connect(a.port, {"name": "a1"})
        await trio.to_thread.run_sync(redis_server.kill)
        await wait_for("the bus to notice", lambda: not a.bus.connected)
        start = trio.current_time()
        with pytest.raises(ClusterError):
            await a.sio.timeout(5).call("q")
        assert trio.current_time() - start < 1.0
        await a.sio.local.emit("fence")
        assert await a1.events_until("fence") == []
        await a1.aclose()
