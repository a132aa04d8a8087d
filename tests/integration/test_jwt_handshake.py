"""JWT on the Socket.IO handshake, against a real server on 127.0.0.1 (port 0).

The policy of SECURITY.md §3.9-§3.11, end to end: a bearer token in ``Authorization`` on the
sid-less request only (polling GET or WebSocket upgrade), 401 + ``WWW-Authenticate: Bearer
error="invalid_token"`` + a JSON reason for every refusal and never an open packet or a 101;
later requests are authorised by the sid alone; the query string is never a token source; the
CONNECT payload ``{"token": ...}`` in ``connect_auth`` mode, refused with ``44`` and a reason;
``close_at_exp`` ends a socket when its token expires; and neither tokens nor sids reach the
logs. Every test runs under an absolute ``trio.fail_after``; the only real waits are the
connect timeouts (0.2-0.3 s) and the token expiries (0.5-1 s).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwt
import pytest
import trio

from minisock import JWTAuth, JWTVerifier, Server, Socket
from minisock.testing import (
    HttpClient,
    HttpResponse,
    WsClient,
    WsClosed,
    WsRejected,
    eio_handshake,
    eio_poll,
    eio_post,
    eio_target,
    running_server,
)

LIMIT = 5.0
PATH = "/socket.io/"
SECRET = "k7Qm2vX9pL4sT8wZ1cR6yB3nH5jD0fGaE7uK2iO9qW4xV8tY1zM6bN3rS5dF0gHj"  # 64 bytes
ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
USER = {"id": 7, "name": "grace"}
CHALLENGE = 'Bearer error="invalid_token"'


def make_token(*, key: str = SECRET, now: float | None = None, **changes: Any) -> str:
    """An HS256 token valid for an hour from ``now`` (the real clock by default)."""
    issued = time.time() if now is None else now
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(issued),
        "exp": int(issued) + 3600,
        "data": USER,
    }
    payload.update(changes)
    return jwt.encode(payload, key, algorithm="HS256")


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


class App:
    """A Socket.IO server with JWT auth whose handlers record what they see."""

    def __init__(
        self,
        *,
        connect_auth: bool = False,
        close_at_exp: bool = False,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        auth = JWTAuth(
            JWTVerifier(SECRET, ISSUER, AUDIENCE),
            connect_auth=connect_auth,
            close_at_exp=close_at_exp,
            clock=clock,
        )
        self.server = Server(auth=auth, **options)
        self.connected: list[Socket] = []
        self.disconnects: list[tuple[Socket, str]] = []
        self._changed = trio.Event()
        sio = self.server

        @sio.on("connect")
        async def connect(socket: Socket, auth_payload: dict[str, Any]) -> None:
            self.connected.append(socket)
            self._notify()

        @sio.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            self.disconnects.append((socket, reason))
            self._notify()

        @sio.on("echo")
        async def echo(socket: Socket, value: Any) -> Any:
            return value

    @property
    def sessions(self) -> dict[str, Any]:
        return dict(self.server.engine.sessions)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_disconnect(self) -> tuple[Socket, str]:
        while not self.disconnects:
            await self._changed.wait()
        return self.disconnects[0]


async def wait_until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await trio.sleep(0.001)


def assert_unauthorized(status: int, header: Callable[[str], str | None], body: bytes) -> str:
    """A 401 refusal with the RFC 6750 challenge and a JSON body; returns its reason."""
    assert status == 401
    assert header("www-authenticate") == CHALLENGE
    assert header("content-type") == "application/json"
    value = json.loads(body)
    assert isinstance(value, dict)
    reason = value["reason"]
    assert isinstance(reason, str)
    return reason


def refused_http(response: HttpResponse) -> str:
    assert not response.body.startswith(b"0")
    return assert_unauthorized(response.status, response.header, response.body)


def refused_ws(rejected: WsRejected) -> str:
    assert rejected.status != 101

    def header(name: str) -> str | None:
        wanted = name.encode("ascii")
        for key, value in rejected.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    return assert_unauthorized(rejected.status, header, rejected.body)


def open_sid(message: str | bytes) -> str:
    assert isinstance(message, str)
    assert message.startswith("0")
    sid = json.loads(message[1:])["sid"]
    assert isinstance(sid, str)
    return sid


def sio_packet(message: str | bytes, prefix: str) -> Any:
    """The JSON after ``prefix`` (e.g. ``"40"``, ``"44"``) of one Engine.IO message."""
    assert isinstance(message, str)
    assert message.startswith(prefix), message
    return json.loads(message[len(prefix) :])


async def polling_connect(client: HttpClient, headers: list[tuple[str, str]]) -> str:
    """Handshake with ``headers``, then CONNECT to ``/`` with *no* header; returns the sid."""
    sid, _ = await eio_handshake(client, PATH, headers=headers)
    assert (await eio_post(client, sid, "40", PATH)).body == b"ok"
    answer = (await eio_poll(client, sid, PATH)).text
    # No CONNECT_ERROR among the packets (a random sid may well contain the digits "44").
    assert not any(packet.startswith("44") for packet in answer.split("\x1e")), answer
    sio_packet(answer.split("\x1e")[0], "40")
    return sid


async def ws_open(
    port: int, headers: Sequence[tuple[str, str]] = (), *, query: dict[str, str] | None = None
) -> WsClient:
    """A WebSocket to the Socket.IO path (sid-less unless the query has a ``sid``)."""
    target = eio_target(PATH, transport="websocket", **(query or {}))
    return await WsClient.open(port, target, headers)


# ---------------------------------------------------------------- polling handshake


async def test_polling_handshake_with_a_good_token_opens_a_session() -> None:
    app = App()
    token = make_token()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            response = await c.get(eio_target(PATH), headers=bearer(token))
            assert response.status == 200
            assert response.header("www-authenticate") is None
            assert response.text.startswith("0")
            sid = json.loads(response.text[1:])["sid"]
            assert set(app.sessions) == {sid}
            engine = app.sessions[sid]
            assert engine.identity == USER
            assert engine.claims == jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_bearer_scheme_is_case_insensitive_on_the_wire(scheme: str) -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            headers = [("Authorization", f"{scheme} {make_token()}")]
            sid, _ = await eio_handshake(c, PATH, headers=headers)
            assert sid in app.sessions


BAD_HEADERS: list[tuple[str, list[tuple[str, str]]]] = [
    ("missing", []),
    ("expired", bearer(make_token(now=time.time() - 7200))),
    ("bad_signature", bearer(make_token(key="x" * 64))),
    ("wrong_issuer", bearer(make_token(iss="accounts.examplesoft.co"))),
    ("wrong_audience", bearer(make_token(aud="othersite.net"))),
    ("malformed", [("Authorization", "Bearer garbage")]),
    ("malformed", [("Authorization", "Basic dXNlcjpwYXNz")]),
    ("malformed", [("Authorization", "Bearer")]),
]
BAD_IDS = [
    "missing",
    "expired",
    "bad_signature",
    "wrong_issuer",
    "wrong_audience",
    "garbage",
    "basic",
    "empty",
]


@pytest.mark.parametrize(("reason", "headers"), BAD_HEADERS, ids=BAD_IDS)
async def test_polling_handshake_with_a_bad_token_is_unauthorized(
    reason: str, headers: list[tuple[str, str]]
) -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            response = await c.get(eio_target(PATH), headers=headers)
            assert refused_http(response) == reason
            assert app.sessions == {}
            # The refusal leaves the connection usable: a good token on it works.
            sid, _ = await eio_handshake(c, PATH, headers=bearer(make_token()))
            assert set(app.sessions) == {sid}
    assert app.connected == []


async def test_polling_handshake_with_an_oversize_header_is_unauthorized() -> None:
    app = App(max_head_size=65536)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            response = await c.get(eio_target(PATH), headers=bearer("a" * 9000))
            assert refused_http(response) == "oversize"
            assert app.sessions == {}


# ---------------------------------------------------------------- websocket handshake


@pytest.mark.parametrize(("reason", "headers"), BAD_HEADERS[:6], ids=BAD_IDS[:6])
async def test_websocket_handshake_with_a_bad_token_gets_401_and_no_101(
    reason: str, headers: list[tuple[str, str]]
) -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port:
            with pytest.raises(WsRejected) as info:
                await ws_open(port, headers)
            assert refused_ws(info.value) == reason
            assert app.sessions == {}
    assert app.connected == []


async def test_websocket_handshake_with_a_good_token_connects() -> None:
    app = App()
    token = make_token()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port:
            async with await ws_open(port, bearer(token)) as ws:
                sid = open_sid(await ws.receive())
                assert app.sessions[sid].identity == USER
                await ws.send_text("40")
                assert set(sio_packet(await ws.receive(), "40")) == {"sid"}
                await ws.send_text('421["echo","over ws"]')
                assert sio_packet(await ws.receive(), "431") == ["over ws"]
                await ws.close()
            _, reason = await app.wait_disconnect()
            assert reason == "transport close"
    assert [s.identity for s in app.connected] == [USER]


# ---------------------------------------------------------------- after the handshake


async def test_requests_with_the_sid_need_no_header() -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            sid = await polling_connect(c, bearer(make_token()))
            assert (await eio_post(c, sid, '421["echo","polled"]', PATH)).body == b"ok"
            assert sio_packet((await eio_poll(c, sid, PATH)).text, "431") == ["polled"]
            # The upgrade carries the sid and no Authorization either.
            async with await ws_open(port, query={"sid": sid}) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                await ws.send_text("5")
                await wait_until(lambda: app.sessions[sid].transport == "websocket")
                await ws.send_text('422["echo","upgraded"]')
                assert sio_packet(await ws.receive(), "432") == ["upgraded"]
                await ws.close()
            _, reason = await app.wait_disconnect()
            assert reason == "transport close"
    assert len(app.connected) == 1


async def test_a_stale_token_on_a_later_request_is_not_rechecked() -> None:
    # Only the sid-less request is checked; the sid is the credential afterwards.
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            sid = await polling_connect(c, bearer(make_token()))
            stale = bearer(make_token(now=time.time() - 7200))
            target = eio_target(PATH, sid=sid)
            assert (await c.post(target, '421["echo",1]', headers=stale)).body == b"ok"
            assert sio_packet((await c.get(target, headers=stale)).text, "431") == [1]


# ---------------------------------------------------------------- the query string


@pytest.mark.parametrize("name", ["token", "access_token", "auth", "authorization"])
async def test_a_token_in_the_query_string_is_ignored(name: str) -> None:
    app = App()
    token = make_token()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            response = await c.get(eio_target(PATH, **{name: token}))
            assert refused_http(response) == "missing"
            bearer_query = await c.get(eio_target(PATH, **{name: f"Bearer {token}"}))
            assert refused_http(bearer_query) == "missing"
            with pytest.raises(WsRejected) as info:
                await ws_open(port, query={name: token})
            assert refused_ws(info.value) == "missing"
            assert app.sessions == {}


# ---------------------------------------------------------------- identity


async def test_the_connect_handler_sees_identity_and_claims() -> None:
    app = App()
    token = make_token(sub="user-7", scope="chat")
    expected = jwt.decode(token, options={"verify_signature": False})
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            await polling_connect(c, bearer(token))
            await wait_until(lambda: bool(app.connected))
    [socket] = app.connected
    assert socket.identity == expected["data"] == USER
    assert socket.claims == expected
    assert socket.claims is not None and socket.claims["sub"] == "user-7"


# ---------------------------------------------------------------- connect_auth mode


async def test_connect_auth_websocket_without_header_opens_and_connects_with_a_token() -> None:
    app = App(connect_auth=True)
    token = make_token()
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await ws_open(port) as ws:
            sid = open_sid(await ws.receive())
            assert app.sessions[sid].identity is None
            assert app.sessions[sid].claims is None
            await ws.send_text("40" + json.dumps({"token": token}))
            assert set(sio_packet(await ws.receive(), "40")) == {"sid"}
            await ws.send_text('421["echo","ok"]')
            assert sio_packet(await ws.receive(), "431") == ["ok"]
    [socket] = app.connected
    assert socket.identity == USER
    assert socket.claims == jwt.decode(token, options={"verify_signature": False})


async def test_connect_auth_polling_without_header_opens_a_session() -> None:
    app = App(connect_auth=True)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            sid, _ = await eio_handshake(c, PATH)
            body = "40" + json.dumps({"token": make_token()})
            assert (await eio_post(c, sid, body, PATH)).body == b"ok"
            sio_packet((await eio_poll(c, sid, PATH)).text, "40")
    assert [s.identity for s in app.connected] == [USER]


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        ('40{"token":"bad"}', "malformed"),
        ("40", "missing"),
        ("40{}", "missing"),
        ('40{"token":42}', "malformed"),
        ("40" + json.dumps({"token": make_token(now=time.time() - 7200)}), "expired"),
        ("40" + json.dumps({"token": make_token(key="y" * 64)}), "bad_signature"),
        ("40" + json.dumps({"token": make_token(aud="othersite.net")}), "wrong_audience"),
    ],
    ids=["bad", "no-payload", "empty", "number", "expired", "bad-signature", "audience"],
)
async def test_connect_auth_bad_connect_payload_gets_44_unauthorized(
    packet: str, reason: str
) -> None:
    app = App(connect_auth=True)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await ws_open(port) as ws:
            sid = open_sid(await ws.receive())
            await ws.send_text(packet)
            refusal = sio_packet(await ws.receive(), "44")
            assert refusal == {"message": "unauthorized", "data": {"reason": reason}}
            assert sid in app.sessions  # refused, not disconnected
            # The client may try again on the same session, with a good token.
            await ws.send_text("40" + json.dumps({"token": make_token()}))
            sio_packet(await ws.receive(), "40")
    assert [s.identity for s in app.connected] == [USER]


async def test_connect_auth_session_that_never_authenticates_is_closed() -> None:
    app = App(connect_auth=True, connect_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port:
            async with await ws_open(port) as ws:
                start = trio.current_time()
                sid = open_sid(await ws.receive())
                await ws.send_text('40{"token":"bad"}')
                sio_packet(await ws.receive(), "44")
                closed = await ws.wait_closed()
                elapsed = trio.current_time() - start
                assert isinstance(closed, WsClosed)
                assert 0.25 <= elapsed < 2.0
            await wait_until(lambda: sid not in app.sessions)
    assert app.connected == []
    assert app.disconnects == []


async def test_connect_auth_silent_session_is_closed_after_connect_timeout() -> None:
    app = App(connect_auth=True, connect_timeout=0.3)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port:
            async with await ws_open(port) as ws:
                start = trio.current_time()
                sid = open_sid(await ws.receive())
                await ws.wait_closed()
                assert 0.25 <= trio.current_time() - start < 2.0
            await wait_until(lambda: sid not in app.sessions)


@pytest.mark.parametrize(("reason", "headers"), BAD_HEADERS[1:6], ids=BAD_IDS[1:6])
async def test_connect_auth_still_refuses_a_bad_authorization_header(
    reason: str, headers: list[tuple[str, str]]
) -> None:
    app = App(connect_auth=True)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            assert refused_http(await c.get(eio_target(PATH), headers=headers)) == reason
            with pytest.raises(WsRejected) as info:
                await ws_open(port, headers)
            assert refused_ws(info.value) == reason
            assert app.sessions == {}


async def test_connect_auth_with_a_good_header_needs_no_connect_payload() -> None:
    app = App(connect_auth=True)
    with trio.fail_after(LIMIT):
        async with (
            running_server(app.server.engine) as port,
            await ws_open(port, bearer(make_token())) as ws,
        ):
            open_sid(await ws.receive())
            await ws.send_text("40")
            sio_packet(await ws.receive(), "40")
    assert [s.identity for s in app.connected] == [USER]


# ---------------------------------------------------------------- close_at_exp
#
# The clock given to JWTAuth is frozen at NOW, so a token's remaining life is exactly
# ``exp - NOW`` on trio's clock. connect_timeout is set well beyond that life: the expiry must
# come from the token, not from some other timer.

NOW = 1_700_000_000.0


async def receive_within(ws: WsClient, seconds: float) -> str | bytes | None:
    """The next message, or None if none came within ``seconds``."""
    with trio.move_on_after(seconds):
        return await ws.receive()
    return None


async def test_close_at_exp_disconnects_a_header_authenticated_socket() -> None:
    app = App(close_at_exp=True, clock=lambda: NOW, connect_timeout=5.0)
    token = make_token(now=NOW, exp=int(NOW) + 1)
    with trio.fail_after(LIMIT):
        async with (
            running_server(app.server.engine) as port,
            await ws_open(port, bearer(token)) as ws,
        ):
            sid = open_sid(await ws.receive())
            await ws.send_text("40")
            sio_packet(await ws.receive(), "40")
            start = trio.current_time()
            message = await receive_within(ws, 2.0)
            assert message == "41", (
                f"no DISCONNECT within 2 s of a token with 1 s left: {message!r}"
            )
            assert trio.current_time() - start >= 0.8
            socket, reason = await app.wait_disconnect()
            assert reason == "token expired"
            assert socket.identity == USER
            assert not socket.connected
            assert sid in app.sessions  # the namespace ends, the Engine.IO session stays


async def test_close_at_exp_disconnects_a_connect_payload_socket() -> None:
    app = App(connect_auth=True, close_at_exp=True, clock=lambda: NOW, connect_timeout=5.0)
    token = make_token(now=NOW, exp=NOW + 0.5)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await ws_open(port) as ws:
            open_sid(await ws.receive())
            await ws.send_text("40" + json.dumps({"token": token}))
            sio_packet(await ws.receive(), "40")
            message = await receive_within(ws, 1.5)
            assert message == "41", f"no DISCONNECT within 1.5 s of a 0.5 s token: {message!r}"
            _, reason = await app.wait_disconnect()
            assert reason == "token expired"


async def test_close_at_exp_applies_to_a_namespace_joined_after_the_connect_deadline() -> None:
    app = App(connect_auth=True, close_at_exp=True, clock=lambda: NOW, connect_timeout=0.2)
    admin = app.server.of("/admin")
    reasons: list[str] = []

    @admin.on("disconnect")
    async def admin_disconnect(socket: Socket, reason: str) -> None:
        reasons.append(reason)

    long_lived = make_token(now=NOW)  # an hour
    short_lived = make_token(now=NOW, exp=NOW + 0.5)
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await ws_open(port) as ws:
            open_sid(await ws.receive())
            await ws.send_text("40" + json.dumps({"token": long_lived}))
            sio_packet(await ws.receive(), "40")
            await trio.sleep(0.4)  # the connect deadline passes; "/" stays connected
            await ws.send_text("40/admin," + json.dumps({"token": short_lived}))
            sio_packet(await ws.receive(), "40/admin,")
            message = await receive_within(ws, 1.5)
            assert message == "41/admin,", (
                f"no DISCONNECT for /admin within 1.5 s of a 0.5 s token: {message!r}"
            )
            await wait_until(lambda: bool(reasons))
            assert reasons == ["token expired"]
            assert app.disconnects == []  # "/" (an hour left) stays


# ---------------------------------------------------------------- logs


async def test_logs_never_contain_tokens_or_sids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = App(connect_auth=True, connect_timeout=1.0)
    good = make_token()
    connect_token = make_token(sub="payload")
    expired = make_token(now=time.time() - 7200)
    forged = make_token(key="z" * 64)
    sids: list[str] = []
    with trio.fail_after(LIMIT):
        async with running_server(app.server.engine) as port, await HttpClient.open(port) as c:
            # Refusals: expired and forged tokens in the header, on polling and websocket.
            assert refused_http(await c.get(eio_target(PATH), headers=bearer(expired))) == (
                "expired"
            )
            with pytest.raises(WsRejected):
                await ws_open(port, bearer(forged))
            # A header-authenticated polling session, upgraded, then closed.
            sid = await polling_connect(c, bearer(good))
            sids.append(sid)
            async with await ws_open(port, query={"sid": sid}) as ws:
                await ws.send_text("2probe")
                assert await ws.receive() == "3probe"
                await ws.send_text("5")
                await ws.send_text('421["echo","x"]')
                assert sio_packet(await ws.receive(), "431") == ["x"]
                await ws.close()
            # A CONNECT-payload session: refused once, then accepted.
            async with await ws_open(port) as ws:
                sids.append(open_sid(await ws.receive()))
                await ws.send_text("40" + json.dumps({"token": forged}))
                sio_packet(await ws.receive(), "44")
                await ws.send_text("40" + json.dumps({"token": connect_token}))
                sio_packet(await ws.receive(), "40")
                await ws.close()
            await wait_until(lambda: len(app.disconnects) == 2)
            await wait_until(lambda: not app.sessions)
    text = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert "handshake refused" in text  # the flow was logged at all
    for secret in (good, connect_token, expired, forged, *sids):
        assert secret not in text
    for secret in (good, connect_token, expired, forged):
        signature = secret.rsplit(".", 1)[1]
        assert signature not in text
