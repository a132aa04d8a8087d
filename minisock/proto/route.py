"""Which Engine.IO request is this? Pure classification of an HTTP request's head.

The checks follow the reference server's ``verify`` and ``handshake`` in this order: the
transport, then (with a sid) the method, then (without one) the handshake rules. Whether a
sid is *known* needs the session table, so the engine checks that after classification.
Every refusal carries the reference's JSON error code::

    0 Transport unknown   1 Session ID unknown   2 Bad handshake method
    3 Bad request         4 Forbidden            5 Unsupported protocol version
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "EngineRequest",
    "ErrorCode",
    "Reject",
    "classify",
    "origin_matches_host",
]


class ErrorCode(enum.IntEnum):
    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


ERROR_MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the request: HTTP ``status`` with body ``{"code": code, "message": message}``."""

    status: int
    code: ErrorCode
    message: str = ""

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", ERROR_MESSAGES[self.code])


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """A well-formed Engine.IO request: a handshake when ``eio_sid`` is ``None``."""

    transport: str
    eio_sid: str | None
    method: str
    is_upgrade: bool


def classify(
    method: str,
    query: Mapping[str, str],
    *,
    is_upgrade: bool,
    transports: Collection[str] = ("polling", "websocket"),
) -> EngineRequest | Reject:
    """Classify a request on the engine path, or say why it is refused."""
    transport = query.get("transport")
    if transport is None or transport not in transports:
        # A plain membership test on a tuple of names: "__proto__" is just unknown here.
        return Reject(400, ErrorCode.UNKNOWN_TRANSPORT)
    eio_sid = query.get("sid")
    if eio_sid is not None:
        if transport == "polling" and method not in ("GET", "POST"):
            return Reject(400, ErrorCode.BAD_REQUEST, f"Method {method} not allowed on a session")
        if transport == "websocket" and not is_upgrade:
            return Reject(400, ErrorCode.BAD_REQUEST, "WebSocket transport needs an Upgrade")
        return EngineRequest(transport, eio_sid, method, is_upgrade)
    if method != "GET":
        return Reject(400, ErrorCode.BAD_HANDSHAKE_METHOD)
    if transport == "websocket" and not is_upgrade:
        return Reject(400, ErrorCode.BAD_REQUEST, "WebSocket transport needs an Upgrade")
    if query.get("EIO") != "4":
        return Reject(
            400,
            ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version: minisock speaks Engine.IO 4 only (EIO=4)",
        )
    return EngineRequest(transport, None, method, is_upgrade)


_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def origin_matches_host(origin: str, host: str | None) -> bool:
    """Whether ``Origin`` names the same host and port as the ``Host`` header.

    A browser always sends Origin on a cross-site request and on every WebSocket handshake;
    when it differs from Host, the page comes from elsewhere (cross-site WebSocket hijacking).
    """
    if host is None:
        return False
    try:
        parts = urlsplit(origin)
        host_parts = urlsplit("//" + host.strip())
        default = _DEFAULT_PORTS.get(parts.scheme, "")
        origin_port = str(parts.port) if parts.port is not None else default
        host_port = str(host_parts.port) if host_parts.port is not None else default
    except ValueError:
        return False
    if not parts.scheme or not parts.hostname:
        return False
    return parts.hostname == host_parts.hostname and origin_port == host_port
