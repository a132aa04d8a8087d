"""The outgoing depth promise: every Python refuses the same payloads, with the same error.

A payload nesting at most ``max_outgoing_depth()`` levels (256 by default; the packet's own
argument array counts, as in the decoder) is encoded; one level more raises
:class:`PayloadTooDeepError` before anything is produced. Without the check, CPython's JSON
encoder decides by its recursion limits: 3.11 and 3.12 fail near 1 000 and 1 500 levels,
3.13 encodes 5 000 levels and fails near 10 000.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisock.proto import sio
from minisock.proto.sio import (
    MAX_OUTGOING_DEPTH,
    Decoder,
    DecoderLimits,
    PayloadTooDeepError,
    SioPacket,
    SioPacketType,
    encode,
    json_text,
    max_outgoing_depth,
    set_max_outgoing_depth,
)


def nested(depth: int, leaf: Any = None) -> Any:
    """``depth`` lists, one inside the other (built iteratively: any depth)."""
    value: Any = [] if leaf is None else [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


def event(*args: Any) -> SioPacket:
    return SioPacket(SioPacketType.EVENT, "/", ["x", *args])


def depth_of(value: Any) -> int:
    """The reference count, written the plain recursive way (small inputs only)."""
    if isinstance(value, list | tuple):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


@pytest.fixture
def outgoing_depth() -> Iterator[None]:
    """Restore the process-wide bound after a test changes it."""
    before = max_outgoing_depth()
    yield
    set_max_outgoing_depth(before)


def test_the_default_is_256() -> None:
    assert MAX_OUTGOING_DEPTH == 256
    assert max_outgoing_depth() == 256


@pytest.mark.parametrize(
    "wrap",
    [lambda v: [v], lambda v: (v,), lambda v: {"k": v}],
    ids=["list", "tuple", "dict"],
)
def test_the_boundary_holds_for_every_container(wrap: Any) -> None:
    """256 levels in all (the event array + 255): sent; 257: refused."""
    inner: Any = []
    for _ in range(254):
        inner = wrap(inner)
    [text] = encode(event(inner))
    assert isinstance(text, str)
    assert depth_of(json.loads(text[1:])) == 256  # after the packet type
    with pytest.raises(PayloadTooDeepError, match="deeper than 256 levels"):
        encode(event([inner]))


@pytest.mark.parametrize("depth", [257, 1_000, 1_500, 5_000, 12_000, 200_000])
def test_deeper_payloads_raise_the_same_error_on_every_python(depth: int) -> None:
    """Below, at and past each CPython version's own limit: always PayloadTooDeepError, never
    RecursionError, never a text (3.13 would encode 5 000 levels on its own)."""
    with pytest.raises(PayloadTooDeepError) as info:
        encode(SioPacket(SioPacketType.EVENT, "/", ["x", nested(depth - 1)]))
    assert info.value.limit == 256
    assert isinstance(info.value, ValueError)


def test_every_way_out_is_checked() -> None:
    """Acks, binary events (placeholders count as a level), NaN payloads (re-encoded with
    null) and lone surrogates (re-encoded escaped), and the cluster's json_text."""
    too_deep = nested(256)
    packets = [
        SioPacket(SioPacketType.ACK, "/", [too_deep], 3),
        event(b"\x01", too_deep),
        event(float("nan"), too_deep),
        event("\ud800", too_deep),
        SioPacket(SioPacketType.EVENT, "/admin", ["x", nested(255, b"\x02")]),
    ]
    for packet in packets:
        with pytest.raises(PayloadTooDeepError):
            encode(packet)
    with pytest.raises(PayloadTooDeepError):
        json_text(nested(257))
    assert json_text(nested(256)).count("[") == 256
    # The placeholder is the 256th level here: still sent.
    parts = encode(SioPacket(SioPacketType.EVENT, "/", ["x", nested(254, b"\x02")]))
    assert parts[1:] == [b"\x02"]


def test_a_structure_that_contains_itself_is_refused_as_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(PayloadTooDeepError):
        encode(event(loop))
    looping: dict[str, Any] = {}
    looping["self"] = [looping]
    with pytest.raises(PayloadTooDeepError):
        encode(event(looping))


def test_brackets_inside_strings_do_not_count() -> None:
    """Strings full of brackets (and escaped quotes and backslashes around them) beside a
    payload exactly at the bound: sent; one level more: refused."""
    noise = ["[" * 600, "]" * 600, '\\"[{', '"]}\\', "\\", '"', "{[", "ok"]
    at_bound = event(*noise, {"k": nested(254, "]]]]")})
    [text] = encode(at_bound)
    assert isinstance(text, str)
    assert Decoder(DecoderLimits(max_depth=256)).receive(text) is not None
    with pytest.raises(PayloadTooDeepError):
        encode(event(*noise, {"k": nested(255, "[[[[")}))


def test_the_bound_is_configurable_within_1_to_512(outgoing_depth: None) -> None:
    set_max_outgoing_depth(512)
    assert encode(event(nested(511)))
    with pytest.raises(PayloadTooDeepError, match="deeper than 512"):
        encode(event(nested(512)))
    set_max_outgoing_depth(2)
    assert encode(event([1, 2]))
    assert encode(event("[[[[[[[[[", {"a": 1}))
    with pytest.raises(PayloadTooDeepError, match="deeper than 2"):
        encode(event([[]]))
    for bad in (0, -1, 513, 10_000, 2.5, True):
        with pytest.raises(ValueError, match="from 1 to 512"):
            set_max_outgoing_depth(bad)  # type: ignore[arg-type]
    assert max_outgoing_depth() == 2


def test_a_deep_call_stack_does_not_change_the_answer() -> None:
    """256 levels encode even when the caller is itself deep in the stack (on 3.11 the JSON
    encoder shares the recursion limit with Python frames)."""

    def at_stack_depth(frames: int) -> list[str | bytes]:
        if frames:
            return at_stack_depth(frames - 1)
        return encode(event(nested(255)))

    assert at_stack_depth(sys.getrecursionlimit() // 4)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)


@given(json_values, st.integers(min_value=1, max_value=12))
def test_the_text_check_agrees_with_the_structure(value: Any, limit: int) -> None:
    """The byte-level check on the JSON text says what a walk of the structure says, whatever
    brackets, quotes and backslashes the strings hold."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert sio._text_deeper_than(text, limit) == (depth_of(value) > limit)
    assert sio._nested_deeper_than(value, limit) == (depth_of(value) > limit)


@given(json_values, st.integers(min_value=1, max_value=12), st.booleans())
def test_the_text_check_reads_a_clients_json_too(value: Any, limit: int, ascii: bool) -> None:
    """Incoming packets are checked on their text as well: whitespace between tokens and
    ``\\uXXXX`` escapes, as other encoders write them, change nothing."""
    text = json.dumps(value, indent=1 if ascii else None, ensure_ascii=ascii)
    assert sio._text_deeper_than(text, limit) == (depth_of(value) > limit)
