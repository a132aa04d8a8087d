"""Compression of long-polling answers, as Node engine.io's ``httpCompression`` does it.

Pure: which encoding an ``Accept-Encoding`` header lets us use, and the compressed body.
Node's rules (``transports/polling.ts``): an answer of ``threshold`` bytes or more (1024 by
default), whose packets are not all marked ``compress(False)``, is compressed with gzip or
deflate, whichever the client prefers (``accepts(req).encodings(["gzip", "deflate"])``: the
highest q-value wins, then the client's order). Anything else goes as it is.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["HttpCompression", "choose_encoding", "compress_body"]

_SUPPORTED = ("gzip", "deflate")
_WBITS = {"gzip": 16 + 15, "deflate": 15}  # zlib's way of asking for a gzip or zlib wrapper


@dataclass(frozen=True, slots=True)
class HttpCompression:
    """``EngineServer(http_compression=...)``: answers of ``threshold`` bytes or more are
    compressed at zlib ``level`` (-1: zlib's default, as Node's)."""

    threshold: int = 1024
    level: int = -1

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more")
        if not -1 <= self.level <= 9:
            raise ValueError("level must be -1 to 9")


def _quality(param: str) -> float | None:
    key, _, value = param.partition("=")
    if key.strip().lower() != "q":
        return None
    try:
        q = float(value.strip())
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def choose_encoding(accept_encoding: str | None) -> str | None:
    """``"gzip"``, ``"deflate"`` or None (send the body as it is)."""
    if not accept_encoding:
        return None
    best: tuple[float, int, str] | None = None
    star: float | None = None
    explicit: dict[str, float] = {}
    for order, item in enumerate(accept_encoding.split(",")):
        name, *params = (part.strip() for part in item.split(";"))
        name = name.lower()
        q = 1.0
        for param in params:
            found = _quality(param)
            if found is not None:
                q = found
        if name == "*":
            star = q
            continue
        explicit[name] = q
        if name in _SUPPORTED and q > 0 and (best is None or (q, -order) > best[:2]):
            best = (q, -order, name)
    if best is None and star:
        # "*" stands for every encoding the header does not name.
        unnamed = [name for name in _SUPPORTED if name not in explicit]
        return unnamed[0] if unnamed else None
    return best[2] if best is not None else None


def compress_body(body: bytes, encoding: str, level: int = -1) -> bytes:
    """``body`` as gzip (RFC 1952) or deflate (HTTP's "deflate" is the zlib format, RFC 1950)."""
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise ValueError(f"unsupported encoding {encoding!r}")
    stream = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return stream.compress(body) + stream.flush()
