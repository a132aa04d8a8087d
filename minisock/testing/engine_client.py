"""The client side of one Engine.IO v4 session, under :class:`~minisock.testing.SocketIOClient`.

Theory of operation
-------------------
This is what engine.io-client 6.6 does for socket.io-client, cut down to what a test needs,
and built on the same codecs as the server (:mod:`minisock.proto.eio`). The rules:

1. **Transports.** ``"polling"``: the handshake is a GET, then one GET at a time waits for
   packets while POSTs carry ours, each request on a fresh connection as ``fetch`` does (no
   idle keep-alive to time out). ``"websocket"``: one WebSocket from the start, whose first
   message is the open packet. ``"upgrade"``, socket.io-client's default: polling first, and
   meanwhile a WebSocket carrying the sid probes (``C→S 2probe``, ``S→C 3probe``); polling
   then pauses (the server ends the pending GET with a noop), ``C→S 5`` completes the
   upgrade and the WebSocket carries everything after. A failed probe leaves polling as is.
2. **Heartbeat** (v4: the server pings). Every ``2`` is answered ``3`` at once. Like
   engine.io-client, if no ping comes within pingInterval + pingTimeout of the open packet or
   of the last ping, the session closes with "ping timeout".
3. **Sends.** Each :meth:`EngineClient.send` is one group of wire packets (a Socket.IO packet
   and its attachments): one POST body, or consecutive WebSocket messages, never interleaved
   with another group. Groups go out in the order their senders asked (a fair lock).
4. **Close.** The first reason wins and is reported once, through ``on_close``:
   "transport close" when the server closes (a ``1`` packet, a Close frame, the end of the
   stream), "transport error" for an HTTP error or a broken request, "parse error" for a
   packet that cannot be decoded, "ping timeout", and "forced close" when we close.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import trio
from wsproto.utilities import LocalProtocolError

from minisock.errors import EngineProtocolError
from minisock.proto.eio import (
    Packet,
    PacketType,
    WirePacket,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from minisock.testing import HttpClient, HttpResponse, WsClient, WsClosed, WsRejected, eio_target

__all__ = [
    "ConnectError",
    "Connector",
    "DisconnectedError",
    "Endpoint",
    "EngineClient",
    "TransportChoice",
]

log = logging.getLogger("minisock.testing")

TransportChoice = Literal["polling", "websocket", "upgrade"]
Connector = Callable[[], Awaitable[trio.abc.Stream]]
"""Opens one new connection to the server: a TCP stream, or an in-memory one."""

PONG = encode_packet(Packet(PacketType.PONG))
PROBE = encode_packet(Packet(PacketType.PING, "probe"))
PROBE_ANSWER = encode_packet(Packet(PacketType.PONG, "probe"))
UPGRADE = encode_packet(Packet(PacketType.UPGRADE))
CLOSE = encode_packet(Packet(PacketType.CLOSE))


class ConnectError(Exception):
    """The server refused: a namespace's CONNECT_ERROR (its ``message`` and ``data``), or the
    Engine.IO handshake's HTTP answer (``status`` set; ``data`` is the body, parsed as JSON
    when it is JSON; ``message`` is its ``"message"``, or the body when it is plain text)."""

    def __init__(self, message: str, data: Any = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.status = status

    @classmethod
    def from_http(cls, status: int, body: bytes) -> ConnectError:
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = body.decode("utf-8", errors="replace")
        message = data.get("message") if isinstance(data, dict) else data
        if not isinstance(message, str) or not message:
            message = f"handshake refused with HTTP {status}"
        return cls(message, data, status=status)


class DisconnectedError(Exception):
    """The session or the namespace is disconnected; ``reason`` says why, in
    socket.io-client's words ("io server disconnect", "transport close", ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"disconnected: {reason}")
        self.reason = reason


class _LockedStream(trio.abc.Stream):
    """A stream whose writes never overlap: the reader answers pings while another task sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.lock = trio.Lock()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self.lock:
            await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.stream.aclose()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the server is, and what every request carries."""

    connect: Connector
    host: str
    path: str = "/socket.io/"
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)

    def target(self, transport: str, sid: str | None = None) -> str:
        return eio_target(self.path, sid=sid, transport=transport, **self.query)


