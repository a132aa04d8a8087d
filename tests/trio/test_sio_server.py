"""The Socket.IO server driven with raw Engine.IO/Socket.IO frames, in memory, on a virtual clock.

Covers every Socket.IO expectation of the official protocol suite (connect to ``/`` and
``/custom`` with and without a payload, unknown namespace, malformed packets, connect
timeout, namespace disconnect, plain and binary events and acks, byte for byte), then what
the suite leaves out: the connect state machine, middlewares and refusals, handler
containment and ordering, ``socket.call()``, rooms and broadcasts (slow consumers included),
and the reason every kind of disconnect reports to the disconnect handler.

Each client connection is an in-memory stream pair (:func:`minisock.testing.memory_connection`)
and the tests run under ``autojump_clock`` with the production timings (pingInterval 25 s,
pingTimeout 20 s, connectTimeout 45 s), so waits cost nothing. :func:`serving` puts every
test under an absolute ``trio.fail_after`` (virtual seconds: a hung test fails instead of
jumping forever). :func:`settle` waits until every task is blocked, and fails after a couple
of *wall-clock* seconds if the server never goes idle, so a spinning timer task shows up as a
failure and not as a hang of the virtual clock. Tests about what the application does rather
than the bytes it sends (rooms, broadcasts) use :class:`minisock.testing.SocketIOClient` on the
same in-memory streams.

The test application is the one the official suite expects: ``connect`` emits ``auth`` with
the CONNECT payload, ``message`` answers ``message-back`` with the same arguments and
``message-with-ack`` acknowledges with them. Wire lines in comments are labelled ``C→S`` or
``S→C``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from minisock import ConnectRefusedError, Namespace, Server, SessionClosedError, Socket
from minisock.adapters.local import LocalAdapter
from minisock.proto.rooms import RoomRegistry
from minisock.testing import (
    ClientSocket,
    HttpClient,
    HttpResponse,
    ReceivedEvent,
    SocketIOClient,
    WsClient,
    WsClosed,
    eio_handshake,
    eio_target,
    memory_connection,
    running_server,
)

LIMIT = 600.0  # virtual seconds
EXACT = 1e-6
PATH = "/socket.io/"
WS_TARGET = eio_target(PATH, transport="websocket")
P0 = '{"_placeholder":true,"num":0}'
P1 = '{"_placeholder":true,"num":1}'

ConnectHook = Callable[[Socket, dict[str, Any]], Awaitable[None]]


# ---------------------------------------------------------------- the application


async def emit_auth(socket: Socket, auth: dict[str, Any]) -> None:
    """The suite's connect handler: ``S→C 42["auth",<CONNECT payload>]``."""
    await socket.emit("auth", auth)


class Recorder:
    """The connect and disconnect handlers of one namespace, recording what they see.

    ``hook`` runs inside the connect handler (it emits ``auth`` by default); a socket is
    recorded as connected only once the hook returned.
    """

    def __init__(self, namespace: Namespace, hook: ConnectHook = emit_auth) -> None:
        self.namespace = namespace
        self.hook = hook
        self.sockets: dict[str, Socket] = {}
        """Connected sockets by Socket.IO sid, in the order their connect handler ran."""
        self.disconnects: list[tuple[str, str]] = []
        """Every ``(sio_sid, reason)`` the disconnect handler received, in order."""
        self.log: list[Any] = []
        """Free for the tests' own handlers (see :meth:`record`)."""
        self._changed = trio.Event()
        namespace.on("connect")(self._on_connect)
        namespace.on("disconnect")(self._on_disconnect)

    def record(self, item: Any) -> None:
        self.log.append(item)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _on_connect(self, socket: Socket, auth: dict[str, Any]) -> None:
        await self.hook(socket, auth)
        self.sockets[socket.sid] = socket
        self._notify()

    async def _on_disconnect(self, socket: Socket, reason: str) -> None:
        self.disconnects.append((socket.sid, reason))
        self._notify()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._changed.wait()

    async def wait_disconnect(self, sio_sid: str) -> str:
        """The reason of ``sio_sid``'s (only) disconnect."""
        await self.wait(lambda: any(sid == sio_sid for sid, _ in self.disconnects))
        reasons = [reason for sid, reason in self.disconnects if sid == sio_sid]
        assert len(reasons) == 1, f"disconnect handler ran {len(reasons)} times"
        return reasons[0]

    def socket_of(self, eio_sid: str) -> Socket:
        """The connected socket carried by the Engine.IO session ``eio_sid``."""
        (socket,) = [s for s in self.sockets.values() if s.engine.eio_sid == eio_sid]
        return socket


def suite_server(**options: Any) -> tuple[Server, Recorder, Recorder]:
    """The server of the official suite, with recorders on ``/`` and ``/custom``."""
    sio = Server(**options)
    root = Recorder(sio.sockets)
    custom = Recorder(sio.of("/custom"))

    @sio.on("message")
    async def message(socket: Socket, *args: Any) -> None:
        await socket.emit("message-back", *args)

    @sio.on("message-with-ack")
    async def message_with_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return sio, root, custom


def registry(sio: Server, nsp: str = "/") -> RoomRegistry:
    adapter = sio.of(nsp).adapter
    assert isinstance(adapter, LocalAdapter)
    return adapter.registry


# ---------------------------------------------------------------- running and waiting


@asynccontextmanager
async def serving(sio: Server) -> AsyncIterator[None]:
    """Run ``sio`` (no listener: clients use in-memory streams) under ``fail_after(LIMIT)``."""
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine, in_memory=True):
            yield


