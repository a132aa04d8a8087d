"""proto/http1.py byte vectors: request heads and bodies in, response heads out, and every
refusal with its status (RFC 9112; the hostile shapes of tests/security, one layer down)."""

from __future__ import annotations

import re

import pytest

from minisock.proto import http1
from minisock.proto.http1 import (
    HttpError,
    RequestHead,
    RequestReader,
    header_is_valid,
    response_head,
)

HOST = b"Host: x\r\n"


def reader(**limits: int) -> RequestReader:
    return RequestReader(**limits)


def head_of(data: bytes, **limits: int) -> RequestHead:
    r = reader(**limits)
    r.feed(data)
    head = r.next_head()
    assert head is not None
    return head


def refusal(data: bytes, *, eof: bool = False, **limits: int) -> tuple[int, str]:
    r = reader(**limits)
    r.feed(data)
    if eof:
        r.feed(b"")
    with pytest.raises(HttpError) as info:
        r.next_head()
        while not r.body_done:  # a body refusal shows on reading it
            if r.body_part() is None:
                r.feed(b"")
    return info.value.status, info.value.message


def whole_body(r: RequestReader) -> bytes:
    parts = []
    while not r.body_done:
        part = r.body_part()
        assert part is not None, "the body needs more bytes than the vector has"
        parts.append(part)
    return b"".join(parts)


def test_a_polling_get_is_parsed() -> None:
    data = (
        b"GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\n"
        b"Host: 127.0.0.1:3000\r\nAccept: */*\r\nX-Mixed-Case:  spaced value \t\r\n\r\n"
    )
    head = head_of(data)
    assert head.method == b"GET"
    assert head.target == b"/socket.io/?EIO=4&transport=polling&sid=abc"
    assert head.http_version == b"1.1"
    assert head.headers == [
        (b"host", b"127.0.0.1:3000"),
        (b"accept", b"*/*"),
        (b"x-mixed-case", b"spaced value"),
    ]
    assert head.keep_alive


def test_a_head_split_anywhere_waits_for_the_rest() -> None:
    data = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    for cut in range(len(data)):
        r = reader()
        r.feed(data[:cut])
        head = r.next_head()
        r.feed(data[cut:])
        if head is None:
            head = r.next_head()
        assert head is not None and head.method == b"POST"
        assert whole_body(r) == b"hello"


