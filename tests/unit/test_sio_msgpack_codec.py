"""The msgpack parser (proto/sio_msgpack.py) against tests/vectors/sio_msgpack.json, in both
directions; the same vectors are checked against the npm parser in
tests/js/test_msgpack_parser_vectors.py. Then the rules the vectors cannot show: the outgoing
depth bound, the parser seam, and the core without the msgpack package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest

from minisock.proto import sio_msgpack
from minisock.proto.parser import JSON_PARSER, parser_named
from minisock.proto.sio import (
    DecoderLimits,
    PayloadTooDeepError,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    max_outgoing_depth,
)

VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "sio_msgpack.json").read_text("utf-8")
)


def _py(raw: Any) -> Any:
    if isinstance(raw, list):
        return [_py(item) for item in raw]
    if isinstance(raw, dict):
        if set(raw) == {"$bytes"}:
            return bytes.fromhex(raw["$bytes"])
        if set(raw) == {"$float"}:
            return float(raw["$float"])
        return {key: _py(item) for key, item in raw.items()}
    return raw


def _packet(raw: dict[str, Any]) -> SioPacket:
    return SioPacket(SioPacketType(raw["type"]), raw["nsp"], _py(raw.get("data")), raw.get("id"))


def _names(kind: str) -> list[str]:
    return [vector["name"] for vector in VECTORS[kind]]


@pytest.mark.parametrize("vector", VECTORS["packets"], ids=_names("packets"))
def test_packet_vectors(vector: dict[str, Any]) -> None:
    packet = _packet(vector["packet"])
    wire = bytes.fromhex(vector["hex"])
    if vector["direction"] == "both":
        assert sio_msgpack.encode(packet).hex() == vector["hex"]
        assert sio_msgpack.MSGPACK_PARSER.engine_wires(packet) == [wire]
    decoder = sio_msgpack.MSGPACK_PARSER.decoder(
        DecoderLimits(), from_server=vector.get("from_server", False)
    )
    assert decoder.receive(wire) == packet
    assert decoder.pending is None


@pytest.mark.parametrize("vector", VECTORS["refused"] + VECTORS["stricter"],
                         ids=_names("refused") + _names("stricter"))  # fmt: skip
def test_refused_vectors(vector: dict[str, Any]) -> None:
    decoder = sio_msgpack.MsgpackDecoder(from_server=vector.get("from_server", False))
    with pytest.raises(SocketIOProtocolError):
        decoder.receive(bytes.fromhex(vector["hex"]))


def test_a_connect_error_from_a_client_is_refused_by_the_server_side_only() -> None:
    wire = sio_msgpack.encode(SioPacket(SioPacketType.CONNECT_ERROR, "/", {"message": "no"}))
    with pytest.raises(SocketIOProtocolError, match="servers only"):
        sio_msgpack.MsgpackDecoder().receive(wire)
    assert sio_msgpack.MsgpackDecoder(from_server=True).receive(wire) is not None


def test_a_text_message_is_a_parse_error() -> None:
    with pytest.raises(SocketIOProtocolError, match="binary messages only"):
        sio_msgpack.MsgpackDecoder().receive('2["chat","hi"]')


def test_the_limits_are_the_json_parsers() -> None:
    wide = sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", *range(5)]))
    with pytest.raises(SocketIOProtocolError, match="too many arguments"):
        sio_msgpack.MsgpackDecoder(DecoderLimits(max_args=4)).receive(wide)
    deep: list[Any] = []
    for _ in range(3):
        deep = [deep]
    wire = sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", deep]))  # 5 levels
    assert sio_msgpack.MsgpackDecoder(DecoderLimits(max_depth=5)).receive(wire) is not None
    with pytest.raises(SocketIOProtocolError, match="nested deeper than 4"):
        sio_msgpack.MsgpackDecoder(DecoderLimits(max_depth=4)).receive(wire)


def test_values_only_node_writes_get_their_python_form() -> None:
    """Beyond 2**53 a float (what Node holds), a Date its JSON text, deep in the payload."""
    date = msgpack.ExtType(0, (1714564800000).to_bytes(8, "big", signed=True))
    wire = msgpack.packb(
        {"type": 2, "data": ["t", {"when": date, "big": 2**60}], "nsp": "/"}, use_bin_type=True
    )
    packet = sio_msgpack.decode(wire)
    assert packet.data == ["t", {"when": "2024-05-01T12:00:00.000Z", "big": float(2**60)}]


def test_outgoing_depth_is_bounded_as_for_json() -> None:
    def nested(levels: int) -> list[Any]:
        value: list[Any] = []
        for _ in range(levels - 1):
            value = [value]
        return value

    limit = max_outgoing_depth()
    ok = SioPacket(SioPacketType.EVENT, "/", ["x", nested(limit - 1)])  # the packet array is 1
    assert sio_msgpack.encode(ok)
    too_deep = SioPacket(SioPacketType.EVENT, "/", ["x", nested(limit)])
    with pytest.raises(PayloadTooDeepError):
        sio_msgpack.encode(too_deep)
    with pytest.raises(PayloadTooDeepError):  # past msgpack's own limit too
        sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", nested(2000)]))
    # Many containers side by side are not deep.
    wide = SioPacket(SioPacketType.EVENT, "/", ["x", [[] for _ in range(5000)]])
    assert sio_msgpack.encode(wide)


def test_what_msgpack_cannot_carry_is_refused_before_sending() -> None:
    with pytest.raises(TypeError):
        sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", object()]))
    with pytest.raises(ValueError, match="lone surrogate"):
        sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", "\ud800"]))
    with pytest.raises(ValueError, match="beyond 64 bits"):
        sio_msgpack.encode(SioPacket(SioPacketType.EVENT, "/", ["x", 2**64]))


def test_parser_names() -> None:
    assert parser_named("json") is JSON_PARSER
    assert parser_named("msgpack") is sio_msgpack.MSGPACK_PARSER
    with pytest.raises(ValueError, match="unknown parser"):
        parser_named("bson")


def test_the_core_runs_without_msgpack_and_the_msgpack_parser_says_what_it_needs() -> None:
    code = (
        "import sys\n"
        "sys.modules['msgpack'] = None\n"
        "import minisock\n"
        "minisock.Server()\n"
        "try:\n"
        "    minisock.Server(parser='msgpack')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        'parser="msgpack" needs the msgpack package: pip install "minisock[msgpack]"'
    )
