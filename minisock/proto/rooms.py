"""The room registry of one namespace: room -> members and member -> rooms, kept in step.

This is the shape of the reference's in-memory adapter. Every socket is in the room named by
its own id; an empty room is deleted at once, so a disconnect leaves nothing behind. Pure
data, no I/O: the adapter (``minisock/adapters/``) delivers, this only answers "who".

Room events. When asked (a ``changes`` list passed in), each operation also reports what it
changed, in the reference's order (``socket.io-adapter`` in-memory-adapter.ts, ``addAll``,
``del``, ``delAll``):

1. Joining a room that does not exist yet reports ``create-room`` first, then ``join-room``.
2. Joining a room one is already in reports nothing.
3. Leaving reports ``leave-room`` only if one was a member, then ``delete-room`` if the room
   is now empty. Leaving a room one is not in reports nothing.
4. Leaving every room (a disconnect) goes through the rooms in the order they were joined:
   the socket's own room first, as it was joined first.

Without a ``changes`` list nothing is recorded, so nobody pays for events nobody listens to.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

__all__ = ["RoomChange", "RoomEvent", "RoomRegistry"]


class RoomEvent(enum.StrEnum):
    """What the reference's adapter emits, named as it names them."""

    CREATE = "create-room"
    DELETE = "delete-room"
    JOIN = "join-room"
    LEAVE = "leave-room"


RoomChange = tuple[RoomEvent, str, str | None]
"""``(event, room, sio_sid)``; the sid is ``None`` for ``create-room`` and ``delete-room``."""


class RoomRegistry:
    """Memberships of sockets (by Socket.IO sid) in rooms."""

    __slots__ = ("_members", "_rooms_of")

    def __init__(self) -> None:
        self._members: dict[str, set[str]] = {}
        # A dict, not a set: the rooms of a socket in the order it joined them (rule 4).
        self._rooms_of: dict[str, dict[str, None]] = {}

    def add(
        self, sio_sid: str, rooms: Iterable[str], changes: list[RoomChange] | None = None
    ) -> None:
        """Put ``sio_sid`` into each of ``rooms`` (joining twice is harmless)."""
        mine = self._rooms_of.get(sio_sid)
        if mine is None:
            mine = self._rooms_of[sio_sid] = {}
        for room in rooms:
            mine[room] = None
            members = self._members.get(room)
            if members is None:
                members = self._members[room] = set()
                if changes is not None:
                    changes.append((RoomEvent.CREATE, room, None))
            if changes is not None and sio_sid not in members:
                changes.append((RoomEvent.JOIN, room, sio_sid))
            members.add(sio_sid)

    def remove(self, sio_sid: str, room: str, changes: list[RoomChange] | None = None) -> None:
        """Take ``sio_sid`` out of ``room``; the room goes when it empties."""
        mine = self._rooms_of.get(sio_sid)
        if mine is not None:
            mine.pop(room, None)
        self._leave(sio_sid, room, changes)

    def remove_all(self, sio_sid: str, changes: list[RoomChange] | None = None) -> None:
        """Forget ``sio_sid`` everywhere (on disconnect)."""
        for room in self._rooms_of.pop(sio_sid, ()):
            self._leave(sio_sid, room, changes)

    def _leave(self, sio_sid: str, room: str, changes: list[RoomChange] | None) -> None:
        members = self._members.get(room)
        if members is None:
            return
        if changes is not None and sio_sid in members:
            changes.append((RoomEvent.LEAVE, room, sio_sid))
        members.discard(sio_sid)
        if not members:
            del self._members[room]
            if changes is not None:
                changes.append((RoomEvent.DELETE, room, None))

    def rooms_of(self, sio_sid: str) -> frozenset[str]:
        return frozenset(self._rooms_of.get(sio_sid, ()))

    def joined(self, sio_sid: str) -> list[str]:
        """The rooms of ``sio_sid`` in the order it joined them (as Node's ``socket.rooms``)."""
        return list(self._rooms_of.get(sio_sid, ()))

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
