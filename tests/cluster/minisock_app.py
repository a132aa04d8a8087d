"""The cluster app of tests/cluster/README.md on minisock, the twin of node_app.mjs.

    python tests/cluster/minisock_app.py --port P --redis URL --name NODE_NAME [--key K]
                                         [--requests-timeout MS]

Prints one line ``ready <port>`` on stdout once it listens, which the Redis adapter allows
only after Redis confirmed its subscriptions. Logs go to stderr. Stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import trio

from minisock import AckTimeoutError, BroadcastOperator, RemoteSocket, Server, Socket
from minisock.adapters.redis import RedisBus

log = logging.getLogger("minisock_app")


def by_json(items: Iterable[Any]) -> list[Any]:
    """The canonical order of node_app.mjs: by JSON text."""
    return sorted(items, key=lambda item: json.dumps(item, separators=(",", ":")))


def build(name: str, bus: RedisBus) -> Server:
    sio = Server(adapter=bus)
    notes: list[list[Any]] = []

    @sio.on_server_side("whoami")
    async def whoami() -> str:
        return name

    @sio.on_server_side("note")
    async def note(*args: Any) -> None:
        notes.append(list(args))

    def operator(req: dict[str, Any]) -> BroadcastOperator:
        chosen = sio.local if req.get("local") else sio.sockets.to()
        return chosen.to(*req.get("to", ())).except_(*req.get("except", ()))

    async def find(target: str) -> Socket | RemoteSocket:
        for socket in await sio.fetch_sockets():
            if isinstance(socket.data, dict) and socket.data.get("name") == target:
                return socket
        raise LookupError(f"no socket named {target}")

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        socket.data.update({"name": auth.get("name"), "node": name})
        socket.join(*auth.get("rooms", ()))

    def handle(event: str) -> Callable[[Callable[..., Awaitable[Any]]], None]:
        """Every client event is acked; a failure is acked as ``{error}``."""

        def register(fn: Callable[..., Awaitable[Any]]) -> None:
            async def handler(socket: Socket, *args: Any) -> Any:
                try:
                    return await fn(socket, *args)
                except Exception as exc:
                    log.exception("%s failed", event)
                    return {"error": str(exc)}

            sio.on(event)(handler)

        return register

    @handle("join")
    async def join(socket: Socket, room: str) -> bool:
        socket.join(room)
        return True

    @handle("leave")
    async def leave(socket: Socket, room: str) -> bool:
        socket.leave(room)
        return True

    @handle("rooms")
    async def rooms(socket: Socket) -> list[str]:
        return sorted(socket.rooms)

    @handle("emit-to")
    async def emit_to(socket: Socket, req: dict[str, Any]) -> bool:
        await operator(req).emit(req["event"], *req.get("args", ()))
        return True

    @handle("fetch")
    async def fetch(socket: Socket, req: dict[str, Any]) -> list[dict[str, Any]]:
        found = [
            {"id": s.id, "name": s.data["name"], "node": s.data["node"], "rooms": sorted(s.rooms)}
            for s in await operator(req).fetch_sockets()
        ]
        return sorted(found, key=lambda item: str(item["name"]))

    @handle("call-all")
    async def call_all(socket: Socket, req: dict[str, Any]) -> dict[str, Any]:
        ask = operator(req).timeout(req["timeout"] / 1000)
        try:
            return {"responses": by_json(await ask.call(req["event"], *req.get("args", ())))}
        except AckTimeoutError as exc:
            return {"error": exc.message, "responses": by_json(exc.responses)}

    @handle("sse")
    async def sse(socket: Socket, req: dict[str, Any]) -> bool:
        await sio.server_side_emit(req["event"], *req.get("args", ()))
        return True

    @handle("sse-call")
    async def sse_call(socket: Socket, req: dict[str, Any]) -> dict[str, Any]:
        try:
            answers = await sio.server_side_call(req["event"], *req.get("args", ()))
            return {"responses": by_json(answers)}
        except AckTimeoutError as exc:
            return {"error": exc.message, "responses": by_json(exc.responses)}

    @handle("notes")
    async def get_notes(socket: Socket) -> list[list[Any]]:
        return notes

    @handle("remote-join")
    async def remote_join(socket: Socket, req: dict[str, Any]) -> bool:
        target = await find(req["name"])
        if isinstance(target, Socket):
            target.join(req["room"])
        else:
            await target.join(req["room"])
        return True

    @handle("remote-leave")
    async def remote_leave(socket: Socket, req: dict[str, Any]) -> bool:
        target = await find(req["name"])
        if isinstance(target, Socket):
            target.leave(req["room"])
        else:
            await target.leave(req["room"])
        return True

    @handle("remote-disconnect")
    async def remote_disconnect(socket: Socket, req: dict[str, Any]) -> bool:
        await (await find(req["name"])).disconnect(bool(req.get("close", False)))
        return True

    @handle("sockets-join")
    async def sockets_join(socket: Socket, req: dict[str, Any]) -> bool:
        await operator(req).sockets_join(*req["rooms"])
        return True

    @handle("sockets-leave")
    async def sockets_leave(socket: Socket, req: dict[str, Any]) -> bool:
        await operator(req).sockets_leave(*req["rooms"])
        return True

    @handle("disconnect-sockets")
    async def disconnect_sockets(socket: Socket, req: dict[str, Any]) -> bool:
        await operator(req).disconnect_sockets(bool(req.get("close", False)))
        return True

    @handle("server-count")
    async def server_count(socket: Socket) -> int:
        return await sio.sockets.adapter.server_count()

    return sio


async def run(args: argparse.Namespace) -> None:
    bus = RedisBus(args.redis, key=args.key, request_timeout=args.requests_timeout / 1000)
    sio = build(args.name, bus)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(sio.serve, "127.0.0.1", args.port)
        sys.stdout.write(f"ready {port}\n")
        sys.stdout.flush()
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                sio.shutdown()
                break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--key", default="socket.io")
    parser.add_argument("--requests-timeout", type=int, default=5000, help="milliseconds")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"[minisock_app {args.name}] %(message)s"
    )
    trio.run(run, args)


if __name__ == "__main__":
    main()
