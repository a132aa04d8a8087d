"""Socket.IO v5 packets: encoding, strict decoding, and binary attachments.

A Socket.IO packet travels as the data of Engine.IO message packets::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

    0 CONNECT  1 DISCONNECT  2 EVENT  3 ACK  4 CONNECT_ERROR  5 BINARY_EVENT  6 BINARY_ACK

``2["chat","hi"]`` is an event on ``/``; ``2/admin,7["x"]`` asks for ack 7 on ``/admin``. Binary
values are replaced by ``{"_placeholder":true,"num":n}`` and sent as *attachments*, the
Engine.IO binary messages that follow the text part: ``51-["up",{"_placeholder":true,"num":0}]``
then one binary message.

Decoding is strict: every rule of the reference parser plus bounds on attachments, arguments,
JSON nesting and ack ids. A violation raises :class:`SocketIOProtocolError`, and the caller
closes the whole connection, as the reference does. Nothing here imports trio.

Encoding has one bound of its own, the nesting depth of an outgoing payload
(:data:`MAX_OUTGOING_DEPTH`, counted as the decoder counts it): deeper raises
:class:`PayloadTooDeepError` before anything is sent. Python's JSON encoder alone would decide
by the interpreter's recursion limits, which differ between versions (a 5 000-deep list fails
on 3.11 and 3.12 and is sent on 3.13); Node's ``JSON.stringify`` decides by its stack size.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from minisock.errors import MinisockError, ProtocolError
from minisock.proto.eio import WirePacket

__all__ = [
    "MAX_OUTGOING_DEPTH",
    "RESERVED_EVENTS",
    "ClientSideDecoder",
    "Decoder",
    "DecoderLimits",
    "PayloadTooDeepError",
    "SioPacket",
    "SioPacketType",
    "SocketIOProtocolError",
    "ack_args",
    "ack_value",
    "check_event_name",
    "check_namespace_name",
    "encode",
    "engine_wires",
    "json_text",
    "max_outgoing_depth",
    "set_max_outgoing_depth",
]

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
MAX_ACK_ID = 2**53  # the largest integer a JavaScript number holds exactly


class SocketIOProtocolError(ProtocolError):
    """A malformed Socket.IO packet; the connection is closed (reason "parse error")."""


class SioPacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_BINARY_OF = {
    SioPacketType.EVENT: SioPacketType.BINARY_EVENT,
    SioPacketType.ACK: SioPacketType.BINARY_ACK,
}
_PLAIN_OF = {v: k for k, v in _BINARY_OF.items()}


@dataclass(slots=True)
class SioPacket:
    """A Socket.IO packet. Binary packets are decoded to EVENT/ACK with ``bytes`` restored."""

    type: SioPacketType
    nsp: str = "/"
    data: Any = None
    id: int | None = None


# ---------------------------------------------------------------------------------- encoding


def encode(packet: SioPacket) -> list[str | bytes]:
    """The Engine.IO message data for ``packet``: one text part, then its attachments.

    ``bytes`` anywhere in ``data`` become placeholders; EVENT and ACK then go out as
    BINARY_EVENT and BINARY_ACK. The JSON is what ``JSON.stringify`` writes: compact,
    non-ASCII text as is, lone surrogates escaped, and NaN or infinities as ``null``.
    """
    attachments: list[bytes] = []
    payload = ""
    if packet.data is not None:
        payload = _dumps(packet.data, None, attachments)
    kind = packet.type
    head = ""
    if attachments:
        if kind not in _BINARY_OF:
            raise ValueError(f"a {kind.name} packet cannot carry binary data")
        kind = _BINARY_OF[kind]
        head = f"{len(attachments)}-"
    nsp = f"{packet.nsp}," if packet.nsp != "/" else ""
    ack = str(packet.id) if packet.id is not None else ""
    return [f"{int(kind)}{head}{nsp}{ack}{payload}", *attachments]


def check_event_name(event: str, *, server_side: bool = False) -> None:
    """An event an application may send: a string, and not one of the reserved names
    (between servers, the reference's namespace also reserves two of its own)."""
    if not isinstance(event, str):
        raise TypeError("the event name must be a string")
    if event in RESERVED_EVENTS or (server_side and event in _SERVER_SIDE_RESERVED):
        raise ValueError(f"{event!r} is a reserved event name")


_SERVER_SIDE_RESERVED = frozenset({"connection", "new_namespace"})


def check_namespace_name(name: str) -> None:
    """A namespace a server may hold. Its name is written raw into every packet's text (not
    as JSON), so a record separator in it would split a long-polling payload in two."""
    if "\x1e" in name:
        raise ValueError(
            f"the namespace {name!r} contains the record separator \\x1e: the name is "
            "written raw into each packet, and long-polling uses \\x1e between packets"
        )


def engine_wires(packet: SioPacket) -> list[WirePacket]:
    """``packet`` as the Engine.IO message wire packets every recipient gets (encode once)."""
    parts = encode(packet)
    return [f"4{parts[0]!s}", *parts[1:]]


def ack_args(result: Any) -> list[Any]:
    """The ACK arguments for a handler's return value: ``None`` is none, a tuple is several,
    anything else is one (as python-socketio does)."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: list[Any]) -> Any:
    """What ``call()`` returns for the ACK arguments ``args``: the inverse of :func:`ack_args`."""
    if not args:
        return None
    return args[0] if len(args) == 1 else tuple(args)


class _HasBinary(Exception):
    """Raised by the shared encoder on the first bytes value: take the slow path."""


def _no_binary(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        raise _HasBinary
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _placeholders(attachments: list[bytes]) -> Callable[[object], object]:
    """The encoder's ``default`` for a payload with binary: each ``bytes`` value goes to
    ``attachments`` and its place holds ``{"_placeholder": true, "num": i}``."""

    def placeholder(value: object) -> object:
        if isinstance(value, bytes | bytearray | memoryview):
            attachments.append(bytes(value))
            return {"_placeholder": True, "num": len(attachments) - 1}
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    return placeholder


# Built once, for the common case of a payload without binary: json.dumps() with options
# builds a new encoder on every call.
_JSON_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_no_binary
)


def _encode_plain(data: Any) -> str:
    """``_JSON_ENCODER.encode(data)`` straight through CPython's C encoder: the same text
    (same options, a fresh circular-reference check), without the two Python-level calls
    and the closure that ``JSONEncoder.encode`` spends on every packet."""
    if _make_encoder is None:  # no C accelerator (not CPython): the documented way
        return _JSON_ENCODER.encode(data)
    chunks = _make_encoder({}, _no_binary, _encode_str, None, ":", ",", False, False, False)(
        data, 0
    )
    return "".join(chunks)


_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_str = json.encoder.encode_basestring


def _dumps(data: Any, default: Callable[[object], object] | None, attachments: list[bytes]) -> str:
    """JSON text for ``data``, no deeper than :func:`max_outgoing_depth`, on any Python.

    ``bytes`` in ``data`` go to ``attachments`` as placeholders, unless ``default`` says
    otherwise (it is called for every value JSON cannot carry).
    """
    try:
        try:
            text = _encode_plain(data)
        except _HasBinary:
            if default is None:
                default = _placeholders(attachments)
            text = json.dumps(
                data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
            )
    except ValueError:
        # NaN or an infinity somewhere: JSON.stringify writes null. Rare, so walk only now.
        attachments.clear()
        try:
            finite = _finite(data)
        except RecursionError:
            raise _too_deep(data) from None
        return _dumps(finite, default, attachments)
    except RecursionError:
        # The interpreter gave up first (3.11, 3.12: about 1 000 levels; 3.13: 10 000).
        raise _too_deep(data) from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot be sent as UTF-8; JSON.stringify escapes it.
            attachments.clear()
            text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=default)
    # A text of depth d has at least 2d characters: most texts stop at this comparison.
    if len(text) > _outgoing_text_floor and _text_deeper_than(text, _outgoing_depth):
        raise PayloadTooDeepError(_outgoing_depth)
    return text


# ---------------------------------------------------------------------------------- outgoing depth

MAX_OUTGOING_DEPTH = 256
"""The default bound on an outgoing payload's nesting (arrays and objects, the packet's own
argument array included). Far above what real data needs (the decoder accepts 32), far below
where any supported Python's JSON encoder gives up, so the promise holds on every version."""
_OUTGOING_DEPTH_CEILING = 512  # below 3.11's recursion limit (1 000), with room for the stack
_outgoing_depth = MAX_OUTGOING_DEPTH
_outgoing_text_floor = 2 * MAX_OUTGOING_DEPTH  # no shorter text can be deeper


