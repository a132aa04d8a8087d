"""The WebSocket opening handshake (RFC 6455 §4.2): the RFC's accept-key example, the 101
headers, and one refusal per rule, each with the HTTP status the glue must answer.
"""

from __future__ import annotations

import base64

import pytest

from minisock.errors import HandshakeError
from minisock.proto.ws_handshake import (
    UNSUPPORTED_VERSION_HEADERS,
    WS_GUID,
    accept_key,
    is_upgrade_request,
    response_headers,
    validate_upgrade,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

Headers = list[tuple[bytes, bytes]]


def request_headers(**replace: bytes | None) -> Headers:
    """A valid upgrade request's headers; keyword arguments replace (None drops) one."""
    headers: dict[str, bytes | None] = {
        "host": b"example.com",
        "upgrade": b"websocket",
        "connection": b"Upgrade",
        "sec_websocket_key": RFC_KEY.encode(),
        "sec_websocket_version": b"13",
    }
    headers.update(replace)
    return [(k.replace("_", "-").encode(), v) for k, v in headers.items() if v is not None]


def refusal(headers: Headers, method: bytes = b"GET", version: bytes = b"1.1") -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        validate_upgrade(method, version, headers)
    return info.value


def test_rfc_accept_key_example() -> None:
    # The worked example of RFC 6455 §1.3 (also §4.2.2 item 5.4).
    assert WS_GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_valid_request_returns_its_key() -> None:
    assert validate_upgrade(b"GET", b"1.1", request_headers()) == RFC_KEY


def test_response_headers() -> None:
    assert response_headers(RFC_KEY) == [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", RFC_ACCEPT.encode()),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        request_headers(connection=b"keep-alive, Upgrade"),
        request_headers(connection=b"UPGRADE"),
        request_headers(upgrade=b"WebSocket"),
        request_headers(upgrade=b"foo, websocket"),
        request_headers(sec_websocket_version=b" 13 "),
        [*request_headers(connection=b"keep-alive"), (b"connection", b"upgrade")],
    ],
    ids=["keep-alive-upgrade", "upper-case", "mixed-case-upgrade", "upgrade-list", "spaces", "two"],
)
def test_accepted_variants(headers: Headers) -> None:
    assert validate_upgrade(b"GET", b"1.1", headers) == RFC_KEY


@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get", b"PUT"])
def test_wrong_method(method: bytes) -> None:
    error = refusal(request_headers(), method=method)
    assert error.http_status == 400
    assert "GET" in error.message


@pytest.mark.parametrize("version", [b"1.0", b"2", b"0.9"])
def test_wrong_http_version(version: bytes) -> None:
    assert refusal(request_headers(), version=version).http_status == 400


@pytest.mark.parametrize("upgrade", [None, b"h2c", b"websockets", b"", b"web socket"])
def test_missing_or_other_upgrade(upgrade: bytes | None) -> None:
    assert refusal(request_headers(upgrade=upgrade)).http_status == 400


@pytest.mark.parametrize("connection", [None, b"keep-alive", b"close", b"upgrades", b""])
def test_connection_without_upgrade(connection: bytes | None) -> None:
    assert refusal(request_headers(connection=connection)).http_status == 400


@pytest.mark.parametrize("version", [b"8", b"12", b"14", b"13, 8", b"abc", b""])
def test_unsupported_version_gets_426(version: bytes) -> None:
    error = refusal(request_headers(sec_websocket_version=version))
    assert error.http_status == 426
    assert UNSUPPORTED_VERSION_HEADERS == [(b"sec-websocket-version", b"13")]


def test_missing_version_is_a_bad_request() -> None:
    assert refusal(request_headers(sec_websocket_version=None)).http_status == 400


@pytest.mark.parametrize(
    "key",
    [
        None,
        b"",
        b"abc",
        base64.b64encode(b"x" * 15),
        base64.b64encode(b"x" * 17),
        b"dGhlIHNhbXBsZSBub25jZQ",  # padding stripped
        b"dGhlIHNhbXBsZSBub25jZQ==!",
        b"dGhlIHNhbXBs ZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZQé=".encode(),
    ],
    ids=["missing", "empty", "abc", "15-bytes", "17-bytes", "no-padding", "junk", "space", "utf8"],
)
def test_bad_key(key: bytes | None) -> None:
    assert refusal(request_headers(sec_websocket_key=key)).http_status == 400


def test_two_keys_refused() -> None:
    headers = [*request_headers(), (b"sec-websocket-key", base64.b64encode(b"y" * 16))]
    assert refusal(headers).http_status == 400


def test_other_16_byte_keys_accepted() -> None:
    key = base64.b64encode(bytes(range(16)))
    assert validate_upgrade(b"GET", b"1.1", request_headers(sec_websocket_key=key)) == key.decode()


def test_is_upgrade_request() -> None:
    assert is_upgrade_request(request_headers())
    assert is_upgrade_request([(b"upgrade", b"h2c, WebSocket")])
    assert not is_upgrade_request(request_headers(upgrade=None))
    assert not is_upgrade_request([(b"upgrade", b"h2c")])
    assert not is_upgrade_request([])
