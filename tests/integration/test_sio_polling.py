"""Socket.IO over HTTP long-polling, against a real server on 127.0.0.1 (port 0).

The Socket.IO packets of the official suite, carried by polling instead of a WebSocket:
CONNECT in a POST body, the ``40{"sid":…}`` answer and the connect handler's emit in the
GETs, events and acks with binary attachments as base64 ``b`` records, and a server-side
``call()`` answered by a POSTed ack. Every request uses its own connection, as ``fetch``
does, and every test runs under an absolute ``trio.fail_after``; with the default
pingInterval (25 s) no ping interferes, so each poll waits only for the answer it expects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from minisock import Server, Socket
from minisock.testing import HttpClient, eio_handshake, eio_poll, eio_post, running_server

LIMIT = 5.0
PATH = "/socket.io/"
RS = "\x1e"
P0 = '{"_placeholder":true,"num":0}'
P1 = '{"_placeholder":true,"num":1}'


def b64(data: bytes) -> str:
    return "b" + base64.b64encode(data).decode("ascii")


class App:
    """The official suite's application, remembering sockets and disconnect reasons."""

    def __init__(self) -> None:
        self.sio = Server()
        self.sockets: dict[str, Socket] = {}
        self.disconnects: dict[str, str] = {}
        self.changed = trio.Event()
        for nsp in ("/", "/custom"):
            namespace = self.sio.of(nsp)
            namespace.on("connect")(self._connect)
            namespace.on("disconnect")(self._disconnect)

        @self.sio.on("message")
        async def message(socket: Socket, *args: Any) -> None:
            await socket.emit("message-back", *args)

        @self.sio.on("message-with-ack")
        async def message_with_ack(socket: Socket, *args: Any) -> tuple[Any, ...]:
            return args

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def _connect(self, socket: Socket, auth: dict[str, Any]) -> None:
        self.sockets[socket.sid] = socket
        await socket.emit("auth", auth)
        self._notify()

    async def _disconnect(self, socket: Socket, reason: str) -> None:
        self.disconnects[socket.sid] = reason
        self._notify()

    async def wait_disconnect(self, sio_sid: str) -> str:
        while sio_sid not in self.disconnects:
            await self.changed.wait()
        return self.disconnects[sio_sid]


class Polling:
    """One Engine.IO polling session; each request on a new connection."""

    def __init__(self, port: int, eio_sid: str) -> None:
        self.port = port
        self.eio_sid = eio_sid
        self._pending: list[str] = []

    @classmethod
    async def open(cls, port: int) -> Polling:
        async with await HttpClient.open(port) as client:
            eio_sid, _ = await eio_handshake(client, PATH)
        return cls(port, eio_sid)

    async def post(self, *packets: str) -> None:
        async with await HttpClient.open(self.port) as client:
            response = await eio_post(client, self.eio_sid, RS.join(packets), PATH)
        assert (response.status, response.body) == (200, b"ok")

    async def poll(self) -> list[str]:
        """One GET: the packets of its body."""
        async with await HttpClient.open(self.port) as client:
            response = await eio_poll(client, self.eio_sid, PATH)
        assert response.status == 200
        assert response.header("content-type") == "text/plain; charset=UTF-8"
        return response.text.split(RS)

    async def receive(self, count: int) -> list[str]:
        """The next ``count`` packets, over as many GETs as the server needs."""
        while len(self._pending) < count:
            self._pending += await self.poll()
        packets, self._pending = self._pending[:count], self._pending[count:]
        return packets

    async def connect(self, nsp: str = "/", auth: str = "") -> str:
        """C→S CONNECT; S→C the sid and the ``auth`` emit, in one poll or two."""
        head = "40" if nsp == "/" else f"40{nsp},"
        await self.post(head + auth)
        ack, emitted = await self.receive(2)
        assert ack.startswith(head)
        payload = json.loads(ack[len(head) :])
        assert set(payload) == {"sid"}
        event_head = "42" if nsp == "/" else f"42{nsp},"
        assert emitted == f'{event_head}["auth",{auth or "{}"}]'
        sio_sid: str = payload["sid"]
        return sio_sid


@asynccontextmanager
async def serving(app: App) -> AsyncIterator[int]:
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine) as port:
            yield port


# ---------------------------------------------------------------- connect


async def test_connect_by_post_and_the_answer_by_get() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.post("40")
        packets = await session.poll()
        if len(packets) == 1:  # the emit may come in the next poll
            packets += await session.poll()
        ack, emitted = packets
        assert ack.startswith('40{"sid":')
        sio_sid = json.loads(ack[2:])["sid"]
        assert set(json.loads(ack[2:])) == {"sid"}
        assert emitted == '42["auth",{}]'
        assert sio_sid in app.sockets
        assert sio_sid != session.eio_sid


async def test_connect_with_a_payload_to_a_custom_namespace() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        sio_sid = await session.connect("/custom", '{"token":"abc"}')
        assert app.sockets[sio_sid].auth == {"token": "abc"}
        assert app.sockets[sio_sid].nsp == "/custom"


