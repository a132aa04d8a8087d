"""The Socket.IO guide "How to use with JSON Web Tokens", in Python on minisock.

    python examples/jwt_app.py --port 3000 [--connect-auth] [--token-lifetime SECONDS]

- ``POST /login`` with ``{"username": "john", "password": "changeit"}`` returns ``{"token"}``:
  HS256, issuer ``accounts.examplesoft.com``, audience ``yoursite.net``, valid for an hour
  (``--token-lifetime``). (``jane``/``changeit`` is a second user, so there is someone else
  to notify.)
- ``POST /refresh`` with ``Authorization: Bearer <token>`` returns a new ``{"token"}`` for the
  same user, only against a token that is valid now (401 + reason otherwise), and only up to
  12 hours after the password was given (``auth_time``, carried from token to token): a stolen
  token cannot be refreshed forever.
- ``GET /self`` with ``Authorization: Bearer <token>`` returns the user; 401 otherwise.
- Sockets are disconnected when their token expires (``close_at_exp``), unless the page sends
  a refreshed token first: the ``reauthenticate`` event calls ``socket.reauthenticate`` and
  acks ``{"ok": true, "exp"}`` or ``{"ok": false, "reason"}``. The page refreshes halfway
  through each token's life and stays connected.
- ``/socket.io/``: the first request of a session (no sid) must carry the bearer token, as in
  the guide. With ``--connect-auth`` a browser may instead send it in the CONNECT payload
  (``io({auth: {token}})``), which is the only way for a websocket-only browser client.
- ``GET /`` serves a page that logs in and talks to the server.
- ``GET /admin/`` serves the Socket.IO admin UI (``@socket.io/admin-ui``'s own files, from
  ``node_modules``), and the server is instrumented for it (:mod:`minisock.admin`, in
  development mode): log in there as ``john`` / ``changeit`` too, with the server URL
  ``http://localhost:3000``, to watch the page's sockets, rooms and events live.
  ``--no-admin`` turns both off.

The secret is the guide's demo value, ``Mys3cr3t``: far too short for anything real. Pass
``--secret`` (or set ``MINISOCK_JWT_SECRET``) with 32+ random bytes outside a demo.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import time
import warnings
from pathlib import Path
from typing import Any

import jwt
import trio

from minisock import JWTAuth, JWTVerifier, Request, Response, Server, Socket, TokenError, trace
from minisock.adapters import AdapterFactory, cluster_adapter
from minisock.adapters.local import LocalAdapter
from minisock.admin import BasicAuth, hash_password, instrument
from minisock.auth import bearer_token
from minisock.runner import run

log = logging.getLogger("jwt_app")

ISSUER = "accounts.examplesoft.com"
AUDIENCE = "yoursite.net"
DEMO_SECRET = "Mys3cr3t"
TOKEN_LIFETIME = 3600
MAX_SESSION_AGE = 12 * 3600  # how long after the password a token may still be refreshed
USERS = {
    "john": ("changeit", {"id": 1, "username": "john"}),
    "jane": ("changeit", {"id": 2, "username": "jane"}),
}
HERE = Path(__file__).parent
PAGE = HERE / "jwt_app.html"
CLIENT_BUNDLE = HERE / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
ADMIN_UI = HERE / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
ICON_FONT = HERE / "node_modules" / "@mdi" / "font"
# The UI's index.html loads its icon font and Roboto from CDNs: the demo serves the icon font
# from node_modules instead and lets the text fall back to the browser's sans-serif, so that
# nothing leaves the machine.
CDN_ICONS = "https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css"
CDN_ROBOTO = "https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900"
ADMIN_USER = "john"  # the admin UI's login: the demo's own user, with its password


def issue_token(
    secret: str,
    user: dict[str, Any],
    now: float,
    *,
    lifetime: int = TOKEN_LIFETIME,
    auth_time: int | None = None,
) -> str:
    """A token for ``user``; ``auth_time`` is when the password was given (now, at login)."""
    claims = {"data": user, "iss": ISSUER, "aud": AUDIENCE, "iat": int(now)}
    claims["auth_time"] = int(now) if auth_time is None else auth_time
    claims["exp"] = int(now) + lifetime
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the guide's short demo secret; see the docstring
        return jwt.encode(claims, secret, algorithm="HS256")


def build_app(
    *,
    adapter: AdapterFactory = LocalAdapter,
    secret: str = DEMO_SECRET,
    connect_auth: bool = False,
    ping_interval_ms: int = 25000,
    ping_timeout_ms: int = 20000,
    cookie: str | None = None,
    token_lifetime: int = TOKEN_LIFETIME,
    admin: bool = True,
) -> Server:
    if token_lifetime < 1:
        raise ValueError("the token lifetime is at least one second")
    auth = JWTAuth(
        JWTVerifier(secret, issuer=ISSUER, audience=AUDIENCE),
        connect_auth=connect_auth,
        close_at_exp=True,
    )
    sio = Server(
        adapter=adapter,
        cookie=cookie,
        auth=auth,
        ping_interval=ping_interval_ms / 1000,
        ping_timeout=ping_timeout_ms / 1000,
    )

    if admin:
        password, _ = USERS[ADMIN_USER]
        # A real application keeps only the hash (made once with hash_password), never the
        # password; rounds=10 keeps the demo's start quick.
        auth_ = BasicAuth(ADMIN_USER, hash_password(password, rounds=10))
        instrument(sio, auth=auth_, mode="development")
        serve_admin_ui(sio)

    @sio.route("GET", "/")
    async def page(request: Request) -> Response:
        return Response.text(PAGE.read_text("utf-8"), content_type="text/html")

    @sio.route("GET", "/socket.io.min.js")
    async def client_bundle(request: Request) -> Response:
        if not CLIENT_BUNDLE.exists():
            return Response.text("run `make demo` (npm ci in examples/)", status=404)
        body = CLIENT_BUNDLE.read_bytes()
        return Response(200, [("Content-Type", "text/javascript; charset=utf-8")], body)

    @sio.route("POST", "/login")
    async def login(request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response.json({"error": "the body must be JSON"}, 400)
        if not isinstance(body, dict):
            return Response.json({"error": "the body must be a JSON object"}, 400)
        entry = USERS.get(str(body.get("username")))
        if entry is None or body.get("password") != entry[0]:
            return Response.json({"error": "invalid credentials"}, 401)
        token = issue_token(secret, entry[1], time.time(), lifetime=token_lifetime)
        return Response.json({"token": token})

    @sio.route("POST", "/refresh")
    async def refresh(request: Request) -> Response:
        # Only against a token valid now: an expired one means logging in again.
        try:
            claims = auth.verify(bearer_token(request.header("authorization")))
        except TokenError as exc:
            return unauthorized(exc.reason)
        now = time.time()
        started = claims.get("auth_time")
        if type(started) is not int or not now - MAX_SESSION_AGE <= started <= now:
            return unauthorized("login_required")
        user = auth.identity(claims)
        entry = USERS.get(str(user.get("username"))) if isinstance(user, dict) else None
        if entry is None or entry[1] != user:
            return unauthorized("unknown_user")  # removed or changed since the login
        token = issue_token(secret, user, now, lifetime=token_lifetime, auth_time=started)
        return Response.json({"token": token})

    @sio.route("GET", "/self")
    async def whoami(request: Request) -> Response:
        try:
            token = bearer_token(request.header("authorization"))
            claims = auth.verify(token)
        except TokenError as exc:
            return unauthorized(exc.reason)
        return Response.json(auth.identity(claims))

    @sio.on("connect")
    async def connect(socket: Socket, payload: dict[str, Any]) -> None:
        user = socket.identity
        socket.join(f"user:{user['id']}")
        await socket.emit("hello", {"id": user["id"], "username": user["username"]})

    @sio.on("echo")
    async def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("reauthenticate")
    async def reauthenticate(socket: Socket, token: Any) -> dict[str, Any]:
        try:
            socket.reauthenticate(token)
        except TokenError as exc:
            return {"ok": False, "reason": exc.reason}
        assert socket.claims is not None
        return {"ok": True, "exp": socket.claims["exp"]}

    @sio.on("notify-user")
    async def notify_user(socket: Socket, body: dict[str, Any]) -> dict[str, Any]:
        await sio.to(f"user:{body['userId']}").emit("notification", body["message"])
        return {"ok": True}

    @sio.on("is-online")
    async def is_online(socket: Socket, user_id: int) -> dict[str, Any]:
        return {"online": await sio.to(f"user:{user_id}").has_members()}

    @sio.on("ask-me")
    async def ask_me(socket: Socket, payload: Any) -> None:
        answer: Any = {"error": "no ack"}
        with trio.move_on_after(2):
            answer = await socket.call("question", payload)
        await socket.emit("answer", answer)

    return sio


def serve_admin_ui(sio: Server) -> None:
    """The admin UI's files at ``/admin/``, from the npm package (``npm ci`` in examples/),
    with the icon font served from ``@mdi/font`` rather than a CDN."""

    def static(path: str, body: bytes, content_type: str) -> None:
        @sio.route("GET", path)
        async def serve(request: Request) -> Response:
            return Response(200, [("Content-Type", content_type)], body)

    @sio.route("GET", "/admin")
    async def slash(request: Request) -> Response:
        return Response(301, [("Location", "/admin/")], b"")  # its assets are relative

    if not (ADMIN_UI / "index.html").exists() or not ICON_FONT.exists():

        @sio.route("GET", "/admin/")
        async def missing(request: Request) -> Response:
            return Response.text("run `make demo` (npm ci in examples/)", status=404)

        return
    for file in sorted(ADMIN_UI.rglob("*")):
        if file.is_file() and file.suffix != ".map":
            path = "/admin/" + file.relative_to(ADMIN_UI).as_posix()
            static(path, file.read_bytes(), _content_type(file))
    index = (ADMIN_UI / "index.html").read_text("utf-8")
    index = index.replace(CDN_ICONS, "mdi/css/materialdesignicons.min.css")
    index = index.replace(f'<link rel="stylesheet" href="{CDN_ROBOTO}">', "")
    static("/admin/", index.encode(), "text/html; charset=utf-8")
    for folder in ("css", "fonts"):
        for file in sorted((ICON_FONT / folder).glob("materialdesignicons*")):
            if file.suffix != ".map":
                path = f"/admin/mdi/{folder}/{file.name}"
                static(path, file.read_bytes(), _content_type(file))


def _content_type(file: Path) -> str:
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith("script") else kind


def unauthorized(reason: str) -> Response:
    """RFC 6750 §3.1: 401 with the challenge, and the reason in a JSON body."""
    response = Response.json({"error": "unauthorized", "reason": reason}, 401)
    response.headers.append(("WWW-Authenticate", 'Bearer error="invalid_token"'))
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--ping-interval", type=int, default=25000, help="milliseconds")
    parser.add_argument("--ping-timeout", type=int, default=20000, help="milliseconds")
    parser.add_argument("--connect-auth", action="store_true", help="accept CONNECT auth tokens")
    parser.add_argument("--token-lifetime", type=int, default=TOKEN_LIFETIME, help="seconds")
    parser.add_argument("--secret", default=os.environ.get("MINISOCK_JWT_SECRET", DEMO_SECRET))
    parser.add_argument("--trace", action="store_true", help="print every packet (stderr)")
    parser.add_argument("--redis", metavar="URL", help="join a cluster on this Redis")
    parser.add_argument("--redis-key", default="socket.io", help="the cluster's channel prefix")
    parser.add_argument(
        "--cookie", metavar="NAME", help="set the Engine.IO sid cookie (e.g. io) for sticky LBs"
    )
    parser.add_argument(
        "--no-admin", action="store_true", help="no admin UI (/admin/) nor instrumentation"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.trace:
        trace.enable()
    if args.secret == DEMO_SECRET:
        # Say it once here, rather than PyJWT warning on every token it checks.
        log.warning("using the guide's demo secret: fine for a demo, never for real use")
        warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    sio = build_app(
        adapter=cluster_adapter(args.redis, args.redis_key),
        cookie=args.cookie,
        secret=args.secret,
        connect_auth=args.connect_auth,
        ping_interval_ms=args.ping_interval,
        ping_timeout_ms=args.ping_timeout,
        token_lifetime=args.token_lifetime,
        admin=not args.no_admin,
    )
    log.info("JWT demo on http://%s:%d/ (log in as john / changeit)", args.host, args.port)
    if not args.no_admin:
        log.info(
            "admin UI on http://%s:%d/admin/ (server URL http://%s:%d, john / changeit)",
            *(args.host, args.port) * 2,
        )
    run(sio, args.host, args.port)  # until Ctrl-C or SIGTERM, then a graceful shutdown


if __name__ == "__main__":
    main()
