"""TLS and the Engine.IO hooks, through the npm engine.io-client and socket.io-client.

Every scenario of ``hooks_scenarios.mjs`` runs twice: first against the Node reference
(``hooks_reference_server.mjs``: engine.io 6.6 and socket.io 4.8), then against minisock built
to the same contract, both over ``https://`` / ``wss://`` with a certificate from a CA made
here by trustme. The client trusts that CA through its ``ca`` option only. What a client can
see must be the same: echoes, ``handshake.secure``, the sid from ``generate_id``, the cookie
jar (``Set-Cookie`` from the cookie option and both headers hooks), and a refusal's status and
body. The ``connection_error`` events each server reports are compared too.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _node
import pytest
import trio
import trustme

from minisock import (
    ConnectionErrorEvent,
    CookieOptions,
    EngineServer,
    EngineSocket,
    Request,
    RequestRefusedError,
    Server,
    Socket,
)
from minisock.testing import HttpClient, WsClient, eio_target

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "hooks_scenarios.mjs"
REFERENCE = JS_DIR / "hooks_reference_server.mjs"
DEADLINE = 30.0


@dataclass
class Certs:
    ca_file: Path
    cert_file: Path
    key_file: Path
    server_context: ssl.SSLContext


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    files = Certs(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem", context)
    ca.cert_pem.write_to_path(str(files.ca_file))
    cert.private_key_pem.write_to_path(str(files.key_file))
    for n, blob in enumerate(cert.cert_chain_pems):
        blob.write_to_path(str(files.cert_file), append=n > 0)
    return files


@dataclass
class Running:
    port: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    """The connection_error events, as the reference prints them."""


def _install_hooks(engine: EngineServer, name: str, running: Running) -> None:
    """The contract's hooks, the minisock way (see hooks_reference_server.mjs)."""

    @engine.on("initial_headers")
    def initial(headers: list[tuple[str, str]], request: Request) -> None:
        headers.append(("Set-Cookie", "initial=yes"))

    @engine.on("headers")
    def every(headers: list[tuple[str, str]], request: Request) -> None:
        seen = "initial=yes" in (request.header("cookie") or "")
        headers.append(("Set-Cookie", f"seen={'yes' if seen else 'no'}"))

    @engine.on("connection_error")
    def refused(event: ConnectionErrorEvent) -> None:
        context = {k: v for k, v in event.context.items() if not isinstance(v, dict | list)}
        running.errors.append(
            {"engine": name, "code": event.code, "message": event.message, "context": context}
        )


def _hook_options() -> dict[str, Any]:
    counter = 0

    async def allow_request(request: Request) -> bool:
        await trio.sleep(0.005)  # a database asked
        if request.query.get("deny") == "1":
            raise RequestRefusedError("banned")
        return True

    async def generate_id(request: Request) -> str:
        nonlocal counter
        await trio.sleep(0.001)
        counter += 1
        return f"custom-{counter}"

    return {
        "ping_interval": 5.0,
        "ping_timeout": 5.0,
        "cookie": CookieOptions(name="io", max_age=3600),
        "allow_request": allow_request,
        "generate_id": generate_id,
    }


@asynccontextmanager
async def minisock_server(certs: Certs) -> AsyncIterator[Running]:
    options = _hook_options()
    sio = Server(**options)
    eio = EngineServer(path="/engine.io/", **options)
    sio.mount(eio)

    @eio.on("message")
    async def echo(sock: EngineSocket, data: str | bytes) -> None:
        await sock.send(data)

    @sio.on("echo")
    async def echo_ack(socket: Socket, value: Any) -> Any:
        return value

    @sio.on("handshake")
    async def handshake(socket: Socket) -> dict[str, Any]:
        return {"secure": socket.handshake["secure"]}

    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: sio.serve(
                "127.0.0.1", 0, ssl_context=certs.server_context, task_status=task_status
            )
        )
        running = Running(port)
        _install_hooks(eio, "eio", running)
        _install_hooks(sio.engine, "sio", running)
        try:
            yield running
        finally:
            sio.shutdown()


@asynccontextmanager
async def node_server(certs: Certs) -> AsyncIterator[Running]:
    node = _node.require_node("engine.io", "socket.io")
    command = [node, str(REFERENCE), str(certs.cert_file), str(certs.key_file)]
    async with trio.open_nursery() as nursery:
        proc: trio.Process = await nursery.start(
            lambda task_status: trio.run_process(
                command, stdout=subprocess.PIPE, check=False, task_status=task_status
            )
        )
        assert proc.stdout is not None
        lines = _Lines(proc.stdout)
        with trio.fail_after(DEADLINE):
            first = await lines.next()
        assert first is not None, "the reference server exited before listening"
        port = json.loads(first)["port"]
        running = Running(port)

        async def collect() -> None:
            while (line := await lines.next()) is not None:
                event = json.loads(line)
                event.pop("event")
                running.errors.append(event)

        nursery.start_soon(collect)
        try:
            yield running
        finally:
            proc.terminate()  # this test's own subprocess, by its handle


class _Lines:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> str | None:
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some()
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode("utf-8")


