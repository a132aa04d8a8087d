"""HTTP request and response values shared by the engine and the plain-route hook.

A :class:`Request` is what minisock knows about an HTTP request once its head is parsed
(and, for plain routes, its body). Engine.IO hands the handshake request to the connect
handler, so an application can see headers, query and peer address, as ``socket.request``
does in the reference server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Request", "Response", "header_value", "header_values"]


def header_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive) in (lowercase name, value) pairs,
    or ``None``."""
    wanted = name.lower().encode("ascii")
    for key, value in headers:
        if key == wanted:
            return value.decode("latin-1")
    return None


def header_values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    """Every value of header ``name``, in order."""
    wanted = name.lower().encode("ascii")
    return [value.decode("latin-1") for key, value in headers if key == wanted]


def _split_target(target: str) -> tuple[str, dict[str, str]]:
    """The path and the query of a request target; the first value of a key wins, as
    engine.io reads it. An origin-form target of plain characters (every Engine.IO request)
    is split by hand; anything else goes through ``urllib``."""
    path, _, raw = target.partition("?")
    query: dict[str, str] = {}
    if (
        not path.startswith("/")
        or path.startswith("//")
        or "#" in target
        or "%" in raw
        or "+" in raw
    ):
        parts = urlsplit(target)
        path = parts.path
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(key, value)
        return path, query
    for pair in raw.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            query.setdefault(key, value)
    return path, query


@dataclass(slots=True)
class Request:
    """One HTTP request. Header names are lowercase bytes, values raw bytes."""

    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    peer: tuple[str, int] | None = None
    body: bytes = b""
    http_version: str = "1.1"
    secure: bool = False
    """Whether the request came over TLS (``https://``, ``wss://``)."""
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.path, self.query = _split_target(self.target)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        return header_value(self.headers, name)

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        return header_values(self.headers, name)

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(slots=True)
class Response:
    """An HTTP response for a plain route: status, headers and a complete body."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        """A response whose body is ``value`` as compact UTF-8 JSON."""
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, [("Content-Type", "application/json")], body)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, [("Content-Type", f"{content_type}; charset=utf-8")], text.encode())