class EngineClient:
    """One Engine.IO session seen from the client. :meth:`run` owns its tasks; ``on_message``
    gets every message's data and ``on_close`` the close reason, once."""

    def __init__(
        self,
        endpoint: Endpoint,
        transport: TransportChoice,
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[str], None],
    ) -> None:
        self.endpoint = endpoint
        self.choice: TransportChoice = transport
        self.on_message = on_message
        self.on_close = on_close
        self.eio_sid: str | None = None
        self.open_payload: dict[str, object] = {}
        """The open packet's JSON: sid, upgrades, pingInterval, pingTimeout, maxPayload."""
        self.transport: str = "websocket" if transport == "websocket" else "polling"
        self.close_reason: str | None = None
        self.upgraded = trio.Event()
        self.closed = trio.Event()
        self._ws: WsClient | None = None
        self._send_lock = trio.Lock()
        self._pausing = False
        self._polling_stopped = trio.Event()
        self._ping_deadline = 0.0
        self._scope = trio.CancelScope()
        self._reader_scope = trio.CancelScope()
        self._reader_done = trio.Event()
        self._reported = False

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Handshake, report ready, then serve the session until it closes.

        A refused handshake raises :class:`ConnectError` before anything else runs.
        """
        with self._scope:
            try:
                if self.choice == "websocket":
                    await self._handshake_websocket()
                else:
                    await self._handshake_polling()
                async with trio.open_nursery() as nursery:
                    if self._ws is not None:
                        nursery.start_soon(self._read_websocket, self._ws)
                    else:
                        nursery.start_soon(self._poll)
                        upgrades = self.open_payload.get("upgrades")
                        offered = isinstance(upgrades, list) and "websocket" in upgrades
                        if self.choice == "upgrade" and offered:
                            nursery.start_soon(self._upgrade)
                    nursery.start_soon(self._watch_heartbeat)
                    task_status.started()
            finally:
                if self._ws is not None:
                    await trio.aclose_forcefully(self._ws.stream)
        self._close("forced close")  # a no-op unless cancelled from outside

    async def _handshake_websocket(self) -> None:
        try:
            self._ws = await self._open_websocket(None)
        except WsRejected as refused:
            raise ConnectError.from_http(refused.status, refused.body) from None
        self._on_open(decode_packet(await self._ws.receive()))
        self.upgraded.set()

    async def _handshake_polling(self) -> None:
        response = await self._request("GET", self.endpoint.target("polling"))
        if response.status != 200:
            raise ConnectError.from_http(response.status, response.body)
        opened, *rest = decode_payload(response.text)
        self._on_open(opened)
        for packet in rest:
            await self._handle(packet)

    def _on_open(self, packet: Packet) -> None:
        if packet.type is not PacketType.OPEN or not isinstance(packet.data, str):
            raise EngineProtocolError(f"expected the open packet, got {packet!r}")
        self.open_payload = json.loads(packet.data)
        sid = self.open_payload["sid"]
        assert isinstance(sid, str)
        self.eio_sid = sid
        self._reset_ping_deadline()

    def _reset_ping_deadline(self) -> None:
        interval = self.open_payload.get("pingInterval", 25000)
        timeout = self.open_payload.get("pingTimeout", 20000)
        assert isinstance(interval, int) and isinstance(timeout, int)
        self._ping_deadline = trio.current_time() + (interval + timeout) / 1000

    async def _watch_heartbeat(self) -> None:
        while True:
            await trio.sleep_until(self._ping_deadline)
            if trio.current_time() >= self._ping_deadline:
                self._close("ping timeout")
                return

    async def _handle(self, packet: Packet) -> None:
        if packet.type is PacketType.MESSAGE:
            self.on_message(packet.data)
        elif packet.type is PacketType.PING:
            self._reset_ping_deadline()
            try:
                await self.send([PONG])
            except DisconnectedError:
                pass  # closed meanwhile: the reason is already reported
        elif packet.type is PacketType.CLOSE:
            self._close("transport close")
        # noop, and anything a server should not send (pong, upgrade, open): nothing to do

    # ------------------------------------------------------------------ polling

    async def _request(self, method: str, target: str, body: str = "") -> HttpResponse:
        headers = list(self.endpoint.headers)
        if method == "POST":
            headers.append(("content-type", "text/plain;charset=UTF-8"))
        stream = await self.endpoint.connect()
        async with HttpClient(stream, host=self.endpoint.host) as http:
            return await http.request(method, target, headers=headers, body=body.encode())

    async def _poll(self) -> None:
        target = self.endpoint.target("polling", self.eio_sid)
        try:
            while not self._pausing and self.close_reason is None:
                try:
                    response = await self._request("GET", target)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._close("transport error")
                    return
                if response.status != 200:
                    log.info("poll answered HTTP %s: %r", response.status, response.body)
                    self._close("transport error")
                    return
                try:
                    packets = decode_payload(response.text)
                except (EngineProtocolError, UnicodeDecodeError):
                    self._close("parse error")
                    return
                for packet in packets:
                    await self._handle(packet)
        finally:
            self._polling_stopped.set()

    async def _upgrade(self) -> None:
        try:
            ws = await self._open_websocket(self.eio_sid)
        except (WsRejected, trio.BrokenResourceError, OSError) as exc:
            log.info("upgrade refused: %s", exc)
            return
        try:
            await ws.send(PROBE)
            answer = await ws.receive()
        except (WsClosed, trio.BrokenResourceError):
            answer = None
        if answer != PROBE_ANSWER:
            log.info("probe failed: %r", answer)
            await trio.aclose_forcefully(ws.stream)
            return
        self._pausing = True
        await self._polling_stopped.wait()  # the server's noop ends the pending GET
        async with self._send_lock:  # and no POST is on its way
            if self.close_reason is not None:
                await trio.aclose_forcefully(ws.stream)
                return
            await ws.send(UPGRADE)
            self._ws = ws
            self.transport = "websocket"
        self.upgraded.set()
        await self._read_websocket(ws)

    # ------------------------------------------------------------------ WebSocket

    async def _open_websocket(self, sid: str | None) -> WsClient:
        stream = _LockedStream(await self.endpoint.connect())
        target = self.endpoint.target("websocket", sid)
        try:
            return await WsClient.connect(stream, self.endpoint.host, target, self.endpoint.headers)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise

    async def _read_websocket(self, ws: WsClient) -> None:
        try:
            with self._reader_scope:
                while True:
                    await self._handle(decode_packet(await ws.receive()))
        except (WsClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            self._close("transport close")
        except EngineProtocolError:
            self._close("parse error")
        finally:
            self._reader_done.set()

    # ------------------------------------------------------------------ sending and closing

    async def send(self, wires: list[WirePacket]) -> None:
        """Send one group of wire packets; raises :class:`DisconnectedError` once closed."""
        async with self._send_lock:
            if self.close_reason is not None:
                raise DisconnectedError(self.close_reason)
            try:
                if self._ws is not None:
                    for wire in wires:
                        await self._ws.send(wire)
                    return
                target = self.endpoint.target("polling", self.eio_sid)
                response = await self._request("POST", target, encode_payload(wires))
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._close("transport error")
                raise DisconnectedError("transport error") from exc
            except LocalProtocolError as exc:  # the server's Close is being answered
                self._close("transport close")
                raise DisconnectedError("transport close") from exc
            if response.status != 200:
                log.info("POST answered HTTP %s: %r", response.status, response.body)
                self._close("transport error")
                raise DisconnectedError("transport error")

    def abort(self, reason: str) -> None:
        """Close at once, without telling the server (a parse error, say)."""
        self._close(reason)

    async def close(self) -> None:
        """Close the session as engine.io-client does: ``1`` by POST, or a Close frame."""
        if self.close_reason is not None:
            return
        with trio.move_on_after(5.0):
            try:
                if self._ws is not None:
                    ws = self._ws
                    self.close_reason = "forced close"  # the server's Close is no news
                    self._reader_scope.cancel()  # close() reads the answer itself
                    await self._reader_done.wait()
                    await ws.close()
                else:
                    await self.send([CLOSE])
            except (DisconnectedError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        self._close("forced close")

    def _close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._scope.cancel()
        if not self._reported:
            self._reported = True
            self.closed.set()
            self.on_close(self.close_reason)
