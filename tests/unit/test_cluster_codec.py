"""The cluster bus codec (proto/cluster.py): every vector in its directions, channel names,
refusals of hostile input, and the pending-request and ack state machines with explicit times.

The vectors are also checked against notepack.io and JSON.stringify under Node
(tests/js/test_notepack_vectors.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from minisock.proto.ack_collector import AckCollector
from minisock.proto.cluster import (
    Channels,
    ClusterBroadcast,
    ClusterEncodeError,
    ClusterLimits,
    ClusterMessageError,
    ClusterRequest,
    ClusterResponse,
    RequestType,
    SocketDetails,
    decode_broadcast,
    decode_payload,
    decode_request,
    decode_response,
    dumps_json,
    encode_broadcast,
    encode_payload,
    encode_request,
    encode_response,
    loads_json,
    pack,
    unpack,
)
from minisock.proto.cluster_requests import PendingRequests
from minisock.proto.sio import SioPacket, SioPacketType

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "cluster.json").read_text("utf-8")
)


def _py(raw: Any) -> Any:
    """A tagged vector value as Python (see the vector file's _doc)."""
    if isinstance(raw, list):
        return [_py(item) for item in raw]
    if isinstance(raw, dict):
        if set(raw) == {"$bytes"}:
            return bytes.fromhex(raw["$bytes"])
        if set(raw) == {"$float"}:
            return float(raw["$float"])
        if set(raw) == {"$undefined"}:
            return None
        return {key: _py(item) for key, item in raw.items()}
    return raw


def _same(a: Any, b: Any) -> bool:
    """Equality that also tells float from int, -0.0 from 0.0, and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _wire(raw: Any) -> bytes:
    return raw.encode("utf-8") if isinstance(raw, str) else bytes.fromhex(raw["hex"])


def _packet(raw: dict[str, Any]) -> SioPacket:
    return SioPacket(SioPacketType(raw["type"]), raw["nsp"], _py(raw["data"]), raw["id"])


def _message(kind: str, raw: dict[str, Any]) -> Any:
    """A vector's 'py' fields as the dataclass the codec gives."""
    if kind == "broadcast":
        return ClusterBroadcast(
            raw["uid"],
            _packet(raw["packet"]),
            frozenset(raw["rooms"]),
            frozenset(raw["except_rooms"]),
            _py(raw["flags"]),
        )
    if kind == "request":
        fields = dict(raw)
        fields["type"] = RequestType(raw["type"])
        for key in ("rooms", "except_rooms"):
            if key in fields:
                fields[key] = frozenset(fields[key])
        if "target_rooms" in fields:
            fields["target_rooms"] = tuple(fields["target_rooms"])
        if "packet" in fields:
            fields["packet"] = _packet(fields["packet"])
        if "data" in fields:
            fields["data"] = _py(fields["data"])
        return ClusterRequest(**fields)
    fields = dict(raw)
    fields["type"] = None if raw["type"] is None else RequestType(raw["type"])
    if fields.get("sockets") is not None:
        fields["sockets"] = [
            SocketDetails(s["id"], s["handshake"], s["rooms"], _py(s["data"]))
            for s in raw["sockets"]
        ]
    for key in ("data", "packet"):
        if key in fields:
            fields[key] = _py(fields[key])
    return ClusterResponse(**fields)


_DECODE = {"broadcast": decode_broadcast, "request": decode_request, "response": decode_response}


def _encode(kind: str, message: Any) -> bytes:
    if kind == "broadcast":
        return encode_broadcast(
            message.uid,
            message.packet,
            sorted(message.rooms),
            sorted(message.except_rooms),
            message.flags,
        )
    if kind == "request":
        return encode_request(message)
    return encode_response(message)


def _ids(vector: dict[str, Any]) -> str:
    return str(vector["name"])


# ------------------------------------------------------------------------------------ vectors


def test_vector_file_has_each_kind_and_direction() -> None:
    assert {v["direction"] for v in VECTORS["msgpack"]} == {"both", "decode"}
    assert {v["direction"] for v in VECTORS["json"]} == {"both", "encode", "decode"}
    kinds = {(v["kind"], v["direction"]) for v in VECTORS["messages"]}
    assert {(k, "both") for k in ("broadcast", "request", "response")} <= kinds
    types = {v["py"]["type"] for v in VECTORS["messages"] if v["kind"] != "broadcast"}
    assert types == {None, *range(10)}


@pytest.mark.parametrize("vector", VECTORS["msgpack"], ids=_ids)
def test_msgpack_vectors(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    expected = _py(vector["py"]) if "py" in vector else _py(vector["value"])
    assert _same(unpack(data), expected)
    if vector["direction"] == "both":
        assert pack(_py(vector["value"])).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VECTORS["json"], ids=_ids)
def test_json_vectors(vector: dict[str, Any]) -> None:
    text = vector["json"].encode("utf-8")
    if vector["direction"] != "decode":
        assert dumps_json(_py(vector["value"])) == text
    if vector["direction"] != "encode":
        assert _same(loads_json(text), _py(vector["value"]))


@pytest.mark.parametrize("vector", VECTORS["messages"], ids=_ids)
def test_message_vectors(vector: dict[str, Any]) -> None:
    kind = vector["kind"]
    wire = _wire(vector["wire"])
    message = _message(kind, vector["py"])
    assert _DECODE[kind](wire) == message
    encoded = _encode(kind, message)
    if vector["direction"] == "both":
        assert encoded == wire
    else:
        assert encoded != wire
        assert _DECODE[kind](encoded) == message


def test_payloads_are_json_unless_binary() -> None:
    assert encode_payload({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert encode_payload({"a": [1, b"x"]}) == pack({"a": [1, b"x"]})
    assert decode_payload(b'{"a":1}') == {"a": 1}
    assert decode_payload(pack({"a": b"\x01"})) == {"a": b"\x01"}


def test_pack_forms() -> None:
    assert pack((1, (2,))) == pack([1, [2]])
    assert pack(bytearray(b"\x01")) == pack(memoryview(b"\x01")) == bytes.fromhex("c40101")
    assert unpack(pack("x" * 65536)) == "x" * 65536
    assert pack("x" * 65536)[:5] == bytes.fromhex("db00010000")
    assert unpack(pack(list(range(65536))))[-1] == 65535
    assert pack(list(range(65536)))[:5] == bytes.fromhex("dd00010000")
    big_map = {f"{i}": i for i in range(65536)}
    assert pack(big_map)[:5] == bytes.fromhex("df00010000")
    assert unpack(pack(big_map)) == big_map


def test_dates_decode_to_the_text_node_sends_clients() -> None:
    # Timestamp 96 far beyond what a JavaScript Date holds: Node's Date is invalid -> null.
    assert unpack(bytes.fromhex("c70cff00000000" + "00000fffffffffff")) is None
    # 1 ns below a millisecond boundary truncates (JavaScript's Date truncates toward zero).
    assert unpack(bytes.fromhex("d7ff" + (999_999 << 34 | 1).to_bytes(8, "big").hex())) == (
        "1970-01-01T00:00:01.000Z"
    )
    assert unpack(bytes.fromhex("d6ff00000000")) == "1970-01-01T00:00:00.000Z"


# ------------------------------------------------------------------------------------ encoding


@pytest.mark.parametrize(
    "value",
    [2**53 + 1, -(2**53) - 1, [1, {"a": 2**64}], {"deep": [[10**20]]}],
)
def test_integers_node_cannot_hold_are_refused(value: Any) -> None:
    for encode in (pack, dumps_json, encode_payload):
        with pytest.raises(
            ClusterEncodeError, match=r"cannot reach Node exactly \(beyond 2\*\*53\)"
        ):
            encode(value)


def test_the_message_names_the_integer() -> None:
    with pytest.raises(ClusterEncodeError) as info:
        pack(9007199254740993)
    assert str(info.value) == "integer 9007199254740993 cannot reach Node exactly (beyond 2**53)"
    assert pack(2**53) == bytes.fromhex("cf0020000000000000")
    assert pack(-(2**53)) == bytes.fromhex("d3ffe0000000000000")


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({1: "a"}, "map key 1 is not a str"),
        ({b"k": "a"}, "is not a str"),
        ({"a": {1, 2}}, "a set cannot be sent"),
        (object(), "a object cannot be sent"),
        ([1j], "a complex cannot be sent"),
        ("\ud800", "UTF-8 cannot carry"),
    ],
)
def test_what_no_format_carries_is_refused(value: Any, error: str) -> None:
    with pytest.raises(ClusterEncodeError, match=error):
        pack(value)


def test_nesting_beyond_what_readers_accept_is_refused() -> None:
    depth = ClusterLimits().max_depth
    ok: Any = "x"
    for _ in range(depth):
        ok = [ok]
    assert unpack(pack(ok)) == ok
    with pytest.raises(ClusterEncodeError, match="nested deeper"):
        pack([ok])
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ClusterEncodeError, match="nested deeper"):
        dumps_json(cyclic)


