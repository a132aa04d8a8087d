"""The msgpack parser: ``socket.io-msgpack-parser`` 3.x on the wire.

Every Socket.IO packet is one binary Engine.IO message holding one msgpack map::

    {"type": 2, "data": ["chat", "hi"], "nsp": "/"}                 an event
    {"type": 2, "data": ["up", <bin 3>], "id": 7, "nsp": "/admin"}  binary stays bin, inline

There are no attachments, no placeholders and no BINARY_* types: ``type`` is 0 to 4. Over
long-polling the message travels as a ``b`` base64 record, as any binary message does.

The npm parser is ``notepack.io`` 2.2 plus four checks (``checkPacket``): ``type`` an integer
from 0 to 4, ``nsp`` a string, ``data`` shaped by type, ``id`` absent or an integer. Keys it
does not know (socket.io-client writes ``options``) are ignored. Node clients write
``undefined`` as ext 0 with one byte (a CONNECT without auth carries ``data: undefined``).
Values are read as the cluster codec reads notepack (:func:`minisock.proto.cluster.unpack`:
``undefined`` -> ``None``, a ``Date`` -> its JSON text, integers beyond 2**53 -> float, other
ext types refused), then checked by the JSON parser's own rules and
:class:`~minisock.proto.sio.DecoderLimits`: nesting depth, argument count, ack ids, reserved
event names, CONNECT payloads. Anything else raises
:class:`~minisock.proto.sio.SocketIOProtocolError`, and the connection closes with
"parse error", as for bad JSON.

Encoding writes keys in the order Node's ``socket.emit`` leaves them (type, data, id, nsp),
omits ``data`` and ``id`` when there are none, writes ``bytes`` as bin, and keeps the outgoing
depth bound of the JSON parser (:class:`~minisock.proto.sio.PayloadTooDeepError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from minisock.proto import cluster
from minisock.proto.eio import WirePacket
from minisock.proto.sio import (
    MAX_ACK_ID,
    DecoderLimits,
    PayloadTooDeepError,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    _check_payload,
    _nested_deeper_than,
    max_outgoing_depth,
)

__all__ = ["MSGPACK_PARSER", "MsgpackDecoder", "MsgpackParser", "decode", "encode"]

# Bytes that open a map or an array: fixmap, fixarray, array 16/32, map 16/32. A message with
# no more of them than the depth bound cannot nest deeper: most packets stop at that count.
_CONTAINER_BYTES = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
_NOT_CONTAINER = bytes(b for b in range(256) if b not in _CONTAINER_BYTES)
# Bytes that may open a value needing a second look: 64-bit integers (beyond 2**53?), ext
# values (undefined, dates), bin (a map key must be a string). Inside text they are only noise.
_SPECIAL_BYTES = bytes([0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCF, 0xD3, *range(0xD4, 0xD9)])
_NOT_WATCHED = bytes(b for b in range(256) if b not in _CONTAINER_BYTES + _SPECIAL_BYTES)
_TYPES = tuple(SioPacketType)[: SioPacketType.CONNECT_ERROR + 1]


def _containers_at_most(raw: bytes, count: int) -> bool:
    return len(raw) <= count or len(raw.translate(None, _NOT_CONTAINER)) <= count


def _plain(raw: bytes, depth: int) -> bool:
    """Whether the decoded values need no walk: no special byte, no more containers than
    ``depth`` (one C pass; the walk is Python)."""
    kept = raw.translate(None, _NOT_WATCHED)
    return len(kept) <= depth and not kept.translate(None, _CONTAINER_BYTES)


# ---------------------------------------------------------------------------------- encoding

_PACKER = msgpack.Packer(use_bin_type=True, autoreset=True)


def encode(packet: SioPacket) -> bytes:
    """The msgpack map for ``packet``.

    Raises ``TypeError`` for a type msgpack cannot carry, ``ValueError`` for a lone surrogate
    or an integer beyond 64 bits, and :class:`PayloadTooDeepError` past the depth bound.
    """
    body: dict[str, Any] = {"type": int(packet.type)}
    if packet.data is not None:
        body["data"] = packet.data
    if packet.id is not None:
        body["id"] = packet.id
    body["nsp"] = packet.nsp
    limit = max_outgoing_depth()
    try:
        raw: bytes = _PACKER.pack(body)
    except UnicodeEncodeError:
        raise ValueError("text with a lone surrogate: msgpack carries UTF-8 only") from None
    except OverflowError:
        raise ValueError("an integer beyond 64 bits: msgpack cannot carry it") from None
    except ValueError:
        # msgpack's own nesting limit (511) is the only other ValueError it raises.
        if _nested_deeper_than(packet.data, limit):
            raise PayloadTooDeepError(limit) from None
        raise
    # The map itself is one container above the payload's own.
    if not _containers_at_most(raw, limit + 1) and _nested_deeper_than(packet.data, limit):
        raise PayloadTooDeepError(limit)
    return raw


# ---------------------------------------------------------------------------------- decoding


def _fail(message: str) -> SocketIOProtocolError:
    return SocketIOProtocolError(message)


def _integer(value: Any) -> int | None:
    """A JavaScript integer (``Number.isInteger``): an int, or a float without a fraction."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _limits_for_values(limits: DecoderLimits) -> cluster.ClusterLimits:
    # The payload's own array is level 1, as the JSON decoder counts it.
    return cluster.ClusterLimits(max_depth=limits.max_depth)


