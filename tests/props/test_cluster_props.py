"""Properties of the cluster codec: round trips of every value the bus can carry, and garbage
only ever raises ClusterMessageError (the fuzz contract of STYLE.md §8)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.proto.cluster import (
    MAX_SAFE_INTEGER,
    ClusterMessageError,
    decode_broadcast,
    decode_payload,
    decode_request,
    decode_response,
    encode_payload,
    loads_json,
    pack,
    unpack,
)

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    st.floats(),  # NaN and infinities too: msgpack carries them
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    st.binary(max_size=16),
)
keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)


def _values(depth: int) -> st.SearchStrategy[Any]:
    """JSON-like values with binary leaves, at most ``depth`` containers deep."""
    if depth == 0:
        return leaves
    inner = _values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
    )


values = _values(6)


def _normal(value: Any) -> Any:
    """What decoding gives back: tuples as lists."""
    if isinstance(value, list | tuple):
        return [_normal(item) for item in value]
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from 1.0 and -0.0 from 0.0, with NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=400)
@given(values)
def test_msgpack_round_trip(value: Any) -> None:
    assert _same(unpack(pack(value)), _normal(value))


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


@settings(max_examples=400)
@given(st.dictionaries(keys, values, max_size=4))
def test_payload_round_trip(value: dict[str, Any]) -> None:
    """A map payload picks JSON or msgpack by itself, and reads back the same either way
    (JSON keeps -0.0 and 1.0 as floats on the Python side: json writes them so)."""
    encoded = encode_payload(value)
    decoded = decode_payload(encoded)
    if encoded[:1] == b"{":
        if _finite(value):
            assert _same(decoded, _normal(value))
        assert loads_json(encoded) == decoded
    else:
        assert _same(decoded, _normal(value))


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_garbage_raises_only_the_documented_error(data: bytes) -> None:
    for decode in (unpack, decode_payload, decode_broadcast, decode_request, decode_response):
        try:
            decode(data)
        except ClusterMessageError:
            pass


message_like = st.one_of(
    st.builds(pack, values),
    st.builds(lambda v: pack(["u", {"type": 2, "data": ["e", v], "nsp": "/"}, v]), values),
    st.builds(
        lambda t, v, w: pack({"type": t, "requestId": "q", "opts": v, "packet": w, "data": v}),
        st.integers(-1, 11),
        values,
        values,
    ),
    st.builds(lambda v: pack({"requestId": "q", "sockets": v, "rooms": v}), values),
)


@settings(max_examples=1000)
@given(message_like, st.data())
def test_near_miss_messages_raise_only_the_documented_error(data: bytes, draw: Any) -> None:
    """Well-formed msgpack of the wrong shape, and its mutations."""
    if data and draw.draw(st.booleans()):
        at = draw.draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw.draw(st.integers(0, 255))]) + data[at + 1 :]
    for decode in (decode_broadcast, decode_request, decode_response):
        try:
            decode(data)
        except ClusterMessageError:
            pass


@settings(max_examples=500)
@given(st.text(max_size=80))
def test_json_garbage_raises_only_the_documented_error(text: str) -> None:
    data = ("{" + text).encode("utf-8", "surrogatepass")
    for decode in (loads_json, decode_request, decode_response):
        try:
            decode(data)
        except ClusterMessageError:
            pass
