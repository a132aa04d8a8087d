"""Properties of permessage-deflate (Hypothesis): messages a client compresses with zlib, in
any number of messages (context takeover), fragmented anywhere and fed in any pieces, come out
of the frame parser as they went in; our deflater round-trips through zlib; and the fuzz
contract: any bytes under RSV1 yield events or WebSocketProtocolError, nothing else, and never
more than the limit of inflated output.
"""

from __future__ import annotations

import zlib
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from minisock.errors import WebSocketProtocolError
from minisock.proto.ws import FrameParser, TextMessage, encode_client_frame
from minisock.proto.ws_deflate import Agreement, Deflate, MessageDeflater, MessageInflater

SETTINGS = settings(deadline=None)
KEY = b"\x01\x02\x03\x04"
TAKEOVER = Agreement(False, False, 15, 15)


def parser(max_size: int = 1_000_000) -> FrameParser:
    p = FrameParser(max_message_size=max_size)
    p.inflater = MessageInflater(TAKEOVER, max_size=max_size)
    return p


@SETTINGS
@given(
    texts=st.lists(st.text(max_size=3000), min_size=1, max_size=5),
    cuts=st.lists(st.integers(1, 60), max_size=4),
    piece=st.integers(1, 500),
)
def test_client_messages_inflate_whatever_the_fragmenting(
    texts: list[str], cuts: list[int], piece: int
) -> None:
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    wire = b""
    for text in texts:
        data = stream.compress(text.encode()) + stream.flush(zlib.Z_SYNC_FLUSH)
        data = data[:-4]
        bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
        parts = [data[a:b] for a, b in pairwise(bounds)] or [b""]
        for i, part in enumerate(parts):
            opcode = 0x1 if i == 0 else 0x0
            rsv = 4 if i == 0 else 0
            wire += encode_client_frame(opcode, part, KEY, fin=i == len(parts) - 1, rsv=rsv)
    p = parser()
    events = []
    for at in range(0, len(wire), piece):
        p.receive_data(wire[at : at + piece])
        events += p.events()
    assert events == [TextMessage(t) for t in texts]


@SETTINGS
@given(
    messages=st.lists(st.binary(max_size=5000), min_size=1, max_size=5),
    no_takeover=st.booleans(),
)
def test_our_deflater_round_trips_through_zlib(messages: list[bytes], no_takeover: bool) -> None:
    settings_ = Deflate(server_no_context_takeover=no_takeover)
    deflater = MessageDeflater(Agreement(no_takeover, False, 15, 15), settings_)
    reader = zlib.decompressobj(-15)
    for data in messages:
        if no_takeover:
            reader = zlib.decompressobj(-15)
        assert reader.decompress(deflater.compress(data) + b"\x00\x00\xff\xff") == data


@SETTINGS
@given(payload=st.binary(max_size=2000), limit=st.integers(0, 5000))
def test_any_bytes_under_rsv1_obey_the_fuzz_contract(payload: bytes, limit: int) -> None:
    p = parser(max_size=max(limit, len(payload)))
    p.inflater = MessageInflater(TAKEOVER, max_size=limit)
    p.receive_data(encode_client_frame(0x2, payload, KEY, rsv=4))
    try:
        events = p.events()
    except WebSocketProtocolError as exc:
        assert exc.close_code in (1007, 1009)
        return
    assert all(len(e.data) <= limit for e in events)  # type: ignore[union-attr]