class _CountingSearch:
    """Stands in for the bare-LF pattern and counts the bytes each search looks at."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self.scanned = 0

    def search(self, buf: bytearray, pos: int = 0) -> re.Match[bytes] | None:
        self.scanned += len(buf) - pos
        return self.pattern.search(buf, pos)


def test_a_head_trickled_byte_by_byte_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Review F2: rescanning the whole buffer on each read made a trickled head quadratic.
    counting = _CountingSearch(http1._BARE_LF)
    monkeypatch.setattr(http1, "_BARE_LF", counting)
    data = b"GET /x HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 8000 + b"\r\n\r\n"
    r = reader()
    for i in range(len(data) - 1):
        r.feed(data[i : i + 1])
        assert r.next_head() is None
    r.feed(data[-1:])
    assert r.next_head() is not None
    assert counting.scanned <= 2 * len(data)


@pytest.mark.parametrize("bad", [b"\rX", b"\r\n\rX"])
def test_a_bare_cr_split_across_reads_is_refused(bad: bytes) -> None:
    r = reader()
    r.feed(b"GET / HTTP/1.1\r\nHost: x" + bad[:-1])
    assert r.next_head() is None
    r.feed(bad[-1:])
    with pytest.raises(HttpError):
        r.next_head()


def test_pipelined_requests_come_out_one_by_one() -> None:
    one = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
    two = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    r = reader()
    r.feed(one + two)
    first = r.next_head()
    assert first is not None and first.target == b"/a"
    assert whole_body(r) == b"ok"
    assert r.has_buffered
    second = r.next_head()
    assert second is not None and second.target == b"/b" and r.body_done
    assert r.next_head() is None and not r.has_buffered


def test_chunked_body_with_extensions_and_trailers() -> None:
    r = reader()
    r.feed(
        b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"4;ext=1\r\n4one\r\n3 \r\n4tw\r\n0\r\nX-Trailer: t\r\n\r\nGET"
    )
    assert r.next_head() is not None
    assert whole_body(r) == b"4one4tw"
    assert r.take_buffered() == b"GET"


def test_connection_close_and_http_1_0_do_not_keep_alive() -> None:
    assert not head_of(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n"
    ).keep_alive
    assert not head_of(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    assert head_of(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n").keep_alive


def test_expect_100_continue_is_flagged_in_http_1_1_only() -> None:
    # Review F7: as Node, which ignores Expect in HTTP/1.0.
    post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n"
    assert head_of(post).expect_continue
    assert not head_of(post.replace(b"1.1", b"1.0")).expect_continue
    assert not head_of(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect_continue


def test_a_clean_eof_between_requests_is_no_error() -> None:
    r = reader()
    r.feed(b"")
    assert r.next_head() is None and r.eof


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="leading-empty-line"),
        pytest.param(b"GET / HTTP/1.1\nHost: x\n\n", 400, id="bare-lf"),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: foo\r\n\r\nx",
            417,
            id="unknown-expectation",
        ),
        pytest.param(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
            id="transfer-encoding-in-1.0",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", 400, id="bare-cr"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", 400, id="obs-fold"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nBad : x\r\n\r\n", 400, id="space-before-colon"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nA: b\x01c\r\n\r\n", 400, id="control-byte"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nA: b\x00\r\n\r\n", 400, id="nul"),
        pytest.param(b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="del-in-target"),
        pytest.param(b"GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400, id="illegal-request-line"),
        pytest.param(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="two-spaces"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing-host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
        pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, id="http-9.9"),
        pytest.param(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, id="http-2.0"),
        pytest.param(
            HOST.join([b"POST / HTTP/1.1\r\n", b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n"]),
            400,
            id="conflicting-cl",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400, id="cl-list"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, id="cl-negative"
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"1" * 22 + b"\r\n\r\n",
            400,
            id="cl-10^21",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xd9\xa3\r\n\r\n",
            400,
            id="cl-non-ascii",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            400,
            id="cl-and-te",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 6\r\n\r\n",
            400,
            id="cl-and-unknown-te",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            501,
            id="unknown-te",
        ),
        pytest.param(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            501,
            id="te-twice",
        ),
    ],
)
def test_refused_heads(data: bytes, status: int) -> None:
    assert refusal(data)[0] == status


def test_refusals_never_quote_the_request() -> None:
    status, message = refusal(b"GET /?sid=SECRET HTTP/1.1\r\nHost: x\r\nA: SECRET\x01\r\n\r\n")
    assert status == 400 and "SECRET" not in message


@pytest.mark.parametrize(
    ("data", "status"),
    [
        pytest.param(b"GET /" + b"u" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, id="long-url"),
        pytest.param(b"GET /" + b"u" * 600, 414, id="long-url-incomplete"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 600 + b"\r\n\r\n", 431, id="big-head"
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 600, 431, id="big-incomplete"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: v\r\n" * 10 + b"\r\n", 431, id="count"
        ),
    ],
)
def test_limits(data: bytes, status: int) -> None:
    assert refusal(data, max_head_size=512, max_url_length=256, max_headers=8)[0] == status


def test_a_head_at_the_limits_is_accepted() -> None:
    data = b"GET /" + b"u" * 255 + b" HTTP/1.1\r\nHost: x\r\n" + b"X: v\r\n" * 7 + b"\r\n"
    assert len(data) <= 512
    assert head_of(data, max_head_size=512, max_url_length=256, max_headers=8).method == b"GET"


def test_an_eof_inside_a_head_or_a_body_is_malformed() -> None:
    assert refusal(b"GET / HTTP/1.1\r\nHo", eof=True)[0] == 400
    assert (
        refusal(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n4ab", eof=True)[0] == 400
    )


@pytest.mark.parametrize(
    "body",
    [
        b"6\r\n4helloXX0\r\n\r\n",
        b"6\r\n4hello\n0\r\n\r\n",
        b"zz\r\n4hello\r\n0\r\n\r\n",
        b"-1\r\n",
        b"1" * 2000,
        b"0\r\nBad : trailer\r\n\r\n",
        b"11111111111111111\r\n",
        b"1;" + b"e" * 2000 + b"\r\nx\r\n0\r\n\r\n",
    ],
    ids=[
        "two-bytes-instead-of-crlf",
        "lf-instead-of-crlf",
        "bad-chunk-size",
        "negative",
        "endless-size-line",
        "bad-trailer",
        "size-over-16-digits",
        "long-size-line-in-one-read",
    ],
)
def test_bad_chunk_framing(body: bytes) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, message = refusal(head + body)
    assert (status, message) == (400, "malformed request body")


CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"


@pytest.mark.parametrize(
    ("trailers", "message"),
    [
        (b"A: b\r\n" * 101, "more than 100 trailer fields"),
        (b"A: " + b"b" * 17_000 + b"\r\n\r\n", "trailers over 16384 bytes"),
        (b"A: " + b"b" * 17_000, "trailers over 16384 bytes"),
        (
            b"A: " + b"b" * 9000 + b"\r\nB: " + b"b" * 9000 + b"\r\n\r\n",
            "trailers over 16384 bytes",
        ),
    ],
    ids=["too-many", "one-long-line", "one-long-unfinished-line", "long-in-total"],
)
def test_trailers_are_bounded_like_a_head(trailers: bytes, message: str) -> None:
    # Review F6: trailer lines were neither counted nor limited.
    assert refusal(CHUNKED + trailers) == (431, message)


def test_trailers_within_the_limits_are_accepted() -> None:
    r = reader()
    r.feed(CHUNKED + b"A: b\r\n" * 99 + b"B: " + b"b" * 15_000 + b"\r\n\r\n")
    assert r.next_head() is not None
    assert whole_body(r) == b"abc" and r.body_done


def test_response_heads() -> None:
    assert response_head(
        200, "text/plain; charset=UTF-8", 2, [("Cache-Control", "no-store")], False
    ) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 2\r\n"
        b"Cache-Control: no-store\r\n\r\n"
    )
    assert response_head(204, None, None, None, True) == (
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    )
    assert response_head(599, None, 0, None, False) == b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "header",
    [("X", "a\r\nInjected: 1"), ("X", "a\nb"), ("X", "nul\x00"), ("Bad Name", "v"), ("X", "é")],
)
def test_a_header_that_could_break_the_head_is_never_written(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        response_head(200, None, 0, [header], False)


def test_header_is_valid_is_the_writer_s_rule() -> None:
    assert header_is_valid("X-Trace", "a b\tc")
    assert header_is_valid("X-Empty", "")
    for name, value in [("X", " lead"), ("X", "trail "), ("X", "é"), ("X Y", "v"), ("", "v")]:
        assert not header_is_valid(name, value)
        with pytest.raises(ValueError):
            response_head(200, None, 0, [(name, value)], False)
