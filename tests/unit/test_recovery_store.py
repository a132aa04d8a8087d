"""Connection state recovery's bookkeeping, with no trio and no clock.

Each section follows a numbered rule of ``minisock/proto/recovery.py``'s docstring: offsets
and the log, keeping, claiming, and the bounds. A hypothesis property checks the log against
a plain list model: what a claim returns is exactly the events after the offset that the
rooms select, in order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisock.proto.recovery import Claim, KeptSession, Recovery, RecoveryStore

T0 = 1000.0
EPOCH = "Ep0ch_"
NOBODY: frozenset[str] = frozenset()


def store(**bounds: Any) -> RecoveryStore:
    return RecoveryStore(Recovery(max_disconnection_duration=120, **bounds), EPOCH)


def send(
    s: RecoveryStore,
    text: str,
    rooms: set[str] | None = None,
    now: float = T0,
    except_rooms: set[str] | None = None,
    size: int = 10,
) -> str:
    """Record one event as the adapter does: stamp, then record; returns its offset."""
    offset = s.next_offset()
    s.record([text, offset], frozenset(rooms or ()), frozenset(except_rooms or ()), size, now)
    return offset


def keep(
    s: RecoveryStore,
    pid: str = "pid1",
    rooms: set[str] | None = None,
    now: float = T0,
    identity: Any = None,
) -> KeptSession:
    session = KeptSession("sid1", pid, frozenset(rooms or {"sid1"}), {"k": 1}, identity, now)
    assert s.persist(session) is None
    return session


def texts(s: RecoveryStore, claim: Claim | str) -> list[str]:
    assert isinstance(claim, Claim), claim
    return [data[0] for data in s.missed(claim)]


# ---------------------------------------------------------------- 1. offsets and the log


def test_offsets_follow_the_epoch_and_do_not_move_until_recorded() -> None:
    s = store()
    assert s.next_offset() == s.next_offset() == EPOCH + "0"
    assert send(s, "a") == EPOCH + "0"
    assert s.next_offset() == EPOCH + "1"
    assert s.logged == 1


def test_missed_events_are_those_after_the_offset_that_the_rooms_select() -> None:
    s = store()
    last = send(s, "seen", {"r"})
    send(s, "to r", {"r"})
    send(s, "to everyone")
    send(s, "to other", {"other"})
    send(s, "to everyone but r", except_rooms={"r"})
    send(s, "to own room", {"sid1"})
    keep(s, rooms={"sid1", "r"})
    assert texts(s, s.claim("pid1", last, None, T0 + 1)) == ["to r", "to everyone", "to own room"]


def test_an_offset_whose_event_left_the_log_still_counts_if_none_after_it_left() -> None:
    s = store(max_log_packets=2)
    first = send(s, "a")
    send(s, "b")
    send(s, "c")  # "a" leaves the log; "b" and "c" are still there
    keep(s)
    assert texts(s, s.claim("pid1", first, None, T0)) == ["b", "c"]


# ---------------------------------------------------------------- 3. keeping


def test_a_session_is_claimed_once() -> None:
    s = store()
    offset = send(s, "a")
    keep(s)
    assert isinstance(s.claim("pid1", offset, None, T0), Claim)
    assert s.claim("pid1", offset, None, T0) == "unknown or expired session"
    assert len(s) == 0


def test_sessions_and_events_expire_after_the_duration() -> None:
    s = store()
    offset = send(s, "a")
    keep(s)
    assert s.claim("pid1", offset, None, T0 + 120.5) == "unknown or expired session"
    assert len(s) == 0
    send(s, "b", now=T0 + 121)  # expiry is lazy: the next call drops what is old
    assert s.logged == 1


def test_a_session_in_time_with_an_expired_log_is_not_recovered() -> None:
    s = store()
    offset = send(s, "a")
    send(s, "b", now=T0 + 10)
    keep(s, now=T0 + 100)
    send(s, "c", now=T0 + 135)  # "a" and "b" are older than the duration: "b" was missed
    assert s.claim("pid1", offset, None, T0 + 136) == "offset unknown or too old"


# ---------------------------------------------------------------- 4. claiming: bad input


@pytest.mark.parametrize(
    "offset",
    [
        "",
        "nope",
        EPOCH,
        EPOCH + "zz",
        EPOCH + "-1",
        EPOCH + "1" * 17,
        "other_" + "0",
        EPOCH + "5",
        EPOCH + " 0",
        EPOCH + "0\n",
        EPOCH + "٣",
    ],
)
def test_a_malformed_or_unknown_offset_keeps_the_session(offset: str) -> None:
    s = store()
    good = send(s, "a")
    keep(s)
    assert s.claim("pid1", offset, None, T0) == "offset unknown or too old"
    assert isinstance(s.claim("pid1", good, None, T0), Claim)  # the real client still can


def test_another_identity_cannot_claim_and_leaves_the_session() -> None:
    s = store()
    offset = send(s, "a")
    keep(s, identity={"user": "alice"})
    assert s.claim("pid1", offset, {"user": "mallory"}, T0) == "another identity"
    assert s.claim("pid1", offset, None, T0) == "another identity"
    assert isinstance(s.claim("pid1", offset, {"user": "alice"}, T0), Claim)


def test_an_unknown_pid_is_refused() -> None:
    s = store()
    offset = send(s, "a")
    keep(s)
    assert s.claim("forged", offset, None, T0) == "unknown or expired session"
    assert len(s) == 1


# ---------------------------------------------------------------- 5. bounds


def test_the_log_is_bounded_by_bytes() -> None:
    s = store(max_log_bytes=25)
    send(s, "a", size=10)
    send(s, "b", size=10)
    assert s.logged == 2
    send(s, "c", size=10)
    assert s.logged == 2


def test_one_huge_event_stays_alone_in_the_log() -> None:
    s = store(max_log_bytes=5)
    send(s, "a", size=10)
    assert s.logged == 1


def test_too_many_missed_events_is_a_new_socket() -> None:
    s = store(max_missed_packets=2)
    offset = send(s, "seen")
    for text in "abc":
        send(s, text)
    keep(s)
    assert s.claim("pid1", offset, None, T0) == "too much missed (3 events, 30 bytes)"
    assert len(s) == 0


def test_too_many_missed_bytes_is_a_new_socket() -> None:
    s = store(max_missed_bytes=15)
    offset = send(s, "seen")
    send(s, "a", size=10)
    send(s, "b", size=10)
    keep(s)
    assert s.claim("pid1", offset, None, T0) == "too much missed (2 events, 20 bytes)"


def test_the_store_drops_its_oldest_session_when_full() -> None:
    s = store(max_sessions=2)
    keep(s, "p1")
    keep(s, "p2", now=T0 + 1)
    third = KeptSession("sid3", "p3", frozenset(), {}, None, T0 + 2)
    evicted = s.persist(third)
    assert evicted is not None and evicted.pid == "p1"
    assert len(s) == 2


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        Recovery(max_disconnection_duration=0)
    with pytest.raises(ValueError):
        Recovery(max_log_packets=0)


# ---------------------------------------------------------------- the model


ROOMS = st.frozensets(st.sampled_from(["r1", "r2", "sid1"]), max_size=2)
EVENTS = st.lists(st.tuples(ROOMS, ROOMS), max_size=40)


@given(
    before=EVENTS,
    after=EVENTS,
    rooms=st.frozensets(st.sampled_from(["r1", "r2", "sid1"]), min_size=1),
    cap=st.integers(1, 50),
)
def test_a_claim_returns_what_a_list_model_selects(
    before: list[tuple[frozenset[str], frozenset[str]]],
    after: list[tuple[frozenset[str], frozenset[str]]],
    rooms: frozenset[str],
    cap: int,
) -> None:
    if not before:
        return
    s = store(max_log_packets=cap)
    model: list[tuple[str, frozenset[str], frozenset[str]]] = []
    for n, (to, but) in enumerate([*before, *after]):
        model.append((f"e{n}", to, but))
        send(s, f"e{n}", set(to), except_rooms=set(but))
    seen_index = len(before) - 1  # the client handled the last event of ``before``
    offset = f"{EPOCH}{seen_index:x}"
    s.persist(KeptSession("sid1", "p", rooms, {}, None, T0))
    claim = s.claim("p", offset, None, T0)
    lost = len(model) - cap > seen_index + 1  # an event after the offset left the log
    if lost:
        assert claim == "offset unknown or too old"
        return
    expected = [
        text
        for text, to, but in model[seen_index + 1 :]
        if (not to or to & rooms) and not (but & rooms)
    ]
    assert texts(s, claim) == expected