def test_json_refuses_binary_and_writes_what_json_stringify_writes() -> None:
    with pytest.raises(ClusterEncodeError, match="binary cannot travel as JSON"):
        dumps_json([b"x"])
    assert dumps_json({"s": "é"}) == b'{"s":"\xc3\xa9"}'
    # A lone surrogate has no UTF-8 form: it is escaped, as JSON.stringify does.
    lone = dumps_json({"s": "\ud800é"})
    assert b"\\ud800" in lone
    assert loads_json(lone) == {"s": "\ud800é"}
    assert dumps_json([math.nan]) == b"[null]"


def test_broadcast_encoding_keeps_order_drops_duplicates_and_unset_flags() -> None:
    packet = SioPacket(SioPacketType.EVENT, "/", ["e"], 7)
    data = encode_broadcast("u", packet, ["b", "a", "b"], ("x", "x"), {"volatile": None, "t": 1})
    assert unpack(data) == [
        "u",
        {"type": 2, "data": ["e"], "nsp": "/", "id": 7},
        {"rooms": ["b", "a"], "except": ["x"], "flags": {"t": 1}},
    ]
    assert decode_broadcast(data).packet == packet
    with pytest.raises(ClusterEncodeError, match="only events"):
        encode_broadcast("u", SioPacket(SioPacketType.ACK, "/", [], 1), [], [], {})
    with pytest.raises(ClusterEncodeError, match=r"\[name, \*args\]"):
        encode_broadcast("u", SioPacket(SioPacketType.EVENT, "/", []), [], [], {})


