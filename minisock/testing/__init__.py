"""Small clients for testing an Engine.IO server: HTTP/1.1 over h11, WebSocket over wsproto.

These are tools for tests, ours and an embedder's: they speak to a running
:class:`~minisock.EngineServer` through any :class:`trio.abc.Stream`, so the same test can run
on a real socket (:func:`open_client_stream`) or in memory (:func:`memory_connection`, which
pairs nicely with pytest-trio's ``autojump_clock``).

- :class:`HttpClient` sends one request at a time on a keep-alive connection and returns the
  whole :class:`HttpResponse`. For tests that must stop half-way (a head without its body),
  :meth:`HttpClient.send_head` and :meth:`HttpClient.read_response` are the two halves.
- :class:`WsClient` performs the opening handshake, then sends and receives whole messages;
  a Close from the server surfaces as :class:`WsClosed`, and :meth:`WsClient.send_raw` writes
  arbitrary bytes for protocol-violation tests.
- :func:`eio_handshake`, :func:`eio_poll` and :func:`eio_post` are the long-polling steps.
- :func:`running_server` runs a server for the length of an ``async with`` block, and
  :class:`EventRecorder` installs handlers that record (and optionally echo) what it sees.
- :class:`SocketIOClient` (in :mod:`minisock.testing.sio_client`) is a whole Socket.IO
  client for an application's tests: namespaces, auth, emits, acks both ways, binary.

wsproto is a *test* dependency (the ``test`` extra): this module is the only place in
minisock that imports it, and nothing else in the package imports this module. The server
side speaks WebSocket through minisock's own code; using an independent implementation for
the client means a misreading of RFC 6455 cannot hide on both ends at once.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import h11
import trio
import trio.testing
import wsproto
import wsproto.events as wse
from wsproto.connection import ConnectionState

from minisock.engine import EngineServer
from minisock.engine_socket import EngineSocket
from minisock.request import header_value, header_values

__all__ = [
    "ClientSocket",
    "ConnectError",
    "DisconnectedError",
    "EventRecorder",
    "HttpClient",
    "HttpResponse",
    "ReceivedEvent",
    "SocketIOClient",
    "TransportChoice",
    "WsClient",
    "WsClosed",
    "WsRejected",
    "eio_handshake",
    "eio_poll",
    "eio_post",
    "eio_target",
    "memory_connection",
    "open_client_stream",
    "running_server",
]

_READ_SIZE = 65536

HeaderPairs = Iterable[tuple[str | bytes, str | bytes]]


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def _header_list(headers: HeaderPairs) -> list[tuple[bytes, bytes]]:
    return [(_as_bytes(name), _as_bytes(value)) for name, value in headers]


# ---------------------------------------------------------------------------- HTTP


@dataclass(slots=True)
class HttpResponse:
    """A complete HTTP response. Header names are lowercase bytes, as h11 gives them."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        return header_value(self.headers, name)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return header_values(self.headers, name)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class HttpClient:
    """An HTTP/1.1 client on one stream: one request at a time, keep-alive between them.

    A ``Host`` header is added unless the request carries one. A request with a body gets a
    ``Content-Length`` unless it declares its own framing.
    """

    def __init__(self, stream: trio.abc.Stream, host: str = "127.0.0.1") -> None:
        self.stream = stream
        self.host = host
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> HttpClient:
        """Connect to ``host:port`` over TCP; the Host header then names that port."""
        stream = await trio.open_tcp_stream(host, port)
        return cls(stream, host=f"{host}:{port}")

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def send_head(
        self, method: str, target: str, *, headers: HeaderPairs = (), body_length: int = 0
    ) -> None:
        """Send a request head only; follow with :meth:`send_body` or :meth:`read_response`.

        ``body_length`` adds a ``Content-Length`` when the headers carry no framing.
        """
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        all_headers = _header_list(headers)
        names = {name.lower() for name, _ in all_headers}
        if b"host" not in names:
            all_headers.insert(0, (b"host", self.host.encode("ascii")))
        framed = b"content-length" in names or b"transfer-encoding" in names
        if not framed and (body_length or method.upper() in ("POST", "PUT")):
            all_headers.append((b"content-length", str(body_length).encode("ascii")))
        request = h11.Request(method=method.upper(), target=target, headers=all_headers)
        await self.stream.send_all(self.h11.send(request) or b"")

    async def send_body(self, data: bytes, *, end: bool = True) -> None:
        """Send (part of) the request body; ``end`` finishes the request."""
        out = b""
        if data:
            out += self.h11.send(h11.Data(data=data)) or b""
        if end:
            out += self.h11.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(out)

    async def read_response(self) -> HttpResponse:
        """Read one whole response (informational responses are skipped).

        Raises :class:`trio.BrokenResourceError` if the server closes the connection first.
        """
        response: HttpResponse | None = None
        parts: list[bytes] = []
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:  # e.g. the server closed mid-response
                raise trio.BrokenResourceError(str(exc)) from exc
            if event is h11.NEED_DATA:
                data = await self.stream.receive_some(_READ_SIZE)
                self.h11.receive_data(bytes(data))
                continue
            if isinstance(event, h11.Response):
                response = HttpResponse(event.status_code, list(event.headers))
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                response.body = b"".join(parts)
                return response
            elif isinstance(event, h11.ConnectionClosed):
                raise trio.BrokenResourceError("the server closed the connection")

    async def request(
        self, method: str, target: str, *, headers: HeaderPairs = (), body: bytes = b""
    ) -> HttpResponse:
        """Send one request and return its response."""
        await self.send_head(method, target, headers=headers, body_length=len(body))
        await self.send_body(body)
        return await self.read_response()

    async def get(self, target: str, *, headers: HeaderPairs = ()) -> HttpResponse:
        """``GET target``."""
        return await self.request("GET", target, headers=headers)

    async def post(
        self, target: str, body: bytes | str, *, headers: HeaderPairs = ()
    ) -> HttpResponse:
        """``POST target`` with ``body`` (``str`` is sent as UTF-8)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        return await self.request("POST", target, headers=headers, body=data)

    async def aclose(self) -> None:
        """Close the connection."""
        await trio.aclose_forcefully(self.stream)


# ---------------------------------------------------------------------------- WebSocket


class WsRejected(Exception):
    """The server answered the WebSocket handshake with something other than ``101``."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        super().__init__(f"WebSocket handshake refused with HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


