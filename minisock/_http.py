"""One TCP connection speaking HTTP/1.1, until a WebSocket takes it over.

``proto/http1.py`` does the parsing; this module adds the I/O: reading with timeouts,
bounded bodies, writing a whole response in one ``send_all``, keep-alive between requests,
and a graceful close that lets the client read our last answer before the socket goes away.

Timeouts cost no cancel scope per read: a read sets ``read_deadline`` and the engine's timer
heap (:meth:`HttpConnection.on_timer`) closes the stream of a connection whose read is late,
which ends that read with an error.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import TYPE_CHECKING

import trio

from minisock import trace
from minisock._timers import TimerHeap
from minisock.proto.http1 import HttpError, RequestReader, response_head
from minisock.request import Request

if TYPE_CHECKING:
    from minisock.engine import EngineServer

__all__ = ["BodyTooLargeError", "HttpConnection", "MalformedBodyError"]

log = logging.getLogger("minisock.http")

_READ_SIZE = 65536
_UNSENDABLE = b'{"code":500,"message":"Internal server error"}'
_DRAIN_LIMIT = 1 << 20  # bytes of an unread request body we swallow to keep a connection


class BodyTooLargeError(Exception):
    """The request body is over the limit; the caller answers 413."""


class MalformedBodyError(Exception):
    """The request body's framing is broken (bad chunks); the caller answers 400 and closes."""


class _PeerGone(Exception):
    """The client closed its side, reset the connection, or was too slow."""


async def _close_quietly(stream: trio.abc.Stream) -> None:
    try:
        await trio.aclose_forcefully(stream)
    except Exception:
        log.debug("closing a timed-out stream failed", exc_info=True)