@pytest.mark.parametrize(
    "request_",
    [
        ClusterRequest(RequestType.ALL_ROOMS, uid="u"),
        ClusterRequest(RequestType.REMOTE_FETCH, uid="u"),
        ClusterRequest(RequestType.REMOTE_JOIN, uid="u", request_id="q", room="r"),
        ClusterRequest(RequestType.REMOTE_DISCONNECT, uid="u", request_id="q"),
        ClusterRequest(RequestType.SERVER_SIDE_EMIT, uid="u", data=[]),
        ClusterRequest(RequestType.BROADCAST, uid="u", request_id="q"),
        ClusterRequest(RequestType.BROADCAST_ACK, uid="u", request_id="q"),
    ],
)
def test_incomplete_requests_are_not_encoded(request_: ClusterRequest) -> None:
    with pytest.raises(ClusterEncodeError):
        encode_request(request_)


def test_client_count_answer_needs_a_count() -> None:
    with pytest.raises(ClusterEncodeError):
        encode_response(ClusterResponse(RequestType.BROADCAST_CLIENT_COUNT, "q"))


# ------------------------------------------------------------------------------------ channels


def test_channel_names() -> None:
    ch = Channels()
    assert (ch.key, ch.nsp) == ("socket.io", "/")
    assert ch.broadcast == "socket.io#/#"
    assert ch.room("r1") == "socket.io#/#r1#"
    assert ch.request == "socket.io-request#/#"
    assert ch.response == "socket.io-response#/#"
    assert ch.specific_response("abc") == "socket.io-response#/#abc#"
    assert ch.pattern == "socket.io#/#*"
    assert ch.broadcast_channel([]) == ch.broadcast
    assert ch.broadcast_channel({"r1"}) == ch.room("r1")
    assert ch.broadcast_channel(["r1", "r2"]) == ch.broadcast
    chat = Channels("app", "/chat")
    assert chat.room("a#b") == "app#/chat#a#b#"
    assert chat.request == "app-request#/chat#"


