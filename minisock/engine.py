"""The Engine.IO server: the session table, request dispatch, lifecycle and handlers.

What lives where:

- ``proto/route.py`` decides what kind of Engine.IO request arrived (pure);
- ``_polling.py`` answers long-polling GETs and POSTs;
- ``_websocket.py`` runs a WebSocket connection for a session (new or upgrading);
- ``_timers.py`` wakes sessions for heartbeats, upgrade and linger deadlines;
- this module owns the table of live sessions and ties the pieces together.

Embedding: ``await nursery.start(server.serve, host, port)`` runs the server inside an
application's own nursery and reports the bound port. ``server.shutdown()`` (or cancelling
that nursery) closes every session gracefully: WebSockets get close 1001 and pending polls
are answered.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar, overload

import trio

from minisock import _polling, _websocket, trace
from minisock._http import HttpConnection
from minisock._timers import TimerHeap
from minisock.engine_socket import EngineSocket
from minisock.errors import RequestRefusedError, SessionClosedError, TokenError
from minisock.proto import ws_handshake
from minisock.proto.eio import open_packet
from minisock.proto.eio_cookie import CookieOptions
from minisock.proto.eio_session import (
    CloseReason,
    EngineSession,
    SessionConfig,
    TimerOutcome,
    Transport,
)
from minisock.proto.eio_sid import sid_problem
from minisock.proto.http1 import header_is_valid
from minisock.proto.http_compression import HttpCompression
from minisock.proto.route import (
    ERROR_MESSAGES,
    EngineRequest,
    ErrorCode,
    Reject,
    classify,
    origin_matches_host,
)
from minisock.proto.ws_deflate import Deflate
from minisock.request import Request, Response

__all__ = ["ConnectionErrorEvent", "CookieOptions", "EngineServer"]

log = logging.getLogger("minisock.engine")

ConnectHandler = Callable[[EngineSocket], Awaitable[None]]
MessageHandler = Callable[[EngineSocket, str | bytes], Awaitable[None]]
DisconnectHandler = Callable[[EngineSocket, str], Awaitable[None]]
RouteHandler = Callable[[Request], Awaitable[Response]]
HandshakeCheck = Callable[[Request], tuple[Any, dict[str, Any] | None]]
"""Checks a sid-less request: returns (identity, claims) or raises TokenError (-> 401)."""
AllowRequest = Callable[[Request], Awaitable[bool]]
"""Node's ``allowRequest``: may a sid-less request open a session? (-> 403 when not)."""
GenerateId = Callable[[Request], "str | Awaitable[str]"]
"""Node's ``generateId(req)``: the sid of a new session (sync or async)."""
HeadersHook = Callable[[list[tuple[str, str]], Request], None]
"""Node's ``initial_headers`` / ``headers`` events: append response headers to the list."""
ConnectionErrorHandler = Callable[["ConnectionErrorEvent"], None]
Service = Callable[..., Awaitable[None]]
"""``async def service(*, task_status)``: see :meth:`EngineServer.run_service`."""
Listener = trio.SocketListener | trio.SSLListener[trio.SocketStream]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class ConnectionErrorEvent:
    """A refused request, as Node's ``connection_error`` event describes it.

    ``code`` is the Engine.IO error code (0 to 5), ``message`` its standard text, ``context``
    the details (``{"name": "TRANSPORT_MISMATCH", ...}``, ``{"sid": ...}``...).
    """

    request: Request
    code: int
    message: str
    context: dict[str, Any] = field(default_factory=dict)


async def _ignore(*_args: object) -> None:
    return None


