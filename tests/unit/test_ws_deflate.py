"""permessage-deflate (RFC 7692): the vectors of ``tests/vectors/ws_deflate.json`` (section
7.2.3's examples through the frame parser, our compressed bytes, the negotiation answers), the
RSV1 rules, and the decompression-bomb bound.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest

from minisock.errors import WebSocketProtocolError
from minisock.proto.ws import (
    FrameParser,
    Opcode,
    TextMessage,
    encode_client_frame,
    encode_deflated,
)
from minisock.proto.ws_deflate import (
    Agreement,
    Deflate,
    MessageDeflater,
    MessageInflater,
    negotiate,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "ws_deflate.json").read_text("utf-8")
)
KEY = bytes.fromhex("37fa213d")  # the mask key of RFC 6455's own examples
TAKEOVER = Agreement(False, False, 15, 15)


def masked(server_frame: bytes) -> bytes:
    """A server frame of the vectors, as a client sends it (masked with KEY)."""
    b0, length = server_frame[0], server_frame[1] & 0x7F
    payload = server_frame[2:]
    assert length == len(payload)
    return encode_client_frame(b0 & 0x0F, payload, KEY, fin=bool(b0 & 0x80), rsv=(b0 >> 4) & 7)


def deflate_parser(agreement: Agreement = TAKEOVER, max_size: int = 1_000_000) -> FrameParser:
    parser = FrameParser(max_message_size=max_size)
    parser.inflater = MessageInflater(agreement, max_size=max_size)
    return parser


@pytest.mark.parametrize("vector", VECTORS["rfc"], ids=lambda v: v["name"])
def test_rfc_7692_examples_inflate(vector: dict[str, Any]) -> None:
    parser = deflate_parser()
    data = b"".join(masked(bytes.fromhex(f)) for f in vector["frames"])
    # Fed one byte at a time: the inflater must cope with any split of the frames.
    events = []
    for i in range(len(data)):
        parser.receive_data(data[i : i + 1])
        events += parser.events()
    assert events == [TextMessage(t) for t in vector["texts"]]


@pytest.mark.parametrize("vector", VECTORS["deflated"], ids=lambda v: v["name"])
def test_our_deflated_bytes(vector: dict[str, Any]) -> None:
    deflater = MessageDeflater(TAKEOVER, Deflate(level=6))
    if "after" in vector:
        deflater.compress(vector["after"].encode())
    payload = deflater.compress(vector["text"].encode())
    assert payload.hex() == vector["payload"]
    frame = encode_deflated(Opcode.TEXT, payload)
    assert frame[0] == 0xC1  # FIN, RSV1, text


@pytest.mark.parametrize("vector", VECTORS["negotiation"], ids=lambda v: v["offer"])
def test_negotiation(vector: dict[str, Any]) -> None:
    headers = [(b"sec-websocket-extensions", vector["offer"].encode())]
    result = negotiate(headers, Deflate())
    answer = None if result is None else result[1]
    assert answer == vector["answer"]


def test_no_offer_means_no_extension() -> None:
    assert negotiate([(b"host", b"x")], Deflate()) is None


def test_server_settings_reach_the_answer() -> None:
    settings = Deflate(server_no_context_takeover=True, server_max_window_bits=10)
    result = negotiate([(b"sec-websocket-extensions", b"permessage-deflate")], settings)
    assert result is not None
    agreement, answer = result
    assert answer == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    assert agreement == Agreement(True, False, 10, 15)


@pytest.mark.parametrize(
    "settings", [Deflate(), Deflate(server_no_context_takeover=True), Deflate(level=1)]
)
def test_round_trip_through_zlib(settings: Deflate) -> None:
    agreement = Agreement(settings.server_no_context_takeover, False, 15, 15)
    deflater = MessageDeflater(agreement, settings)
    reader = zlib.decompressobj(-15)
    for text in ["x" * 5000, '42["event",{"a":1}]' * 300, "é" * 2000]:
        payload = deflater.compress(text.encode())
        if settings.server_no_context_takeover:
            reader = zlib.decompressobj(-15)
        assert reader.decompress(payload + b"\x00\x00\xff\xff").decode() == text


def test_no_context_takeover_keeps_no_stream() -> None:
    deflater = MessageDeflater(Agreement(True, True, 15, 15), Deflate())
    deflater.compress(b"a" * 2000)
    inflater = MessageInflater(Agreement(True, True, 15, 15), max_size=10_000)
    inflater.feed(zlib.compress(b"b" * 100)[2:-4], True)
    assert deflater._stream is None and inflater._stream is None


def raw_deflate(data: bytes) -> bytes:
    """What a client sends for ``data``: raw deflate, sync-flushed, tail removed."""
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_bomb_of_ten_megabytes_of_zeros_stops_at_the_limit() -> None:
    bomb = raw_deflate(b"0" * 10_000_000)
    assert len(bomb) < 20_000  # a few KB on the wire
    parser = deflate_parser(max_size=1_000_000)
    parser.receive_data(encode_client_frame(0x1, bomb, KEY, rsv=4))
    with pytest.raises(WebSocketProtocolError) as info:
        parser.next_event()
    assert info.value.close_code == 1009


def test_bomb_never_inflates_past_the_limit() -> None:
    inflater = MessageInflater(TAKEOVER, max_size=1000)
    produced: list[int] = []
    real_decompress = zlib.decompressobj

    class Spy:
        def __init__(self, wbits: int) -> None:
            self.inner = real_decompress(wbits)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self.inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        @property
        def unconsumed_tail(self) -> bytes:
            return self.inner.unconsumed_tail

    inflater._stream = Spy(-15)  # type: ignore[assignment]
    with pytest.raises(WebSocketProtocolError):
        inflater.feed(raw_deflate(b"\0" * 10_000_000), True)
    assert sum(produced) <= 1001


def test_bomb_spread_over_fragments_counts_the_whole_message() -> None:
    compressed = raw_deflate(b"x" * 3000)
    parser = deflate_parser(max_size=2000)
    third = len(compressed) // 3
    pieces = [compressed[:third], compressed[third : 2 * third], compressed[2 * third :]]
    data = encode_client_frame(0x1, pieces[0], KEY, fin=False, rsv=4)
    data += encode_client_frame(0x0, pieces[1], KEY, fin=False)
    data += encode_client_frame(0x0, pieces[2], KEY)
    parser.receive_data(data)
    with pytest.raises(WebSocketProtocolError) as info:
        parser.events()
    assert info.value.close_code == 1009


def test_message_at_the_limit_passes() -> None:
    parser = deflate_parser(max_size=2000)
    parser.receive_data(encode_client_frame(0x2, raw_deflate(b"y" * 2000), KEY, rsv=4))
    [event] = parser.events()
    assert event.data == b"y" * 2000  # type: ignore[union-attr]


def test_bad_deflate_data_is_1007() -> None:
    parser = deflate_parser()
    parser.receive_data(encode_client_frame(0x1, b"\xff\xff\xff\xff", KEY, rsv=4))
    with pytest.raises(WebSocketProtocolError) as info:
        parser.events()
    assert info.value.close_code == 1007


@pytest.mark.parametrize(
    ("opcode", "fin", "rsv", "first"),
    [
        (0x9, True, 4, None),  # a ping with RSV1
        (0x8, True, 4, None),  # a close with RSV1
        (0x1, True, 2, None),  # RSV2: no extension gives it a meaning
        (0x1, True, 1, None),  # RSV3
        (0x0, True, 4, (0x1, False, 4)),  # RSV1 on a continuation frame
    ],
)
def test_rsv_rules_with_deflate(
    opcode: int, fin: bool, rsv: int, first: tuple[int, bool, int] | None
) -> None:
    parser = deflate_parser()
    data = b""
    if first is not None:
        data += encode_client_frame(first[0], raw_deflate(b"ab"), KEY, fin=first[1], rsv=first[2])
    data += encode_client_frame(opcode, b"", KEY, fin=fin, rsv=rsv)
    parser.receive_data(data)
    with pytest.raises(WebSocketProtocolError) as info:
        parser.events()
    assert info.value.close_code == 1002


def test_rsv1_without_negotiation_is_1002() -> None:
    parser = FrameParser()
    parser.receive_data(encode_client_frame(0x1, raw_deflate(b"hi"), KEY, rsv=4))
    with pytest.raises(WebSocketProtocolError) as info:
        parser.events()
    assert info.value.close_code == 1002


def test_uncompressed_messages_still_pass_when_negotiated() -> None:
    parser = deflate_parser()
    parser.receive_data(encode_client_frame(0x1, b"4plain", KEY))
    parser.receive_data(encode_client_frame(0x9, b"p", KEY))
    parser.receive_data(encode_client_frame(0x1, raw_deflate(b"4packed"), KEY, rsv=4))
    assert [type(e).__name__ for e in parser.events()] == ["TextMessage", "Ping", "TextMessage"]


def test_ping_between_compressed_fragments() -> None:
    compressed = raw_deflate(b"4" + b"z" * 500)
    parser = deflate_parser()
    parser.receive_data(encode_client_frame(0x1, compressed[:5], KEY, fin=False, rsv=4))
    parser.receive_data(encode_client_frame(0x9, b"", KEY))
    parser.receive_data(encode_client_frame(0x0, compressed[5:], KEY))
    events = parser.events()
    assert events[1] == TextMessage("4" + "z" * 500)


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": -1}, {"server_max_window_bits": 8}, {"mem_level": 0}, {"level": 10}],
)
def test_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Deflate(**kwargs)