def test_pattern_escapes_redis_glob_characters() -> None:
    ch = Channels("k\\ey[1]", "/a*b?[c]^-")
    assert ch.pattern == "k\\\\ey\\[1\\]#/a\\*b\\?\\[c\\]^-#*"
    assert _redis_glob(ch.pattern, ch.room("x"))
    assert _redis_glob(ch.pattern, ch.broadcast)
    assert not _redis_glob(ch.pattern, "k\\ey1#/a*b?[c]^-#")
    assert not _redis_glob(ch.pattern, "k\\ey[1]#/aXb?[c]^-#")
    assert not _redis_glob(Channels(nsp="/").pattern, "socket.io#/admin#")


def _redis_glob(pattern: str, text: str) -> bool:
    """Redis' stringmatchlen for the cases a pattern from :class:`Channels` can hold:
    ``*`` and backslash escapes (never an unescaped ``?`` or ``[``)."""
    if not pattern:
        return not text
    head = pattern[0]
    if head == "*":
        return any(_redis_glob(pattern[1:], text[i:]) for i in range(len(text) + 1))
    assert head not in "?[", "Channels.pattern left a glob character unescaped"
    if head == "\\":
        pattern = pattern[1:]
        head = pattern[0]
    return bool(text) and text[0] == head and _redis_glob(pattern[1:], text[1:])


def test_room_of() -> None:
    ch = Channels()
    assert ch.room_of("socket.io#/#") == ""
    assert ch.room_of("socket.io#/#room1#") == "room1"
    assert ch.room_of("socket.io#/#a#b#") == "a#b"
    assert ch.room_of("socket.io#/admin#") is None
    assert ch.room_of("socket.io#/admin#r#") is None
    assert ch.room_of("socket.io#/#room1") is None
    assert ch.room_of("other#/#") is None
    assert ch.room_of("socket.io-request#/#") is None
    odd = Channels("k*", "/a?")
    assert odd.room_of(odd.room("r")) == "r"


# ------------------------------------------------------------------------------ hostile input

_BROADCAST = VECTORS["messages"][1]


def _pk(value: Any) -> bytes:
    return pack(value)


HOSTILE_MSGPACK: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("truncated broadcast", _wire(_BROADCAST["wire"])[:-3]),
    ("truncated str header", bytes.fromhex("da00")),
    ("huge declared str", bytes.fromhex("dbffffffff") + b"x"),
    ("huge declared bin", bytes.fromhex("c6ffffffff") + b"x"),
    ("huge declared array", bytes.fromhex("ddffffffff") + b"\x00"),
    ("huge declared map", bytes.fromhex("dfffffffff") + b"\x00"),
    ("trailing bytes", bytes.fromhex("c0c0")),
    ("bad UTF-8", bytes.fromhex("a2fffe")),
    ("reserved byte 0xc1", bytes.fromhex("c1")),
    ("non-str map key", bytes.fromhex("810102")),
    ("bin map key", bytes.fromhex("81c4016101")),
    ("array map key", bytes.fromhex("81910101")),
    ("ext type 5", bytes.fromhex("d40501")),
    ("ext type -2", bytes.fromhex("d5fe0102")),
    ("ext 16 type 7", bytes.fromhex("c8000107ff")),
    ("timestamp of 5 bytes", bytes.fromhex("c705ff0000000000")),
    ("deep nesting", bytes.fromhex("91") * 41 + b"\xc0"),
    ("very deep nesting", bytes.fromhex("91") * 100_000 + b"\xc0"),
    ("deep maps", bytes.fromhex("81a161") * 50 + b"\xc0"),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE_MSGPACK, ids=[n for n, _ in HOSTILE_MSGPACK])
def test_hostile_msgpack_raises_only_message_error(name: str, data: bytes) -> None:
    for decode in (unpack, decode_broadcast, decode_request, decode_response, decode_payload):
        with pytest.raises(ClusterMessageError):
            decode(data)


HOSTILE_JSON = [
    b"{",
    b'{"type":1,"requestId":"q"',
    b'{"type":1,"requestId":"q"} x',
    b'{"type":1,"requestId":NaN}',
    b'{"type":Infinity}',
    b'{"a":"\xff"}',
    b"{" + b'"a":[' * 100_000,
    b'{"a":' + b"[" * 41 + b"]" * 41 + b"}",
]


