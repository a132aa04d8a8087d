"""The cluster bus of Node's ``@socket.io/redis-adapter`` 8.3 and ``@socket.io/redis-emitter`` 5.1.

Servers of one cluster (Node or minisock) talk through Redis pub/sub. Per namespace ``N`` and
key ``K`` (default ``socket.io``) there are these channels::

    K#N#            broadcasts to the whole namespace      msgpack [uid, packet, opts]
    K#N#room#       broadcasts to exactly one room         (same)
    K-request#N#    requests to every server               JSON, or msgpack (see below)
    K-response#N#   answers to requests                    JSON, or msgpack
    K-response#N#uid#   answers sent to one server only    (same)

A server subscribes to the request and response channels and PSUBSCRIBEs ``K#N#*``.
Requests and answers travel as JSON when they hold no binary, else as msgpack (a JSON text
starts with ``{``, and no msgpack map or array does, so readers look at the first byte).
Broadcasts, BROADCAST requests and BROADCAST_ACK answers are always msgpack, as Node writes
them. msgpack here is what ``notepack.io`` 3.0.1 writes and reads.

What crosses the bus is what Node can hold. Encoding refuses, with :class:`ClusterEncodeError`,
an integer beyond ±2**53, a map key that is not a string, a type neither JSON nor msgpack has,
and nesting deeper than the receivers accept. Decoding turns what only Node writes into Python:

- ``undefined`` (notepack 2's ext 0, one byte) decodes to ``None``;
- a ``Date`` (msgpack timestamp, or notepack 2's ext 0 with eight bytes) decodes to the text
  ``Date.prototype.toJSON`` gives, ``"2024-05-01T12:00:00.000Z"``, or ``None`` for a date
  JavaScript cannot hold. That string is exactly what a Node server sends its clients for a
  Date, so a minisock server forwarding the value writes the same bytes;
- an integer beyond ±2**53 decodes to the float Node would hold;
- any other ext type is refused.

Every message from the bus is hostile: each ``decode_*`` checks sizes, depth and shapes against
:class:`ClusterLimits` and raises :class:`ClusterMessageError` and nothing else. The caller
logs and drops the message.

Rooms are strings. Node allows numbers as room names; a message naming a numeric room is
refused here rather than guessed at.

The pending-request tables (:class:`PendingRequests`, :class:`AckCollector`) are state machines
with the time passed in; their rules are stated where they are defined. Nothing here imports
trio, reads a clock, or does I/O.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack

from minisock.errors import ProtocolError
from minisock.proto.sio import SioPacket, SioPacketType, check_event_name, json_text

__all__ = [
    "DEFAULT_KEY",
    "MAX_SAFE_INTEGER",
    "SINGLE_SOCKET_REQUESTS",
    "Channels",
    "ClusterBroadcast",
    "ClusterEncodeError",
    "ClusterLimits",
    "ClusterMessageError",
    "ClusterRequest",
    "ClusterResponse",
    "RequestType",
    "SocketDetails",
    "decode_broadcast",
    "decode_payload",
    "decode_request",
    "decode_response",
    "dumps_json",
    "encode_broadcast",
    "encode_payload",
    "encode_request",
    "encode_response",
    "loads_json",
    "pack",
    "unpack",
    "unpack_notepack",
]

DEFAULT_KEY = "socket.io"
MAX_SAFE_INTEGER = 2**53  # beyond it a JavaScript number no longer holds every integer


class RequestType(enum.IntEnum):
    """The ``type`` of a request or answer (the adapter's ``RequestType`` enum)."""

    SOCKETS = 0  # legacy: sids in some rooms; 8.x answers it but no longer asks
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7  # a broadcast whose sender waits for client acks
    BROADCAST_CLIENT_COUNT = 8  # answer: how many clients one server sent it to
    BROADCAST_ACK = 9  # answer: one client's ack


class ClusterMessageError(ProtocolError):
    """A malformed message read from the cluster bus; log it and drop it."""


class ClusterEncodeError(ValueError):
    """A value that cannot be sent to the cluster intact (Node could not hold it, or no format
    has it). Raised when encoding, before anything is published."""


@dataclass(frozen=True, slots=True)
class ClusterLimits:
    """Bounds on one message read from the bus.

    ``max_depth`` counts the nesting of the whole message, envelope included. A broadcast's
    envelope takes two levels above its argument array, a fetch answer three above a socket's
    ``data``: the default of 40 leaves room for every payload the Socket.IO decoder accepts
    (``DecoderLimits.max_depth``, 32). The encoders refuse what a default reader would refuse.
    """

    max_message_bytes: int = 1 << 20
    max_depth: int = 40
    max_items: int = 100_000  # elements of one array, entries of one map
    max_rooms: int = 10_000  # rooms named in one list (opts.rooms, opts.except, targets)
    max_sockets_per_response: int = 100_000


DEFAULT_LIMITS = ClusterLimits()


def _fail(message: str) -> ClusterMessageError:
    return ClusterMessageError(message)


# ------------------------------------------------------------------------------------ channels


@dataclass(frozen=True, slots=True)
class Channels:
    """The Redis channel names of one namespace, as the Node adapter builds them."""

    key: str = DEFAULT_KEY
    nsp: str = "/"

    @property
    def broadcast(self) -> str:
        """Broadcasts to the whole namespace, or to several rooms: ``K#N#``."""
        return f"{self.key}#{self.nsp}#"

    def room(self, room: str) -> str:
        """Broadcasts to exactly one room: ``K#N#room#``."""
        return f"{self.key}#{self.nsp}#{room}#"

    def broadcast_channel(self, rooms: Collection[str]) -> str:
        """Where a broadcast to ``rooms`` is published: a lone room has its own channel, so
        that servers could skip it cheaply."""
        if len(rooms) == 1:
            return self.room(next(iter(rooms)))
        return self.broadcast

    @property
    def request(self) -> str:
        return f"{self.key}-request#{self.nsp}#"

    @property
    def response(self) -> str:
        return f"{self.key}-response#{self.nsp}#"

    def specific_response(self, uid: str) -> str:
        """The answer channel of the server ``uid`` (``publishOnSpecificResponseChannel``)."""
        return f"{self.key}-response#{self.nsp}#{uid}#"

    @property
    def pattern(self) -> str:
        """The PSUBSCRIBE pattern for every broadcast channel of this namespace.

        Node writes ``K#N#*`` unescaped, so a key or namespace holding glob characters
        subscribes to more (or less) than it means. Redis' ``stringmatchlen`` gives meaning to
        ``*``, ``?``, ``[`` and ``\\`` outside brackets (``^``, ``-`` and ``]`` only matter
        inside them, and an escaped ``[`` never opens one); escaping those, and ``]`` for good
        measure, makes the prefix literal.
        """
        escaped = "".join("\\" + c if c in _GLOB_SPECIAL else c for c in self.broadcast)
        return escaped + "*"

    def room_of(self, channel: str) -> str | None:
        """The room a broadcast channel targets: ``""`` for the namespace channel, ``None`` for a
        channel that is not this namespace's broadcast channel (another namespace whose name
        merely starts like ours included: ``K#/admin#`` is not ``K#/#``)."""
        prefix = self.broadcast
        if not channel.startswith(prefix):
            return None
        rest = channel[len(prefix) :]
        if not rest:
            return ""
        if not rest.endswith("#"):
            return None
        return rest[:-1]


_GLOB_SPECIAL = frozenset("\\*?[]")


# ------------------------------------------------------------------------------------ values


def _check(value: Any, depth: int = 1) -> bool:
    """Refuse what cannot reach Node intact; return whether ``value`` holds binary.

    ``depth`` is the level ``value`` would sit at in a message (the outermost container is 1).
    """
    if value is None or isinstance(value, str | bool | float):
        return False
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return False
        raise ClusterEncodeError(f"integer {value} cannot reach Node exactly (beyond 2**53)")
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple | dict):
        if depth > DEFAULT_LIMITS.max_depth:
            raise ClusterEncodeError(
                f"nested deeper than {DEFAULT_LIMITS.max_depth} levels: other servers drop it"
            )
        binary = False
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ClusterEncodeError(f"map key {key!r} is not a str")
                if _check(item, depth + 1):
                    binary = True
        else:
            for item in value:
                if _check(item, depth + 1):
                    binary = True
        return binary
    raise ClusterEncodeError(f"a {type(value).__name__} cannot be sent to the cluster")


