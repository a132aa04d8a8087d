"""Dynamic and class-based namespaces, and room events, on a real server over 127.0.0.1.

The clients are :class:`cluster._redis_helpers.SioClient` (raw Socket.IO frames over a real
WebSocket); the npm client's view of the same features is in
``tests/js/test_namespaces_client.py``. Here: what the npm scenario cannot reach (a matcher
that raises, the bound on children, a child cleaned up while a connection to it is in its
middlewares, broadcasts with acks over children, class-based namespaces, listener errors).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cluster._redis_helpers import STEP, WS_TARGET, Packet, SioClient, compact

from minisock import (
    ClassNamespace,
    ConnectRefusedError,
    JWTAuth,
    JWTVerifier,
    Namespace,
    ParentNamespace,
    Server,
    Socket,
)
from minisock.testing import WsClient, running_server

DIGITS = re.compile(r"^/room-\d+$")


@asynccontextmanager
async def serving(sio: Server) -> AsyncIterator[int]:
    async with running_server(sio.engine) as port:
        yield port


async def connect_answer(port: int, nsp: str, auth: dict[str, Any] | None = None) -> Packet:
    """Open a connection and CONNECT to ``nsp``: the server's answer (CONNECT or CONNECT_ERROR)."""
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = await WsClient.connect(stream, f"127.0.0.1:{port}", WS_TARGET)
        opened = await ws.receive()
        assert isinstance(opened, str) and opened.startswith("0")
        client = SioClient(ws, nsp)
        await ws.send_text(f"40{nsp},{compact(auth) if auth is not None else ''}")
        packet = await client._read()
        assert packet is not None
        await client.aclose()
        return packet


