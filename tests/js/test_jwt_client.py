"""The Socket.IO JWT guide, end to end: the real npm ``socket.io-client`` against jwt_app.py.

Each test starts ``examples/jwt_app.py``'s app in-process (``build_app``), mints tokens here,
and runs one scenario of ``jwt_scenarios.mjs`` under Node.js. The script checks what the
client sees; this side checks what the server saw: every ``/socket.io/`` request is recorded
(whether it had a sid and an ``Authorization`` header) and the handshake check is counted.
Refusals are also checked with raw HTTP requests (status, ``WWW-Authenticate``, reason).

Needs ``node`` and ``tests/js/node_modules`` (``make test`` runs ``npm ci``). Never skips.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import _node
import h11
import jwt
import pytest
import trio

from minisock import Request, Server

JS_DIR = Path(__file__).resolve().parent
ROOT = JS_DIR.parent.parent
SCRIPT = JS_DIR / "jwt_scenarios.mjs"
SCENARIO_DEADLINE = 30.0  # the script has its own 15 s timeout
MAX_SHOWN = 8000

# The server verifies with the guide's 8-byte demo secret, and PyJWT says so on each decode.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _load_jwt_app() -> ModuleType:
    """examples/jwt_app.py as a module (examples/ is not a package)."""
    name = "minisock_example_jwt_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "jwt_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


jwt_app = _load_jwt_app()
SECRET: str = jwt_app.DEMO_SECRET
ISSUER: str = jwt_app.ISSUER
AUDIENCE: str = jwt_app.AUDIENCE
JOHN = {"id": 1, "username": "john"}
JANE = {"id": 2, "username": "jane"}


def valid_token(user: dict[str, Any]) -> str:
    token = jwt_app.issue_token(SECRET, user, time.time())
    assert isinstance(token, str)
    return token


def signed(claims: dict[str, Any], secret: str = SECRET) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about the guide's short demo secret
        return jwt.encode(claims, secret, algorithm="HS256")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"data": JOHN, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
    base.update(changes)
    return base


# (id, Authorization header or None, the reason the server gives)
BAD_TOKENS: list[tuple[str, str | None, str]] = [
    ("missing", None, "missing"),
    ("expired", f"Bearer {signed(claims(iat=1_000_000_000, exp=1_000_003_600))}", "expired"),
    ("bad-signature", f"Bearer {signed(claims(), 'not-the-secret')}", "bad_signature"),
    ("wrong-issuer", f"Bearer {signed(claims(iss='evil.example'))}", "wrong_issuer"),
    ("wrong-audience", f"Bearer {signed(claims(aud='other.example'))}", "wrong_audience"),
    ("malformed-jwt", "Bearer not.a.jwt", "malformed"),
    ("not-bearer", "Basic am9objpjaGFuZ2VpdA==", "malformed"),
]


# ------------------------------------------------------------------------------------ server


@dataclass(frozen=True)
class SeenRequest:
    method: str
    transport: str | None
    has_sid: bool
    has_authorization: bool


@dataclass
class RunningApp:
    sio: Server
    port: int
    requests: list[SeenRequest] = field(default_factory=list)
    handshake_checks: list[str] = field(default_factory=list)  # "ok" or the TokenError reason

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def with_authorization(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.has_authorization]

    def summary(self) -> str:
        return (
            f"handshake checks: {self.handshake_checks}\n"
            f"/socket.io/ requests ({len(self.requests)}):\n"
            + "\n".join(f"  {r}" for r in self.requests)
        )


@asynccontextmanager
async def running_app(
    monkeypatch: pytest.MonkeyPatch, *, connect_auth: bool
) -> AsyncIterator[RunningApp]:
    """jwt_app's server on an ephemeral port, recording what reaches ``/socket.io/``."""
    sio = jwt_app.build_app(connect_auth=connect_auth)
    assert isinstance(sio, Server)
    app = RunningApp(sio=sio, port=0)
    engine = sio.engine
    # Recording hooks: the engine's request dispatch (private, wrapped here only) and its
    # public handshake_check, which jwt_app's JWTAuth installed.
    dispatch = engine._dispatch
    check = engine.handshake_check
    assert check is not None

    async def recording_dispatch(http: Any, request: Request) -> bool:
        if request.path.rstrip("/") == engine.path.rstrip("/"):
            app.requests.append(
                SeenRequest(
                    method=request.method,
                    transport=request.query.get("transport"),
                    has_sid="sid" in request.query,
                    has_authorization=request.header("authorization") is not None,
                )
            )
        return await dispatch(http, request)

    def counting_check(request: Request) -> tuple[Any, dict[str, Any] | None]:
        try:
            result = check(request)
        except Exception as exc:
            app.handshake_checks.append(getattr(exc, "reason", repr(exc)))
            raise
        app.handshake_checks.append("ok")
        return result

    monkeypatch.setattr(engine, "_dispatch", recording_dispatch)
    engine.handshake_check = counting_check
    async with trio.open_nursery() as nursery:
        app.port = await nursery.start(sio.serve, "127.0.0.1", 0)
        yield app
        nursery.cancel_scope.cancel()