@pytest.mark.parametrize("data", HOSTILE_JSON, ids=range(len(HOSTILE_JSON)))
def test_hostile_json_raises_only_message_error(data: bytes) -> None:
    for decode in (loads_json, decode_request, decode_response, decode_payload):
        with pytest.raises(ClusterMessageError):
            decode(data)


def test_limits() -> None:
    limits = ClusterLimits(max_message_bytes=10, max_depth=2, max_items=3, max_rooms=1)
    with pytest.raises(ClusterMessageError, match="limit 10"):
        unpack(pack("x" * 20), limits)
    with pytest.raises(ClusterMessageError, match="limit 10"):
        loads_json(b'"' + b"x" * 20 + b'"', limits)
    assert unpack(pack([[1]]), limits) == [[1]]
    with pytest.raises(ClusterMessageError, match="nested deeper than 2"):
        unpack(pack([[[]]]), limits)
    with pytest.raises(ClusterMessageError, match="nested deeper than 2"):
        loads_json(b"[[[]]]", limits)
    with pytest.raises(ClusterMessageError):
        unpack(pack([1, 2, 3, 4]), limits)
    with pytest.raises(ClusterMessageError):
        loads_json(b"[1,2,3,4]", limits)
    req = ClusterRequest(RequestType.REMOTE_FETCH, "u", "q", frozenset({"a", "b"}), has_opts=True)
    with pytest.raises(ClusterMessageError, match="more than 1 rooms"):
        decode_request(encode_request(req), ClusterLimits(max_rooms=1))
    answer = ClusterResponse(None, "q", sids=["a", "b"])
    with pytest.raises(ClusterMessageError, match="more than 1 sockets"):
        decode_response(encode_response(answer), ClusterLimits(max_sockets_per_response=1))


def _b(value: Any) -> bytes:
    return pack(value)


EV: dict[str, Any] = {"type": 2, "data": ["e"], "nsp": "/"}
OPTS: dict[str, Any] = {"rooms": [], "except": [], "flags": {}}
BAD_BROADCASTS = {
    "not an array": {"uid": "u"},
    "two items": ["u", EV],
    "four items": ["u", EV, OPTS, 1],
    "uid not str": [1, EV, OPTS],
    "packet not a map": ["u", [2], OPTS],
    "ack packet": ["u", {**EV, "type": 3, "id": 1}, OPTS],
    "connect packet": ["u", {**EV, "type": 0}, OPTS],
    "type as float": ["u", {**EV, "type": 2.0}, OPTS],
    "type as bool": ["u", {**EV, "type": True}, OPTS],
    "no data": ["u", {"type": 2, "nsp": "/"}, OPTS],
    "empty data": ["u", {**EV, "data": []}, OPTS],
    "data not a list": ["u", {**EV, "data": "e"}, OPTS],
    "event name not str": ["u", {**EV, "data": [1]}, OPTS],
    "reserved event name": ["u", {**EV, "data": ["disconnect"]}, OPTS],
    "nsp not str": ["u", {**EV, "nsp": 1}, OPTS],
    "id negative": ["u", {**EV, "id": -1}, OPTS],
    "id not int": ["u", {**EV, "id": "1"}, OPTS],
    "opts not a map": ["u", EV, []],
    "rooms not a list": ["u", EV, {**OPTS, "rooms": "abc"}],
    "numeric room": ["u", EV, {**OPTS, "rooms": [1]}],
    "except not a list": ["u", EV, {**OPTS, "except": {}}],
    "flags not a map": ["u", EV, {**OPTS, "flags": []}],
}


@pytest.mark.parametrize("name", list(BAD_BROADCASTS))
def test_malformed_broadcasts(name: str) -> None:
    with pytest.raises(ClusterMessageError):
        decode_broadcast(_b(BAD_BROADCASTS[name]))


def test_broadcasts_are_msgpack_only() -> None:
    with pytest.raises(ClusterMessageError):
        decode_broadcast(b'["u",{"type":2,"data":["e"]},{}]')


