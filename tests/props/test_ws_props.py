"""Properties of the RFC 6455 frame codec (Hypothesis).

Round trips of client frames, independence from how bytes are split, from how a message is
fragmented, and the fuzz contract: any input yields events or WebSocketProtocolError, never
any other exception.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.errors import WebSocketProtocolError
from minisock.proto.ws import (
    BinaryMessage,
    CloseReceived,
    FrameParser,
    Opcode,
    Ping,
    Pong,
    TextMessage,
    WsEvent,
    encode_client_frame,
    is_valid_close_code,
    mask_bytes,
)

# Payloads go up to 70 000 bytes in places, so the default deadline would be flaky on a busy box.
SETTINGS = settings(deadline=None)

keys = st.binary(min_size=4, max_size=4)
close_codes = st.integers(1000, 4999).filter(is_valid_close_code)
# A reason whose UTF-8 fits the 123 bytes a close body leaves for it.
reasons = st.text(max_size=30).filter(lambda r: len(r.encode("utf-8")) <= 123)


@st.composite
def messages(draw: st.DrawFn) -> tuple[Opcode, bytes, WsEvent]:
    """One single-frame message of any kind: (opcode, payload, the event it must parse to)."""
    kind = draw(st.sampled_from(["text", "binary", "big", "ping", "pong", "close", "close0"]))
    if kind == "text":
        text = draw(st.text(max_size=300))
        return Opcode.TEXT, text.encode("utf-8"), TextMessage(text)
    if kind == "binary":
        data = draw(st.binary(max_size=300))
        return Opcode.BINARY, data, BinaryMessage(data)
    if kind == "big":
        # Reach the 16- and 64-bit length forms, and their edges, without drawing 64 KiB.
        edges = st.sampled_from([125, 126, 127, 65535, 65536, 65537])
        size = draw(st.one_of(edges, st.integers(126, 70_000)))
        data = (draw(st.binary(min_size=1, max_size=16)) * size)[:size]
        return Opcode.BINARY, data, BinaryMessage(data)
    if kind in ("ping", "pong"):
        payload = draw(st.binary(max_size=125))
        if kind == "ping":
            return Opcode.PING, payload, Ping(payload)
        return Opcode.PONG, payload, Pong(payload)
    if kind == "close0":
        return Opcode.CLOSE, b"", CloseReceived(None, "")
    code, reason = draw(close_codes), draw(reasons)
    body = code.to_bytes(2, "big") + reason.encode("utf-8")
    return Opcode.CLOSE, body, CloseReceived(code, reason)


def parse(data: bytes, **options: int) -> list[WsEvent]:
    parser = FrameParser(**options)
    parser.receive_data(data)
    return parser.events()


def feed_in_pieces(data: bytes, cuts: list[int], **options: int) -> list[WsEvent]:
    parser = FrameParser(**options)
    events: list[WsEvent] = []
    bounds = [0, *sorted(cuts), len(data)]
    for start, end in pairwise(bounds):
        parser.receive_data(data[start:end])
        events += parser.events()
    return events


def naive_mask(data: bytes, key: bytes) -> bytes:
    """The RFC 6455 §5.3 definition, byte by byte: j = i MOD 4, octet ^ key[j]."""
    return bytes(octet ^ key[i % 4] for i, octet in enumerate(data))


@SETTINGS
@given(messages(), keys)
def test_client_frame_round_trip(message: tuple[Opcode, bytes, WsEvent], key: bytes) -> None:
    opcode, payload, event = message
    assert parse(encode_client_frame(opcode, payload, key)) == [event]


@SETTINGS
@given(st.lists(st.tuples(messages(), keys), max_size=8), st.data())
def test_any_split_gives_the_same_events(
    frames: list[tuple[tuple[Opcode, bytes, WsEvent], bytes]], data: st.DataObject
) -> None:
    stream = b"".join(encode_client_frame(op, payload, key) for (op, payload, _), key in frames)
    whole = parse(stream)
    expected: list[WsEvent] = []
    for (_, _, event), _key in frames:
        expected.append(event)
        if isinstance(event, CloseReceived):
            break  # nothing after a Close is parsed
    assert whole == expected
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    assert feed_in_pieces(stream, cuts) == whole


@SETTINGS
@given(
    st.one_of(st.text(max_size=200).map(str.encode), st.binary(max_size=2000)),
    st.booleans(),
    st.data(),
)
def test_any_fragmentation_gives_the_same_message(
    payload: bytes, as_text: bool, data: st.DataObject
) -> None:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        as_text = False
    expected = TextMessage(text) if as_text else BinaryMessage(payload)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=10), label="cuts"))
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in pairwise(bounds)]
    stream = b""
    pings: list[WsEvent] = []
    for i, piece in enumerate(pieces):
        opcode = (Opcode.TEXT if as_text else Opcode.BINARY) if i == 0 else Opcode.CONTINUATION
        key = data.draw(keys, label="key")
        stream += encode_client_frame(opcode, piece, key, fin=i == len(pieces) - 1)
        if i < len(pieces) - 1 and data.draw(st.booleans(), label="ping here"):
            stream += encode_client_frame(Opcode.PING, bytes([i]), key)
            pings.append(Ping(bytes([i])))
    assert parse(stream) == [*pings, expected]


def must_not_crash(stream: bytes, cuts: list[int]) -> None:
    """The fuzz contract: events, None, or WebSocketProtocolError; nothing else."""
    try:
        feed_in_pieces(stream, cuts, max_message_size=4096, max_fragments=8)
    except WebSocketProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_garbage_only_raises_protocol_errors(garbage: bytes, cuts: list[int]) -> None:
    must_not_crash(garbage, [c for c in cuts if c <= len(garbage)])


@SETTINGS
@given(st.lists(st.tuples(messages(), keys), min_size=1, max_size=4), st.data())
def test_corrupted_streams_only_raise_protocol_errors(
    frames: list[tuple[tuple[Opcode, bytes, WsEvent], bytes]], data: st.DataObject
) -> None:
    # Garbage rarely gets past the first header; corrupting valid frames reaches deeper states.
    stream = bytearray(
        b"".join(
            encode_client_frame(op, payload[:300], key, fin=data.draw(st.booleans()))
            for (op, payload, _), key in frames
        )
    )
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        at = data.draw(st.integers(0, len(stream) - 1), label="at")
        stream[at] = data.draw(st.integers(0, 255), label="byte")
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6), label="cuts")
    must_not_crash(bytes(stream), cuts)


@SETTINGS
@given(st.binary(max_size=5000), keys)
def test_mask_bytes_matches_the_rfc_definition(payload: bytes, key: bytes) -> None:
    masked = mask_bytes(payload, key)
    assert masked == naive_mask(payload, key)
    assert mask_bytes(masked, key) == payload
