"""Graceful shutdown while messages flow: every session is told, no frame is cut in half.

Twenty WebSocket clients and ten polling clients keep sizeable messages moving both ways
when ``shutdown()`` comes. Each WebSocket must then end with close 1001 after whole frames
only (wsproto, an independent parser, would fail on a torn frame), and each polling client's
waiting GET must end with the close packet ``1``.
"""

from __future__ import annotations

import trio
from wsproto.utilities import LocalProtocolError

from minisock import EngineServer, EngineSocket
from minisock.testing import (
    HttpClient,
    WsClient,
    WsClosed,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
)

PAYLOAD = "x" * 60_000  # big enough that writes are still in flight at the shutdown


async def test_shutdown_under_load_tells_every_session() -> None:
    server = EngineServer(shutdown_timeout=5.0)
    reasons: list[str] = []

    @server.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)
        await sock.send(data)  # more out than in: the outboxes are busy at the end

    @server.on("disconnect")
    async def gone(sock: EngineSocket, reason: str) -> None:
        reasons.append(reason)

    ws_endings: list[int] = []
    poll_endings: list[str] = []
    ready = trio.Semaphore(0)

    async def websocket_client(port: int) -> None:
        ws = await WsClient.open(port, eio_target(transport="websocket"))
        assert str(await ws.receive()).startswith("0")
        ready.release()
        try:
            while True:
                try:
                    await ws.send_text("4" + PAYLOAD)
                except (LocalProtocolError, trio.BrokenResourceError):
                    pass  # the server has closed; what it sent before is still to be read
                message = await ws.receive()
                assert message in ("4" + PAYLOAD, "2"), "a torn or foreign frame"
        except WsClosed as closed:
            ws_endings.append(closed.code)

    async def polling_client(port: int) -> None:
        poster = await HttpClient.open(port)
        poller = await HttpClient.open(port)
        eio_sid, _ = await eio_handshake(poller)
        ready.release()
        last = ""
        while True:
            response = await eio_poll(poller, eio_sid)
            if response.status != 200:
                break
            last = response.text
            if last.endswith("1"):
                break
            await eio_post(poster, eio_sid, "4" + PAYLOAD[:1000])
        poll_endings.append(last[-1:] if last else "")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve, "127.0.0.1", 0)
            async with trio.open_nursery() as clients:
                for _ in range(20):
                    clients.start_soon(websocket_client, port)
                for _ in range(10):
                    clients.start_soon(polling_client, port)
                for _ in range(30):
                    await ready.acquire()
                await trio.sleep(0.3)  # let traffic build up
                server.shutdown()
    assert len(ws_endings) == 20
    assert sorted(ws_endings) == [1001] * 20, ws_endings
    assert poll_endings == ["1"] * 10
    assert len(reasons) == 30 and set(reasons) == {"server shutting down"}
