"""atheris harness: the WebSocket opening handshake check (``validate_upgrade``).

Contract: any method, HTTP version and header list (as h11 hands them over: lowercase names,
raw byte values) returns the Sec-WebSocket-Key, or raises ``HandshakeError`` with status 400
or 426. An accepted key is base64 of 16 bytes, and the 101 headers can be built from it.
"""

from __future__ import annotations

import base64

from _harness import Reader, instrumented, main

with instrumented("minisock"):
    from minisock.errors import HandshakeError
    from minisock.proto.ws_handshake import (
        is_upgrade_request,
        response_headers,
        validate_upgrade,
    )

_NAMES = [
    b"upgrade",
    b"connection",
    b"sec-websocket-version",
    b"sec-websocket-key",
    b"host",
    b"origin",
    b"sec-websocket-extensions",
    b"Upgrade",
]
_VALUES = [
    b"websocket",
    b"Upgrade",
    b"keep-alive, Upgrade",
    b"13",
    b"8, 13",
    b"dGhlIHNhbXBsZSBub25jZQ==",
    b" dGhlIHNhbXBsZSBub25jZQ== ",
    b"WebSocket",
]
_METHODS = [b"GET", b"POST", b"get", b"OPTIONS"]
_VERSIONS = [b"1.1", b"1.0", b"2", b"1.1 "]


def test_one_input(data: bytes) -> None:
    reader = Reader(data)
    method = _METHODS[reader.below(4)] if reader.flag() else reader.sized(8)
    version = _VERSIONS[reader.below(4)] if reader.flag() else reader.sized(4)
    headers: list[tuple[bytes, bytes]] = []
    while not reader.exhausted and len(headers) < 32:
        choice = reader.byte()
        name = _NAMES[choice % len(_NAMES)] if choice & 0x80 else reader.sized(24)
        value = _VALUES[(choice >> 3) % len(_VALUES)] if choice & 0x40 else reader.sized(64)
        headers.append((name, value))
    upgrade = is_upgrade_request(headers)
    try:
        key = validate_upgrade(method, version, headers)
    except HandshakeError as exc:
        assert exc.http_status in (400, 426), exc.http_status
        if exc.http_status == 426:
            assert method == b"GET" and version == b"1.1" and upgrade
        return
    assert method == b"GET" and version == b"1.1" and upgrade
    assert len(base64.b64decode(key, validate=True)) == 16
    names = [name for name, _ in response_headers(key)]
    assert names == [b"upgrade", b"connection", b"sec-websocket-accept"]


SEEDS = [
    b"\x01\x00\x01\x00"
    + bytes([0x80 | 0x40 | (0 << 3) | 0])  # upgrade: websocket
    + bytes([0x80 | 0x40 | (1 << 3) | 1])  # connection: Upgrade
    + bytes([0x80 | 0x40 | (3 << 3) | 2])  # sec-websocket-version: 13
    + bytes([0x80 | 0x40 | (5 << 3) | 3]),  # sec-websocket-key
    b"\x01\x00\x01\x00\xc0\xc9\xe2\xeb",
    b"\x01\x00\x01\x00\xc0\xc9\xa2\x0213\x83\x18dGhlIHNhbXBsZSBub25jZQ==",
]

if __name__ == "__main__":
    main("handshake", test_one_input, SEEDS)