def echo_app(sio: Server, namespace: Namespace) -> None:
    """``hello`` on connect with the namespace's name; ``where`` acks it; ``join`` joins."""

    @namespace.on("connect")
    async def connect(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("hello", socket.nsp)

    @namespace.on("where")
    async def where(socket: Socket) -> str:
        return socket.nsp

    @namespace.on("join")
    async def join(socket: Socket, room: str) -> None:
        socket.join(room)


# ---------------------------------------------------------------- dynamic namespaces


async def test_a_matcher_that_raises_refuses_that_name_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = Server()
    seen: list[tuple[str, dict[str, Any]]] = []

    def fragile(name: str, auth: dict[str, Any]) -> bool:
        seen.append((name, auth))
        if name == "/boom":
            raise RuntimeError("the check broke")
        return name == "/fine"

    echo_app(sio, sio.of(fragile))
    async with serving(sio) as port:
        other = await SioClient.connect(port, nsp="/fine")
        assert (await other.next_event()).args == ["/fine"]
        with caplog.at_level(logging.ERROR, "minisock.namespace"):
            refused = await connect_answer(port, "/boom", {"token": "t"})
        assert (refused.type, refused.data) == (4, {"message": "Invalid namespace"})
        assert seen[-1] == ("/boom", {"token": "t"})
        assert any("namespace check for '/boom' failed" in r.getMessage() for r in caplog.records)
        assert "/boom" not in sio.namespaces
        assert await other.call("where") == "/fine"  # the other session carries on
        await other.aclose()


async def test_an_async_matcher_and_a_later_parent_after_a_refusal() -> None:
    """Parents are asked in order; one that says no (or raises) passes to the next."""
    sio = Server()

    async def slow_no(name: str, auth: dict[str, Any]) -> bool:
        await trio.sleep(0.01)
        return False

    first = sio.of(slow_no)
    second = sio.of(re.compile("^/x"))
    echo_app(sio, second)
    async with serving(sio) as port:
        client = await SioClient.connect(port, nsp="/x1")
        assert (await client.next_event()).args == ["/x1"]
        assert set(second.children) == {"/x1"} and not first.children
        await client.aclose()


async def test_the_bound_on_children_refuses_with_a_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = Server(max_namespaces=2)
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    async with serving(sio) as port:
        a = await SioClient.connect(port, nsp="/room-1")
        b = await SioClient.connect(port, nsp="/room-2")
        with caplog.at_level(logging.WARNING, "minisock.server"):
            refused = await connect_answer(port, "/room-3")
        assert refused.type == 4
        assert refused.data == {"message": "Too many namespaces: this server holds at most 2"}
        assert "/room-3" not in sio.namespaces
        again = await SioClient.connect(port, nsp="/room-1")  # an existing child still works
        assert (await again.next_event()).args == ["/room-1"]
        with pytest.raises(ValueError, match="Too many namespaces"):
            sio.of("/room-4")
        for client in (a, b, again):
            await client.aclose()


async def test_of_a_name_a_pattern_matches_makes_that_child() -> None:
    sio = Server()
    before = sio.of("/room-0")  # made before the pattern: a plain namespace
    parent = sio.of(DIGITS)
    child = sio.of("/room-5")
    assert child.parent is parent and parent.children == {"/room-5": child}
    assert before.parent is None and sio.of("/room-0") is before
    assert sio.of("/other").parent is None
    assert isinstance(parent, ParentNamespace) and parent.name.startswith("/_")
    assert parent.name not in sio.namespaces  # no client can reach a parent by its name


async def test_handlers_added_to_the_parent_later_reach_existing_children() -> None:
    sio = Server()
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    async with serving(sio) as port:
        client = await SioClient.connect(port, nsp="/room-1")
        await client.next_event()

        @parent.on("late")
        async def late(socket: Socket) -> str:
            return "late " + socket.nsp

        assert await client.call("late") == "late /room-1"
        await client.aclose()


async def test_parent_broadcast_with_acks_gathers_every_child() -> None:
    sio = Server()
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    async with serving(sio) as port:
        clients = [await SioClient.connect(port, nsp=f"/room-{i}") for i in (1, 1, 2)]
        for client in clients:
            await client.next_event()

        async def answer(client: SioClient) -> None:
            event = await client.next_event()
            assert event.event == "q" and event.ack_id is not None
            await client.answer(event.ack_id, f"{client.nsp} says yes")

        async def ask(local: bool, got: list[Any]) -> None:
            operator = parent.local if local else parent
            got.extend(await operator.timeout(STEP).call("q"))

        for local in (False, True):
            got: list[Any] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask, local, got)
                for client in clients:
                    nursery.start_soon(answer, client)
            assert sorted(got) == ["/room-1 says yes"] * 2 + ["/room-2 says yes"]
        with pytest.raises(NotImplementedError, match="not supported on a parent"):
            await parent.fetch_sockets()
        await parent.disconnect_sockets()
        for client in clients:
            await client.wait_disconnected()