class EngineServer:
    """An Engine.IO v4 server. Times are in seconds, sizes in bytes."""

    def __init__(
        self,
        *,
        path: str = "/engine.io/",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        close_timeout: float = 30.0,
        max_payload: int = 1_000_000,
        max_outbox_packets: int = 1024,
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        cors_origins: Sequence[str] | None = None,
        cors_credentials: bool = False,
        cookie: CookieOptions | str | bool | None = None,
        cookie_path: str = "/",
        max_head_size: int = 16384,
        max_url_length: int = 8192,
        max_headers: int = 100,
        max_connections: int = 10000,
        max_sessions: int = 10000,
        head_timeout: float = 10.0,
        body_timeout: float = 30.0,
        request_timeout: float = 300.0,
        shutdown_timeout: float = 2.0,
        handshake_check: HandshakeCheck | None = None,
        allow_request: AllowRequest | None = None,
        generate_id: GenerateId | None = None,
        hook_timeout: float = 10.0,
        per_message_deflate: Deflate | bool = False,
        http_compression: HttpCompression | bool = True,
    ) -> None:
        unknown = set(transports) - {"polling", "websocket"}
        if unknown:
            raise ValueError(f"unknown transports: {sorted(unknown)}")
        self.path = path if path.endswith("/") else path + "/"
        self.config = SessionConfig(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            upgrade_timeout=upgrade_timeout,
            close_timeout=close_timeout,
            max_payload=max_payload,
            max_outbox_packets=max_outbox_packets,
        )
        self.transports = tuple(transports)
        self.allow_upgrades = allow_upgrades and "websocket" in self.transports
        self.cors_origins = tuple(cors_origins) if cors_origins is not None else None
        self.cors_credentials = cors_credentials
        self.cookie = _cookie_options(cookie, cookie_path)
        """The sid cookie's options (Node's ``cookie``); ``None``: no cookie."""
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_headers = max_headers
        self.max_connections = max_connections
        self.max_sessions = max_sessions
        self.connections = 0
        """Open TCP connections right now (HTTP and WebSocket)."""
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        """How long an HTTP request body read, or a response write, may wait without any
        progress before the connection is closed (a client that stops reading)."""
        self.request_timeout = request_timeout
        """How long a request body may take in all, however steadily it trickles (Node's
        ``server.requestTimeout`` has the same 300 s default)."""
        self.shutdown_timeout = shutdown_timeout
        self.handshake_check = handshake_check
        self.allow_request = allow_request
        self.generate_id = generate_id
        self.hook_timeout = hook_timeout
        """Bound on ``allow_request`` and ``generate_id`` (a database that does not answer)."""
        self.per_message_deflate = (
            Deflate() if per_message_deflate is True else per_message_deflate or None
        )
        """permessage-deflate settings (Node's ``perMessageDeflate``); None: off, as in Node."""
        self.http_compression = (
            HttpCompression() if http_compression is True else http_compression or None
        )
        """Compression of polling answers (Node's ``httpCompression``); on by default."""
        self.on_initial_headers: HeadersHook | None = None
        self.on_headers: HeadersHook | None = None
        self.on_connection_error: ConnectionErrorHandler | None = None
        self.sessions: dict[str, EngineSocket] = {}
        """The live sessions, by Engine.IO sid."""
        self.on_connect: ConnectHandler = _ignore
        self.on_message: MessageHandler = _ignore
        self.on_disconnect: DisconnectHandler = _ignore
        self.session_class: type[EngineSocket] = EngineSocket
        """The class of new sessions: instrumentation (``minisock.admin``) swaps in a subclass
        that counts what is queued, so an uninstrumented server pays nothing per message."""
        self._routes: dict[tuple[str, str], RouteHandler] = {}
        self._background: list[Callable[[], Awaitable[None]]] = []
        self._services: list[Service] = []
        self._mounted: list[EngineServer] = []
        self._timers: TimerHeap[EngineSocket] = TimerHeap(self._on_timer)
        self._read_timers: TimerHeap[HttpConnection] = TimerHeap(HttpConnection.on_timer, weak=True)
        self._nursery: trio.Nursery | None = None
        self._stop = trio.Event()
        self._grace = trio.CancelScope()  # the graceful part of the shutdown; see shutdown()
        self._shutting_down = False
        self._active_transports = 0
        self._transports_idle = trio.Event()

    # ------------------------------------------------------------------ handlers

    @overload
    def on(self, event: Literal["connect"]) -> Callable[[ConnectHandler], ConnectHandler]: ...
    @overload
    def on(self, event: Literal["message"]) -> Callable[[MessageHandler], MessageHandler]: ...
    @overload
    def on(
        self, event: Literal["disconnect"]
    ) -> Callable[[DisconnectHandler], DisconnectHandler]: ...
    @overload
    def on(
        self, event: Literal["initial_headers", "headers"]
    ) -> Callable[[HeadersHook], HeadersHook]: ...
    @overload
    def on(
        self, event: Literal["connection_error"]
    ) -> Callable[[ConnectionErrorHandler], ConnectionErrorHandler]: ...
    def on(self, event: str) -> Callable[[F], F]:
        """Register the handler for ``connect``, ``message`` or ``disconnect`` (async), or
        for ``initial_headers``, ``headers`` or ``connection_error`` (plain functions, run
        on the request's path before its answer is written, as Node's events are)."""
        events = ("connect", "message", "disconnect", "initial_headers", "headers")
        if event not in (*events, "connection_error"):
            raise ValueError(f"unknown event {event!r}")

        def register(handler: F) -> F:
            setattr(self, f"on_{event}", handler)
            return handler

        return register

    def route(self, method: str, path: str) -> Callable[[RouteHandler], RouteHandler]:
        """Serve a plain HTTP route (exact method and path) beside the engine path."""

        def register(handler: RouteHandler) -> RouteHandler:
            self._routes[(method.upper(), path)] = handler
            return handler

        return register

    # ------------------------------------------------------------------ lifecycle

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on ``host:port`` and serve until cancelled or :meth:`shutdown`.

        With ``ssl_context`` (a server context holding the certificate chain) it serves
        ``https://`` and ``wss://``. Reports the bound port through ``task_status`` (so port
        0 works in tests).
        """
        sockets = await trio.open_tcp_listeners(port, host=host)
        listeners: list[Listener] = list(sockets)
        if ssl_context is not None:
            # https_compatible: browsers and Node end connections without close_notify.
            listeners = [
                trio.SSLListener(sock, ssl_context, https_compatible=True) for sock in sockets
            ]
        await self.serve_listeners(listeners, task_status=task_status)

    async def serve_listeners(
        self,
        listeners: Sequence[Listener],
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve on listeners you opened yourself (plain TCP, or ``trio.SSLListener``)."""
        port = _bound_port(listeners[0]) if listeners else 0
        async with trio.open_nursery() as outer:
            # Services first (a cluster bus that must have subscribed before clients come),
            # outside the shield below: until they are up there is nothing to shut down, so
            # a cancellation (Ctrl-C with Redis unreachable) ends the wait at once.
            for engine in (self, *self._mounted):
                for service in engine._services:
                    await outer.start(service)
            work_scope = await outer.start(self._run_workers, listeners)
            if listeners:
                log.info("listening on port %d", port)
            task_status.started(port)
            try:
                await self._stop.wait()
            finally:
                with trio.CancelScope(shield=True):
                    await self._graceful_shutdown()
                work_scope.cancel()
                outer.cancel_scope.cancel()  # the services, which outlived the sessions

    async def _run_workers(
        self,
        listeners: Sequence[Listener],
        *,
        task_status: trio.TaskStatus[trio.CancelScope],
    ) -> None:
        # Shielded, so that an outside cancellation first runs the graceful shutdown above.
        with trio.CancelScope(shield=True) as scope:
            async with trio.open_nursery() as nursery:
                for engine in (self, *self._mounted):
                    engine._nursery = nursery
                    nursery.start_soon(engine._timers.run)
                    nursery.start_soon(engine._read_timers.run)
                    for background in engine._background:
                        nursery.start_soon(background)
                if listeners:
                    nursery.start_soon(
                        partial(
                            trio.serve_listeners,
                            self.handle_connection,
                            list(listeners),
                            handler_nursery=nursery,
                        )
                    )
                task_status.started(scope)

    def shutdown(self) -> None:
        """Close every session gracefully and stop serving.

        Called again while the graceful part runs (a second Ctrl-C), it stops waiting: the
        connections still open are closed at once (a WebSocket's close handshake keeps its
        own bound, ``_websocket._CLOSE_WAIT``).
        """
        if self._stop.is_set():
            self._grace.cancel()
        self._stop.set()

    async def _graceful_shutdown(self) -> None:
        now = trio.current_time()
        for engine in (self, *self._mounted):
            engine._shutting_down = True
            for sock in list(engine.sessions.values()):
                sock.state.close(CloseReason.SERVER_SHUTTING_DOWN, now, linger=False)
                engine.refresh(sock)
        self._grace.deadline = now + self.shutdown_timeout
        with self._grace:
            for engine in (self, *self._mounted):
                while engine._active_transports:
                    engine._transports_idle = trio.Event()
                    await engine._transports_idle.wait()
            await trio.sleep(0)  # let disconnect handlers start

    # ------------------------------------------------------------------ sessions

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the server's nursery (disconnect handlers, for instance)."""
        if self._nursery is None:
            raise RuntimeError("the server is not running")
        self._nursery.start_soon(fn, *args)

    def close_session(self, sock: EngineSocket, reason: str) -> None:
        """Close ``sock`` on our side; queued messages are still delivered."""
        if sock.state.close(reason, trio.current_time()):
            self.refresh(sock)

    def fail_session(self, sock: EngineSocket, reason: str) -> None:
        """Close ``sock`` at once, dropping its queue; the client gets ``1`` or a close frame."""
        if sock.state.fail(reason):
            self.refresh(sock)

    def mount(self, other: EngineServer) -> None:
        """Serve ``other`` (an engine on another path) on this server's connections.

        Its sessions, timers and background tasks live and stop with this server, so one
        port can carry ``/socket.io/`` and a plain ``/engine.io/`` side by side.
        """
        if other.path == self.path or any(m.path == other.path for m in self._mounted):
            raise ValueError(f"an engine already serves {other.path}")
        self._mounted.append(other)

    def run_in_background(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn()`` for as long as the server runs (the layer above uses this)."""
        self._background.append(fn)

    def run_service(self, service: Service) -> None:
        """Run ``service(task_status=...)`` for as long as the server runs, and listen only
        once it has called ``task_status.started()`` (a cluster bus that has subscribed)."""
        self._services.append(service)

    def refresh(self, sock: EngineSocket) -> None:
        """Call after anything that may change a session: wakes waiters, reschedules its timer,
        and reports and forgets a closed session."""
        state = sock.state
        sock.wake()
        if state.is_open:
            self._timers.schedule(sock, state.next_deadline())
            return
        if not sock._reported_closed:
            sock._reported_closed = True
            log.debug("session closed: %s", state.close_reason)
            if trace.enabled():
                trace.closed(state.eio_sid, sock.transport, state.close_reason or "")
            self.spawn(self._call_disconnect, sock, state.close_reason or "")
        if state.lingering:
            self._timers.schedule(sock, state.next_deadline())
        else:
            self.sessions.pop(state.eio_sid, None)

    def _on_timer(self, sock: EngineSocket, now: float) -> None:
        state = sock.state
        while (outcome := state.on_timer(now)) is not TimerOutcome.NOTHING:
            if outcome is TimerOutcome.UPGRADE_EXPIRED:
                _websocket.abort_probe(sock)
        self.refresh(sock)

    def transport_started(self) -> None:
        self._active_transports += 1

    def transport_finished(self) -> None:
        self._active_transports -= 1
        if not self._active_transports:
            self._transports_idle.set()

    def create_session(
        self,
        request: Request,
        transport: Transport,
        identity: Any = None,
        claims: dict[str, Any] | None = None,
        eio_sid: str | None = None,
    ) -> EngineSocket:
        """Register a new session and queue its open packet."""
        if eio_sid is None:
            eio_sid = secrets.token_urlsafe(16)  # 128 random bits: the sid is a bearer credential
        now = trio.current_time()
        state = EngineSession(eio_sid, transport, self.config, now)
        upgrades = ["websocket"] if transport is Transport.POLLING and self.allow_upgrades else []
        state.send(
            open_packet(
                eio_sid,
                upgrades=upgrades,
                ping_interval_ms=round(self.config.ping_interval * 1000),
                ping_timeout_ms=round(self.config.ping_timeout * 1000),
                max_payload=self.config.max_payload,
            )
        )
        sock = self.session_class(self, state, request)
        sock.identity, sock.claims = identity, claims
        self.sessions[eio_sid] = sock
        self.refresh(sock)
        return sock

    async def deliver(self, sock: EngineSocket, data: str | bytes) -> None:
        """Hand one message to the application; its errors stay with this session."""
        try:
            await self.on_message(sock, data)
        except SessionClosedError:
            log.debug("a message handler sent to a session that had closed")
        except Exception:
            log.exception("message handler failed")

    async def call_connect(self, sock: EngineSocket) -> None:
        try:
            await self.on_connect(sock)
        except Exception:
            log.exception("connect handler failed; closing the session")
            self.close_session(sock, CloseReason.FORCED_CLOSE)

    async def _call_disconnect(self, sock: EngineSocket, reason: str) -> None:
        try:
            await self.on_disconnect(sock, reason)
        except Exception:
            log.exception("disconnect handler failed")

    # ------------------------------------------------------------------ HTTP

    def handle_connection(self, stream: trio.abc.Stream) -> Coroutine[Any, Any, None]:
        """Serve one accepted connection: HTTP requests, maybe then a WebSocket.

        The coroutine is :meth:`serve_requests`'s: this sets the connection up and returns
        it, so an idle connection's task holds no frame of its own here.
        """
        peer: tuple[str, int] | None = None
        transport = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
        if isinstance(transport, trio.SocketStream):
            try:
                name = transport.socket.getpeername()
                peer = (str(name[0]), int(name[1]))
            except OSError:
                peer = None
        http = HttpConnection(
            stream,
            peer=peer,
            secure=transport is not stream,
            timers=self._read_timers,
            max_head_size=self.max_head_size,
            max_url_length=self.max_url_length,
            max_headers=self.max_headers,
            head_timeout=self.head_timeout,
            body_timeout=self.body_timeout,
            request_timeout=self.request_timeout,
        )
        http.acceptor = self
        self.connections += 1
        return self.serve_requests(http)

    async def serve_requests(
        self, http: HttpConnection, resume: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Answer the connection's requests until it ends or a WebSocket takes its stream,
        then close it. A POST whose handler waits moves the connection to a new task, which
        comes here with ``resume``, the rest of that POST, to finish first."""
        me = http.owner = trio.lowlevel.current_task()
        try:
            if resume is not None:
                await resume()
                if http.owner is not me or not await http.finish_request():
                    return
            while True:
                request = await http.next_request()
                if request is None:
                    break
                if self.connections > self.max_connections:
                    reject = Reject(503, ErrorCode.BAD_REQUEST, "Too many connections")
                    context = {"name": "TOO_MANY_CONNECTIONS"}
                    await self.reject(http, request, reject, context=context, close=True)
                    break
                if await self._dispatch(http, request):
                    return  # a WebSocket took the stream over
                if http.owner is not me:
                    return  # another task serves the connection now
                if not await http.finish_request():
                    break
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            # One connection's failure must never take the server down with it.
            log.exception("connection handler failed")
        finally:
            if http.owner is me:
                self.connections -= 1
                if not http.detached:
                    await http.aclose()

    async def _dispatch(self, http: HttpConnection, request: Request) -> bool:
        """Answer one request; returns ``True`` when a WebSocket took over the stream."""
        for engine in (self, *self._mounted):
            if request.path in (engine.path, engine.path[:-1]):
                return await engine._dispatch_engine(http, request)
        route = self._routes.get((request.method, request.path))
        if route is None:
            await http.respond_json(404, {"code": 404, "message": "Not found"})
            return False
        await _polling.serve_route(self, http, request, route)
        return False

    def cors_headers(self, request: Request) -> list[tuple[str, str]]:
        """CORS headers for an allowlisted Origin; none at all unless configured."""
        origin = request.header("origin")
        if origin is None or not self.cors_origins:
            return []
        if origin not in self.cors_origins and "*" not in self.cors_origins:
            return []
        if not origin.isascii():
            # Only "*" lets such an Origin through, and no browser sends one; it cannot be
            # echoed in a header (the parser already refused every other unsendable byte).
            return []
        headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if self.cors_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def origin_allowed(self, request: Request) -> bool:
        """No Origin (not a browser), the same host, or an allowlisted Origin."""
        origin = request.header("origin")
        if origin is None:
            return True
        if self.cors_origins and (origin in self.cors_origins or "*" in self.cors_origins):
            return True
        return origin_matches_host(origin, request.header("host"))

    async def reject(
        self,
        http: HttpConnection,
        request: Request,
        reject: Reject,
        *,
        context: dict[str, Any] | None = None,
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Refuse ``request``: tell ``connection_error`` listeners, then answer
        ``{"code": ..., "message": ...}`` (plus ``extra``) with the refusal's status."""
        handler = self.on_connection_error
        if handler is not None:
            code = int(reject.code)
            event = ConnectionErrorEvent(
                request, code, ERROR_MESSAGES[reject.code], _context_of(reject, request, context)
            )
            try:
                handler(event)
            except Exception:
                log.exception("connection_error handler failed")
        body = {"code": int(reject.code), "message": reject.message, **(extra or {})}
        await http.respond_json(
            reject.status,
            body,
            headers=(headers or []) + self.cors_headers(request),
            close=close,
        )

    async def _dispatch_engine(self, http: HttpConnection, request: Request) -> bool:
        if trace.enabled():
            upgrade = (
                " (Upgrade: websocket)" if ws_handshake.is_upgrade_request(request.headers) else ""
            )
            trace.emit(
                trace.C2S,
                "http",
                request.query.get("sid"),
                f"{request.method} {request.target}{upgrade}",
                "HTTP request",
            )
        if request.method == "OPTIONS" and self.cors_headers(request):
            await _polling.answer_preflight(self, http, request)
            return False
        if not self.origin_allowed(request):
            await self.reject(
                http,
                request,
                Reject(403, ErrorCode.FORBIDDEN, "Origin not allowed"),
                context={"name": "ORIGIN_NOT_ALLOWED", "origin": request.header("origin")},
            )
            return False
        is_upgrade = ws_handshake.is_upgrade_request(request.headers)
        verdict = classify(
            request.method, request.query, is_upgrade=is_upgrade, transports=self.transports
        )
        if isinstance(verdict, Reject):
            await self.reject(http, request, verdict)
            return False
        if self._shutting_down:
            await self.reject(http, request, _SHUTTING_DOWN, context={"name": "SHUTTING_DOWN"})
            return False
        if verdict.eio_sid is None:
            return await self._handshake(http, request, verdict)
        sock = self.sessions.get(verdict.eio_sid)
        if sock is None:
            await self.reject(http, request, Reject(400, ErrorCode.UNKNOWN_SID))
            return False
        if verdict.transport == "websocket":
            return await _websocket.serve_upgrade(self, http, request, sock)
        if sock.state.transport is not Transport.POLLING:
            await self.reject(
                http,
                request,
                Reject(400, ErrorCode.BAD_REQUEST, "Transport mismatch"),
                context={
                    "name": "TRANSPORT_MISMATCH",
                    "transport": verdict.transport,
                    "previousTransport": sock.state.transport.value,
                },
            )
            return False
        if request.method == "GET":
            await _polling.serve_get(self, http, request, sock)
        else:
            await _polling.serve_post(self, http, request, sock)
        return False

    async def _handshake(
        self, http: HttpConnection, request: Request, verdict: EngineRequest
    ) -> bool:
        """Admit a sid-less request: the token check (401), ``allow_request`` (403), the
        sid (``generate_id``), then the session on its transport."""
        if await self._refused_for_capacity(http, request):
            return False
        identity: Any = None
        claims: dict[str, Any] | None = None
        if self.handshake_check is not None:
            try:
                identity, claims = self.handshake_check(request)
            except TokenError as exc:
                # RFC 6750 §3.1. Before any session or 101: a refused client gets nothing.
                log.info("handshake refused: %s", exc.reason)
                await self.reject(
                    http,
                    request,
                    Reject(401, ErrorCode.FORBIDDEN, "Unauthorized"),
                    context={"name": "INVALID_TOKEN", "reason": exc.reason},
                    headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
                    extra={"reason": exc.reason},
                )
                return False
        if self.allow_request is not None and not await self._allowed(http, request, verdict):
            return False
        eio_sid: str | None = None
        if self.generate_id is not None:
            eio_sid = await self._generated_sid(http, request)
            if eio_sid is None:
                return False
        if (self.allow_request or self.generate_id) and await self._refused_for_capacity(
            http, request
        ):
            return False  # shut down or filled up while the hooks ran
        if verdict.transport == "websocket":
            return await _websocket.serve_new(self, http, request, identity, claims, eio_sid)
        await _polling.serve_handshake(self, http, request, identity, claims, eio_sid)
        return False

    async def _refused_for_capacity(self, http: HttpConnection, request: Request) -> bool:
        if self._shutting_down:
            await self.reject(http, request, _SHUTTING_DOWN, context={"name": "SHUTTING_DOWN"})
            return True
        if len(self.sessions) >= self.max_sessions:
            reject = Reject(503, ErrorCode.BAD_REQUEST, "Too many sessions")
            await self.reject(http, request, reject, context={"name": "TOO_MANY_SESSIONS"})
            return True
        return False

    async def _allowed(
        self, http: HttpConnection, request: Request, verdict: EngineRequest
    ) -> bool:
        """Ask ``allow_request``; answer a refusal (403, or 400 to a WebSocket handshake, as
        Node's ``abortUpgrade`` does) or its failure (503) here."""
        assert self.allow_request is not None
        message = ""
        try:
            with trio.fail_after(self.hook_timeout):
                if await self.allow_request(request):
                    return True
        except RequestRefusedError as exc:
            message = exc.message
        except Exception as exc:
            # The check itself failed (a database down): not a verdict on this client.
            if isinstance(exc, trio.TooSlowError):
                log.warning("allow_request took over %s s; refusing", self.hook_timeout)
            else:
                log.exception("allow_request failed; refusing")
            reject = Reject(503, ErrorCode.BAD_REQUEST, "Service unavailable")
            await self.reject(http, request, reject, context={"name": "ALLOW_REQUEST_ERROR"})
            return False
        # Node: 403 {"code": 4, "message": <the refusal's message, or "Forbidden">}.
        status = 400 if verdict.transport == "websocket" else 403
        reject = Reject(status, ErrorCode.FORBIDDEN, message)
        await self.reject(http, request, reject, context={"message": reject.message})
        return False

    async def _generated_sid(self, http: HttpConnection, request: Request) -> str | None:
        """The sid from ``generate_id``, checked; ``None`` once a bad one has been refused."""
        assert self.generate_id is not None
        problem: str
        try:
            with trio.fail_after(self.hook_timeout):
                candidate: Any = self.generate_id(request)
                if inspect.isawaitable(candidate):
                    candidate = await candidate
        except Exception as exc:
            log.exception("generate_id failed")
            problem = f"generate_id failed: {type(exc).__name__}"
        else:
            found = sid_problem(candidate)
            if found is None and candidate in self.sessions:
                # Node would replace the live session: its owner's sid would reach a stranger.
                found = "duplicate: a live session has this sid"
            if found is None:
                assert isinstance(candidate, str)
                return candidate
            log.error("generate_id returned an unusable sid (%s)", found)
            problem = found
        await self.reject(
            http,
            request,
            Reject(400, ErrorCode.BAD_REQUEST),
            context={"name": "ID_GENERATION_ERROR", "error": problem},
        )
        return None

    def response_headers(
        self, request: Request, *, eio_sid: str | None = None
    ) -> list[tuple[str, str]]:
        """The headers the hooks add to a successful answer (poll, POST ``ok`` or 101).

        With ``eio_sid`` this is a new session's first answer: the sid cookie, then
        ``initial_headers``, then ``headers``, as Node orders them. The result is only to
        be read (or concatenated): without hooks it is one shared empty list.
        """
        if eio_sid is None and self.on_headers is None:
            return _NO_HEADERS  # every poll and POST of a server without hooks
        headers: list[tuple[str, str]] = []
        if eio_sid is not None:
            if self.cookie is not None:
                headers.append(("Set-Cookie", self.cookie.header_value(eio_sid)))
            if self.on_initial_headers is not None:
                _run_headers_hook(self.on_initial_headers, headers, request)
        if self.on_headers is not None:
            _run_headers_hook(self.on_headers, headers, request)
        return headers


_SHUTTING_DOWN = Reject(503, ErrorCode.BAD_REQUEST, "Server shutting down")
_NO_HEADERS: list[tuple[str, str]] = []


def _run_headers_hook(hook: HeadersHook, headers: list[tuple[str, str]], request: Request) -> None:
    """Run a headers hook; a failing hook or a header that cannot be sent is dropped, logged."""
    start = len(headers)
    try:
        hook(headers, request)
    except Exception:
        log.exception("headers hook failed; its headers are dropped")
        del headers[start:]
        return
    for name, value in headers[start:]:
        if not (isinstance(name, str) and isinstance(value, str) and header_is_valid(name, value)):
            log.error("headers hook added an invalid header %r; its headers are dropped", name)
            del headers[start:]
            return


def _context_of(reject: Reject, request: Request, context: dict[str, Any] | None) -> dict[str, Any]:
    """Node's ``connection_error`` context for a refusal, unless the caller gave one."""
    if context is not None:
        return context
    code = reject.code
    if code is ErrorCode.UNKNOWN_TRANSPORT:
        return {"transport": request.query.get("transport")}
    if code is ErrorCode.UNKNOWN_SID:
        return {"sid": request.query.get("sid")}
    if code is ErrorCode.BAD_HANDSHAKE_METHOD:
        return {"method": request.method}
    if code is ErrorCode.UNSUPPORTED_PROTOCOL_VERSION:
        return {"protocol": 3}  # Node: whatever is not "4" is taken for v3
    return {"name": "BAD_REQUEST", "message": reject.message}


def _bound_port(listener: Listener) -> int:
    inner = listener.transport_listener if isinstance(listener, trio.SSLListener) else listener
    return int(inner.socket.getsockname()[1]) if isinstance(inner, trio.SocketListener) else 0


def _cookie_options(
    cookie: CookieOptions | str | bool | None, cookie_path: str
) -> CookieOptions | None:
    """Node's ``cookie`` option: ``True`` for the defaults, a name, or every option."""
    if cookie is None or cookie is False:
        return None
    if cookie is True:
        return CookieOptions(path=cookie_path)
    if isinstance(cookie, str):
        return CookieOptions(name=cookie, path=cookie_path) if cookie else None
    return cookie
