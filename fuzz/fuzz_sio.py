"""atheris harness: the Socket.IO decoder, fed a sequence of text and binary messages.

Contract: every message yields a packet, ``None`` (attachments due), or
``SocketIOProtocolError``; after the error the connection would close, so feeding stops.
What decodes must respect the limits, and must re-encode to messages that decode to the
same packet (non-finite floats aside: ``1e400`` parses to infinity, which JSON writes as null).
"""

from __future__ import annotations

from _harness import Reader, as_text, finite, instrumented, main

with instrumented("minisock"):
    from _sio_rules import check_packet_rules

    from minisock.proto.sio import (
        Decoder,
        DecoderLimits,
        SioPacket,
        SioPacketType,
        SocketIOProtocolError,
        encode,
    )

# A grammar-shaped head for some text messages, so the fuzzer reaches past the first checks.
_HEADS = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "51-",
    "52-",
    "61-",
    "2/a,",
    "3/a,1",
    "0/admin,",
    '2["e",',
    '51-["e",{"_placeholder":true,"num":0}]',
    "2[",
    "31[",
]


def _check_accepted(packet: SioPacket, limits: DecoderLimits) -> None:
    assert isinstance(packet, SioPacket)
    assert packet.type in (
        SioPacketType.CONNECT,
        SioPacketType.DISCONNECT,
        SioPacketType.EVENT,
        SioPacketType.ACK,
    ), packet
    assert packet.nsp == "/" or packet.nsp.startswith("/")
    assert len(packet.nsp) <= max(limits.max_namespace_length, 1)
    check_packet_rules(packet, limits)  # DISCONNECT, the one type left, carries no data
    if not finite(packet.data):
        return
    parts = encode(packet)
    again = Decoder(DecoderLimits(max_attachments=len(parts), max_args=1 << 30, max_depth=64))
    for part in parts[:-1]:
        assert again.receive(part) is None
    decoded = again.receive(parts[-1])
    assert decoded is not None
    assert (decoded.type, decoded.nsp, decoded.id) == (packet.type, packet.nsp, packet.id)
    assert decoded.data == packet.data, (packet, parts)


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    if reader.flag():
        limits = DecoderLimits()
    else:
        limits = DecoderLimits(
            max_attachments=reader.below(13),
            max_args=reader.below(6),
            max_depth=1 + reader.below(40),
            max_namespace_length=reader.below(12),
        )
    decoder = Decoder(limits)
    for _ in range(1 + reader.below(8)):
        if reader.exhausted:
            break
        kind = reader.byte()
        raw = reader.sized(1024)
        message: str | bytes
        if kind & 3 == 3:
            message = raw
        else:
            message = as_text(raw, kind >> 2)
            if kind & 3 == 1:
                message = _HEADS[(kind >> 4) % len(_HEADS)] + message
        was_waiting = decoder.awaiting_attachments
        try:
            packet = decoder.receive(message)
        except SocketIOProtocolError:
            return  # the connection closes here
        if packet is None:
            assert decoder.awaiting_attachments
        else:
            assert not decoder.awaiting_attachments
            assert isinstance(message, str) or was_waiting
            _check_accepted(packet, limits)


def _seed(*messages: str | bytes) -> bytes:
    out = b"\x01"
    for message in messages:
        raw = message if isinstance(message, bytes) else message.encode("latin-1")
        out += bytes([3 if isinstance(message, bytes) else 0, len(raw)]) + raw
    return out


SEEDS = [
    _seed("0"),
    _seed('0{"token":"abc"}'),
    _seed('2["chat","hi"]'),
    _seed('2/admin,7["x",1,{"a":[true,null]}]'),
    _seed('31["ok"]'),
    _seed('51-["up",{"_placeholder":true,"num":0}]', b"\x00\x01"),
    _seed('62-/a,9[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]', b"a", b"b"),
    _seed("1"),
    _seed('2["x",1e400]'),
]

if __name__ == "__main__":
    main("sio", test_one_input, SEEDS)
