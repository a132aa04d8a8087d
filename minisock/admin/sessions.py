"""The admin UI's session ids: a login is remembered so the UI can reconnect without the
password (it stores the id and sends ``{"sessionId"}`` as its CONNECT payload).

Node's ``InMemoryStore`` keeps every id forever in a ``Set``; its ``RedisStore`` lets them
expire after a day. Here: a day by default, and at most ``max_sessions`` ids, the oldest
forgotten first. Pure: the time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SessionStore"]


class SessionStore:
    """Session ids and when each was issued."""

    __slots__ = ("_issued", "max_sessions", "ttl")

    def __init__(self, *, ttl: float = 86400.0, max_sessions: int = 1000) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._issued: OrderedDict[str, float] = OrderedDict()

    def add(self, session_id: str, now: float) -> None:
        self._issued[session_id] = now
        self._issued.move_to_end(session_id)
        while len(self._issued) > self.max_sessions:
            self._issued.popitem(last=False)

    def valid(self, session_id: str, now: float) -> bool:
        issued = self._issued.get(session_id)
        if issued is None:
            return False
        if now - issued > self.ttl:
            del self._issued[session_id]
            return False
        return True

    def __len__(self) -> int:
        return len(self._issued)
