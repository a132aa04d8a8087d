"""The python-socketio peer of the bench-server contract: python-socketio 5 on uvicorn (ASGI).

    PORT=3001 bench/.venv/bin/python bench/peers/python_socketio_server.py

Idiomatic python-socketio with its defaults (handlers run as tasks, same-origin only,
pingInterval 25 s / pingTimeout 20 s, maxPayload 1,000,000), on uvicorn's fastest standard
stack (uvloop, httptools, websockets), one worker. ``/engine.io/`` is a plain python-engineio
server in the same ASGI app. With ``BENCH_JWT_SECRET`` the connect handler checks the
handshake's bearer token (PyJWT) and refuses with CONNECT_ERROR ``unauthorized``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import engineio
import jwt
import socketio
import uvicorn

ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
SECRET = os.environ.get("BENCH_JWT_SECRET") or None


class BenchServer(socketio.AsyncServer):  # type: ignore[misc]
    """A handler cannot see whether the client asked for an ack; ``echo`` must answer with
    either the ack or the echo event. So an ``echo`` without an ack id is routed to the
    handler ``echo:noack`` (this hook is python-socketio's own dispatch step)."""

    async def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: Any
    ) -> None:
        if id is None and data and data[0] == "echo":
            data = ["echo:noack", *data[1:]]
        await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


sio = BenchServer(async_mode="asgi")


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
    if SECRET is None:
        return
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise socketio.exceptions.ConnectionRefusedError("unauthorized")
    try:
        jwt.decode(
            token.strip(),
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.InvalidTokenError as exc:
        raise socketio.exceptions.ConnectionRefusedError("unauthorized") from exc


@sio.on("echo")
async def echo(sid: str, *args: Any) -> tuple[Any, ...]:
    return args  # becomes the ack


@sio.on("echo:noack")
async def echo_noack(sid: str, *args: Any) -> None:
    await sio.emit("echo", args, to=sid)


@sio.on("join")
async def join(sid: str, room: str) -> None:
    await sio.enter_room(sid, room)


@sio.on("bcast")
async def bcast(sid: str, room: str, payload: Any) -> None:
    await sio.emit("msg", payload, to=room)


eio = engineio.AsyncServer(async_mode="asgi")


@eio.on("message")
async def eio_echo(eio_sid: str, data: Any) -> None:
    await eio.send(eio_sid, data)


app = socketio.ASGIApp(
    sio,
    other_asgi_app=engineio.ASGIApp(eio, engineio_path="engine.io"),
    socketio_path="socket.io",
)


def main() -> None:
    port = int(os.environ.get("PORT", "3001"))
    from importlib.metadata import version

    print(
        f"python-socketio {version('python-socketio')} / python-engineio "
        f"{version('python-engineio')} on uvicorn {uvicorn.__version__}, port {port}, "
        f"JWT {'on' if SECRET else 'off'}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