async def settle(wall_seconds: float = 2.0) -> None:
    """Return once every task is blocked: handlers ran, outboxes were written.

    A server that never goes idle fails here after ``wall_seconds`` of real time, instead
    of freezing the virtual clock (``autojump_clock`` only jumps when everyone sleeps).
    """
    done = threading.Event()
    async with trio.open_nursery() as nursery:

        async def watchdog() -> None:
            idle = await trio.to_thread.run_sync(done.wait, wall_seconds, abandon_on_cancel=True)
            if not idle:
                raise AssertionError(f"the server kept running for {wall_seconds} s of wall time")

        nursery.start_soon(watchdog)
        await trio.testing.wait_all_tasks_blocked()
        done.set()
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------- WebSocket clients


async def open_ws(sio: Server) -> WsClient:
    """An Engine.IO session on a new WebSocket; the open packet is read and checked."""
    ws = await WsClient.connect(memory_connection(sio.engine), "127.0.0.1", WS_TARGET)
    opened = await ws.receive()
    assert isinstance(opened, str)
    assert opened.startswith("0")
    return ws


async def recv(ws: WsClient) -> str | bytes:
    """The next message that is not an Engine.IO ping; pings are answered on the way."""
    while True:
        message = await ws.receive()
        if message != "2":
            return message
        await ws.send_text("3")


async def until_closed(ws: WsClient) -> tuple[list[str | bytes], WsClosed]:
    """Answer pings and collect messages until the server closes the WebSocket."""
    seen: list[str | bytes] = []
    while True:
        try:
            seen.append(await recv(ws))
        except WsClosed as closed:
            return seen, closed


async def keep_alive(ws: WsClient, seconds: float) -> list[str | bytes]:
    """Answer pings for ``seconds``; returns every other message seen meanwhile."""
    seen: list[str | bytes] = []
    with trio.move_on_after(seconds):
        while True:
            seen.append(await recv(ws))
    return seen


def prefix(nsp: str) -> str:
    """What follows the packet type for ``nsp``: ``""`` for ``/``, ``"/custom,"`` otherwise."""
    return "" if nsp == "/" else f"{nsp},"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def join(ws: WsClient, nsp: str = "/", auth: dict[str, Any] | None = None) -> str:
    """C→S CONNECT; checks ``S→C 40…{"sid":…}`` then the ``auth`` emit; returns the sid."""
    await ws.send_text(f"40{prefix(nsp)}{compact(auth) if auth is not None else ''}")
    return await expect_connected(ws, nsp, auth or {})


async def expect_connected(ws: WsClient, nsp: str, auth: dict[str, Any]) -> str:
    ack = await recv(ws)
    assert isinstance(ack, str)
    head = f"40{prefix(nsp)}"
    assert ack.startswith(head), ack
    payload = json.loads(ack[len(head) :])
    assert set(payload) == {"sid"}
    assert isinstance(payload["sid"], str)
    assert await recv(ws) == f'42{prefix(nsp)}["auth",{compact(auth)}]'
    sio_sid: str = payload["sid"]
    return sio_sid


# ---------------------------------------------------------------- Socket.IO clients
# For the tests about what the application sees, not about the bytes: SocketIOClient.


@asynccontextmanager
async def sio_clients(sio: Server, count: int) -> AsyncIterator[list[ClientSocket]]:
    """``count`` clients joined to ``/`` over WebSocket, each past the ``auth`` emit."""
    async with AsyncExitStack() as stack:
        sockets: list[ClientSocket] = []
        for _ in range(count):
            client = await stack.enter_async_context(SocketIOClient(sio, transport="websocket"))
            socket = await client.connect()
            assert await socket.receive() == ReceivedEvent("auth", ({},))
            sockets.append(socket)
        yield sockets


async def until_end(socket: ClientSocket) -> list[tuple[str, tuple[Any, ...]]]:
    """``(name, args)`` of the events a client got before the ``end`` event."""
    seen: list[tuple[str, tuple[Any, ...]]] = []
    while (event := await socket.receive()).name != "end":
        seen.append((event.name, event.args))
    return seen


# ---------------------------------------------------------------- polling clients


async def request(sio: Server, method: str, target: str, body: bytes = b"") -> HttpResponse:
    """One request on a fresh connection, as ``fetch`` does (no idle keep-alive to time out)."""
    async with HttpClient(memory_connection(sio.engine)) as client:
        return await client.request(method, target, body=body)


async def poll_handshake(sio: Server) -> str:
    async with HttpClient(memory_connection(sio.engine)) as client:
        eio_sid, _ = await eio_handshake(client, PATH)
    return eio_sid


async def post(sio: Server, eio_sid: str, payload: str) -> None:
    response = await request(sio, "POST", eio_target(PATH, sid=eio_sid), payload.encode())
    assert (response.status, response.body) == (200, b"ok")


async def poll_joined(sio: Server, root: Recorder) -> Socket:
    """A polling session that CONNECTed to ``/`` and never GETs: its outbox only fills."""
    eio_sid = await poll_handshake(sio)
    await post(sio, eio_sid, "40")
    await settle()
    return root.socket_of(eio_sid)


# ================================================================ official suite: connect