def pack(obj: Any) -> bytes:
    """``obj`` as msgpack that notepack.io reads back as the same JavaScript value.

    ``bytes``-likes become bin (a Buffer), tuples arrays, floats float64. Raises
    :class:`ClusterEncodeError` for what :func:`_check` refuses and for a ``str`` holding a
    lone surrogate (UTF-8 cannot carry it).
    """
    _check(obj)
    return _pack_checked(obj)


def _pack_checked(obj: Any) -> bytes:
    try:
        data: bytes = msgpack.packb(obj, use_bin_type=True)
    except UnicodeEncodeError as exc:
        raise ClusterEncodeError(f"text that UTF-8 cannot carry: {exc.reason}") from None
    return data


def unpack_notepack(data: bytes, **bounds: int) -> Any:
    """msgpack's reader set to read what notepack writes: text as ``str``, string map keys,
    its ext types through :func:`_ext_hook`. Raises what ``msgpack.unpackb`` raises."""
    return msgpack.unpackb(
        data,
        raw=False,
        use_list=True,
        strict_map_key=True,
        timestamp=0,
        ext_hook=_ext_hook,
        **bounds,
    )


def unpack(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> Any:
    """One msgpack value filling all of ``data`` (notepack also refuses trailing bytes)."""
    if len(data) > limits.max_message_bytes:
        raise _fail(f"message of {len(data)} bytes (limit {limits.max_message_bytes})")
    try:
        value = unpack_notepack(
            data,
            max_str_len=limits.max_message_bytes,
            max_bin_len=limits.max_message_bytes,
            max_ext_len=limits.max_message_bytes,
            max_array_len=limits.max_items,
            max_map_len=limits.max_items,
        )
    except ClusterMessageError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # Truncation, trailing bytes, bad UTF-8, nesting past msgpack's own stack, a reserved
        # byte, a length beyond the limits: all ValueError subclasses or UnpackException.
        raise _fail(f"invalid msgpack: {type(exc).__name__}") from None
    return _settle(value, limits)


class _Undefined:
    """notepack's ``undefined``, until :func:`_settle` replaces it by ``None``."""


_UNDEFINED = _Undefined()


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0:
        # notepack 2 wrote undefined as fixext 1 and a Date as fixext 8 (milliseconds, signed);
        # notepack 3 still reads them. msgpack does not tell fixext from ext 8 here, so an
        # ArrayBuffer of one or eight bytes in notepack 2's ext form reads the same way.
        if len(data) == 1:
            return _UNDEFINED
        if len(data) == 8:
            return _date_text(int.from_bytes(data, "big", signed=True))
        return data  # notepack 2's ArrayBuffer
    raise _fail(f"msgpack ext type {code} is not one Node writes")


_MAX_DATE_MS = 8_640_000_000_000_000  # a JavaScript Date holds ±1e8 days around 1970


def _timestamp_text(stamp: msgpack.Timestamp) -> str | None:
    # notepack: new Date(seconds * 1e3 + nanoseconds / 1e6), in doubles; Date then truncates.
    ms = float(stamp.seconds) * 1e3 + stamp.nanoseconds / 1e6
    if not math.isfinite(ms) or abs(ms) > _MAX_DATE_MS:
        return None
    return _date_text(math.trunc(ms))


def _date_text(ms: int) -> str | None:
    """``Date.prototype.toJSON`` of a time value, in milliseconds since 1970."""
    if abs(ms) > _MAX_DATE_MS:
        return None
    days, ms_of_day = divmod(ms, 86_400_000)
    # Howard Hinnant's days_from_civil, inverted (proleptic Gregorian, as JavaScript's).
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    sign = "-" if year < 0 else "+"
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{sign}{abs(year):06d}"
    seconds, millis = divmod(ms_of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


_PLAIN = frozenset({str, bytes, bool, float, type(None)})


def _settle(value: Any, limits: ClusterLimits) -> Any:
    """Check depth and map keys of a decoded tree, and give wire-only values their Python form.

    Iterative: a hostile message must not be able to exhaust the Python stack.
    """
    value = _leaf(value)
    if type(value) is not list and type(value) is not dict:
        return value
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limits.max_depth:
            raise _fail(f"nested deeper than {limits.max_depth} levels")
        if type(node) is list:
            for i, item in enumerate(node):
                kind = type(item)
                if kind is list or kind is dict:
                    stack.append((item, level + 1))
                elif kind not in _PLAIN:
                    node[i] = _leaf(item)
        else:
            for key, item in node.items():
                if type(key) is not str:
                    raise _fail("map key is not a string")
                kind = type(item)
                if kind is list or kind is dict:
                    stack.append((item, level + 1))
                elif kind not in _PLAIN:
                    node[key] = _leaf(item)
    return value


def _leaf(item: Any) -> Any:
    if type(item) is int:
        return item if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER else float(item)
    if item is _UNDEFINED:
        return None
    if isinstance(item, msgpack.Timestamp):
        return _timestamp_text(item)
    return item


def dumps_json(obj: Any) -> bytes:
    """``JSON.stringify(obj)`` as UTF-8 (NaN and infinities become ``null``, as in Node).

    Binary has no JSON form (Node would write a Buffer as ``{"type":"Buffer",...}``):
    :class:`ClusterEncodeError`; :func:`encode_payload` switches to msgpack instead.
    """
    if _check(obj):
        raise ClusterEncodeError("binary cannot travel as JSON (encode_payload uses msgpack)")
    return _json_checked(obj)


def _json_checked(obj: Any) -> bytes:
    return json_text(obj).encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_int(text: str) -> int | float:
    value = int(text)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else float(value)


# Built once: json.loads() with options builds a decoder per call. Integers beyond 2**53 read
# as the float JSON.parse gives; NaN and Infinity are not JSON.
_JSON_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_int=_json_int)


def loads_json(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> Any:
    """Strict ``JSON.parse`` of a UTF-8 message (invalid UTF-8 is refused, not replaced)."""
    if len(data) > limits.max_message_bytes:
        raise _fail(f"message of {len(data)} bytes (limit {limits.max_message_bytes})")
    try:
        value = _JSON_DECODER.decode(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        raise _fail("invalid JSON") from None
    _check_json_tree(value, limits)
    return value


def _check_json_tree(value: Any, limits: ClusterLimits) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if type(node) is list:
            children: Iterable[Any] = node
        elif type(node) is dict:
            children = node.values()
        else:
            continue
        if level > limits.max_depth:
            raise _fail(f"nested deeper than {limits.max_depth} levels")
        if len(node) > limits.max_items:
            raise _fail(f"more than {limits.max_items} items in one container")
        stack.extend((child, level + 1) for child in children)


def encode_payload(obj: Any) -> bytes:
    """JSON, or msgpack when ``obj`` holds binary anywhere (JSON has no form for it)."""
    if _check(obj):
        return _pack_checked(obj)
    return _json_checked(obj)


def decode_payload(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> Any:
    """A request or answer: JSON when the first byte is ``{``, else msgpack (Node's rule)."""
    if data[:1] == b"{":
        return loads_json(data, limits)
    return unpack(data, limits)


# ---------------------------------------------------------------------------------- shapes


def _map(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _fail(f"{what} is not a map")
    return value


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise _fail(f"{what} is not a string")
    return value


def _optional_text(msg: Mapping[str, Any], key: str) -> str | None:
    value = msg.get(key)
    return None if value is None else _text(value, key)


def _room_list(value: Any, what: str, limits: ClusterLimits) -> list[str]:
    """A list of room names; absent (or null) is no room, as ``new Set(undefined)`` is."""
    if value is None:
        return []
    if type(value) is not list:
        raise _fail(f"{what} is not a list")
    if len(value) > limits.max_rooms:
        raise _fail(f"{what} names more than {limits.max_rooms} rooms")
    for room in value:
        if type(room) is not str:
            raise _fail(f"{what} holds a room that is not a string")
    return value


def _flags(value: Any) -> dict[str, Any]:
    return {} if value is None else dict(_map(value, "flags"))


def _event_data(value: Any, what: str, *, server_side: bool = False) -> list[Any]:
    """``[event, *args]``, with an event name an application could have sent."""
    if type(value) is not list or not value:
        raise _fail(f"{what} is not a non-empty list")
    name = value[0]
    if type(name) is not str:
        raise _fail(f"{what}: the event name is not a string")
    try:
        check_event_name(name, server_side=server_side)
    except ValueError as exc:
        raise _fail(f"{what}: {exc}") from None
    return value


def _decode_packet(value: Any) -> SioPacket:
    """A broadcast packet. Node only broadcasts events: it writes type EVENT (2) and lets each
    server's encoder turn it into BINARY_EVENT; 5 is accepted too, as the parser does."""
    packet = _map(value, "packet")
    kind = packet.get("type")
    if kind not in (2, 5) or type(kind) is not int:
        raise _fail(f"packet type {kind!r} is not an event")
    nsp = packet.get("nsp")
    nsp = "/" if nsp is None else _text(nsp, "packet nsp")  # Node fills in "/" too
    ack_id = packet.get("id")
    if ack_id is not None and (type(ack_id) is not int or not 0 <= ack_id <= MAX_SAFE_INTEGER):
        raise _fail("packet id is not an ack id")
    data = _event_data(packet.get("data"), "packet data")
    return SioPacket(SioPacketType.EVENT, nsp, data, ack_id)


def _encode_packet(packet: SioPacket) -> dict[str, Any]:
    """Node's packet object: ``{type: 2, data, nsp}`` (and ``id`` if one was given)."""
    if packet.type not in (SioPacketType.EVENT, SioPacketType.BINARY_EVENT):
        raise ClusterEncodeError(f"only events are broadcast, not {packet.type.name}")
    data = packet.data
    if not isinstance(data, list | tuple) or not data or not isinstance(data[0], str):
        raise ClusterEncodeError("an event's data is [name, *args]")
    out: dict[str, Any] = {"type": int(SioPacketType.EVENT), "data": data, "nsp": packet.nsp}
    if packet.id is not None:
        out["id"] = packet.id
    return out


def _unique(rooms: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(rooms))


def _encode_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    # A flag set to None is unset, as an undefined one is in Node (notepack leaves it out).
    return {key: value for key, value in flags.items() if value is not None}


# ---------------------------------------------------------------------------------- broadcasts


@dataclass(frozen=True, slots=True)
class ClusterBroadcast:
    """A broadcast from another server (or an emitter): deliver ``packet`` locally.

    Check ``packet.nsp`` against the namespace, as Node does: a pattern subscription of ``/a``
    also hears ``/a#b``'s channels.
    """

    uid: str
    packet: SioPacket
    rooms: frozenset[str]
    except_rooms: frozenset[str]
    flags: dict[str, Any]


def encode_broadcast(
    uid: str,
    packet: SioPacket,
    rooms: Iterable[str],
    except_rooms: Iterable[str],
    flags: Mapping[str, Any],
) -> bytes:
    """``[uid, packet, {rooms, except, flags}]`` in msgpack; binary stays msgpack bin.

    Rooms keep the order they are given in (Node spreads its Set); duplicates go.
    """
    opts = {"rooms": _unique(rooms), "except": _unique(except_rooms), "flags": _encode_flags(flags)}
    return pack([uid, _encode_packet(packet), opts])


def decode_broadcast(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> ClusterBroadcast:
    message = unpack(data, limits)
    if type(message) is not list or len(message) != 3:
        raise _fail("a broadcast is [uid, packet, opts]")
    uid = _text(message[0], "broadcast uid")
    packet = _decode_packet(message[1])
    opts = _map(message[2], "broadcast opts")
    return ClusterBroadcast(
        uid,
        packet,
        frozenset(_room_list(opts.get("rooms"), "opts.rooms", limits)),
        frozenset(_room_list(opts.get("except"), "opts.except", limits)),
        _flags(opts.get("flags")),
    )


# ------------------------------------------------------------------------------------ requests


SINGLE_SOCKET_REQUESTS = (
    RequestType.REMOTE_JOIN,
    RequestType.REMOTE_LEAVE,
    RequestType.REMOTE_DISCONNECT,
)


@dataclass(frozen=True, slots=True)
class ClusterRequest:
    """A request to every server. Which fields matter depends on ``type``:

    ========================  =============================================================
    SOCKETS (legacy)          request_id, rooms
    ALL_ROOMS                 request_id
    REMOTE_JOIN / _LEAVE      has_opts: rooms, except_rooms, target_rooms (no answer)
                              legacy: request_id, sid, room (answered once)
    REMOTE_DISCONNECT         has_opts: rooms, except_rooms, close; legacy: request_id, sid, close
    REMOTE_FETCH              request_id, rooms, except_rooms
    SERVER_SIDE_EMIT          data = [event, *args]; request_id when an answer is wanted
    BROADCAST                 request_id, packet, rooms, except_rooms, flags
    ========================  =============================================================

    ``uid`` names the sender (``None``: the emitter leaves it out of some requests).
    """

    type: RequestType
    uid: str | None = None
    request_id: str | None = None
    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    has_opts: bool = False
    target_rooms: tuple[str, ...] = ()
    sid: str | None = None
    room: str | None = None
    close: bool = False
    data: list[Any] | None = None
    packet: SioPacket | None = None
    flags: dict[str, Any] = field(default_factory=dict)


def _need(value: str | None, what: str, kind: RequestType) -> str:
    if value is None:
        raise ClusterEncodeError(f"a {kind.name} request needs {what}")
    return value


def encode_request(req: ClusterRequest) -> bytes:
    """The request as Node writes it, keys in Node's order (``uid, requestId, type, ...``).

    JSON unless it holds binary; BROADCAST is always msgpack. Room sets are written sorted.
    """
    kind = req.type
    msg: dict[str, Any] = {}
    if req.uid is not None:
        msg["uid"] = req.uid
    needs_id = kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH)
    if (
        needs_id
        or kind is RequestType.BROADCAST
        or (kind in SINGLE_SOCKET_REQUESTS and not req.has_opts)
    ):
        msg["requestId"] = _need(req.request_id, "a request_id", kind)
    elif req.request_id is not None:
        msg["requestId"] = req.request_id
    msg["type"] = int(kind)
    opts = {"rooms": sorted(req.rooms), "except": sorted(req.except_rooms)}
    if kind is RequestType.SOCKETS:
        msg["rooms"] = sorted(req.rooms)
    elif kind is RequestType.ALL_ROOMS:
        pass
    elif kind is RequestType.REMOTE_JOIN or kind is RequestType.REMOTE_LEAVE:
        if req.has_opts:
            msg["opts"] = opts
            msg["rooms"] = list(req.target_rooms)
        else:
            msg["sid"] = _need(req.sid, "a sid", kind)
            msg["room"] = _need(req.room, "a room", kind)
    elif kind is RequestType.REMOTE_DISCONNECT:
        if req.has_opts:
            msg["opts"] = opts
        else:
            msg["sid"] = _need(req.sid, "a sid", kind)
        msg["close"] = req.close
    elif kind is RequestType.REMOTE_FETCH:
        msg["opts"] = opts
    elif kind is RequestType.SERVER_SIDE_EMIT:
        data = req.data
        if not data or not isinstance(data[0], str):
            raise ClusterEncodeError("SERVER_SIDE_EMIT data is [event, *args]")
        msg["data"] = data
    elif kind is RequestType.BROADCAST:
        if req.packet is None:
            raise ClusterEncodeError("a BROADCAST request needs a packet")
        msg["packet"] = _encode_packet(req.packet)
        msg["opts"] = {**opts, "flags": _encode_flags(req.flags)}
        return pack(msg)
    else:
        raise ClusterEncodeError(f"{kind.name} is an answer, not a request")
    return encode_payload(msg)


def _request_type(value: Any) -> RequestType:
    if type(value) is not int:
        raise _fail(f"request type {value!r} is not an integer")
    if not RequestType.SOCKETS <= value <= RequestType.BROADCAST:
        raise _fail(f"unknown request type {value}")
    return RequestType(value)


def decode_request(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> ClusterRequest:
    """A request from the bus, checked against what its type needs."""
    msg = _map(decode_payload(data, limits), "request")
    kind = _request_type(msg.get("type"))
    uid = _optional_text(msg, "uid")
    request_id = _optional_text(msg, "requestId")

    def need_id() -> str:
        if request_id is None:
            raise _fail(f"{kind.name} request without a requestId")
        return request_id

    def opts() -> tuple[frozenset[str], frozenset[str], dict[str, Any]]:
        raw = _map(msg.get("opts"), f"{kind.name} opts")
        return (
            frozenset(_room_list(raw.get("rooms"), "opts.rooms", limits)),
            frozenset(_room_list(raw.get("except"), "opts.except", limits)),
            raw,
        )

    def close() -> bool:
        value = msg.get("close")
        if value is None:
            return False
        if type(value) is not bool:
            raise _fail("close is not a boolean")
        return value

    base = ClusterRequest(kind, uid, request_id)
    if kind is RequestType.SOCKETS:
        need_id()
        rooms = frozenset(_room_list(msg.get("rooms"), "rooms", limits))
        return replace(base, rooms=rooms)
    if kind is RequestType.ALL_ROOMS:
        need_id()
        return base
    if kind in SINGLE_SOCKET_REQUESTS:
        if msg.get("opts") is not None:  # Node tests `request.opts` for truth
            rooms, except_rooms, _ = opts()
            fields: dict[str, Any] = {"rooms": rooms, "except_rooms": except_rooms}
            fields["has_opts"] = True
            if kind is RequestType.REMOTE_DISCONNECT:
                fields["close"] = close()
            else:
                if msg.get("rooms") is None:
                    raise _fail(f"{kind.name} request without rooms to join or leave")
                targets = _room_list(msg.get("rooms"), "rooms", limits)
                fields["target_rooms"] = tuple(targets)
            return replace(base, **fields)
        need_id()
        sid = _text(msg.get("sid"), "sid")
        if kind is RequestType.REMOTE_DISCONNECT:
            return replace(base, sid=sid, close=close())
        return replace(base, sid=sid, room=_text(msg.get("room"), "room"))
    if kind is RequestType.REMOTE_FETCH:
        need_id()
        rooms, except_rooms, _ = opts()
        return replace(base, rooms=rooms, except_rooms=except_rooms, has_opts=True)
    if kind is RequestType.SERVER_SIDE_EMIT:
        return replace(
            base, data=_event_data(msg.get("data"), "SERVER_SIDE_EMIT data", server_side=True)
        )
    # BROADCAST
    need_id()
    packet = _decode_packet(msg.get("packet"))
    rooms, except_rooms, raw = opts()
    return replace(
        base,
        rooms=rooms,
        except_rooms=except_rooms,
        has_opts=True,
        packet=packet,
        flags=_flags(raw.get("flags")),
    )


# ----------------------------------------------------------------------------------- answers


@dataclass(slots=True)
class SocketDetails:
    """One socket in a REMOTE_FETCH answer (Node drops ``handshake.sessionStore``)."""

    id: str
    handshake: dict[str, Any]
    rooms: list[str]
    data: Any = None


@dataclass(frozen=True, slots=True)
class ClusterResponse:
    """An answer to a request. Node writes ``type`` only on SERVER_SIDE_EMIT (``data``),
    BROADCAST_CLIENT_COUNT (``client_count``) and BROADCAST_ACK (``packet``); the others carry
    ``sockets`` (REMOTE_FETCH), ``sids`` (legacy SOCKETS; both are ``sockets`` on the wire),
    ``rooms`` (ALL_ROOMS) or nothing (the single-socket forms). Match ``request_id`` against
    the pending requests to learn what it answers. An empty ``sockets`` list decodes as both
    ``sockets=[]`` and ``sids=[]``: the wire cannot tell them apart.
    """

    type: RequestType | None
    request_id: str
    sockets: list[SocketDetails] | None = None
    sids: list[str] | None = None
    rooms: list[str] | None = None
    data: Any = None
    client_count: int | None = None
    packet: Any = None


def encode_response(resp: ClusterResponse) -> bytes:
    """The answer in Node's shape: JSON (msgpack if it holds binary); BROADCAST_ACK msgpack."""
    kind = resp.type
    if kind is RequestType.SERVER_SIDE_EMIT:
        return encode_payload({"type": int(kind), "requestId": resp.request_id, "data": resp.data})
    if kind is RequestType.BROADCAST_CLIENT_COUNT:
        if resp.client_count is None:
            raise ClusterEncodeError("a BROADCAST_CLIENT_COUNT answer needs client_count")
        return dumps_json(
            {"type": int(kind), "requestId": resp.request_id, "clientCount": resp.client_count}
        )
    if kind is RequestType.BROADCAST_ACK:
        return pack({"type": int(kind), "requestId": resp.request_id, "packet": resp.packet})
    msg: dict[str, Any] = {"requestId": resp.request_id}
    if resp.sockets is not None:
        msg["sockets"] = [
            {"id": s.id, "handshake": s.handshake, "rooms": s.rooms, "data": s.data}
            for s in resp.sockets
        ]
    elif resp.sids is not None:
        msg["sockets"] = resp.sids
    elif resp.rooms is not None:
        msg["rooms"] = resp.rooms
    return encode_payload(msg)


def _socket_details(value: Any, limits: ClusterLimits) -> SocketDetails:
    raw = _map(value, "socket")
    return SocketDetails(
        _text(raw.get("id"), "socket id"),
        _map(raw.get("handshake"), "socket handshake"),
        _room_list(raw.get("rooms"), "socket rooms", limits),
        raw.get("data"),
    )


def decode_response(data: bytes, limits: ClusterLimits = DEFAULT_LIMITS) -> ClusterResponse:
    """An answer from the bus: lenient about which keys are there (the request's type is only
    known to whoever waits for it), strict about the type of each key that is."""
    msg = _map(decode_payload(data, limits), "answer")
    request_id = _text(msg.get("requestId"), "requestId")
    raw_type = msg.get("type")
    kind: RequestType | None = None
    if raw_type is not None:
        if type(raw_type) is not int or not 0 <= raw_type <= max(RequestType):
            raise _fail(f"answer type {raw_type!r} is unknown")
        kind = RequestType(raw_type)
    sockets: list[SocketDetails] | None = None
    sids: list[str] | None = None
    raw_sockets = msg.get("sockets")
    if raw_sockets is not None:
        if type(raw_sockets) is not list:
            raise _fail("sockets is not a list")
        if len(raw_sockets) > limits.max_sockets_per_response:
            raise _fail(f"more than {limits.max_sockets_per_response} sockets in one answer")
        if all(type(s) is str for s in raw_sockets):
            sids = raw_sockets
        if all(type(s) is dict for s in raw_sockets):
            sockets = [_socket_details(s, limits) for s in raw_sockets]
        if sids is None and sockets is None:
            raise _fail("sockets mixes ids and socket details")
    rooms = msg.get("rooms")
    if rooms is not None:
        rooms = _room_list(rooms, "rooms", limits)
    client_count = msg.get("clientCount")
    if client_count is not None and (type(client_count) is not int or client_count < 0):
        raise _fail("clientCount is not a count")
    if kind is RequestType.BROADCAST_CLIENT_COUNT and client_count is None:
        raise _fail("BROADCAST_CLIENT_COUNT answer without clientCount")
    return ClusterResponse(
        kind, request_id, sockets, sids, rooms, msg.get("data"), client_count, msg.get("packet")
    )
