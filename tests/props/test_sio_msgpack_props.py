"""Properties of the msgpack parser: round trips with bytes anywhere, and garbage (random bytes,
or real packets with a slice replaced) only ever raises SocketIOProtocolError (the fuzz
contract of STYLE.md §8; the atheris harness is fuzz/fuzz_sio_msgpack.py)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.proto.sio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    DecoderLimits,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
)
from minisock.proto.sio_msgpack import MsgpackDecoder, decode, encode

SAFE = 2**53  # beyond it, integers decode as the float Node would hold
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE, max_value=SAFE),
    st.floats(allow_nan=False),  # msgpack carries infinities; NaN != NaN
    st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
    st.binary(max_size=16),
)
keys = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)


def _values(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return leaves
    inner = _values(depth - 1)
    return st.one_of(leaves, st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4))


args = st.lists(_values(9), max_size=6)  # the argument array itself is the tenth level
event_names = st.text(st.characters(exclude_categories=["Cs"]), max_size=12).filter(
    lambda name: name not in RESERVED_EVENTS
)
namespaces = st.text(st.characters(exclude_categories=["Cs"]), max_size=40).map(lambda s: "/" + s)
ack_ids = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_ACK_ID))


def _exact_types(value: Any) -> Any:
    """A structure that also compares the types (True == 1 and 1 == 1.0 otherwise)."""
    if isinstance(value, list):
        return ("list", [_exact_types(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(key, _exact_types(item)) for key, item in value.items()])
    if isinstance(value, float) and math.isinf(value):
        return ("float", str(value))
    return (type(value).__name__, value)


packets = st.one_of(
    st.builds(
        lambda name, rest, nsp, ack: SioPacket(SioPacketType.EVENT, nsp, [name, *rest], ack),
        event_names,
        args,
        namespaces,
        ack_ids,
    ),
    st.builds(
        lambda rest, nsp, ack: SioPacket(SioPacketType.ACK, nsp, rest, ack),
        args,
        namespaces,
        st.integers(min_value=0, max_value=MAX_ACK_ID),
    ),
    st.builds(
        lambda auth, nsp: SioPacket(SioPacketType.CONNECT, nsp, auth),
        st.one_of(st.none(), st.dictionaries(keys, _values(3), max_size=4)),
        namespaces,
    ),
    st.builds(lambda nsp: SioPacket(SioPacketType.DISCONNECT, nsp), namespaces),
    st.builds(
        lambda body, nsp: SioPacket(SioPacketType.CONNECT_ERROR, nsp, body),
        st.one_of(st.text(max_size=8), st.dictionaries(keys, _values(2), max_size=3)),
        namespaces,
    ),
)


@settings(max_examples=400)
@given(packets)
def test_round_trip(packet: SioPacket) -> None:
    wire = encode(packet)
    decoded = MsgpackDecoder(DecoderLimits(), from_server=True).receive(wire)
    assert decoded is not None
    assert (decoded.type, decoded.nsp, decoded.id) == (packet.type, packet.nsp, packet.id)
    assert _exact_types(decoded.data) == _exact_types(packet.data)


def _garbled(wire: bytes, cut: tuple[int, int, bytes]) -> bytes:
    a, b, middle = cut
    lo, hi = sorted((a % (len(wire) + 1), b % (len(wire) + 1)))
    return wire[:lo] + middle + wire[hi:]


cuts = st.tuples(st.integers(0, 1 << 16), st.integers(0, 1 << 16), st.binary(max_size=16))


@settings(max_examples=400)
@given(st.one_of(st.binary(max_size=256), st.builds(_garbled, packets.map(encode), cuts)))
def test_garbage_raises_only_the_protocol_error(data: bytes) -> None:
    for from_server in (False, True):
        try:
            packet = decode(data, DecoderLimits(), from_server)
        except SocketIOProtocolError:
            continue
        assert packet.type <= SioPacketType.CONNECT_ERROR
        assert packet.id is None or 0 <= packet.id <= MAX_ACK_ID
