"""atheris harness: the msgpack parser's decoder (``socket.io-msgpack-parser`` on the wire).

Contract: every message yields a packet or ``SocketIOProtocolError``, nothing else; after the
error the connection would close, so feeding stops. What decodes respects the limits and the
payload rules, and re-encodes to bytes that decode to the same packet.
"""

from __future__ import annotations

import msgpack
from _harness import Reader, as_text, finite, instrumented, main

with instrumented("minisock"):
    from _sio_rules import check_packet_rules

    from minisock.proto.sio import (
        DecoderLimits,
        SioPacketType,
        SocketIOProtocolError,
    )
    from minisock.proto.sio_msgpack import MsgpackDecoder, decode, encode

# msgpack maps shaped like packets, so the fuzzer reaches past the first checks: the bytes
# that follow are appended (trailing bytes) or replace the data's encoding.
_HEADS = [
    msgpack.packb({"type": kind, "nsp": "/", "data": data}, use_bin_type=True)
    for kind, data in [(0, {}), (2, ["e"]), (3, []), (4, {"message": "m"}), (1, None)]
] + [b"\x84\xa4type\x02\xa3nsp\xa1/\xa2id\x01\xa4data"]


def _check_accepted(raw: bytes, limits: DecoderLimits, from_server: bool) -> None:
    packet = decode(raw, limits, from_server)
    assert packet.type <= SioPacketType.CONNECT_ERROR
    assert from_server or packet.type is not SioPacketType.CONNECT_ERROR
    assert len(packet.nsp) <= limits.max_namespace_length
    check_packet_rules(packet, limits)
    if not finite(packet.data):
        return  # NaN != NaN
    again = decode(encode(packet), DecoderLimits(max_args=1 << 30, max_depth=64), from_server)
    assert again == packet, (packet, again)


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    from_server = reader.flag()
    if reader.flag():
        limits = DecoderLimits()
    else:
        limits = DecoderLimits(
            max_args=reader.below(6),
            max_depth=1 + reader.below(40),
            max_namespace_length=reader.below(12),
        )
    decoder = MsgpackDecoder(limits, from_server)
    for _ in range(1 + reader.below(4)):
        if reader.exhausted:
            break
        kind = reader.byte()
        raw = reader.sized(1024)
        message: str | bytes = raw
        if kind & 3 == 0:
            message = as_text(raw, kind >> 2)
        elif kind & 3 == 1:
            message = _HEADS[(kind >> 2) % len(_HEADS)] + raw
        try:
            packet = decoder.receive(message)
        except SocketIOProtocolError:
            return  # the connection closes here
        assert packet is not None and isinstance(message, bytes)
        _check_accepted(message, limits, from_server)


def _seed(*messages: bytes) -> bytes:
    """Flags (a client's decoder, default limits), the message count, then each message."""
    out = bytes([0, 1, len(messages) - 1])
    for message in messages:
        out += bytes([2]) + len(message).to_bytes(2, "big") + message
    return out


SEEDS = [
    _seed(bytes.fromhex("83a47479706500a464617461d40000a36e7370a12f")),  # CONNECT, undefined
    *(
        _seed(msgpack.packb(packet, use_bin_type=True))
        for packet in [
            {"type": 2, "data": ["chat", "hi", b"\x00"], "nsp": "/"},
            {"type": 3, "id": 5, "data": ["ok"], "nsp": "/a"},
            {"type": 2, "data": ["x", [[[1.5, None, {"k": True}]]]], "options": {}, "nsp": "/"},
        ]
    ),
]

if __name__ == "__main__":
    main("sio_msgpack", test_one_input, SEEDS)
