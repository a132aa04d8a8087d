"""RFC 6455 frames for the server side: client bytes in, messages out; messages in, bytes out.

This module owns the WebSocket *frame layer*: parsing and unmasking client frames, reassembling
fragmented messages, checking UTF-8 and close codes, and encoding (unmasked) server frames. It
knows nothing about the handshake (``ws_handshake``), about Engine.IO, or about sockets: the
glue feeds whatever it read to :meth:`FrameParser.receive_data`, drains
:meth:`FrameParser.next_event`, and writes whatever the ``encode_*`` functions return.

Theory of operation
-------------------

The parser reads one frame at a time, in two steps, and keeps the parsed header between them
so a payload that trickles in is never re-parsed:

1. *Header.* Each rule is checked as soon as the bytes that decide it are here: RSV bits,
   opcode, mask bit, control-frame shape and fragment order from the first two bytes, the
   size limit from the extended length. A hostile header fails before we buffer its payload.
2. *Payload.* Once ``length`` bytes are buffered they are unmasked in one go and handed to the
   message assembler, which yields an event or waits for the next fragment.

A violation raises :class:`~minisock.errors.WebSocketProtocolError` whose ``close_code`` is the
code to send (1002, 1007 or 1009). The parser is then dead: it drops its buffers and raises the
same error on every later call, so glue that forgets to stop cannot read on from a stream whose
framing is lost. After a Close frame it is done too, quietly: §5.5.1 forbids data after Close.

Bytes live in one ``bytearray`` plus a read offset. Consuming a frame only moves the offset;
:meth:`FrameParser.receive_data` drops the consumed prefix once it is half the buffer, so the
cost stays linear in the bytes fed however small the frames are.
"""

from __future__ import annotations

import codecs
import enum
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from minisock.errors import WebSocketProtocolError

if TYPE_CHECKING:
    from minisock.proto.ws_deflate import MessageInflater

__all__ = [
    "BinaryMessage",
    "CloseCode",
    "CloseReceived",
    "FrameParser",
    "Opcode",
    "Ping",
    "Pong",
    "TextMessage",
    "WsEvent",
    "encode_binary",
    "encode_client_frame",
    "encode_close",
    "encode_deflated",
    "encode_frame",
    "encode_ping",
    "encode_pong",
    "encode_text",
    "frame_head",
    "is_valid_close_code",
    "mask_bytes",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2). The others are reserved: "If an unknown opcode is
    received, the receiving endpoint MUST _Fail the WebSocket Connection_."
    """

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455 §7.4.1). 1005, 1006 and 1015 describe a close locally
    and "MUST NOT be set as a status code in a Close control frame by an endpoint".
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    TLS_HANDSHAKE = 1015


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message, already checked to be UTF-8."""

    data: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping; the glue owes the peer a pong with the same payload (RFC 6455 §5.5.2)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong, solicited or not (RFC 6455 §5.5.3 allows unsolicited ones)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's Close frame; ``code`` is None when it had no body (report that as 1005)."""

    code: int | None
    reason: str


WsEvent = TextMessage | BinaryMessage | Ping | Pong | CloseReceived

_KNOWN_OPCODES: Final = frozenset(int(op) for op in Opcode)
# Plain ints for the hot path: comparing an int with an IntEnum member costs several times more.
_CONT, _TEXT, _BINARY, _CLOSE, _PING = 0x0, 0x1, 0x2, 0x8, 0x9
# Below this size, slicing (a small copy) is cheaper than setting up and releasing a view.
_VIEW_MIN_PAYLOAD: Final = 8192
_MAX_CONTROL_PAYLOAD: Final = 125


def _violation(message: str, code: CloseCode = CloseCode.PROTOCOL_ERROR) -> WebSocketProtocolError:
    return WebSocketProtocolError(message, close_code=int(code))


def _not_utf8(what: str, detail: str) -> WebSocketProtocolError:
    # §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
    # stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
    # Connection_." 1007 is the code for "data ... not consistent with the type" (§7.4.1).
    return _violation(f"{what} is not UTF-8: {detail}", CloseCode.INVALID_DATA)


# A parsed frame header: FIN, opcode, payload length, mask key. A plain tuple is cheap to make.
_Header = tuple[bool, int, int, bytes]


