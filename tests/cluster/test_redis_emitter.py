"""minisock's Python Emitter against both server implementations at once.

scenarios.mjs checks Node's @socket.io/redis-emitter against every pair of servers; this file
checks ours: ``minisock.adapters.redis.Emitter`` publishing to a cluster of minisock_app.py
and node_app.mjs (the reference server) on one Redis, with raw-frame Socket.IO clients on
both. Each step ends with a fence (an emit to everyone, on the emitter's one connection), so
"nobody else got it" is checked without sleeping. Then ``.of(nsp)`` against an in-process
minisock server with a second namespace, and the emitter's refusals.
"""

from __future__ import annotations

import secrets
from typing import Any

import _node
import pytest
import trio

from minisock import ClusterError
from minisock.adapters.redis import Emitter
from minisock.proto.cluster import ClusterEncodeError

from ._procs import NPM_PACKAGES, ProcessGroup, RedisServer, start_app
from ._redis_helpers import STEP, SioClient, build_node, serving, wait_for

pytestmark = pytest.mark.cluster


async def start_apps(processes: ProcessGroup, url: str) -> tuple[int, int]:
    def start() -> tuple[int, int]:
        a = start_app(processes, "minisock", "minisock-A", url)
        b = start_app(processes, "node", "node-B", url)
        return a.port, b.port

    return await trio.to_thread.run_sync(start)


async def received(
    emitter: Emitter, clients: dict[str, SioClient]
) -> dict[str, list[tuple[str, list[Any]]]]:
    """Fence, then what each client got before the fence."""
    await emitter.emit("fence")
    return {
        name: [(p.event, p.args) for p in await client.events_until("fence")]
        for name, client in clients.items()
    }


async def poll(client: SioClient, event: str, check: Any, what: str) -> Any:
    """Ask ``client`` for ``event`` until ``check(answer)`` (remote joins and server-side
    events are fire-and-forget: nothing says when they were applied)."""
    with trio.move_on_after(STEP):
        while True:
            answer = await client.call(event)
            if check(answer):
                return answer
            await trio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; last answer {answer!r}")


@pytest.mark.js
async def test_the_python_emitter_reaches_minisock_and_node_servers(
    redis_server: RedisServer, processes: ProcessGroup
) -> None:
    _node.require_node(*NPM_PACKAGES)
    port_a, port_b = await start_apps(processes, redis_server.url)
    run = secrets.token_hex(3)
    r1, r2, joined = f"{run}-r1", f"{run}-r2", f"{run}-j"
    clients = {
        "a1": await SioClient.connect(port_a, {"name": "a1", "rooms": [r1]}),
        "a2": await SioClient.connect(port_a, {"name": "a2", "rooms": [r2]}),
        "b1": await SioClient.connect(port_b, {"name": "b1", "rooms": [r1]}),
        "b2": await SioClient.connect(port_b, {"name": "b2", "rooms": [r2]}),
    }
    nobody: dict[str, list[tuple[str, list[Any]]]] = {name: [] for name in clients}
    gone: list[SioClient] = []

    def only(event: str, args: list[Any], *names: str) -> dict[str, Any]:
        return {name: [(event, args)] if name in names else [] for name in clients}

    async with Emitter(redis_server.url) as emitter:
        payload = [1, "two", {"three": [3.5, None, True]}]
        await emitter.emit("all", *payload)
        assert await received(emitter, clients) == only("all", payload, *clients)

        await emitter.to(r1).emit("bin", b"\x00\xff binary", {"nested": b"\x01"})
        expected = only("bin", [b"\x00\xff binary", {"nested": b"\x01"}], "a1", "b1")
        assert await received(emitter, clients) == expected

        await emitter.to(r1, r2).except_(r2).emit("except")
        assert await received(emitter, clients) == only("except", [], "a1", "b1")
        await emitter.except_(r1).emit("except-only")
        assert await received(emitter, clients) == only("except-only", [], "a2", "b2")
        await emitter.to(f"{run}-empty").emit("empty")
        assert await received(emitter, clients) == nobody

        await emitter.in_(r2).sockets_join(joined)
        for name in ("a2", "b2"):
            await poll(clients[name], "rooms", lambda rooms: joined in rooms, f"{name} joined")
        await emitter.to(joined).emit("to-joined")
        assert await received(emitter, clients) == only("to-joined", [], "a2", "b2")
        await emitter.in_(joined).sockets_leave(joined)
        for name in ("a2", "b2"):
            await poll(clients[name], "rooms", lambda rooms: joined not in rooms, f"{name} left")
        await emitter.to(joined).emit("to-joined")
        assert await received(emitter, clients) == nobody

        tag = f"{run}-note"
        await emitter.server_side_emit("note", tag, {"k": [1, 2]})
        for name in ("a1", "b1"):
            notes = await poll(
                clients[name],
                "notes",
                lambda notes: any(n[0] == tag for n in notes),
                f"the note on {name}'s server",
            )
            assert [n for n in notes if n[0] == tag] == [[tag, {"k": [1, 2]}]]

        # Another namespace's broadcast reaches nobody in "/".
        await emitter.of("/other").emit("elsewhere")
        assert await received(emitter, clients) == nobody

        await emitter.in_(r1).disconnect_sockets()
        for name in ("a1", "b1"):
            gone.append(clients.pop(name))
            assert await gone[-1].wait_disconnected() == []
        await emitter.emit("after")
        assert await received(emitter, clients) == only("after", [], "a2", "b2")
    for client in (*clients.values(), *gone):
        await client.aclose()


