"""A Socket.IO v5 client for tests: :class:`SocketIOClient` and its namespaces.

An application's tests want to talk to it as a browser does, without writing frames:
connect with ``auth`` and headers, emit, call with an ack, answer the server's calls, and
see what arrives. socket.io-client does all this but needs Node; this client does it in the
test's own trio run, in memory (a :class:`~minisock.Server`, no sockets) or over TCP (a port,
or a URL, of minisock or of any Socket.IO v5 server), and it is checked against the Node
reference server as well as against minisock.

Its shape follows socket.io-client: one :class:`SocketIOClient` is the Manager, one
Engine.IO session (:mod:`minisock.testing.engine_client`); each namespace joined over it is
a :class:`ClientSocket`. The packets are encoded and decoded by the server's own codecs
(:mod:`minisock.proto.sio`). Disconnect reasons are socket.io-client's: "io server
disconnect", "io client disconnect", "transport close", "transport error", "ping timeout",
"parse error".
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import trio

from minisock.engine import EngineServer
from minisock.errors import AckTimeoutError
from minisock.proto.eio import WirePacket
from minisock.proto.parser import parser_named
from minisock.proto.sio import (
    DecoderLimits,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    ack_args,
    ack_value,
    check_event_name,
)
from minisock.server import Server
from minisock.testing import HeaderPairs, memory_connection
from minisock.testing.engine_client import (
    ConnectError,
    Connector,
    DisconnectedError,
    Endpoint,
    EngineClient,
    TransportChoice,
)

__all__ = [
    "ClientSocket",
    "ConnectError",
    "DisconnectedError",
    "ReceivedEvent",
    "SocketIOClient",
    "TransportChoice",
]

log = logging.getLogger("minisock.testing")

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
Target = Server | EngineServer | int | str


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event from the server that no handler took: its name and arguments."""

    name: str
    args: tuple[Any, ...]


class _AckSlot:
    """Where the answer to one :meth:`ClientSocket.call` lands."""

    __slots__ = ("args",)

    def __init__(self) -> None:
        self.args: list[Any] | None = None


