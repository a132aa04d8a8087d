"""The benchmark server: minisock side of the bench-server contract (bench/README.md).

    PORT=3000 python examples/bench_server.py        # BENCH_JWT_SECRET=... turns JWT on

- ``/socket.io/``: Socket.IO on namespace ``/`` with the events ``echo`` (echoed back, or
  answered as the ack when the client asked for one), ``join`` (acked once joined) and
  ``bcast`` (``msg`` to every socket of a room, the sender included if it is a member);
- ``/engine.io/``: a plain Engine.IO echo, on the same port;
- with ``BENCH_JWT_SECRET`` set, the first request of a ``/socket.io/`` session must carry
  ``Authorization: Bearer <HS256 token>`` (issuer ``accounts.examplesoft.com``, audience
  ``yoursite.net``), otherwise HTTP 401.

minisock's defaults otherwise (limits, Origin policy, heartbeat; handlers in the reader
until they wait, in each client's order), no logging per message, one startup line on stderr;
SIGTERM stops it gracefully within a few seconds.
``BENCH_DEFLATE=1`` turns permessage-deflate on (``Deflate()``: messages of 1024 bytes or more
are compressed for clients that offer it); the load generator's ``deflate`` group uses it.
``BENCH_REDIS_URL=redis://127.0.0.1:6379`` puts the Socket.IO server on the Redis adapter
(:class:`~minisock.adapters.redis.RedisBus`, compatible with Node's
``@socket.io/redis-adapter``), so several bench servers form one cluster: a ``bcast`` on one
reaches the room's members on every other (``bench/cluster_bench.py`` measures that). The
port opens only once the bus has subscribed.

Two engine paths on one port: the Engine.IO server is mounted on the Socket.IO server
(:meth:`Server.mount`), which picks the engine by each request's path. SIGTERM (or Ctrl-C) stops
both through :func:`minisock.serve_until_signal`: close 1001 to every WebSocket, waiting polls
answered, within the engine's ``shutdown_timeout`` (2 s; the contract allows 5).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import version
from typing import Any

import trio

from minisock import Deflate, EngineServer, EngineSocket, JWTAuth, JWTVerifier, Server, Socket
from minisock.adapters import cluster_adapter
from minisock.runner import serve_until_signal

log = logging.getLogger("bench_server")

ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"


def build_socketio(
    secret: str | None,
    *,
    redis_url: str | None = None,
    deflate: bool = False,
) -> Server:
    """The Socket.IO server of the contract (section 2), on Redis when ``redis_url`` is set."""
    auth = None
    if secret:
        auth = JWTAuth(JWTVerifier(secret, issuer=ISSUER, audience=AUDIENCE))
    sio = Server(
        auth=auth,
        adapter=cluster_adapter(redis_url),
        per_message_deflate=Deflate() if deflate else False,
    )

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> tuple[Any, ...] | None:
        if socket.ack_requested:
            return args  # the ack carries the arguments, instead of the echo event
        await socket.emit("echo", *args)
        return None

    @sio.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)  # in effect before the ack, which is sent after we return

    @sio.on("bcast")
    async def bcast(socket: Socket, room: str, payload: Any) -> None:
        await sio.to(room).emit("msg", payload)

    @sio.on("*")
    async def other(socket: Socket, event: str, *args: Any) -> None:
        return None

    return sio


def build_engineio() -> EngineServer:
    """The raw Engine.IO echo of the contract (section 3)."""
    eio = EngineServer(path="/engine.io/")

    @eio.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    return eio


async def serve(
    port: int,
    secret: str | None,
    redis_url: str | None = None,
    deflate: bool = False,
) -> None:
    sio = build_socketio(secret, redis_url=redis_url, deflate=deflate)
    sio.mount(build_engineio())
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_until_signal, sio, "127.0.0.1", port)
        print(
            f"minisock bench server on http://127.0.0.1:{bound}/ "
            f"(minisock {version('minisock')}, trio {trio.__version__}, "
            f"Python {sys.version.split()[0]}, JWT {'on' if secret else 'off'}, "
            f"permessage-deflate {'on' if deflate else 'off'}, "
            f"adapter {'redis ' + redis_url if redis_url else 'in-memory'})",
            file=sys.stderr,
            flush=True,
        )


def main() -> None:
    port = int(os.environ.get("PORT", "3000"))
    secret = os.environ.get("BENCH_JWT_SECRET") or None
    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    deflate = os.environ.get("BENCH_DEFLATE", "") == "1"
    trio.run(serve, port, secret, redis_url, deflate)


if __name__ == "__main__":
    main()
