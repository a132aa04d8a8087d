"""Socket.IO packet codec: every vector in its directions, every refusal, binary reassembly."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from minisock.proto.sio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    Decoder,
    DecoderLimits,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    encode,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "sio.json").read_text("utf-8")
)


def _ph(num: int) -> str:
    """The placeholder the encoder writes for attachment ``num``."""
    return f'{{"_placeholder":true,"num":{num}}}'


def _part(raw: Any) -> str | bytes:
    if isinstance(raw, dict):
        return bytes.fromhex(raw["hex"])
    assert isinstance(raw, str)
    return raw


def _data(raw: Any) -> Any:
    """Vector data to Python: ``{"$bytes": hex}`` becomes ``bytes``."""
    if isinstance(raw, list):
        return [_data(item) for item in raw]
    if isinstance(raw, dict):
        if set(raw) == {"$bytes"}:
            return bytes.fromhex(raw["$bytes"])
        return {key: _data(item) for key, item in raw.items()}
    return raw


def _packet(raw: dict[str, Any]) -> SioPacket:
    return SioPacket(SioPacketType(raw["type"]), raw["nsp"], _data(raw["data"]), raw["id"])


def _feed(decoder: Decoder, parts: list[str | bytes]) -> SioPacket | None:
    """Feed every part; all but the last must leave the packet incomplete."""
    for part in parts[:-1]:
        assert decoder.receive(part) is None
        assert decoder.awaiting_attachments
    packet = decoder.receive(parts[-1])
    assert not decoder.awaiting_attachments
    return packet


def _vectors(*directions: str) -> list[dict[str, Any]]:
    return [v for v in VECTORS["packets"] if v["direction"] in directions]


def _nested(depth: int) -> str:
    """An event whose payload is ``depth`` arrays deep (the outer argument array counts)."""
    return '2["x",' + "[" * (depth - 1) + "]" * (depth - 1) + "]"


# ------------------------------------------------------------------------------------ vectors


def test_vector_file_covers_each_direction_and_source() -> None:
    directions = {v["direction"] for v in VECTORS["packets"]}
    sources = {v["source"] for v in VECTORS["packets"]}
    assert directions == {"both", "encode", "decode"}
    assert sources == {"spec", "suite", "ours"}


@pytest.mark.parametrize("vector", _vectors("both", "encode"), ids=lambda v: v["name"])
def test_encode_vectors(vector: dict[str, Any]) -> None:
    assert encode(_packet(vector["packet"])) == [_part(p) for p in vector["parts"]]


@pytest.mark.parametrize("vector", _vectors("both", "decode"), ids=lambda v: v["name"])
def test_decode_vectors(vector: dict[str, Any]) -> None:
    parts = [_part(p) for p in vector["parts"]]
    assert _feed(Decoder(), parts) == _packet(vector["packet"])


@pytest.mark.parametrize("vector", _vectors("decode"), ids=lambda v: v["name"])
def test_decode_only_forms_reencode_to_the_canonical_form(vector: dict[str, Any]) -> None:
    parts = [_part(p) for p in vector["parts"]]
    packet = _feed(Decoder(), parts)
    assert packet is not None
    assert encode(packet) != parts
    assert _feed(Decoder(), encode(packet)) == packet


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_input_raises_protocol_error(vector: dict[str, Any]) -> None:
    decoder = Decoder(DecoderLimits(**vector.get("limits", {})))
    parts = [_part(p) for p in vector["parts"]]
    with pytest.raises(SocketIOProtocolError, match=re.escape(vector["error"])) as info:
        for part in parts:
            decoder.receive(part)
    assert info.value.http_status == 400


def test_every_reserved_name_has_an_invalid_vector() -> None:
    refused = {
        json.loads(v["parts"][0][1:])[0]
        for v in VECTORS["invalid"]
        if v["name"].startswith("reserved event name ")
    }
    assert refused == RESERVED_EVENTS


# ----------------------------------------------------------------------- binary reassembly


def test_attachments_reassemble_across_several_receive_calls() -> None:
    decoder = Decoder()
    text = f'63-/admin,9[{_ph(2)},{{"b":[{_ph(0)}]}},{_ph(1)}]'
    assert decoder.receive(text) is None
    assert decoder.awaiting_attachments
    assert decoder.receive(b"zero") is None
    assert decoder.receive(b"one") is None
    assert decoder.awaiting_attachments
    packet = decoder.receive(b"two")
    assert packet == SioPacket(SioPacketType.ACK, "/admin", [b"two", {"b": [b"zero"]}, b"one"], 9)
    assert packet is not None
    assert all(type(x) is bytes for x in (packet.data[0], packet.data[1]["b"][0], packet.data[2]))
    assert not decoder.awaiting_attachments


def test_decoder_is_reusable_after_a_binary_packet() -> None:
    decoder = Decoder()
    first = encode(SioPacket(SioPacketType.EVENT, data=["a", b"1"]))
    second = encode(SioPacket(SioPacketType.EVENT, "/n", ["b", b"2", b"3"], 4))
    assert _feed(decoder, first) == SioPacket(SioPacketType.EVENT, data=["a", b"1"])
    assert decoder.receive('2["plain"]') == SioPacket(SioPacketType.EVENT, data=["plain"])
    assert _feed(decoder, second) == SioPacket(SioPacketType.EVENT, "/n", ["b", b"2", b"3"], 4)


def test_binary_packet_with_zero_attachments_decodes_as_the_plain_type() -> None:
    # socket.io-parser Decoder.add turns BINARY_EVENT/BINARY_ACK into EVENT/ACK before it
    # checks the attachment count, and emits at once when the count is 0.
    assert Decoder().receive('50-["x"]') == SioPacket(SioPacketType.EVENT, data=["x"])
    assert Decoder().receive("60-1[]") == SioPacket(SioPacketType.ACK, data=[], id=1)


# ---------------------------------------------------------------------------------- encoding


def _placeholder_nums(value: Any) -> list[int]:
    """Placeholder numbers in document order."""
    if isinstance(value, list):
        return [n for item in value for n in _placeholder_nums(item)]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            return [value["num"]]
        return [n for item in value.values() for n in _placeholder_nums(item)]
    return []


def test_nested_bytes_become_placeholders_in_order_and_come_back() -> None:
    data = [
        "deep",
        b"a",
        {"k": [b"b", {"x": [[[[b"c"]]]], "y": None}], "z": b"d"},
        [[[[[[[[b"e"]]]]]]]],
        {"": {"": {"": {"": b""}}}},
    ]
    parts = encode(SioPacket(SioPacketType.EVENT, data=data))
    text = parts[0]
    assert isinstance(text, str)
    assert text.startswith("56-[")
    assert parts[1:] == [b"a", b"b", b"c", b"d", b"e", b""]
    assert _placeholder_nums(json.loads(text[3:])) == [0, 1, 2, 3, 4, 5]
    assert _feed(Decoder(), parts) == SioPacket(SioPacketType.EVENT, data=data)


@pytest.mark.parametrize(
    "value", [bytearray(b"\x00\xff"), memoryview(b"\x00\xff")], ids=["bytearray", "memoryview"]
)
def test_bytes_like_arguments_are_attachments(value: bytearray | memoryview) -> None:
    parts = encode(SioPacket(SioPacketType.ACK, data=[value, {"v": value}], id=3))
    assert parts == [
        f'62-3[{_ph(0)},{{"v":{_ph(1)}}}]',
        b"\x00\xff",
        b"\x00\xff",
    ]
    assert all(type(p) is bytes for p in parts[1:])
    restored = SioPacket(SioPacketType.ACK, data=[b"\x00\xff", {"v": b"\x00\xff"}], id=3)
    assert _feed(Decoder(), parts) == restored


@pytest.mark.parametrize(
    ("kind", "binary_kind"),
    [
        (SioPacketType.EVENT, SioPacketType.BINARY_EVENT),
        (SioPacketType.ACK, SioPacketType.BINARY_ACK),
    ],
)
def test_encode_picks_the_binary_type_only_when_bytes_are_present(
    kind: SioPacketType, binary_kind: SioPacketType
) -> None:
    plain = encode(SioPacket(kind, "/x", ["a", {"b": [1]}], 5))
    assert plain == [f'{int(kind)}/x,5["a",{{"b":[1]}}]']
    binary = encode(SioPacket(kind, "/x", ["a", {"b": [b"1"]}], 5))
    assert binary == [f'{int(binary_kind)}1-/x,5["a",{{"b":[{_ph(0)}]}}]', b"1"]


def test_encode_writes_compact_json() -> None:
    parts = encode(SioPacket(SioPacketType.EVENT, data=["a", {"b": [1, 2]}, [3]]))
    assert parts == ['2["a",{"b":[1,2]},[3]]']


def test_lone_surrogate_is_escaped_like_json_stringify() -> None:
    # JSON.stringify (ES2019 "well-formed JSON.stringify") writes a lone surrogate as an escape;
    # a decoded client string can hold one ('2["x","\\ud800"]' is valid JSON).
    packet = Decoder().receive('2["x","\\ud800"]')
    assert packet == SioPacket(SioPacketType.EVENT, data=["x", "\ud800"])
    [text] = encode(packet)
    assert isinstance(text, str)
    assert text == '2["x","\\ud800"]'
    text.encode("utf-8")  # the Engine.IO layer sends UTF-8


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_encode_never_writes_non_json_numbers(value: float) -> None:
    # JSON.stringify writes NaN and ±Infinity as null; JSON.parse refuses the bare words.
    try:
        parts = encode(SioPacket(SioPacketType.EVENT, data=["x", value]))
    except ValueError:
        return
    text = parts[0]
    assert isinstance(text, str)

    def refuse(word: str) -> Any:
        raise AssertionError(f"{word} is not JSON")

    json.loads(text[1:], parse_constant=refuse)


# --------------------------------------------------------------------------- limits, bounds


def test_default_limits() -> None:
    assert DecoderLimits() == DecoderLimits(
        max_attachments=10, max_args=1000, max_depth=32, max_namespace_length=256
    )


def test_max_attachments_is_configurable() -> None:
    two = SioPacket(SioPacketType.EVENT, data=["x", b"1", b"2"])
    three = SioPacket(SioPacketType.EVENT, data=["x", b"1", b"2", b"3"])
    limits = DecoderLimits(max_attachments=2)
    assert _feed(Decoder(limits), encode(two)) == two
    with pytest.raises(SocketIOProtocolError, match="too many attachments"):
        Decoder(limits).receive(encode(three)[0])


def test_ten_attachments_are_accepted() -> None:
    packet = SioPacket(SioPacketType.EVENT, data=["x", *(bytes([n]) for n in range(10))])
    parts = encode(packet)
    assert len(parts) == 11
    assert _feed(Decoder(), parts) == packet


def test_max_args_boundary() -> None:
    event = SioPacket(SioPacketType.EVENT, data=["x", *range(1000)])
    ack = SioPacket(SioPacketType.ACK, data=list(range(1000)), id=1)
    for packet in (event, ack):
        [text] = encode(packet)
        assert isinstance(text, str)
        assert Decoder().receive(text) == packet
        with pytest.raises(SocketIOProtocolError, match="too many arguments"):
            Decoder().receive(text[:-1] + ",0]")


def test_depth_boundary() -> None:
    assert Decoder().receive(_nested(32)) is not None
    with pytest.raises(SocketIOProtocolError, match="payload nested too deeply"):
        Decoder().receive(_nested(33))
    limits = DecoderLimits(max_depth=40)
    assert Decoder(limits).receive(_nested(40)) is not None


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '2["x","%s"]' % ("[" * 100)
    assert Decoder().receive(text) == SioPacket(SioPacketType.EVENT, data=["x", "[" * 100])


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_very_deep_json_is_a_protocol_error(depth: int) -> None:
    with pytest.raises(SocketIOProtocolError):
        Decoder().receive(_nested(depth))


@pytest.mark.parametrize("share", [4, 2, 4 / 3], ids=["quarter", "half", "three-quarters"])
def test_deep_binary_packet_under_a_raised_depth_limit_is_a_protocol_error(share: float) -> None:
    # With max_depth raised, JSON that json.loads still parses must not overflow the stack
    # when its placeholders are restored: accepted, or refused with the documented error.
    depth = int(sys.getrecursionlimit() / share)
    text = '51-["x",' + "[" * depth + _ph(0) + "]" * depth + "]"
    decoder = Decoder(DecoderLimits(max_depth=10 * depth))
    try:
        if decoder.receive(text) is None:
            decoder.receive(b"\x01")
    except SocketIOProtocolError:
        pass


def test_namespace_length_boundary() -> None:
    longest = "/" + "n" * 255
    assert Decoder().receive(f'2{longest},["x"]') == SioPacket(SioPacketType.EVENT, longest, ["x"])
    with pytest.raises(SocketIOProtocolError, match="namespace too long"):
        Decoder().receive(f'2{longest}n,["x"]')


def test_ack_id_boundary() -> None:
    largest = SioPacket(SioPacketType.ACK, data=[], id=MAX_ACK_ID)
    assert MAX_ACK_ID == 2**53
    assert Decoder().receive(f"3{MAX_ACK_ID}[]") == largest
    with pytest.raises(SocketIOProtocolError, match="invalid ack id"):
        Decoder().receive(f"3{MAX_ACK_ID + 1}[]")


def test_errors_are_protocol_errors_with_close_hints() -> None:
    with pytest.raises(SocketIOProtocolError) as info:
        Decoder().receive("7")
    assert info.value.close_code == 1002
    assert info.value.message == "unknown packet type '7'"
