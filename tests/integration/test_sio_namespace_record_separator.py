"""A namespace name holding the record separator ``\\x1e`` is never served.

socket.io-parser writes the namespace raw into the packet's text (``2/name,["ev"]``), not as
JSON, so such a name would reach a long-polling client as two broken records. The server
refuses to make one (:meth:`Server.of`, :meth:`Server.register_namespace`, and the children
of dynamic namespaces) with a :class:`ValueError`; a client's CONNECT naming one gets the
answer Node gives to a namespace it does not serve, ``Invalid namespace``, and its session
goes on.

Real servers on 127.0.0.1; the clients are minisock.testing's h11 and wsproto clients.
"""

from __future__ import annotations

import re

import pytest
import trio

from minisock import ClassNamespace, Server
from minisock.testing import (
    HttpClient,
    WsClient,
    eio_handshake,
    eio_poll,
    eio_post,
    running_server,
)

LIMIT = 5.0
PATH = "/socket.io/"
NAME = "/one\x1etwo"


def test_the_server_refuses_to_make_such_a_namespace() -> None:
    sio = Server()
    sio.of(re.compile(r"^/one"))  # a dynamic parent whose pattern the name matches
    with pytest.raises(ValueError, match=r"record separator \\x1e"):
        sio.of(NAME)
    with pytest.raises(ValueError, match=r"record separator \\x1e"):
        sio.register_namespace(ClassNamespace(NAME))
    assert list(sio.namespaces) == ["/"]
    assert sio.of("/one-two").name == "/one-two"  # the parent still makes other children


async def test_a_websocket_connect_to_such_a_name_is_invalid_and_the_session_goes_on() -> None:
    """Only a WebSocket carries such a name whole. A dynamic namespace that allows every
    name is not even asked: the answer is the one for an unknown namespace."""
    sio = Server()
    asked: list[str] = []

    def allow_all(name: str, auth: dict[str, object]) -> bool:
        asked.append(name)
        return True

    sio.of(allow_all)
    with trio.fail_after(LIMIT):
        async with (
            running_server(sio.engine) as port,
            await WsClient.open(port, f"{PATH}?EIO=4&transport=websocket") as client,
        ):
            opened = await client.receive()
            assert isinstance(opened, str) and opened.startswith("0")
            await client.send_text(f"40{NAME},")
            assert await client.receive() == f'44{NAME},{{"message":"Invalid namespace"}}'
            assert asked == []
            assert list(sio.namespaces) == ["/"]
            await client.send_text("40/fine,")
            answer = await client.receive()
            assert isinstance(answer, str) and answer.startswith('40/fine,{"sid":')
            assert asked == ["/fine"]


async def test_over_polling_such_a_name_splits_and_nothing_is_written_back() -> None:
    """The client's own POST splits at ``\\x1e`` into ``40/one`` and ``two,`` (there is no
    Engine.IO packet type ``t``). The POST gets ``400``, the session ends, no GET ever
    carries the name, and another session is untouched."""
    sio = Server()
    with trio.fail_after(LIMIT):
        async with (
            running_server(sio.engine) as port,
            await HttpClient.open(port) as client,
            await HttpClient.open(port) as bystander,
        ):
            sid, _ = await eio_handshake(client, PATH)
            other, _ = await eio_handshake(bystander, PATH)
            refused = await eio_post(client, sid, f"40{NAME},", PATH)
            assert refused.status == 400
            assert b"Invalid packet" in refused.body
            answer = await eio_poll(client, sid, PATH)
            assert answer.status == 400 and b"\x1e" not in answer.body
            assert list(sio.namespaces) == ["/"]
            assert (await eio_post(bystander, other, "40", PATH)).body == b"ok"
            assert (await eio_poll(bystander, other, PATH)).text.startswith('40{"sid":')
