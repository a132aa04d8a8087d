"""RoomRegistry: both maps stay in step, empty rooms vanish, and select answers "who"."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from minisock.proto.rooms import RoomChange, RoomEvent, RoomRegistry


def _assert_consistent(registry: RoomRegistry, sids: set[str]) -> None:
    """Room -> members and member -> rooms describe the same pairs; no room is empty."""
    pairs_by_room = {(sid, room) for room in registry.rooms() for sid in registry.members(room)}
    pairs_by_sid = {(sid, room) for sid in sids for room in registry.rooms_of(sid)}
    assert pairs_by_room == pairs_by_sid
    for room in registry.rooms():
        assert registry.has_members(room)
        assert registry.members(room)
    for sid in sids:
        assert registry.count_rooms_of(sid) == len(registry.rooms_of(sid))


@pytest.fixture
def registry() -> RoomRegistry:
    rooms = RoomRegistry()
    rooms.add("a", ["a", "lobby", "red"])
    rooms.add("b", ["b", "lobby"])
    rooms.add("c", ["c", "red"])
    return rooms


def test_add_fills_both_maps(registry: RoomRegistry) -> None:
    assert registry.rooms_of("a") == {"a", "lobby", "red"}
    assert registry.members("lobby") == {"a", "b"}
    assert registry.members("red") == {"a", "c"}
    assert registry.count_rooms_of("b") == 2
    assert set(registry.rooms()) == {"a", "b", "c", "lobby", "red"}
    assert len(registry) == 3
    _assert_consistent(registry, {"a", "b", "c"})


def test_remove_takes_one_membership(registry: RoomRegistry) -> None:
    registry.remove("a", "red")
    assert registry.rooms_of("a") == {"a", "lobby"}
    assert registry.members("red") == {"c"}
    assert registry.has_members("red")
    _assert_consistent(registry, {"a", "b", "c"})


def test_room_is_deleted_when_its_last_member_leaves(registry: RoomRegistry) -> None:
    registry.remove("a", "red")
    registry.remove("c", "red")
    assert not registry.has_members("red")
    assert "red" not in set(registry.rooms())
    assert registry.members("red") == frozenset()
    _assert_consistent(registry, {"a", "b", "c"})


def test_remove_all_forgets_the_socket_everywhere(registry: RoomRegistry) -> None:
    registry.remove_all("a")
    assert registry.rooms_of("a") == frozenset()
    assert registry.count_rooms_of("a") == 0
    assert not registry.has_members("a")
    assert registry.members("lobby") == {"b"}
    assert registry.members("red") == {"c"}
    assert len(registry) == 2
    assert "a" not in registry.select([])
    _assert_consistent(registry, {"a", "b", "c"})


def test_remove_all_deletes_rooms_it_empties(registry: RoomRegistry) -> None:
    registry.remove_all("b")
    registry.remove_all("a")
    assert set(registry.rooms()) == {"c", "red"}
    assert not registry.has_members("lobby")
    registry.remove_all("c")
    assert list(registry.rooms()) == []
    assert len(registry) == 0


def test_joining_twice_is_harmless(registry: RoomRegistry) -> None:
    registry.add("a", ["lobby", "lobby"])
    registry.add("a", ["lobby"])
    assert registry.members("lobby") == {"a", "b"}
    assert registry.count_rooms_of("a") == 3
    registry.remove("a", "lobby")
    assert registry.members("lobby") == {"b"}
    _assert_consistent(registry, {"a", "b", "c"})


def test_unknown_sid_or_room_is_harmless(registry: RoomRegistry) -> None:
    before = {sid: registry.rooms_of(sid) for sid in "abc"}
    registry.remove("nobody", "lobby")
    registry.remove("a", "nowhere")
    registry.remove("nobody", "nowhere")
    registry.remove_all("nobody")
    registry.remove("a", "b")  # a room that exists, without this member
    assert {sid: registry.rooms_of(sid) for sid in "abc"} == before
    assert registry.members("b") == {"b"}
    assert len(registry) == 3
    assert registry.rooms_of("nobody") == frozenset()
    assert registry.count_rooms_of("nobody") == 0
    assert not registry.has_members("nowhere")
    _assert_consistent(registry, {"a", "b", "c", "nobody"})


def test_select_with_rooms_is_the_union(registry: RoomRegistry) -> None:
    assert registry.select(["lobby"]) == {"a", "b"}
    assert registry.select(["lobby", "red"]) == {"a", "b", "c"}
    assert registry.select(["c"]) == {"c"}
    assert registry.select(["nowhere"]) == set()
    assert registry.select(iter(["red"])) == {"a", "c"}  # any iterable, read once


def test_select_without_rooms_is_everyone(registry: RoomRegistry) -> None:
    assert registry.select([]) == {"a", "b", "c"}
    assert registry.select(()) == {"a", "b", "c"}


def test_select_with_except_rooms(registry: RoomRegistry) -> None:
    assert registry.select(["lobby"], except_rooms=["red"]) == {"b"}
    assert registry.select([], except_rooms=["lobby"]) == {"c"}
    assert registry.select([], except_rooms=["a", "b", "c"]) == set()
    assert registry.select(["red"], except_rooms=["nowhere"]) == {"a", "c"}
    assert registry.select([], except_rooms=iter(["red"])) == {"b"}


def test_select_returns_a_fresh_set(registry: RoomRegistry) -> None:
    chosen = registry.select(["lobby"])
    chosen.add("intruder")
    assert registry.members("lobby") == {"a", "b"}
    assert registry.select(["lobby"]) == {"a", "b"}


def test_snapshots_do_not_change_with_the_registry(registry: RoomRegistry) -> None:
    members = registry.members("lobby")
    rooms = registry.rooms_of("a")
    registry.remove_all("a")
    assert members == {"a", "b"}
    assert rooms == {"a", "lobby", "red"}


def test_socket_without_rooms_is_still_registered() -> None:
    # Like the reference adapter's addAll: the sid is known even with no room yet, so a
    # broadcast to everyone reaches it, until remove_all.
    registry = RoomRegistry()
    registry.add("a", [])
    assert len(registry) == 1
    assert registry.select([]) == {"a"}
    assert list(registry.rooms()) == []
    registry.add("a", ["r"])
    registry.remove("a", "r")
    assert registry.select([]) == {"a"}
    registry.remove_all("a")
    assert registry.select([]) == set()
    assert len(registry) == 0


# ------------------------------------------------------------------ against a naive model

SIDS = st.sampled_from(["s1", "s2", "s3", "s4"])
ROOMS = st.sampled_from(["s1", "s2", "r1", "r2", "r3"])


class RegistryMachine(RuleBasedStateMachine):
    """Random add/remove/remove_all, compared with a plain set of (sid, room) pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.registry = RoomRegistry()
        self.pairs: set[tuple[str, str]] = set()
        self.known: set[str] = set()  # sids added and not yet removed with remove_all

    @rule(sid=SIDS, rooms=st.lists(ROOMS, max_size=4))
    def add(self, sid: str, rooms: list[str]) -> None:
        self.registry.add(sid, rooms)
        self.known.add(sid)
        self.pairs.update((sid, room) for room in rooms)

    @rule(sid=SIDS, room=ROOMS)
    def remove(self, sid: str, room: str) -> None:
        self.registry.remove(sid, room)
        self.pairs.discard((sid, room))

    @rule(sid=SIDS)
    def remove_all(self, sid: str) -> None:
        self.registry.remove_all(sid)
        self.known.discard(sid)
        self.pairs = {(s, r) for s, r in self.pairs if s != sid}

    @rule(rooms=st.lists(ROOMS, max_size=3), except_rooms=st.lists(ROOMS, max_size=3))
    def select(self, rooms: list[str], except_rooms: list[str]) -> None:
        chosen = {s for s, r in self.pairs if r in rooms} if rooms else set(self.known)
        chosen -= {s for s, r in self.pairs if r in except_rooms}
        assert self.registry.select(rooms, except_rooms) == chosen

    @invariant()
    def matches_the_model(self) -> None:
        all_sids = {"s1", "s2", "s3", "s4"}
        for sid in all_sids:
            assert self.registry.rooms_of(sid) == {r for s, r in self.pairs if s == sid}
        all_rooms = {r for _, r in self.pairs}
        assert set(self.registry.rooms()) == all_rooms
        for room in ["s1", "s2", "r1", "r2", "r3"]:
            assert self.registry.members(room) == {s for s, r in self.pairs if r == room}
            assert self.registry.has_members(room) == (room in all_rooms)
        assert len(self.registry) == len(self.known)
        _assert_consistent(self.registry, all_sids)


RegistryMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30)
TestRegistryMachine = RegistryMachine.TestCase


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "remove_all"]), SIDS, st.lists(ROOMS)),
        max_size=40,
    )
)
def test_random_operations_match_a_naive_model(ops: list[tuple[str, str, list[str]]]) -> None:
    registry = RoomRegistry()
    pairs: set[tuple[str, str]] = set()
    for op, sid, rooms in ops:
        if op == "add":
            registry.add(sid, rooms)
            pairs.update((sid, room) for room in rooms)
        elif op == "remove":
            for room in rooms:
                registry.remove(sid, room)
                pairs.discard((sid, room))
        else:
            registry.remove_all(sid)
            pairs = {(s, r) for s, r in pairs if s != sid}
    expected: dict[str, set[str]] = {}
    for s, r in pairs:
        expected.setdefault(r, set()).add(s)
    assert {room: set(registry.members(room)) for room in registry.rooms()} == expected
    _assert_consistent(registry, {"s1", "s2", "s3", "s4"})


# ------------------------------------------------------------------ room events


def test_changes_follow_the_reference_order() -> None:
    """create before join; nothing for a second join or leaving a room one is not in; leave
    before delete; a disconnect leaves the rooms in the order they were joined."""
    C, D, J, L = RoomEvent.CREATE, RoomEvent.DELETE, RoomEvent.JOIN, RoomEvent.LEAVE
    registry = RoomRegistry()
    changes: list[RoomChange] = []
    registry.add("a", ["a"], changes)
    registry.add("b", ["b", "r2"], changes)
    registry.add("a", ["r1", "r2", "r1"], changes)
    assert changes == [
        (C, "a", None), (J, "a", "a"),
        (C, "b", None), (J, "b", "b"), (C, "r2", None), (J, "r2", "b"),
        (C, "r1", None), (J, "r1", "a"), (J, "r2", "a"),
    ]  # fmt: skip
    changes.clear()
    registry.add("a", ["r1"], changes)
    registry.remove("a", "nope", changes)
    registry.remove("b", "r1", changes)  # a room that exists, but b is not in it
    assert changes == []
    registry.remove("b", "r2", changes)
    registry.remove_all("a", changes)
    assert changes == [
        (L, "r2", "b"),
        (L, "a", "a"), (D, "a", None), (L, "r1", "a"), (D, "r1", None),
        (L, "r2", "a"), (D, "r2", None),
    ]  # fmt: skip


@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "remove_all"]), SIDS, st.lists(ROOMS)),
        max_size=40,
    )
)
def test_replaying_the_changes_rebuilds_the_registry(ops: list[tuple[str, str, list[str]]]) -> None:
    """Every membership change is reported once, and a room is created before anyone joins
    it and deleted only once empty: replaying the changes gives the registry's state."""
    registry = RoomRegistry()
    changes: list[RoomChange] = []
    for op, sid, rooms in ops:
        if op == "add":
            registry.add(sid, rooms, changes)
        elif op == "remove":
            for room in rooms:
                registry.remove(sid, room, changes)
        else:
            registry.remove_all(sid, changes)
    replayed: dict[str, set[str]] = {}
    for event, room, member in changes:
        if event is RoomEvent.CREATE:
            assert room not in replayed
            replayed[room] = set()
        elif event is RoomEvent.DELETE:
            assert replayed.pop(room) == set()
        elif event is RoomEvent.JOIN:
            assert member is not None and member not in replayed[room]
            replayed[room].add(member)
        else:
            assert member is not None and member in replayed[room]
            replayed[room].remove(member)
    assert replayed == {room: set(registry.members(room)) for room in registry.rooms()}
