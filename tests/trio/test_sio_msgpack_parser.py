"""``Server(parser="msgpack")`` with minisock's own test client speaking msgpack, in memory.

The scenarios of ``tests/_sio_app.py`` (events, binary anywhere, acks both ways, namespaces
and refusals, server disconnects) run unchanged on every transport, with both ends switched
to the msgpack parser. What the real npm client does is in
``tests/js/test_msgpack_parser_client.py``; the byte format in
``tests/unit/test_sio_msgpack_codec.py``.
"""

from __future__ import annotations

import logging
from functools import partial

import _sio_app
import pytest
import trio
import trio.testing

from minisock import Server, Socket
from minisock.testing import (
    DisconnectedError,
    SocketIOClient,
    TransportChoice,
    running_server,
)

LIMIT = 600.0


@pytest.mark.parametrize("transport", _sio_app.TRANSPORTS)
@pytest.mark.parametrize("scenario", list(_sio_app.SCENARIOS))
async def test_scenario_with_msgpack(
    autojump_clock: trio.testing.MockClock, scenario: str, transport: str
) -> None:
    sio = _sio_app.build_app(parser="msgpack")
    with trio.fail_after(LIMIT):
        async with running_server(sio.engine, in_memory=True):
            make = partial(SocketIOClient, sio, parser="msgpack")
            await _sio_app.SCENARIOS[scenario](make, transport)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_json_client_on_a_msgpack_server_is_closed_as_a_parse_error(
    autojump_clock: trio.testing.MockClock,
    transport: TransportChoice,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client with the wrong parser sends text packets: bad msgpack, closed at once."""
    caplog.set_level(logging.INFO, logger="minisock.client")
    sio = Server(parser="msgpack")
    with trio.fail_after(LIMIT):
        async with (
            running_server(sio.engine, in_memory=True),
            SocketIOClient(sio, transport=transport) as client,
        ):
            with pytest.raises(DisconnectedError):
                await client.connect(timeout=5)
            assert await client.wait_closed() == "transport close"
    assert "closing a connection: text message: the msgpack parser reads binary messages only" in (
        caplog.text
    )


def test_an_unknown_parser_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unknown parser 'cbor'"):
        Server(parser="cbor")


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xc1",  # a reserved msgpack byte
        bytes.fromhex("83a474797065 05 a464617461 91a178 a36e7370a12f".replace(" ", "")),  # type 5
        b"\x91" * 5000 + b"\xc0",  # deeper than msgpack's own stack
        bytes.fromhex("82a47479706502a36e7370a12f"),  # an EVENT without data
    ],
    ids=["reserved-byte", "binary-event-type", "deep", "event-without-data"],
)
async def test_bad_msgpack_closes_its_session_only(
    autojump_clock: trio.testing.MockClock, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="minisock.client")
    sio = Server(parser="msgpack")

    @sio.on("echo")
    async def echo(socket: Socket, value: object) -> object:
        return value

    with trio.fail_after(LIMIT):
        async with (
            running_server(sio.engine, in_memory=True),
            SocketIOClient(sio, parser="msgpack", transport="websocket") as bad,
            SocketIOClient(sio, parser="msgpack", transport="polling") as good,
        ):
            await bad.connect()
            root = await good.connect()
            await bad.engine.send([garbage])
            assert await bad.wait_closed() == "transport close"
            assert await root.call("echo", b"\x00still") == b"\x00still"
    assert "closing a connection: invalid" in caplog.text
