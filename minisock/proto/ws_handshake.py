"""The WebSocket opening handshake, server side: is this upgrade request acceptable, and the 101.

This module owns the rules of RFC 6455 §4.2 for the request h11 has already parsed (headers
arrive as h11 gives them: lowercase names, raw byte values), and the ``Sec-WebSocket-Accept``
computation. It does not send anything and does not route: the glue answers a refused request
with ``HandshakeError.http_status`` (plus :data:`UNSUPPORTED_VERSION_HEADERS` on a 426), or an
accepted one with a 101 carrying :func:`response_headers`. The Host header, which §4.2.1 also
requires, is h11's to enforce on HTTP/1.1.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from typing import Final

from minisock.errors import HandshakeError

__all__ = [
    "UNSUPPORTED_VERSION_HEADERS",
    "WS_GUID",
    "accept_key",
    "is_upgrade_request",
    "response_headers",
    "validate_upgrade",
]

WS_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# §4.4: on a version we do not speak, send "an appropriate HTTP error code (such as 426 Upgrade
# Required) and a |Sec-WebSocket-Version| header field indicating the version(s) the server is
# capable of understanding."
UNSUPPORTED_VERSION_HEADERS: Final[list[tuple[bytes, bytes]]] = [(b"sec-websocket-version", b"13")]

Headers = Iterable[tuple[bytes, bytes]]


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for ``key`` (§4.2.2 step 5.4).

    SHA-1 here proves only that the server read the key; it is not a security measure.
    """
    digest = hashlib.sha1((key + WS_GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(headers: Headers, name: bytes) -> list[bytes] | None:
    """The comma-separated tokens of every ``name`` header, lowercased; None if absent.

    Several headers of one name are one list joined by commas (RFC 9110 §5.3).
    """
    values = [value for key, value in headers if key.lower() == name]
    if not values:
        return None
    return [token.strip().lower() for value in values for token in value.split(b",")]


def is_upgrade_request(headers: Headers) -> bool:
    """Whether the request asks for a WebSocket at all, valid or not.

    The router uses this to tell a (possibly broken) WebSocket attempt from a plain request.
    """
    return b"websocket" in (_tokens(headers, b"upgrade") or ())


def validate_upgrade(method: bytes, http_version: bytes, headers: list[tuple[bytes, bytes]]) -> str:
    """Check an upgrade request against RFC 6455 §4.2.1; return its Sec-WebSocket-Key.

    Raises HandshakeError with ``http_status`` 400, or 426 for a version other than 13.
    §4.2.1: if the request does not match, the server "MUST stop processing the client's
    handshake and return an HTTP response with an appropriate error code (such as 400 Bad
    Request)".
    """
    # 1. "An HTTP/1.1 or higher GET request". h11 speaks nothing above 1.1.
    if method != b"GET":
        shown_method = method.decode("latin-1")[:16]
        raise HandshakeError(
            f"WebSocket upgrade must be a GET, not {shown_method}", http_status=400
        )
    if http_version != b"1.1":
        raise HandshakeError(
            f"WebSocket upgrade needs HTTP/1.1, not HTTP/{http_version.decode('latin-1')}",
            http_status=400,
        )
    # 3. "An |Upgrade| header field containing the value "websocket", treated as an ASCII
    # case-insensitive value."
    if not is_upgrade_request(headers):
        raise HandshakeError("missing 'Upgrade: websocket' header", http_status=400)
    # 4. "A |Connection| header field that includes the token "Upgrade", treated as an ASCII
    # case-insensitive value."
    if b"upgrade" not in (_tokens(headers, b"connection") or ()):
        raise HandshakeError("'Connection' header lacks the 'Upgrade' token", http_status=400)
    # 6. "A |Sec-WebSocket-Version| header field, with a value of 13." A missing header is a
    # malformed request (400); another version gets 426 so the client can retry (§4.4).
    versions = _tokens(headers, b"sec-websocket-version")
    if versions is None:
        raise HandshakeError("missing 'Sec-WebSocket-Version' header", http_status=400)
    if versions != [b"13"]:
        shown = b", ".join(versions).decode("latin-1")
        raise HandshakeError(f"unsupported WebSocket version: {shown[:32]}", http_status=426)
    # 5. "A |Sec-WebSocket-Key| header field with a base64-encoded ... value that, when
    # decoded, is 16 bytes in length."
    keys = [value for name, value in headers if name.lower() == b"sec-websocket-key"]
    if len(keys) != 1:
        raise HandshakeError("need exactly one 'Sec-WebSocket-Key' header", http_status=400)
    key = keys[0].strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except binascii.Error:
        nonce = b""
    if len(nonce) != 16:
        raise HandshakeError("'Sec-WebSocket-Key' is not base64 of 16 bytes", http_status=400)
    return key.decode("ascii")


def response_headers(key: str) -> list[tuple[bytes, bytes]]:
    """The headers of the 101 answer to a request whose key was ``key`` (§4.2.2 step 5)."""
    return [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(key).encode("ascii")),
    ]