class HttpConnection:
    """A request reader plus a trio stream. One request at a time; ``detach`` hands the
    stream over."""

    __slots__ = (
        "__weakref__",  # the engine's read-timer heap holds connections weakly
        "_body_deadline",
        "_continue",
        "_just_read",
        "_keep_alive",
        "_method",
        "_reader",
        "_socket",
        "_timers",
        "acceptor",
        "body_timeout",
        "detached",
        "head_timeout",
        "owner",
        "peer",
        "read_deadline",
        "request_timeout",
        "secure",
        "stream",
        "timed_out",
        "timer_at",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        peer: tuple[str, int] | None,
        timers: TimerHeap[HttpConnection],
        max_head_size: int = 16384,
        max_url_length: int = 8192,
        max_headers: int = 100,
        head_timeout: float = 10.0,
        body_timeout: float = 30.0,
        request_timeout: float = 300.0,
        secure: bool = False,
    ) -> None:
        self.stream = stream
        self._socket = stream.socket if type(stream) is trio.SocketStream else None
        """A plain socket, read and written directly (see :meth:`_read` and :meth:`write`)."""
        self.peer = peer
        self.secure = secure
        self._reader: RequestReader | None = RequestReader(
            max_head_size=max_head_size, max_url_length=max_url_length, max_headers=max_headers
        )
        self._timers = timers
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.request_timeout = request_timeout
        self._continue = False
        """The client awaits ``100 Continue``, not sent yet (sent at the first body read)."""
        self._body_deadline = math.inf
        """When the body being read must be complete (set at its first wait for data)."""
        self.detached = False
        """Set once a WebSocket owns the stream; this object must not touch it any more."""
        self.acceptor: EngineServer | None = None
        """The server whose request loop serves this connection."""
        self.owner: trio.lowlevel.Task | None = None
        """The task serving the requests; another one once a POST's delivery moved it on
        (``_polling.PostDelivery``)."""
        self._method = b""
        self._keep_alive = True
        self._just_read = False
        """:meth:`wait_for_peer` read what :meth:`next_request` will parse (no pass owed)."""
        self.read_deadline = math.inf
        """When the read (or the wait for room to write) under way must have finished;
        ``inf`` while neither waits."""
        self.timer_at = math.inf
        self.timed_out = False

    # ------------------------------------------------------------------ timeouts

    def on_timer(self, now: float) -> None:
        """The timer heap's call: close the stream if a read is late, else look again later."""
        if self.read_deadline <= now:
            self.timed_out = True
            self.read_deadline = math.inf
            stream = self.stream
            transport = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
            if isinstance(transport, trio.SocketStream):
                transport.socket.close()  # the pending read fails at once, in its own task
            else:
                trio.lowlevel.spawn_system_task(_close_quietly, stream)
        elif self.read_deadline < math.inf:
            self._timers.schedule(self, self.read_deadline)

    def _arm(self, deadline: float) -> None:
        self.read_deadline = deadline
        if deadline < self.timer_at:
            self._timers.schedule(self, deadline)

    # ------------------------------------------------------------------ reading

    async def _read(self) -> bytes | bytearray:
        """The next bytes from the client (``b""`` at its end).

        On a plain socket this waits for readability first (a keep-alive connection's next
        request is rarely there yet), then reads once: one scheduler pass per read, where
        ``receive_some`` tries, fails, waits, reads, then yields again.
        """
        sock = self._socket
        if sock is None:
            return await self.stream.receive_some(_READ_SIZE)
        while True:
            if sock.fileno() < 0:
                raise trio.ClosedResourceError("the connection was closed")
            await trio.lowlevel.wait_readable(sock)
            fd = sock.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the connection was closed")
            try:
                return os.read(fd, _READ_SIZE)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(exc) from exc

    async def write(self, data: bytes | memoryview) -> None:
        """Send ``data``: straight into a plain socket when the kernel takes all of it (no
        scheduler pass; the read that follows is the checkpoint), else wait for room.

        A client that stops reading must not hold its connection (and a connection slot)
        for ever: each wait for room may last ``body_timeout``, the idle limit that bounds
        a body read; the timer heap then closes the socket. Over TLS, where progress is not
        visible here, the whole remainder gets that long.
        """
        sock = self._socket
        if sock is None:
            self._arm(trio.current_time() + self.body_timeout)
            try:
                await self.stream.send_all(data)
            finally:
                self.read_deadline = math.inf
            return
        rest = self.write_nowait(data)
        while rest:
            self._arm(trio.current_time() + self.body_timeout)
            try:
                await trio.lowlevel.wait_writable(sock)
            finally:
                self.read_deadline = math.inf
            rest = self.write_nowait(rest)

    async def _receive(self, reader: RequestReader) -> None:
        """Read once into ``reader`` (``b""`` at the end); the deadline is already armed."""
        try:
            data = await self._read()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _PeerGone from exc
        finally:
            self.read_deadline = math.inf
        if self.timed_out:
            raise _PeerGone
        reader.feed(data)

    async def next_request(self) -> Request | None:
        """The next request's head, or ``None`` when the connection is over.

        The whole head must arrive within ``head_timeout`` (a trickled head is slowloris).
        Malformed or oversized heads are answered (400, 414, 431, 501, 505) and end the
        connection.
        """
        reader = self._reader
        assert reader is not None
        deadline = math.inf
        try:
            while True:
                head = reader.next_head()
                if head is not None or reader.eof:
                    break
                if deadline == math.inf:
                    deadline = trio.current_time() + self.head_timeout
                self._arm(deadline)
                await self._receive(reader)
        except _PeerGone:
            return None
        except HttpError as exc:
            # Never the offending line itself in the answer: it may hold a sid or a token.
            log.debug("refusing a malformed HTTP request with %d", exc.status)
            reader.clear()  # the stream is desynchronised: nothing buffered is of use
            await self._answer_framing_error(exc.status, exc.message)
            return None
        if head is None:
            return None
        if deadline == math.inf and not self._just_read:
            # Pipelined: this head was already buffered and no read waited. Writes do not
            # yield either, so let the other connections run before serving it.
            await trio.lowlevel.checkpoint()
        self._just_read = False
        self._method = head.method
        self._keep_alive = head.keep_alive
        self._continue = head.expect_continue
        self._body_deadline = math.inf
        try:
            return Request(
                method=head.method.decode("ascii"),
                target=head.target.decode("ascii"),
                headers=head.headers,
                peer=self.peer,
                http_version=head.http_version.decode("ascii"),
                secure=self.secure,
            )
        except ValueError:  # a target urlsplit refuses, such as "http://[/"
            await self._answer_framing_error(400, "malformed HTTP request")
            return None

    async def _body_part(self, reader: RequestReader) -> bytes:
        """The body bytes available, reading once if none are; ``body_timeout`` bounds each
        wait for data (an idle timeout), ``request_timeout`` the whole body (a trickle)."""
        while True:
            try:
                part = reader.body_part()
            except HttpError as exc:
                raise MalformedBodyError from exc
            if part is not None:
                return part
            if self._continue:
                self._continue = False
                await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            now = trio.current_time()
            if self._body_deadline == math.inf:
                self._body_deadline = now + self.request_timeout
            self._arm(min(now + self.body_timeout, self._body_deadline))
            try:
                await self._receive(reader)
            except _PeerGone as exc:
                raise trio.BrokenResourceError("request body not received") from exc

    async def read_body(self, limit: int) -> bytes:
        """The whole request body; :class:`BodyTooLargeError` as soon as it passes ``limit``."""
        reader = self._reader
        assert reader is not None
        parts: list[bytes] = []
        size = 0
        while not reader.body_done:
            part = await self._body_part(reader)
            size += len(part)
            if size > limit:
                raise BodyTooLargeError
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def wait_for_peer(self) -> bool:
        """Wait while a long-poll is held: ``True`` when the client sent more (kept in the
        buffer: the next request, or a pipelined one), ``False`` when it closed its side."""
        reader = self._reader
        assert reader is not None
        if reader.eof:
            return False
        if reader.has_buffered:
            return True
        try:
            data = await self._read()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        finally:
            self.read_deadline = math.inf
        reader.feed(data)
        self._just_read = True
        return bool(data)

    @property
    def has_buffered(self) -> bool:
        """Bytes of a next request are already read (pipelined)."""
        return self._reader is not None and self._reader.has_buffered

    def await_next_request(self) -> None:
        """The answer went out while this connection's task waits in :meth:`wait_for_peer`
        (written by another task): from now the next request's head has ``head_timeout``,
        as after any answer."""
        self._arm(trio.current_time() + self.head_timeout)

    # ------------------------------------------------------------------ writing

    async def respond(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = "text/plain; charset=UTF-8",
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        """Send one complete response in a single write.

        ``Connection: close`` goes out when asked, or when the client will not keep the
        connection (it said ``close``, or spoke HTTP/1.0).
        """
        await self.write(self.response_bytes(status, body, content_type, headers, close))

    def response_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]] | None,
        close: bool = False,
    ) -> bytes:
        """The whole response to the current request, as :meth:`respond` sends it."""
        close = close or not self._keep_alive or self._continue  # see finish_request
        if close:
            self._keep_alive = False
        length = None if status in (204, 304) else len(body)
        try:
            out = response_head(status, content_type, length, headers, close)
        except ValueError as exc:
            # A handler's header that would break the head: never sent, never a traceback.
            log.error("cannot send a %d response (%s); answering 500", status, exc)
            status, body, self._keep_alive = 500, _UNSENDABLE, False
            out = response_head(500, "application/json", len(body), None, True)
        if body and self._method != b"HEAD":  # a HEAD answer declares the length, sends none
            out += body
        if status >= 300 and trace.enabled():
            # Successes show up as the packets they carry; refusals are traced here, all
            # of them, whichever layer decided them.
            shown = body[:200].decode("utf-8", "replace")
            trace.emit(trace.S2C, "http", None, f"{status} {shown}", "refused")
        return out

    def write_nowait(self, data: bytes | memoryview) -> bytes | memoryview | None:
        """Write without waiting, from any task: what the kernel did not take (empty when
        it took everything; a view, not a copy), or ``None`` when this stream cannot be
        written so (TLS). Raises :class:`trio.BrokenResourceError` if the peer is gone."""
        sock = self._socket
        if sock is None:
            return None
        fd = sock.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the connection was closed")
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            return data
        except OSError as exc:
            raise trio.BrokenResourceError(exc) from exc
        return b"" if written == len(data) else memoryview(data)[written:]

    async def respond_json(
        self,
        status: int,
        value: object,
        *,
        headers: list[tuple[str, str]] | None = None,
        close: bool = False,
    ) -> None:
        body = json.dumps(value, separators=(",", ":")).encode("utf-8")
        await self.respond(
            status, body, content_type="application/json", headers=headers, close=close
        )

    async def accept_upgrade(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        """Send ``101 Switching Protocols``; returns bytes the client already sent after it."""
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        out = b"HTTP/1.1 101 Switching Protocols\r\n" + lines + b"\r\n"
        if trace.enabled():
            trace.emit(trace.S2C, "http", None, "101 Switching Protocols", "WebSocket accepted")
        await self.write(out)
        reader = self._reader
        assert reader is not None
        trailing = reader.take_buffered()
        self.detached = True
        # The WebSocket lives as long as this object's callers do: let the request reader
        # and its buffer go now.
        self._reader = None
        return trailing

    # ------------------------------------------------------------------ cycle

    async def finish_request(self) -> bool:
        """After a response: whether the connection can carry another request."""
        reader = self._reader
        if reader is None or not self._keep_alive:
            return False
        if not reader.body_done:
            if self._continue:
                return False  # a body never asked for may never come: close, not drain
            try:
                await self._drain_body(reader)
            except Exception:
                return False
        return not reader.eof

    async def _drain_body(self, reader: RequestReader) -> None:
        drained = 0
        while not reader.body_done:
            drained += len(await self._body_part(reader))
            if drained > _DRAIN_LIMIT:
                raise BodyTooLargeError

    async def _answer_framing_error(self, status: int, reason: str) -> None:
        # RFC 9112 §11.2: after a framing error the stream is desynchronised; answer, then close.
        log.debug("refusing malformed HTTP request: %s", reason)
        self._method = b""
        try:
            body = {"code": 3, "message": reason[:200]}
            await self.respond_json(status, body, close=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def aclose(self) -> None:
        """Close after letting the client read what we sent (avoids a reset eating it)."""
        # The timer heap keeps this object until its last deadline: let the buffer go now.
        self.read_deadline = math.inf
        self._reader = None
        stream = self.stream
        with trio.move_on_after(1.0) as scope:
            scope.shield = True
            try:
                if isinstance(stream, trio.abc.HalfCloseableStream):
                    await stream.send_eof()
                    while await stream.receive_some(_READ_SIZE):
                        pass
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                pass
        await trio.aclose_forcefully(stream)