async def test_an_empty_child_goes_and_a_connect_in_its_middleware_brings_it_back() -> None:
    """Client B is in the child's middleware when A, the last socket, leaves: the child is
    cleaned up, then opened again for B, with a new adapter, and still reachable by name."""
    sio = Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    in_middleware = trio.Event()
    go_on = trio.Event()
    closed_adapters: list[Any] = []

    @parent.use
    async def hold(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("hold"):
            in_middleware.set()
            await go_on.wait()

    async with serving(sio) as port:
        a = await SioClient.connect(port, nsp="/room-1")
        child = sio.namespaces["/room-1"]
        first_adapter = child.adapter
        b: list[SioClient] = []

        async def connect_b() -> None:
            b.append(await SioClient.connect(port, {"hold": True}, nsp="/room-1"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(connect_b)
            await in_middleware.wait()
            await a.aclose()
            with trio.fail_after(STEP):
                while "/room-1" in sio.namespaces:
                    await trio.sleep(0.005)
            assert child.closed and not parent.children
            closed_adapters.append(first_adapter)
            go_on.set()
        assert sio.namespaces["/room-1"] is child and not child.closed
        assert child.adapter is not first_adapter
        assert (await b[0].next_event()).args == ["/room-1"]
        assert await b[0].call("where") == "/room-1"
        await parent.emit("news", 1)
        assert (await b[0].next_event()).args == [1]
        await b[0].aclose()
        with trio.fail_after(STEP):
            while "/room-1" in sio.namespaces:
                await trio.sleep(0.005)


async def test_a_child_made_for_a_refused_connection_goes_with_it() -> None:
    sio = Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(DIGITS)

    @parent.use
    async def refuse(socket: Socket, auth: dict[str, Any]) -> None:
        raise ConnectRefusedError("no", {"why": "test"})

    async with serving(sio) as port:
        refused = await connect_answer(port, "/room-9")
        assert refused.data == {"message": "no", "data": {"why": "test"}}
        assert "/room-9" not in sio.namespaces and not parent.children


async def test_without_cleanup_an_empty_child_stays() -> None:
    sio = Server()
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    async with serving(sio) as port:
        client = await SioClient.connect(port, nsp="/room-1")
        await client.aclose()
        await trio.sleep(0.05)
        assert "/room-1" in sio.namespaces and "/room-1" in parent.children


# ---------------------------------------------------------------- class-based namespaces


class Chat(ClassNamespace):
    def __init__(self, namespace: Any = "/chat") -> None:
        super().__init__(namespace)
        self.log: list[Any] = []

    async def on_connect(self, socket: Socket, auth: dict[str, Any]) -> bool | None:
        self.log.append(("connect", socket.nsp, auth))
        if auth.get("no"):
            return False
        socket.join("lobby")
        return None

    async def on_disconnect(self, socket: Socket, reason: str) -> None:
        self.log.append(("disconnect", reason))

    async def on_say(self, socket: Socket, text: str) -> str:
        await self.to("lobby").emit("said", text)
        return "sent " + text

    def on_plain(self, socket: Socket, a: int, b: int) -> tuple[int, int]:
        return a + b, a * b


async def test_a_class_namespace_serves_its_methods() -> None:
    sio = Server()
    chat = Chat()
    nsp = sio.register_namespace(chat)
    assert chat.nsp is nsp is sio.of("/chat") and chat.server is sio
    async with serving(sio) as port:
        client = await SioClient.connect(port, {"k": 1}, nsp="/chat")
        assert await client.call("say", "hi") == "sent hi"
        assert (await client.next_event()).args == ["hi"]
        ack_id = 99  # the whole ack (call() gives its first argument only)
        await client.ws.send_text(f'42/chat,{ack_id}["plain",3,4]')
        with trio.fail_after(STEP):
            while ack_id not in client.acks:
                await client._pump_one()
        assert client.acks[ack_id] == [7, 12]
        await chat.emit("news", "all")
        assert (await client.next_event()).args == ["all"]
        refused = await connect_answer(port, "/chat", {"no": True})
        assert refused.data == {"message": "Connection rejected by server"}
        await client.ws.send_text("41/chat,")
        with trio.fail_after(STEP):
            while ("disconnect", "client namespace disconnect") not in chat.log:
                await trio.sleep(0.005)
        assert chat.log[0] == ("connect", "/chat", {"k": 1})
        await client.aclose()
    with pytest.raises(RuntimeError, match="already registered"):
        sio.register_namespace(chat)


async def test_a_class_namespace_with_its_own_dispatch_gets_every_event() -> None:
    class Dispatcher(ClassNamespace):
        def __init__(self, namespace: str) -> None:
            super().__init__(namespace)
            self.seen: list[tuple[str, tuple[Any, ...]]] = []

        async def trigger_event(self, event: str, socket: Socket, *args: Any) -> Any:
            self.seen.append((event, args))
            return f"{event}!"

    sio = Server()
    handler = Dispatcher("/any")
    sio.register_namespace(handler)
    async with serving(sio) as port:
        client = await SioClient.connect(port, nsp="/any")
        assert await client.call("chat-message", 1) == "chat-message!"
        assert handler.seen == [("connect", ({},)), ("chat-message", (1,))]
        await client.aclose()


async def test_a_class_namespace_on_a_pattern_serves_each_child() -> None:
    sio = Server()
    chat = Chat(DIGITS)
    parent = sio.register_namespace(chat)
    assert isinstance(parent, ParentNamespace)
    async with serving(sio) as port:
        one = await SioClient.connect(port, nsp="/room-1")
        two = await SioClient.connect(port, nsp="/room-2")
        # self.to() is the parent's: the lobby of every child (socket.namespace.to() is one's).
        assert await one.call("say", "x") == "sent x"
        await chat.emit("news", "all")
        for client in (one, two):
            assert [
                (e.event, e.args) for e in (await client.next_event(), await client.next_event())
            ] == [
                ("said", ["x"]),
                ("news", ["all"]),
            ]
        for client in (one, two):
            await client.aclose()


def test_a_class_namespace_method_of_a_reserved_event_is_refused() -> None:
    class Bad(ClassNamespace):
        async def on_disconnecting(self, socket: Socket) -> None: ...

    with pytest.raises(ValueError, match="reserved"):
        Server().register_namespace(Bad("/bad"))
    with pytest.raises(RuntimeError, match="not registered"):
        _ = Bad().nsp


# ---------------------------------------------------------------- room events


async def test_a_failing_room_listener_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sio = Server()
    heard: list[tuple[str, str]] = []
    adapter = sio.sockets.adapter

    @adapter.on("join-room")
    def broken(room: str, sid: str) -> None:
        raise RuntimeError("listener bug")

    @adapter.on("join-room")
    def fine(room: str, sid: str) -> None:
        heard.append((room, sid))

    with pytest.raises(ValueError):
        adapter.on("joined")
    echo_app(sio, sio.sockets)
    async with serving(sio) as port:
        with caplog.at_level(logging.ERROR, "minisock.adapter"):
            client = await SioClient.connect(port)
            await client.emit("join", "r")
            assert await client.call("where") == "/"
        assert heard == [(client.sid, client.sid), ("r", client.sid)]
        assert any("join-room listener failed" in r.getMessage() for r in caplog.records)
        await client.aclose()


async def test_a_parent_adapters_listeners_hear_every_child() -> None:
    sio = Server(cleanup_empty_child_namespaces=True)
    parent = sio.of(DIGITS)
    echo_app(sio, parent)
    heard: list[tuple[str, str]] = []
    parent.adapter.on("create-room")(lambda room: heard.append(("create", room)))
    async with serving(sio) as port:
        one = await SioClient.connect(port, nsp="/room-1")
        await one.emit("join", "blue")
        assert await one.call("where") == "/room-1"
        await one.aclose()
        with trio.fail_after(STEP):
            while "/room-1" in sio.namespaces:
                await trio.sleep(0.005)
        two = await SioClient.connect(port, nsp="/room-1")  # made again: heard again
        assert heard == [("create", one.sid), ("create", "blue"), ("create", two.sid)]
        await two.aclose()


async def test_a_child_made_for_a_connect_with_a_bad_token_goes_with_it() -> None:
    """With JWT auth in the CONNECT payload, a refused token leaves no child behind."""
    verifier = JWTVerifier("a-secret-of-at-least-32-bytes-long!!", "issuer", "audience")
    sio = Server(cleanup_empty_child_namespaces=True, auth=JWTAuth(verifier, connect_auth=True))
    parent = sio.of(DIGITS)
    async with serving(sio) as port:
        refused = await connect_answer(port, "/room-1", {"token": "not.a.token"})
        assert refused.type == 4 and refused.data["message"] == "unauthorized"
        assert "/room-1" not in sio.namespaces and not parent.children
