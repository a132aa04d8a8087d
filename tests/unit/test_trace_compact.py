"""The tracer's compact format: exact lines, time passed in.

The notation itself (:mod:`minisock.proto.wire_notation`) is checked with vectors; then the
tracer's entry points (``trace.packets``, ``frame``, ``payload``, ``closed``) are driven as the
transports drive them, and each record is formatted by :class:`CompactFormatter` with a fixed
start and a fixed ``created`` time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisock import trace
from minisock.proto import wire_notation as notation

EIO_SID = "AbCdEfGhIjKlMnOpQrStUv"
SIO_SID = "sio_sid_twenty_chars"
PROBE = notation.eio_notation


# ---------------------------------------------------------------- the notation


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ('0{"sid":"x","upgrades":[]}', 'OPEN {"sid":"x","upgrades":[]}'),
        ("1", "CLOSE"),
        ("2", "PING"),
        ("3probe", 'PONG "probe"'),
        ("5", "UPGRADE"),
        ("6", "NOOP"),
        ("4hello", 'MESSAGE "hello"'),
        ("4new\nline", 'MESSAGE "new\\nline"'),
        (b"\x01\x02\x03", "MESSAGE <3 bytes 01 02 03>"),
        ("bAQID", "MESSAGE <3 bytes 01 02 03> (base64)"),
        (bytes(range(20)), "MESSAGE <20 bytes 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f …>"),
        ("40", "CONNECT /"),
        ('40/admin,{"sid":"abc"}', 'CONNECT /admin {"sid":"abc"}'),
        ('42/admin,13["bar"]', 'EVENT /admin 13 ["bar"]'),
        ('431["HI"]', 'ACK / 1 ["HI"]'),
        ("41/admin,", "DISCONNECT /admin"),
        ('44{"message":"Invalid namespace"}', 'CONNECT_ERROR / {"message":"Invalid namespace"}'),
        (
            '451-3["up",{"_placeholder":true,"num":0}]',
            'BINARY_EVENT / 3 (1 attachment) ["up",<attachment 0>]',
        ),
        (
            '462-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
            'BINARY_ACK / (2 attachments) ["a",<attachment 0>,<attachment 1>]',
        ),
        ("x", 'invalid: "x"'),
        ("", "invalid: empty packet"),
        ("b!!", 'invalid: broken base64 "!!"'),
    ],
)
def test_each_packet_reads_once(wire: str | bytes, expected: str) -> None:
    assert PROBE(wire) == expected


def test_a_binary_reader_turns_msgpack_into_its_packet() -> None:
    def reader(data: bytes) -> str | None:
        return 'EVENT / ["hi"]' if data == b"\x81" else None

    assert PROBE(b"\x81", reader) == 'EVENT / ["hi"] (msgpack)'
    assert PROBE("bgQ==", reader) == 'EVENT / ["hi"] (msgpack, base64)'
    assert PROBE(b"\x82", reader) == "MESSAGE <1 bytes 82>"


def test_close_frames_carry_their_reason() -> None:
    assert notation.close_notation(1000, "transport close") == 'close frame 1000 "transport close"'
    assert notation.close_notation(1005, "") == "close frame 1005"
    assert notation.close_notation(None, "") == "close frame"


def test_a_line_has_offset_direction_transport_ids_and_packet() -> None:
    line = notation.compact_line(
        0.012, "C→S", "websocket", ("eio#1", "sio#1"), 'EVENT /admin 13 ["bar"]'
    )
    assert line == '  +0.012s C→S websocket eio#1  sio#1  EVENT /admin 13 ["bar"]'
    assert notation.compact_line(None, "S→C", "polling", ("", ""), "NOOP") == (
        "S→C polling   -             NOOP"
    )


def test_long_payloads_are_cut_to_the_width() -> None:
    text = 'EVENT / ["' + "x" * 300 + '"]'
    assert notation.elide(text, 40) == 'EVENT / ["xxxxxxxxxxxxxxxxxxxxxxx…(+279)'
    line = notation.compact_line(1.5, "S→C", "polling", ("eio#1", ""), text, width=40)
    assert line == '  +1.500s S→C polling   eio#1         EVENT / ["xxxxxxxxxxxxxxxxxxxxxxx…(+279)'


@given(st.text(max_size=400), st.integers(min_value=12, max_value=300))
def test_an_elided_text_never_exceeds_the_width(text: str, width: int) -> None:
    cut = notation.elide(text, width)
    assert len(cut) <= width
    if len(text) <= width:
        assert cut == text
    else:
        kept = cut[: cut.rindex("…(+")]
        assert text.startswith(kept)
        assert cut.endswith(f"(+{len(text) - len(kept)})")


# ---------------------------------------------------------------- the tracer, end to end


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[_Records]:
    handler = _Records()
    wire = logging.getLogger("minisock.wire")
    saved = wire.level, wire.propagate
    wire.addHandler(handler)
    wire.setLevel(logging.DEBUG)
    wire.propagate = False
    trace.forget_aliases()
    try:
        yield handler
    finally:
        wire.removeHandler(handler)
        wire.setLevel(saved[0])
        wire.propagate = saved[1]
        trace.configure(show_sids=False)
        trace.forget_aliases()


def compact(records: list[logging.LogRecord], width: int = notation.DEFAULT_WIDTH) -> list[str]:
    """Each record as the compact handler prints it, at 10 ms intervals after the start."""
    formatter = trace.CompactFormatter(start=1000.0, width=width)
    shown = [r for r in records if r.wire.packet is not None]  # type: ignore[attr-defined]
    for number, record in enumerate(shown):
        record.created = 1000.0 + (number + 1) / 100
    return [formatter.format(record) for record in shown]


def a_session(eio_sid: str = EIO_SID) -> None:
    trace.emit(trace.C2S, "http", None, "GET /socket.io/?EIO=4&transport=polling", "HTTP request")
    trace.payload(trace.S2C, eio_sid, f'0{{"sid":"{eio_sid}","upgrades":["websocket"]}}')
    trace.payload(trace.C2S, eio_sid, '40/admin,{"token":"secret"}')
    trace.payload(trace.S2C, eio_sid, f'40/admin,{{"sid":"{SIO_SID}"}}\x1e42/admin,["hi"]')
    trace.raw_bytes(trace.C2S, eio_sid, b"\x81\x85", "frame bytes, masked")
    trace.packets(trace.C2S, "websocket", eio_sid, ['42/admin,13["bar"]'])
    trace.frame(trace.S2C, eio_sid, b"\x81\x0c", '43/admin,13["BAR"]')
    trace.emit(trace.S2C, "websocket", eio_sid, "close 1000", "transport close")
    trace.closed(eio_sid, "websocket", "transport close")


def test_login_fields_are_redacted_like_tokens(captured: _Records) -> None:
    """The admin UI logs in with a password in its CONNECT payload: never shown."""
    trace.payload(
        trace.C2S, EIO_SID, '40/admin,{"username":"john","password":"changeit","apiKey":"k1"}'
    )
    lines = compact(captured.records)
    assert lines == [
        "  +0.010s C→S polling   eio#1         CONNECT /admin "
        '{"username":"john","password":"<redacted>","apiKey":"<redacted>"}'
    ]
    assert "changeit" not in repr([r.__dict__ for r in captured.records])


def test_one_compact_line_per_packet_with_aliases(captured: _Records) -> None:
    a_session()
    assert compact(captured.records) == [
        "  +0.010s C→S http      -             GET /socket.io/?EIO=4&transport=polling",
        '  +0.020s S→C polling   eio#1         OPEN {"sid":"<eio#1>","upgrades":["websocket"]}',
        '  +0.030s C→S polling   eio#1         CONNECT /admin {"token":"<redacted>"}',
        '  +0.040s S→C polling   eio#1  sio#1  CONNECT /admin {"sid":"<sio#1>"}',
        '  +0.050s S→C polling   eio#1  sio#1  EVENT /admin ["hi"]',
        '  +0.060s C→S websocket eio#1  sio#1  EVENT /admin 13 ["bar"]',
        '  +0.070s S→C websocket eio#1  sio#1  ACK /admin 13 ["BAR"]',
        '  +0.080s S→C websocket eio#1         close frame 1000 "transport close"',
        '  +0.090s --- websocket eio#1         session closed "transport close"',
    ]
    text = "\n".join(compact(captured.records)) + repr([r.__dict__ for r in captured.records])
    assert EIO_SID not in text
    assert SIO_SID not in text
    assert "secret" not in text


def test_show_sids_shows_both_real_ids(captured: _Records) -> None:
    trace.configure(show_sids=True)
    a_session()
    lines = compact(captured.records, width=60)
    assert lines[3] == (
        f'  +0.040s S→C polling   {EIO_SID} {SIO_SID} CONNECT /admin {{"sid":"{SIO_SID}"}}'
    )
    assert lines[5] == f'  +0.060s C→S websocket {EIO_SID} {SIO_SID} EVENT /admin 13 ["bar"]'


def test_the_full_format_keeps_the_long_form(captured: _Records) -> None:
    """``--trace-format full`` prints each record's message: raw bytes, then the meaning."""
    a_session()
    messages = [record.getMessage() for record in captured.records]
    assert messages[3] == (
        'S→C polling   eio#1 40/admin,{"sid":"<sio#1>"}\\x1e42/admin,["hi"]    payload of 2 packets'
    )
    assert messages[7] == (
        'C→S websocket eio#1 42/admin,13["bar"]    message "2/admin,13[\\"bar\\"]" = '
        'Socket.IO EVENT /admin, ack id 13 ["bar"]'
    )
    assert len(messages) == len(compact(captured.records)) + 2  # the bytes and the summary