# ------------------------------------------------------------------------------------ raw HTTP


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_get(port: int, target: str, headers: list[tuple[str, str]]) -> RawResponse:
    """One GET on a fresh connection, parsed by h11."""
    conn = h11.Connection(h11.CLIENT)
    all_headers = [("Host", f"127.0.0.1:{port}"), *headers]
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(
                conn.send(h11.Request(method="GET", target=target, headers=all_headers))
                + conn.send(h11.EndOfMessage())
            )
            response: h11.Response | h11.InformationalResponse | None = None
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response | h11.InformationalResponse):
                    response = event
                    if event.status_code == 101:
                        break
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
    assert response is not None
    decoded = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
    return RawResponse(response.status_code, decoded, body)


def websocket_headers() -> list[tuple[str, str]]:
    return [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]


HANDSHAKE_POLLING = "/socket.io/?EIO=4&transport=polling"
HANDSHAKE_WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"


# ------------------------------------------------------------------------------------ node


@dataclass(frozen=True)
class ScenarioRun:
    scenario: str
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def describe(self, app: RunningApp) -> str:
        stderr = self.stderr[-MAX_SHOWN:]
        return (
            f"scenario {self.scenario!r}: exit {self.returncode}, "
            f"reason: {self.report.get('reason')}\n{app.summary()}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{stderr}"
        )


def require_node() -> str:
    """Path of ``node``; fails (never skips) if it or socket.io-client is missing."""
    return _node.require_node("socket.io-client")


