"""The two pieces of ``proto/sio.py`` that the test client shares with the server.

:class:`ClientSideDecoder` reads what a server sends: CONNECT_ERROR too, which the server's
own :class:`Decoder` refuses from a client (as socket.io-parser's ``isPayloadValid`` allows
it only as a string or an object). :func:`ack_args` and :func:`ack_value` turn a handler's
return value into ACK arguments and back, on both ends.
"""

from __future__ import annotations

from typing import Any

import pytest

from minisock.proto.sio import (
    ClientSideDecoder,
    Decoder,
    SioPacket,
    SioPacketType,
    SocketIOProtocolError,
    ack_args,
    ack_value,
)


@pytest.mark.parametrize(
    ("text", "nsp", "data"),
    [
        (
            '4{"message":"not authorized","data":{"why":"token"}}',
            "/",
            {"message": "not authorized", "data": {"why": "token"}},
        ),
        ('4/admin,{"message":"Invalid namespace"}', "/admin", {"message": "Invalid namespace"}),
        ('4"a v3 server sends a string"', "/", "a v3 server sends a string"),
    ],
)
def test_the_client_side_decoder_accepts_connect_error(text: str, nsp: str, data: Any) -> None:
    packet = ClientSideDecoder().receive(text)
    assert packet == SioPacket(SioPacketType.CONNECT_ERROR, nsp, data)
    with pytest.raises(SocketIOProtocolError, match="sent by servers only"):
        Decoder().receive(text)  # the server's decoder is unchanged


@pytest.mark.parametrize("text", ["4", "41", "4[1]", "4true"])
def test_a_connect_error_without_an_object_or_a_string_is_refused(text: str) -> None:
    with pytest.raises(SocketIOProtocolError):
        ClientSideDecoder().receive(text)


def test_the_client_side_decoder_reassembles_binary_like_the_servers() -> None:
    decoder = ClientSideDecoder()
    assert decoder.receive('51-["file",{"_placeholder":true,"num":0}]') is None
    assert decoder.receive(b"\x00\xff") == SioPacket(
        SioPacketType.EVENT, "/", ["file", b"\x00\xff"]
    )


@pytest.mark.parametrize(
    ("result", "args"),
    [(None, []), ("one", ["one"]), ((1, "two"), [1, "two"]), ([1, 2], [[1, 2]]), ((), [])],
)
def test_ack_args_and_ack_value_are_inverses(result: Any, args: list[Any]) -> None:
    assert ack_args(result) == args
    expected = None if result == () else result
    assert ack_value(args) == expected
