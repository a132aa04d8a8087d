"""The payload rules a decoded Socket.IO packet must respect, whatever its wire format: what
the JSON and the msgpack harnesses both check of every packet their decoder accepted.

Imported inside a harness's ``instrumented("minisock")`` block, after which minisock is loaded.
"""

from __future__ import annotations

from _harness import depth

from minisock.proto.sio import MAX_ACK_ID, RESERVED_EVENTS, DecoderLimits, SioPacket, SioPacketType


def check_packet_rules(packet: SioPacket, limits: DecoderLimits) -> None:
    """Ack id in range, nesting within the limit, and each type's data as the protocol says."""
    assert packet.id is None or 0 <= packet.id <= MAX_ACK_ID
    assert depth(packet.data) <= limits.max_depth
    if packet.type is SioPacketType.EVENT:
        assert isinstance(packet.data, list) and packet.data
        assert isinstance(packet.data[0], str) and packet.data[0] not in RESERVED_EVENTS
        assert len(packet.data) - 1 <= limits.max_args
    elif packet.type is SioPacketType.ACK:
        assert isinstance(packet.data, list) and packet.id is not None
    elif packet.type is SioPacketType.CONNECT:
        assert packet.data is None or isinstance(packet.data, dict)
    elif packet.type is SioPacketType.DISCONNECT:
        assert packet.data is None