async def test_connect_to_an_unknown_namespace_is_refused() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.post("40/random,")
        assert await session.poll() == ['44/random,{"message":"Invalid namespace"}']
        await session.connect()  # the session is still usable


async def test_several_packets_in_one_post_are_handled_in_order() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        await session.post('42["message",1]', '42["message",2]', '421["message-with-ack",3]')
        assert await session.receive(3) == [
            '42["message-back",1]',
            '42["message-back",2]',
            "431[3]",
        ]


# ---------------------------------------------------------------- events and acks


async def test_plain_event_and_ack() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        await session.post('42["message",1,"2",{"3":[true]}]')
        assert await session.receive(1) == ['42["message-back",1,"2",{"3":[true]}]']
        await session.post('42456["message-with-ack",1,"2",{"3":[false]}]')
        assert await session.receive(1) == ['43456[1,"2",{"3":[false]}]']


async def test_binary_event_travels_as_base64_records() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        await session.post(
            f'452-["message",{P0},{P1}]', b64(bytes([1, 2, 3])), b64(bytes([4, 5, 6]))
        )
        assert await session.receive(3) == [
            f'452-["message-back",{P0},{P1}]',
            "bAQID",
            "bBAUG",
        ]


async def test_binary_event_with_an_ack_gets_a_binary_ack() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        await session.post(
            f'452-789["message-with-ack",{P0},{P1}]', b64(bytes([1, 2, 3])), b64(bytes([4, 5, 6]))
        )
        # One Socket.IO packet and its attachments always travel together, in order.
        assert await session.poll() == [f"462-789[{P0},{P1}]", "bAQID", "bBAUG"]


async def test_attachments_may_arrive_in_separate_posts() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        await session.post(f'451-3["message-with-ack",{P0}]')
        await session.post(b64(b"\x00\xff"))
        assert await session.poll() == [f"461-3[{P0}]", b64(b"\x00\xff")]


async def test_server_call_is_answered_by_a_posted_ack() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        socket = app.sockets[await session.connect()]
        answers: list[Any] = []
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                answers.append(await socket.call("question", b"\x01"))

            nursery.start_soon(ask)
            assert await session.receive(2) == [f'451-0["question",{P0}]', b64(b"\x01")]
            await session.post(f'461-0["answer",{P0}]', b64(b"\x02"))
        assert answers == [("answer", b"\x02")]


async def test_a_handler_waiting_for_its_clients_ack_over_one_keep_alive_connection() -> None:
    """The handler waits for an ack of its own client: the POST that brought the event is
    answered at once, and the next POST, on the same connection, is read and brings the ack
    (the connection's reading moved to a new task when the handler waited). An event posted
    after the one whose handler waits is handled after it returns."""
    app = App()
    order: list[str] = []

    @app.sio.on("ask")
    async def ask(socket: Socket) -> Any:
        answer = await socket.call("question")
        order.append(f"ask got {answer}")
        return answer

    @app.sio.on("next")
    async def next_event(socket: Socket) -> None:
        order.append("next")

    async with serving(app) as port:
        session = await Polling.open(port)
        await session.connect()
        async with await HttpClient.open(port) as posts:
            response = await eio_post(posts, session.eio_sid, f'421["ask"]{RS}42["next"]', PATH)
            assert (response.status, response.body) == (200, b"ok")
            assert await session.receive(1) == ['420["question"]']
            assert order == []
            response = await eio_post(posts, session.eio_sid, '430["yes"]', PATH)
            assert (response.status, response.body) == (200, b"ok")
            assert await session.receive(1) == ['431["yes"]']
        while len(order) < 2:
            await trio.sleep(0.01)
    assert order == ["ask got yes", "next"]


# ---------------------------------------------------------------- disconnect


async def test_namespace_disconnect_by_post_keeps_the_session() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        root = await session.connect()
        custom = await session.connect("/custom")
        await session.post("41/custom,")
        assert await app.wait_disconnect(custom) == "client namespace disconnect"
        await session.post('42["message","main"]')
        assert await session.receive(1) == ['42["message-back","main"]']
        await session.post("41")
        assert await app.wait_disconnect(root) == "client namespace disconnect"
        assert session.eio_sid in app.sio.engine.sessions


async def test_server_disconnect_reaches_the_client_in_the_next_poll() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        sio_sid = await session.connect()
        await app.sockets[sio_sid].disconnect()
        assert await session.poll() == ["41"]
        assert await app.wait_disconnect(sio_sid) == "server namespace disconnect"


async def test_a_malformed_packet_closes_the_session() -> None:
    app = App()
    async with serving(app) as port:
        session = await Polling.open(port)
        sio_sid = await session.connect()
        await session.post("42{}")
        assert await session.poll() == ["1"]
        assert await app.wait_disconnect(sio_sid) == "parse error"
        assert session.eio_sid not in app.sio.engine.sessions
