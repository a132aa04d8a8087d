"""The server the official Socket.IO protocol test suite expects.

    python examples/socketio_suite.py --port 3000

Namespaces ``/`` and ``/custom``; on connect each emits ``auth`` with the CONNECT payload;
on ``/``, ``message`` is answered with ``message-back`` and ``message-with-ack`` is acked,
both with the same arguments (binary kept). pingInterval 300 ms, pingTimeout 200 ms and
connectTimeout 1000 ms by default, as the suite assumes. ``--recovery SECONDS`` turns on
connection state recovery with that ``max_disconnection_duration``, ``--parser msgpack``
speaks socket.io-msgpack-parser instead of the default JSON parser, ``--deflate`` turns
permessage-deflate on (at the default threshold, 1024 bytes), and ``--no-http-compression``
turns off the compression of polling answers.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from minisock import Recovery, Server, Socket, trace
from minisock.adapters import AdapterFactory, cluster_adapter
from minisock.adapters.local import LocalAdapter
from minisock.runner import run

log = logging.getLogger("socketio_suite")


def build_server(
    *,
    adapter: AdapterFactory = LocalAdapter,
    ping_interval_ms: int = 300,
    ping_timeout_ms: int = 200,
    connect_timeout_ms: int = 1000,
    recovery: Recovery | None = None,
    parser: str = "json",
    deflate: bool = False,
    http_compression: bool = True,
) -> Server:
    sio = Server(
        adapter=adapter,
        parser=parser,
        ping_interval=ping_interval_ms / 1000,
        ping_timeout=ping_timeout_ms / 1000,
        connect_timeout=connect_timeout_ms / 1000,
        connection_state_recovery=recovery,
        per_message_deflate=deflate,
        http_compression=http_compression,
    )

    async def send_auth(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("auth", auth)

    sio.on("connect")(send_auth)
    sio.of("/custom").on("connect")(send_auth)

    @sio.on("message")
    async def message(socket: Socket, *args: Any) -> None:
        await socket.emit("message-back", *args)

    @sio.on("message-with-ack")
    async def message_with_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return sio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--ping-interval", type=int, default=300, help="milliseconds")
    parser.add_argument("--ping-timeout", type=int, default=200, help="milliseconds")
    parser.add_argument("--connect-timeout", type=int, default=1000, help="milliseconds")
    parser.add_argument("--trace", action="store_true", help="print every packet (stderr)")
    parser.add_argument("--redis", metavar="URL", help="join a cluster on this Redis")
    parser.add_argument("--redis-key", default="socket.io", help="the cluster's channel prefix")
    parser.add_argument("--recovery", type=float, metavar="SECONDS", help="state recovery")
    parser.add_argument(
        "--parser", choices=["json", "msgpack"], default="json", help="the wire format"
    )
    parser.add_argument("--deflate", action="store_true", help="permessage-deflate on")
    parser.add_argument(
        "--no-http-compression", action="store_true", help="polling answers uncompressed"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.trace:
        trace.enable()
    sio = build_server(
        adapter=cluster_adapter(args.redis, args.redis_key),
        ping_interval_ms=args.ping_interval,
        ping_timeout_ms=args.ping_timeout,
        connect_timeout_ms=args.connect_timeout,
        recovery=Recovery(max_disconnection_duration=args.recovery) if args.recovery else None,
        parser=args.parser,
        deflate=args.deflate,
        http_compression=not args.no_http_compression,
    )
    log.info("Socket.IO suite server on http://%s:%d/socket.io/", args.host, args.port)
    run(sio, args.host, args.port)  # until Ctrl-C or SIGTERM, then a graceful shutdown


if __name__ == "__main__":
    main()