def decode(
    raw: bytes,
    limits: DecoderLimits = DecoderLimits(),  # noqa: B008 - frozen, shared
    from_server: bool = False,
    value_limits: cluster.ClusterLimits | None = None,
) -> SioPacket:
    """One packet from one binary message, checked as strictly as the JSON parser checks."""
    try:
        body = cluster.unpack_notepack(raw)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError):
        raise _fail("invalid msgpack") from None
    except cluster.ClusterMessageError as exc:
        raise _fail(f"invalid msgpack: {exc.message}") from None
    if type(body) is not dict:
        raise _fail("invalid packet: not a map")
    kind = _integer(body.get("type"))
    if kind is None or not 0 <= kind <= SioPacketType.CONNECT_ERROR:
        raise _fail("invalid packet type")
    nsp = body.get("nsp")
    if type(nsp) is not str:
        raise _fail("invalid namespace")
    if len(nsp) > limits.max_namespace_length:
        raise _fail("namespace too long")
    ack_id: int | None = None
    if "id" in body and body["id"] is not cluster._UNDEFINED:
        ack_id = _integer(body["id"])
        if ack_id is None or not 0 <= ack_id <= MAX_ACK_ID:
            raise _fail("invalid ack id")
    data = body.get("data", cluster._UNDEFINED)
    has_payload = data is not cluster._UNDEFINED
    if has_payload:
        # The map is one container above the payload's own.
        if not _plain(raw, limits.max_depth + 1):
            try:
                data = cluster._settle(data, value_limits or _limits_for_values(limits))
            except cluster.ClusterMessageError as exc:
                raise _fail(f"invalid payload: {exc.message}") from None
    else:
        data = None
    packet_type = _TYPES[kind]
    _check_payload(packet_type, data, has_payload, ack_id, 0, limits, from_server)
    return SioPacket(packet_type, nsp, data, ack_id)


@dataclass(slots=True)
class MsgpackDecoder:
    """A connection's msgpack decoder: every message is a whole packet, so it keeps no state."""

    limits: DecoderLimits = field(default_factory=DecoderLimits)
    from_server: bool = False
    _value_limits: cluster.ClusterLimits = field(init=False)

    def __post_init__(self) -> None:
        self._value_limits = _limits_for_values(self.limits)

    @property
    def pending(self) -> SioPacket | None:
        return None

    def reset(self) -> None:
        """Nothing is ever half received."""

    def receive(self, data: str | bytes) -> SioPacket | None:
        if isinstance(data, str):
            raise _fail("text message: the msgpack parser reads binary messages only")
        return decode(bytes(data), self.limits, self.from_server, self._value_limits)


class MsgpackParser:
    """``socket.io-msgpack-parser`` 3.x, behind :class:`~minisock.proto.parser.Parser`."""

    __slots__ = ()
    name = "msgpack"

    @staticmethod
    def engine_wires(packet: SioPacket) -> list[WirePacket]:
        return [encode(packet)]

    def decoder(self, limits: DecoderLimits, *, from_server: bool = False) -> MsgpackDecoder:
        return MsgpackDecoder(limits, from_server)


MSGPACK_PARSER = MsgpackParser()
