"""HTTP/1.1 for a server, sans I/O: request heads and bodies in, response heads out.

Strict where h11 is lenient, so that no proxy in front can read a request differently from
us (RFC 9112 §11.2): lines end with CRLF, never a bare LF or CR; no obs-fold; no control
bytes in the target or in header values; one Content-Length value (repeats must agree) and
never beside Transfer-Encoding; ``chunked`` the only coding; one Host, required in 1.1. Every
refusal is an :class:`HttpError` carrying the status to answer and a short reason, and the
connection is to close after it (the stream may be desynchronised).

Why not h11: it spent about a third of a long-polling round trip validating events and
running its state machine, for two small requests whose heads fit one read.
"""

from __future__ import annotations

import re
from http import HTTPStatus

__all__ = [
    "HttpError",
    "RequestHead",
    "RequestReader",
    "encode_headers",
    "header_is_valid",
    "response_head",
]

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])")
# The whole field block, each line "name:OWS value OWS" ending in CRLF: one C-level match.
_FIELD_LINES = re.compile(
    rb"(?:" + _TOKEN + rb":[ \t]*(?:" + _VCHAR + rb"+(?:[ \t]+" + _VCHAR + rb"+)*)?[ \t]*\r\n)*"
)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[\x09\x20-\x7e\x80-\xff]*)?")
_BARE_LF = re.compile(rb"(?<!\r)\n|\r(?!\n|$)")
_MAX_CHUNK_LINE = 1024
"""A chunk-size line (size and extensions) longer than this is refused."""


