"""One application on two servers, and the scenarios that check the test client against both.

:func:`build_app` is minisock's side of the contract written at the top of
``tests/js/reference_app.mjs``; that script is the Node reference's side. Each scenario below
drives :class:`minisock.testing.SocketIOClient` through one behaviour and asserts only what
a client can see, so the very same scenario runs against minisock (in memory and on
127.0.0.1) and against Node socket.io 4.8: passing on Node shows that the client speaks the
real protocol, passing on minisock that minisock answers as Node does.

Importable as ``_sio_app`` because ``tests/`` is on ``sys.path`` (see ``tests/_node.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from minisock import ConnectRefusedError, Server, Socket
from minisock.proto.sio import ack_args
from minisock.testing import (
    ConnectError,
    DisconnectedError,
    ReceivedEvent,
    SocketIOClient,
    TransportChoice,
)

TRANSPORTS: list[TransportChoice] = ["polling", "websocket", "upgrade"]
BLOB = bytes(range(256))
NESTED = {"file": b"\x00\xff", "list": [b"", "text", {"deep": b"\x01"}], "n": 1.5}

ClientFactory = Callable[..., SocketIOClient]
"""``make(transport=..., headers=...)``: a client for the server under test."""


def build_app(**options: Any) -> Server:
    """minisock's implementation of ``reference_app.mjs``'s contract."""
    sio = Server(**options)

    @sio.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("auth", auth)

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> None:
        await socket.emit("echo-back", *args)

    @sio.on("ack")
    async def ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("ask")
    async def ask(socket: Socket, event: str, *args: Any) -> None:
        answer = await socket.call(event, *args)
        await socket.emit("answer", *ack_args(answer))

    @sio.on("headers")
    async def headers(socket: Socket) -> str | None:
        value: str | None = socket.handshake["headers"].get("authorization")
        return value

    @sio.on("bye")
    async def bye(socket: Socket) -> None:
        await socket.disconnect()

    @sio.on("close")
    async def close(socket: Socket) -> None:
        await socket.disconnect(close=True)

    admin = sio.of("/admin")

    @admin.use
    async def only_with_the_secret(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("token") != "secret":
            raise ConnectRefusedError("not authorized", {"why": "token"})

    @admin.on("echo")
    async def admin_echo(socket: Socket, *args: Any) -> None:
        await socket.emit("echo-back", *args)

    return sio


# ---------------------------------------------------------------- scenarios


async def connect_with_auth_then_events_both_ways(make: ClientFactory, transport: str) -> None:
    async with make(transport=transport) as client:
        root = await client.connect(auth={"name": "ada", "n": [1, 2]})
        assert root.connected
        assert isinstance(root.sid, str)
        assert root.sid != client.eio_sid  # v5: the namespace sid is not the session's
        assert await root.receive() == ReceivedEvent("auth", ({"name": "ada", "n": [1, 2]},))
        await root.emit("echo", 1, "two", {"3": [True, None]}, "héllo ✓ 🎉")
        assert await root.receive() == ReceivedEvent(
            "echo-back", (1, "two", {"3": [True, None]}, "héllo ✓ 🎉")
        )


async def binary_anywhere_both_ways(make: ClientFactory, transport: str) -> None:
    async with make(transport=transport) as client:
        root = await client.connect()
        await root.receive()  # auth
        await root.emit("echo", BLOB, NESTED, b"")
        assert await root.receive() == ReceivedEvent("echo-back", (BLOB, NESTED, b""))
        assert await root.call("ack", "name", BLOB) == ("name", BLOB)


async def acks_both_ways(make: ClientFactory, transport: str) -> None:
    async with make(transport=transport) as client:
        root = client.socket("/")
        questions: list[tuple[Any, ...]] = []

        @root.on("question")
        async def question(*args: Any) -> tuple[Any, ...]:
            questions.append(args)
            return "yes", {"got": len(args)}, b"\x07"

        @root.on("quiet")
        def quiet(x: int) -> None:  # a plain function works too; None acks with nothing
            questions.append((x,))

        await root.connect()
        assert (await root.receive()).name == "auth"
        assert await root.call("ack", 1, [2], {"3": 4}) == (1, [2], {"3": 4})
        assert await root.call("ack", "one") == "one"
        assert await root.call("ack") is None
        await root.emit("ask", "question", 42, b"\x01")
        assert await root.receive() == ReceivedEvent("answer", ("yes", {"got": 2}, b"\x07"))
        await root.emit("ask", "quiet", 5)
        assert await root.receive() == ReceivedEvent("answer", ())
        assert questions == [(42, b"\x01"), (5,)]


async def namespaces_share_one_session_and_refusals_carry_data(
    make: ClientFactory, transport: str
) -> None:
    async with make(transport=transport) as client:
        root = await client.connect()
        with pytest.raises(ConnectError) as refused:
            await client.connect("/admin", auth={"token": "guess"})
        assert (refused.value.message, refused.value.data) == ("not authorized", {"why": "token"})
        assert not client.socket("/admin").connected
        admin = await client.connect("/admin", auth={"token": "secret"})
        assert admin.sid not in (None, root.sid)
        await admin.emit("echo", "to admin")
        await root.emit("echo", "to root")
        assert await admin.receive() == ReceivedEvent("echo-back", ("to admin",))
        assert await root.receive() == ReceivedEvent("auth", ({},))
        assert await root.receive() == ReceivedEvent("echo-back", ("to root",))
        with pytest.raises(ConnectError) as unknown:
            await client.connect("/nowhere")
        assert unknown.value.message == "Invalid namespace"


async def headers_reach_the_server(make: ClientFactory, transport: str) -> None:
    async with make(transport=transport, headers=[("Authorization", "Bearer t0ken")]) as client:
        root = await client.connect()
        assert await root.call("headers") == "Bearer t0ken"
        if transport != "polling":
            await client.wait_upgraded()
        assert client.transport == ("polling" if transport == "polling" else "websocket")
        assert await root.call("headers") == "Bearer t0ken"


async def server_disconnects_a_namespace_then_the_session(
    make: ClientFactory, transport: str
) -> None:
    async with make(transport=transport) as client:
        root = await client.connect()
        admin = await client.connect("/admin", auth={"token": "secret"})
        await root.emit("bye")
        assert [event.name async for event in root] == ["auth"]  # ends at the disconnect
        assert root.disconnect_reason == "io server disconnect"
        with pytest.raises(DisconnectedError) as gone:
            await root.receive()
        assert gone.value.reason == "io server disconnect"
        with pytest.raises(DisconnectedError):
            await root.emit("echo")
        await admin.emit("echo", "still here")  # the session and the other namespace stay
        assert await admin.receive() == ReceivedEvent("echo-back", ("still here",))
        root = await client.connect()  # and "/" can be joined again
        await root.emit("close")
        assert await root.wait_disconnected() == "io server disconnect"
        assert await admin.wait_disconnected() == "io server disconnect"
        assert await client.wait_closed() == "transport close"


async def pings_are_answered(make: ClientFactory, transport: str, pause: float) -> None:
    """``pause`` spans several ping intervals: a client that did not pong would be gone."""
    async with make(transport=transport) as client:
        root = await client.connect()
        await trio.sleep(pause)
        assert client.close_reason is None
        assert await root.call("ack", "alive") == "alive"


SCENARIOS: dict[str, Callable[[ClientFactory, str], Awaitable[None]]] = {
    f.__name__: f
    for f in (
        connect_with_auth_then_events_both_ways,
        binary_anywhere_both_ways,
        acks_both_ways,
        namespaces_share_one_session_and_refusals_carry_data,
        headers_reach_the_server,
        server_disconnects_a_namespace_then_the_session,
    )
}
