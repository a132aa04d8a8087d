"""``compress(False)`` keeps its flag across Redis (the reference's ``flags.compress``).

Node A broadcasts; the client is on node B, on long-polling, and accepts gzip. A poll answer
holding only the packet sent with ``compress(False)`` goes plain; one holding a packet sent
without it goes gzipped, as Node's polling transport decides.
"""

from __future__ import annotations

import gzip

import pytest

from minisock.testing import HttpClient, eio_handshake, eio_post

from ._procs import RedisServer
from ._redis_helpers import build_node, serving, wait_for

pytestmark = pytest.mark.cluster

PATH = "/socket.io/"
BIG = "z" * 4000


async def test_compress_false_crosses_redis(redis_server: RedisServer) -> None:
    a = build_node("A", redis_server.url)
    b = build_node("B", redis_server.url)
    async with serving(a), serving(b):
        client = await HttpClient.open(b.port)
        sid, _ = await eio_handshake(client, PATH)
        assert (await eio_post(client, sid, "40", PATH)).status == 200
        target = f"{PATH}?EIO=4&transport=polling&sid={sid}"
        accept = [("Accept-Encoding", "gzip")]
        assert (await client.get(target, headers=accept)).body.startswith(b"40{")
        await wait_for("the socket on B", lambda: bool(b.sio.sockets.sockets))
        session = b.sio.engine.sessions[sid]

        await a.sio.compress(False).emit("plain", BIG)
        await wait_for("plain queued on B", lambda: bool(session.state.outbox))
        answer = await client.get(target, headers=accept)
        assert answer.header("content-encoding") is None
        assert answer.body == f'42["plain","{BIG}"]'.encode()

        await a.sio.emit("packed", BIG)
        await wait_for("packed queued on B", lambda: bool(session.state.outbox))
        answer = await client.get(target, headers=accept)
        assert answer.header("content-encoding") == "gzip"
        assert gzip.decompress(answer.body) == f'42["packed","{BIG}"]'.encode()
        await client.aclose()
