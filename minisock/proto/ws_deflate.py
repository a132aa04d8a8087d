"""permessage-deflate (RFC 7692): the offer and its answer, and compressing messages.

This module owns the extension's two halves, both pure:

- **negotiation** (§5, §7.1): :func:`negotiate` reads the client's ``Sec-WebSocket-Extensions``
  offers, takes the first one it can honour under the server's :class:`Deflate` settings, and
  returns the :class:`Agreement` plus the header value to answer with (or None: no extension);
- **the codec** (§7.2): :class:`MessageDeflater` compresses one outgoing message at a time and
  :class:`MessageInflater` inflates one incoming message, fragment by fragment, never past a
  size bound: a small compressed message can stand for gigabytes (a "zip bomb"), so output is
  produced in steps of at most what the limit still allows, and the message is refused
  (close 1009) the moment it would exceed it. It never inflates first and checks afterwards.

Memory (why the defaults are what they are): with context takeover each side keeps its zlib
stream between messages: a deflate stream costs about ``2**(wbits+2) + 2**(mem_level+9)``
bytes (about 256 KiB at wbits 15, mem_level 8) and an inflate stream ``2**wbits`` plus about
7 KiB. Without takeover the streams exist only while a message is being (de)compressed, so an
idle connection holds none. Both classes create their zlib objects lazily, on the first
message that needs them.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from minisock.errors import WebSocketProtocolError

__all__ = [
    "EXTENSION",
    "Agreement",
    "Deflate",
    "MessageDeflater",
    "MessageInflater",
    "negotiate",
    "parse_offers",
]

EXTENSION = "permessage-deflate"
# §7.2.1: the sender removes the 4 octets 0x00 0x00 0xff 0xff that end a sync flush; §7.2.2:
# the receiver appends them again before inflating.
_TAIL = b"\x00\x00\xff\xff"
_PARAMS = frozenset(
    (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    )
)


@dataclass(frozen=True, slots=True)
class Deflate:
    """Server settings for permessage-deflate (``EngineServer(per_message_deflate=...)``).

    ``threshold``: messages shorter than this (in bytes) go uncompressed, as Node's default
    of 1024. ``server_no_context_takeover`` (off, as in Node): compress each message on its
    own, so no deflate stream is kept between messages, at some cost in ratio.
    ``client_no_context_takeover`` asks the client to do the same, so we keep no inflate
    stream either. ``server_max_window_bits`` (9 to 15) bounds our window; ``mem_level``
    (1 to 9) and ``level`` (0 to 9, or -1 for zlib's default) are zlib's.
    """

    threshold: int = 1024
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    mem_level: int = 8
    level: int = -1

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more")
        if not 9 <= self.server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be 9 to 15 (zlib has no 8 for deflate)")
        if not 1 <= self.mem_level <= 9:
            raise ValueError("mem_level must be 1 to 9")
        if not -1 <= self.level <= 9:
            raise ValueError("level must be -1 to 9")


@dataclass(frozen=True, slots=True)
class Agreement:
    """What both sides agreed for one connection."""

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int


Offer = dict[str, str | None]


def parse_offers(values: Iterable[bytes]) -> list[Offer] | None:
    """The permessage-deflate offers among ``Sec-WebSocket-Extensions`` header values.

    Each offer maps a parameter to its value (None when it has none). An offer with an unknown
    or repeated parameter is dropped, as §7 says a server MUST decline it. Returns None when
    no value names the extension. Quoted values (``x="10"``) are unquoted (RFC 6455 §9.1).
    """
    offers: list[Offer] = []
    named = False
    for value in values:
        for extension in value.decode("latin-1").split(","):
            name, *params = (part.strip() for part in extension.split(";"))
            if name.lower() != EXTENSION:
                continue
            named = True
            offer: Offer = {}
            for param in params:
                key, eq, raw = param.partition("=")
                key = key.strip().lower()
                if key not in _PARAMS or key in offer:
                    break
                offer[key] = raw.strip().strip('"') if eq else None
            else:
                offers.append(offer)
    return offers if named else None


def _bits(value: str | None) -> int | None:
    """A window-bits value, 8 to 15 (§7.1.2); None if malformed."""
    if value is None or not value.isdigit() or not 8 <= int(value) <= 15:
        return None
    return int(value)


def _accept(offer: Offer, settings: Deflate) -> tuple[Agreement, str] | None:
    answer = [EXTENSION]
    server_nct = settings.server_no_context_takeover or "server_no_context_takeover" in offer
    client_nct = settings.client_no_context_takeover or "client_no_context_takeover" in offer
    for key in ("server_no_context_takeover", "client_no_context_takeover"):
        if key in offer and offer[key] is not None:
            return None  # §7.1.1: these take no value
    if server_nct:
        answer.append("server_no_context_takeover")
    if client_nct:
        answer.append("client_no_context_takeover")
    server_bits = settings.server_max_window_bits
    if "server_max_window_bits" in offer:
        asked = _bits(offer["server_max_window_bits"])
        if asked is None or asked < 9:
            return None  # malformed (§7.1.2.1), or 8, which zlib cannot deflate with
        server_bits = min(server_bits, asked)
    if server_bits < 15 or "server_max_window_bits" in offer:
        answer.append(f"server_max_window_bits={server_bits}")
    client_bits = 15
    if "client_max_window_bits" in offer:
        raw = offer["client_max_window_bits"]
        if raw is not None:
            asked = _bits(raw)
            if asked is None:
                return None
            # §7.1.2.2: the client says it uses at most this window; echoing it is optional,
            # and Node's ws echoes it. zlib inflates a window of 8 with 9.
            client_bits = max(asked, 9)
            answer.append(f"client_max_window_bits={asked}")
    agreement = Agreement(server_nct, client_nct, server_bits, client_bits)
    return agreement, "; ".join(answer)


def negotiate(
    headers: Iterable[tuple[bytes, bytes]], settings: Deflate
) -> tuple[Agreement, str] | None:
    """Pick the first acceptable offer; return the agreement and the answer header value.

    None means the connection runs without the extension (no offer, or none acceptable):
    §5 lets a server decline every offer, and the client must then not set RSV1.
    """
    values = [value for name, value in headers if name.lower() == b"sec-websocket-extensions"]
    offers = parse_offers(values)
    for offer in offers or ():
        accepted = _accept(offer, settings)
        if accepted is not None:
            return accepted
    return None


class MessageDeflater:
    """Compresses outgoing messages (§7.2.1), one whole message per call."""

    __slots__ = ("_level", "_mem_level", "_stream", "_takeover", "_wbits", "threshold")

    def __init__(self, agreement: Agreement, settings: Deflate) -> None:
        self.threshold = settings.threshold
        self._takeover = not agreement.server_no_context_takeover
        self._wbits = -agreement.server_max_window_bits  # negative: raw deflate, no header
        self._level = settings.level
        self._mem_level = settings.mem_level
        self._stream: zlib._Compress | None = None

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one message, its final ``00 00 ff ff`` removed."""
        stream = self._stream
        if stream is None:
            stream = zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, self._mem_level)
            if self._takeover:
                self._stream = stream
        out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        # A sync flush always ends with the empty stored block 00 00 ff ff.
        return out[:-4]


