"""minisock.testing.WsClient reads frames that arrive in the same read as the ``101``.

A server may write its first message right behind the handshake answer (Node does, and so
can minisock); the client must not wait for more bytes before looking at what it holds.
"""

from __future__ import annotations

import trio
import trio.testing
import wsproto
import wsproto.events as wse

from minisock.testing import WsClient


async def test_a_message_in_the_same_read_as_the_101_is_received() -> None:
    client_end, server_end = trio.testing.memory_stream_pair()

    async def server() -> None:
        conn = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        while True:
            conn.receive_data(bytes(await server_end.receive_some(65536)))
            if any(isinstance(event, wse.Request) for event in conn.events()):
                break
        # The 101 and the first message in one write, so the client reads them together.
        await server_end.send_all(
            conn.send(wse.AcceptConnection()) + conn.send(wse.TextMessage(data="0{}"))
        )

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            ws = await WsClient.connect(client_end, "127.0.0.1", "/")
            assert await ws.receive() == "0{}"
