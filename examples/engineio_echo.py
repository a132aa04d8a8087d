"""An Engine.IO echo server: every message comes back to its sender, text as text, binary as binary.

    python examples/engineio_echo.py --port 3000 --ping-interval 300 --ping-timeout 200

With those flags it is the server the official Engine.IO protocol test suite expects.
"""

from __future__ import annotations

import argparse
import logging

from minisock import EngineServer, EngineSocket, trace
from minisock.runner import run

log = logging.getLogger("engineio_echo")


def build_server(
    *, ping_interval_ms: int = 25000, ping_timeout_ms: int = 20000, max_payload: int = 1_000_000
) -> EngineServer:
    server = EngineServer(
        ping_interval=ping_interval_ms / 1000,
        ping_timeout=ping_timeout_ms / 1000,
        max_payload=max_payload,
    )

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--ping-interval", type=int, default=25000, help="milliseconds")
    parser.add_argument("--ping-timeout", type=int, default=20000, help="milliseconds")
    parser.add_argument("--max-payload", type=int, default=1_000_000, help="bytes")
    parser.add_argument("--trace", action="store_true", help="print every packet (stderr)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.trace:
        trace.enable()
    server = build_server(
        ping_interval_ms=args.ping_interval,
        ping_timeout_ms=args.ping_timeout,
        max_payload=args.max_payload,
    )
    log.info("Engine.IO echo server on http://%s:%d/engine.io/", args.host, args.port)
    run(server, args.host, args.port)  # until Ctrl-C or SIGTERM, then a graceful shutdown


if __name__ == "__main__":
    main()
