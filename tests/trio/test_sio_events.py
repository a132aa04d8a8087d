"""The event path's edge cases, on raw frames in memory under ``autojump_clock``.

Acks answered later (``take_ack``), never (``NO_ACK``), twice or too late; event middlewares
(``socket.use``) and their errors; catch-all listeners both ways; volatile packets; the
per-socket rate limit. The JS tests (``tests/js/test_event_path.py``) check the same ideas
against socket.io-client and the Node reference; these pin down what a client cannot see.
Wire lines in comments are labelled ``C→S`` or ``S→C``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from minisock import NO_ACK, Ack, RateLimit, Server, SessionClosedError, Socket
from minisock.ack import NoAck
from minisock.socket import _EMITS_PER_PASS
from minisock.testing import WsClient, memory_connection, running_server

WS_TARGET = "/socket.io/?EIO=4&transport=websocket"


async def connect(sio: Server, nsp: str = "/") -> WsClient:
    ws = await WsClient.connect(memory_connection(sio.engine), "127.0.0.1", WS_TARGET)
    assert str(await ws.receive()).startswith("0")
    head = "40" if nsp == "/" else f"40{nsp},"
    await ws.send_text(head)
    assert str(await ws.receive()).startswith(head + '{"sid":')
    return ws


async def nothing_for(ws: WsClient, seconds: float) -> None:
    """No message (other than pings, answered) arrives within ``seconds``."""
    with trio.move_on_after(seconds):
        while True:
            message = await ws.receive()
            if message == "2":
                await ws.send_text("3")
                continue
            raise AssertionError(f"unexpected {message!r}")


async def recv(ws: WsClient) -> str | bytes:
    while True:
        message = await ws.receive()
        if message != "2":
            return message
        await ws.send_text("3")


# ---------------------------------------------------------------- acks


async def test_an_ack_taken_is_answered_later_from_another_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    taken: list[Ack] = []

    @sio.on("slow")
    async def slow(socket: Socket, x: int) -> str:
        ack = socket.take_ack()
        assert ack is not None and socket.take_ack() is None  # once only
        taken.append(ack)
        return "ignored"  # the ack was taken: this is not sent

    @sio.on("fast")
    async def fast(socket: Socket) -> str:
        return "fast"

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('421["slow",5]')  # C→S
        await ws.send_text('422["fast"]')
        assert await recv(ws) == '432["fast"]'  # S→C: the fast one first
        await nothing_for(ws, 1.0)

        async def answer() -> None:
            assert taken[0]("late", 5)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)  # another task answers
        assert await recv(ws) == '431["late",5]'
        with pytest.raises(RuntimeError, match="already answered"):
            taken[0]("again")
        await nothing_for(ws, 1.0)


async def test_no_ack_leaves_the_request_unanswered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("maybe")
    async def maybe(socket: Socket, answer: bool) -> str | NoAck:
        return "yes" if answer else NO_ACK

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('427["maybe",false]')
        await nothing_for(ws, 1.0)
        await ws.send_text('428["maybe",true]')
        assert await recv(ws) == '438["yes"]'


async def test_take_ack_is_none_without_an_ack_request_or_outside_a_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    seen: list[Any] = []
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        sockets.append(socket)

    @sio.on("plain")
    async def plain(socket: Socket) -> None:
        seen.append((socket.ack_requested, socket.take_ack()))

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('42["plain"]')
        await nothing_for(ws, 0.5)
        assert seen == [(False, None)]
        assert sockets[0].take_ack() is None


async def test_a_child_task_takes_the_ack_of_a_handler_that_returned_no_ack(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    late: list[Ack | None] = []

    @sio.on("spawn")
    async def spawn(socket: Socket, answer: bool) -> NoAck | str:
        async def child() -> None:
            await trio.sleep(1)
            ack = socket.take_ack()  # the context of its event, copied at spawn
            late.append(ack)
            if ack is not None:
                ack("from child")

        sio.engine.spawn(child)
        return NO_ACK if answer else "at once"

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('423["spawn",true]')
        assert await recv(ws) == '433["from child"]'
        await ws.send_text('424["spawn",false]')
        assert await recv(ws) == '434["at once"]'
        await nothing_for(ws, 2.0)
        assert late[1] is None  # already answered by the return value


async def test_an_ack_after_the_socket_left_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    taken: list[Ack] = []

    @sio.on("hold")
    async def hold(socket: Socket) -> None:
        ack = socket.take_ack()
        assert ack is not None
        taken.append(ack)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('429["hold"]')
        await nothing_for(ws, 0.5)
        await ws.send_text("41")  # C→S DISCONNECT
        await nothing_for(ws, 0.5)
        assert taken[0]("too late") is False
        with pytest.raises(RuntimeError):
            taken[0]("again")


async def test_an_ack_that_cannot_be_encoded_raises_and_may_be_answered_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("bad")
    async def bad(socket: Socket) -> NoAck:
        ack = socket.take_ack()
        assert ack is not None
        with pytest.raises(TypeError):
            ack({1, 2})  # a set is not JSON
        assert ack("fine")
        return NO_ACK

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('425["bad"]')
        assert await recv(ws) == '435["fine"]'


async def test_take_ack_answered_from_a_task_of_the_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("later")
    async def later(socket: Socket) -> None:
        ack = socket.take_ack()
        assert ack is not None

        async def answer() -> None:
            await trio.sleep(1)
            ack("done")

        sio.engine.spawn(answer)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('426["later"]')
        assert await recv(ws) == '436["done"]'


# ---------------------------------------------------------------- middlewares and catch-alls


async def test_middlewares_run_in_order_change_args_and_drop_with_an_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    order: list[str] = []
    errors: list[tuple[str, str]] = []

    async def first(socket: Socket, event: list[Any]) -> None:
        order.append(f"first {event[0]}")
        await trio.sleep(0.1)  # async middlewares may wait
        if event[0] == "bad":
            raise PermissionError("refused")
        event.append("added")

    async def second(socket: Socket, event: list[Any]) -> None:
        order.append(f"second {event[0]}")

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        socket.use(first)
        socket.use(second)
        socket.on_any(lambda event, *args: order.append(f"any {event}"))

    @sio.on("error")
    async def error(socket: Socket, exc: Exception) -> None:
        errors.append((type(exc).__name__, str(exc)))

    @sio.on("good")
    async def good(socket: Socket, *args: Any) -> list[Any]:
        order.append("handler")
        return list(args)

    @sio.on("bad")
    async def bad(socket: Socket) -> str:
        order.append("bad handler")
        return "ran"

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('421["bad"]')
        await ws.send_text('422["good",1]')
        assert await recv(ws) == '432[[1,"added"]]'  # the bad one got no ack
        await nothing_for(ws, 0.5)
    assert order == [
        "any bad",  # Node: catch-alls before the middlewares, even for a dropped event
        "first bad",
        "any good",
        "first good",
        "second good",
        "handler",
    ]
    assert errors == [("PermissionError", "refused")]


async def test_a_middleware_error_without_an_error_handler_is_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sio = Server()

    async def refuse(socket: Socket, event: list[Any]) -> None:
        raise ValueError("no")

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        socket.use(refuse)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        with caplog.at_level(logging.INFO, logger="minisock.client"):
            await ws.send_text('42["x"]')
            await nothing_for(ws, 0.5)
        await ws.send_text('42["x"]')  # still connected, still dropped
        await nothing_for(ws, 0.5)
    assert "an event middleware dropped an event" in caplog.text


async def test_catch_alls_prepend_off_and_contained_errors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    seen: list[str] = []
    out: list[Any] = []

    def boom(event: str, *args: Any) -> None:
        raise RuntimeError("listener bug")

    def a(event: str, *args: Any) -> None:
        seen.append(f"a {event}")

    def b(event: str, *args: Any) -> None:
        seen.append(f"b {event}")

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        socket.on_any(a)
        socket.on_any(boom)
        socket.prepend_any(b)
        socket.on_any_outgoing(lambda event, *args: out.append([event, *args]))
        socket.prepend_any_outgoing(lambda event, *args: out.append("first"))

    @sio.on("off")
    async def off(socket: Socket, which: str | None) -> int:
        socket.off_any(a if which == "a" else None)
        await socket.emit("direct", 1)
        await sio.emit("everyone", 2)
        return 3  # an ack: not seen by the outgoing listeners

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('42["unhandled",1]')
        await ws.send_text('421["off","a"]')
        assert await recv(ws) == '42["direct",1]'
        assert await recv(ws) == '42["everyone",2]'
        assert await recv(ws) == "431[3]"
        await ws.send_text('42["after"]')
        await ws.send_text('422["off",null]')
        for _ in range(3):
            await recv(ws)
        await ws.send_text('42["silence"]')
        await nothing_for(ws, 0.5)
    # Listeners run before the handler that removes them; off_any(None) removes every one.
    assert seen == ["b unhandled", "a unhandled", "b off", "a off", "b after", "b off"]
    assert out == ["first", ["direct", 1], "first", ["everyone", 2]] * 2


async def test_plain_sockets_allocate_no_hooks(autojump_clock: trio.testing.MockClock) -> None:
    sio = Server()
    sockets: list[Socket] = []

    @sio.on("e")
    async def e(socket: Socket) -> None:
        sockets.append(socket)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('42["e"]')
        await nothing_for(ws, 0.5)
    assert sockets[0].hooks is None


# ---------------------------------------------------------------- volatile


async def test_volatile_in_the_connect_handler_is_dropped_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    sockets: list[Socket] = []

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        await socket.volatile.emit("early")  # the client does not know it is connected yet
        await socket.emit("held")
        sockets.append(socket)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        assert await recv(ws) == '42["held"]'
        await ws.send_text("41")
        await nothing_for(ws, 0.5)
        with pytest.raises(SessionClosedError):
            await sockets[0].volatile.emit("gone")
    assert sio.stats.volatile_dropped == 1


async def test_volatile_reaches_an_idle_websocket(autojump_clock: trio.testing.MockClock) -> None:
    sio = Server()

    @sio.on("v")
    async def v(socket: Socket) -> None:
        await socket.volatile.emit("one")
        await trio.sleep(0.5)
        await sio.volatile.emit("two")

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('42["v"]')
        assert await recv(ws) == '42["one"]'
        assert await recv(ws) == '42["two"]'
    assert sio.stats.volatile_dropped == 0


# ---------------------------------------------------------------- rate limits


async def test_rate_limit_refills_over_time_and_namespaces_may_override(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server(rate_limit=RateLimit(rate=2, burst=2))
    free = sio.of("/free")
    free.rate_limit = None

    @sio.on("n")
    async def n(socket: Socket, i: int) -> int:
        return i

    @free.on("n")
    async def n_free(socket: Socket, i: int) -> int:
        return i

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        for i in range(5):
            await ws.send_text(f'42{i}["n",{i}]')
        assert [await recv(ws) for _ in range(2)] == ["430[0]", "431[1]"]
        await nothing_for(ws, 0.5)  # one token back after 0.5 s
        await ws.send_text('429["n",9]')
        assert await recv(ws) == "439[9]"
        other = await connect(sio, "/free")
        for i in range(5):
            await other.send_text(f'42/free,{i}["n",{i}]')
        assert [await recv(other) for _ in range(5)] == [f"43/free,{i}[{i}]" for i in range(5)]
    assert sio.stats.rate_limited == 3


async def test_rate_limit_disconnect_sends_disconnect_and_reports_rate_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server(rate_limit=RateLimit(rate=1, burst=1, disconnect=True))
    reasons: list[str] = []

    @sio.on("disconnect")
    async def gone(socket: Socket, reason: str) -> None:
        reasons.append(reason)

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('42["a"]')
        await ws.send_text('42["b"]')
        assert await recv(ws) == "41"  # S→C DISCONNECT: socket.io-client's "io server disconnect"
        await nothing_for(ws, 0.5)
    assert reasons == ["rate limit"]
    assert (sio.stats.rate_limited, sio.stats.rate_limit_disconnects) == (1, 1)


async def test_a_middleware_may_take_the_ack_and_answer_a_refusal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    async def guard(socket: Socket, event: list[Any]) -> None:
        if event[0] == "admin":
            ack = socket.take_ack()
            if ack is not None:
                ack({"error": "forbidden"})
            raise PermissionError("admin only")

    @sio.on("connect")
    async def connected(socket: Socket, auth: dict[str, Any]) -> None:
        socket.use(guard)

    @sio.on("admin")
    async def admin(socket: Socket) -> str:
        return "secret"

    async with running_server(sio.engine, in_memory=True):
        ws = await connect(sio)
        await ws.send_text('421["admin"]')
        assert await recv(ws) == '431[{"error":"forbidden"}]'
        await ws.send_text('42["admin"]')  # no ack asked: nothing at all
        await nothing_for(ws, 0.5)


# ---------------------------------------------------------------- where handlers run
# In the task that read their message; when one waits, the reading moves to a new task and
# the handlers of later messages run there. Pinned by the identity of the task each runs in.


async def test_handlers_run_in_the_reader_and_follow_it_when_it_moves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    tasks: list[trio.lowlevel.Task] = []

    @sio.on("where")
    async def where(socket: Socket, wait: bool) -> int:
        tasks.append(trio.lowlevel.current_task())
        if wait:
            await trio.sleep(1)
        return len(tasks)

    with trio.fail_after(60):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["where",false]')
            assert await ws.receive() == "431[1]"
            await ws.send_text('422["where",true]')
            assert await ws.receive() == "432[2]"
            await ws.send_text('423["where",false]')
            assert await ws.receive() == "433[3]"
            await ws.send_text('424["where",false]')
            assert await ws.receive() == "434[4]"
            await ws.close()
    assert tasks[0] is tasks[1]  # both in the reader: no task per event
    assert tasks[2] is not tasks[1]  # the second waited: a new task reads since
    assert tasks[3] is tasks[2]


# ---------------------------------------------------------------- emit as a checkpoint
# An emit that fits at once skips the scheduler pass, except every _EMITS_PER_PASS-th; it is
# always a cancellation point.


async def test_a_handler_that_emits_in_a_loop_lets_other_tasks_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()
    ran_meanwhile: list[bool] = []

    @sio.on("burst")
    async def burst(socket: Socket) -> None:
        other_ran: list[bool] = []

        async def other() -> None:
            other_ran.append(True)

        sio.engine.spawn(other)
        for i in range(2 * _EMITS_PER_PASS):
            await socket.emit("n", i)
        ran_meanwhile.append(bool(other_ran))

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('42["burst"]')
            for i in range(2 * _EMITS_PER_PASS):
                assert await ws.receive() == f'42["n",{i}]'
            await ws.close()
    assert ran_meanwhile == [True]


async def test_an_emit_in_a_cancelled_scope_sends_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sio = Server()

    @sio.on("try")
    async def attempt(socket: Socket) -> str:
        with trio.CancelScope() as scope:
            scope.cancel()
            await socket.emit("never")
        return "after"

    with trio.fail_after(10):
        async with running_server(sio.engine, in_memory=True):
            ws = await connect(sio)
            await ws.send_text('421["try"]')
            assert await ws.receive() == '431["after"]'
            await ws.close()
