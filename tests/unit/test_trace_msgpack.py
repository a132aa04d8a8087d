"""The wire tracer reads the msgpack parser's binary messages, on WebSocket and as polling's
base64 records; other binary messages (the JSON parser's attachments) stay bytes."""

from __future__ import annotations

import base64

from minisock.proto.sio import SioPacket, SioPacketType
from minisock.proto.sio_msgpack import encode
from minisock.trace import describe_eio

WIRE = encode(SioPacket(SioPacketType.EVENT, "/admin", ["chat", "hé", b"\x00\xff", {"a": None}], 7))
MEANING = '[binary msgpack] Socket.IO EVENT /admin, ack id 7 ["chat","hé",<bin 00 ff>,{"a":null}]'


def test_a_msgpack_packet_is_decoded() -> None:
    assert describe_eio(WIRE) == f"message, binary ({len(WIRE)} bytes) = {MEANING}"


def test_a_base64_record_is_decoded_too() -> None:
    record = "b" + base64.b64encode(WIRE).decode()
    assert describe_eio(record) == f"message, binary as base64 = {MEANING}"


def test_other_binary_stays_bytes() -> None:
    assert describe_eio(b"\x00\x01") == "message, binary (2 bytes)"
    assert describe_eio("b!!") == "message, binary as base64"
    connect = bytes.fromhex("83a47479706500a464617461d40000a36e7370a12f")  # data: undefined
    assert describe_eio(connect).endswith("= [binary msgpack] Socket.IO CONNECT /")
