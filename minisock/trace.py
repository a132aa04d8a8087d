"""The wire tracer: every packet minisock sends and receives, on the ``minisock.wire`` logger.

Switch it on with ``python -m minisock trace SCRIPT [ARGS]``, ``--trace`` on the examples, or
:func:`enable`. The default, compact format prints one line per packet, decoded once (the
notation is :mod:`minisock.proto.wire_notation`'s, which PROTOCOL.md's transcripts use too)::

    +0.012s C→S websocket eio#1  sio#1  EVENT /admin 13 ["bar"]
    ^offset ^dir ^transport ^Engine.IO and Socket.IO ids ^the packet

``--trace-format full`` prints the long form instead, the raw packet then its meaning::

    C→S websocket eio#1 81 85 …  4hello        message "hello"

Every log record carries the entry as ``record.wire`` (a :class:`WireEntry`) for programs
such as the generator of PROTOCOL.md's transcripts; its message is the long form.

Tokens are always redacted. Engine.IO sids are bearer credentials, so by default they are
replaced by an alias (``eio#1``, ``eio#2``, …) everywhere they appear, and Socket.IO sids
likewise (``sio#1``); ``configure(show_sids=True)`` shows them. When the logger is off,
tracing costs one level check per batch.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

from minisock.errors import ProtocolError
from minisock.proto import wire_notation as notation
from minisock.proto.eio import PacketType
from minisock.proto.sio import DecoderLimits, SioPacket, SioPacketType

__all__ = [
    "CompactFormatter",
    "TraceFormat",
    "WireEntry",
    "configure",
    "describe_eio",
    "enable",
    "enabled",
    "wire_log",
]

TraceFormat = Literal["compact", "full"]

wire_log = logging.getLogger("minisock.wire")

C2S = "C→S"
S2C = "S→C"
LOCAL = "---"
"""The direction of an entry that crossed no wire: a session closing, and why."""

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
# Credentials a CONNECT payload may carry: a token, or a login such as the admin UI's.
_TOKEN_FIELD = re.compile(
    r'("(?:token|password|passwd|secret|api_?key|access_token|refresh_token)"\s*:\s*)'
    r'"(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)
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
    packet: str | None = None
    """The compact notation of the packet; ``None`` for what the compact format leaves out
    (a frame's bytes, the summary line of a polling body)."""
    socket: str = ""
    """The Socket.IO sid (aliased) of the packet's namespace on this session, once known."""


class _Settings:
    show_sids = False
    aliases: dict[str, str] = {}  # noqa: RUF012 - module-level singleton state
    sio_aliases: dict[str, str] = {}  # noqa: RUF012
    sio_sids: dict[str, dict[str, str]] = {}  # noqa: RUF012 - eio sid -> nsp -> Socket.IO sid
    offset_tail: re.Pattern[str] | None = None


def mark_offsets(epoch: str) -> None:
    """Connection state recovery is on: an EVENT whose last argument is a string starting
    with ``epoch`` is annotated with that offset."""
    _Settings.offset_tail = re.compile(r',"(' + re.escape(epoch) + r'[0-9a-f]+)"\]$')


def configure(*, show_sids: bool = False) -> None:
    """Choose whether traced lines show real Engine.IO sids (default: aliases)."""
    _Settings.show_sids = show_sids


def forget_aliases() -> None:
    """Start numbering aliases from 1 again (a new transcript, a new test)."""
    _Settings.aliases.clear()
    _Settings.sio_aliases.clear()
    _Settings.sio_sids.clear()


enabled: Callable[[], bool] = partial(wire_log.isEnabledFor, logging.DEBUG)
"""Whether the wire log is on. Every packet asks, several times: a ``partial`` costs one
Python call where a function calling ``isEnabledFor`` cost two."""


def _alias(aliases: dict[str, str], real: str, prefix: str) -> str:
    alias = aliases.get(real)
    if alias is None:
        if len(aliases) >= _MAX_ALIASES:
            aliases.clear()
        alias = aliases[real] = f"{prefix}#{len(aliases) + 1}"
    return alias


def session_label(eio_sid: str | None) -> str:
    if eio_sid is None:
        return "-"
    if _Settings.show_sids:
        return eio_sid
    return _alias(_Settings.aliases, eio_sid, "eio")


def socket_label(eio_sid: str | None, nsp: str) -> str:
    """The Socket.IO sid of namespace ``nsp`` on this session (aliased), ``""`` if unknown."""
    sio_sid = _Settings.sio_sids.get(eio_sid or "", {}).get(nsp)
    if sio_sid is None or _Settings.show_sids:
        return sio_sid or ""
    return _alias(_Settings.sio_aliases, sio_sid, "sio")


def _learn_socket(eio_sid: str | None, nsp: str, data: object) -> None:
    """A CONNECT the server sends names the socket's sid: remember it for this session."""
    if eio_sid and isinstance(data, dict) and isinstance(data.get("sid"), str):
        sessions = _Settings.sio_sids
        if eio_sid not in sessions and len(sessions) >= _MAX_ALIASES:
            sessions.clear()
        sessions.setdefault(eio_sid, {})[nsp] = data["sid"]


def redact(text: str, eio_sid: str | None = None) -> str:
    """Hide tokens, and (unless configured otherwise) the session's sids, in ``text``."""
    text = _AUTH_HEADER.sub(r"\1<redacted>", text)
    text = _TOKEN_FIELD.sub(r'\1"<redacted>"', text)
    text = _JWT.sub("<jwt redacted>", text)
    if eio_sid and not _Settings.show_sids:
        if eio_sid in text:
            text = text.replace(eio_sid, f"<{session_label(eio_sid)}>")
        for nsp, sio_sid in _Settings.sio_sids.get(eio_sid, {}).items():
            if sio_sid in text:
                text = text.replace(sio_sid, f"<{socket_label(eio_sid, nsp)}>")
    return text


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def describe_sio(text: str) -> str:
    """A Socket.IO packet in words, without decoding it for real (no state needed)."""
    head = notation.parse_sio(text)
    if head is None:
        return "not a Socket.IO packet"
    name = head.type.name
    attachments = f", {head.attachments} attachment(s)" if head.attachments else ""
    ack = f", ack id {head.ack_id}" if head.ack_id else ""
    payload = f" {head.payload}" if head.payload else ""
    offset = ""
    tail = _Settings.offset_tail
    if (
        tail is not None
        and not head.ack_id
        and name.endswith("EVENT")
        and (found := tail.search(payload))
    ):
        offset = f", offset {found.group(1)}"
    return f"Socket.IO {name} {head.nsp}{ack}{attachments}{_short(payload)}{offset}"


def _read_msgpack(data: bytes) -> SioPacket | None:
    """A binary message read as the msgpack parser's packet, or ``None`` if it is not one
    (an attachment of the JSON parser, or the msgpack package is missing)."""
    try:
        from minisock.proto.sio_msgpack import decode
    except ImportError:
        return None
    try:
        return decode(data, DecoderLimits(max_args=1 << 20, max_depth=1 << 10), True)
    except ProtocolError:
        return None


def _msgpack_payload(packet: SioPacket, show: Callable[[bytes], str]) -> str:
    """The packet's data as JSON, each ``bytes`` value written ``<show(value)>``."""

    def default(value: object) -> str:
        if isinstance(value, bytes):
            return f"\u0000{show(value)}\u0000"
        raise TypeError(type(value).__name__)

    text = json.dumps(packet.data, ensure_ascii=False, separators=(",", ":"), default=default)
    return text.replace('"\\u0000', "<").replace('\\u0000"', ">")


def _bin(value: bytes) -> str:
    return "bin " + value[:16].hex(" ") + (" …" if len(value) > 16 else "")


def _sized(value: bytes) -> str:
    return notation.bytes_notation(value)[1:-1]


def describe_msgpack(data: bytes) -> str:
    """A binary message read as the msgpack parser's packet, or ``""`` if it is not one."""
    packet = _read_msgpack(data)
    if packet is None:
        return ""
    ack = f", ack id {packet.id}" if packet.id is not None else ""
    payload = "" if packet.data is None else " " + _short(_msgpack_payload(packet, _bin))
    return f"[binary msgpack] Socket.IO {packet.type.name} {packet.nsp}{ack}{payload}"


def _msgpack_notation(data: bytes) -> str | None:
    packet = _read_msgpack(data)
    if packet is None:
        return None
    payload = "" if packet.data is None else _msgpack_payload(packet, _sized)
    ack = "" if packet.id is None else str(packet.id)
    return notation.sio_notation(notation.SioHead(packet.type, packet.nsp, ack, "", payload))


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


def emit(
    direction: str,
    transport: str,
    eio_sid: str | None,
    raw: str,
    meaning: str,
    *,
    packet: str | None = "",
    socket: str = "",
) -> None:
    """Log one entry (call only when :func:`enabled`). ``packet``: its compact notation;
    by default the raw text (an HTTP line), with the meaning when it adds something."""
    if packet == "":
        packet = _plain_notation(transport, raw, meaning)
    entry = WireEntry(
        direction,
        transport,
        session_label(eio_sid),
        redact(raw, eio_sid),
        redact(meaning, eio_sid),
        None if packet is None else redact(packet, eio_sid),
        socket,
    )
    wire_log.debug(
        "%s %-9s %-5s %s    %s",
        entry.direction,
        entry.transport,
        entry.session,
        _short(entry.raw, 200),
        entry.meaning,
        extra={"wire": entry},
    )


_SAID_BY_RAW = {"HTTP request", "refused", "WebSocket accepted", ""}


def _plain_notation(transport: str, raw: str, meaning: str) -> str:
    if transport == "websocket" and raw.startswith("close "):
        code = raw.removeprefix("close ")
        return notation.close_notation(int(code) if code.isdigit() else None, meaning)
    return raw if meaning in _SAID_BY_RAW else f"{raw} ({meaning})"


def _socket_of(direction: str, eio_sid: str | None, wire: str | bytes) -> str:
    """The Socket.IO sid label of ``wire``'s namespace, learning it from a CONNECT answer."""
    if isinstance(wire, str) and wire[:1] == "b":
        try:
            wire = base64.b64decode(wire[1:], validate=True)
        except ValueError:
            return ""
    if isinstance(wire, bytes):
        packet = _read_msgpack(wire)
        if packet is None:
            return ""
        nsp, kind, data = packet.nsp, packet.type, packet.data
    else:
        head = notation.parse_sio(wire[1:]) if wire[:1] == "4" else None
        if head is None:
            return ""
        nsp, kind, data = head.nsp, head.type, None
        if kind is SioPacketType.CONNECT and direction == S2C and head.payload[:1] == "{":
            try:
                data = json.loads(head.payload)
            except ValueError:
                data = None
    if kind is SioPacketType.CONNECT and direction == S2C:
        _learn_socket(eio_sid, nsp, data)
    return socket_label(eio_sid, nsp)


def _packet_entry(
    direction: str, transport: str, eio_sid: str | None, wire: str | bytes, raw: str, suffix: str
) -> None:
    socket = _socket_of(direction, eio_sid, wire)
    if isinstance(wire, str):
        wire = redact(wire, eio_sid)  # before describing: the meaning quotes the data
    compact = notation.eio_notation(wire, _msgpack_notation)
    meaning = describe_eio(wire)
    if suffix:
        compact, meaning = f"{compact} {suffix}", f"{meaning} {suffix}"
    emit(
        direction, transport, eio_sid, raw or raw_form(wire), meaning, packet=compact, socket=socket
    )


def packets(direction: str, transport: str, eio_sid: str | None, wires: list[str | bytes]) -> None:
    """One entry per Engine.IO packet."""
    for wire in wires:
        _packet_entry(direction, transport, eio_sid, wire, "", "")


def payload(direction: str, eio_sid: str | None, body: str) -> None:
    """A long-polling body: the whole body (left out of the compact format), then each of
    its packets."""
    records = body.split("\x1e")
    if len(records) > 1:
        for record in records:
            _socket_of(direction, eio_sid, record)  # learn a CONNECT's sid before showing it
        summary = f"payload of {len(records)} packets"
        emit(direction, "polling", eio_sid, raw_form(body), summary, packet=None)
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
    suffix = ""
    if deflated is not None:
        size = len(wire.encode("utf-8")) if isinstance(wire, str) else len(wire)
        suffix = f"[RSV1: deflated, {size} bytes sent as {deflated}]"
    shown = redact(wire, eio_sid) if isinstance(wire, str) else wire
    _packet_entry(
        direction, "websocket", eio_sid, wire, f"[{head.hex(' ')}] {raw_form(shown)}", suffix
    )


def raw_bytes(direction: str, eio_sid: str | None, data: bytes, meaning: str) -> None:
    """Bytes as they crossed the socket (the first 64, in hex; not in the compact format)."""
    shown = data[:64].hex(" ") + (f" … ({len(data)} bytes)" if len(data) > 64 else "")
    emit(direction, "websocket", eio_sid, shown, meaning, packet=None)


def closed(eio_sid: str, transport: str, reason: str) -> None:
    """A session closed, and why (call only when :func:`enabled`)."""
    text = f"session closed {json.dumps(reason, ensure_ascii=False)}"
    emit(LOCAL, transport, eio_sid, "session closed", reason, packet=text)
    _Settings.sio_sids.pop(eio_sid, None)


class CompactFormatter(logging.Formatter):
    """Formats ``minisock.wire`` records in the compact notation, timed from ``start``
    (``time.time()`` by default: when the tracer started)."""

    def __init__(self, *, start: float | None = None, width: int = notation.DEFAULT_WIDTH) -> None:
        super().__init__()
        self.start = time.time() if start is None else start
        self.width = width

    def format(self, record: logging.LogRecord) -> str:
        entry = getattr(record, "wire", None)
        if not isinstance(entry, WireEntry) or entry.packet is None:
            return super().format(record)
        ids = (entry.session if entry.session != "-" else "", entry.socket)
        offset = record.created - self.start
        return notation.compact_line(
            offset, entry.direction, entry.transport, ids, entry.packet, self.width
        )


def _one_line_per_packet(record: logging.LogRecord) -> bool:
    entry = getattr(record, "wire", None)
    return not isinstance(entry, WireEntry) or entry.packet is not None


def enable(
    *,
    show_sids: bool = False,
    trace_format: TraceFormat = "compact",
    width: int = notation.DEFAULT_WIDTH,
) -> None:
    """Print the wire trace on stderr (what ``--trace`` and ``python -m minisock trace`` do):
    compact lines by default, today's long form with ``trace_format="full"``."""
    configure(show_sids=show_sids)
    handler = logging.StreamHandler()
    if trace_format == "compact":
        handler.setFormatter(CompactFormatter(width=width))
        handler.addFilter(_one_line_per_packet)
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
    wire_log.addHandler(handler)
    wire_log.setLevel(logging.DEBUG)
    wire_log.propagate = False