@pytest.mark.parametrize(
    ("nsp", "auth", "sent"),
    [
        ("/", None, "40"),
        ("/", {"token": "123"}, '40{"token":"123"}'),
        ("/custom", None, "40/custom,"),
        ("/custom", {"token": "abc"}, '40/custom,{"token":"abc"}'),
    ],
)
async def test_connect_answers_sid_then_the_handlers_auth_emit(
    autojump_clock: trio.testing.MockClock, nsp: str, auth: dict[str, Any] | None, sent: str
) -> None:
    sio, root, custom = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text(sent)  # C→S
        ack = await ws.receive()  # S→C 40{"sid":"…"} or 40/custom,{"sid":"…"}
        assert isinstance(ack, str)
        head = "40" if nsp == "/" else "40/custom,"
        assert ack.startswith(head)
        payload = json.loads(ack[len(head) :])
        assert set(payload) == {"sid"}
        assert isinstance(payload["sid"], str)
        assert await ws.receive() == f'42{prefix(nsp)}["auth",{compact(auth or {})}]'
        recorder = root if nsp == "/" else custom
        socket = recorder.sockets[payload["sid"]]
        assert socket.auth == (auth or {})
        assert socket.nsp == nsp
        assert socket.sid != socket.engine.eio_sid  # v5: the two ids differ
        await ws.close()