class MessageInflater:
    """Inflates incoming messages (§7.2.2) with a bound on the output.

    ``max_size`` caps the inflated bytes of one message. :meth:`feed` takes each frame's
    payload as it arrives and raises :class:`WebSocketProtocolError` (1009) as soon as the
    message would inflate past the cap: zlib is asked for at most one byte more than the cap
    still allows, so no more than that is ever produced.
    """

    __slots__ = ("_size", "_stream", "_takeover", "_wbits", "max_size")

    def __init__(self, agreement: Agreement, *, max_size: int) -> None:
        self.max_size = max_size
        self._takeover = not agreement.client_no_context_takeover
        self._wbits = -agreement.client_max_window_bits
        self._stream: zlib._Decompress | None = None
        self._size = 0

    def feed(self, data: bytes, final: bool) -> bytes:
        """Inflate one frame's payload of the message; ``final`` on its last frame."""
        stream = self._stream
        if stream is None:
            stream = self._stream = zlib.decompressobj(self._wbits)
        out = self._inflate(stream, data)
        if final:
            out += self._inflate(stream, _TAIL)
            self._size = 0
            if not self._takeover:
                self._stream = None  # nothing is kept between messages
        return out

    def _inflate(self, stream: zlib._Decompress, data: bytes) -> bytes:
        room = self.max_size - self._size
        try:
            out = stream.decompress(data, room + 1)
        except zlib.error as exc:
            self._stream = None
            raise WebSocketProtocolError(f"bad deflate data: {exc}", close_code=1007) from exc
        self._size += len(out)
        if len(out) > room or stream.unconsumed_tail:
            self._stream = None
            raise WebSocketProtocolError(
                f"message inflates past the limit of {self.max_size} bytes", close_code=1009
            )
        return out
