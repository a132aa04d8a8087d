"""A client that resets its connection mid-write takes down only itself.

Once, a reset while the WebSocket writer was sending escaped as an exception group and
ended ``serve()`` for everyone.
"""

from __future__ import annotations

import os
import socket
import struct

import trio

from minisock import EngineServer, EngineSocket
from minisock.proto.ws import Opcode, encode_client_frame
from minisock.testing import running_server

UPGRADE = (
    b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _handshake(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
        other.sendall(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        return other.recv(200)


async def test_a_reset_while_writing_leaves_the_server_serving() -> None:
    server = EngineServer(max_payload=2_000_000)
    reasons: list[str] = []

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    @server.on("disconnect")
    async def gone(sock: EngineSocket, reason: str) -> None:
        reasons.append(reason)

    with trio.fail_after(20):
        async with running_server(server) as port:
            payload = os.urandom(1_500_000)  # far more than the client's buffers hold
            clients: list[socket.socket] = []

            def connect() -> None:
                client = socket.create_connection(("127.0.0.1", port))
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                client.sendall(UPGRADE)
                client.sendall(encode_client_frame(Opcode.BINARY, payload, b"\x01\x02\x03\x04"))
                clients.append(client)

            await trio.to_thread.run_sync(connect)
            while not server.sessions:
                await trio.sleep(0.01)
            await trio.sleep(0.3)  # the server is now blocked writing the echo
            clients[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            clients[0].close()  # RST
            while server.sessions:
                await trio.sleep(0.01)
            answer = await trio.to_thread.run_sync(_handshake, port)
            assert answer.startswith(b"HTTP/1.1 200 OK")
    assert reasons and reasons[0] in ("transport error", "transport close")