class PayloadTooDeepError(MinisockError, ValueError):
    """An outgoing payload nests deeper than :func:`max_outgoing_depth`; nothing was sent."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"outgoing payload nested deeper than {limit} levels "
            "(minisock.proto.sio.set_max_outgoing_depth)"
        )
        self.limit = limit


def max_outgoing_depth() -> int:
    """The nesting bound every encoded packet is checked against."""
    return _outgoing_depth


def set_max_outgoing_depth(depth: int) -> None:
    """Set the outgoing nesting bound for the whole process (1 to 512).

    Process-wide, like the interpreter's recursion limit it stands in for. Above 512 the
    Python version would decide again (3.11 stops near 1 000 levels minus the call stack).
    """
    global _outgoing_depth, _outgoing_text_floor
    if type(depth) is not int or not 1 <= depth <= _OUTGOING_DEPTH_CEILING:
        raise ValueError(f"the outgoing depth must be an int from 1 to {_OUTGOING_DEPTH_CEILING}")
    _outgoing_depth, _outgoing_text_floor = depth, 2 * depth


def _too_deep(data: Any) -> Exception:
    """What to raise when encoding ``data`` ran out of recursion: too deep by our bound, or
    (only with a raised bound on a deep call stack) the interpreter's own RecursionError."""
    if _nested_deeper_than(data, _outgoing_depth):
        return PayloadTooDeepError(_outgoing_depth)
    return RecursionError("JSON encoding ran out of stack below the outgoing depth bound")


