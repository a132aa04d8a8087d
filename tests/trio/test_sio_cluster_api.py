"""The cluster-wide server API on the in-memory adapter: one server, the same calls as many.

Broadcasts with acks (``sio.timeout(s).call``), ack timeouts on one socket, the ``local``
flag, server-side events with no other server, and the operator forms of join, leave and
disconnect. Raw frames over in-memory WebSockets on a virtual clock, as in
test_sio_server.py, whose helpers these tests share.
"""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from test_sio_server import join, open_ws, recv, serving, settle, suite_server

from minisock import AckTimeoutError, Server, SessionClosedError, Socket
from minisock.testing import WsClient


def ack_request(message: str | bytes) -> tuple[int, list[object]]:
    """``42<id>[...]`` -> (id, payload)."""
    assert isinstance(message, str) and message.startswith("42"), message
    body = message[2:]
    digits = len(body) - len(body.lstrip("0123456789"))
    return int(body[:digits]), json.loads(body[digits:])


async def answer(ws: WsClient, ack_id: int, *args: object) -> None:
    await ws.send_text(f"43{ack_id}{json.dumps(list(args), separators=(',', ':'))}")


async def joined(sio: Server, count: int) -> tuple[list[WsClient], list[Socket]]:
    """``count`` clients connected to ``/``, and their sockets."""
    clients = [await open_ws(sio) for _ in range(count)]
    sids = [await join(ws) for ws in clients]
    return clients, [sio.sockets.sockets[sid] for sid in sids]


async def test_a_broadcast_call_gathers_every_clients_first_ack_argument(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, sockets = await joined(sio, 3)
        for socket in sockets[:2]:
            socket.join("r")
        result: list[list[str]] = []

        async def ask() -> None:
            result.append(await sio.to("r").timeout(5).call("q", 1))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            ids = []
            for ws, name in zip(clients[:2], "ab", strict=True):
                ack_id, payload = ack_request(await recv(ws))
                assert payload == ["q", 1]
                ids.append(ack_id)
                await answer(ws, ack_id, name, "ignored second argument")
            assert ids[0] == ids[1]  # one id for every recipient: the packet is encoded once
        assert sorted(result[0]) == ["a", "b"]
        for ws in clients:
            await ws.close()


async def test_a_broadcast_call_times_out_with_the_answers_that_came(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, _ = await joined(sio, 2)
        async with trio.open_nursery() as nursery:
            errors: list[AckTimeoutError] = []

            async def ask() -> None:
                start = trio.current_time()
                with pytest.raises(AckTimeoutError) as caught:
                    await sio.timeout(2).call("q")
                assert trio.current_time() - start == pytest.approx(2)
                errors.append(caught.value)

            nursery.start_soon(ask)
            ack_id, _ = ack_request(await recv(clients[0]))
            await recv(clients[1])  # this one never answers
            await answer(clients[0], ack_id, "early")
        assert str(errors[0]) == "operation has timed out"
        assert errors[0].responses == ["early"]
        # A late answer finds nothing waiting: ignored, and the session goes on.
        await answer(clients[1], ack_id, "late")
        await clients[1].send_text('42["message","still here"]')
        assert await recv(clients[1]) == '42["message-back","still here"]'
        for ws in clients:
            await ws.close()


async def test_concurrent_broadcast_calls_answered_out_of_order_each_get_their_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, _ = await joined(sio, 2)
        results: dict[str, object] = {}

        async def ask(tag: str) -> None:
            results[tag] = await sio.timeout(5).call("q", tag)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "one")
            await settle()
            nursery.start_soon(ask, "two")
            for ws in clients:
                first = ack_request(await recv(ws))
                second = ack_request(await recv(ws))
                # Answer the later question first.
                for ack_id, payload in (second, first):
                    await answer(ws, ack_id, f"{payload[1]}-reply")
        assert results == {"one": ["one-reply"] * 2, "two": ["two-reply"] * 2}
        for ws in clients:
            await ws.close()


async def test_a_broadcast_call_to_nobody_returns_an_empty_list_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        start = trio.current_time()
        assert await sio.to("empty").timeout(5).call("q") == []
        assert trio.current_time() == start


async def test_a_broadcast_call_needs_a_timeout_and_a_valid_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        with pytest.raises(ValueError, match="needs a timeout"):
            await sio.to("r").call("q")
        for bad in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="finite"):
                sio.timeout(bad)
        with pytest.raises(ValueError, match="reserved"):
            await sio.timeout(1).call("disconnect")


