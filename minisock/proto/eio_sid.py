"""What may serve as an Engine.IO sid, when an application generates its own.

The sid travels in query strings and in the session cookie, and it is the session's bearer
credential, so a custom one must need no escaping anywhere and stay short.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SID_LENGTH", "sid_problem"]

MAX_SID_LENGTH = 128
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # RFC 3986 §2.3: safe in a URL and a cookie


def sid_problem(candidate: object) -> str | None:
    """Why ``candidate`` cannot be a sid, or ``None`` when it can."""
    if not isinstance(candidate, str):
        return f"not a string: {type(candidate).__name__}"
    if not 0 < len(candidate) <= MAX_SID_LENGTH:
        return f"length {len(candidate)}, not 1 to {MAX_SID_LENGTH}"
    if not _UNRESERVED.fullmatch(candidate):
        return "characters outside A-Z a-z 0-9 . _ ~ -"
    return None
