"""An Engine.IO app cannot send text holding the record separator ``\\x1e``.

Long-polling joins packets with ``\\x1e`` (Engine.IO v4 spec, "Payload"), which "assumes the
record separator is not used" in text. A message holding it would reach a polling client
as two broken packets, so :meth:`EngineSocket.send` refuses it with
:class:`~minisock.RecordSeparatorError` before anything is queued, on either transport (a
session may move to another transport with its messages still queued). The session, and
every other session, carries on as if nothing had happened.

Real servers on 127.0.0.1; the clients are minisock.testing's h11 and wsproto clients.
"""

from __future__ import annotations

import trio

from minisock import EngineServer, EngineSocket, RecordSeparatorError
from minisock.testing import (
    HttpClient,
    WsClient,
    eio_handshake,
    eio_poll,
    eio_post,
    running_server,
)

LIMIT = 5.0
BAD = "one\x1etwo"


class App:
    """Echoes every message; on ``bad`` it tries to send text holding ``\\x1e`` (both ways)
    and reports what happened instead."""

    def __init__(self) -> None:
        self.server = EngineServer()
        self.refusals: list[str] = []
        self.server.on("message")(self.on_message)

    async def on_message(self, sock: EngineSocket, data: str | bytes) -> None:
        if data != "bad":
            await sock.send(data)
            return
        queued = list(sock.state.outbox)
        try:
            await sock.send(BAD)
        except RecordSeparatorError as error:
            self.refusals.append(f"send: {error}")
        try:
            sock.send_nowait(BAD)
        except RecordSeparatorError as error:
            self.refusals.append(f"send_nowait: {error}")
        assert list(sock.state.outbox) == queued  # nothing of it was queued
        await sock.send(f"refused {len(self.refusals)}")


def expected_refusals() -> list[str]:
    reason = (
        "an Engine.IO text message cannot contain the record separator \\x1e: "
        "long-polling uses it between packets (send bytes, or escape it)"
    )
    return [f"send: {reason}", f"send_nowait: {reason}"]


async def test_polling_refuses_the_send_and_the_session_goes_on() -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with (
            running_server(app.server) as port,
            await HttpClient.open(port) as client,
            await HttpClient.open(port) as bystander,
        ):
            sid, _ = await eio_handshake(client)
            other, _ = await eio_handshake(bystander)
            assert (await eio_post(client, sid, "4bad")).body == b"ok"
            assert (await eio_poll(client, sid)).text == "4refused 2"
            assert app.refusals == expected_refusals()
            assert (await eio_post(client, sid, "4still here\x1e4and here")).body == b"ok"
            assert (await eio_poll(client, sid)).text == "4still here\x1e4and here"
            assert (await eio_post(bystander, other, "4hi")).body == b"ok"
            assert (await eio_poll(bystander, other)).text == "4hi"
            assert set(app.server.sessions) == {sid, other}


async def test_websocket_refuses_the_send_too() -> None:
    """The same refusal on a WebSocket, where ``\\x1e`` would not corrupt this frame: the
    session could still go back to, or its queue be drained by, a polling transport."""
    app = App()
    with trio.fail_after(LIMIT):
        async with (
            running_server(app.server) as port,
            await WsClient.open(port, "/engine.io/?EIO=4&transport=websocket") as client,
            await HttpClient.open(port) as bystander,
        ):
            opened = await client.receive()
            assert isinstance(opened, str) and opened.startswith("0")
            other, _ = await eio_handshake(bystander)
            await client.send_text("4bad")
            assert await client.receive() == "4refused 2"
            assert app.refusals == expected_refusals()
            await client.send_text("4still here")
            assert await client.receive() == "4still here"
            assert (await eio_post(bystander, other, "4hi")).body == b"ok"
            assert (await eio_poll(bystander, other)).text == "4hi"
            assert len(app.server.sessions) == 2


async def test_bytes_holding_the_separator_are_fine() -> None:
    """Binary messages go as base64 on polling: a 0x1e byte needs no refusal."""
    server = EngineServer()

    @server.on("message")
    async def reply(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(b"\x1e\x1e")

    with trio.fail_after(LIMIT):
        async with running_server(server) as port, await HttpClient.open(port) as client:
            sid, _ = await eio_handshake(client)
            assert (await eio_post(client, sid, "4go")).body == b"ok"
            assert (await eio_poll(client, sid)).text == "bHh4="
