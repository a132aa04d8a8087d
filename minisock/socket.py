"""A Socket.IO socket: one client in one namespace.

A socket sends with :meth:`Socket.emit` (and :meth:`Socket.call` to await the client's ack),
joins and leaves rooms, and disconnects. It belongs to a client (one Engine.IO session may
carry several namespaces) and reaches the wire through that session's outbox.

While its connect handler runs, a socket is *connecting*: what it emits is held back and sent
right after the CONNECT acknowledgement, or dropped if the handler refuses the connection.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from minisock.ack import Ack, current_ack
from minisock.adapters import BroadcastOptions
from minisock.broadcast import BroadcastOperator
from minisock.errors import AckTimeoutError, SessionClosedError
from minisock.proto.eio import WirePacket, uncompressed
from minisock.proto.eio_session import CloseReason
from minisock.proto.sio import (
    SioPacket,
    SioPacketType,
    ack_args,
    ack_value,
    check_event_name,
)
from minisock.request import Request
from minisock.socket_hooks import AnyListener, EventMiddleware, SocketHooks, notify, remove

if TYPE_CHECKING:
    from minisock._client import Client
    from minisock.engine_socket import EngineSocket
    from minisock.namespace import Namespace

__all__ = ["Socket"]

log = logging.getLogger("minisock.socket")


AckCallback = Callable[[list[Any] | None], None]
"""Called with the client's ack arguments, or ``None`` when the socket left first."""


class _AckSlot:
    """One awaited acknowledgement of :meth:`Socket.call`."""

    __slots__ = ("args", "done", "error")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.args: list[Any] = []
        self.error: BaseException | None = None

    def __call__(self, args: list[Any] | None) -> None:
        if args is None:
            self.error = SessionClosedError("socket disconnected before the ack")
        else:
            self.args = args
        self.done.set()


