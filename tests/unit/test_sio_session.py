"""The Socket.IO namespace state of one connection, with no trio and no clock.

Each section follows one numbered rule of ``minisock/proto/sio_session.py``'s docstring:
connecting, invalid state, connect deadline. Sessions are created at ``T0`` with the
production connectTimeout of 45 s, so the deadline is ``T0 + 45``.
"""

from __future__ import annotations

import math

import pytest

from minisock.proto.sio import Decoder, SioPacket, SioPacketType, SocketIOProtocolError
from minisock.proto.sio_session import SioSession

T0 = 1000.0
TIMEOUT = 45.0
DEADLINE = T0 + TIMEOUT


def session() -> SioSession:
    return SioSession(T0, TIMEOUT)


def packet(wire: str) -> SioPacket:
    """The packet of an Engine.IO message as the client would send it (``'42["x"]'``),
    decoded as the client layer hands it to the session."""
    assert wire.startswith("4")
    decoded = Decoder().receive(wire[1:])
    assert decoded is not None
    return decoded


def joined(*namespaces: str) -> SioSession:
    state = session()
    for i, nsp in enumerate(namespaces):
        state.check(packet(f"40{nsp},"))
        state.begin_connect(nsp)
        state.connect_succeeded(nsp, f"sio-sid-{i}")
    return state


# ---------------------------------------------------------------- rule 1: connecting


def test_a_new_session_has_joined_nothing() -> None:
    state = session()
    assert state.connected == {}
    assert state.connecting == set()


def test_a_connect_moves_from_connecting_to_connected() -> None:
    state = session()
    state.check(packet("40"))
    state.begin_connect("/")
    assert state.connecting == {"/"}
    assert state.connected == {}
    state.connect_succeeded("/", "abc")
    assert state.connecting == set()
    assert state.connected == {"/": "abc"}


def test_a_refused_connect_leaves_nothing_behind_and_may_be_retried() -> None:
    state = session()
    state.begin_connect("/")
    state.connect_failed("/")
    assert state.connecting == set()
    assert state.connected == {}
    state.check(packet("40"))  # a new attempt is allowed
    with pytest.raises(SocketIOProtocolError):
        state.check(packet('42["x"]'))


def test_several_namespaces_are_independent() -> None:
    state = joined("/", "/custom")
    assert state.connected == {"/": "sio-sid-0", "/custom": "sio-sid-1"}
    state.disconnected("/custom")
    assert state.connected == {"/": "sio-sid-0"}
    state.check(packet('42["x"]'))
    with pytest.raises(SocketIOProtocolError):
        state.check(packet('42/custom,["x"]'))
    state.check(packet("40/custom,"))  # may be joined again


def test_disconnecting_a_namespace_not_joined_is_harmless() -> None:
    state = joined("/")
    state.disconnected("/other")
    assert state.connected == {"/": "sio-sid-0"}


def test_disconnected_also_ends_a_pending_connect() -> None:
    state = session()
    state.begin_connect("/")
    state.disconnected("/")
    assert state.connecting == set()
    state.check(packet("40"))


# ---------------------------------------------------------------- rule 2: invalid state


@pytest.mark.parametrize(
    "text",
    ['42["x"]', "41", '430["x"]', '42/custom,["x"]', "41/custom,", '460-12[{"a":1}]'],
)
def test_anything_but_connect_before_connecting_is_an_invalid_state(text: str) -> None:
    with pytest.raises(SocketIOProtocolError, match="invalid state"):
        session().check(packet(text))


@pytest.mark.parametrize("text", ['42["x"]', "41", '430["x"]'])
def test_packets_for_a_namespace_still_connecting_are_an_invalid_state(text: str) -> None:
    state = session()
    state.begin_connect("/")
    with pytest.raises(SocketIOProtocolError, match="invalid state"):
        state.check(packet(text))


@pytest.mark.parametrize("text", ['42["x"]', "41", '430["x"]', '4212["x",{"a":1}]'])
def test_packets_for_a_joined_namespace_are_allowed(text: str) -> None:
    joined("/").check(packet(text))