_KEEP_FOR_DEPTH = b'"[]{}'
_DROP_FOR_DEPTH = bytes(c for c in range(256) if c not in _KEEP_FOR_DEPTH)
_ONE_BRACKET_KIND = bytes.maketrans(b"{}", b"[]")


def _text_deeper_than(text: str, limit: int) -> bool:
    """Whether valid JSON ``text`` (ours, or a client's once decoded) nests deeper than
    ``limit``.

    Byte operations only, each one pass in C: no walk over Python objects. Brackets inside
    strings do not count: escaped backslashes and quotes go first, then every byte but quotes
    and brackets, then the strings that held no bracket (``""``), then what strings remain
    (every other piece between quotes). Each ``replace(b"[]", b"")`` then peels one level.
    A depth over ``limit`` needs more than ``2 * limit`` brackets: checked on the way.
    """
    raw = text.encode("utf-8")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = raw.translate(None, _DROP_FOR_DEPTH)
    floor = 2 * limit
    if len(kept) <= floor:
        return False
    kept = kept.replace(b'""', b"")
    if b'"' in kept:
        kept = b"".join(kept.split(b'"')[::2])
    if len(kept) <= floor:
        return False
    brackets = kept.translate(_ONE_BRACKET_KIND)
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return True


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists, tuples or dicts deeper than ``limit``.

    Iterative (a recursive walk is what overflows), depth first, and it stops at the first
    container past ``limit``: bounded even for a structure that contains itself.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list | tuple):
            children: Any = item
        elif isinstance(item, dict):
            children = item.values()
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def json_text(data: Any) -> str:
    """The text ``JSON.stringify(data)`` writes, for ``data`` without binary.

    The one JSON.stringify emulation, shared with the cluster codec (``proto/cluster.py``).
    Raises ``TypeError`` for ``bytes`` or any other value JSON cannot carry.
    """
    return _dumps(data, _not_json, [])


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class DecoderLimits:
    """Bounds on what one packet may hold (socket.io-parser's maxAttachments is 10)."""

    max_attachments: int = 10
    max_args: int = 1000
    max_depth: int = 32
    max_namespace_length: int = 256