async def test_the_emitter_of_a_namespace_reaches_only_that_namespace(
    redis_server: RedisServer,
) -> None:
    a = build_node("A", redis_server.url)
    admin_notes: list[list[Any]] = []

    @a.sio.of("/admin").on_server_side("note")
    async def note(*args: Any) -> None:
        admin_notes.append(list(args))

    @a.sio.of("/admin").on("connect")
    async def connect(socket: Any, auth: Any) -> None:
        socket.join(*(auth or {}).get("rooms", ()))

    async with serving(a):
        root = await SioClient.connect(a.port, {"name": "root", "rooms": ["r"]})
        admin = await SioClient.connect(a.port, {"rooms": ["r"]}, nsp="/admin")
        admin2 = await SioClient.connect(a.port, {}, nsp="/admin")
        async with Emitter(redis_server.url) as emitter:
            for of in (emitter.of("/admin"), emitter.of("admin")):
                await of.to("r").emit("hello", "admins")
                await of.emit("fence")
                await emitter.emit("fence")
                assert [(p.nsp, p.event, p.args) for p in await admin.events_until("fence")] == [
                    ("/admin", "hello", ["admins"])
                ]
                assert await admin2.events_until("fence") == []
                assert await root.events_until("fence") == []
            await emitter.of("/admin").server_side_emit("note", "for admin")
            await wait_for("the /admin note", lambda: bool(admin_notes))
            await emitter.server_side_emit("note", "for root")
            await wait_for("the / note", lambda: bool(a.server_side))
            assert admin_notes == [["for admin"]]
            assert a.server_side == [("note", ["for root"])]
        for client in (root, admin, admin2):
            await client.aclose()


async def test_the_emitter_refuses_what_it_cannot_send(redis_server: RedisServer) -> None:
    a = build_node("A", redis_server.url)
    async with serving(a):
        client = await SioClient.connect(a.port, {"name": "c"})
        with pytest.raises(ClusterError):
            await Emitter(redis_server.url).emit("x")
        async with Emitter(redis_server.url) as emitter:
            with pytest.raises(ClusterEncodeError):
                await emitter.emit("x", 2**53 + 1)
            with pytest.raises(ClusterEncodeError):
                await emitter.to("r").emit("x", {"n": [-(2**60)]})
            with pytest.raises(ClusterEncodeError):
                await emitter.server_side_emit("note", 2**64)
            with pytest.raises(ValueError):
                await emitter.emit("connect")
            with pytest.raises(ValueError):
                await emitter.server_side_emit("new_namespace")
            await emitter.emit("fence")
            assert await client.events_until("fence") == []
        await trio.sleep(0.05)
        assert a.server_side == []
        await client.aclose()
