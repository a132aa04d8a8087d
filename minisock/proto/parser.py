"""The parser seam: how Socket.IO packets become Engine.IO messages, and back.

Node's socket.io takes a ``parser`` option; the default writes text packets with binary
attachments (:mod:`minisock.proto.sio`), ``socket.io-msgpack-parser`` writes one msgpack map per
packet (:mod:`minisock.proto.sio_msgpack`). A server uses one parser for every connection, as
in Node, and the client must be given the same one.

Both parsers share :class:`~minisock.proto.sio.DecoderLimits`, the payload rules
(``_check_payload``) and the outgoing depth bound; what differs is only the wire form. The
adapters carry unencoded :class:`~minisock.proto.sio.SioPacket` objects, so a cluster may mix
parsers: each server encodes once, in its own format.
"""

from __future__ import annotations

from typing import Protocol

from minisock.proto.eio import WirePacket
from minisock.proto.sio import (
    ClientSideDecoder,
    Decoder,
    DecoderLimits,
    SioPacket,
    engine_wires,
)

__all__ = ["JSON_PARSER", "PARSER_NAMES", "JsonParser", "PacketDecoder", "Parser", "parser_named"]


class PacketDecoder(Protocol):
    """One connection's decoder: Engine.IO message data in, complete packets out."""

    @property
    def pending(self) -> SioPacket | None:
        """A packet still waiting for binary attachments (the JSON parser only)."""
        ...

    def receive(self, data: str | bytes) -> SioPacket | None:
        """Decode one message; ``None`` while a packet is incomplete. Raises
        :class:`~minisock.proto.sio.SocketIOProtocolError` and nothing else on bad input."""
        ...

    def reset(self) -> None:
        """Forget a half-received packet."""
        ...


class Parser(Protocol):
    """A Socket.IO wire format."""

    @property
    def name(self) -> str: ...

    def engine_wires(self, packet: SioPacket) -> list[WirePacket]:
        """``packet`` as the Engine.IO message wire packets every recipient gets."""
        ...

    def decoder(self, limits: DecoderLimits, *, from_server: bool = False) -> PacketDecoder:
        """A decoder for one connection; ``from_server`` for a client reading a server."""
        ...


class JsonParser:
    """socket.io-parser's format, the default (:mod:`minisock.proto.sio`)."""

    __slots__ = ()
    name = "json"
    engine_wires = staticmethod(engine_wires)

    def decoder(self, limits: DecoderLimits, *, from_server: bool = False) -> PacketDecoder:
        return ClientSideDecoder(limits) if from_server else Decoder(limits)


JSON_PARSER = JsonParser()
PARSER_NAMES = ("json", "msgpack")


def parser_named(name: str) -> Parser:
    """The parser called ``name``; ``"msgpack"`` needs the ``msgpack`` extra."""
    if name == "json":
        return JSON_PARSER
    if name == "msgpack":
        try:
            from minisock.proto.sio_msgpack import MSGPACK_PARSER
        except ImportError as exc:
            raise ImportError(
                'parser="msgpack" needs the msgpack package: pip install "minisock[msgpack]"'
            ) from exc
        return MSGPACK_PARSER
    raise ValueError(f"unknown parser {name!r}: choose one of {', '.join(PARSER_NAMES)}")
