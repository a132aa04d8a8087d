"""Properties of the Engine.IO codec: round trips, and garbage only raises the documented error."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from minisock.errors import EngineProtocolError
from minisock.proto.eio import (
    RECORD_SEPARATOR,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)

text_data = st.text().filter(lambda s: RECORD_SEPARATOR not in s)
text_packets = st.builds(Packet, st.sampled_from(list(PacketType)), text_data)
binary_packets = st.builds(Packet, st.just(PacketType.MESSAGE), st.binary())
packets = st.one_of(text_packets, binary_packets)


@given(packets)
def test_packet_round_trip(packet: Packet) -> None:
    assert decode_packet(encode_packet(packet)) == packet


@given(st.lists(packets, min_size=1, max_size=20))
def test_payload_round_trip(items: list[Packet]) -> None:
    body = encode_payload([encode_packet(p) for p in items])
    assert decode_payload(body) == items


@given(st.text())
def test_garbage_payload_only_raises_protocol_error(body: str) -> None:
    try:
        decoded = decode_payload(body)
    except EngineProtocolError:
        return
    assert all(isinstance(p, Packet) for p in decoded)


@given(st.one_of(st.text(), st.binary()))
def test_garbage_packet_only_raises_protocol_error(wire: str | bytes) -> None:
    try:
        decode_packet(wire)
    except EngineProtocolError:
        pass
