"""proto/http1.py against h11 as the oracle (hypothesis).

- Well-formed requests (CRLF lines, token names, printable values, Content-Length or chunked
  bodies, pipelined, fed in random pieces): both parsers read the same requests, fields,
  bodies and keep-alive, or both refuse (h11 with minisock's former checks on top: 505 for a
  version other than 1.0/1.1, 400 for Content-Length beside Transfer-Encoding or for
  Transfer-Encoding in HTTP/1.0).
- Any bytes (well-formed requests with random bytes inserted, or random bytes): whatever
  proto/http1.py accepts, h11 accepts and reads the same way. It may refuse more (bare LF,
  obs-fold, control bytes), never less.
- Request targets: the hand-split path and query of ``minisock.request`` equal urllib's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.proto.http1 import HttpError, RequestReader
from minisock.request import _split_target

Parsed = tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]], bytes, bool]
ERROR = "error"

_TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FRAMING = (b"content-length", b"transfer-encoding")


def _comparable(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    # h11 rewrites the framing headers (dedups Content-Length, lowercases the coding).
    return [(n, v) for n, v in headers if n not in _FRAMING]


def h11_parse(data: bytes) -> list[Parsed | str]:
    """What h11 (plus minisock's former checks) reads from ``data`` followed by EOF."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    conn.receive_data(b"")
    out: list[Parsed | str] = []
    current: list[Any] = []
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            out.append(ERROR)
            return out
        if isinstance(event, h11.Request):
            names = {n for n, _ in event.headers}
            if (
                event.http_version not in (b"1.0", b"1.1")
                or (b"content-length" in names and b"transfer-encoding" in names)
                or (event.http_version == b"1.0" and b"transfer-encoding" in names)
            ):
                out.append(ERROR)
                return out
            headers = _comparable([(n, v) for n, v in event.headers])
            current = [event.method, event.target, event.http_version, headers, b""]
        elif isinstance(event, h11.Data):
            current[4] += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            keep_alive = conn.our_state is h11.DONE  # not MUST_CLOSE: no close, not 1.0
            out.append((*current, keep_alive))
            if not keep_alive:
                return out
            conn.start_next_cycle()
        else:  # NEED_DATA cannot happen after EOF; ConnectionClosed or PAUSED end it
            return out


def mine_parse(data: bytes, cuts: list[int]) -> list[Parsed | str]:
    """What proto/http1.py reads from ``data`` fed in pieces at ``cuts``, then EOF."""
    reader = RequestReader(max_head_size=1 << 20, max_url_length=1 << 20, max_headers=10_000)
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    pieces = [piece for piece in pieces if piece]
    pieces.append(b"")  # EOF
    out: list[Parsed | str] = []
    head = None
    body = b""
    try:
        for piece in pieces:
            reader.feed(piece)
            while True:
                if head is None:
                    head = reader.next_head()
                    if head is None:
                        break
                    body = b""
                part = reader.body_part()
                if part is None:
                    break
                body += part
                if reader.body_done:
                    headers = _comparable(head.headers)
                    parsed = (head.method, head.target, head.http_version, headers, body)
                    out.append((*parsed, head.keep_alive))
                    if not head.keep_alive:
                        return out
                    head = None
    except HttpError:
        out.append(ERROR)
    return out


token = st.text(_TOKEN_CHARS, min_size=1, max_size=8).map(str.encode)
value = st.binary(max_size=12).map(
    lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E or c >= 0x80 or c in (0x20, 0x09)).strip()
)
target = st.text(
    "abcdefghijklmnopqrstuvwxyz0123456789/?&=%._~-:@!$'()*+,;", min_size=1, max_size=20
).map(lambda t: b"/" + t.encode())


@st.composite
def request(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"OPTIONS", b"HEAD", b"X-Y"]))
    version = draw(st.sampled_from([b"1.1"] * 6 + [b"1.0", b"2.0"]))
    headers = draw(
        st.lists(
            st.tuples(token, value).filter(lambda h: h[0].lower() not in (b"upgrade", *_FRAMING)),
            max_size=4,
        )
    )
    hosts = draw(st.sampled_from([1] * 8 + [0, 2]))
    headers += [(b"Host", b"example")] * hosts
    if draw(st.booleans()):
        headers.append((b"Connection", draw(st.sampled_from([b"close", b"keep-alive"]))))
    body = draw(st.binary(max_size=20))
    framing = draw(st.sampled_from(["none", "length", "chunked"] * 3 + ["both"]))
    raw = b""
    if framing in ("length", "both"):
        headers.append((b"Content-Length", str(len(body)).encode()))
        raw = body
    if framing in ("chunked", "both"):
        headers.append((b"Transfer-Encoding", b"chunked"))
        sizes = draw(st.lists(st.integers(1, 7), max_size=4))
        raw, rest = b"", body
        for size in sizes:
            chunk, rest = rest[:size], rest[size:]
            if chunk:
                raw += b"%x\r\n%s\r\n" % (len(chunk), chunk)
        raw += b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest) if rest else b"0\r\n\r\n"
    headers = draw(st.permutations(headers))
    ows = st.sampled_from([b"", b" ", b"\t "])
    lines = b"".join(n + b":" + draw(ows) + v + draw(ows) + b"\r\n" for n, v in headers)
    return method + b" " + draw(target) + b" HTTP/" + version + b"\r\n" + lines + b"\r\n" + raw


@given(st.lists(request(), min_size=1, max_size=3), st.data())
@settings(max_examples=600, deadline=None)
def test_well_formed_requests_read_as_h11_reads_them(
    requests: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(requests)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    assert mine_parse(stream, cuts) == h11_parse(stream)


@given(st.lists(request(), min_size=1, max_size=2), st.data())
@settings(max_examples=600, deadline=None)
def test_mangled_bytes_are_never_read_more_leniently_than_h11(
    requests: list[bytes], data: st.DataObject
) -> None:
    stream = bytearray(b"".join(requests))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(stream)))
        stream[at:at] = data.draw(
            st.sampled_from(
                [
                    b"\n",
                    b"\r",
                    b"\r\n",
                    b" ",
                    b"\t",
                    b"\x00",
                    b"\x01",
                    b"\x7f",
                    b":",
                    b",",
                    b"0",
                    b"\r\n ",
                    b"\xff",
                    b";",
                ]
            )
        )
    mine = mine_parse(bytes(stream), [])
    theirs = h11_parse(bytes(stream))
    accepted = [p for p in mine if p != ERROR]
    assert accepted == theirs[: len(accepted)], (bytes(stream), mine, theirs)


@given(st.binary(max_size=200))
@settings(max_examples=1000, deadline=None)
def test_random_bytes_are_never_read_more_leniently_than_h11(stream: bytes) -> None:
    mine = mine_parse(stream, [])
    accepted = [p for p in mine if p != ERROR]
    assert accepted == h11_parse(stream)[: len(accepted)]


def _urllib_split(target: str) -> tuple[str, dict[str, str]] | str:
    try:
        parts = urlsplit(target)
        query: dict[str, str] = {}
        for key, item in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(key, item)
    except ValueError:
        return "ValueError"
    return parts.path, query


@given(st.text("/?&=#%+ab:.-_~;!$'()*,@[]", max_size=30))
@settings(max_examples=2000, deadline=None)
def test_request_targets_split_as_urllib_splits_them(target: str) -> None:
    """Request splits plain origin-form targets by hand: the same path and query."""
    try:
        mine: tuple[str, dict[str, str]] | str = _split_target(target)
    except ValueError:
        mine = "ValueError"
    assert mine == _urllib_split(target)
