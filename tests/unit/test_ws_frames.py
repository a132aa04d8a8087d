"""RFC 6455 frames: every vector of ``tests/vectors/ws_frames.json`` both ways and split at
every byte, then one test per rule of :class:`minisock.proto.ws.FrameParser`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

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
    encode_binary,
    encode_client_frame,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
    is_valid_close_code,
    mask_bytes,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "ws_frames.json").read_text("utf-8")
)
FRAME_VECTORS: list[dict[str, Any]] = VECTORS["frames"]
FAILURE_VECTORS: list[dict[str, Any]] = VECTORS["failures"]
# Server vectors are masked with this key before parsing: a server parser refuses unmasked frames.
PARSE_KEY = bytes.fromhex("5a1e0c3b")
ZERO_KEY = bytes(4)


def blob(spec: str | dict[str, Any]) -> bytes:
    """Bytes from a vector: hex, or {"hex", "repeat", "times"} for long runs."""
    if isinstance(spec, str):
        return bytes.fromhex(spec)
    times: int = spec["times"]
    return bytes.fromhex(spec["hex"]) + bytes.fromhex(spec["repeat"]) * times


def to_event(spec: dict[str, Any]) -> WsEvent:
    kind = spec["type"]
    if kind == "TextMessage":
        return TextMessage(spec["data"])
    if kind == "BinaryMessage":
        return BinaryMessage(blob(spec["data"]))
    if kind == "Ping":
        return Ping(blob(spec["payload"]))
    if kind == "Pong":
        return Pong(blob(spec["payload"]))
    assert kind == "CloseReceived"
    return CloseReceived(spec["code"], spec["reason"])


def client_bytes(vector: dict[str, Any]) -> bytes:
    """What a client would send for this vector: its wire, or its frames masked."""
    if vector["sender"] == "client":
        return blob(vector["wire"])
    return b"".join(
        encode_client_frame(
            Opcode[f["opcode"]], blob(f["payload"]), PARSE_KEY, fin=f.get("fin", True)
        )
        for f in vector["frames"]
    )


def parse(data: bytes, **options: int) -> list[WsEvent]:
    parser = FrameParser(**options)
    parser.receive_data(data)
    return parser.events()


def split_points(size: int) -> list[int]:
    """Every split of a short input; for long ones every header byte plus a stride."""
    if size <= 600:
        return list(range(size + 1))
    return sorted({*range(20), *range(0, size, 4099), size - 1, size})


def vector_id(vector: dict[str, Any]) -> str:
    return str(vector["name"])


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=vector_id)
def test_vector_encodes_to_its_wire(vector: dict[str, Any]) -> None:
    if vector["sender"] == "server":
        encoded = b"".join(
            encode_frame(Opcode[f["opcode"]], blob(f["payload"]), fin=f.get("fin", True))
            for f in vector["frames"]
        )
    else:
        encoded = b"".join(
            encode_client_frame(
                Opcode[f["opcode"]],
                blob(f["payload"]),
                bytes.fromhex(f["mask"]),
                fin=f.get("fin", True),
            )
            for f in vector["frames"]
        )
    assert encoded == blob(vector["wire"])


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=vector_id)
def test_vector_parses_to_its_events(vector: dict[str, Any]) -> None:
    assert parse(client_bytes(vector)) == [to_event(e) for e in vector["events"]]


@pytest.mark.parametrize("vector", FRAME_VECTORS, ids=vector_id)
def test_vector_split_feed(vector: dict[str, Any]) -> None:
    data = client_bytes(vector)
    expected = [to_event(e) for e in vector["events"]]
    for n in split_points(len(data)):
        parser = FrameParser()
        parser.receive_data(data[:n])
        first = parser.events()
        if len(expected) == 1 and n < len(data):
            assert first == [], n
        parser.receive_data(data[n:])
        assert first + parser.events() == expected, n


@pytest.mark.parametrize(
    "vector", [v for v in FRAME_VECTORS if len(client_bytes(v)) <= 600], ids=vector_id
)
def test_vector_fed_one_byte_at_a_time(vector: dict[str, Any]) -> None:
    data = client_bytes(vector)
    parser = FrameParser()
    events: list[WsEvent] = []
    for i in range(len(data)):
        parser.receive_data(data[i : i + 1])
        events += parser.events()
    assert events == [to_event(e) for e in vector["events"]]


@pytest.mark.parametrize("vector", FAILURE_VECTORS, ids=vector_id)
def test_failure_vector(vector: dict[str, Any]) -> None:
    parser = FrameParser(**vector.get("options", {}))
    parser.receive_data(blob(vector["wire"]))
    with pytest.raises(WebSocketProtocolError, match=re.escape(vector["error"])) as info:
        parser.events()
    assert info.value.close_code == vector["close_code"]


@pytest.mark.parametrize("vector", FAILURE_VECTORS, ids=vector_id)
def test_failure_vector_fed_one_byte_at_a_time(vector: dict[str, Any]) -> None:
    data = blob(vector["wire"])
    parser = FrameParser(**vector.get("options", {}))
    with pytest.raises(WebSocketProtocolError) as info:
        for i in range(len(data)):
            parser.receive_data(data[i : i + 1])
            assert parser.events() == []
    assert info.value.close_code == vector["close_code"]


def test_rfc_masking_example() -> None:
    assert mask_bytes(b"Hello", bytes.fromhex("37fa213d")) == bytes.fromhex("7f9f4d5158")


def test_mask_bytes_edges() -> None:
    key = bytes.fromhex("01020304")
    assert mask_bytes(b"", key) == b""
    assert mask_bytes(bytearray(b"\x00" * 6), key) == bytes.fromhex("010203040102")
    assert mask_bytes(memoryview(b"\xff\xff\xff"), key) == bytes.fromhex("fefdfc")
    with pytest.raises(ValueError, match="4 bytes"):
        mask_bytes(b"abc", b"\x01\x02\x03")


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, "8200"),
        (125, "827d"),
        (126, "827e007e"),
        (65535, "827effff"),
        (65536, "827f0000000000010000"),
    ],
)
def test_server_frame_length_forms(size: int, header: str) -> None:
    frame = encode_binary(b"\x00" * size)
    assert frame == bytes.fromhex(header) + b"\x00" * size


def test_encoders() -> None:
    assert encode_text("Hello") == bytes.fromhex("810548656c6c6f")
    assert encode_ping() == b"\x89\x00"
    assert encode_ping(b"Hello") == bytes.fromhex("890548656c6c6f")
    assert encode_pong(b"Hello") == bytes.fromhex("8a0548656c6c6f")
    assert encode_frame(Opcode.BINARY, b"ab", fin=False) == b"\x02\x02ab"


def test_encode_frame_refuses_invalid_control_frames() -> None:
    with pytest.raises(ValueError):
        encode_ping(b"x" * 126)
    with pytest.raises(ValueError):
        encode_frame(Opcode.CLOSE, b"", fin=False)


def test_encode_client_frame_checks_its_fields() -> None:
    with pytest.raises(ValueError):
        encode_client_frame(16, b"", ZERO_KEY)
    with pytest.raises(ValueError):
        encode_client_frame(Opcode.TEXT, b"", ZERO_KEY, rsv=8)
    with pytest.raises(ValueError):
        encode_client_frame(Opcode.TEXT, b"", b"\x00")


def test_encode_close() -> None:
    assert encode_close() == b"\x88\x00"
    assert encode_close(1000) == bytes.fromhex("880203e8")
    assert encode_close(1009, "too big") == bytes.fromhex("8809 03f1") + b"too big"
    with pytest.raises(ValueError, match="needs a close code"):
        encode_close(None, "reason")
    with pytest.raises(ValueError, match="may not be sent"):
        encode_close(1005)


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("a" * 200, "a" * 123),
        ("é" * 100, "é" * 61),  # 2-byte characters: the 62nd would be cut in half
        ("a" + "é" * 100, "a" + "é" * 61),  # ends exactly on the 123-byte boundary
        ("ab" + "😀" * 40, "ab" + "😀" * 30),  # 4-byte characters
        ("x" * 123, "x" * 123),
    ],
)
def test_encode_close_truncates_reason_on_a_utf8_boundary(reason: str, kept: str) -> None:
    frame = encode_close(1001, reason)
    assert len(frame) - 2 <= 125
    assert frame[1] == len(frame) - 2
    masked = encode_client_frame(Opcode.CLOSE, frame[2:], PARSE_KEY)
    assert parse(masked) == [CloseReceived(1001, kept)]


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1001, True),
        (1002, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1008, True),
        (1009, True),
        (1010, True),
        (1011, True),
        (1012, False),
        (1013, False),
        (1014, False),
        (1015, False),
        (1016, False),
        (2000, False),
        (2999, False),
        (3000, True),
        (3999, True),
        (4000, True),
        (4999, True),
        (5000, False),
        (65535, False),
    ],
)
def test_close_code_validity(code: int, valid: bool) -> None:
    assert is_valid_close_code(code) is valid
    frame = encode_client_frame(Opcode.CLOSE, code.to_bytes(2, "big"), PARSE_KEY)
    if valid:
        assert parse(frame) == [CloseReceived(code, "")]
    else:
        with pytest.raises(WebSocketProtocolError) as info:
            parse(frame)
        assert info.value.close_code == 1002


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return encode_client_frame(opcode, payload, PARSE_KEY, fin=fin)


def test_control_frames_between_fragments() -> None:
    data = (
        frame(Opcode.BINARY, b"ab", fin=False)
        + frame(Opcode.PING, b"1")
        + frame(Opcode.CONTINUATION, b"cd", fin=False)
        + frame(Opcode.PONG, b"2")
        + frame(Opcode.CONTINUATION, b"ef")
    )
    assert parse(data) == [Ping(b"1"), Pong(b"2"), BinaryMessage(b"abcdef")]


def test_close_between_fragments_ends_the_stream() -> None:
    data = frame(Opcode.TEXT, b"ab", fin=False) + frame(Opcode.CLOSE, b"\x03\xe9")
    assert parse(data) == [CloseReceived(1001, "")]


@pytest.mark.parametrize("text", ["aé€😀", "😀😀", "€"])
def test_utf8_split_across_two_fragments_at_every_byte(text: str) -> None:
    raw = text.encode("utf-8")
    for n in range(len(raw) + 1):
        data = frame(Opcode.TEXT, raw[:n], fin=False) + frame(Opcode.CONTINUATION, raw[n:])
        assert parse(data) == [TextMessage(text)], n


def test_utf8_split_into_one_byte_fragments() -> None:
    raw = "aé€😀".encode()
    data = frame(Opcode.TEXT, raw[:1], fin=False)
    data += b"".join(frame(Opcode.CONTINUATION, raw[i : i + 1], fin=False) for i in range(1, 9))
    data += frame(Opcode.CONTINUATION, raw[9:])
    assert parse(data) == [TextMessage("aé€😀")]


@pytest.mark.parametrize(
    "bad_fragment",
    [b"\xff", b"\xc3(", b"\xe0\x80", b"\xed\xa0", b"\xf4\x90", b"ok\xf5"],
    ids=["invalid-byte", "bad-continuation", "overlong", "surrogate", "above-max", "f5"],
)
def test_invalid_utf8_refused_at_the_first_bad_fragment(bad_fragment: bytes) -> None:
    parser = FrameParser()
    parser.receive_data(frame(Opcode.TEXT, b"fine", fin=False))
    assert parser.events() == []
    # Not final, and no later fragment: the error must not wait for the end of the message.
    parser.receive_data(frame(Opcode.CONTINUATION, bad_fragment, fin=False))
    with pytest.raises(WebSocketProtocolError) as info:
        parser.next_event()
    assert info.value.close_code == 1007


def test_message_ending_in_incomplete_utf8_is_refused() -> None:
    data = frame(Opcode.TEXT, b"ok\xf0\x9f", fin=False) + frame(Opcode.CONTINUATION, b"\x98")
    with pytest.raises(WebSocketProtocolError) as info:
        parse(data)
    assert info.value.close_code == 1007


def test_size_limit_detected_from_the_header_alone() -> None:
    header = frame(Opcode.BINARY, b"\x00" * 2000)[:8]  # 82 fe 07d0 + mask key
    for cut in (4, 8):  # before and after the mask key
        parser = FrameParser(max_message_size=1000)
        parser.receive_data(header[:cut])
        with pytest.raises(WebSocketProtocolError, match="exceeds") as info:
            parser.next_event()
        assert info.value.close_code == 1009


def test_size_limit_counts_every_fragment() -> None:
    ok = frame(Opcode.TEXT, b"a" * 6, fin=False) + frame(Opcode.CONTINUATION, b"b" * 4)
    assert parse(ok, max_message_size=10) == [TextMessage("aaaaaabbbb")]
    assert parse(frame(Opcode.BINARY, b"x" * 10), max_message_size=10) == [BinaryMessage(b"x" * 10)]

    parser = FrameParser(max_message_size=10)
    parser.receive_data(frame(Opcode.BINARY, b"a" * 6, fin=False) + frame(Opcode.PING, b"p" * 9))
    assert parser.events() == [Ping(b"p" * 9)]  # control payloads do not count
    parser.receive_data(frame(Opcode.CONTINUATION, b"b" * 5)[:2])  # the 2-byte header only
    with pytest.raises(WebSocketProtocolError, match="exceeds") as info:
        parser.next_event()
    assert info.value.close_code == 1009


def test_size_limit_resets_between_messages() -> None:
    one = frame(Opcode.TEXT, b"a" * 6, fin=False) + frame(Opcode.CONTINUATION, b"b" * 4)
    assert parse(one * 3, max_message_size=10) == [TextMessage("aaaaaabbbb")] * 3


def test_fragment_limit() -> None:
    def message(count: int) -> bytes:
        first = frame(Opcode.BINARY, b"", fin=False)
        middle = frame(Opcode.CONTINUATION, b"", fin=False) * (count - 2)
        return first + middle + frame(Opcode.CONTINUATION, b"z")

    assert parse(message(3) * 2, max_fragments=3) == [BinaryMessage(b"z")] * 2
    with pytest.raises(WebSocketProtocolError, match="fragments") as info:
        parse(message(4), max_fragments=3)
    assert info.value.close_code == 1009


def test_error_is_final() -> None:
    parser = FrameParser()
    parser.receive_data(bytes.fromhex("810548656c6c6f"))  # unmasked
    with pytest.raises(WebSocketProtocolError) as first:
        parser.next_event()
    parser.receive_data(frame(Opcode.TEXT, b"valid"))
    with pytest.raises(WebSocketProtocolError) as again:
        parser.next_event()
    assert again.value is first.value
    with pytest.raises(WebSocketProtocolError):
        parser.events()


def test_data_after_close_is_ignored() -> None:
    parser = FrameParser()
    parser.receive_data(frame(Opcode.CLOSE, b"\x03\xe8") + frame(Opcode.TEXT, b"late"))
    assert parser.events() == [CloseReceived(1000, "")]
    parser.receive_data(b"\xff\xff garbage")
    assert parser.next_event() is None
    assert parser.events() == []


def test_events_is_empty_without_data() -> None:
    parser = FrameParser()
    assert parser.next_event() is None
    assert parser.events() == []


def test_many_small_frames_in_one_feed() -> None:
    data = b"".join(frame(Opcode.TEXT, str(i).encode()) for i in range(20_000))
    assert parse(data) == [TextMessage(str(i)) for i in range(20_000)]


def test_many_small_feeds_keep_frames_intact() -> None:
    # Frames straddle every feed boundary, so buffer compaction happens with a header pending.
    data = b"".join(frame(Opcode.BINARY, bytes([i % 256]) * (i % 300)) for i in range(500))
    parser = FrameParser()
    events: list[WsEvent] = []
    for start in range(0, len(data), 97):
        parser.receive_data(data[start : start + 97])
        events += parser.events()
    assert events == [BinaryMessage(bytes([i % 256]) * (i % 300)) for i in range(500)]
