"""Classification of Engine.IO requests: the reference server's checks, in its order."""

from __future__ import annotations

import pytest

from minisock.proto.route import EngineRequest, ErrorCode, Reject, classify, origin_matches_host


def _classify(method: str, query: str, *, upgrade: bool = False) -> EngineRequest | Reject:
    pairs = dict(item.split("=", 1) for item in query.split("&") if item)
    return classify(method, pairs, is_upgrade=upgrade)


@pytest.mark.parametrize(
    ("method", "query", "upgrade", "code"),
    [
        ("GET", "EIO=4", False, ErrorCode.UNKNOWN_TRANSPORT),
        ("GET", "EIO=4&transport=abc", False, ErrorCode.UNKNOWN_TRANSPORT),
        ("GET", "EIO=4&transport=__proto__", True, ErrorCode.UNKNOWN_TRANSPORT),
        ("GET", "transport=polling", False, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ("GET", "EIO=abc&transport=polling", False, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ("GET", "EIO=3&transport=polling", False, ErrorCode.UNSUPPORTED_PROTOCOL_VERSION),
        ("POST", "EIO=4&transport=polling", False, ErrorCode.BAD_HANDSHAKE_METHOD),
        ("PUT", "EIO=4&transport=polling", False, ErrorCode.BAD_HANDSHAKE_METHOD),
        ("GET", "EIO=4&transport=websocket", False, ErrorCode.BAD_REQUEST),
        ("DELETE", "EIO=4&transport=polling&sid=x", False, ErrorCode.BAD_REQUEST),
        ("GET", "EIO=4&transport=websocket&sid=x", False, ErrorCode.BAD_REQUEST),
    ],
)
def test_refusals_carry_reference_codes(
    method: str, query: str, upgrade: bool, code: ErrorCode
) -> None:
    verdict = _classify(method, query, upgrade=upgrade)
    assert isinstance(verdict, Reject)
    assert verdict.status == 400
    assert verdict.code is code
    assert verdict.message


def test_unsupported_version_message_is_clear() -> None:
    verdict = _classify("GET", "EIO=3&transport=polling")
    assert isinstance(verdict, Reject)
    assert "Unsupported protocol version" in verdict.message


@pytest.mark.parametrize(
    ("method", "query", "upgrade", "expected"),
    [
        ("GET", "EIO=4&transport=polling", False, EngineRequest("polling", None, "GET", False)),
        ("GET", "EIO=4&transport=websocket", True, EngineRequest("websocket", None, "GET", True)),
        (
            "POST",
            "EIO=4&transport=polling&sid=s",
            False,
            EngineRequest("polling", "s", "POST", False),
        ),
        ("GET", "transport=websocket&sid=s", True, EngineRequest("websocket", "s", "GET", True)),
    ],
)
def test_accepted_requests(method: str, query: str, upgrade: bool, expected: EngineRequest) -> None:
    assert _classify(method, query, upgrade=upgrade) == expected


def test_transports_can_be_restricted() -> None:
    verdict = classify(
        "GET", {"EIO": "4", "transport": "polling"}, is_upgrade=False, transports=("websocket",)
    )
    assert isinstance(verdict, Reject)
    assert verdict.code is ErrorCode.UNKNOWN_TRANSPORT


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:3000", "localhost:3000", True),
        ("http://localhost", "localhost", True),
        ("http://localhost", "localhost:80", True),
        ("https://a.example", "a.example:443", True),
        ("http://[::1]:3000", "[::1]:3000", True),
        ("HTTP://LOCALHOST:3000", "localhost:3000", True),
        ("http://evil.example", "localhost:3000", False),
        ("http://localhost:3001", "localhost:3000", False),
        ("https://localhost:3000", "localhost:3000", True),
        ("null", "localhost", False),
        ("http://a.example", None, False),
        ("http://a.example", "a.example:notaport", False),
    ],
)
def test_origin_matches_host(origin: str, host: str | None, same: bool) -> None:
    assert origin_matches_host(origin, host) is same