NO_ROOMS: dict[str, Any] = {"rooms": [], "except": []}
BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "no type": {"uid": "u", "requestId": "q"},
    "type as str": {"type": "1", "requestId": "q"},
    "type as float": {"type": 1.0, "requestId": "q"},
    "unknown type": {"type": 42, "requestId": "q"},
    "answer type as request": {"type": 8, "requestId": "q", "clientCount": 1},
    "negative type": {"type": -1, "requestId": "q"},
    "uid not str": {"type": 1, "uid": 1, "requestId": "q"},
    "ALL_ROOMS without requestId": {"type": 1},
    "requestId not str": {"type": 1, "requestId": 5},
    "SOCKETS without requestId": {"type": 0, "rooms": []},
    "SOCKETS rooms not a list": {"type": 0, "requestId": "q", "rooms": "r"},
    "REMOTE_JOIN opts not a map": {"type": 2, "opts": [1], "rooms": ["r"]},
    "REMOTE_JOIN without rooms": {"type": 2, "opts": NO_ROOMS},
    "REMOTE_JOIN rooms not a list": {"type": 2, "opts": NO_ROOMS, "rooms": "r"},
    "REMOTE_JOIN numeric room": {"type": 2, "opts": NO_ROOMS, "rooms": [1]},
    "REMOTE_JOIN opts.rooms not a list": {"type": 2, "opts": {"rooms": 1}, "rooms": ["r"]},
    "legacy REMOTE_JOIN without requestId": {"type": 2, "sid": "s", "room": "r"},
    "legacy REMOTE_JOIN without sid": {"type": 2, "requestId": "q", "room": "r"},
    "legacy REMOTE_LEAVE without room": {"type": 3, "requestId": "q", "sid": "s"},
    "legacy REMOTE_DISCONNECT sid not str": {"type": 4, "requestId": "q", "sid": 1},
    "REMOTE_DISCONNECT close not bool": {"type": 4, "opts": NO_ROOMS, "close": 1},
    "REMOTE_FETCH without opts": {"type": 5, "requestId": "q"},
    "REMOTE_FETCH without requestId": {"type": 5, "opts": NO_ROOMS},
    "SERVER_SIDE_EMIT without data": {"type": 6, "uid": "u"},
    "SERVER_SIDE_EMIT empty data": {"type": 6, "uid": "u", "data": []},
    "SERVER_SIDE_EMIT event not str": {"type": 6, "uid": "u", "data": [1]},
    "SERVER_SIDE_EMIT reserved event": {"type": 6, "uid": "u", "data": ["connection"]},
    "BROADCAST without requestId": {"type": 7, "packet": EV, "opts": NO_ROOMS},
    "BROADCAST without packet": {"type": 7, "requestId": "q", "opts": NO_ROOMS},
    "BROADCAST without opts": {"type": 7, "requestId": "q", "packet": EV},
    "BROADCAST flags not a map": {"type": 7, "requestId": "q", "packet": EV, "opts": {"flags": 1}},
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_malformed_requests(name: str) -> None:
    raw = BAD_REQUESTS[name]
    for data in (json.dumps(raw).encode(), _b(raw)):
        with pytest.raises(ClusterMessageError):
            decode_request(data)


def test_unknown_request_type_is_named() -> None:
    with pytest.raises(ClusterMessageError, match="unknown request type 42"):
        decode_request(b'{"type":42,"requestId":"q"}')


def test_request_decoding_follows_node_where_it_is_lenient() -> None:
    # Missing opts lists are empty sets; a null opts is the legacy form; extra keys are ignored.
    req = decode_request(b'{"type":2,"opts":{},"rooms":["r"],"extra":1}')
    assert req == ClusterRequest(RequestType.REMOTE_JOIN, has_opts=True, target_rooms=("r",))
    legacy = decode_request(b'{"type":4,"opts":null,"requestId":"q","sid":"s"}')
    assert legacy == ClusterRequest(RequestType.REMOTE_DISCONNECT, request_id="q", sid="s")
    # A msgpack request (first byte not "{") is read as msgpack.
    assert decode_request(_b({"type": 1, "requestId": "q"})).request_id == "q"