ServerFactory = Callable[[Certs], Any]
SERVERS: dict[str, ServerFactory] = {"node": node_server, "minisock": minisock_server}


async def run(scenario: str, transport: str, running: Running, certs: Certs) -> dict[str, Any]:
    node = _node.require_node("engine.io-client", "socket.io-client")
    url = f"https://127.0.0.1:{running.port}"
    with trio.fail_after(DEADLINE):
        proc = await trio.run_process(
            [node, str(SCRIPT), scenario, url, transport, str(certs.ca_file)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = proc.stdout.decode("utf-8", "replace")
    report: dict[str, Any] = json.loads(stdout.splitlines()[0]) if stdout.strip() else {}
    if proc.returncode != 0 or report.get("ok") is not True:
        pytest.fail(
            f"{scenario} over {transport}: exit {proc.returncode}\n{stdout}\n"
            f"{proc.stderr.decode('utf-8', 'replace')[-4000:]}",
            pytrace=False,
        )
    return report


async def settle(running: Running, count: int) -> None:
    """Wait (bounded) until the server reported ``count`` connection errors."""
    with trio.move_on_after(5):
        while len(running.errors) < count:
            await trio.sleep(0.02)


@pytest.mark.parametrize("server", ["node", "minisock"])
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
async def test_echo_over_tls_with_a_generated_id(server: str, transport: str, certs: Certs) -> None:
    async with SERVERS[server](certs) as running:
        eio = await run("eio-echo", transport, running, certs)
        sio = await run("sio-echo", transport, running, certs)
    final = "polling" if transport == "polling" else "websocket"
    assert (eio["finalTransport"], sio["finalTransport"]) == (final, final)
    assert eio["echo"] == "hello over TLS"
    assert eio["id"].startswith("custom-")
    assert sio["handshake"] == {"secure": True}
    assert sio["engineId"].startswith("custom-")
    assert running.errors == []


@pytest.mark.parametrize("server", ["node", "minisock"])
async def test_cookie_option_and_headers_hooks_reach_the_cookie_jar(
    server: str, certs: Certs
) -> None:
    async with SERVERS[server](certs) as running:
        report = await run("eio-cookies", "polling", running, certs)
    assert report["jar"] == {
        "io": {"value": report["id"], "expires": True},
        "initial": {"value": "yes", "expires": False},
        "seen": {"value": "yes", "expires": False},
    }


# What each client sees of an allow_request refusal, identical for both servers.
REFUSALS = {
    "polling": {
        "message": "xhr poll error",
        "description": 403,
        "status": 403,
        "body": '{"code":4,"message":"banned"}',
    },
    "websocket": {
        "message": "websocket error",
        "description": "Unexpected server response: 400",
        "status": None,
        "body": None,
    },
}


@pytest.mark.parametrize("server", ["node", "minisock"])
@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_allow_request_refusal(server: str, transport: str, certs: Certs) -> None:
    async with SERVERS[server](certs) as running:
        eio = await run("eio-refused", transport, running, certs)
        sio = await run("sio-refused", transport, running, certs)
        await settle(running, 2)
    assert eio["refusal"] == REFUSALS[transport]
    assert sio["refusal"] == REFUSALS[transport]
    event = {"code": 4, "message": "Forbidden", "context": {"message": "banned"}}
    assert running.errors == [{"engine": "eio", **event}, {"engine": "sio", **event}]


@pytest.mark.parametrize("server", ["node", "minisock"])
async def test_connection_error_events_match_node(server: str, certs: Certs) -> None:
    """Refusals that no npm client makes on purpose, sent by hand to both servers."""
    client_context = ssl.create_default_context(cafile=str(certs.ca_file))

    async def connect(port: int) -> trio.SSLStream[trio.SocketStream]:
        return await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=client_context)

    async with SERVERS[server](certs) as running:
        client = HttpClient(await connect(running.port), host=f"127.0.0.1:{running.port}")
        await client.get("/engine.io/?EIO=4&transport=bogus")
        await client.get(eio_target(sid="nope"))
        await client.post(eio_target(), b"")
        await client.get(eio_target(eio="3"))
        ws = await WsClient.connect(
            await connect(running.port), "127.0.0.1", eio_target(transport="websocket")
        )
        sid = json.loads(str(await ws.receive())[1:])["sid"]
        await client.get(eio_target(sid=sid))
        await ws.aclose()
        await settle(running, 5)
    assert running.errors == [
        {
            "engine": "eio",
            "code": 0,
            "message": "Transport unknown",
            "context": {"transport": "bogus"},
        },
        {"engine": "eio", "code": 1, "message": "Session ID unknown", "context": {"sid": "nope"}},
        {
            "engine": "eio",
            "code": 2,
            "message": "Bad handshake method",
            "context": {"method": "POST"},
        },
        {
            "engine": "eio",
            "code": 5,
            "message": "Unsupported protocol version",
            "context": {"protocol": 3},
        },
        {
            "engine": "eio",
            "code": 3,
            "message": "Bad request",
            "context": {
                "name": "TRANSPORT_MISMATCH",
                "transport": "polling",
                "previousTransport": "websocket",
            },
        },
    ]