async def test_a_client_that_leaves_during_a_broadcast_call_is_waited_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """As in the reference: the leaver's ack never comes, so the call times out."""
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, _ = await joined(sio, 2)
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                with pytest.raises(AckTimeoutError) as caught:
                    await sio.timeout(3).call("q")
                assert caught.value.responses == ["stayed"]

            nursery.start_soon(ask)
            ack_id, _ = ack_request(await recv(clients[0]))
            await recv(clients[1])
            await clients[1].close()
            await answer(clients[0], ack_id, "stayed")
        await clients[0].close()


async def test_socket_timeout_call_returns_the_ack_or_raises_ack_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, sockets = await joined(sio, 1)
        ws, socket = clients[0], sockets[0]
        async with trio.open_nursery() as nursery:
            got: list[object] = []

            async def ask() -> None:
                got.append(await socket.timeout(5).call("q", 1))
                with pytest.raises(AckTimeoutError) as caught:
                    await socket.timeout(1).call("q", 2)
                assert caught.value.responses == []
                got.append("timed out")

            nursery.start_soon(ask)
            ack_id, _ = ack_request(await recv(ws))
            await answer(ws, ack_id, "one", "two")
            second_id, _ = ack_request(await recv(ws))
        assert got == [("one", "two"), "timed out"]
        await answer(ws, second_id, "late")  # ignored
        await ws.close()
        with pytest.raises(SessionClosedError):
            await socket.timeout(1).call("q")


async def test_local_emits_and_the_operator_forms_of_join_leave_and_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio, _, _ = suite_server()
    async with serving(sio):
        clients, (a, b) = await joined(sio, 2)
        await sio.local.to(a.sid).emit("only-a")
        assert await recv(clients[0]) == '42["only-a"]'
        await sio.sockets_join("all")
        assert a.rooms == {a.sid, "all"} and b.rooms == {b.sid, "all"}
        await sio.to(b.sid).sockets_leave("all")
        assert b.rooms == {b.sid}
        (fetched,) = await sio.local.in_("all").fetch_sockets()
        assert fetched is a and fetched.id == a.sid
        handshake = a.handshake
        assert handshake["url"].startswith("/socket.io/?")
        assert handshake["query"]["transport"] == "websocket"
        assert handshake["headers"]["host"] == "127.0.0.1"
        assert handshake["auth"] == {} and isinstance(handshake["issued"], int)
        await sio.in_("all").disconnect_sockets()
        assert await recv(clients[0]) == "41"
        assert list(sio.sockets.sockets) == [b.sid]
        for ws in clients:
            await ws.close()


async def test_server_side_events_with_no_other_server(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The reference delivers server-side events to the *other* servers only: alone, a call
    returns no answers at once and an emit reaches no handler."""
    sio = Server()
    seen: list[object] = []

    @sio.on_server_side("hello")
    async def hello(*args: object) -> str:
        seen.append(args)
        return "hi"

    async with serving(sio):
        await sio.server_side_emit("hello", 1)
        assert await sio.server_side_call("hello", 1) == []
        assert seen == []
        for reserved in ("connect", "connection", "new_namespace", "disconnecting"):
            with pytest.raises(ValueError, match="reserved"):
                await sio.server_side_emit(reserved)
        with pytest.raises(ValueError, match="reserved"):
            sio.on_server_side("connection")
        assert await sio.sockets.run_server_side(["hello", 2]) == (True, "hi")
        assert await sio.sockets.run_server_side(["nobody"]) == (False, None)
        assert seen == [(2,)]
