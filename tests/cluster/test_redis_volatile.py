"""A volatile broadcast keeps its flag across Redis (the reference's ``flags.volatile``).

Node A broadcasts; the client is on node B, on long-polling with no GET waiting, so node B
must drop the volatile packet (and count it) and deliver the plain one; once a GET waits,
a volatile broadcast from A reaches it.
"""

from __future__ import annotations

import pytest
import trio

from minisock.testing import HttpClient, eio_handshake, eio_poll, eio_post

from ._procs import RedisServer
from ._redis_helpers import build_node, serving, wait_for

pytestmark = pytest.mark.cluster

PATH = "/socket.io/"


async def test_a_volatile_broadcast_from_another_node_is_dropped_where_not_writable(
    redis_server: RedisServer,
) -> None:
    a = build_node("A", redis_server.url)
    b = build_node("B", redis_server.url)
    async with serving(a), serving(b):
        client = await HttpClient.open(b.port)
        sid, _ = await eio_handshake(client, PATH)
        assert (await eio_post(client, sid, "40", PATH)).status == 200
        assert (await eio_poll(client, sid, PATH)).body.startswith(b"40{")
        await wait_for("the socket on B", lambda: bool(b.sio.sockets.sockets))
        session = b.sio.engine.sessions[sid]
        assert not session.state.poll_pending

        await a.sio.volatile.emit("v1")  # C is not polling: dropped on B
        await a.sio.emit("n1")
        await wait_for("n1 queued on B", lambda: bool(session.state.outbox))
        assert b.sio.stats.volatile_dropped == 1
        assert (await eio_poll(client, sid, PATH)).body == b'42["n1"]'

        async with trio.open_nursery() as nursery:
            answers: list[bytes] = []

            async def poll() -> None:
                answers.append((await eio_poll(client, sid, PATH)).body)

            nursery.start_soon(poll)
            await wait_for("a GET waiting on B", lambda: session.state.poll_pending)
            await a.sio.volatile.emit("v2")
        assert answers == [b'42["v2"]']
        assert b.sio.stats.volatile_dropped == 1
        await client.aclose()
