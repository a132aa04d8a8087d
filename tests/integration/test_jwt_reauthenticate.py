"""``socket.reauthenticate(token)``: a fresh token keeps a live socket past its old expiry.

The server runs ``close_at_exp`` with a JWT clock that reads ``NOW`` when the app is made and
then follows trio's clock, so a token with ``exp = NOW + 10`` ends its socket 10 s of trio
time after the app was made (``app.t0``); ``autojump_clock`` makes those seconds free.
Clients speak raw Engine.IO/Socket.IO over in-memory WebSockets. An app event
``refresh`` calls ``reauthenticate`` and acks ``{"ok": true}`` or ``{"ok": false, "reason"}``.

What is checked: a refresh moves the expiry (later, and earlier too); a refused one changes
nothing, whatever the reason (another user, expired, forged, wrong audience, not a string);
the handshake's token covers every namespace of its connection and those joined later, a
CONNECT token only its own socket; another connection of the same user is never touched.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jwt
import pytest
import trio
import trio.testing

from minisock import JWTAuth, JWTVerifier, Server, Socket, TokenError
from minisock.errors import SessionClosedError
from minisock.testing import WsClient, eio_target, memory_connection, running_server

NOW = 1_700_000_000.0
SECRET = "k7Qm2vX9pL4sT8wZ1cR6yB3nH5jD0fGaE7uK2iO9qW4xV8tY1zM6bN3rS5dF0gHj"  # 64 bytes
ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
GRACE = {"id": 7, "name": "grace"}
ALAN = {"id": 8, "name": "alan"}
LIMIT = 600.0  # virtual seconds


def token(user: dict[str, Any] = GRACE, life: float = 10, **changes: Any) -> str:
    """A token issued at NOW that expires ``life`` seconds later."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(NOW),
        "exp": NOW + life,
        "data": user,
    }
    claims.update(changes)
    key = claims.pop("key", SECRET)
    return jwt.encode(claims, key, algorithm="HS256")


class App:
    """A server whose ``refresh`` event reauthenticates; records disconnects with times."""

    def __init__(self, *, connect_auth: bool = False, auth: bool = True) -> None:
        self.t0 = trio.current_time()
        jwt_auth = JWTAuth(
            JWTVerifier(SECRET, ISSUER, AUDIENCE),
            connect_auth=connect_auth,
            close_at_exp=True,
            clock=lambda: NOW + (trio.current_time() - self.t0),
        )
        self.sio = Server(auth=jwt_auth if auth else None, ping_interval=1000, ping_timeout=1000)
        self.sockets: dict[str, Socket] = {}
        self.gone: dict[str, tuple[float, str]] = {}
        """Namespace -> (trio time, reason) of its socket's disconnect."""
        for nsp in ("/", "/admin"):
            self._handlers(nsp)

    def _handlers(self, name: str) -> None:
        namespace = self.sio.of(name)

        @namespace.on("connect")
        async def connect(socket: Socket, payload: dict[str, Any]) -> None:
            self.sockets[name] = socket

        @namespace.on("disconnect")
        async def disconnect(socket: Socket, reason: str) -> None:
            self.gone[name] = (trio.current_time(), reason)

        @namespace.on("refresh")
        async def refresh(socket: Socket, new_token: Any) -> dict[str, Any]:
            try:
                socket.reauthenticate(new_token)
            except TokenError as exc:
                return {"ok": False, "reason": exc.reason}
            return {"ok": True}


async def ws(app: App, header_token: str | None = None) -> WsClient:
    headers = [] if header_token is None else [("Authorization", f"Bearer {header_token}")]
    target = eio_target("/socket.io/", transport="websocket")
    client = await WsClient.connect(memory_connection(app.sio.engine), "127.0.0.1", target, headers)
    opened = await client.receive()
    assert isinstance(opened, str) and opened.startswith("0")
    return client


async def join(client: WsClient, nsp: str = "/", connect_token: str | None = None) -> None:
    head = "40" if nsp == "/" else f"40{nsp},"
    payload = "" if connect_token is None else json.dumps({"token": connect_token})
    await client.send_text(head + payload)
    answer = await client.receive()
    assert isinstance(answer, str) and answer.startswith(head + "{"), answer


async def refresh(client: WsClient, value: Any, nsp: str = "/", ack: int = 1) -> Any:
    prefix = "42" if nsp == "/" else f"42{nsp},"
    await client.send_text(f"{prefix}{ack}" + json.dumps(["refresh", value]))
    answer = await client.receive()
    expected = ("43" if nsp == "/" else f"43{nsp},") + str(ack)
    assert isinstance(answer, str) and answer.startswith(expected), answer
    [result] = json.loads(answer[len(expected) :])
    return result


async def next_disconnect(client: WsClient) -> tuple[float, str | bytes]:
    """The trio time and text of the next message (a ``41`` DISCONNECT is expected)."""
    message = await client.receive()
    return trio.current_time(), message