class FrameParser:
    """Incremental reader of client frames; assembles messages.

    ``max_message_size`` caps the payload bytes of one message, counted from frame headers
    before any payload is buffered (RFC 6455 §10.4: "Implementations SHOULD impose limits on
    frame sizes and the total message size after reassembly from multiple fragments").
    ``max_fragments`` caps the frames of one message, so a flood of tiny fragments cannot
    cost more memory in bookkeeping than the bytes it carries.

    ``inflater`` is set once permessage-deflate was negotiated (RFC 7692): RSV1 is then
    allowed on the first frame of a data message, and such a message is inflated, fragment by
    fragment, by the inflater, which bounds the *inflated* size as well.

    A parser lives as long as its connection, and most connections are idle: what only a
    fragmented message needs (the parts, the UTF-8 decoder) is made when one starts, and
    a buffer whose bytes were all parsed is emptied.
    """

    __slots__ = (
        "_buf",
        "_chunks",
        "_closed",
        "_compressed",
        "_decoder",
        "_error",
        "_header",
        "_msg_frames",
        "_msg_opcode",
        "_msg_size",
        "_pos",
        "_texts",
        "inflater",
        "max_fragments",
        "max_message_size",
    )

    def __init__(self, *, max_message_size: int = 1_000_000, max_fragments: int = 1024) -> None:
        self.max_message_size = max_message_size
        self.max_fragments = max_fragments
        self.inflater: MessageInflater | None = None
        self._compressed = False
        """The data message being read has RSV1 set: its frames are deflated."""
        self._buf = bytearray()
        self._pos = 0
        self._header: _Header | None = None
        # The fragmented data message being assembled, if any.
        self._msg_opcode: int | None = None
        self._msg_size = 0
        self._msg_frames = 0
        self._chunks: list[bytes] | None = None
        self._texts: list[str] | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._closed = False
        self._error: WebSocketProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        """Feed bytes as read from the stream, split anywhere. Ignored once the parser is
        done (after a Close frame or an error)."""
        if self._closed or self._error is not None:
            return
        if self._pos and self._pos * 2 >= len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_event(self) -> WsEvent | None:
        """Return the next event, or None when more data is needed.

        Raises WebSocketProtocolError on a violation, and again on every later call.
        """
        if self._error is not None:
            raise self._error
        if self._closed:
            return None
        try:
            event = self._next_event()
        except WebSocketProtocolError as exc:
            self._error = exc
            self._drop_buffers()
            raise
        if self._pos and self._pos == len(self._buf):
            del self._buf[:]  # all parsed: an idle connection keeps no bytes (nor capacity)
            self._pos = 0
        return event

    @property
    def buffered(self) -> bool:
        """Whether bytes wait to be parsed (if not, :meth:`next_event` would return None)."""
        return bool(self._buf)

    def events(self) -> list[WsEvent]:
        """Drain every event the buffered bytes hold."""
        out: list[WsEvent] = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out

    def _drop_buffers(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._chunks = self._texts = self._decoder = None

    def _next_event(self) -> WsEvent | None:
        while True:
            header = self._header
            if header is None:
                header = self._parse_header()
                if header is None:
                    return None
                self._header = header
            fin, opcode, length, key = header
            start = self._pos
            end = start + length
            if len(self._buf) < end:
                return None
            if length < _VIEW_MIN_PAYLOAD:
                payload = mask_bytes(self._buf[start:end], key)
            else:
                with memoryview(self._buf)[start:end] as view:  # spare a large payload a copy
                    payload = mask_bytes(view, key)
            self._pos = end
            self._header = None
            event = self._on_frame(fin, opcode, payload)
            if event is not None:
                return event

    def _parse_header(self) -> _Header | None:
        """Parse the header at the read offset and move past it; None if incomplete.

        Checks run as early as the bytes allow and do not change state, so calling this
        again on a longer buffer is safe.
        """
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        b0 = buf[pos]
        b1 = buf[pos + 1]
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        length = b1 & 0x7F
        # §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
        # for non-zero values". permessage-deflate gives RSV1 one: "the message is
        # compressed", set on the first frame of a data message only (RFC 7692 §6.1), never
        # on a control frame (§6) nor a continuation frame (§6.1).
        if b0 & 0x70:
            if b0 & 0x70 != 0x40 or self.inflater is None:
                raise _violation(f"reserved bits set ({(b0 >> 4) & 0x7:#05b}) with no extension")
            if not _CONT < opcode < _CLOSE:
                raise _violation(f"RSV1 set on a frame of opcode {opcode:#x}")
            # Set here, not on every frame, so plain traffic pays nothing; the message's last
            # frame clears it. Parsing this header again (more bytes came) sets it again.
            self._compressed = True
        if opcode not in _KNOWN_OPCODES:
            raise _violation(f"unknown opcode {opcode:#x}")
        # §5.1: "The server MUST close the connection upon receiving a frame that is not
        # masked."
        if not b1 & 0x80:
            raise _violation("client frame is not masked")
        if opcode >= _CLOSE:
            # §5.5: "All control frames MUST have a payload length of 125 bytes or less and
            # MUST NOT be fragmented."
            if not fin:
                raise _violation(f"fragmented control frame (opcode {opcode:#x})")
            if length > _MAX_CONTROL_PAYLOAD:
                raise _violation("control frame payload longer than 125 bytes")
        elif opcode == _CONT:
            if self._msg_opcode is None:
                raise _violation("continuation frame without a message in progress")
            if self._msg_frames >= self.max_fragments:
                raise _violation(
                    f"message has more than {self.max_fragments} fragments",
                    CloseCode.MESSAGE_TOO_BIG,
                )
        elif self._msg_opcode is not None:
            # §5.4: "The fragments of one message MUST NOT be interleaved between the
            # fragments of another message".
            raise _violation("new data frame while a fragmented message is in progress")

        ext = 0 if length < 126 else 2 if length == 126 else 8
        if avail < 2 + ext:
            return None
        if ext:
            length = int.from_bytes(buf[pos + 2 : pos + 2 + ext], "big")
            # §5.2: "the minimal number of bytes MUST be used to encode the length".
            if length < (126 if ext == 2 else 0x10000):
                raise _violation(f"payload length {length} not in its minimal form")
            # §5.2: of the 64-bit length, "the most significant bit MUST be 0".
            if length >> 63:
                raise _violation("64-bit payload length has its most significant bit set")
        if opcode < _CLOSE:
            held = self._msg_size if opcode == _CONT else 0
            if held + length > self.max_message_size:
                raise _violation(
                    f"message of {held + length} bytes or more exceeds the limit of "
                    f"{self.max_message_size}",
                    CloseCode.MESSAGE_TOO_BIG,
                )
        if avail < 6 + ext:
            return None
        key_at = pos + 2 + ext
        self._pos = key_at + 4
        return fin, opcode, length, bytes(buf[key_at : key_at + 4])

    def _on_frame(self, fin: bool, opcode: int, payload: bytes) -> WsEvent | None:
        if opcode >= _CLOSE:
            if opcode == _PING:
                return Ping(payload)
            if opcode != _CLOSE:
                return Pong(payload)
            event = _parse_close(payload)
            self._closed = True
            self._drop_buffers()
            return event
        if self._compressed:
            assert self.inflater is not None  # RSV1 is refused without one
            payload = self.inflater.feed(payload, fin)
            self._compressed = not fin
        if fin and opcode != _CONT:
            # The common case, a message in one frame: no assembly, no extra copy.
            if opcode == _BINARY:
                return BinaryMessage(payload)
            try:
                return TextMessage(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _not_utf8("text message", exc.reason) from exc
        if opcode != _CONT:
            self._msg_opcode = opcode
            self._msg_size = 0
            self._msg_frames = 0
            if opcode == _TEXT:
                self._texts = []
                self._decoder = codecs.getincrementaldecoder("utf-8")()
            else:
                self._chunks = []
        self._msg_size += len(payload)
        self._msg_frames += 1
        texts, chunks = self._texts, self._chunks
        if texts is not None:
            texts.append(self._decode_fragment(payload, fin))
        else:
            assert chunks is not None
            chunks.append(payload)
        if not fin:
            return None
        message: WsEvent
        if texts is not None:
            message = TextMessage("".join(texts))
        else:
            assert chunks is not None
            message = BinaryMessage(b"".join(chunks))
        self._msg_opcode = None
        self._texts = self._chunks = self._decoder = None
        return message

    def _decode_fragment(self, payload: bytes, final: bool) -> str:
        """Decode one fragment of a text message, refusing bad UTF-8 as soon as it shows.

        §5.6: "a particular text frame might include a partial UTF-8 sequence; however, the
        whole message MUST contain valid UTF-8".
        """
        decoder = self._decoder
        assert decoder is not None  # made when the message started
        try:
            text = decoder.decode(payload, final)
        except UnicodeDecodeError as exc:
            raise _not_utf8("text message", exc.reason) from exc
        if not final:
            # CPython's decoder holds back ED A0..ED BF (the start of a UTF-16 surrogate)
            # until the third byte arrives; no third byte can make it valid, so fail now.
            pending = decoder.getstate()[0]
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise _not_utf8("text message", "encoded surrogate")
        return text


def _parse_close(body: bytes) -> CloseReceived:
    """Validate a Close body (RFC 6455 §5.5.1): empty, or a code plus a UTF-8 reason."""
    if not body:
        return CloseReceived(None, "")
    if len(body) == 1:
        raise _violation("close frame body of 1 byte (a code takes 2)")
    code = int.from_bytes(body[:2], "big")
    if not is_valid_close_code(code):
        raise _violation(f"invalid close code {code}")
    try:
        reason = body[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8("close reason", exc.reason) from exc
    return CloseReceived(code, reason)


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame on the wire.

    §7.4.2: 0-999 "are not used"; of 1000-2999 (the protocol's own range) we accept the codes
    §7.4.1 defines for the wire and refuse 1004 (reserved), 1005, 1006, 1015 (local only)
    and 1012-2999 (not defined by RFC 6455); 3000-4999 belong to libraries and applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


def mask_bytes(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 §5.3); its own inverse.

    The whole buffer is XORed as one big integer, so the work runs in C: a per-byte Python
    loop is some 20-30 times slower (``examples/measure_masking.py``).
    """
    if len(key) != 4:
        raise ValueError(f"mask key must be 4 bytes, got {len(key)}")
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def _frame_head(b0: int, mask_bit: int, length: int) -> bytes:
    if length < 126:
        return bytes((b0, mask_bit | length))
    if length < 0x10000:
        return struct.pack("!BBH", b0, mask_bit | 126, length)
    return struct.pack("!BBQ", b0, mask_bit | 127, length)


def frame_head(frame: bytes) -> bytes:
    """The header of an encoded frame: 2, 4 or 10 bytes, plus the mask key if masked."""
    length = frame[1] & 0x7F
    size = 2 if length < 126 else 4 if length == 126 else 10
    if frame[1] & 0x80:
        size += 4
    return frame[:size]


def encode_frame(opcode: Opcode, payload: bytes, *, fin: bool = True) -> bytes:
    """Encode one server frame. §5.1: "A server MUST NOT mask any frames that it sends"."""
    if opcode >= Opcode.CLOSE and (len(payload) > _MAX_CONTROL_PAYLOAD or not fin):
        raise ValueError("control frames carry at most 125 bytes and cannot be fragmented")
    return _frame_head((0x80 if fin else 0) | opcode, 0, len(payload)) + payload


def encode_deflated(opcode: Opcode, compressed: bytes) -> bytes:
    """Encode a compressed data message as one frame with RSV1 set (RFC 7692 §6.1)."""
    return _frame_head(0xC0 | opcode, 0, len(compressed)) + compressed


def encode_text(text: str) -> bytes:
    """Encode a text message as one frame."""
    return encode_frame(Opcode.TEXT, text.encode("utf-8"))


def encode_binary(data: bytes) -> bytes:
    """Encode a binary message as one frame."""
    return encode_frame(Opcode.BINARY, data)


def encode_ping(payload: bytes = b"") -> bytes:
    """Encode a ping (at most 125 bytes of payload)."""
    return encode_frame(Opcode.PING, payload)


def encode_pong(payload: bytes) -> bytes:
    """Encode a pong; answering a ping, it echoes the ping's payload (RFC 6455 §5.5.3)."""
    return encode_frame(Opcode.PONG, payload)


def encode_close(code: int | None = None, reason: str = "") -> bytes:
    """Encode a Close frame; ``None`` sends an empty body.

    The reason is cut on a UTF-8 boundary so the body fits the 125 bytes of a control frame.
    """
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code (RFC 6455 §5.5.1)")
        return encode_frame(Opcode.CLOSE, b"")
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    raw = reason.encode("utf-8")
    if len(raw) > _MAX_CONTROL_PAYLOAD - 2:
        # Only the cut at the end can split a sequence, and "ignore" drops just that.
        raw = raw[: _MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
    return encode_frame(Opcode.CLOSE, code.to_bytes(2, "big") + raw)


def encode_client_frame(
    opcode: int, payload: bytes, mask_key: bytes, *, fin: bool = True, rsv: int = 0
) -> bytes:
    """Encode a masked frame as a client sends it, for tests and tools.

    Nothing is validated beyond what fits in the header, so tests can build broken frames.
    """
    if not 0 <= opcode <= 0xF or not 0 <= rsv <= 7:
        raise ValueError("opcode must fit in 4 bits and rsv in 3")
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    return _frame_head(b0, 0x80, len(payload)) + mask_key + mask_bytes(payload, mask_key)