@dataclass(slots=True)
class Decoder:
    """Turns Engine.IO message data into packets, reassembling binary attachments."""

    limits: DecoderLimits = field(default_factory=DecoderLimits)
    from_server: ClassVar[bool] = False
    """Whether the packets come from a server, which alone may send CONNECT_ERROR."""
    _pending: SioPacket | None = None
    _expected: int = 0
    _buffers: list[bytes] = field(default_factory=list)

    @property
    def awaiting_attachments(self) -> bool:
        return self._pending is not None

    @property
    def pending(self) -> SioPacket | None:
        """The binary packet whose attachments are being collected, if any."""
        return self._pending

    def reset(self) -> None:
        """Drop a half-received binary packet and its attachments."""
        self._pending, self._expected, self._buffers = None, 0, []

    def receive(self, data: str | bytes) -> SioPacket | None:
        """Decode one message. Returns a complete packet, or ``None`` while attachments are due."""
        if isinstance(data, str):
            if self._pending is not None:
                raise SocketIOProtocolError("text packet while binary attachments were due")
            packet, attachments = _decode_text(data, self.limits, self.from_server)
            if attachments == 0:
                return packet
            self._pending, self._expected, self._buffers = packet, attachments, []
            return None
        if self._pending is None:
            raise SocketIOProtocolError("unexpected binary attachment")
        self._buffers.append(bytes(data))
        if len(self._buffers) < self._expected:
            return None
        packet, buffers = self._pending, self._buffers
        self._pending, self._expected, self._buffers = None, 0, []
        try:
            packet.data = _reconstruct(packet.data, buffers)
        except RecursionError:
            raise _fail("payload nested too deeply") from None
        return packet


class ClientSideDecoder(Decoder):
    """The decoder of a client (``minisock.testing``): it reads what a server sends, so it
    also accepts CONNECT_ERROR, whose payload is an object (v5) or a string (v3 servers)."""

    __slots__ = ()
    from_server = True


def _fail(message: str) -> SocketIOProtocolError:
    return SocketIOProtocolError(message)