class HttpError(Exception):
    """A request we refuse: answer ``status`` with ``message``, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestHead:
    """A parsed request head. Header names are lowercase bytes, values as sent (OWS cut)."""

    __slots__ = ("expect_continue", "headers", "http_version", "keep_alive", "method", "target")

    def __init__(
        self,
        method: bytes,
        target: bytes,
        http_version: bytes,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        expect_continue: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive
        """False when the client asked to close after this request (or spoke HTTP/1.0)."""
        self.expect_continue = expect_continue
        """The client waits for ``100 Continue`` before it sends the body (HTTP/1.1 only)."""


# Body framing states.
_NO_BODY, _LENGTH, _CHUNK_HEAD, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS = range(6)


class RequestReader:
    """The incoming side of one server connection: feed bytes, take heads and body parts.

    ``feed(b"")`` means the peer closed its side. Bytes past the current request stay
    buffered for the next one (pipelining), or for a WebSocket after an upgrade.
    """

    __slots__ = (
        "_buf",
        "_framing",
        "_left",
        "_scanned",
        "_trailer_lines",
        "eof",
        "max_head_size",
        "max_headers",
        "max_url_length",
    )

    def __init__(
        self, *, max_head_size: int = 16384, max_url_length: int = 8192, max_headers: int = 100
    ) -> None:
        self._buf = bytearray()
        self.max_head_size = max_head_size
        self.max_url_length = max_url_length
        self.max_headers = max_headers
        self.eof = False
        self._framing = _NO_BODY
        self._left = 0
        """Bytes left of the Content-Length body, or of the current chunk."""
        self._trailer_lines = 0
        self._scanned = 0
        """How much of an incomplete head was already searched: a head trickled in byte by
        byte must cost linear time, not quadratic (each read scans only the new bytes)."""

    def feed(self, data: bytes | bytearray) -> None:
        if data:
            self._buf += data
        else:
            self.eof = True

    def take_buffered(self) -> bytes:
        """What was received past the last head (handed to a WebSocket after ``101``)."""
        data = bytes(self._buf)
        self._buf.clear()
        self._scanned = 0
        return data

    def clear(self) -> None:
        """Let go of the buffer (the connection is over or desynchronised)."""
        self._buf = bytearray()
        self._scanned = 0

    @property
    def has_buffered(self) -> bool:
        """Whether bytes past the current request are waiting (a pipelined request)."""
        return bool(self._buf)

    @property
    def body_done(self) -> bool:
        return self._framing == _NO_BODY

    # ------------------------------------------------------------------ head

    def next_head(self) -> RequestHead | None:
        """The next request head, or ``None`` until more bytes arrive (or at a clean EOF,
        when ``eof`` is set and nothing is buffered). Raises :class:`HttpError`."""
        buf = self._buf
        scanned = self._scanned
        end = buf.find(b"\r\n\r\n", scanned - 3 if scanned > 3 else 0)
        if end < 0:
            # A request line alone ends with one CRLF and no header block.
            if buf.startswith(b"\r\n") or buf.startswith(b"\n"):
                raise HttpError(400, "malformed HTTP request")
            # From the last byte already seen: a CR that ended the previous read.
            if _BARE_LF.search(buf, scanned - 1 if scanned else 0):
                raise HttpError(400, "malformed HTTP request")
            self._scanned = len(buf)
            if len(buf) > self.max_head_size:
                line_end = buf.find(b"\r\n")
                if line_end < 0 or line_end > self.max_url_length:
                    raise HttpError(414, f"URL over {self.max_url_length} bytes")
                raise HttpError(431, f"request head over {self.max_head_size} bytes")
            if self.eof and buf:
                raise HttpError(400, "malformed HTTP request")
            return None
        head = bytes(buf[: end + 2])  # the last line keeps its CRLF
        del buf[: end + 4]
        self._scanned = 0
        return self._parse_head(head, end + 4)

    def _parse_head(self, head: bytes, size: int) -> RequestHead:
        line_end = head.find(b"\r\n")
        match = _REQUEST_LINE.fullmatch(head, 0, line_end)
        if match is None:
            if line_end > self.max_url_length:
                raise HttpError(414, f"URL over {self.max_url_length} bytes")
            raise HttpError(400, "malformed HTTP request")
        method, target, version = match.groups()
        if version != b"1.1" and version != b"1.0":
            raise HttpError(505, "HTTP version not supported")
        if len(target) > self.max_url_length:
            raise HttpError(414, f"URL over {self.max_url_length} bytes")
        if size > self.max_head_size:
            raise HttpError(431, f"request head over {self.max_head_size} bytes")
        start = line_end + 2
        if _FIELD_LINES.fullmatch(head, start) is None:
            raise HttpError(400, "malformed HTTP request")
        lines = head[start:-2].split(b"\r\n") if start < len(head) else []
        if len(lines) > self.max_headers:
            raise HttpError(431, f"more than {self.max_headers} header fields")
        headers: list[tuple[bytes, bytes]] = []
        length: bytes | None = None
        codings = 0
        unknown_coding = False
        hosts = 0
        keep_alive = version == b"1.1"
        expect_continue = False
        for line in lines:
            name, _, value = line.partition(b":")
            name = name.lower()
            value = value.strip(b" \t")
            headers.append((name, value))
            if name == b"content-length":
                length = _content_length(value, length)
            elif name == b"transfer-encoding":
                codings += 1
                unknown_coding = unknown_coding or value.lower() != b"chunked"
            elif name == b"host":
                hosts += 1
            elif name == b"connection" and b"close" in _comma_tokens(value):
                keep_alive = False
            elif name == b"expect" and version == b"1.1":
                # As Node: 100-continue is honoured, any other expectation refused (417);
                # HTTP/1.0 has no Expect and it is ignored there.
                if value.lower() != b"100-continue":
                    raise HttpError(417, "unsupported Expect")
                expect_continue = True
        if codings and length is not None:
            # RFC 9112 §6.3: the smuggling shape; refuse and close rather than guess.
            raise HttpError(400, "Content-Length together with Transfer-Encoding")
        if codings and version == b"1.0":
            # RFC 9112 §6.1: faulty framing in 1.0, whatever the coding says.
            raise HttpError(400, "Transfer-Encoding in HTTP/1.0")
        if codings > 1 or unknown_coding:
            raise HttpError(501, "unsupported Transfer-Encoding")
        if hosts > 1 or (hosts == 0 and version == b"1.1"):
            raise HttpError(400, "malformed HTTP request")
        chunked = codings == 1
        if chunked:
            self._framing = _CHUNK_HEAD
        elif length is not None and length != b"0":
            self._framing, self._left = _LENGTH, int(length)
        else:
            self._framing = _NO_BODY
        return RequestHead(method, target, version, headers, keep_alive, expect_continue)

    # ------------------------------------------------------------------ body

    def body_part(self) -> bytes | None:
        """Body bytes available now (maybe ``b""``), or ``None`` when more must arrive.

        ``body_done`` turns true once the whole body has been returned. Raises
        :class:`HttpError` on broken chunk framing or an EOF inside the body.
        """
        parts: list[bytes] = []
        buf = self._buf
        while True:
            framing = self._framing
            if framing == _NO_BODY:
                break
            if framing in (_LENGTH, _CHUNK_DATA):
                if not buf:
                    break
                take = min(self._left, len(buf))
                parts.append(bytes(buf[:take]))
                del buf[:take]
                self._left -= take
                if not self._left:
                    self._framing = _NO_BODY if framing == _LENGTH else _CHUNK_CRLF
            elif framing == _CHUNK_CRLF:
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise HttpError(400, "malformed request body")
                del buf[:2]
                self._framing = _CHUNK_HEAD
            else:  # _CHUNK_HEAD or _TRAILERS: one line
                line_end = buf.find(b"\r\n")
                # A trailer block has what is left of max_head_size (in _left) and
                # max_headers lines; a chunk-size line has _MAX_CHUNK_LINE.
                limit = _MAX_CHUNK_LINE if framing == _CHUNK_HEAD else self._left
                if line_end < 0 and len(buf) <= limit:
                    break
                if line_end < 0 or line_end > limit:
                    raise self._line_too_long(framing)
                line = bytes(buf[:line_end])
                del buf[: line_end + 2]
                if framing == _TRAILERS:
                    self._left -= line_end + 2
                    self._trailer_lines += 1
                    if not line:
                        self._framing = _NO_BODY
                    elif self._trailer_lines > self.max_headers:
                        raise HttpError(431, f"more than {self.max_headers} trailer fields")
                    elif _FIELD_LINES.fullmatch(line + b"\r\n") is None:
                        raise HttpError(400, "malformed request body")
                    continue
                match = _CHUNK_SIZE.fullmatch(line.rstrip(b" \t"))
                if match is None:
                    raise HttpError(400, "malformed request body")
                size = int(match.group(1), 16)
                if size:
                    self._framing, self._left = _CHUNK_DATA, size
                else:
                    self._framing, self._left, self._trailer_lines = (
                        _TRAILERS,
                        self.max_head_size,
                        0,
                    )
        if parts:
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if self._framing == _NO_BODY:
            return b""
        if self.eof:
            raise HttpError(400, "malformed request body")
        return None

    def _line_too_long(self, framing: int) -> HttpError:
        if framing == _CHUNK_HEAD:
            return HttpError(400, "malformed request body")
        return HttpError(431, f"trailers over {self.max_head_size} bytes")


def _content_length(value: bytes, seen: bytes | None) -> bytes:
    values = {item.strip(b" \t") for item in value.split(b",")}
    if len(values) != 1:
        raise HttpError(400, "malformed HTTP request")
    value = values.pop()
    if not value.isdigit() or not value.isascii() or len(value) > 20:
        raise HttpError(400, "malformed HTTP request")
    value = value.lstrip(b"0") or b"0"
    if seen is not None and seen != value:
        raise HttpError(400, "malformed HTTP request")
    return value


def _comma_tokens(value: bytes) -> list[bytes]:
    return [item.strip(b" \t").lower() for item in value.split(b",")]


# ---------------------------------------------------------------------- writing

_STATUS_LINES: dict[int, bytes] = {}
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")
_ENCODED: dict[tuple[str, str], bytes] = {}
_ENCODED_MAX = 512


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        line = f"HTTP/1.1 {status} {reason}\r\n".encode("ascii")
        _STATUS_LINES[status] = line
    return line


def header_is_valid(name: str, value: str) -> bool:
    """Whether a header can be written as it is: a token name and a value of visible ASCII
    with inner spaces or tabs only (nothing that could end the line or the head)."""
    return _HEADER_NAME.fullmatch(name) is not None and _HEADER_VALUE.fullmatch(value) is not None


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """Header lines as bytes; a name or value that could break the head raises ValueError
    (nothing from a handler may inject a line). Checked lines are remembered."""
    out = b""
    for pair in headers:
        line = _ENCODED.get(pair)
        if line is None:
            name, value = pair
            if not header_is_valid(name, value):
                raise ValueError(f"header {name!r} cannot be sent")
            line = f"{name}: {value}\r\n".encode("ascii")
            if len(_ENCODED) >= _ENCODED_MAX:
                _ENCODED.clear()
            _ENCODED[pair] = line
        out += line
    return out


def response_head(
    status: int,
    content_type: str | None,
    content_length: int | None,
    headers: list[tuple[str, str]] | None,
    close: bool,
) -> bytes:
    """A whole response head: status line, Content-Type, Content-Length, ``headers`` in
    order, ``Connection: close`` when ``close``, and the blank line."""
    head = _status_line(status)
    if content_type is not None:
        head += encode_headers([("Content-Type", content_type)])
    if content_length is not None:
        head += b"Content-Length: %d\r\n" % content_length
    if headers:
        head += encode_headers(headers)
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n"