class WsClosed(Exception):
    """The WebSocket is closed: ``code`` is the server's close code, 1005 for a Close frame
    without a body, and 1006 when TCP ended with no Close frame at all."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with code {code}: {reason!r}")
        self.code = code
        self.reason = reason


class WsClient:
    """A WebSocket client on a stream; create it with :meth:`connect`.

    Pings from the server are answered automatically; pongs are queued for
    :meth:`receive_pong`. Messages are reassembled, so :meth:`receive` returns whole ones.
    """

    def __init__(self, stream: trio.abc.Stream, conn: wsproto.WSConnection) -> None:
        self.stream = stream
        self.conn = conn
        self.response_headers: list[tuple[bytes, bytes]] = []
        """Headers of the ``101`` other than the WebSocket ones (``set-cookie``, say)."""
        self._messages: deque[str | bytes] = deque()
        self._pongs: deque[bytes] = deque()
        self._text: list[str] = []
        self._binary: list[bytes] = []
        self._closed: WsClosed | None = None
        self._buffered = False  # frames that came in the 101's read, still inside wsproto

    @classmethod
    async def connect(
        cls,
        stream: trio.abc.Stream,
        host: str,
        target: str,
        extra_headers: HeaderPairs = (),
    ) -> WsClient:
        """Perform the opening handshake; raises :class:`WsRejected` if it is refused."""
        conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        request = wse.Request(host=host, target=target, extra_headers=_header_list(extra_headers))
        await stream.send_all(conn.send(request))
        client = cls(stream, conn)
        rejected: wse.RejectConnection | None = None
        body: list[bytes] = []
        while True:
            data = await stream.receive_some(_READ_SIZE)
            if not data:
                raise trio.BrokenResourceError("connection closed during the WebSocket handshake")
            conn.receive_data(bytes(data))
            for event in conn.events():
                if isinstance(event, wse.AcceptConnection):
                    client.response_headers = list(event.extra_headers)
                    # Frames that came with the 101 wait in wsproto: the first _pump()
                    # sorts them before it reads the stream again.
                    client._buffered = True
                    return client
                if isinstance(event, wse.RejectConnection):
                    rejected = event
                    if not event.has_body:
                        raise WsRejected(event.status_code, list(event.headers), b"")
                elif isinstance(event, wse.RejectData):
                    body.append(bytes(event.data))
                    if event.body_finished and rejected is not None:
                        raise WsRejected(
                            rejected.status_code, list(rejected.headers), b"".join(body)
                        )

    @classmethod
    async def open(
        cls, port: int, target: str, extra_headers: HeaderPairs = (), host: str = "127.0.0.1"
    ) -> WsClient:
        """Connect to ``host:port`` over TCP and perform the handshake for ``target``."""
        stream = await trio.open_tcp_stream(host, port)
        try:
            return await cls.connect(stream, f"{host}:{port}", target, extra_headers)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise

    async def __aenter__(self) -> WsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ sending

    async def _send(self, event: wse.Event) -> None:
        await self.stream.send_all(self.conn.send(event))

    async def send_text(self, text: str) -> None:
        """Send one text message."""
        await self._send(wse.TextMessage(data=text))

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        await self._send(wse.BytesMessage(data=data))

    async def send(self, message: str | bytes) -> None:
        """Send ``str`` as a text message and ``bytes`` as a binary one."""
        if isinstance(message, str):
            await self.send_text(message)
        else:
            await self.send_bytes(message)

    async def ping(self, payload: bytes = b"") -> None:
        """Send a WebSocket ping frame; its pong comes back through :meth:`receive_pong`."""
        await self._send(wse.Ping(payload=payload))

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are, bypassing wsproto (build frames with
        :func:`minisock.proto.ws.encode_client_frame`)."""
        await self.stream.send_all(data)

    # ------------------------------------------------------------------ receiving

    async def _pump(self) -> None:
        """Read once from the stream and sort the events it brings."""
        if self._buffered:
            self._buffered = False
        else:
            data = await self.stream.receive_some(_READ_SIZE)
            self.conn.receive_data(bytes(data) if data else None)
        for event in self.conn.events():
            if isinstance(event, wse.TextMessage):
                self._text.append(event.data)
                if event.message_finished:
                    self._messages.append("".join(self._text))
                    self._text = []
            elif isinstance(event, wse.BytesMessage):
                self._binary.append(bytes(event.data))
                if event.message_finished:
                    self._messages.append(b"".join(self._binary))
                    self._binary = []
            elif isinstance(event, wse.Ping):
                if self.conn.state is ConnectionState.OPEN:
                    await self._send(event.response())
            elif isinstance(event, wse.Pong):
                self._pongs.append(bytes(event.payload))
            elif isinstance(event, wse.CloseConnection):
                self._closed = WsClosed(event.code, event.reason or "")
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    try:
                        await self._send(event.response())
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass

    async def receive(self) -> str | bytes:
        """The next whole message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`WsClosed` once the server's Close (or the end of TCP) is reached and
        every message before it was received.
        """
        while not self._messages:
            if self._closed is not None:
                raise self._closed
            await self._pump()
        return self._messages.popleft()

    async def receive_pong(self) -> bytes:
        """The payload of the next pong; messages arriving meanwhile are kept for receive()."""
        while not self._pongs:
            if self._closed is not None:
                raise self._closed
            await self._pump()
        return self._pongs.popleft()

    async def wait_closed(self) -> WsClosed:
        """Discard messages until the connection closes; return how it closed."""
        while True:
            try:
                await self.receive()
            except WsClosed as closed:
                return closed

    # ------------------------------------------------------------------ closing

    async def close(self, code: int = 1000, reason: str = "") -> WsClosed:
        """Start the closing handshake, wait for the server's Close, then close TCP.

        Returns the server's answer (a :class:`WsClosed` that carries its code).
        """
        if self.conn.state is ConnectionState.OPEN:
            await self._send(wse.CloseConnection(code=code, reason=reason))
        try:
            while self._closed is None:
                await self._pump()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._closed = WsClosed(1006, "connection lost")
        await self.aclose()
        return self._closed

    async def aclose(self) -> None:
        """Close TCP at once, without a closing handshake."""
        await trio.aclose_forcefully(self.stream)