async def test_connect_to_an_unknown_namespace_is_refused_and_the_session_stays(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40/random")
        assert await ws.receive() == '44/random,{"message":"Invalid namespace"}'
        assert "/random" not in sio.namespaces
        sio_sid = await join(ws)  # the session is still usable
        assert list(root.sockets) == [sio_sid]
        await ws.close()


@pytest.mark.parametrize(
    "packet",
    [
        "4abc",  # official suite: invalid handshake
        '42["x"]',  # an event before any CONNECT
        "41",  # a DISCONNECT before any CONNECT
        '430["x"]',  # an ACK before any CONNECT
        '40"not an object"',  # a CONNECT payload that is not an object
    ],
)
async def test_an_invalid_first_packet_closes_the_connection(
    autojump_clock: trio.testing.MockClock, packet: str
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        sent_at = trio.current_time()
        await ws.send_text(packet)
        seen, closed = await until_closed(ws)
        assert seen == []
        assert closed.code == 1002  # a protocol error, with the reason in the frame
        assert closed.reason in ("parse error", "forced server close")
        assert trio.current_time() - sent_at < 2.0  # at once, not at the connect timeout
        assert sio.engine.sessions == {}
        assert root.sockets == {}


async def test_no_connect_closes_the_session_after_connect_timeout_and_the_server_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """REGRESSION: after the connect timeout fired, a timer bug once made the timer task spin
    forever. Here the server must go idle again and keep serving new sessions."""
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        opened_at = trio.current_time()
        seen, closed = await until_closed(ws)  # pings are answered: only the timeout can close
        assert seen == []
        assert closed.code == 1000
        assert trio.current_time() - opened_at == pytest.approx(45.0, abs=EXACT)
        await ws.aclose()
        await settle()
        assert sio.engine.sessions == {}
        # A new handshake is answered, and the new session lives past its own timeout.
        ws2 = await open_ws(sio)
        sio_sid = await join(ws2)
        assert await keep_alive(ws2, 97.0) == []
        await settle()
        assert list(root.sockets) == [sio_sid]
        assert root.disconnects == []
        await ws2.send_text('42["message","still here"]')
        assert await recv(ws2) == '42["message-back","still here"]'
        await ws2.close()


async def test_connect_timeout_counts_from_the_handshake_for_a_polling_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server(connect_timeout=5.0)
    async with serving(sio):
        eio_sid = await poll_handshake(sio)
        opened_at = trio.current_time()
        response = await request(sio, "GET", eio_target(PATH, sid=eio_sid))
        assert (response.status, response.body) == (200, b"1")  # the close packet
        assert trio.current_time() - opened_at == pytest.approx(5.0, abs=EXACT)
        assert eio_sid not in sio.engine.sessions


async def test_a_session_that_joined_then_left_is_not_closed_by_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Official suite: after ``41`` the session stays, so the next message is a ping."""
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        opened_at = trio.current_time()
        sio_sid = await join(ws)
        await ws.send_text("41")
        assert await ws.receive() == "2"
        assert trio.current_time() - opened_at == pytest.approx(25.0, abs=EXACT)
        await ws.send_text("3")
        assert await root.wait_disconnect(sio_sid) == "client namespace disconnect"
        assert await keep_alive(ws, 200.0) == []  # far past connectTimeout (45 s)
        assert len(sio.engine.sessions) == 1
        second = await join(ws)  # and the namespace can be joined again
        assert second != sio_sid
        await ws.close()


async def test_connect_then_disconnect_a_custom_namespace_then_main_still_works(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, custom = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        assert await ws.receive() == "2"  # official suite: waits for a ping first
        await ws.send_text("3")
        await ws.send_text("40/custom")  # no trailing comma: accepted
        custom_sid = await expect_connected(ws, "/custom", {})
        await ws.send_text("41/custom")
        await ws.send_text('42["message","message to main namespace"]')
        assert await recv(ws) == '42["message-back","message to main namespace"]'
        assert await custom.wait_disconnect(custom_sid) == "client namespace disconnect"
        assert custom.namespace.sockets == {}
        assert root.disconnects == []
        await ws.close()


async def test_a_second_connect_to_a_joined_namespace_closes_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        sio_sid = await join(ws)
        await ws.send_text("40")
        seen, _ = await until_closed(ws)
        assert seen == []
        await root.wait_disconnect(sio_sid)
        assert sio.engine.sessions == {}


async def test_a_second_connect_while_the_first_is_pending_closes_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()

    async def slow(socket: Socket, auth: dict[str, Any]) -> None:
        await release.wait()

    sio = Server()
    Recorder(sio.sockets, hook=slow)
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40")
        await settle()  # the connect handler is running
        await ws.send_text("40")
        seen, _ = await until_closed(ws)
        assert seen == []
        assert sio.engine.sessions == {}
        release.set()
        await settle()
        assert sio.sockets.sockets == {}
        assert len(registry(sio)) == 0


async def test_a_connect_handler_that_returns_after_the_client_left_is_paired_with_a_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In the reference the ``connection`` handler runs once the socket is connected, so every
    socket the application saw connect is later seen to disconnect. Here the connect handler
    runs first; if the client leaves while it runs and it then returns normally (no refusal),
    the application has accepted a socket and must still be told that it is gone."""
    release = trio.Event()

    async def slow(socket: Socket, auth: dict[str, Any]) -> None:
        await release.wait()

    sio = Server()
    root = Recorder(sio.sockets, hook=slow)
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40")
        await settle()  # the connect handler is running
        await ws.close()
        await settle()
        assert sio.engine.sessions == {}
        release.set()
        await settle()
        assert len(root.sockets) == 1  # the connect handler returned: the app accepted it
        (sio_sid,) = root.sockets
        assert root.disconnects == [(sio_sid, "transport close")]
        assert sio.sockets.sockets == {}
        assert len(registry(sio)) == 0


# ================================================================ official suite: messages


async def test_a_plain_event_is_answered(autojump_clock: trio.testing.MockClock) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text('42["message",1,"2",{"3":[true]}]')
        assert await recv(ws) == '42["message-back",1,"2",{"3":[true]}]'
        await ws.close()


async def test_an_event_with_binary_attachments_is_answered_with_them(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text(f'452-["message",{P0},{P1}]')
        await ws.send_bytes(bytes([1, 2, 3]))
        await ws.send_bytes(bytes([4, 5, 6]))
        assert await recv(ws) == f'452-["message-back",{P0},{P1}]'
        assert await recv(ws) == bytes([1, 2, 3])
        assert await recv(ws) == bytes([4, 5, 6])
        await ws.close()


async def test_an_event_with_an_ack_id_is_acknowledged(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await recv(ws) == '43456[1,"2",{"3":[false]}]'
        await ws.close()


async def test_a_binary_event_with_an_ack_id_gets_a_binary_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text(f'452-789["message-with-ack",{P0},{P1}]')
        await ws.send_bytes(bytes([1, 2, 3]))
        await ws.send_bytes(bytes([4, 5, 6]))
        assert await recv(ws) == f"462-789[{P0},{P1}]"
        assert await recv(ws) == bytes([1, 2, 3])
        assert await recv(ws) == bytes([4, 5, 6])
        await ws.close()


@pytest.mark.parametrize(
    "packet",
    [
        "4abc",  # unknown packet type
        "42{}",  # an event payload that is not an array
        '42abc["message-with-ack",1,"2",{"3":[false]}]',  # invalid ack id
    ],
)
async def test_a_malformed_packet_closes_the_connection_with_parse_error(
    autojump_clock: trio.testing.MockClock, packet: str
) -> None:
    sio, root, custom = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        root_sid = await join(ws)
        custom_sid = await join(ws, "/custom")
        await ws.send_text(packet)
        seen, closed = await until_closed(ws)
        assert seen == []
        assert closed.code == 1002
        assert closed.reason == "parse error"
        assert await root.wait_disconnect(root_sid) == "parse error"
        assert await custom.wait_disconnect(custom_sid) == "parse error"
        assert sio.engine.sessions == {}


# ================================================================ middlewares and connect handler


async def test_middlewares_run_in_order_and_a_refusal_stops_the_chain(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    @sio.use
    async def first(socket: Socket, auth: dict[str, Any]) -> None:
        root.record(("first", auth))
        if auth.get("deny"):
            raise ConnectRefusedError("not allowed", {"why": "deny"})

    @sio.use
    async def second(socket: Socket, auth: dict[str, Any]) -> None:
        root.record(("second", auth))

    async def hook(socket: Socket, auth: dict[str, Any]) -> None:
        root.record(("connect", auth))
        await emit_auth(socket, auth)

    root.hook = hook
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text('40{"deny":true}')
        assert await recv(ws) == '44{"message":"not allowed","data":{"why":"deny"}}'
        assert root.log == [("first", {"deny": True})]
        assert sio.sockets.sockets == {}
        assert len(registry(sio)) == 0
        # The same client may try again; this time the whole chain runs, in order.
        sio_sid = await join(ws, auth={"n": 1})
        assert root.log[1:] == [("first", {"n": 1}), ("second", {"n": 1}), ("connect", {"n": 1})]
        await ws.close()
        # Only the accepted socket's disconnect handler runs; the refused one never does.
        assert await root.wait_disconnect(sio_sid) == "transport close"
        await settle()
        assert root.disconnects == [(sio_sid, "transport close")]


async def test_a_refused_socket_never_reaches_its_disconnect_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    @sio.use
    async def deny(socket: Socket, auth: dict[str, Any]) -> None:
        raise ConnectRefusedError("nope")

    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40")
        assert await recv(ws) == '44{"message":"nope"}'
        await ws.close()
        await settle()
        assert sio.engine.sessions == {}
        assert root.disconnects == []


async def test_a_connect_handler_refusal_sends_connect_error_and_drops_what_it_emitted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    async def hook(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("welcome", "should never arrive")
        socket.join("lobby")
        await sio.to("lobby").emit("lobby news")
        if auth.get("refuse"):
            raise ConnectRefusedError("go away", {"retry": False})
        await emit_auth(socket, auth)

    root.hook = hook
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text('40{"refuse":true}')
        assert await recv(ws) == '44{"message":"go away","data":{"retry":false}}'
        await settle()
        assert sio.sockets.sockets == {}
        assert len(registry(sio)) == 0
        assert not await sio.to("lobby").has_members()
        # Nothing the refused handler emitted comes after: the next CONNECT's answers do.
        await ws.send_text("40")
        ack = await recv(ws)
        (sio_sid,) = root.sockets
        assert ack == "40" + compact({"sid": sio_sid})
        assert await recv(ws) == '42["welcome","should never arrive"]'
        assert await recv(ws) == '42["lobby news"]'
        assert await recv(ws) == '42["auth",{}]'
        await ws.close()
        await root.wait(lambda: len(root.disconnects) == 1)


async def test_emits_made_in_the_connect_handler_arrive_after_the_connect_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    async def hook(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("first", 1)
        await sio.emit("everyone")  # a broadcast that includes the connecting socket
        await socket.emit("bin", b"\x07")
        await trio.sleep(1.0)  # the handler may take its time
        await socket.emit("last")

    root.hook = hook
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40")
        ack = await recv(ws)
        assert isinstance(ack, str)
        assert ack.startswith('40{"sid":')
        assert await recv(ws) == '42["first",1]'
        assert await recv(ws) == '42["everyone"]'
        assert await recv(ws) == f'451-["bin",{P0}]'
        assert await recv(ws) == b"\x07"
        assert await recv(ws) == '42["last"]'
        await ws.close()


async def test_a_call_made_in_the_connect_handler_gets_the_clients_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The reference emits ``connection`` after sending CONNECT, so ``emitWithAck`` works in
    it. Holding the handler's packets until it returns must not turn ``call()`` into a
    deadlock that only the caller's own timeout (or connectTimeout) ends."""
    sio, root, _ = suite_server()

    async def hook(socket: Socket, auth: dict[str, Any]) -> None:
        with trio.move_on_after(10.0):
            root.record(await socket.call("hello?"))
            return
        root.record("no answer")

    root.hook = hook
    async with serving(sio):
        ws = await open_ws(sio)
        await ws.send_text("40")
        sent_at = trio.current_time()
        ack = await recv(ws)
        assert isinstance(ack, str)
        assert ack.startswith('40{"sid":')
        assert await recv(ws) == '420["hello?"]'
        assert trio.current_time() - sent_at < 1.0
        await ws.send_text('430["hi"]')
        await root.wait(lambda: bool(root.log))
        assert root.log == ["hi"]
        await ws.close()


# ================================================================ event handlers


async def test_handler_exceptions_are_contained(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sio, _, _ = suite_server()

    @sio.on("boom")
    async def boom(socket: Socket, *args: Any) -> str:
        raise RuntimeError("handler bug")

    async with serving(sio):
        a = await open_ws(sio)
        b = await open_ws(sio)
        await join(a)
        await join(b)
        with caplog.at_level(logging.ERROR, logger="minisock"):
            await a.send_text('427["boom",1]')
            assert await recv(a) == "437[]"  # the ack asked for is answered, with nothing
            await a.send_text('42["boom"]')  # no ack asked: nothing at all
            await a.send_text('42["message","after"]')
            assert await recv(a) == '42["message-back","after"]'
        failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
        assert len(failures) == 2
        assert all(r.levelno == logging.ERROR for r in failures)
        await b.send_text('42["message","other"]')
        assert await recv(b) == '42["message-back","other"]'
        assert len(sio.engine.sessions) == 2
        await a.close()
        await b.close()


@pytest.mark.parametrize(
    ("event", "ack"),
    [
        ("tuple", '[1,"two",[3]]'),
        ("none", "[]"),
        ("one", '[{"a":1}]'),
        ("list", "[[1,2]]"),
        ("empty-tuple", "[]"),
    ],
)
async def test_a_handlers_return_value_becomes_the_ack(
    autojump_clock: trio.testing.MockClock, event: str, ack: str
) -> None:
    results: dict[str, Any] = {
        "tuple": (1, "two", [3]),
        "none": None,
        "one": {"a": 1},
        "list": [1, 2],
        "empty-tuple": (),
    }
    sio, _, _ = suite_server()

    @sio.on(event)
    async def handler(socket: Socket) -> Any:
        return results[event]

    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text(f'4212["{event}"]')
        assert await recv(ws) == f"4312{ack}"
        await ws.send_text(f'42["{event}"]')  # without an ack id the value goes nowhere
        await ws.send_text('42["message"]')
        assert await recv(ws) == '42["message-back"]'
        await ws.close()


async def test_a_binary_return_value_becomes_a_binary_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()

    @sio.on("file")
    async def file(socket: Socket) -> tuple[str, bytes]:
        return "name", b"\x00\xff"

    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text('423["file"]')
        assert await recv(ws) == f'461-3["name",{P0}]'
        assert await recv(ws) == b"\x00\xff"
        await ws.close()


async def test_the_catch_all_handler_gets_events_without_a_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    @sio.on("*")
    async def anything(socket: Socket, event: str, *args: Any) -> str:
        root.record((event, args))
        return f"caught {event}"

    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text('425["unknown",1,{"x":null}]')
        assert await recv(ws) == '435["caught unknown"]'
        await ws.send_text('42["message","known"]')
        assert await recv(ws) == '42["message-back","known"]'
        await ws.send_text(f'451-["blob",{P0}]')
        await ws.send_bytes(b"\x01")
        await root.wait(lambda: len(root.log) == 2)
        assert root.log == [("unknown", (1, {"x": None})), ("blob", (b"\x01",))]
        await ws.close()


async def test_events_of_one_client_are_handled_in_order_even_when_a_handler_waits(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()

    @sio.on("slow")
    async def slow(socket: Socket, tag: str) -> None:
        root.record(f"{tag} start")
        await trio.sleep(5.0)
        root.record(f"{tag} end")

    @sio.on("fast")
    async def fast(socket: Socket, tag: str) -> None:
        root.record(tag)

    async with serving(sio):
        a = await open_ws(sio)
        b = await open_ws(sio)
        await join(a)
        await join(b)
        started = trio.current_time()
        await a.send_text('42["slow","a1"]')
        await a.send_text('42["fast","a2"]')
        await a.send_text('42["slow","a3"]')
        await a.send_text('42["fast","a4"]')
        await settle()
        # Another client is not held up by this one's slow handler.
        await b.send_text('42["message","b"]')
        assert await recv(b) == '42["message-back","b"]'
        assert trio.current_time() - started < 1.0
        await root.wait(lambda: len(root.log) == 6)
        assert root.log == ["a1 start", "a1 end", "a2", "a3 start", "a3 end", "a4"]
        assert trio.current_time() - started == pytest.approx(10.0, abs=EXACT)
        await a.close()
        await b.close()


# ================================================================ socket.call()


async def test_call_returns_the_clients_ack(autojump_clock: trio.testing.MockClock) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        socket = root.sockets[await join(ws)]
        results: list[Any] = []
        async with trio.open_nursery() as nursery:

            async def calls() -> None:
                results.append(await socket.call("question", 1))
                results.append(await socket.call("nothing"))
                results.append(await socket.call("one"))
                results.append(await socket.call("binary"))

            nursery.start_soon(calls)
            assert await recv(ws) == '420["question",1]'
            await ws.send_text('430["yes",2]')
            assert await recv(ws) == '421["nothing"]'
            await ws.send_text("431[]")
            assert await recv(ws) == '422["one"]'
            await ws.send_text('432["only"]')
            assert await recv(ws) == '423["binary"]'
            await ws.send_text(f"461-3[{P0}]")
            await ws.send_bytes(b"\x09")
        assert results == [("yes", 2), None, "only", b"\x09"]
        await ws.close()


async def test_a_handler_may_await_call_while_the_client_keeps_talking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()

    @sio.on("ask")
    async def ask(socket: Socket) -> Any:
        return await socket.call("question")

    async with serving(sio):
        ws = await open_ws(sio)
        await join(ws)
        await ws.send_text('421["ask"]')
        assert await recv(ws) == '420["question"]'
        await ws.send_text("430[42]")  # the reader delivers this ack to the waiting handler
        assert await recv(ws) == "431[42]"
        await ws.close()


async def test_call_is_cancelled_by_the_callers_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        socket = root.sockets[await join(ws)]
        asked_at = trio.current_time()
        with pytest.raises(trio.TooSlowError), trio.fail_after(5.0):
            await socket.call("question")
        assert trio.current_time() - asked_at == pytest.approx(5.0, abs=EXACT)
        assert await recv(ws) == '420["question"]'
        await ws.send_text('430["too late"]')  # ignored: nobody waits for it any more
        await ws.send_text('42["message","alive"]')
        assert await recv(ws) == '42["message-back","alive"]'
        async with trio.open_nursery() as nursery:
            answers: list[Any] = []

            async def again() -> None:
                answers.append(await socket.call("again"))

            nursery.start_soon(again)
            assert await recv(ws) == '421["again"]'
            await ws.send_text('431["ok"]')
        assert answers == ["ok"]
        assert socket.connected
        await ws.close()


@pytest.mark.parametrize("how", ["namespace", "transport"])
async def test_call_raises_session_closed_when_the_client_leaves_meanwhile(
    autojump_clock: trio.testing.MockClock, how: str
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        socket = root.sockets[await join(ws)]
        errors: list[BaseException] = []
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                try:
                    await socket.call("question")
                except SessionClosedError as exc:
                    errors.append(exc)

            nursery.start_soon(ask)
            assert await recv(ws) == '420["question"]'
            left_at = trio.current_time()
            if how == "namespace":
                await ws.send_text("41")
            else:
                await ws.close()
        assert len(errors) == 1
        assert trio.current_time() - left_at < 1.0
        with pytest.raises(SessionClosedError):
            await socket.emit("after")
        await ws.aclose()


# ================================================================ namespaces


async def test_several_namespaces_share_one_engine_session(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, custom = suite_server()

    @sio.of("/custom").on("message")
    async def custom_message(socket: Socket, *args: Any) -> None:
        await socket.emit("custom-back", *args)

    async with serving(sio):
        ws = await open_ws(sio)
        root_socket = root.sockets[await join(ws)]
        custom_socket = custom.sockets[await join(ws, "/custom", {"k": "v"})]
        assert len(sio.engine.sessions) == 1
        assert root_socket.engine is custom_socket.engine
        assert root_socket.client is custom_socket.client
        assert root_socket.sid != custom_socket.sid
        await ws.send_text('42/custom,["message",1]')
        await ws.send_text('42["message",2]')
        assert await recv(ws) == '42/custom,["custom-back",1]'
        assert await recv(ws) == '42["message-back",2]'
        await custom_socket.emit("to-custom")
        await root_socket.emit("to-root")
        assert await recv(ws) == '42/custom,["to-custom"]'
        assert await recv(ws) == '42["to-root"]'
        await ws.send_text('42/custom,1["message-with-ack"]')  # no such handler on /custom
        await ws.send_text('42/custom,["message","again"]')
        assert await recv(ws) == '42/custom,["custom-back","again"]'
        await ws.close()
        assert await root.wait_disconnect(root_socket.sid) == "transport close"
        assert await custom.wait_disconnect(custom_socket.sid) == "transport close"


async def test_an_event_for_a_namespace_not_joined_closes_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        sio_sid = await join(ws)
        await ws.send_text('42/custom,["message"]')
        seen, _ = await until_closed(ws)
        assert seen == []
        await root.wait_disconnect(sio_sid)
        assert sio.engine.sessions == {}


# ================================================================ rooms


async def test_rooms_select_who_receives_a_broadcast(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio), sio_clients(sio, 3) as clients:
        a, b, c = [root.sockets[client.sid or ""] for client in clients]
        assert a.rooms == {a.sid}  # every socket is in its own room
        a.join("r")
        b.join("r", "s")
        await sio.to("r").emit("x", 1)
        await sio.to("r").except_("s").emit("y")
        await a.to("r").emit("z")  # socket.to() leaves the sender out
        await a.except_("s").emit("w")  # so does socket.except_()
        await sio.to(c.sid).emit("direct")
        await sio.in_("r", c.sid).emit("union")  # each member once
        await sio.except_("r").emit("rest")
        await sio.emit("end")
        got = [await until_end(client) for client in clients]
        assert got[0] == [("x", (1,)), ("y", ()), ("union", ())]
        assert got[1] == [("x", (1,)), ("z", ()), ("union", ())]
        assert got[2] == [("w", ()), ("direct", ()), ("union", ()), ("rest", ())]


async def test_room_queries_and_bulk_membership_changes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        clients = [await open_ws(sio) for _ in range(3)]
        a, b, c = [root.sockets[await join(ws)] for ws in clients]
        a.join("r")
        b.join("r", "s")
        assert await sio.to("r").has_members()
        assert await sio.to(a.sid).has_members()
        assert not await sio.to("nobody").has_members()
        assert not await sio.to("r").except_("r").has_members()
        assert await sio.to("r").except_("s").has_members()
        assert {s.sid for s in await sio.in_("r").fetch_sockets()} == {a.sid, b.sid}
        assert await sio.in_("r").except_("s").sids() == {a.sid}
        assert {s.sid for s in await sio.sockets.fetch_sockets()} == {a.sid, b.sid, c.sid}

        await sio.in_("s").sockets_join("t", "u")
        assert b.rooms == {b.sid, "r", "s", "t", "u"}
        await sio.in_("r").sockets_leave("r", "u")
        assert a.rooms == {a.sid}
        assert b.rooms == {b.sid, "s", "t"}
        assert not await sio.to("r").has_members()
        assert "r" not in set(registry(sio).rooms())  # an emptied room is deleted
        b.leave("s")
        assert "s" not in set(registry(sio).rooms())

        c.join("t")
        await sio.in_("t").disconnect_sockets()
        for ws in clients[1:]:
            assert await recv(ws) == "41"
        assert await root.wait_disconnect(b.sid) == "server namespace disconnect"
        assert await root.wait_disconnect(c.sid) == "server namespace disconnect"
        assert list(sio.sockets.sockets) == [a.sid]
        assert set(registry(sio).rooms()) == {a.sid}
        assert len(sio.engine.sessions) == 3  # only the namespace was left
        await clients[0].send_text('42["message","a"]')
        assert await recv(clients[0]) == '42["message-back","a"]'
        for ws in clients:
            await ws.close()


async def test_disconnect_removes_every_membership_and_deletes_empty_rooms(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio), sio_clients(sio, 2) as (leaver, stayer):
        a = root.sockets[leaver.sid or ""]
        b = root.sockets[stayer.sid or ""]
        a.join("solo", "shared")
        b.join("shared")
        await leaver.client.engine.close()  # the whole session goes, not just the namespace
        assert await root.wait_disconnect(a.sid) == "transport close"
        reg = registry(sio)
        assert reg.rooms_of(a.sid) == frozenset()
        assert set(reg.rooms()) == {b.sid, "shared"}
        assert reg.members("shared") == {b.sid}
        assert len(reg) == 1
        assert list(sio.sockets.sockets) == [b.sid]
        assert a.rooms == frozenset()
        await sio.to("shared").emit("still")
        assert await stayer.receive() == ReceivedEvent("still", ())


async def test_room_names_and_room_counts_are_bounded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server(max_room_name_length=8, max_rooms_per_socket=3)
    async with serving(sio):
        ws = await open_ws(sio)
        socket = root.sockets[await join(ws)]
        socket.join("x" * 8)
        with pytest.raises(ValueError):
            socket.join("y" * 9)
        with pytest.raises(ValueError):
            socket.join(123)  # type: ignore[arg-type]
        assert socket.rooms == {socket.sid, "x" * 8}
        socket.join("b")  # its own room counts: three rooms now
        with pytest.raises(ValueError):
            socket.join("c")
        with pytest.raises(ValueError):
            socket.join("d", "e")
        assert socket.rooms == {socket.sid, "x" * 8, "b"}  # a refused join changes nothing
        socket.leave("b")
        socket.join("c")
        assert socket.rooms == {socket.sid, "x" * 8, "c"}
        await ws.close()


async def test_joining_a_room_already_joined_is_harmless_at_the_room_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The registry says "joining twice is harmless": a socket at its room limit re-joining a
    room it is in joins nothing new, so it must not be refused."""
    sio, root, _ = suite_server(max_rooms_per_socket=3)
    async with serving(sio):
        ws = await open_ws(sio)
        socket = root.sockets[await join(ws)]
        socket.join("a", "b")
        socket.join("a")
        socket.join(socket.sid)
        assert socket.rooms == {socket.sid, "a", "b"}
        await ws.close()


# ================================================================ broadcast delivery


async def test_a_broadcast_disconnects_a_member_whose_outbox_is_full(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server(max_outbox_packets=4)
    async with serving(sio):
        slow = await poll_joined(sio, root)  # never GETs
        assert slow.engine.state.outbox == [
            "40" + compact({"sid": slow.sid}),
            '42["auth",{}]',
        ]
        ws = await open_ws(sio)
        await join(ws)
        for i in range(6):
            await sio.emit("tick", i)
            await settle()  # the WebSocket member's writer drains its outbox
        assert slow.engine.closed
        assert slow.engine.close_reason == "slow consumer"
        assert not slow.connected
        assert await root.wait_disconnect(slow.sid) == "slow consumer"
        assert slow.sid not in sio.sockets.sockets
        for i in range(6):
            assert await recv(ws) == f'42["tick",{i}]'
        await ws.close()


async def test_a_broadcast_is_encoded_once_for_every_member(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        p1 = await poll_joined(sio, root)
        p2 = await poll_joined(sio, root)
        out1, out2 = p1.engine.state.outbox, p2.engine.state.outbox
        await sio.emit("news", "x")
        assert out1[-1] == '42["news","x"]'
        assert out1[-1] is out2[-1]
        await sio.emit("file", b"\x00\xff")
        assert out1[-2:] == [f'451-["file",{P0}]', b"\x00\xff"]
        assert out1[-2] is out2[-2]
        assert out1[-1] is out2[-1]


async def test_a_binary_broadcast_reaches_every_member(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, _ = suite_server()
    async with serving(sio), sio_clients(sio, 3) as clients:
        for client in clients[:2]:
            root.sockets[client.sid or ""].join("bin")
        await sio.to("bin").emit("blob", {"n": 1, "data": b"\x01\x02"}, b"\x03")
        await sio.emit("end")
        for client in clients[:2]:
            assert await until_end(client) == [("blob", ({"n": 1, "data": b"\x01\x02"}, b"\x03"))]
        assert await until_end(clients[2]) == []


# ================================================================ disconnect reasons


async def test_reason_client_namespace_disconnect(autojump_clock: trio.testing.MockClock) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        sio_sid = await join(ws)
        await ws.send_text("41")
        assert await root.wait_disconnect(sio_sid) == "client namespace disconnect"
        assert len(sio.engine.sessions) == 1
        await ws.close()


@pytest.mark.parametrize("nsp", ["/", "/custom"])
async def test_reason_server_namespace_disconnect(
    autojump_clock: trio.testing.MockClock, nsp: str
) -> None:
    sio, root, custom = suite_server()
    recorder = root if nsp == "/" else custom
    async with serving(sio):
        ws = await open_ws(sio)
        socket = recorder.sockets[await join(ws, nsp)]
        await socket.disconnect()
        assert await recv(ws) == f"41{prefix(nsp)}"
        assert await recorder.wait_disconnect(socket.sid) == "server namespace disconnect"
        assert len(sio.engine.sessions) == 1  # the session stays
        await socket.disconnect()  # twice is harmless
        await settle()
        assert len(recorder.disconnects) == 1
        await ws.close()


@pytest.mark.parametrize("how", ["close frame", "engine close packet", "end of stream"])
async def test_reason_transport_close(autojump_clock: trio.testing.MockClock, how: str) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        sio_sid = await join(ws)
        if how == "close frame":
            await ws.close()
        elif how == "engine close packet":
            await ws.send_text("1")
            await ws.wait_closed()
            await ws.aclose()
        else:
            await ws.aclose()
        assert await root.wait_disconnect(sio_sid) == "transport close"


async def test_reason_ping_timeout(autojump_clock: trio.testing.MockClock) -> None:
    sio, root, _ = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        opened_at = trio.current_time()
        sio_sid = await join(ws)
        await ws.wait_closed()  # never answers the ping
        assert await root.wait_disconnect(sio_sid) == "ping timeout"
        assert trio.current_time() - opened_at == pytest.approx(45.0, abs=EXACT)
        await ws.aclose()


async def test_reason_server_shutting_down(autojump_clock: trio.testing.MockClock) -> None:
    sio, root, custom = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        root_sid = await join(ws)
        custom_sid = await join(ws, "/custom")
        sio.shutdown()
        closed = await ws.wait_closed()
        assert closed.code == 1001
        assert await root.wait_disconnect(root_sid) == "server shutting down"
        assert await custom.wait_disconnect(custom_sid) == "server shutting down"
        await ws.aclose()


async def test_disconnect_with_close_disconnects_every_namespace_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, root, custom = suite_server()
    async with serving(sio):
        ws = await open_ws(sio)
        root_sid = await join(ws)
        custom_socket = custom.sockets[await join(ws, "/custom")]
        await custom_socket.disconnect(close=True)
        seen, closed = await until_closed(ws)
        assert sorted(seen) == ["41", "41/custom,"]
        assert closed.code == 1000
        assert await custom.wait_disconnect(custom_socket.sid) == "server namespace disconnect"
        assert await root.wait_disconnect(root_sid) == "server namespace disconnect"
        assert sio.engine.sessions == {}