class Socket:
    """One client connected to one namespace."""

    __slots__ = (
        "_acks",
        "_held",
        "auth",
        "claims",
        "client",
        "connected",
        "data",
        "expires_at",
        "gone_reason",
        "hooks",
        "identity",
        "issued",
        "namespace",
        "pid",
        "recovered",
        "sid",
    )

    def __init__(self, namespace: Namespace, client: Client, auth: dict[str, Any] | None):
        self.sid = secrets.token_urlsafe(15)
        """This socket's Socket.IO id (not the Engine.IO sid, which stays private)."""
        self.namespace = namespace
        self.client = client
        self.auth: dict[str, Any] = auth if auth is not None else {}
        """The CONNECT payload (``auth`` in socket.io-client), ``{}`` if none was sent."""
        self.data: dict[str, Any] = {}
        """Free space for the application."""
        self.identity: Any = None
        """The authenticated user (the ``data`` claim by default), or ``None``."""
        self.claims: dict[str, Any] | None = None
        """The verified token claims behind :attr:`identity`."""
        self.expires_at = math.inf
        """When the token expires, on trio's clock (used only with ``close_at_exp``)."""
        self.connected = False
        self.gone_reason: str | None = None
        """Why the client left while this socket's connect handler was still running."""
        self.issued = time.time()
        """When the socket was created (Unix time), for :attr:`handshake`."""
        self._held: list[list[WirePacket]] | None = []
        self._acks: dict[int, AckCallback] = {}
        self.hooks: SocketHooks | None = None
        """Middlewares, catch-all listeners, rate-limit bucket: made on first use."""
        self.pid: str | None = None
        """The private session id of connection state recovery (``None`` when it is off)."""
        self.recovered = False
        """Whether this socket took over a kept session (same sid, rooms, ``data``)."""

    # ---------------------------------------------------------------- who

    @property
    def nsp(self) -> str:
        return self.namespace.name

    @property
    def id(self) -> str:
        """The Socket.IO id, as ``socket.id`` in the reference (same as :attr:`sid`)."""
        return self.sid

    @property
    def handshake(self) -> dict[str, Any]:
        """The reference's ``socket.handshake``: what ``fetch_sockets`` shows other servers."""
        return handshake_of(self.request, self.auth, self.issued)

    @property
    def engine(self) -> EngineSocket:
        """The Engine.IO session under this socket."""
        return self.client.engine

    @property
    def request(self) -> Request:
        """The Engine.IO handshake request: headers, query, peer address."""
        return self.client.engine.request

    @property
    def rooms(self) -> frozenset[str]:
        return self.namespace.adapter.rooms_of(self.sid)

    @property
    def ack_requested(self) -> bool:
        """Inside an event handler of this socket: whether the client asked for an ack.

        The handler's return value becomes that ack (unless it takes it with
        :meth:`take_ack`); a handler that answers either way (like an echo: the ack, or else
        an event) can tell which is wanted.
        """
        ack = current_ack.get()
        return ack is not None and ack.socket is self

    def take_ack(self) -> Ack | None:
        """Inside an event handler of this socket: take the ack to answer it yourself.

        Returns an :class:`~minisock.ack.Ack` to call once, later, from any task
        (``ack("done")``); the handler's return value is then not sent. Returns ``None``
        when there is no ack to take: the client asked for none, it was taken already, the
        handler has returned, or this is not an event handler of this socket.
        """
        ack = current_ack.get()
        if ack is None or ack.socket is not self or ack.taken or ack.answered:
            return None
        ack.taken = True
        return ack

    def reauthenticate(self, token: str) -> None:
        """Accept a fresh token for this socket's user, e.g. from an event handler.

        The token is checked by the server's :class:`~minisock.auth.JWTAuth` with the same
        rules as at the handshake, and must name the same identity. If it passes, the socket's
        :attr:`claims` become the new ones and, with ``close_at_exp``, it now expires at the
        new ``exp``. If not, :class:`~minisock.errors.TokenError` is raised with the reason
        (``expired``, ``bad_signature``, ..., ``identity_mismatch`` for another user's token)
        and nothing changes: the socket still goes at the old expiry.

        Which sockets it covers: the credential that admitted this one. A socket admitted by
        the Engine.IO handshake's ``Authorization`` header shares that token with every other
        namespace of the same connection (and those joined later), so all of them follow the
        refresh, as one browser page expects. A socket admitted by its own CONNECT token has
        its own credential, so only it moves. Never another connection, not even of the same
        user: each tab refreshes its own.
        """
        self.client.reauthenticate(self, token)

    # ---------------------------------------------------------------- sending

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (``bytes`` anywhere become binary attachments).

        Waits while this client's queue is full; raises
        :class:`~minisock.errors.SessionClosedError` once the socket is disconnected.
        """
        check_event_name(event)
        data = [event, *args]
        if self.hooks is not None:
            notify(self.hooks.any_outgoing, data)
        await self._send(SioPacket(SioPacketType.EVENT, self.namespace.name, data))

    async def call(self, event: str, *args: Any) -> Any:
        """Emit and wait for the client's acknowledgement; returns its arguments.

        One argument is returned as is, several as a tuple, none as ``None`` (as
        python-socketio does). Bound the wait with your own ``trio.fail_after``.
        """
        check_event_name(event)
        if self._held is not None:
            # Inside the connect handler: an ack can only come once the client knows it is
            # connected, so acknowledge the connection now (the reference's order).
            self.client.commit(self)
        ack_id = self.namespace.next_ack_id()
        slot = _AckSlot()
        self._acks[ack_id] = slot
        data = [event, *args]
        if self.hooks is not None:
            notify(self.hooks.any_outgoing, data)
        try:
            await self._send(SioPacket(SioPacketType.EVENT, self.nsp, data, ack_id))
            await slot.done.wait()
        finally:
            self._acks.pop(ack_id, None)
        if slot.error is not None:
            raise slot.error
        return ack_value(slot.args)

    async def _send(self, packet: SioPacket, compress: bool = True) -> None:
        if self.pid is not None and packet.id is None:
            await self._send_recorded(packet, compress)
            return
        wires = self.namespace.engine_wires(packet)
        if not compress:
            wires = [uncompressed(wire) for wire in wires]
        if self._held is not None:
            self._held.append(wires)
            await trio.lowlevel.checkpoint()
            return
        if not self.connected:
            raise SessionClosedError("socket is disconnected")
        await _send_wires(self.client.engine, wires)

    async def _send_recorded(self, packet: SioPacket, compress: bool = True) -> None:
        """With recovery on, an event without ack is logged with an offset, as Node's
        ``socket.emit`` broadcasts it to the socket's own room. It is stamped and logged
        only once it is queued, so the log's order stays the order on the wire."""
        adapter = self.namespace.adapter
        own_room = frozenset((self.sid,))
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            stamped, wires = adapter.stamp(packet)
            if not compress:
                wires = [uncompressed(wire) for wire in wires]
            if self._held is not None:
                self._held.append(wires)
            elif not self.connected:
                raise SessionClosedError("socket is disconnected")
            else:
                try:
                    self.engine.send_wires_nowait(wires)
                except trio.WouldBlock:
                    await self.engine.wait_changed()
                    continue
            adapter.record(stamped, wires, own_room, frozenset())
            break
        await trio.lowlevel.cancel_shielded_checkpoint()

    def deliver_nowait(self, wires: list[WirePacket], volatile: bool = False) -> None:
        """Queue a broadcast packet; a client that cannot keep up is disconnected.

        A ``volatile`` packet is dropped (and counted) when the transport is not writable,
        as Node does; then it never disconnects a slow client either.
        """
        if self._held is not None:
            if volatile:  # Node: not writable before the client knows it is connected
                self.namespace.server.stats.volatile_dropped += 1
            else:
                self._held.append(wires)
            return
        if not self.connected:
            return
        engine = self.client.engine
        if volatile and not engine.writable:
            self.namespace.server.stats.volatile_dropped += 1
            return
        try:
            engine.send_wires_nowait(wires)
        except trio.WouldBlock:
            log.info("disconnecting a socket whose queue is full")
            engine.abort(CloseReason.SLOW_CONSUMER)
        except SessionClosedError:
            pass

    def _send_packet_nowait(self, packet: SioPacket) -> None:
        """Protocol packets (CONNECT ack, DISCONNECT) bypass the hold and the bound."""
        self.engine.send_protocol_nowait(self.namespace.engine_wires(packet))

    def acknowledge(self, ack_id: int, result: Any) -> None:
        """Answer the client's ack request ``ack_id`` with ``result`` (a handler's return
        value: ``None`` -> no arguments, a tuple -> several)."""
        args = ack_args(result)
        # Like a broadcast, an ack never waits and never grows the queue past its bound.
        wires = self.namespace.engine_wires(SioPacket(SioPacketType.ACK, self.nsp, args, ack_id))
        self.deliver_nowait(wires)

    def resolve_ack(self, ack_id: int, args: list[Any]) -> None:
        """The client answered our ack request ``ack_id``; unknown ids are ignored."""
        callback = self._acks.pop(ack_id, None)
        if callback is not None:
            callback(args)

    def expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        """Call ``callback`` when the client answers ``ack_id`` (a broadcast with acks)."""
        if self.connected or self._held is not None:
            self._acks[ack_id] = callback

    def forget_ack(self, ack_id: int) -> None:
        self._acks.pop(ack_id, None)

    def compress(self, compress: bool) -> Socket | UncompressedSocket:
        """``socket.compress(False).emit(...)``: that one packet goes uncompressed (Node's
        ``socket.compress(false)``), with permessage-deflate or HTTP compression on."""
        return self if compress else UncompressedSocket(self)

    @property
    def volatile(self) -> VolatileSocket:
        """``socket.volatile.emit(...)``: dropped unless the transport can write it now."""
        return VolatileSocket(self)

    def timeout(self, seconds: float) -> TimedSocket:
        """``socket.timeout(5).call(...)``: raise :class:`AckTimeoutError` after ``seconds``."""
        return TimedSocket(self, seconds)

    # ---------------------------------------------------------------- event hooks

    def ensure_hooks(self) -> SocketHooks:
        """This socket's :class:`SocketHooks`, made on first use."""
        hooks = self.hooks
        if hooks is None:
            hooks = self.hooks = SocketHooks()
        return hooks

    def use(self, middleware: EventMiddleware) -> EventMiddleware:
        """Add an event middleware, ``async def(socket, event)`` (see ``socket_hooks.py``)."""
        self.ensure_hooks().middlewares.append(middleware)
        return middleware

    def on_any(self, listener: AnyListener) -> AnyListener:
        """Call ``listener(event, *args)`` for every incoming event, handled or not."""
        self.ensure_hooks().any_incoming.append(listener)
        return listener

    def prepend_any(self, listener: AnyListener) -> AnyListener:
        """Like :meth:`on_any`, before the listeners already added."""
        self.ensure_hooks().any_incoming.insert(0, listener)
        return listener

    def off_any(self, listener: AnyListener | None = None) -> None:
        """Remove ``listener`` from the incoming catch-alls, or all of them."""
        if self.hooks is not None:
            remove(self.hooks.any_incoming, listener)

    def on_any_outgoing(self, listener: AnyListener) -> AnyListener:
        """Call ``listener(event, *args)`` for every event sent to this socket (not acks)."""
        self.ensure_hooks().any_outgoing.append(listener)
        return listener

    def prepend_any_outgoing(self, listener: AnyListener) -> AnyListener:
        self.ensure_hooks().any_outgoing.insert(0, listener)
        return listener

    def off_any_outgoing(self, listener: AnyListener | None = None) -> None:
        if self.hooks is not None:
            remove(self.hooks.any_outgoing, listener)

    # ---------------------------------------------------------------- rooms

    def join(self, *rooms: str) -> None:
        self.namespace.join(self, rooms)

    def leave(self, room: str) -> None:
        self.namespace.adapter.remove(self.sid, room)

    def to(self, *rooms: str) -> BroadcastOperator:
        """Broadcast to ``rooms``, leaving this socket out (as ``socket.to`` does in JS)."""
        opts = BroadcastOptions(frozenset(rooms), frozenset({self.sid}))
        return BroadcastOperator(self.namespace, opts)

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        return BroadcastOperator(
            self.namespace, BroadcastOptions(frozenset(), frozenset({self.sid, *rooms}))
        )

    # ---------------------------------------------------------------- lifecycle

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace ("server namespace disconnect").

        With ``close``, every namespace of this client is disconnected the same way, then
        the Engine.IO session closes, as the reference does.
        """
        self.disconnect_nowait(close)
        await trio.lowlevel.checkpoint()

    def disconnect_nowait(self, close: bool = False) -> None:
        """:meth:`disconnect` without the checkpoint, for code that cannot await (a message
        from the cluster bus, applied in order with the messages around it)."""
        sockets = list(self.client.sockets.values()) if close else [self]
        for socket in sockets:
            if socket.connected:
                socket.send_disconnect()
                self.client.socket_closed(socket, "server namespace disconnect")
        if close:
            self.engine.close()

    def send_disconnect(self) -> None:
        """Tell the client this namespace is over (it will not reconnect on its own)."""
        if self.connected:
            self._send_packet_nowait(SioPacket(SioPacketType.DISCONNECT, self.nsp))

    def release_held(self) -> None:
        """Connected: send the CONNECT ack, then what the connect handler emitted."""
        held, self._held = self._held or [], None
        self.connected = True
        answer = {"sid": self.sid} if self.pid is None else {"sid": self.sid, "pid": self.pid}
        wires = self.namespace.engine_wires(SioPacket(SioPacketType.CONNECT, self.nsp, answer))
        for packet_wires in held:
            wires += packet_wires
        self.engine.send_protocol_nowait(wires)  # one batch: the ack first, then the rest

    def mark_closed(self) -> None:
        """Local bookkeeping of a disconnect: fail pending calls, stop sending."""
        self.expires_at = math.inf
        self.connected = False
        self._held = None
        acks, self._acks = self._acks, {}
        for callback in acks.values():
            callback(None)

    def __repr__(self) -> str:
        return f"<Socket {self.nsp} {'connected' if self.connected else 'disconnected'}>"


_EMITS_PER_PASS = 16
"""How many emits that went out at once may follow each other without a scheduler pass."""
_emits_since_pass = 0


async def _send_wires(engine: EngineSocket, wires: list[WirePacket]) -> None:
    """:meth:`EngineSocket.send_wires` with a cheaper checkpoint when the packets fit.

    Every emit is a cancellation point, and one that waits for room is a full checkpoint.
    One that fits at once (nearly all) skips the scheduler pass, a whole pass of trio's loop
    and a third of an echo's cost, except every ``_EMITS_PER_PASS``-th emit process-wide: a
    task that emits in a loop still lets the others run every so often, and a handler that
    emits once and returns yields anyway where its caller next reads.
    """
    global _emits_since_pass
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        engine.send_wires_nowait(wires)
    except trio.WouldBlock:
        _emits_since_pass = 0
        await engine.send_wires(wires)
        return
    _emits_since_pass += 1
    if _emits_since_pass >= _EMITS_PER_PASS:
        _emits_since_pass = 0
        await trio.lowlevel.cancel_shielded_checkpoint()


class VolatileSocket:
    """A socket whose :meth:`emit` drops the event when the transport is busy (Node's
    ``socket.volatile``): for data that is stale by the time it could be sent."""

    __slots__ = ("socket",)

    def __init__(self, socket: Socket) -> None:
        self.socket = socket

    async def emit(self, event: str, *args: Any) -> None:
        """Send now if the transport is writable, else drop and count it; never waits.

        Raises :class:`~minisock.errors.SessionClosedError` once the socket is disconnected.
        """
        socket = self.socket
        check_event_name(event)
        data = [event, *args]
        if socket.hooks is not None:
            notify(socket.hooks.any_outgoing, data)
        if not socket.connected and socket._held is None:
            raise SessionClosedError("socket is disconnected")
        packet = SioPacket(SioPacketType.EVENT, socket.nsp, data)
        socket.deliver_nowait(socket.namespace.engine_wires(packet), True)
        await trio.lowlevel.checkpoint()


class UncompressedSocket:
    """A socket whose :meth:`emit` sends without compression (``socket.compress(False)``)."""

    __slots__ = ("socket",)

    def __init__(self, socket: Socket) -> None:
        self.socket = socket

    async def emit(self, event: str, *args: Any) -> None:
        """Like :meth:`Socket.emit`, the packet marked not to be compressed."""
        socket = self.socket
        check_event_name(event)
        data = [event, *args]
        if socket.hooks is not None:
            notify(socket.hooks.any_outgoing, data)
        await socket._send(SioPacket(SioPacketType.EVENT, socket.nsp, data), compress=False)


class TimedSocket:
    """A socket whose :meth:`call` gives up after a timeout, as ``socket.timeout(ms)`` does."""

    __slots__ = ("seconds", "socket")

    def __init__(self, socket: Socket, seconds: float) -> None:
        self.socket = socket
        self.seconds = seconds

    async def call(self, event: str, *args: Any) -> Any:
        """Like :meth:`Socket.call`; raises :class:`AckTimeoutError` when no ack comes."""
        with trio.move_on_after(self.seconds):
            return await self.socket.call(event, *args)
        raise AckTimeoutError()

    async def emit(self, event: str, *args: Any) -> None:
        await self.socket.emit(event, *args)


def handshake_of(request: Request, auth: dict[str, Any], issued: float) -> dict[str, Any]:
    """Node's handshake object: what a Node server sees in a ``RemoteSocket``."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return {
        "headers": headers,
        "time": time.strftime(
            "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(issued)
        ),
        "address": request.peer[0] if request.peer is not None else "",
        "xdomain": "origin" in headers,
        "secure": request.secure,
        "issued": int(issued * 1000),
        "url": request.target,
        "query": dict(request.query),
        "auth": auth,
    }