# ---------------------------------------------------------------------------- helpers


async def open_client_stream(port: int) -> trio.SocketStream:
    """A TCP connection to ``127.0.0.1:port``."""
    return await trio.open_tcp_stream("127.0.0.1", port)


def memory_connection(server: EngineServer) -> trio.abc.Stream:
    """An in-memory connection to a running server; returns the client's end.

    The server must run (``serve_listeners([])`` is enough); it serves the other end in its
    own nursery, exactly as it serves an accepted socket.
    """
    client, server_end = trio.testing.memory_stream_pair()
    server.spawn(server.handle_connection, server_end)
    return client


@asynccontextmanager
async def running_server(
    server: EngineServer, host: str = "127.0.0.1", *, in_memory: bool = False
) -> AsyncIterator[int]:
    """Run ``server`` for the length of the block; yields its port (0 when ``in_memory``).

    On exit the server shuts down gracefully, as :meth:`EngineServer.shutdown` does. The
    block runs inside a nursery, so an exception it raises comes out in an ``ExceptionGroup``.
    """
    async with trio.open_nursery() as nursery:
        if in_memory:
            port: int = await nursery.start(server.serve_listeners, [])
        else:
            port = await nursery.start(server.serve, host, 0)
        try:
            yield port
        finally:
            server.shutdown()