class ClientSocket:
    """One namespace of a :class:`SocketIOClient`, as socket.io-client's ``Socket``.

    Events with a handler (:meth:`on`) go to it, and its return value answers the server's
    ack request; every other event waits for :meth:`receive` or ``async for``.
    """

    def __init__(self, client: SocketIOClient, nsp: str) -> None:
        self.client = client
        self.nsp = nsp
        self.sid: str | None = None
        """The Socket.IO sid the server gave (not the Engine.IO one)."""
        self.connected = False
        self.disconnect_reason: str | None = None
        self._handlers: dict[str, Handler] = {}
        self._events: deque[ReceivedEvent] = deque()
        self._acks: dict[int, _AckSlot] = {}
        self._next_ack_id = 0
        self._refusal: ConnectError | None = None
        self._changed = trio.Event()

    def __repr__(self) -> str:
        state = "connected" if self.connected else f"disconnected ({self.disconnect_reason})"
        return f"<ClientSocket {self.nsp} {state}>"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        with trio.fail_after(self.client.timeout if timeout is None else timeout):
            while not predicate():
                await self._changed.wait()

    # ------------------------------------------------------------------ connecting

    async def connect(
        self, auth: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> None:
        """Send CONNECT (with ``auth`` as its payload) and wait for the answer.

        Raises :class:`ConnectError` when the server refuses, :class:`DisconnectedError` when
        the session closes first, and :class:`trio.TooSlowError` after ``timeout`` seconds
        (the client's default when ``None``).
        """
        if self.connected:
            raise RuntimeError(f"{self.nsp} is already connected")
        if self.client.close_reason is not None:
            raise DisconnectedError(self.client.close_reason)
        self.sid, self.disconnect_reason, self._refusal = None, None, None
        await self.client._send(SioPacket(SioPacketType.CONNECT, self.nsp, auth))
        await self._wait(
            lambda: (
                self.connected or self._refusal is not None or self.disconnect_reason is not None
            ),
            timeout,
        )
        if self._refusal is not None:
            raise self._refusal
        if not self.connected:
            raise DisconnectedError(self.disconnect_reason or "transport close")

    async def disconnect(self) -> None:
        """Leave the namespace (``C→S 41``); the reason becomes "io client disconnect"."""
        if self.connected:
            self._disconnected("io client disconnect")
            try:
                await self.client._send(SioPacket(SioPacketType.DISCONNECT, self.nsp))
            except DisconnectedError:
                pass

    async def wait_disconnected(self, *, timeout: float | None = None) -> str:
        """Wait until the namespace is disconnected; returns the reason."""
        await self._wait(lambda: self.disconnect_reason is not None, timeout)
        assert self.disconnect_reason is not None
        return self.disconnect_reason

    # ------------------------------------------------------------------ sending

    async def emit(self, event: str, *args: Any) -> None:
        """Send an event; ``bytes`` anywhere in ``args`` travel as binary attachments."""
        check_event_name(event)
        await self._send_event([event, *args], None)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event asking for an ack and return the ack's arguments: one as is,
        several as a tuple, none as ``None`` (as :meth:`minisock.Socket.call` does).

        Raises :class:`~minisock.AckTimeoutError` after ``timeout`` seconds, and
        :class:`DisconnectedError` if the namespace is disconnected meanwhile.
        """
        check_event_name(event)
        ack_id = self._next_ack_id
        self._next_ack_id += 1
        slot = _AckSlot()
        self._acks[ack_id] = slot
        try:
            await self._send_event([event, *args], ack_id)
            with trio.move_on_after(self.client.timeout if timeout is None else timeout):
                while slot.args is None and self.connected:
                    await self._changed.wait()
        finally:
            self._acks.pop(ack_id, None)
        if slot.args is not None:
            return ack_value(slot.args)
        if not self.connected:
            raise DisconnectedError(self.disconnect_reason or "transport close")
        raise AckTimeoutError()

    async def _send_event(self, data: list[Any], ack_id: int | None) -> None:
        if not self.connected:
            raise DisconnectedError(self.disconnect_reason or "not connected")
        await self.client._send(SioPacket(SioPacketType.EVENT, self.nsp, data, ack_id))

    # ------------------------------------------------------------------ receiving

    def on(self, event: str) -> Callable[[H], H]:
        """Register ``handler(*args)`` (sync or async) for ``event``; what it returns is the
        ack when the server asked for one. Register before :meth:`connect` to catch what the
        server's connect handler sends. Each call runs in a task of its own; an exception in
        a handler ends the client's ``async with`` block with it, so the test fails."""

        def register(handler: H) -> H:
            self._handlers[event] = handler
            return handler

        return register

    async def receive(self, *, timeout: float | None = None) -> ReceivedEvent:
        """The next event no handler took. Raises :class:`DisconnectedError` (with the
        reason) once the namespace is disconnected and every earlier event was received,
        and :class:`trio.TooSlowError` after ``timeout`` seconds."""
        await self._wait(lambda: bool(self._events) or self.disconnect_reason is not None, timeout)
        if self._events:
            return self._events.popleft()
        assert self.disconnect_reason is not None
        raise DisconnectedError(self.disconnect_reason)

    def __aiter__(self) -> ClientSocket:
        return self

    async def __anext__(self) -> ReceivedEvent:
        """``async for event in socket``: ends when the namespace is disconnected."""
        try:
            return await self.receive()
        except DisconnectedError:
            raise StopAsyncIteration from None

    # ------------------------------------------------------------------ from the server

    def _on_packet(self, packet: SioPacket) -> None:
        kind = packet.type
        if kind is SioPacketType.EVENT:
            self._on_event(packet.data, packet.id)
        elif kind is SioPacketType.ACK:
            slot = self._acks.get(packet.id) if packet.id is not None else None
            if slot is not None:
                slot.args = packet.data
        elif kind is SioPacketType.CONNECT:
            sid = packet.data.get("sid") if isinstance(packet.data, dict) else None
            self.sid = sid if isinstance(sid, str) else None
            self.connected = True
        elif kind is SioPacketType.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                self._refusal = ConnectError(str(data.get("message")), data.get("data"))
            else:
                self._refusal = ConnectError(str(data))
        elif kind is SioPacketType.DISCONNECT:
            self._disconnected("io server disconnect")
        self._notify()

    def _on_event(self, data: list[Any], ack_id: int | None) -> None:
        name, *args = data
        handler = self._handlers.get(name)
        if handler is not None:
            self.client._spawn(self._run_handler, handler, args, ack_id)
            return
        if len(self._events) >= self.client.max_queued_events:
            raise RuntimeError(
                f"{len(self._events)} events on {self.nsp} were never received: "
                "call receive(), or raise max_queued_events"
            )
        self._events.append(ReceivedEvent(name, tuple(args)))

    async def _run_handler(self, handler: Handler, args: list[Any], ack_id: int | None) -> None:
        result = handler(*args)
        if inspect.isawaitable(result):
            result = await result
        if ack_id is not None and self.connected:
            try:
                await self.client._send(
                    SioPacket(SioPacketType.ACK, self.nsp, ack_args(result), ack_id)
                )
            except DisconnectedError:
                pass

    def _disconnected(self, reason: str) -> None:
        if self.disconnect_reason is None:
            self.disconnect_reason = reason
        self.connected = False
        self._notify()


class SocketIOClient:
    """One Engine.IO session to a Socket.IO server, and the namespaces joined over it.

    ``target`` is a :class:`~minisock.Server` or :class:`~minisock.EngineServer` running in
    this trio run (connections are in memory; ``serve_listeners([])`` is enough), a port of
    127.0.0.1, or a URL such as ``"http://127.0.0.1:3000"``. ``transport`` is ``"upgrade"``
    (polling, then a WebSocket, as socket.io-client does by default), ``"polling"`` or
    ``"websocket"``. ``headers`` go with every request (``Authorization: Bearer ...``, say),
    ``query`` adds query parameters. ``timeout`` is the default of every wait. ``parser`` is
    the wire format, the server's: ``"json"`` or ``"msgpack"``.

    Use it as ``async with SocketIOClient(sio) as client:``; on exit every namespace is
    left and the session closed, as ``socket.disconnect()`` does.
    """

    def __init__(
        self,
        target: Target,
        *,
        transport: TransportChoice = "upgrade",
        path: str = "/socket.io/",
        headers: HeaderPairs = (),
        query: dict[str, str] | None = None,
        timeout: float = 10.0,
        max_queued_events: int = 10_000,
        parser: str = "json",
    ) -> None:
        connect, host = _connector(target)
        header_list = [(_text(name), _text(value)) for name, value in headers]
        self.endpoint = Endpoint(connect, host, path, header_list, dict(query or {}))
        self.timeout = timeout
        self.max_queued_events = max_queued_events
        self.engine = EngineClient(self.endpoint, transport, self._on_message, self._on_close)
        self.sockets: dict[str, ClientSocket] = {}
        """The namespaces used so far, connected or not."""
        self.parser = parser_named(parser)
        """The wire format; it must be the server's (``"json"`` or ``"msgpack"``)."""
        self._decoder = self.parser.decoder(DecoderLimits(), from_server=True)
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: Any = None

    @property
    def eio_sid(self) -> str | None:
        """The Engine.IO session id."""
        return self.engine.eio_sid

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``: what carries the session now."""
        return self.engine.transport

    @property
    def close_reason(self) -> str | None:
        """Why the Engine.IO session closed, or ``None`` while it is open."""
        return self.engine.close_reason

    async def __aenter__(self) -> SocketIOClient:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        try:
            with trio.fail_after(self.timeout):
                await self._nursery.start(self.engine.run)
        except BaseException:
            # A refused handshake comes out as itself (ConnectError, TooSlowError, ...), not
            # wrapped in the nursery's ExceptionGroup: nothing else ran yet.
            self._nursery.cancel_scope.cancel()
            await self._nursery_manager.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._nursery is not None
        if exc is None:
            with trio.move_on_after(self.timeout):
                await self.close()
        self._nursery.cancel_scope.cancel()
        result: bool | None = await self._nursery_manager.__aexit__(exc_type, exc, tb)
        return result

    def socket(self, nsp: str = "/") -> ClientSocket:
        """The :class:`ClientSocket` of ``nsp``, created unconnected on first use."""
        if nsp not in self.sockets:
            self.sockets[nsp] = ClientSocket(self, nsp)
        return self.sockets[nsp]

    async def connect(
        self, nsp: str = "/", *, auth: dict[str, Any] | None = None, timeout: float | None = None
    ) -> ClientSocket:
        """Join ``nsp`` (see :meth:`ClientSocket.connect`) and return its socket."""
        socket = self.socket(nsp)
        await socket.connect(auth, timeout=timeout)
        return socket

    async def wait_upgraded(self, *, timeout: float | None = None) -> None:
        """Wait until a WebSocket carries the session."""
        with trio.fail_after(self.timeout if timeout is None else timeout):
            await self.engine.upgraded.wait()

    async def wait_closed(self, *, timeout: float | None = None) -> str:
        """Wait until the Engine.IO session is closed; returns why (see :attr:`close_reason`)."""
        with trio.fail_after(self.timeout if timeout is None else timeout):
            await self.engine.closed.wait()
        assert self.engine.close_reason is not None
        return self.engine.close_reason

    async def close(self) -> None:
        """Leave every namespace, then close the Engine.IO session."""
        for socket in list(self.sockets.values()):
            await socket.disconnect()
        await self.engine.close()

    # ------------------------------------------------------------------ plumbing

    async def _send(self, packet: SioPacket) -> None:
        wires: list[WirePacket] = self.parser.engine_wires(packet)
        await self.engine.send(wires)

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(fn, *args)

    def _on_message(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.receive(data)
        except SocketIOProtocolError as exc:
            log.warning("closing: the server sent a malformed packet (%s)", exc)
            self.engine.abort("parse error")
            return
        if packet is None:
            return
        socket = self.sockets.get(packet.nsp)
        if socket is None:
            log.info("ignoring a packet for %s, which was never joined", packet.nsp)
            return
        socket._on_packet(packet)

    def _on_close(self, reason: str) -> None:
        for socket in self.sockets.values():
            socket._disconnected(reason)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _connector(target: Target) -> tuple[Connector, str]:
    """How to open a connection to ``target``, and the Host header to send."""
    if isinstance(target, Server):
        target = target.engine
    if isinstance(target, EngineServer):
        engine = target

        async def in_memory() -> trio.abc.Stream:
            await trio.lowlevel.checkpoint()
            return memory_connection(engine)

        return in_memory, "127.0.0.1"
    if isinstance(target, int):
        host, port = "127.0.0.1", target
    else:
        url = urlsplit(target)
        if url.scheme not in ("http", "ws") or url.hostname is None or url.path not in ("", "/"):
            raise ValueError(
                f"expected a URL such as http://127.0.0.1:3000, not {target!r} "
                "(a path is given with path=, a namespace with connect())"
            )
        host, port = url.hostname, url.port or 80

    async def tcp() -> trio.abc.Stream:
        return await trio.open_tcp_stream(host, port)

    return tcp, f"{host}:{port}"
