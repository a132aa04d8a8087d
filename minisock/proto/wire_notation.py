"""The wire tracer's compact notation: one short line per packet, decoded once.

::

    +0.012s C→S websocket eio#1 sio#1 EVENT /admin 13 ["bar"]
    ^offset ^dir ^transport ^ids       ^the packet: type, namespace, ack id, payload

This module owns how a packet *reads*: ``python -m minisock trace`` prints these lines, and
``docs/transcripts.py`` writes PROTOCOL.md's transcripts with the same functions, so the page
and the tracer cannot drift apart. It is pure: time comes in as an offset, sids come in
already aliased (or not), and the binary reader of the msgpack parser is passed in.

The notation, from the outermost layer in:

- Engine.IO packets are their type in capitals (``OPEN {...}``, ``PING``, ``PONG "probe"``,
  ``UPGRADE``, ``NOOP``, ``CLOSE``); a plain message is ``MESSAGE "text"`` (JSON-quoted, so
  control characters show) or ``MESSAGE <3 bytes 01 02 03>``.
- A message that is a Socket.IO packet is that packet instead: its type, namespace, ack id
  and attachment count, then the JSON payload with each placeholder written ``<attachment 0>``.
- Transport events are in lower case: ``close frame 1000 "transport close"``, HTTP lines.
- Anything longer than the width is cut, ending with ``…(+N)``: N characters left out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from minisock.proto.eio import PacketType
from minisock.proto.sio import SioPacketType

__all__ = [
    "DEFAULT_WIDTH",
    "SioHead",
    "bytes_notation",
    "close_notation",
    "compact_line",
    "eio_notation",
    "elide",
    "offset_notation",
    "parse_sio",
    "sio_notation",
]

DEFAULT_WIDTH = 120
"""Characters of a packet's notation shown before it is cut (``--trace-width``)."""

_PLACEHOLDER = re.compile(r'\{"_placeholder":true,"num":(\d+)\}')
_BYTES_SHOWN = 16


def elide(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, saying how many were left out."""
    if len(text) <= width:
        return text
    kept = width - len(f"…(+{len(text)})")  # the count left out is at most len(text)
    if kept < 1:
        return text[:width]
    return f"{text[:kept]}…(+{len(text) - kept})"


def bytes_notation(data: bytes) -> str:
    """Binary data as ``<3 bytes 01 02 03>`` (the first 16 bytes at most)."""
    shown = data[:_BYTES_SHOWN].hex(" ") + (" …" if len(data) > _BYTES_SHOWN else "")
    return f"<{len(data)} bytes {shown}>" if data else "<0 bytes>"


@dataclass(frozen=True, slots=True)
class SioHead:
    """A Socket.IO text packet read without decoding its JSON (no state, no limits)."""

    type: SioPacketType
    nsp: str
    ack_id: str
    """The digits of the ack id, ``""`` when none."""
    attachments: str
    """The attachment count of a binary packet, ``""`` when none."""
    payload: str


def parse_sio(text: str) -> SioHead | None:
    """``text`` (an Engine.IO message) read as a Socket.IO packet, or ``None``."""
    if not text or not "0" <= text[0] <= "6":
        return None
    kind = SioPacketType(int(text[0]))
    rest = text[1:]
    attachments = ""
    if kind in (SioPacketType.BINARY_EVENT, SioPacketType.BINARY_ACK) and "-" in rest:
        attachments, rest = rest.split("-", 1)
    nsp = "/"
    if rest.startswith("/"):
        nsp, _, rest = rest.partition(",")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    return SioHead(kind, nsp, rest[:digits], attachments, rest[digits:])


def sio_notation(head: SioHead) -> str:
    """``EVENT /admin 13 ["bar"]``; ``BINARY_EVENT / 3 (1 attachment) ["up",<attachment 0>]``."""
    parts = [head.type.name, head.nsp]
    if head.ack_id:
        parts.append(head.ack_id)
    if head.attachments:
        plural = "" if head.attachments == "1" else "s"
        parts.append(f"({head.attachments} attachment{plural})")
    if head.payload:
        parts.append(_PLACEHOLDER.sub(r"<attachment \1>", head.payload))
    return " ".join(parts)


BinaryReader = Callable[[bytes], str | None]
"""Reads a binary message as a packet of the msgpack parser (its notation), or ``None``."""


def _binary(data: bytes, read: BinaryReader | None, base64_text: bool) -> str:
    packet = read(data) if read is not None else None
    if packet is not None:
        return f"{packet} (msgpack, base64)" if base64_text else f"{packet} (msgpack)"
    shown = f"MESSAGE {bytes_notation(data)}"
    return f"{shown} (base64)" if base64_text else shown


def eio_notation(wire: str | bytes, read_binary: BinaryReader | None = None) -> str:
    """One Engine.IO wire packet (a frame's content, or one record of a polling body)."""
    if isinstance(wire, bytes):
        return _binary(wire, read_binary, False)
    if not wire:
        return "invalid: empty packet"
    head, data = wire[0], wire[1:]
    if head == "b":
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return f"invalid: broken base64 {json.dumps(data, ensure_ascii=False)}"
        return _binary(decoded, read_binary, True)
    if not "0" <= head <= "6":
        return f"invalid: {json.dumps(wire, ensure_ascii=False)}"
    kind = PacketType(int(head))
    if kind is PacketType.MESSAGE:
        sio = parse_sio(data)
        if sio is not None:
            return sio_notation(sio)
        return f"MESSAGE {json.dumps(data, ensure_ascii=False)}"
    if kind is PacketType.OPEN:
        return f"OPEN {data}"
    return kind.name + (f" {json.dumps(data, ensure_ascii=False)}" if data else "")


def close_notation(code: int | None, reason: str) -> str:
    """A WebSocket close frame: ``close frame 1000 "transport close"``."""
    shown = "close frame" if code is None else f"close frame {code}"
    return f"{shown} {json.dumps(reason, ensure_ascii=False)}" if reason else shown


def offset_notation(offset: float) -> str:
    """Seconds since the tracer started: ``+0.012s``."""
    return f"+{offset:.3f}s"


def compact_line(
    offset: float | None,
    direction: str,
    transport: str,
    ids: tuple[str, str],
    text: str,
    width: int = DEFAULT_WIDTH,
) -> str:
    """One line of the compact format. ``ids``: the Engine.IO and Socket.IO labels (``""``
    when unknown); ``offset=None`` leaves the time out."""
    eio, sio = ids
    head = f"{direction} {transport:<9} {eio or '-':<6} {sio:<6}"
    if offset is not None:
        head = f"{offset_notation(offset):>9} {head}"
    return f"{head} {elide(text, width)}".rstrip()
