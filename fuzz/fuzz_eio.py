"""atheris harness: the Engine.IO codec (``decode_packet``, ``decode_payload``).

Contract: any wire packet or polling body decodes, or raises ``EngineProtocolError``. What
decodes must also re-encode to a wire packet that decodes to the same packet.
"""

from __future__ import annotations

from _harness import Reader, as_text, instrumented, main

with instrumented("minisock"):
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


def _check_accepted(packet: Packet) -> None:
    assert isinstance(packet, Packet)
    assert isinstance(packet.type, PacketType)
    if isinstance(packet.data, bytes):
        assert packet.type is PacketType.MESSAGE
    wire = encode_packet(packet)
    assert decode_packet(wire) == packet, (packet, wire)
    if isinstance(packet.data, str) and RECORD_SEPARATOR not in packet.data:
        assert decode_payload(encode_payload([wire])) == [packet]


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    mode = reader.below(3)
    how = reader.byte()
    raw = reader.rest()
    if mode == 0:
        try:
            packet = decode_packet(raw)  # a binary WebSocket frame
        except EngineProtocolError:
            raise AssertionError("a binary frame is always a message") from None
        assert packet == Packet(PacketType.MESSAGE, raw)
        return
    text = as_text(raw, how)
    try:
        packets = [decode_packet(text)] if mode == 1 else decode_payload(text)
    except EngineProtocolError:
        return
    for packet in packets:
        _check_accepted(packet)
    if mode == 2:
        assert len(packets) == text.count(RECORD_SEPARATOR) + 1


SEEDS = [
    b"\x01\x004hello",
    b"\x01\x002probe",
    b"\x02\x004a\x1e4b\x1e2\x1ebAQID",
    b"\x02\x00bAQID\x1ebAQ==",
    b"\x02\x006\x1e1\x1e",
    b"\x00\x00\x01\x02\x03",
    b"\x01\x03\x34\x00\xd8\x00\xdc",
]

if __name__ == "__main__":
    main("eio", test_one_input, SEEDS)
