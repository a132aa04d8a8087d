"""The session cookie: Node engine.io's ``cookie`` option, serialised as its npm ``cookie`` does.

A load balancer pins a client to its server by this cookie (sticky sessions), so it carries the
Engine.IO sid and is set on the handshake answer only. The defaults are the reference's:
name ``io``, ``Path=/``, ``HttpOnly``, ``SameSite=Lax``. Attributes come in the reference's
order, so the header is byte-for-byte what a Node server sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["CookieOptions"]

SameSite = Literal["lax", "strict", "none"]

# RFC 6265 §4.1.1: a cookie name is an RFC 7230 token; attribute values exclude ';' and CTLs.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """Where and how the client keeps the sid cookie. ``max_age`` is in seconds."""

    name: str = "io"
    path: str | None = "/"
    domain: str | None = None
    http_only: bool = True
    same_site: SameSite | None = "lax"
    secure: bool = False
    max_age: int | None = None
    partitioned: bool = False

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.name):
            raise ValueError(f"invalid cookie name {self.name!r}")
        for label, value in (("path", self.path), ("domain", self.domain)):
            if value is not None and not _ATTRIBUTE_VALUE.fullmatch(value):
                raise ValueError(f"invalid cookie {label} {value!r}")
        if self.same_site is not None and self.same_site not in _SAME_SITE:
            raise ValueError(f"invalid cookie same_site {self.same_site!r}")
        if self.max_age is not None and not isinstance(self.max_age, int):
            raise ValueError(f"invalid cookie max_age {self.max_age!r}")

    def header_value(self, value: str) -> str:
        """The ``Set-Cookie`` value carrying ``value`` (a sid: URL-safe, needs no quoting)."""
        parts = [f"{self.name}={value}"]
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.partitioned:
            parts.append("Partitioned")
        if self.same_site is not None:
            parts.append(f"SameSite={_SAME_SITE[self.same_site]}")
        return "; ".join(parts)