BAD_RESPONSES: dict[str, dict[str, Any]] = {
    "no requestId": {"rooms": []},
    "requestId not str": {"requestId": 1},
    "type as str": {"requestId": "q", "type": "6"},
    "unknown type": {"requestId": "q", "type": 10},
    "sockets not a list": {"requestId": "q", "sockets": {"a": 1}},
    "sockets mixed": {"requestId": "q", "sockets": ["s", {"id": "s"}]},
    "sockets of numbers": {"requestId": "q", "sockets": [1]},
    "socket without id": {"requestId": "q", "sockets": [{"handshake": {}, "rooms": []}]},
    "socket handshake not a map": {
        "requestId": "q",
        "sockets": [{"id": "s", "handshake": 1, "rooms": []}],
    },
    "socket rooms not a list": {
        "requestId": "q",
        "sockets": [{"id": "s", "handshake": {}, "rooms": 1}],
    },
    "rooms not a list": {"requestId": "q", "rooms": "r"},
    "rooms not strs": {"requestId": "q", "rooms": [1]},
    "clientCount negative": {"requestId": "q", "type": 8, "clientCount": -1},
    "clientCount float": {"requestId": "q", "type": 8, "clientCount": 1.5},
    "clientCount missing": {"requestId": "q", "type": 8},
}


@pytest.mark.parametrize("name", list(BAD_RESPONSES))
def test_malformed_responses(name: str) -> None:
    raw = BAD_RESPONSES[name]
    for data in (json.dumps(raw).encode(), _b(raw)):
        with pytest.raises(ClusterMessageError):
            decode_response(data)


def test_top_level_must_be_a_map() -> None:
    for data in (_b([1]), _b("x"), _b(None), b"\x05"):
        with pytest.raises(ClusterMessageError, match="not a map"):
            decode_request(data)
        with pytest.raises(ClusterMessageError, match="not a map"):
            decode_response(data)
    # Only "{" means JSON (Node's rule): a JSON array is read as msgpack, and is not msgpack.
    with pytest.raises(ClusterMessageError, match="invalid msgpack"):
        decode_request(b"[1]")


# ----------------------------------------------------------------------------- pending requests


def _answer(request_id: str, **fields: Any) -> ClusterResponse:
    return ClusterResponse(None, request_id, **fields)


def test_fetch_completes_when_every_other_server_answered() -> None:
    table = PendingRequests()
    mine = SocketDetails("s0", {}, ["s0"])
    pending = table.add("q", RequestType.REMOTE_FETCH, 2, deadline=10.0, initial=[mine])
    theirs = SocketDetails("s1", {}, ["s1"])
    assert table.feed(_answer("q", sockets=[theirs])) is None
    assert "q" in table
    assert table.feed(_answer("other", sockets=[])) is None
    done = table.feed(_answer("q", sockets=[]))
    assert done is pending
    assert done.complete and done.answers == 2
    assert done.result == [mine, theirs]
    assert "q" not in table and len(table) == 0
    assert table.feed(_answer("q", sockets=[])) is None
    assert table.next_deadline() == math.inf


def test_an_answer_without_the_key_counts_but_cannot_complete() -> None:
    """Node's onresponse: msgCount++ first, then return when the key is missing."""
    table = PendingRequests()
    table.add("q", RequestType.ALL_ROOMS, 2, deadline=5.0, initial=["a"])
    assert table.feed(_answer("q", rooms=["b"])) is None
    assert table.feed(_answer("q")) is None  # counted (2 of 2), but no rooms: no completion
    assert table.feed(_answer("q", rooms=["c"])) is None  # 3 != 2: never completes
    assert table.next_deadline() == 5.0
    assert table.expire(4.999) == []
    [expired] = table.expire(5.0)
    assert not expired.complete and expired.answers == 3
    assert expired.result == {"a", "b", "c"}
    assert len(table) == 0


def test_legacy_sockets_gathers_sids() -> None:
    table = PendingRequests()
    table.add("q", RequestType.SOCKETS, 1, deadline=1.0, initial=["s0"])
    # Socket details are not what a SOCKETS request waits for: counted, not completing.
    assert table.feed(_answer("q", sockets=[SocketDetails("x", {}, [])])) is None
    table2 = PendingRequests()
    table2.add("q", RequestType.SOCKETS, 1, deadline=1.0, initial=["s0"])
    done = table2.feed(decode_response(b'{"requestId":"q","sockets":["s1","s0"]}'))
    assert done is not None and done.result == {"s0", "s1"}


