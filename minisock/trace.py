"""The wire tracer: every packet minisock sends and receives, on the ``minisock.wire`` logger.

Switch it on with ``logging.getLogger("minisock.wire").setLevel(logging.DEBUG)`` (plus a
handler), ``--trace`` on the examples, or ``python -m minisock trace SCRIPT [ARGS]``. Each
entry says::

    C→S websocket #1  81 85 …  4hello        message "hello"
    ^dir ^transport ^session ^raw            ^meaning

and carries the same fields as ``record.wire`` (a :class:`WireEntry`) for programs such as
the generator of PROTOCOL.md's transcripts.

Tokens are always redacted. Engine.IO sids are bearer credentials, so by default they are
replaced by an alias (``#1``, ``#2``, …) everywhere they appear; ``configure(show_sids=True)``
shows them. When the logger is off, tracing costs one level check per batch.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass

from minisock.errors import ProtocolError
from minisock.proto.eio import PacketType
from minisock.proto.sio import DecoderLimits, SioPacketType

__all__ = ["WireEntry", "configure", "describe_eio", "enabled", "wire_log"]

wire_log = logging.getLogger("minisock.wire")

C2S = "C→S"
S2C = "S→C"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_TOKEN_FIELD = re.compile(r'("token"\s*:\s*)"(?:[^"\\]|\\.)*"')
_AUTH_HEADER = re.compile(r"(?im)^(authorization:\s*)(.*)$")
_MAX_ALIASES = 10_000


@dataclass(frozen=True, slots=True)
class WireEntry:
    """One traced item: a packet, a WebSocket frame, or an HTTP message head."""

    direction: str
    transport: str
    session: str
    raw: str
    meaning: str


class _Settings:
    show_sids = False
    aliases: dict[str, str] = {}  # noqa: RUF012 - module-level singleton state
    offset_tail: re.Pattern[str] | None = None


def mark_offsets(epoch: str) -> None:
    """Connection state recovery is on: an EVENT whose last argument is a string starting
    with ``epoch`` is annotated with that offset."""
    _Settings.offset_tail = re.compile(r',"(' + re.escape(epoch) + r'[0-9a-f]+)"\]$')


def configure(*, show_sids: bool = False) -> None:
    """Choose whether traced lines show real Engine.IO sids (default: aliases)."""
    _Settings.show_sids = show_sids


def enabled() -> bool:
    return wire_log.isEnabledFor(logging.DEBUG)


def session_label(eio_sid: str | None) -> str:
    if eio_sid is None:
        return "-"
    if _Settings.show_sids:
        return eio_sid
    aliases = _Settings.aliases
    alias = aliases.get(eio_sid)
    if alias is None:
        if len(aliases) >= _MAX_ALIASES:
            aliases.clear()
        alias = aliases[eio_sid] = f"#{len(aliases) + 1}"
    return alias


def redact(text: str, eio_sid: str | None = None) -> str:
    """Hide tokens, and (unless configured otherwise) the session's sid, in ``text``."""
    text = _AUTH_HEADER.sub(r"\1<redacted>", text)
    text = _TOKEN_FIELD.sub(r'\1"<redacted>"', text)
    text = _JWT.sub("<jwt redacted>", text)
    if eio_sid and not _Settings.show_sids and eio_sid in text:
        text = text.replace(eio_sid, f"<sid{session_label(eio_sid)}>")
    return text


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def describe_sio(text: str) -> str:
    """A Socket.IO packet in words, without decoding it for real (no state needed)."""
    if not text or not "0" <= text[0] <= "6":
        return "not a Socket.IO packet"
    name = SioPacketType(int(text[0])).name
    rest = text[1:]
    attachments = ""
    if name.startswith("BINARY") and "-" in rest:
        count, rest = rest.split("-", 1)
        attachments = f", {count} attachment(s)"
    nsp = "/"
    if rest.startswith("/"):
        nsp, _, rest = rest.partition(",")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    ack = f", ack id {rest[:digits]}" if digits else ""
    payload = f" {rest[digits:]}" if rest[digits:] else ""
    offset = ""
    tail = _Settings.offset_tail
    if (
        tail is not None
        and not digits
        and name.endswith("EVENT")
        and (found := tail.search(payload))
    ):
        offset = f", offset {found.group(1)}"
    return f"Socket.IO {name} {nsp}{ack}{attachments}{_short(payload)}{offset}"


