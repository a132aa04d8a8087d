"""One TCP connection speaking HTTP/1.1 through h11, until a WebSocket takes it over.

h11 does the parsing; this module adds what h11 leaves to its user: reading with timeouts,
bounded bodies, writing a whole response in one ``send_all``, keep-alive between requests,
and a graceful close that lets the client read our last answer before the socket goes away.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import h11
import trio

from minisock import trace
from minisock.request import Request

__all__ = ["BodyTooLargeError", "HttpConnection", "MalformedBodyError"]

log = logging.getLogger("minisock.http")

_READ_SIZE = 65536
_DRAIN_LIMIT = 1 << 20  # bytes of an unread request body we swallow to keep a connection


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class BodyTooLargeError(Exception):
    """The request body is over the limit; the caller answers 413."""


class MalformedBodyError(Exception):
    """The request body's framing is broken (bad chunks); the caller answers 400 and closes."""


class _PeerGone(Exception):
    """The client closed its side or reset the connection."""


class HttpConnection:
    """h11 plus a trio stream. One request at a time; ``detach`` hands the stream over."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        peer: tuple[str, int] | None,
        max_head_size: int = 16384,
        max_url_length: int = 8192,
        max_headers: int = 100,
        head_timeout: float = 10.0,
        body_timeout: float = 30.0,
        secure: bool = False,
    ) -> None:
        self.stream = stream
        self.peer = peer
        self.secure = secure
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_size)
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_headers = max_headers
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.detached = False
        """Set once a WebSocket owns the stream; this object must not touch it any more."""
        self._head_start = b""
        """The first bytes of the current request's head, to tell a 414 from a 431."""
        self._method = b""

    # ------------------------------------------------------------------ reading

    async def _next_event(self, timeout: float) -> Any:
        """The next h11 event; ``timeout`` bounds each wait for data (an idle timeout)."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            with trio.fail_after(timeout):
                try:
                    data = await self.stream.receive_some(_READ_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    raise _PeerGone from exc
            if len(self._head_start) <= self.max_url_length:
                self._head_start += data[: self.max_url_length + 1]
            self.h11.receive_data(bytes(data))

    async def next_request(self) -> Request | None:
        """The next request's head, or ``None`` when the connection is over.

        The whole head must arrive within ``head_timeout`` (a trickled head is slowloris).
        Malformed or oversized heads are answered (400, 414, 431, 505) and end the connection.
        """
        self._head_start = b""
        try:
            with trio.fail_after(self.head_timeout):
                event = await self._next_event(self.head_timeout)
        except (_PeerGone, trio.TooSlowError):
            return None
        except h11.RemoteProtocolError as exc:
            # h11's message quotes the offending line, which may hold a sid or a token.
            status = exc.error_status_hint
            if status == 431 and self._request_line_too_long():
                status, message = 414, f"URL over {self.max_url_length} bytes"
            elif status == 501 and b"content-length" in self._head_start.lower():
                # h11 refuses the unknown coding first; the smuggling shape is what matters.
                status, message = 400, "Content-Length together with Transfer-Encoding"
            elif status == 501:
                message = "unsupported Transfer-Encoding"
            elif status == 431:
                message = f"request head over {self.max_head_size} bytes"
            else:
                message = "malformed HTTP request"
            log.debug("refusing a malformed HTTP request with %d", status)
            await self._answer_framing_error(status, message)
            return None
        if not isinstance(event, h11.Request):
            return None
        self._method = event.method
        refusal = self._check_head(event)
        if refusal is not None:
            await self._answer_framing_error(*refusal)
            return None
        return Request(
            method=event.method.decode("ascii", "replace"),
            target=event.target.decode("ascii", "replace"),
            headers=list(event.headers),
            peer=self.peer,
            http_version=event.http_version.decode("ascii", "replace"),
            secure=self.secure,
        )

    def _request_line_too_long(self) -> bool:
        """When h11 gives up on a huge incomplete head: is it the request line (414)?"""
        first = self._head_start.split(b"\n", 1)
        return len(first) == 1 and len(first[0]) > self.max_url_length

    def _check_head(self, event: h11.Request) -> tuple[int, str] | None:
        """minisock's own limits on top of h11's (which bounds only *incomplete* heads)."""
        if event.http_version not in (b"1.0", b"1.1"):
            return 505, "HTTP version not supported"
        if len(event.target) > self.max_url_length:
            return 414, f"URL over {self.max_url_length} bytes"
        if len(event.headers) > self.max_headers:
            return 431, f"more than {self.max_headers} header fields"
        size = len(event.method) + len(event.target) + 14
        size += sum(len(name) + len(value) + 4 for name, value in event.headers)
        if size > self.max_head_size:
            return 431, f"request head over {self.max_head_size} bytes"
        names = {name for name, _ in event.headers}
        if b"content-length" in names and b"transfer-encoding" in names:
            # RFC 9112 §6.3: a smuggling shape; refuse and close rather than guess.
            return 400, "Content-Length together with Transfer-Encoding"
        return None

    async def read_body(self, limit: int) -> bytes:
        """The whole request body; :class:`BodyTooLargeError` as soon as it passes ``limit``."""
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                event = await self._next_event(self.body_timeout)
            except (_PeerGone, trio.TooSlowError) as exc:
                raise trio.BrokenResourceError("request body not received") from exc
            except h11.RemoteProtocolError as exc:
                raise MalformedBodyError from exc
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise BodyTooLargeError
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:
                raise trio.BrokenResourceError("connection closed during the request body")

    async def wait_for_peer_close(self) -> None:
        """Return when the client closes its side (used while a long-poll waits).

        Data that arrives meanwhile (a pipelined request) is kept for h11, and watching stops.
        """
        try:
            data = await self.stream.receive_some(_READ_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        if not data:
            return
        self.h11.receive_data(bytes(data))
        await trio.sleep_forever()

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
        """Send one complete response in a single write."""
        all_headers: list[tuple[str, str]] = []
        if content_type is not None:
            all_headers.append(("Content-Type", content_type))
        if status not in (204, 304):
            all_headers.append(("Content-Length", str(len(body))))
        if headers:
            all_headers.extend(headers)
        if close:
            all_headers.append(("Connection", "close"))
        out = self.h11.send(
            h11.Response(status_code=status, headers=all_headers, reason=_reason(status))
        )
        if body and self._method != b"HEAD":  # a HEAD answer declares the length, sends none
            out = (out or b"") + (self.h11.send(h11.Data(data=body)) or b"")
        out = (out or b"") + (self.h11.send(h11.EndOfMessage()) or b"")
        if status >= 300 and trace.enabled():
            # Successes show up as the packets they carry; refusals are traced here, all
            # of them, whichever layer decided them.
            shown = body[:200].decode("utf-8", "replace")
            trace.emit(trace.S2C, "http", None, f"{status} {shown}", "refused")
        await self.stream.send_all(out)

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
        out = self.h11.send(
            h11.InformationalResponse(
                status_code=101, headers=headers, reason=b"Switching Protocols"
            )
        )
        if trace.enabled():
            trace.emit(trace.S2C, "http", None, "101 Switching Protocols", "WebSocket accepted")
        await self.stream.send_all(out or b"")
        trailing, _closed = self.h11.trailing_data
        self.detached = True
        # The WebSocket lives as long as this object's callers do: let the HTTP parser and
        # its buffers go now (about 2 KB per idle connection).
        del self.h11
        self._head_start = b""
        return bytes(trailing)

    # ------------------------------------------------------------------ cycle

    async def finish_request(self) -> bool:
        """After a response: whether the connection can carry another request."""
        h = self.h11
        if h.their_state is h11.SEND_BODY:
            try:
                await self._drain_body()
            except Exception:
                return False
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            return True
        return False

    async def _drain_body(self) -> None:
        drained = 0
        while True:
            event = await self._next_event(self.body_timeout)
            if isinstance(event, h11.Data):
                drained += len(event.data)
                if drained > _DRAIN_LIMIT:
                    raise BodyTooLargeError
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise trio.BrokenResourceError

    async def _answer_framing_error(self, status: int, reason: str) -> None:
        # RFC 9112 §11.2: after a framing error the stream is desynchronised; answer, then close.
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        log.debug("refusing malformed HTTP request: %s", reason)
        try:
            body = {"code": 3, "message": reason[:200]}
            await self.respond_json(status, body, close=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.LocalProtocolError):
            pass

    async def aclose(self) -> None:
        """Close after letting the client read what we sent (avoids a reset eating it)."""
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