def test_server_side_emit_collects_data_from_each_other_server() -> None:
    table = PendingRequests()
    table.add("q", RequestType.SERVER_SIDE_EMIT, 2, deadline=3.0)
    assert table.feed(ClusterResponse(RequestType.SERVER_SIDE_EMIT, "q", data="one")) is None
    done = table.feed(ClusterResponse(RequestType.SERVER_SIDE_EMIT, "q"))
    assert done is not None and done.result == ["one", None]


def test_single_socket_requests_complete_on_the_first_answer() -> None:
    table = PendingRequests()
    for kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
        pending = table.add(f"q{kind}", kind, 1, deadline=1.0)
        assert table.feed(_answer(f"q{kind}")) is pending
        assert pending.result is None
    assert len(table) == 0


def test_expiry_order_cancel_and_deadlines() -> None:
    table = PendingRequests()
    table.add("late", RequestType.ALL_ROOMS, 1, deadline=30.0)
    table.add("early", RequestType.ALL_ROOMS, 1, deadline=10.0)
    table.add("mid", RequestType.SERVER_SIDE_EMIT, 1, deadline=20.0)
    assert table.next_deadline() == 10.0
    assert table.cancel("early") is not None
    assert table.cancel("early") is None
    assert table.next_deadline() == 20.0
    assert [p.request_id for p in table.expire(30.0)] == ["mid", "late"]
    assert table.next_deadline() == math.inf
    # A request id may be reused once the first is gone; the old heap entry is not confused.
    table.add("x", RequestType.ALL_ROOMS, 1, deadline=1.0)
    table.cancel("x")
    table.add("x", RequestType.ALL_ROOMS, 1, deadline=50.0)
    assert table.next_deadline() == 50.0
    assert table.expire(2.0) == []
    assert "x" in table


def test_add_refuses_what_cannot_be_waited_for() -> None:
    table = PendingRequests()
    table.add("q", RequestType.ALL_ROOMS, 1, deadline=1.0)
    with pytest.raises(ValueError, match="already pending"):
        table.add("q", RequestType.ALL_ROOMS, 1, deadline=1.0)
    with pytest.raises(ValueError, match="nothing to wait for"):
        table.add("z", RequestType.REMOTE_FETCH, 0, deadline=1.0)
    with pytest.raises(ValueError, match="not waited for here"):
        table.add("b", RequestType.BROADCAST, 1, deadline=1.0)


# ------------------------------------------------------------------------------- ack collector


def test_acks_complete_once_servers_and_clients_are_all_counted() -> None:
    acks = AckCollector(deadline=5.0)
    assert not acks.add_server(2)  # this server: 2 clients; cluster size still unknown
    assert not acks.add_response("a")
    assert not acks.add_server(1)  # another server: 1 client
    assert not acks.add_response("b")
    assert not acks.add_response("c")  # 3 of 3 clients, but how many servers?
    assert acks.set_expected_servers(2)
    assert acks.complete and acks.finished and not acks.timed_out
    assert acks.responses == ["a", "b", "c"]
    assert not acks.add_response("late")
    assert not acks.expire(10.0)
    assert acks.responses == ["a", "b", "c"]


def test_acks_wait_for_every_expected_server() -> None:
    acks = AckCollector(deadline=5.0)
    assert not acks.set_expected_servers(3)
    assert not acks.add_server(0)
    assert not acks.add_server(0)
    assert not acks.expire(4.9)
    assert acks.expire(5.0)
    assert acks.timed_out and not acks.complete
    assert not acks.expire(6.0)
    assert not acks.add_server(0)


def test_local_only_acks() -> None:
    acks = AckCollector(deadline=1.0, expected_servers=1)
    assert not acks.add_server(2)
    assert not acks.add_response(1)
    assert acks.add_response(2)
    nobody = AckCollector(deadline=1.0, expected_servers=1)
    assert nobody.add_server(0)  # no client to wait for: complete at once, as Node
    assert nobody.responses == []


def test_timeout_keeps_the_partial_answers() -> None:
    acks = AckCollector(deadline=2.0, expected_servers=1)
    acks.add_server(3)
    acks.add_response("x")
    assert acks.expire(2.5)
    assert acks.responses == ["x"]