def describe_msgpack(data: bytes) -> str:
    """A binary message read as the msgpack parser's packet, or ``""`` if it is not one
    (an attachment of the JSON parser, or the msgpack package is missing)."""
    try:
        from minisock.proto.sio_msgpack import decode
    except ImportError:
        return ""
    try:
        packet = decode(data, DecoderLimits(max_args=1 << 20, max_depth=1 << 10), True)
    except ProtocolError:
        return ""
    ack = f", ack id {packet.id}" if packet.id is not None else ""
    payload = ""
    if packet.data is not None:
        text = json.dumps(
            packet.data, ensure_ascii=False, separators=(",", ":"), default=_show_bytes
        )
        payload = " " + _short(text.replace('"\\u0000bin ', "<bin ").replace('\\u0000"', ">"))
    return f"[binary msgpack] Socket.IO {packet.type.name} {packet.nsp}{ack}{payload}"


def _show_bytes(value: object) -> str:
    if isinstance(value, bytes):
        shown = value[:16].hex(" ") + (" …" if len(value) > 16 else "")
        return f"\u0000bin {shown}\u0000"
    raise TypeError(type(value).__name__)


def describe_eio(wire: str | bytes) -> str:
    """An Engine.IO wire packet in words."""
    if isinstance(wire, bytes):
        inner = describe_msgpack(wire)
        return f"message, binary ({len(wire)} bytes)" + (f" = {inner}" if inner else "")
    if not wire:
        return "empty packet (invalid)"
    head, data = wire[0], wire[1:]
    if head == "b":
        try:
            inner = describe_msgpack(base64.b64decode(data, validate=True))
        except ValueError:
            inner = ""
        return "message, binary as base64" + (f" = {inner}" if inner else "")
    if not "0" <= head <= "6":
        return "invalid packet"
    kind = PacketType(int(head))
    if kind is PacketType.MESSAGE:
        inner = describe_sio(data)
        return f"message {json.dumps(data, ensure_ascii=False)}" + (
            f" = {inner}" if not inner.startswith("not") else ""
        )
    if kind is PacketType.OPEN:
        return "open (handshake)"
    return kind.name.lower() + (f" {data!r}" if data else "")


def raw_form(wire: str | bytes) -> str:
    """Text as is (the record separator shown as ``\\x1e``); binary as hex."""
    if isinstance(wire, bytes):
        return wire.hex(" ")
    return wire.replace("\x1e", "\\x1e")


def emit(direction: str, transport: str, eio_sid: str | None, raw: str, meaning: str) -> None:
    """Log one entry (call only when :func:`enabled`)."""
    entry = WireEntry(
        direction,
        transport,
        session_label(eio_sid),
        redact(raw, eio_sid),
        redact(meaning, eio_sid),
    )
    wire_log.debug(
        "%s %-9s %-4s %s    %s",
        entry.direction,
        entry.transport,
        entry.session,
        _short(entry.raw, 200),
        entry.meaning,
        extra={"wire": entry},
    )


def packets(direction: str, transport: str, eio_sid: str | None, wires: list[str | bytes]) -> None:
    """One entry per Engine.IO packet."""
    for wire in wires:
        if isinstance(wire, str):
            wire = redact(wire, eio_sid)  # before describing: the meaning quotes the data
        emit(direction, transport, eio_sid, raw_form(wire), describe_eio(wire))


def payload(direction: str, eio_sid: str | None, body: str) -> None:
    """A long-polling body: the whole body, then each of its packets."""
    records = body.split("\x1e")
    if len(records) > 1:
        emit(direction, "polling", eio_sid, raw_form(body), f"payload of {len(records)} packets")
    packets(direction, "polling", eio_sid, list(records))


def frame(
    direction: str,
    eio_sid: str | None,
    head: bytes,
    wire: str | bytes,
    *,
    deflated: int | None = None,
) -> None:
    """A WebSocket frame: its header bytes in hex, then the packet it carries.

    ``deflated``: the frame is compressed (RSV1) to that many bytes; the packet shown is the
    inflated one.
    """
    if isinstance(wire, str):
        wire = redact(wire, eio_sid)
    meaning = describe_eio(wire)
    if deflated is not None:
        size = len(wire.encode("utf-8")) if isinstance(wire, str) else len(wire)
        meaning += f" [RSV1: deflated, {size} bytes sent as {deflated}]"
    emit(direction, "websocket", eio_sid, f"[{head.hex(' ')}] {raw_form(wire)}", meaning)


def raw_bytes(direction: str, eio_sid: str | None, data: bytes, meaning: str) -> None:
    """Bytes as they crossed the socket (the first 64, in hex)."""
    shown = data[:64].hex(" ") + (f" … ({len(data)} bytes)" if len(data) > 64 else "")
    emit(direction, "websocket", eio_sid, shown, meaning)


def enable(*, show_sids: bool = False) -> None:
    """Print the wire trace on stderr (what ``--trace`` and ``python -m minisock trace`` do)."""
    configure(show_sids=show_sids)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    wire_log.addHandler(handler)
    wire_log.setLevel(logging.DEBUG)
    wire_log.propagate = False
