"""The benchmark server: minisock side of the bench-server contract (bench/README.md).

    PORT=3000 python examples/bench_server.py        # BENCH_JWT_SECRET=... turns JWT on

- ``/socket.io/``: Socket.IO on namespace ``/`` with the events ``echo`` (echoed back, or
  answered as the ack when the client asked for one), ``join`` (acked once joined) and
  ``bcast`` (``msg`` to every socket of a room, the sender included if it is a member);
- ``/engine.io/``: a plain Engine.IO echo, on the same port;
- with ``BENCH_JWT_SECRET`` set, the first request of a ``/socket.io/`` session must carry
  ``Authorization: Bearer <HS256 token>`` (issuer ``accounts.examplesoft.com``, audience
  ``yoursite.net``), otherwise HTTP 401.

minisock's defaults otherwise (limits, Origin policy, heartbeat; handlers in the ordered
per-client queue), no logging per message, one startup line on stderr; SIGTERM stops it
gracefully within a few seconds. ``BENCH_INLINE_HANDLERS=1`` runs the event handlers in the
connection's reader instead (``Server(inline_handlers=True)``: none of these handlers waits
for an ack of its own client); the load generator measures that as ``minisock-inline``.
``BENCH_REDIS_URL=redis://127.0.0.1:6379`` puts the Socket.IO server on the Redis adapter
(:class:`~minisock.adapters.redis.RedisBus`, compatible with Node's
``@socket.io/redis-adapter``), so several bench servers form one cluster: a ``bcast`` on one
reaches the room's members on every other (``bench/cluster_bench.py`` measures that). The
port opens only once the bus has subscribed.

Two engine paths on one port: an :class:`~minisock.EngineServer` serves one path, so this
server opens the listener itself and hands each accepted connection to the right server's
public ``handle_connection``, choosing by the path of the first request line, which it reads
with ``MSG_PEEK`` so the bytes stay in the socket for the server that takes the connection.
A keep-alive connection stays with the server its first request chose.
"""

from __future__ import annotations

import logging
import os
import signal
import socket as _socket
import sys
from importlib.metadata import version
from typing import Any

import trio

from minisock import EngineServer, EngineSocket, JWTAuth, JWTVerifier, Server, Socket
from minisock.adapters import cluster_adapter

log = logging.getLogger("bench_server")

ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
ENGINE_PATH = b"/engine.io"
_PEEK_LIMIT = 8192
_PEEK_TIMEOUT = 10.0
_GRACE = 3.0  # seconds for the graceful part of a SIGTERM stop; the contract allows 5


def build_socketio(
    secret: str | None, *, inline_handlers: bool = False, redis_url: str | None = None
) -> Server:
    """The Socket.IO server of the contract (section 2), on Redis when ``redis_url`` is set."""
    auth = None
    if secret:
        auth = JWTAuth(JWTVerifier(secret, issuer=ISSUER, audience=AUDIENCE))
    sio = Server(auth=auth, inline_handlers=inline_handlers, adapter=cluster_adapter(redis_url))

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


async def _first_line_path(stream: trio.SocketStream) -> bytes | None:
    """The request-target path of the first request line, peeked, not consumed."""
    sock = stream.socket
    with trio.move_on_after(_PEEK_TIMEOUT):
        while True:
            data = await sock.recv(_PEEK_LIMIT, _socket.MSG_PEEK)
            if not data:
                return None
            end = data.find(b"\r\n")
            if end >= 0 or len(data) >= _PEEK_LIMIT:
                parts = data[: end if end >= 0 else len(data)].split(b" ")
                return parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            await trio.sleep(0.001)  # the line is still arriving; peeking again would spin
    return None


async def serve(
    port: int, secret: str | None, inline_handlers: bool, redis_url: str | None = None
) -> None:
    sio = build_socketio(secret, inline_handlers=inline_handlers, redis_url=redis_url)
    eio = build_engineio()

    async def dispatch(stream: trio.SocketStream) -> None:
        path = await _first_line_path(stream)
        if path is None:
            await trio.aclose_forcefully(stream)
        elif path.startswith(ENGINE_PATH):
            await eio.handle_connection(stream)
        else:
            await sio.engine.handle_connection(stream)

    stopped = {sio: trio.Event(), eio: trio.Event()}

    async def run(
        server: Server | EngineServer,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            await server.serve_listeners([], task_status=task_status)
        finally:
            stopped[server].set()

    async with trio.open_nursery() as nursery:
        await nursery.start(run, sio)  # the servers' own tasks (timers), no listener
        await nursery.start(run, eio)
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=4096)
        accepting = trio.CancelScope()

        async def accept(connections: trio.Nursery) -> None:
            with accepting:
                await trio.serve_listeners(dispatch, listeners, handler_nursery=connections)

        async with trio.open_nursery() as connections:
            connections.start_soon(accept, connections)
            print(
                f"minisock bench server on http://127.0.0.1:{port}/ "
                f"(minisock {version('minisock')}, trio {trio.__version__}, "
                f"Python {sys.version.split()[0]}, JWT {'on' if secret else 'off'}, "
                f"inline handlers {'on' if inline_handlers else 'off'}, "
                f"adapter {'redis ' + redis_url if redis_url else 'in-memory'})",
                file=sys.stderr,
                flush=True,
            )
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    break
            accepting.cancel()  # stop accepting; the connections go on
            for listener in listeners:
                await listener.aclose()
            sio.shutdown()  # close 1001 to every WebSocket, answer pending polls
            eio.shutdown()
            with trio.move_on_after(_GRACE):
                for event in stopped.values():
                    await event.wait()
            connections.cancel_scope.cancel()
        nursery.cancel_scope.cancel()


def main() -> None:
    port = int(os.environ.get("PORT", "3000"))
    secret = os.environ.get("BENCH_JWT_SECRET") or None
    inline_handlers = os.environ.get("BENCH_INLINE_HANDLERS", "") == "1"
    redis_url = os.environ.get("BENCH_REDIS_URL") or None
    trio.run(serve, port, secret, inline_handlers, redis_url)


if __name__ == "__main__":
    main()