def _decode_text(
    text: str, limits: DecoderLimits, from_server: bool = False
) -> tuple[SioPacket, int]:
    if not text:
        raise _fail("empty packet")
    digit = text[0]
    if not ("0" <= digit <= "6"):
        raise _fail(f"unknown packet type {digit!r}")
    kind = _KIND_OF_DIGIT[digit]
    i = 1
    end = len(text)
    attachments = 0
    if kind is SioPacketType.BINARY_EVENT or kind is SioPacketType.BINARY_ACK:
        dash = text.find("-", i)
        count = text[i:dash] if dash != -1 else ""
        if not count.isascii() or not count.isdigit() or len(count) > 4:
            raise _fail("illegal attachments")
        attachments = int(count)
        if attachments > limits.max_attachments:
            raise _fail("too many attachments")
        i = dash + 1
    nsp = "/"
    if i < end and text[i] == "/":
        comma = text.find(",", i)
        stop = comma if comma != -1 else end
        nsp = text[i:stop]
        if len(nsp) > limits.max_namespace_length:
            raise _fail("namespace too long")
        i = stop + 1 if comma != -1 else end
    ack_id: int | None = None
    start = i
    while i < end and "0" <= text[i] <= "9":
        i += 1
    if i > start:
        if i - start > 16:
            raise _fail("invalid ack id")
        ack_id = int(text[start:i])
        if ack_id > MAX_ACK_ID:
            raise _fail("invalid ack id")
    data: Any = None
    if i < end:
        raw = text[i:]
        try:
            try:
                data, stop = _scan_json(raw, 0)  # JSONDecoder.decode without its two calls
            except StopIteration:
                stop = -1  # not a value at 0 (maybe whitespace first): the full rules say
            if stop != len(raw):
                data = _JSON_DECODER.decode(raw)
        except (ValueError, RecursionError):
            raise _fail("invalid payload") from None
        # The text, not the decoded value: byte passes in C, where walking a large document
        # of records cost a third of the server's time in the bench's JSON echo.
        if raw.count("[") + raw.count("{") > limits.max_depth and _text_deeper_than(
            raw, limits.max_depth
        ):
            raise _fail("payload nested too deeply")
    _check_payload(kind, data, i < end, ack_id, attachments, limits, from_server)
    kind = _PLAIN_OF.get(kind, kind)  # a binary packet decodes to EVENT/ACK, even with 0
    return SioPacket(kind, nsp, data, ack_id), attachments


def _refuse_constant(name: str) -> Any:
    # JSON has no NaN or Infinity; Python's json module accepts them unless told not to.
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads() with options builds a new decoder on every call.
_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_scan_json: Callable[[str, int], tuple[Any, int]] = getattr(_JSON_DECODER, "scan_once")  # noqa: B009
_KIND_OF_DIGIT = {str(int(kind)): kind for kind in SioPacketType}


def _check_payload(
    kind: SioPacketType,
    data: Any,
    has_payload: bool,
    ack_id: int | None,
    attachments: int,
    limits: DecoderLimits,
    from_server: bool = False,
) -> None:
    """The reference's ``isPayloadValid``, made stricter where the issue asks."""
    if kind is SioPacketType.CONNECT:
        if has_payload and not isinstance(data, dict):
            raise _fail("invalid payload: CONNECT payload must be an object")
    elif kind is SioPacketType.DISCONNECT:
        if has_payload:
            raise _fail("invalid payload: DISCONNECT carries no payload")
    elif kind is SioPacketType.CONNECT_ERROR:
        if not from_server:
            raise _fail("invalid packet: CONNECT_ERROR is sent by servers only")
        if not isinstance(data, dict | str):
            raise _fail("invalid payload: CONNECT_ERROR carries an object or a string")
    elif kind is SioPacketType.EVENT or kind is SioPacketType.BINARY_EVENT:
        if not isinstance(data, list) or not data:
            raise _fail("invalid payload: an event is a non-empty array")
        name = data[0]
        if not isinstance(name, str):
            raise _fail("invalid payload: the event name must be a string")
        if name in RESERVED_EVENTS:
            raise _fail(f"invalid payload: {name!r} is a reserved event name")
        if len(data) - 1 > limits.max_args:
            raise _fail("invalid payload: too many arguments")
    else:  # ACK, BINARY_ACK
        if not isinstance(data, list):
            raise _fail("invalid payload: an ack is an array")
        if ack_id is None:
            raise _fail("invalid packet: an ack needs an id")
        if len(data) > limits.max_args:
            raise _fail("invalid payload: too many arguments")
    if attachments and kind not in (SioPacketType.BINARY_EVENT, SioPacketType.BINARY_ACK):
        raise _fail("illegal attachments")


def _reconstruct(value: Any, buffers: list[bytes]) -> Any:
    """Put attachments back where their placeholders stand; validate every placeholder."""
    if isinstance(value, list):
        return [_reconstruct(item, buffers) for item in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            num = value.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise _fail("illegal attachments")
            return buffers[num]
        return {key: _reconstruct(item, buffers) for key, item in value.items()}
    return value
