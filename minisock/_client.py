"""The Socket.IO state of one Engine.IO session: its decoder, namespaces and handler queue.

A handler runs in the task that read its message, until it returns or first waits. So a
handler that returns without waiting (nearly all: an emit goes out at once) costs no task
and no scheduler pass. One that waits keeps its task, and the connection's reading moves to
a new one (:mod:`minisock._handoff`): the reader keeps reading, and delivers the ack the
handler may be waiting for. Events of one client are handled in the order they arrived:
while a handler of the client waits, its next events queue behind it, and the task that ran
it works the queue once it returns. An idle client owns no task. With the queue full, the
reader stops reading that client (TCP pushes back).

``bench/echo_calls.py`` counts the cost: a 20 B echo over WebSocket takes 1 scheduler pass
and about 132 Python calls; with the per-client worker task this replaced, 2 passes and
about 177 calls.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from minisock._handoff import run_until_parked
from minisock.ack import NO_ACK, Ack, current_ack
from minisock.errors import ConnectRefusedError, SessionClosedError, TokenError
from minisock.proto.recovery import RECOVERABLE_REASONS, Claim, KeptSession
from minisock.proto.sio import SioPacket, SioPacketType, SocketIOProtocolError
from minisock.proto.sio_session import SioSession
from minisock.proto.token_bucket import RateLimit, TokenBucket
from minisock.socket import Socket
from minisock.socket_hooks import SocketHooks, notify

if TYPE_CHECKING:
    from minisock.auth import JWTAuth
    from minisock.engine_socket import EngineSocket
    from minisock.server import Server

__all__ = ["Client"]

log = logging.getLogger("minisock.client")

Job = Callable[[], Awaitable[None]]


class Client:
    """One Engine.IO session seen by the Socket.IO layer."""

    __slots__ = (
        "_jobs",
        "_lot",
        "_working",
        "decoder",
        "engine",
        "server",
        "sockets",
        "state",
        "timer_at",
    )

    def __init__(self, server: Server, engine: EngineSocket, now: float) -> None:
        self.server = server
        self.engine = engine
        self.decoder = server.parser.decoder(server.decoder_limits)
        self.state = SioSession(now, server.connect_timeout)
        self.sockets: dict[str, Socket] = {}
        """Sockets by namespace name (connecting ones included)."""
        self.timer_at = float("inf")
        self._jobs: deque[Job] | None = None  # made when jobs queue: idle clients are many
        self._working = False
        """A job of this client is running (in the reader, or in the task it parked in)."""
        self._lot: trio.lowlevel.ParkingLot | None = None  # likewise, only under backpressure

    # ---------------------------------------------------------------- inbound

    async def receive(self, data: str | bytes) -> None:
        """One Engine.IO message: decode, check the state, dispatch."""
        try:
            packet = self.decoder.receive(data)
            if packet is None:
                pending = self.decoder.pending
                if pending is not None and isinstance(data, str):
                    self.state.check(pending)  # refuse at the header, before any buffering
                return
            self.state.check(packet)
        except SocketIOProtocolError as exc:
            log.info("closing a connection: %s", exc.message)
            # A packet that does not decode is a parse error; a valid packet at the wrong
            # time ("invalid state") is what the reference calls a forced server close.
            invalid_state = exc.message.startswith("invalid state")
            self.close_engine("forced server close" if invalid_state else "parse error")
            return
        kind = packet.type
        if kind is SioPacketType.EVENT:
            socket = self.sockets[packet.nsp]
            limit = socket.namespace.rate_limit
            if limit is not None and self._over_limit(socket, limit):
                return
            await self._run_or_queue(self._run_event, socket, packet.data, packet.id)
        elif kind is SioPacketType.ACK:
            assert packet.id is not None
            self.sockets[packet.nsp].resolve_ack(packet.id, packet.data)
        elif kind is SioPacketType.CONNECT:
            self.state.begin_connect(packet.nsp)
            await self._run_or_queue(self._connect, packet.nsp, packet.data)
        elif kind is SioPacketType.DISCONNECT:
            self.socket_closed(self.sockets[packet.nsp], "client namespace disconnect")

    def close_engine(self, reason: str) -> None:
        """Close the Engine.IO session; every socket of it disconnects with ``reason``."""
        for socket in list(self.sockets.values()):
            self.socket_closed(socket, reason)
        self.engine.close(reason)

    # ---------------------------------------------------------------- the job queue

    def _run_or_queue(
        self, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any
    ) -> Coroutine[Any, Any, None]:
        """What to await to run ``fn(*args)``: here, in the reader, unless a job of this
        client is running, then behind it, in order. (Returned, not awaited here: no frame
        more per event.)"""
        if self._working:
            return self._enqueue(partial(fn, *args))
        return self._run_here(fn(*args))

    async def _run_here(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` in this task, the reader, which hands its reading on if the job waits;
        then the jobs that queued behind it meanwhile."""
        self._working = True
        try:
            reader = self.engine.reader
            try:
                await run_until_parked(job, _stay if reader is None else reader.hand_off)
            except Exception:
                log.exception("a job of one client failed")
            if self._jobs is not None:  # queued while it waited: this task works them now
                await self._drain()
        finally:
            self._working = False

    async def _enqueue(self, job: Job) -> None:
        """Queue ``job`` behind the one running; wait while the queue is full."""
        while self._jobs is not None and len(self._jobs) >= self.server.max_queued_events:
            if self._lot is None:
                self._lot = trio.lowlevel.ParkingLot()
            await self._lot.park()  # backpressure: the reader stops reading this client
        self._append(job)

    def _append(self, job: Job) -> None:
        """Queue ``job``; with no job running, a task of its own runs it (the callers that
        cannot wait: a disconnect)."""
        if self._jobs is None:
            self._jobs = deque()
        self._jobs.append(job)
        if not self._working:
            self._working = True
            self.server.engine.spawn(self._work)

    async def _work(self) -> None:
        try:
            await self._drain()
        finally:
            self._working = False

    async def _drain(self) -> None:
        jobs = self._jobs
        while jobs:
            job = jobs.popleft()
            if self._lot is not None:
                self._lot.unpark_all()
            try:
                await job()
            except Exception:
                # Jobs contain their handlers' errors; this catches minisock's own, so that
                # one client's failure never reaches the server's nursery.
                log.exception("a job of one client failed")
        self._jobs = None  # the next queue makes a new one

    # ---------------------------------------------------------------- jobs

    async def _connect(self, nsp_name: str, auth: dict[str, Any] | None) -> None:
        namespace = await self.server.namespace_for(nsp_name, auth if auth is not None else {})
        if isinstance(namespace, str) or self.engine.closed:
            self.state.connect_failed(nsp_name)
            if isinstance(namespace, str):
                self._refuse(nsp_name, namespace, None)  # why: no such namespace, or too many
            else:
                self._refuse(nsp_name, "Invalid namespace", None)
                namespace.release_if_empty()  # a child made for this connection only
            return
        socket = Socket(namespace, self, auth)
        if (
            self.server.auth is not None
            and not namespace.own_auth
            and not self._authenticate(socket)
        ):
            namespace.release_if_empty()
            return
        recovery = self.server.recovery
        claim = self._recover(socket) if recovery is not None else None
        skip = claim is not None and recovery is not None and recovery.skip_middlewares
        middlewares = [] if skip else namespace.middlewares
        refusal: tuple[str, Any] | None = None
        try:
            if claim is not None:
                # Back in its rooms before any middleware runs, as in the reference: what is
                # sent to it meanwhile is held after the missed events, and logged once.
                namespace.add(socket)
                self._restore(socket, claim)
            for middleware in middlewares:
                await middleware(socket, socket.auth)
            if claim is None:
                namespace.add(socket)
            self.sockets[nsp_name] = socket
            if socket.expires_at < self.timer_at:
                self.server.schedule(self)  # its token's expiry
            if namespace.connect_handler is not None:
                await namespace.connect_handler(socket, socket.auth)
        except ConnectRefusedError as exc:
            refusal = (exc.message, exc.data)
        except Exception:
            log.exception("connect handler or middleware failed")
            refusal = ("Internal server error", None)
        if refusal is not None:
            if socket.connected:
                # call() already committed the connection: too late to refuse, so disconnect.
                socket.send_disconnect()
                self.socket_closed(socket, "server namespace disconnect")
            else:
                self._forget(socket)
                self._refuse(nsp_name, *refusal)
            return
        if self.sockets.get(nsp_name) is not socket:
            # The client left while the handler ran. The application saw this socket
            # connect, so it is owed the matching disconnect.
            handler = namespace.disconnect_handler
            if socket.gone_reason is not None and handler is not None:
                await self._run_disconnect(handler, socket, socket.gone_reason)
            return
        self.commit(socket)

    def _recover(self, socket: Socket) -> Claim | None:
        """Connection state recovery: a CONNECT naming a kept session (``pid`` and the last
        ``offset``, both strings, as the reference requires) takes it over, if the identity
        just checked is the one it was kept with. Anything else is a new socket."""
        pid, offset = socket.auth.get("pid"), socket.auth.get("offset")
        adapter = socket.namespace.adapter
        claim = None
        if isinstance(pid, str) and isinstance(offset, str) and adapter.recovery is not None:
            claim = adapter.restore_session(pid, offset, socket.identity)
        if claim is None:
            socket.pid = secrets.token_urlsafe(15)
            return None
        kept = claim.session
        socket.sid, socket.pid, socket.data = kept.sio_sid, kept.pid, kept.data
        socket.recovered = True
        log.debug("connection state recovered for %s", socket.nsp)
        return claim

    def _restore(self, socket: Socket, claim: Claim) -> None:
        """Back in its rooms, and the events it missed queued first, in one step with no
        wait, so that no event falls between the log and the rooms."""
        adapter = socket.namespace.adapter
        assert adapter.recovery is not None and socket._held is not None
        adapter.add(socket.sid, claim.session.rooms)
        missed = [
            socket.namespace.engine_wires(SioPacket(SioPacketType.EVENT, socket.nsp, data))
            for data in adapter.recovery.missed(claim)
        ]
        socket._held[:0] = missed

    def commit(self, socket: Socket) -> None:
        """Acknowledge a connecting socket now: CONNECT goes out, then what it held back."""
        if self.sockets.get(socket.nsp) is socket and not socket.connected:
            self.state.connect_succeeded(socket.nsp, socket.sid)
            socket.release_held()
            observer = self.server.observer
            if observer is not None:
                observer.socket_connected(socket)

    def _authenticate(self, socket: Socket) -> bool:
        """Give ``socket`` its identity: the handshake's, or a token in the CONNECT payload."""
        auth = self.server.auth
        assert auth is not None
        engine = self.engine
        claims = engine.claims
        if claims is not None:
            socket.identity, socket.claims = engine.identity, claims
        else:
            try:
                socket.identity, claims = auth.check_connect(socket.auth)
            except TokenError as exc:
                log.info("namespace connect refused: %s", exc.reason)
                self.state.connect_failed(socket.nsp)
                self._refuse(socket.nsp, "unauthorized", {"reason": exc.reason})
                return False
            socket.claims = claims
        socket.expires_at = _expiry(auth, claims)
        return True

    def reauthenticate(self, socket: Socket, token: object) -> None:
        """A fresh token for ``socket``'s user: check it, then move the expiry. See
        :meth:`Socket.reauthenticate` for which sockets it covers, and why."""
        auth = self.server.auth
        if auth is None:
            raise RuntimeError("reauthenticate() needs Server(auth=JWTAuth(...))")
        if self.sockets.get(socket.nsp) is not socket:
            raise SessionClosedError("socket is disconnected")
        claims = auth.check_refresh(token, socket.identity)  # TokenError: nothing changed
        engine = self.engine
        expires_at = _expiry(auth, claims)
        covered = [socket]
        if socket.claims is not None and socket.claims is engine.claims:
            # The handshake's token admitted this socket and its siblings that share it: the
            # session's credential is what is refreshed, and later CONNECTs get the new one.
            covered = [s for s in self.sockets.values() if s.claims is engine.claims]
            engine.claims = claims
        for each in covered:
            each.claims = claims
            each.expires_at = expires_at
        log.debug("token refreshed for %d socket(s)", len(covered))
        self.server.schedule(self)  # earlier: scheduled now; later: the old entry finds nothing

    def next_deadline(self) -> float:
        """The connect deadline, or the first token expiry among this client's sockets."""
        deadline = self.state.next_deadline()
        for socket in self.sockets.values():
            deadline = min(deadline, socket.expires_at)
        return deadline

    def expire_tokens(self, now: float) -> None:
        """Disconnect sockets whose token has expired (only with ``close_at_exp``)."""
        for socket in list(self.sockets.values()):
            if socket.expires_at <= now:
                socket.send_disconnect()
                self.socket_closed(socket, "token expired")

    def _forget(self, socket: Socket) -> None:
        """Undo a connection that was refused: no disconnect handler, it never connected."""
        socket.namespace.remove(socket)
        if self.sockets.get(socket.nsp) is socket:
            del self.sockets[socket.nsp]
        self.state.connect_failed(socket.nsp)
        socket.mark_closed()

    def _refuse(self, nsp_name: str, message: str, data: Any) -> None:
        body: dict[str, Any] = {"message": message}
        if data is not None:
            body["data"] = data
        packet = SioPacket(SioPacketType.CONNECT_ERROR, nsp_name, body)
        self.engine.send_protocol_nowait(self.server.parser.engine_wires(packet))

    def _over_limit(self, socket: Socket, limit: RateLimit) -> bool:
        """Take a token for one event of ``socket``; over the limit, drop it (or disconnect)."""
        hooks = socket.ensure_hooks()
        now = trio.current_time()
        bucket = hooks.bucket
        if bucket is None:
            bucket = hooks.bucket = TokenBucket(limit, now)
        if bucket.take(limit, now):
            return False
        stats = self.server.stats
        stats.rate_limited += 1
        if limit.disconnect and socket.connected:
            log.info("disconnecting a socket over its rate limit")
            stats.rate_limit_disconnects += 1
            socket.send_disconnect()
            self.socket_closed(socket, "rate limit")
        return True

    async def _run_hooks(self, socket: Socket, hooks: SocketHooks, data: list[Any]) -> bool:
        """Catch-all listeners, then middlewares (Node's order); False drops the event."""
        if hooks.any_incoming:
            notify(hooks.any_incoming, data)
        for middleware in hooks.middlewares[:]:
            try:
                await middleware(socket, data)
            except Exception as exc:
                await self._middleware_failed(socket, exc)
                return False
        if not data or not isinstance(data[0], str):
            log.error("an event middleware left no event name: %r", data[:1])
            return False
        return socket.connected  # Node: "ignore packet received after disconnection"

    async def _middleware_failed(self, socket: Socket, exc: Exception) -> None:
        """Node emits ``"error"`` on the socket; here the namespace's ``"error"`` handler."""
        handler = socket.namespace.handlers.get("error")
        if handler is None:
            log.info("an event middleware dropped an event: %r", exc)
            return
        try:
            await handler(socket, exc)
        except Exception:
            log.exception("the error handler failed")

    async def _run_event(self, socket: Socket, data: list[Any], ack_id: int | None) -> None:
        if not socket.connected:
            return
        ack = Ack(socket, ack_id) if ack_id is not None else None
        token = current_ack.set(ack)  # middlewares may take the ack too (Node passes it)
        try:
            hooks = socket.hooks
            if hooks is not None and not await self._run_hooks(socket, hooks, data):
                return  # dropped: no ack, unless a middleware took it and answered
            name, *args = data
            namespace = socket.namespace
            handler = namespace.handlers.get(name)
            result: Any = None
            if handler is not None:
                result = await handler(socket, *args)
            elif namespace.catch_all is not None:
                result = await namespace.catch_all(socket, name, *args)
            else:
                return
        except Exception:
            # Contained to this client; an ack that was asked for is answered with nothing.
            log.exception("handler for event %r failed", data[0] if data else None)
            result = None
        finally:
            current_ack.reset(token)
        if ack is not None and not ack.taken and result is not NO_ACK:
            ack.answered = True  # a task the handler started can no longer take it
            try:
                socket.acknowledge(ack.ack_id, result)
            except Exception:
                # The handler returned what cannot be sent (a set, a structure too deep):
                # answer the ack with nothing rather than leave the client waiting.
                log.exception("the return value of the handler for %r cannot be encoded", data[0])
                socket.acknowledge(ack.ack_id, None)

    # ---------------------------------------------------------------- disconnects

    def socket_closed(self, socket: Socket, reason: str) -> None:
        """``socket`` left (either side, or the transport): clean up, then its handler."""
        if self.sockets.get(socket.nsp) is not socket:
            return
        del self.sockets[socket.nsp]
        was_connected = socket.connected
        observer = self.server.observer
        if was_connected and observer is not None:
            observer.socket_disconnected(socket, reason)  # before it leaves its rooms, as Node
        if not was_connected:
            socket.gone_reason = reason  # its connect handler is still running
        elif socket.pid is not None and reason in RECOVERABLE_REASONS:
            kept = KeptSession(
                socket.sid,
                socket.pid,
                socket.rooms,
                socket.data,
                socket.identity,
                trio.current_time(),
            )
            socket.namespace.adapter.persist_session(kept)
        socket.namespace.remove(socket)
        self.state.disconnected(socket.nsp)
        socket.mark_closed()
        handler = socket.namespace.disconnect_handler
        if was_connected and handler is not None:
            self._append(partial(self._run_disconnect, handler, socket, reason))

    async def _run_disconnect(
        self, handler: Callable[..., Awaitable[Any]], socket: Socket, reason: str
    ) -> None:
        try:
            await handler(socket, reason)
        except Exception:
            log.exception("disconnect handler failed")

    def engine_closed(self, reason: str) -> None:
        self.decoder.reset()  # attachments half received go now, not with the last reference
        for socket in list(self.sockets.values()):
            self.socket_closed(socket, reason)


def _stay() -> None:
    """No transport can take the reading over (an in-process test, say): the reader waits
    for the job, as it does for a raw Engine.IO handler."""


def _expiry(auth: JWTAuth, claims: dict[str, Any]) -> float:
    """When a socket admitted by ``claims`` must go, on trio's clock (never without
    ``close_at_exp``): the token's ``exp`` seen from ``auth``'s clock."""
    exp = claims.get("exp")
    if auth.close_at_exp and isinstance(exp, int | float):
        return trio.current_time() + (exp - auth.clock())
    return math.inf
