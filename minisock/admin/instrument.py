"""``instrument(sio, ...)``: the trio side of the admin UI, on the ``/admin`` namespace.

What it hooks, and what that costs:

- the Engine.IO server's connect, message and disconnect handlers, and the class of its new
  sessions (:attr:`EngineServer.session_class`), for the aggregated counts: a few dict
  updates per message while instrumented, nothing at all otherwise;
- ``Server.observer``, for sockets coming and going (once per connect and disconnect);
- in development mode only: each namespace's room events (``adapter.on("join-room")``...)
  and each socket's catch-all listeners (``on_any``, ``on_any_outgoing``), as Node's does.

What it sends goes through one bounded queue, drained by one task: the hooks never wait and
never encode. Events for the UI are made only while an admin socket is connected here (or
the adapter is a cluster's), and a full queue drops them (counted in :attr:`dropped`).
The pure parts are :mod:`~minisock.admin.payloads`, :mod:`~minisock.admin.event_counts`,
:mod:`~minisock.admin.sessions` and :mod:`~minisock.admin.credentials`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket as os_socket
import time
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import trio

from minisock.adapters.local import LocalAdapter
from minisock.admin import payloads
from minisock.admin.credentials import BasicAuth
from minisock.admin.event_counts import EventCounts
from minisock.admin.sessions import SessionStore
from minisock.engine_socket import EngineSocket
from minisock.errors import ConnectRefusedError
from minisock.proto.eio import WirePacket

if TYPE_CHECKING:
    from minisock.broadcast import BroadcastOperator
    from minisock.namespace import Namespace
    from minisock.server import Server
    from minisock.socket import Socket

__all__ = ["AdminInstrument", "instrument"]

log = logging.getLogger("minisock.admin")

Mode = Literal["development", "production"]
Outgoing = tuple[str | None, str, tuple[Any, ...]]
"""``(admin socket id or None for every admin, event, args)``."""


def counting_session_class(counts: EventCounts) -> type[EngineSocket]:
    """An :class:`EngineSocket` that counts what is queued for its client (``packetsOut``,
    ``bytesOut``: message data without its type digit, as Node's ``packetCreate`` has it)."""

    class CountingEngineSocket(EngineSocket):
        __slots__ = ()

        def _queue(self, wires: list[WirePacket]) -> None:
            size = sum(
                payloads.payload_size(wire[1:] if isinstance(wire, str) else wire) for wire in wires
            )
            now = time.time()
            counts.add("packetsOut", now, len(wires))
            counts.add("bytesOut", now, size)
            super()._queue(wires)

    return CountingEngineSocket


class AdminInstrument:
    """The admin UI's server side on one :class:`~minisock.server.Server`; made by
    :func:`instrument`."""

    def __init__(
        self,
        sio: Server,
        *,
        auth: BasicAuth | None,
        mode: Mode = "development",
        read_only: bool = False,
        namespace_name: str = "/admin",
        server_id: str | None = None,
        stats_interval: float = 2.0,
        max_queued: int = 1024,
        session_ttl: float = 86400.0,
        max_sessions: int = 1000,
    ) -> None:
        """Serve the Socket.IO admin UI's protocol on ``namespace_name``, as Node's
        ``instrument(io, {auth, mode, readonly, namespaceName, serverId})`` does.

        ``auth`` must be given: a :class:`BasicAuth` (username and bcrypt hash), or ``None`` to
        let anyone in (logged as a warning). ``mode="production"`` sends only the aggregated
        counts and the stats; ``"development"`` also every socket, room and event. ``read_only``
        refuses the UI's commands (join, leave, disconnect, emit). Call it before serving.
        """
        if mode not in ("development", "production"):
            raise ValueError('mode is "development" or "production"')
        if sio.observer is not None:
            raise RuntimeError("this server is instrumented already")
        self.sio = sio
        self.auth = auth
        self.development = mode == "development"
        self.read_only = read_only
        self.stats_interval = stats_interval
        self.hostname = os_socket.gethostname()
        self.server_id = server_id or self.hostname
        self.started = time.monotonic()
        self.counts = EventCounts()
        """The aggregated events since the last ``server_stats``."""
        self.sessions = SessionStore(ttl=session_ttl, max_sessions=max_sessions)
        self.dropped = 0
        """Events for the UI dropped because the queue was full."""
        self.admin = sio.of(namespace_name)
        self.admin.own_auth = True  # its login, not the server's JWTAuth, admits the UI
        self._local_only = type(self.admin.adapter) is LocalAdapter
        self._send, self._receive = trio.open_memory_channel[Outgoing](max_queued)
        self._checks = trio.CapacityLimiter(1)  # bcrypt is slow on purpose: one at a time
        self._watched: weakref.WeakSet[Namespace] = weakref.WeakSet()
        self._gone: str | None = None  # the socket whose disconnect was just told
        self._polling: set[EngineSocket] = set()
        """Sessions that started on long-polling and have not upgraded or closed yet."""

        if auth is None:
            log.warning(
                "the admin UI on %s has NO authentication: anyone who can reach this server "
                "can %s. Pass auth=BasicAuth(...) unless this is a demo on your own machine.",
                namespace_name,
                _exposed(development=self.development, read_only=read_only),
            )
        else:
            self.admin.use(self._authenticate)
        if not read_only:
            for name in ("join", "leave", "_disconnect", "emit"):
                self.admin.on(name)(partial(self._command, name))
        self._hook_engine()
        sio.observer = self
        if self.development:
            for namespace in list(sio.namespaces.values()):
                self._watch(namespace)
        sio.engine.run_in_background(self.run)

    # ---------------------------------------------------------------- the queue

    def _listening(self) -> bool:
        return bool(self.admin.sockets) or not self._local_only

    def publish(self, event: str, *args: Any, to: str | None = None) -> None:
        """Queue ``event`` for every admin socket (or the one whose id is ``to``)."""
        try:
            self._send.send_nowait((to, event, args))
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("admin UI: its queue is full; %d events dropped", self.dropped)

    async def run(self) -> None:
        """Send what is queued, and the stats every ``stats_interval``, while serving."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._stats_loop)
            async for to, event, args in self._receive:
                target: Namespace | BroadcastOperator = self.admin
                if to is not None:
                    target = self.admin.to(to)
                try:
                    await target.emit(event, *args)
                except Exception:
                    log.exception("admin UI: could not send %r", event)

    async def _stats_loop(self) -> None:
        while True:
            self.emit_stats()
            await trio.sleep(self.stats_interval)

    def emit_stats(self) -> None:
        """Queue a ``server_stats`` (and, in development, the upgrades seen since the last)."""
        polling = self._check_polling()
        events = self.counts.take()  # taken even when nobody listens: it stays bounded
        if not self._listening():
            return
        engine = self.sio.engine
        self.publish(
            "server_stats",
            payloads.server_stats(
                server_id=self.server_id,
                hostname=self.hostname,
                pid=os.getpid(),
                uptime=round(time.monotonic() - self.started, 3),
                clients_count=len(engine.sessions),
                polling_clients_count=polling,
                aggregated_events=events,
                namespaces=[(ns.name, len(ns.sockets)) for ns in self.sio.namespaces.values()],
            ),
        )

    def _check_polling(self) -> int:
        """Forget the polling sessions that closed or upgraded (telling the UI of each
        upgraded socket, in development mode); how many are still polling."""
        for sock in list(self._polling):
            if sock.closed:
                self._polling.discard(sock)
            elif sock.transport != "polling":
                self._polling.discard(sock)
                client = sock.app
                if self.development and self._listening() and client is not None:
                    for socket in list(client.sockets.values()):
                        update = {"id": socket.sid, "nsp": socket.nsp, "transport": sock.transport}
                        self.publish("socket_updated", update)
        return len(self._polling)

    # ---------------------------------------------------------------- Engine.IO counts

    def _hook_engine(self) -> None:
        engine = self.sio.engine
        counts = self.counts
        on_connect, on_message, on_disconnect = (
            engine.on_connect,
            engine.on_message,
            engine.on_disconnect,
        )
        polling = self._polling

        async def connected(sock: EngineSocket) -> None:
            counts.add("rawConnection", time.time())
            if sock.transport == "polling":
                polling.add(sock)
            await on_connect(sock)

        async def message(sock: EngineSocket, data: str | bytes) -> None:
            now = time.time()
            counts.add("packetsIn", now)
            counts.add("bytesIn", now, payloads.payload_size(data))
            await on_message(sock, data)

        async def disconnected(sock: EngineSocket, reason: str) -> None:
            counts.add("rawDisconnection", time.time(), sub_type=reason)
            polling.discard(sock)
            await on_disconnect(sock, reason)

        engine.on_connect, engine.on_message, engine.on_disconnect = (
            connected,
            message,
            disconnected,
        )
        engine.session_class = counting_session_class(counts)

    # ---------------------------------------------------------------- sockets and rooms

    def details(self, socket: Socket) -> dict[str, Any]:
        return payloads.socket_details(
            sid=socket.sid,
            nsp=socket.nsp,
            eio_sid=socket.engine.eio_sid,
            transport=socket.engine.transport,
            data=socket.data,
            handshake=socket.handshake,
            rooms=_rooms(socket),
        )

    def socket_connected(self, socket: Socket) -> None:
        """``Server.observer``: a socket is connected (its CONNECT answer is queued)."""
        namespace = socket.namespace
        if self.development and namespace not in self._watched:
            self._watch(namespace)  # made after instrument(): watched from now on
            self._announce(socket)
        if namespace is self.admin:
            features = payloads.features(read_only=self.read_only, development=self.development)
            self.publish("config", {"supportedFeatures": features}, to=socket.sid)
            if self.development:
                self.publish("all_sockets", self.all_sockets(), to=socket.sid)

    def socket_disconnected(self, socket: Socket, reason: str) -> None:
        """``Server.observer``: a connected socket left (before it leaves its rooms)."""
        if self.development:
            self._gone = socket.sid
            if self._listening():
                self.publish("socket_disconnected", socket.nsp, socket.sid, reason, _now())

    def _announce(self, socket: Socket) -> None:
        """A socket entered its namespace: its middlewares passed and it joined its own
        room, just before its connect handler runs. Node's ``connection`` listener runs
        then too (before the application's), so the UI hears of it at the same moment, and
        of what the connect handler does after."""
        self._watch_events(socket)
        if self._listening():
            self.publish("socket_connected", self.details(socket), _now())

    def all_sockets(self) -> list[dict[str, Any]]:
        """Every socket of this server, in every namespace (Node asks the whole cluster)."""
        return [
            self.details(socket)
            for namespace in list(self.sio.namespaces.values())
            for socket in list(namespace.sockets.values())
            if socket.connected
        ]

    def _watch(self, namespace: Namespace) -> None:
        """Room events of ``namespace`` for the UI. A socket joining its own room is one
        entering the namespace (see :meth:`_announce`)."""
        self._watched.add(namespace)
        name = namespace.name

        def joined(room: str, sid: str) -> None:
            if self._listening():
                self.publish("room_joined", name, room, sid, _now())
            socket = namespace.sockets.get(sid) if room == sid else None
            if socket is not None:
                self._announce(socket)

        def left(room: str, sid: str) -> None:
            gone = room == sid and sid not in namespace.sockets  # not a socket leaving its own room
            if gone and self._gone != sid and self._listening():
                # It never connected (its connect handler refused it, or the client left
                # while it ran), yet the UI was told it came: tell it that it went.
                self.publish(
                    "socket_disconnected", name, sid, "server namespace disconnect", _now()
                )
            if room == sid:
                self._gone = None
            if self._listening():
                self.publish("room_left", name, room, sid, _now())

        namespace.adapter.on("join-room")(joined)
        namespace.adapter.on("leave-room")(left)

    def _watch_events(self, socket: Socket) -> None:
        if socket.namespace is self.admin:
            return  # as Node: the UI's own traffic is not shown as events
        nsp, sid = socket.nsp, socket.sid

        def received(*data: Any) -> None:
            if self._listening():
                self.publish("event_received", nsp, sid, list(data), _now())

        def sent(*data: Any) -> None:
            if self._listening():
                self.publish("event_sent", nsp, sid, list(data), _now())

        socket.on_any(received)
        socket.on_any_outgoing(sent)

    # ---------------------------------------------------------------- the UI's side

    async def _authenticate(self, socket: Socket, auth: dict[str, Any]) -> None:
        """The admin namespace's middleware: a known session id, or the right username and
        password (then a new session id is sent as ``session``)."""
        assert self.auth is not None
        session_id = auth.get("sessionId")
        if isinstance(session_id, str) and self.sessions.valid(session_id, time.time()):
            return
        username, password = auth.get("username"), auth.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ConnectRefusedError("invalid credentials")
        check = partial(self.auth.check, username, password)
        if not await trio.to_thread.run_sync(check, limiter=self._checks):
            log.info("admin UI: a login as %r was refused", username[:64])
            raise ConnectRefusedError("invalid credentials")
        session_id = secrets.token_hex(8)
        self.sessions.add(session_id, time.time())
        await socket.emit("session", session_id)

    async def _command(self, name: str, socket: Socket, *args: Any) -> None:
        """One of the UI's commands; what does not parse, or names no namespace of this
        server, is logged and ignored (Node would make the namespace)."""
        try:
            command = payloads.command(name, list(args), limit=self.sio.max_room_name_length)
        except payloads.CommandError as exc:
            log.info("admin UI: %s refused: %s", name, exc)
            return
        namespace = self.sio.namespaces.get(command["nsp"])
        if namespace is None:
            log.info("admin UI: %s names no namespace of this server", name)
            return
        chosen = command["filter"]
        target: Namespace | BroadcastOperator = (
            namespace if chosen is None else namespace.to(chosen)
        )
        try:
            if name == "join":
                await target.sockets_join(command["room"])
            elif name == "leave":
                await target.sockets_leave(command["room"])
            elif name == "_disconnect":
                await target.disconnect_sockets(command["close"])
            else:
                await target.emit(command["event"], *command["args"])
        except Exception:
            log.exception("admin UI: %s failed", name)


def _exposed(*, development: bool, read_only: bool) -> str:
    """What an admin UI without auth gives away, for the warning: production mode sends only
    counts, never a socket or an event; the commands work in either mode."""
    if development:
        seen = "watch every socket (its address, query and headers), its rooms and its events"
    else:
        seen = "see its counts (connections, packets, bytes, sockets per namespace), host and pid"
    if read_only:
        return seen
    return f"{seen}, and disconnect sockets, make them join or leave rooms, or emit to them"


def _rooms(socket: Socket) -> list[str]:
    """The socket's rooms, in the order it joined them where the adapter knows it."""
    adapter = socket.namespace.adapter
    if isinstance(adapter, LocalAdapter):
        return adapter.registry.joined(socket.sid)
    return sorted(adapter.rooms_of(socket.sid))


def _now() -> str:
    return payloads.iso_time(time.time())


instrument = AdminInstrument
"""``instrument(sio, auth=..., mode=..., read_only=...)``: the name Node's package uses."""