async def run_scenario(app: RunningApp, scenario: str, params: dict[str, Any]) -> ScenarioRun:
    node = require_node()
    with trio.fail_after(SCENARIO_DEADLINE):
        proc = await trio.run_process(
            [node, str(SCRIPT), scenario, app.base_url, json.dumps(params)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = proc.stdout.decode("utf-8", errors="replace")
    report: dict[str, Any] = {"reason": "<no JSON report>"}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(parsed, dict):
                report = parsed
            break
    return ScenarioRun(
        scenario, proc.returncode, stdout, proc.stderr.decode("utf-8", "replace"), report
    )


async def passed(app: RunningApp, scenario: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``scenario``; fail with everything both sides saw unless the client's checks held."""
    run = await run_scenario(app, scenario, params)
    if run.returncode != 0 or run.report.get("ok") is not True:
        pytest.fail(run.describe(app), pytrace=False)
    print(f"{scenario}: {json.dumps(run.report)}\n{app.summary()}")  # shown by pytest -rP
    return run.report


def expect(condition: bool, message: str, app: RunningApp, report: dict[str, Any]) -> None:
    if not condition:
        pytest.fail(f"{message}\n{app.summary()}\nclient report: {json.dumps(report)}")


# ------------------------------------------------------------------------------------ tests


@pytest.mark.js
async def test_header_token_hello_then_upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    """extraHeaders Authorization (the guide's client): hello, then polling -> websocket.

    The server consults the header once, on the sid-less handshake; socket.io-client itself
    repeats it on every polling request and on the upgrade (recorded, not required).
    """
    async with running_app(monkeypatch, connect_auth=False) as app:
        report = await passed(app, "header-upgrade", {"token": valid_token(JOHN)})
    expect(report["hello"] == JOHN, "hello payload", app, report)
    expect(report["transports"] == ["polling", "websocket"], "transports", app, report)
    expect(app.handshake_checks == ["ok"], "one handshake check", app, report)
    handshakes = [r for r in app.requests if not r.has_sid]
    expect(len(handshakes) == 1, "one sid-less request", app, report)
    expect(handshakes[0] == app.requests[0], "the handshake came first", app, report)
    expect(handshakes[0].has_authorization, "the handshake carried the header", app, report)
    upgrades = [r for r in app.requests if r.transport == "websocket"]
    expect(len(upgrades) == 1 and upgrades[0].has_sid, "one upgrade, with the sid", app, report)


@pytest.mark.js
async def test_only_the_handshake_needs_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client drops the header right after the handshake: the sid carries the session on
    (CONNECT, polls, upgrade, an echo), and exactly one request ever had Authorization."""
    async with running_app(monkeypatch, connect_auth=False) as app:
        report = await passed(app, "header-once", {"token": valid_token(JOHN)})
    expect(report["hello"] == JOHN, "hello payload", app, report)
    with_header = app.with_authorization()
    expect(len(with_header) == 1, "exactly one request carried Authorization", app, report)
    expect(not with_header[0].has_sid, "...and it was the sid-less handshake", app, report)
    expect(len(app.requests) >= 4, "the session went on without the header", app, report)
    expect(app.handshake_checks == ["ok"], "one handshake check", app, report)


@pytest.mark.js
@pytest.mark.parametrize("connect_auth", [True, False], ids=["connect-auth-on", "off"])
async def test_websocket_only_connect_auth(
    monkeypatch: pytest.MonkeyPatch, connect_auth: bool
) -> None:
    """Websocket only, token in the CONNECT payload: works only with connect_auth."""
    expected = "hello" if connect_auth else "connect_error"
    async with running_app(monkeypatch, connect_auth=connect_auth) as app:
        report = await passed(app, "ws-auth", {"token": valid_token(JOHN), "expect": expected})
        raw = await raw_get(app.port, HANDSHAKE_WEBSOCKET, websocket_headers())
    expect(not app.with_authorization(), "no request carried Authorization", app, report)
    if connect_auth:
        expect(report["hello"] == JOHN, "hello payload", app, report)
        expect(report["echo"] == "ws only", "echo over the websocket", app, report)
        expect(raw.status == 101, f"header-less upgrade: {raw.status}", app, report)
    else:
        error = report["connectErrors"][0]
        expect(error["message"] == "websocket error", f"connect_error {error}", app, report)
        expect(app.handshake_checks == ["missing", "missing"], "two refusals", app, report)
        expect(raw.status == 401, f"header-less upgrade: {raw.status}", app, report)
        expect(raw.json()["reason"] == "missing", f"reason {raw.body!r}", app, report)


@pytest.mark.js
@pytest.mark.parametrize("connect_auth", [False, True], ids=["handshake-only", "connect-auth"])
@pytest.mark.parametrize(
    ("header", "reason"), [t[1:] for t in BAD_TOKENS], ids=[t[0] for t in BAD_TOKENS]
)
async def test_bad_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, header: str | None, reason: str, connect_auth: bool
) -> None:
    """connect_error on the client; 401 + WWW-Authenticate over polling and WebSocket.

    With connect_auth, a *missing* header passes the handshake (the token may come in
    CONNECT), and the namespace connection is refused instead; a bad header never passes.
    """
    headers = [] if header is None else [("Authorization", header)]
    async with running_app(monkeypatch, connect_auth=connect_auth) as app:
        report = await passed(app, "bad-token", {"header": header})
        polling = await raw_get(app.port, HANDSHAKE_POLLING, headers)
        websocket = await raw_get(app.port, HANDSHAKE_WEBSOCKET, headers + websocket_headers())
    error = report["connectErrors"][0]
    if connect_auth and header is None:
        expect(
            error == {"message": "unauthorized", "data": {"reason": "missing"}},
            f"connect_error {error}",
            app,
            report,
        )
        expect(polling.status == 200, f"polling handshake {polling.status}", app, report)
        expect(websocket.status == 101, f"websocket handshake {websocket.status}", app, report)
        return
    expect(error.get("description") == 401, f"connect_error {error}", app, report)
    expect(error["message"] == "xhr poll error", f"connect_error {error}", app, report)
    expect(app.handshake_checks == [reason] * 3, "three refusals", app, report)
    for raw in (polling, websocket):
        expect(raw.status == 401, f"status {raw.status}", app, report)
        expect(
            raw.headers.get("www-authenticate") == 'Bearer error="invalid_token"',
            f"WWW-Authenticate {raw.headers}",
            app,
            report,
        )
        expect(raw.json()["reason"] == reason, f"body {raw.body!r}", app, report)
    expect(all(not r.has_sid for r in app.requests), "no session was ever made", app, report)


@pytest.mark.js
async def test_notification_reaches_every_socket_of_the_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two clients of user 1 (polling, websocket) get it; user 2, who sent it, does not."""
    tokens = {"token1": valid_token(JOHN), "token2": valid_token(JANE)}
    async with running_app(monkeypatch, connect_auth=False) as app:
        report = await passed(app, "notify", tokens)
    expect(report["hellos"] == [JOHN, JOHN, JANE], "hellos", app, report)
    expect(app.handshake_checks == ["ok"] * 3, "three handshakes", app, report)


@pytest.mark.js
async def test_is_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """is-online: self true; user 2 false, true while connected, false after."""
    tokens = {"token1": valid_token(JOHN), "token2": valid_token(JANE)}
    async with running_app(monkeypatch, connect_auth=False) as app:
        report = await passed(app, "is-online", tokens)
    answers = [step["answer"]["online"] for step in report["steps"]]
    expect(answers == [True, False, True, False], f"answers {answers}", app, report)


@pytest.mark.js
@pytest.mark.parametrize("scenario", ["ask", "ask-no-ack"])
async def test_server_to_client_ack(monkeypatch: pytest.MonkeyPatch, scenario: str) -> None:
    """ask-me -> the server emits "question" and awaits the ack -> "answer" carries it, or
    {"error": "no ack"} when the client never acks (after the app's 2 s)."""
    async with running_app(monkeypatch, connect_auth=False) as app:
        report = await passed(app, scenario, {"token": valid_token(JOHN)})
    expected = {"answer": "42"} if scenario == "ask" else {"error": "no ack"}
    expect(report["answer"] == expected, f"answer {report['answer']}", app, report)
