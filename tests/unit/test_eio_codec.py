"""Engine.IO packet and payload codec: every vector both ways, and every failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from minisock.errors import EngineProtocolError
from minisock.proto.eio import (
    Packet,
    PacketType,
    WirePacket,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    open_packet,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "eio.json").read_text("utf-8"))


def _value(raw: Any) -> WirePacket:
    if isinstance(raw, dict):
        return bytes.fromhex(raw["hex"])
    assert isinstance(raw, str)
    return raw


@pytest.mark.parametrize("vector", VECTORS["packets"], ids=lambda v: v["name"])
def test_packet_vectors_both_ways(vector: dict[str, Any]) -> None:
    packet = Packet(PacketType(vector["type"]), _value(vector["data"]))
    wire = _value(vector["wire"])
    assert encode_packet(packet) == wire
    assert decode_packet(wire) == packet
    assert encode_payload([wire]) == vector["polling"]
    assert decode_payload(vector["polling"]) == [packet]


@pytest.mark.parametrize("vector", VECTORS["payloads"], ids=lambda v: v["name"])
def test_payload_vectors_both_ways(vector: dict[str, Any]) -> None:
    records = [_value(r) for r in vector["records"]]
    assert encode_payload(records) == vector["body"]
    assert decode_payload(vector["body"]) == [decode_packet(r) for r in records]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_input_raises_specific_error(vector: dict[str, Any]) -> None:
    with pytest.raises(EngineProtocolError, match=vector["error"]) as info:
        if "payload" in vector:
            decode_payload(vector["payload"])
        else:
            decode_packet(vector["input"])
    assert info.value.http_status == 400


def test_only_messages_carry_binary() -> None:
    with pytest.raises(ValueError):
        encode_packet(Packet(PacketType.PING, b"\x00"))


def test_binary_frame_is_always_a_message() -> None:
    assert decode_packet(b"2probe") == Packet(PacketType.MESSAGE, b"2probe")


def test_open_packet_has_exactly_the_reference_keys() -> None:
    text = open_packet(
        "sid1", upgrades=["websocket"], ping_interval_ms=300, ping_timeout_ms=200, max_payload=10
    )
    assert text.startswith("0")
    assert json.loads(text[1:]) == {
        "sid": "sid1",
        "upgrades": ["websocket"],
        "pingInterval": 300,
        "pingTimeout": 200,
        "maxPayload": 10,
    }
