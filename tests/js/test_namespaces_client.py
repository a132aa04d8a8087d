"""Dynamic and class-based namespaces and adapter room events, checked by the npm
``socket.io-client``.

Each scenario of ``nsp_scenarios.mjs`` runs first against the Node reference server
(``nsp_node_server.mjs``, socket.io 4.8, started as a subprocess and stopped by PID), so the
scenario's expectations are the reference's behaviour; then against the same server built
with minisock (:func:`build_server`). Never skips: a missing toolchain is a failure.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import _node
import pytest
import trio

from minisock import ClassNamespace, ConnectRefusedError, Namespace, Server, Socket

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "nsp_scenarios.mjs"
NODE_SERVER = JS_DIR / "nsp_node_server.mjs"
SCENARIOS = ["dynamic", "room-events"]
DEADLINE = 30.0  # the script has its own 15 s timeout; this guards against a wedged process
PACKAGES = ("socket.io-client", "socket.io")


class Hello(ClassNamespace):
    """The handlers of ``hello`` below, as a class-based namespace (python-socketio's style)."""

    def __init__(self, namespace: str | re.Pattern[str], kind: str) -> None:
        super().__init__(namespace)
        self.kind = kind

    async def on_connect(self, socket: Socket, auth: dict[str, Any]) -> None:
        await socket.emit("hello", {"nsp": socket.nsp, "kind": self.kind})

    async def on_join(self, socket: Socket, rooms: list[str]) -> list[str]:
        socket.join(*rooms)
        return sorted(room for room in socket.rooms if room != socket.sid)

    def on_leave(self, socket: Socket, room: str) -> bool:  # a plain method works too
        socket.leave(room)
        return True


def build_server(class_based: bool = False) -> Server:
    """The server of the contract at the top of nsp_scenarios.mjs.

    With ``class_based``, the static and the first regex namespace get their handlers from
    :class:`Hello` instead of decorated functions: the client must not see a difference.
    """
    sio = Server(cleanup_empty_child_namespaces=True)

    def hello(namespace: Namespace, kind: str) -> None:
        @namespace.on("connect")
        async def connect(socket: Socket, auth: dict[str, Any]) -> None:
            await socket.emit("hello", {"nsp": socket.nsp, "kind": kind})

        @namespace.on("join")
        async def join(socket: Socket, rooms: list[str]) -> list[str]:
            socket.join(*rooms)
            return sorted(room for room in socket.rooms if room != socket.sid)

        @namespace.on("leave")
        async def leave(socket: Socket, room: str) -> bool:
            socket.leave(room)
            return True

    if class_based:
        sio.register_namespace(Hello("/dyn-0", "static"))
        digits = sio.register_namespace(Hello(re.compile(r"^/dyn-\d+$"), "regex"))
    else:
        hello(sio.of("/dyn-0"), "static")
        digits = sio.of(re.compile(r"^/dyn-\d+$"))

    @digits.use
    async def deny(socket: Socket, auth: dict[str, Any]) -> None:
        if auth.get("deny"):
            raise ConnectRefusedError("denied")

    if not class_based:
        hello(digits, "regex")
    hello(sio.of(re.compile(r"^/dyn-")), "regex2")

    def fn_only(name: str, auth: dict[str, Any]) -> bool:
        return name.startswith("/fn-") and auth.get("ok") is True

    hello(sio.of(fn_only), "fn")

    async def boom(name: str, auth: dict[str, Any]) -> bool:
        await trio.lowlevel.checkpoint()
        if name == "/boom":
            raise RuntimeError("boom")
        return False

    sio.of(boom)

    room_log: list[list[Any]] = []
    events = sio.of("/events")
    for kind in ("create-room", "delete-room"):
        events.adapter.on(kind)(lambda room, kind=kind: room_log.append([kind, room, None]))
    for kind in ("join-room", "leave-room"):
        events.adapter.on(kind)(lambda room, sid, kind=kind: room_log.append([kind, room, sid]))
    hello(events, "events")

    @sio.on("parent-emit")
    async def parent_emit(socket: Socket, spec: dict[str, Any]) -> bool:
        await digits.emit(spec["event"], spec["payload"])
        return True

    @sio.on("parent-to")
    async def parent_to(socket: Socket, spec: dict[str, Any]) -> bool:
        await digits.to(spec["room"]).emit(spec["event"], spec["payload"])
        return True

    @sio.on("namespaces")
    async def namespaces(socket: Socket) -> list[str]:
        return sorted(sio.namespaces)

    @sio.on("room-log")
    async def room_log_of(socket: Socket) -> list[list[Any]]:
        return room_log

    return sio


async def run_scenario(scenario: str, base_url: str) -> dict[str, Any]:
    return await _node.run_scenario(
        SCRIPT, scenario, base_url, packages=PACKAGES, deadline=DEADLINE
    )


@pytest.fixture
def node_server() -> Iterator[str]:
    """The Node reference server of the contract; its base URL. Stopped by PID."""
    with _node.reference_server(NODE_SERVER, packages=PACKAGES) as url:
        yield url


@pytest.fixture(params=["decorated", "class-based"])
async def minisock_server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    async with _node.serving(build_server(class_based=request.param == "class-based")) as url:
        yield url


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_the_node_reference(scenario: str, node_server: str) -> None:
    await run_scenario(scenario, node_server)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_scenario_on_minisock(scenario: str, minisock_server: str) -> None:
    await run_scenario(scenario, minisock_server)
