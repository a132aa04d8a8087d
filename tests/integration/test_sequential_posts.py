"""Strictly sequential POSTs, alternating between keep-alive connections, never overlap.

A client that reads a POST's ``ok`` may send its next POST at once on another keep-alive
connection (engine.io-client's fetch() transport does). If the server released the session's
"POST in progress" mark only after its answer's write returned, that next POST could be
taken for an overlapping one: ``400 overlapping POST requests``, and the session dies.

The client runs in a thread with blocking sockets, as an outside client would, so that its
next request can arrive while the server task that wrote ``ok`` waits to be resumed.
"""

from __future__ import annotations

import http.client
import json

import trio

from minisock import EngineServer
from minisock.testing import EventRecorder, running_server

POSTS = 400
CONNECTIONS = 4


def post_sequentially(port: int) -> tuple[str, list[tuple[int, int, bytes]]]:
    """Handshake, then POST ``POSTS`` times, each on the next of ``CONNECTIONS`` keep-alive
    connections, each only once the previous one was answered. Returns the failures."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(CONNECTIONS)]
    conns[0].request("GET", "/engine.io/?EIO=4&transport=polling")
    sid = json.loads(conns[0].getresponse().read()[1:])["sid"]
    failures = []
    for n in range(POSTS):
        conn = conns[n % CONNECTIONS]
        conn.request("POST", f"/engine.io/?EIO=4&transport=polling&sid={sid}", body=f"4m{n}")
        response = conn.getresponse()
        body = response.read()
        if (response.status, body) != (200, b"ok"):
            failures.append((n, response.status, body))
            break
    for conn in conns:
        conn.close()
    return sid, failures


async def test_hundreds_of_sequential_posts_across_connections_are_all_accepted() -> None:
    server = EngineServer()
    recorder = EventRecorder(server)
    with trio.fail_after(60):
        async with running_server(server) as port:
            sid, failures = await trio.to_thread.run_sync(post_sequentially, port)
            assert failures == []
            messages = await recorder.wait_messages(sid, POSTS)
            assert messages == [f"m{n}" for n in range(POSTS)]
