"""Engine.IO v4 packets and long-polling payloads: the codec, and nothing else.

A packet is one type digit followed by its data (Engine.IO v4 spec, "Packet encoding")::

    0 open   1 close   2 ping   3 pong   4 message   5 upgrade   6 noop

On a WebSocket each packet is one frame. Text packets are text frames (``4hello``); a binary
message is a binary frame holding the raw bytes with no type digit, since only messages can
carry binary. We call that per-frame form a *wire packet*: ``str`` or ``bytes``.

Over HTTP long-polling several wire packets travel in one body, separated by the record
separator ``\\x1e``; a binary message is written as ``b`` followed by its base64 text. Message
data is opaque here: JSON belongs to the Socket.IO layer.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass

from minisock.errors import EngineProtocolError

__all__ = [
    "RECORD_SEPARATOR",
    "Packet",
    "PacketType",
    "UncompressedBinary",
    "UncompressedText",
    "WirePacket",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
    "open_packet",
    "uncompressed",
    "wants_compression",
]

RECORD_SEPARATOR = "\x1e"

WirePacket = str | bytes
"""One packet as a WebSocket frame carries it: text with its type digit, or a binary message."""


class UncompressedText(str):
    """A text wire packet sent with ``compress(False)``: never deflated (the type is the flag,
    so packets without it cost nothing extra)."""

    __slots__ = ()


class UncompressedBinary(bytes):
    """A binary wire packet sent with ``compress(False)``."""

    __slots__ = ()


def wants_compression(wire: WirePacket) -> bool:
    """Whether ``wire`` may be compressed (it was not sent with ``compress(False)``)."""
    kind = type(wire)
    return kind is not UncompressedText and kind is not UncompressedBinary


def uncompressed(wire: WirePacket) -> WirePacket:
    """``wire`` marked ``compress(False)``."""
    return UncompressedText(wire) if isinstance(wire, str) else UncompressedBinary(wire)


class PacketType(enum.IntEnum):
    """The seven Engine.IO v4 packet types."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_DIGIT = {str(int(t)): t for t in PacketType}


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded packet. ``data`` is ``bytes`` only for a binary message."""

    type: PacketType
    data: str | bytes = ""


def encode_packet(packet: Packet) -> WirePacket:
    """The WebSocket form of ``packet``: ``"4hello"``, or the raw bytes of a binary message."""
    if isinstance(packet.data, bytes):
        if packet.type is not PacketType.MESSAGE:
            raise ValueError("only message packets can carry binary data")
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def decode_packet(wire: WirePacket) -> Packet:
    """Decode one wire packet (a WebSocket frame, or one record of a polling payload).

    Raises :class:`EngineProtocolError` for an empty packet, an unknown type, or bad base64.
    """
    if isinstance(wire, bytes | bytearray | memoryview):
        return Packet(PacketType.MESSAGE, bytes(wire))
    if not wire:
        raise EngineProtocolError("empty packet")
    head = wire[0]
    if head == "4":
        return Packet(PacketType.MESSAGE, wire[1:])
    if head == "b":
        try:
            data = base64.b64decode(wire[1:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EngineProtocolError("invalid base64 in binary packet") from exc
        return Packet(PacketType.MESSAGE, data)
    packet_type = _TYPE_BY_DIGIT.get(head)
    if packet_type is None:
        raise EngineProtocolError(f"unknown packet type {head!r}")
    return Packet(packet_type, wire[1:])


def encode_payload(wires: Iterable[WirePacket]) -> str:
    """Join wire packets into one long-polling body, base64-encoding binary ones."""
    return RECORD_SEPARATOR.join(
        "b" + base64.b64encode(w).decode("ascii") if isinstance(w, bytes) else w for w in wires
    )


def decode_payload(body: str) -> list[Packet]:
    """Split a long-polling body into packets. Every record must be a valid packet."""
    return [decode_packet(record) for record in body.split(RECORD_SEPARATOR)]


def open_packet(
    eio_sid: str,
    *,
    upgrades: list[str],
    ping_interval_ms: int,
    ping_timeout_ms: int,
    max_payload: int,
) -> str:
    """The ``0{...}`` handshake packet, with exactly the five keys the reference sends."""
    body = json.dumps(
        {
            "sid": eio_sid,
            "upgrades": upgrades,
            "pingInterval": ping_interval_ms,
            "pingTimeout": ping_timeout_ms,
            "maxPayload": max_payload,
        },
        separators=(",", ":"),
    )
    return f"0{body}"