def eio_target(
    path: str = "/engine.io/",
    *,
    sid: str | None = None,
    transport: str = "polling",
    eio: str | None = "4",
    **extra: str,
) -> str:
    """The request target of an Engine.IO request, e.g. ``/engine.io/?EIO=4&transport=polling``.

    ``eio=None`` leaves ``EIO`` out; ``extra`` adds query parameters.
    """
    query: dict[str, str] = {}
    if eio is not None:
        query["EIO"] = eio
    query["transport"] = transport
    if sid is not None:
        query["sid"] = sid
    query.update(extra)
    return f"{path}?{urlencode(query)}"


async def eio_handshake(
    client: HttpClient, path: str = "/engine.io/", *, headers: HeaderPairs = ()
) -> tuple[str, dict[str, Any]]:
    """Open a long-polling session; returns its sid and the open packet's JSON.

    Raises :class:`AssertionError` when the server does not answer ``200`` and ``0{...}``.
    """
    response = await client.get(eio_target(path), headers=headers)
    if response.status != 200 or not response.body.startswith(b"0"):
        raise AssertionError(f"handshake failed: {response.status} {response.body!r}")
    value: dict[str, Any] = json.loads(response.body[1:])
    return value["sid"], value


async def eio_poll(client: HttpClient, sid: str, path: str = "/engine.io/") -> HttpResponse:
    """One long-polling GET (it waits until the server has something to say)."""
    return await client.get(eio_target(path, sid=sid))


async def eio_post(
    client: HttpClient, sid: str, payload: str | bytes, path: str = "/engine.io/"
) -> HttpResponse:
    """One long-polling POST carrying ``payload`` (packets joined with ``\\x1e``)."""
    return await client.post(eio_target(path, sid=sid), payload)


class EventRecorder:
    """Handlers that record what a server's application sees, optionally echoing messages.

    Installing one replaces the server's ``connect``, ``message`` and ``disconnect``
    handlers. Waiters (:meth:`wait_disconnect`, :meth:`wait_messages`) wake on every event.
    """

    def __init__(self, server: EngineServer, *, echo: bool = False) -> None:
        self.echo = echo
        self.connected: list[str] = []
        """Sids, in the order their connect handler ran."""
        self.messages: list[tuple[str, str | bytes]] = []
        """``(eio_sid, data)`` for every message, in arrival order."""
        self.disconnects: dict[str, str] = {}
        """The reason each session's disconnect handler received."""
        self.disconnect_log: list[tuple[str, str]] = []
        """Every ``(eio_sid, reason)`` call, in order: a session listed twice is a bug."""
        self.disconnect_times: dict[str, float] = {}
        self._changed = trio.Event()
        server.on("connect")(self._on_connect)
        server.on("message")(self._on_message)
        server.on("disconnect")(self._on_disconnect)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _on_connect(self, sock: EngineSocket) -> None:
        self.connected.append(sock.eio_sid)
        self._notify()

    async def _on_message(self, sock: EngineSocket, data: str | bytes) -> None:
        self.messages.append((sock.eio_sid, data))
        self._notify()
        if self.echo:
            await sock.send(data)

    async def _on_disconnect(self, sock: EngineSocket, reason: str) -> None:
        self.disconnects[sock.eio_sid] = reason
        self.disconnect_log.append((sock.eio_sid, reason))
        self.disconnect_times[sock.eio_sid] = trio.current_time()
        self._notify()

    def messages_of(self, eio_sid: str) -> list[str | bytes]:
        """The messages one session sent, in order."""
        return [data for sid, data in self.messages if sid == eio_sid]

    async def wait_disconnect(self, eio_sid: str) -> str:
        """Wait for the disconnect handler of ``eio_sid``; returns its reason."""
        while eio_sid not in self.disconnects:
            await self._changed.wait()
        return self.disconnects[eio_sid]

    async def wait_messages(self, eio_sid: str, count: int) -> list[str | bytes]:
        """Wait until ``eio_sid`` has sent ``count`` messages; returns all of them."""
        while len(self.messages_of(eio_sid)) < count:
            await self._changed.wait()
        return self.messages_of(eio_sid)


# The Socket.IO client is built on the clients above, so it is imported once they exist.
from minisock.testing.sio_client import (  # noqa: E402
    ClientSocket,
    ConnectError,
    DisconnectedError,
    ReceivedEvent,
    SocketIOClient,
    TransportChoice,
)