async def test_a_refresh_keeps_the_socket_past_the_old_expiry(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app, token(life=10))
            await join(client)
            start = app.t0
            await trio.sleep(6)
            assert await refresh(client, token(life=30)) == {"ok": True}
            assert app.sockets["/"].claims is not None
            assert app.sockets["/"].claims["exp"] == NOW + 30
            at, message = await next_disconnect(client)
            assert message == "41"
            assert at - start == pytest.approx(30, abs=0.01)
            assert app.gone["/"][1] == "token expired"
            assert app.gone["/"][0] == pytest.approx(start + 30, abs=0.01)


async def test_a_refresh_may_also_shorten_the_life(autojump_clock: trio.testing.MockClock) -> None:
    """The socket lives by the token it last presented, even one that ends sooner."""
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app, token(life=100))
            await join(client)
            start = app.t0
            assert await refresh(client, token(life=5)) == {"ok": True}
            at, message = await next_disconnect(client)
            assert message == "41"
            assert at - start == pytest.approx(5, abs=0.01)


REFUSALS = [
    ("another-user", token(ALAN, life=60), "identity_mismatch"),
    ("no-identity", token(life=60, data=None), "identity_mismatch"),
    ("expired", token(life=-60), "expired"),
    ("forged", token(life=60, key="f" * 64), "bad_signature"),
    ("wrong-audience", token(life=60, aud="other.example"), "wrong_audience"),
    ("not-a-jwt", "not.a.jwt", "malformed"),
    ("a-number", 12345, "malformed"),
    ("null", None, "missing"),
]


@pytest.mark.parametrize(
    ("new_token", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
async def test_a_refused_refresh_changes_nothing(
    autojump_clock: trio.testing.MockClock, new_token: Any, reason: str
) -> None:
    """The reason comes back; identity and claims stay; the socket goes at the old expiry."""
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app, token(life=10))
            await join(client)
            socket = app.sockets["/"]
            claims_before = socket.claims
            start = app.t0
            assert await refresh(client, new_token) == {"ok": False, "reason": reason}
            assert socket.identity == GRACE
            assert socket.claims is claims_before
            at, message = await next_disconnect(client)
            assert message == "41"
            assert at - start == pytest.approx(10, abs=0.01)
            assert app.gone["/"][1] == "token expired"


async def test_the_handshake_token_covers_every_namespace_of_its_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Refreshed through "/", "/admin" of the same connection lives on too, a namespace
    joined afterwards gets the new expiry, and another connection of the same user keeps
    its own (old) expiry."""
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app, token(life=10))
            other_tab = await ws(app, token(life=10))
            await join(client)
            await join(client, "/admin")
            await join(other_tab)
            other_socket = app.sockets["/"]
            start = app.t0
            assert await refresh(client, token(life=40)) == {"ok": True}
            at, message = await next_disconnect(other_tab)
            assert message == "41" and at - start == pytest.approx(10, abs=0.01)
            assert not other_socket.connected
            await trio.sleep(5)
            assert "/admin" not in app.gone
            assert app.sockets["/admin"].connected
            await client.send_text("41/admin,")
            await trio.testing.wait_all_tasks_blocked()
            assert app.gone["/admin"][1] == "client namespace disconnect"
            del app.gone["/admin"]
            await join(client, "/admin")  # after the refresh: the session's new token
            messages = [await next_disconnect(client), await next_disconnect(client)]
            assert sorted(m for _, m in messages) == ["41", "41/admin,"]
            assert all(at - start == pytest.approx(40, abs=0.01) for at, _ in messages)


async def test_a_connect_token_covers_only_its_own_socket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Each namespace came with its own CONNECT token: refreshing "/" leaves "/admin" on its
    own token, which expires as it was going to."""
    app = App(connect_auth=True)
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app)
            await join(client, "/", token(life=10))
            await join(client, "/admin", token(life=10))
            start = app.t0
            assert await refresh(client, token(life=40)) == {"ok": True}
            at, message = await next_disconnect(client)
            assert message == "41/admin," and at - start == pytest.approx(10, abs=0.01)
            assert await refresh(client, token(life=50), "/", ack=2) == {"ok": True}
            at, message = await next_disconnect(client)
            assert message == "41" and at - start == pytest.approx(50, abs=0.01)


async def test_misuse_is_an_error_not_a_token_refusal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A server without auth: RuntimeError. A socket that has left: SessionClosedError."""
    app = App(auth=False)
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app)
            await join(client)
            socket = app.sockets["/"]
            with pytest.raises(RuntimeError, match="needs Server"):
                socket.reauthenticate(token())
    app = App()
    with trio.fail_after(LIMIT):
        async with running_server(app.sio.engine, in_memory=True):
            client = await ws(app, token(life=10))
            await join(client)
            socket = app.sockets["/"]
            await client.send_text("41")
            await trio.testing.wait_all_tasks_blocked()
            assert not socket.connected
            with pytest.raises(SessionClosedError):
                socket.reauthenticate(token(life=60))
            assert socket.expires_at == math.inf
