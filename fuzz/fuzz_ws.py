"""atheris harness: the RFC 6455 frame parser (``FrameParser``), fed bytes in random pieces.

Contract: any byte stream yields events or ``WebSocketProtocolError`` with close code 1002,
1007 or 1009; after the error every later call raises the same error; after a Close frame the
parser is done. How the bytes were split never changes the events, and no message is bigger
than the limit.
"""

from __future__ import annotations

from itertools import pairwise

from _harness import Reader, instrumented, main

with instrumented("minisock"):
    from minisock.errors import WebSocketProtocolError
    from minisock.proto.ws import (
        BinaryMessage,
        CloseReceived,
        FrameParser,
        Ping,
        Pong,
        TextMessage,
        WsEvent,
        encode_client_frame,
        is_valid_close_code,
    )

Outcome = tuple[list[WsEvent], int | None]


def _run(stream: bytes, cuts: list[int], max_size: int, max_fragments: int) -> Outcome:
    parser = FrameParser(max_message_size=max_size, max_fragments=max_fragments)
    events: list[WsEvent] = []
    bounds = [0, *sorted(cuts), len(stream)]
    for start, end in pairwise(bounds):
        parser.receive_data(stream[start:end])
        try:
            while (event := parser.next_event()) is not None:
                events.append(event)
        except WebSocketProtocolError as exc:
            assert exc.close_code in (1002, 1007, 1009), exc.close_code
            try:
                parser.next_event()
            except WebSocketProtocolError as again:
                assert again is exc
            else:
                raise AssertionError("the parser went on after an error") from None
            parser.receive_data(b"\x81\x80\x00\x00\x00\x00")  # ignored, and still failed
            try:
                parser.next_event()
            except WebSocketProtocolError:
                pass
            else:
                raise AssertionError("the parser went on after an error") from None
            return events, exc.close_code
    return events, None


def _check_events(events: list[WsEvent], max_size: int) -> None:
    for i, event in enumerate(events):
        if isinstance(event, TextMessage):
            assert len(event.data.encode("utf-8", "surrogatepass")) <= max_size
            event.data.encode("utf-8")  # valid UTF-8: no lone surrogates
        elif isinstance(event, BinaryMessage):
            assert len(event.data) <= max_size
        elif isinstance(event, Ping | Pong):
            assert len(event.payload) <= 125
        else:
            assert isinstance(event, CloseReceived)
            assert event.code is None or is_valid_close_code(event.code)
            assert i == len(events) - 1, "an event after Close"


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    max_size = (16, 125, 200, 4096, 70_000, 1_000_000)[reader.below(6)]
    max_fragments = 1 + reader.below(16)
    cuts = [reader.below(1 << 16) for _ in range(reader.below(6))]
    build = reader.flag()
    if build:
        # Assemble frames from (header byte, mask?, payload) so lengths are right more often.
        stream = b""
        while not reader.exhausted:
            b0 = reader.byte()
            masked = reader.byte() & 7 != 0  # mostly masked, as clients must
            payload = reader.sized(300 if reader.flag() else 20)
            if masked:
                key = reader.take(4).ljust(4, b"\0")
                fin, rsv = bool(b0 & 0x80), (b0 >> 4) & 7
                stream += encode_client_frame(b0 & 0x0F, payload, key, fin=fin, rsv=rsv)
            else:
                stream += bytes((b0, len(payload) & 0x7F)) + payload[: len(payload) & 0x7F]
    else:
        stream = reader.rest()
    cuts = [c % (len(stream) + 1) for c in cuts]
    events, code = _run(stream, cuts, max_size, max_fragments)
    _check_events(events, max_size)
    whole = _run(stream, [], max_size, max_fragments)
    assert (events, code) == whole, "the split changed the outcome"


def _frame(b0: int, payload: bytes) -> bytes:
    return bytes([b0, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


# Raw streams: limit 4096 bytes, 9 fragments, no cuts, not built.
_RAW = b"\x03\x08\x00\x00"
SEEDS = [
    _RAW + _frame(0x81, b"hello"),
    _RAW + _frame(0x01, b"hel") + _frame(0x89, b"") + _frame(0x80, b"lo"),
    _RAW + _frame(0x82, b"\x00\x01") + _frame(0x88, b"\x03\xe8bye"),
    _RAW + _frame(0x01, b"\xed\xa0") + _frame(0x80, b"\x80"),
    _RAW + bytes([0x82, 0xFE, 0x00, 0x7E]) + b"\0\0\0\0" + b"x" * 126,
    # built: one masked text frame "hi" then an unmasked one
    b"\x03\x08\x02\x05\x09\x01\x81\x01\x00\x02hi\x01\x02\x03\x04\x81\x00\x00\x03abc",
]

if __name__ == "__main__":
    main("ws", test_one_input, SEEDS)
