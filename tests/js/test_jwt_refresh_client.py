"""Refreshing a token on a live socket: the real npm ``socket.io-client`` against jwt_app.py.

The app runs in-process with 2-second tokens (``build_app(token_lifetime=2)``) and, as the
demo always does, ``close_at_exp``. ``jwt_refresh_scenarios.mjs`` runs under Node.js:

- ``refresh``: the client fetches ``POST /refresh`` halfway through each token's life and
  hands the new token to its socket (``reauthenticate``); 1.5 s past the first token's expiry
  it is the same socket, never disconnected (header mode and websocket-only CONNECT mode);
- ``refused``: another user's token, an expired one and a number are refused on the live
  socket with their reasons; ``POST /refresh`` refuses the expired token; the server then
  disconnects the socket at the first token's expiry ("io server disconnect" on the client).

``POST /refresh`` is also checked with raw HTTP: a new token for the same user carrying the
same ``auth_time``; 401 + ``WWW-Authenticate`` + a reason otherwise.

Node's socket.io has no counterpart (a socket's credential is never looked at after the
handshake there); what the client sees at expiry is the reference's ``socket.disconnect()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import _node
import jwt
import pytest
import trio
from test_jwt_client import jwt_app, signed

from minisock import Server
from minisock.testing import HttpClient, HttpResponse

SCRIPT = Path(__file__).resolve().parent / "jwt_refresh_scenarios.mjs"
SCENARIO_DEADLINE = 40.0  # the script has its own 20 s timeout
SECRET: str = jwt_app.DEMO_SECRET
JOHN: dict[str, Any] = jwt_app.USERS["john"][1]
JANE: dict[str, Any] = jwt_app.USERS["jane"][1]
LIFETIME = 2  # seconds: exp = int(now) + 2, so a token lives 1 to 2 s

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@asynccontextmanager
async def running_app() -> AsyncIterator[int]:
    """jwt_app with 2-second tokens on an ephemeral port; yields the port."""
    sio = jwt_app.build_app(connect_auth=True, token_lifetime=LIFETIME)
    assert isinstance(sio, Server)
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(sio.serve, "127.0.0.1", 0)
        yield port
        nursery.cancel_scope.cancel()


def token_for(
    user: dict[str, Any], *, now: float | None = None, lifetime: int = LIFETIME, **claims: Any
) -> str:
    issued = time.time() if now is None else now
    token = jwt_app.issue_token(SECRET, user, issued, lifetime=lifetime, **claims)
    assert isinstance(token, str)
    return token


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a token this app issued (signature checked, expired or not)."""
    decoded: dict[str, Any] = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        audience=jwt_app.AUDIENCE,
        options={"verify_exp": False},
    )
    return decoded


async def scenario(port: int, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario under Node; fail with everything it printed unless it passed."""
    node = _node.require_node("socket.io-client")
    with trio.fail_after(SCENARIO_DEADLINE):
        proc = await trio.run_process(
            [node, str(SCRIPT), name, f"http://127.0.0.1:{port}", json.dumps(params)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stdout = proc.stdout.decode("utf-8", "replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or report.get("ok") is not True:
        stderr = proc.stderr.decode("utf-8", "replace")[-8000:]
        pytest.fail(
            f"{name}: exit {proc.returncode}: {report.get('reason', '<no JSON report>')}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            pytrace=False,
        )
    print(f"{name}: {json.dumps(report)}")  # shown by pytest -rP
    return report


async def post_refresh(port: int, token: str | None) -> HttpResponse:
    headers = [] if token is None else [("Authorization", f"Bearer {token}")]
    async with await HttpClient.open(port) as client:
        return await client.post("/refresh", b"", headers=headers)


# ------------------------------------------------------------------------------------ tests


@pytest.mark.js
@pytest.mark.parametrize("ws_only", [False, True], ids=["header", "websocket-only"])
async def test_a_refreshed_socket_outlives_its_first_token(ws_only: bool) -> None:
    token = token_for(JOHN)
    async with running_app() as port:
        report = await scenario(port, "refresh", {"token": token, "wsOnly": ws_only})
    first_exp = claims_of(token)["exp"]
    assert report["firstExp"] == first_exp
    assert report["refreshes"], report
    assert report["refreshes"][-1] > first_exp
    assert report["connects"] == 1 and report["disconnects"] == []


@pytest.mark.js
async def test_refused_refreshes_leave_the_socket_to_its_first_expiry() -> None:
    token = token_for(JOHN)
    params = {
        "token": token,
        "other": token_for(JANE, lifetime=60),
        "expired": token_for(JOHN, now=time.time() - 600, lifetime=60),
    }
    async with running_app() as port:
        report = await scenario(port, "refused", params)
    assert report["answers"] == [
        {"ok": False, "reason": "identity_mismatch"},
        {"ok": False, "reason": "expired"},
        {"ok": False, "reason": "malformed"},
    ]
    refreshed = report["refreshExpired"]
    assert refreshed["status"] == 401
    assert refreshed["challenge"] == 'Bearer error="invalid_token"'
    assert refreshed["body"] == {"error": "unauthorized", "reason": "expired"}
    assert report["disconnectReason"] == "io server disconnect"
    late_by = report["disconnectAt"] - claims_of(token)["exp"] * 1000
    assert -100 <= late_by <= 2000, late_by


async def test_post_refresh_issues_a_token_for_the_same_user_and_login() -> None:
    logged_in = time.time() - 3000
    token = token_for(JOHN, lifetime=3600, now=logged_in)
    async with running_app() as port:
        response = await post_refresh(port, token)
    assert response.status == 200, response.body
    fresh = claims_of(response.json()["token"])
    old = claims_of(token)
    assert fresh["data"] == JOHN
    assert fresh["auth_time"] == old["auth_time"] == int(logged_in)
    assert fresh["exp"] - fresh["iat"] == LIFETIME
    assert fresh["iat"] >= int(time.time()) - 5


def unsigned_claims(**changes: Any) -> dict[str, Any]:
    """Claims of a token for john valid for a minute, without ``auth_time``."""
    claims = {"data": JOHN, "iss": jwt_app.ISSUER, "aud": jwt_app.AUDIENCE}
    claims["exp"] = int(time.time()) + 60
    return {**claims, **changes}


# (id, how to make the token when the test runs (tokens made at import expire), reason)
REFUSED: list[tuple[str, Callable[[], str | None], str]] = [
    ("no-header", lambda: None, "missing"),
    ("expired", lambda: token_for(JOHN, now=time.time() - 600, lifetime=60), "expired"),
    ("forged", lambda: signed(unsigned_claims(), "not-the-secret"), "bad_signature"),
    (
        "login-too-old",
        lambda: token_for(JOHN, lifetime=60, auth_time=int(time.time()) - 13 * 3600),
        "login_required",
    ),
    ("no-auth-time", lambda: signed(unsigned_claims()), "login_required"),
    (
        "unknown-user",
        lambda: token_for({"id": 9, "username": "mallory"}, lifetime=60),
        "unknown_user",
    ),
]


@pytest.mark.parametrize(("make", "reason"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_post_refresh_refuses_with_a_reason(
    make: Callable[[], str | None], reason: str
) -> None:
    async with running_app() as port:
        response = await post_refresh(port, make())
    assert response.status == 401
    assert response.header("www-authenticate") == 'Bearer error="invalid_token"'
    assert response.json() == {"error": "unauthorized", "reason": reason}