def test_a_second_connect_to_a_joined_namespace_is_an_invalid_state() -> None:
    state = joined("/")
    with pytest.raises(SocketIOProtocolError, match="already connected"):
        state.check(packet("40"))
    with pytest.raises(SocketIOProtocolError, match="already connected"):
        state.check(packet('40{"token":"again"}'))


def test_a_second_connect_while_the_first_is_pending_is_an_invalid_state() -> None:
    state = session()
    state.check(packet("40/custom,"))
    state.begin_connect("/custom")
    with pytest.raises(SocketIOProtocolError, match="already connected"):
        state.check(packet("40/custom,"))
    state.check(packet("40"))  # another namespace is fine meanwhile


def test_check_changes_nothing() -> None:
    state = session()
    state.check(packet("40"))
    assert state.connecting == set()
    assert state.connected == {}
    assert state.next_deadline() == DEADLINE


# ---------------------------------------------------------------- rule 3: connect deadline


def test_the_deadline_is_connect_timeout_after_creation() -> None:
    assert session().next_deadline() == DEADLINE


def test_before_the_deadline_nothing_expires_and_the_deadline_stays() -> None:
    state = session()
    assert not state.connect_expired(DEADLINE - 0.001)
    assert state.next_deadline() == DEADLINE


def test_at_the_deadline_with_nothing_joined_it_expires_once() -> None:
    state = session()
    assert state.connect_expired(DEADLINE)
    assert state.next_deadline() == math.inf  # consumed: no timer to re-arm
    assert not state.connect_expired(DEADLINE)
    assert not state.connect_expired(DEADLINE + 1000.0)


def test_late_timer_still_expires_once() -> None:
    state = session()
    assert state.connect_expired(DEADLINE + 500.0)
    assert not state.connect_expired(DEADLINE + 501.0)
    assert state.next_deadline() == math.inf


def test_joining_cancels_the_deadline_for_good() -> None:
    state = joined("/")
    assert state.next_deadline() == math.inf
    assert not state.connect_expired(DEADLINE)


def test_leaving_every_namespace_does_not_rearm_the_deadline() -> None:
    state = joined("/", "/custom")
    state.disconnected("/")
    state.disconnected("/custom")
    assert state.connected == {}
    assert state.next_deadline() == math.inf
    assert not state.connect_expired(DEADLINE)
    assert not state.connect_expired(DEADLINE + 10_000.0)
    state.check(packet("40"))  # and the client may join again
    state.begin_connect("/")
    state.connect_failed("/")
    assert state.next_deadline() == math.inf


def test_a_refused_connect_keeps_the_deadline() -> None:
    state = session()
    state.begin_connect("/")
    state.connect_failed("/")
    assert state.next_deadline() == DEADLINE
    assert state.connect_expired(DEADLINE)


def test_a_connect_still_pending_at_the_deadline_does_not_count_as_joined() -> None:
    # As in the reference: a namespace counts once its connection completed.
    state = session()
    state.begin_connect("/")
    assert state.connect_expired(DEADLINE)
    assert state.next_deadline() == math.inf


def test_a_connect_that_succeeds_after_expiry_leaves_no_deadline() -> None:
    state = session()
    assert state.connect_expired(DEADLINE)
    state.begin_connect("/")
    state.connect_succeeded("/", "late")
    assert state.next_deadline() == math.inf
    assert not state.connect_expired(DEADLINE + 1.0)


def test_the_timeout_is_relative_to_the_creation_time() -> None:
    state = SioSession(now=5.0, connect_timeout=0.5)
    assert state.next_deadline() == 5.5
    assert not state.connect_expired(5.4)
    assert state.connect_expired(5.5)


def test_session_events_as_sio_packets() -> None:
    # check() takes any SioPacket, not only decoded ones.
    state = joined("/")
    state.check(SioPacket(SioPacketType.EVENT, "/", ["x"]))
    state.check(SioPacket(SioPacketType.CONNECT, "/custom", None))
    with pytest.raises(SocketIOProtocolError):
        state.check(SioPacket(SioPacketType.ACK, "/custom", [], 1))
