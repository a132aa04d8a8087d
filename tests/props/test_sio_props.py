"""Properties of the Socket.IO codec: round trips with bytes anywhere, and garbage only raises
the documented error (the fuzz contract of STYLE.md §8)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.proto.sio import (
    MAX_ACK_ID,
    RESERVED_EVENTS,
    Decoder,
    DecoderLimits,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    encode,
)

# Leaves JSON (and JSON.stringify) can carry, plus binary in each form encode accepts.
# NaN and ±Infinity are left out: they are not JSON.
binary = st.one_of(st.binary(max_size=16), st.binary(max_size=16).map(bytearray))
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    binary,
)
# "_placeholder" is the one key a sender cannot use: it would read as an attachment.
keys = st.text(max_size=6).filter(lambda k: k != "_placeholder")


def _values(depth: int) -> st.SearchStrategy[Any]:
    """JSON-compatible values with binary leaves, at most ``depth`` containers deep."""
    if depth == 0:
        return leaves
    inner = _values(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
    )


args = st.lists(_values(9), max_size=6)  # the argument array itself is the tenth level
event_names = st.text(max_size=12).filter(lambda name: name not in RESERVED_EVENTS)
namespaces = st.one_of(
    st.just("/"),
    st.text(st.characters(exclude_characters=","), max_size=40).map(lambda s: "/" + s),
)
ack_ids = st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_ACK_ID))


def _as_decoded(value: Any) -> Any:
    """What the decoder gives back: every bytes-like value as ``bytes``."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list):
        return [_as_decoded(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_decoded(item) for key, item in value.items()}
    return value


def _exact_types(value: Any) -> Any:
    """A structure that also compares the types (True == 1 and b"" == bytearray() otherwise)."""
    if isinstance(value, list):
        return ("list", [_exact_types(item) for item in value])
    if isinstance(value, dict):
        return ("dict", [(key, _exact_types(item)) for key, item in value.items()])
    return (type(value).__name__, value)


def _decode_all(parts: list[str | bytes]) -> SioPacket:
    # The default limit is 10 attachments; the generated data may hold more.
    decoder = Decoder(DecoderLimits(max_attachments=max(10, len(parts) - 1)))
    for part in parts[:-1]:
        assert decoder.receive(part) is None
    packet = decoder.receive(parts[-1])
    assert packet is not None
    assert not decoder.awaiting_attachments
    return packet


def _check_round_trip(packet: SioPacket) -> None:
    parts = encode(packet)
    assert isinstance(parts[0], str)
    assert all(type(part) is bytes for part in parts[1:])
    decoded = _decode_all(parts)
    assert (decoded.type, decoded.nsp, decoded.id) == (packet.type, packet.nsp, packet.id)
    assert _exact_types(decoded.data) == _exact_types(_as_decoded(packet.data))


@given(event_names, args, namespaces, ack_ids)
def test_event_round_trip(name: str, arguments: list[Any], nsp: str, ack: int | None) -> None:
    _check_round_trip(SioPacket(SioPacketType.EVENT, nsp, [name, *arguments], ack))


@given(args, namespaces, st.integers(min_value=0, max_value=MAX_ACK_ID))
def test_ack_round_trip(arguments: list[Any], nsp: str, ack: int) -> None:
    _check_round_trip(SioPacket(SioPacketType.ACK, nsp, arguments, ack))


# --------------------------------------------------------------------------------- garbage

_ALPHABET = '0123456789-/,[]{}":_aeclnmprtuxo \\'
# Near-misses: a packet head, then characters from the packet grammar.
structured_text = st.builds(
    lambda head, body: head + body,
    st.sampled_from(["", "0", "1", "2", "3", "4", "5", "6", "51-", "62-1", "2/a,", "3/a,1"]),
    st.text(_ALPHABET, max_size=40),
)
messages = st.one_of(st.text(), structured_text, st.binary(max_size=8))


def _feed_garbage(decoder: Decoder, stream: list[str | bytes]) -> None:
    for message in stream:
        try:
            packet = decoder.receive(message)
        except SocketIOProtocolError:
            return  # the connection closes here
        assert packet is None or isinstance(packet, SioPacket)


@given(st.lists(messages, min_size=1, max_size=6))
def test_garbage_only_raises_protocol_error(stream: list[str | bytes]) -> None:
    _feed_garbage(Decoder(), stream)


@given(
    st.lists(messages, min_size=1, max_size=6),
    st.builds(
        DecoderLimits,
        max_attachments=st.integers(0, 12),
        max_args=st.integers(0, 5),
        max_depth=st.integers(1, 40),
        max_namespace_length=st.integers(0, 10),
    ),
)
def test_garbage_under_any_limits_only_raises_protocol_error(
    stream: list[str | bytes], limits: DecoderLimits
) -> None:
    _feed_garbage(Decoder(limits), stream)


@given(st.binary(max_size=64), st.integers(0, 3))
def test_binary_packet_then_garbage(tail: bytes, cut: int) -> None:
    """A valid binary packet whose text part was mangled at the end, then garbage buffers."""
    parts = encode(SioPacket(SioPacketType.EVENT, data=["x", b"a", {"b": b"b"}]))
    text = parts[0]
    assert isinstance(text, str)
    mangled = text[: len(text) - cut] + tail.decode("latin-1")
    _feed_garbage(Decoder(), [mangled, tail, tail, tail])


# ---------------------------------------------------------------------------------- depth

_OPENERS = {"array": ("[", "]"), "object": ('{"k":', "}")}


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=100_000), st.sampled_from(sorted(_OPENERS)))
def test_depth_check_never_overflows(depth: int, shape: str) -> None:
    opener, closer = _OPENERS[shape]
    text = '2["x",' + opener * depth + "0" + closer * depth + "]"
    try:
        packet = Decoder().receive(text)
    except SocketIOProtocolError as error:
        assert depth + 1 > 32, error
        return
    assert depth + 1 <= 32
    assert packet is not None


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=100_000))
def test_deep_binary_packet_never_overflows(depth: int) -> None:
    text = '51-["x",' + "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth + "]"
    decoder = Decoder()
    try:
        assert decoder.receive(text) is None
        packet = decoder.receive(b"\x00")
    except SocketIOProtocolError:
        assert depth + 2 > 32
        return
    assert packet is not None
    assert depth + 2 <= 32
