"""The room registry of one namespace: room -> members and member -> rooms, kept in step.

This is the shape of the reference's in-memory adapter. Every socket is in the room named by
its own id; an empty room is deleted at once, so a disconnect leaves nothing behind. Pure
data, no I/O: the adapter (``minisock/adapters/``) delivers, this only answers "who".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["RoomRegistry"]


class RoomRegistry:
    """Memberships of sockets (by Socket.IO sid) in rooms."""

    __slots__ = ("_members", "_rooms_of")

    def __init__(self) -> None:
        self._members: dict[str, set[str]] = {}
        self._rooms_of: dict[str, set[str]] = {}

    def add(self, sio_sid: str, rooms: Iterable[str]) -> None:
        """Put ``sio_sid`` into each of ``rooms`` (joining twice is harmless)."""
        mine = self._rooms_of.setdefault(sio_sid, set())
        for room in rooms:
            mine.add(room)
            self._members.setdefault(room, set()).add(sio_sid)

    def remove(self, sio_sid: str, room: str) -> None:
        """Take ``sio_sid`` out of ``room``; the room goes when it empties."""
        mine = self._rooms_of.get(sio_sid)
        if mine is not None:
            mine.discard(room)
        members = self._members.get(room)
        if members is not None:
            members.discard(sio_sid)
            if not members:
                del self._members[room]

    def remove_all(self, sio_sid: str) -> None:
        """Forget ``sio_sid`` everywhere (on disconnect)."""
        for room in self._rooms_of.pop(sio_sid, ()):
            members = self._members.get(room)
            if members is not None:
                members.discard(sio_sid)
                if not members:
                    del self._members[room]

    def rooms_of(self, sio_sid: str) -> frozenset[str]:
        return frozenset(self._rooms_of.get(sio_sid, ()))

    def count_rooms_of(self, sio_sid: str) -> int:
        return len(self._rooms_of.get(sio_sid, ()))

    def has_members(self, room: str) -> bool:
        """Whether anyone is in ``room``: one dict lookup."""
        return room in self._members

    def members(self, room: str) -> frozenset[str]:
        return frozenset(self._members.get(room, ()))

    def select(self, rooms: Iterable[str], except_rooms: Iterable[str] = ()) -> set[str]:
        """Members of any of ``rooms`` (everyone when none is given), minus ``except_rooms``."""
        rooms = list(rooms)
        if rooms:
            chosen: set[str] = set()
            for room in rooms:
                chosen.update(self._members.get(room, ()))
        else:
            chosen = set(self._rooms_of)
        for room in except_rooms:
            chosen.difference_update(self._members.get(room, ()))
        return chosen

    def rooms(self) -> Iterator[str]:
        return iter(self._members)

    def __len__(self) -> int:
        """Number of registered sockets."""
        return len(self._rooms_of)
