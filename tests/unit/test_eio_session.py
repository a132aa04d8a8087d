"""The Engine.IO session state machine, with no trio and no clock: time is passed in.

Each section follows one numbered rule of ``minisock/proto/eio_session.py``'s docstring:
outbox, heartbeat, long-polling, upgrade, close. Sessions are created at ``T0`` with the
production timings (ping 25 s, pong 20 s, upgrade 10 s, linger 30 s), so every deadline
below is ``T0`` plus a number you can check against the docstring.
"""

from __future__ import annotations

import math

import pytest

from minisock.errors import SessionClosedError
from minisock.proto.eio import WirePacket, decode_packet
from minisock.proto.eio_session import (
    CloseReason,
    EngineSession,
    PollOverlapError,
    SessionConfig,
    TimerOutcome,
    Transport,
    UpgradeOutcome,
    UpgradeRefusedError,
)

T0 = 1000.0
CONFIG = SessionConfig(
    ping_interval=25.0,
    ping_timeout=20.0,
    upgrade_timeout=10.0,
    close_timeout=30.0,
    max_payload=1_000_000,
    max_outbox_packets=4,
)


def polling() -> EngineSession:
    return EngineSession("sid-polling", Transport.POLLING, CONFIG, T0)


def websocket() -> EngineSession:
    return EngineSession("sid-websocket", Transport.WEBSOCKET, CONFIG, T0)


def receive(session: EngineSession, wire: WirePacket, now: float = T0) -> str | bytes | None:
    """What the transport does with one incoming packet."""
    return session.receive(decode_packet(wire), now)


def upgrade(session: EngineSession, wire: WirePacket) -> tuple[UpgradeOutcome, WirePacket | None]:
    return session.upgrade_receive(decode_packet(wire))


def upgraded() -> EngineSession:
    session = polling()
    session.upgrade_begin(T0)
    assert upgrade(session, "2probe") == (UpgradeOutcome.PROBE_ANSWERED, "3probe")
    assert upgrade(session, "5") == (UpgradeOutcome.COMPLETED, None)
    return session


# ---------------------------------------------------------------- 1. outbox


def test_a_new_session_is_open_with_an_empty_outbox() -> None:
    session = polling()
    assert session.is_open
    assert session.close_reason is None
    assert session.outbox == []
    assert session.transport is Transport.POLLING
    assert not session.upgrading
    assert not session.lingering
    assert not session.poll_pending


def test_send_queues_wire_packets_in_order() -> None:
    session = websocket()
    session.send("4first")
    session.send(b"\x01\x02")
    session.send("4third")
    assert session.take_outbox() == ["4first", b"\x01\x02", "4third"]
    assert session.outbox == []
    assert session.take_outbox() == []


def test_polling_answers_with_the_whole_outbox_as_one_payload() -> None:
    session = polling()
    session.send("4hello")
    session.send(b"\x01\x02\x03\x04")
    session.poll_begin()
    assert session.poll_take() == "4hello\x1ebAQIDBA=="
    assert session.outbox == []


def test_has_room_bounds_application_packets() -> None:
    session = websocket()
    for i in range(CONFIG.max_outbox_packets):
        assert session.has_room()
        session.send(f"4m{i}")
    assert not session.has_room()
    session.take_outbox()
    assert session.has_room()


def test_heartbeat_ping_bypasses_the_outbox_bound() -> None:
    session = websocket()
    for i in range(CONFIG.max_outbox_packets):
        session.send(f"4m{i}")
    assert not session.has_room()
    assert session.on_timer(T0 + 25) is TimerOutcome.PING_QUEUED
    assert len(session.outbox) == CONFIG.max_outbox_packets + 1
    assert session.outbox[-1] == "2"


def test_send_on_a_closed_session_raises() -> None:
    session = websocket()
    session.close(CloseReason.FORCED_CLOSE, T0)
    with pytest.raises(SessionClosedError):
        session.send("4late")


# ---------------------------------------------------------------- inbound packets


def test_message_packets_return_their_data() -> None:
    session = polling()
    assert receive(session, "4hello") == "hello"
    assert receive(session, "4") == ""
    assert receive(session, "bAQIDBA==") == b"\x01\x02\x03\x04"
    assert receive(session, b"\x00\xff") == b"\x00\xff"
    assert session.is_open


@pytest.mark.parametrize("wire", ["0", "5", "6", "6anything"])
def test_open_upgrade_and_noop_from_the_client_are_ignored(wire: str) -> None:
    session = polling()
    assert receive(session, wire) is None
    assert session.is_open
    assert session.next_deadline() == T0 + 25


def test_packets_on_a_closed_session_are_ignored() -> None:
    session = polling()
    session.fail(CloseReason.PARSE_ERROR)
    assert receive(session, "4hello") is None
    assert receive(session, "3") is None
    assert session.close_reason == CloseReason.PARSE_ERROR


# ---------------------------------------------------------------- 2. heartbeat


def test_first_ping_is_due_ping_interval_after_creation() -> None:
    session = polling()
    assert session.next_deadline() == T0 + 25
    assert session.on_timer(T0 + 24.999) is TimerOutcome.NOTHING
    assert session.outbox == []
    assert session.on_timer(T0 + 25) is TimerOutcome.PING_QUEUED
    assert session.outbox == ["2"]


def test_client_has_ping_timeout_to_answer() -> None:
    session = polling()
    session.on_timer(T0 + 25)
    assert session.next_deadline() == T0 + 45
    assert session.on_timer(T0 + 44.999) is TimerOutcome.NOTHING
    assert session.is_open
    assert session.on_timer(T0 + 45) is TimerOutcome.CLOSED
    assert not session.is_open
    assert session.close_reason == CloseReason.PING_TIMEOUT == "ping timeout"


def test_pong_schedules_the_next_ping_ping_interval_after_the_pong() -> None:
    session = polling()
    session.on_timer(T0 + 25)
    session.take_outbox()
    assert receive(session, "3", now=T0 + 32) is None
    assert session.is_open
    assert session.next_deadline() == T0 + 57
    assert session.on_timer(T0 + 56.999) is TimerOutcome.NOTHING
    assert session.on_timer(T0 + 57) is TimerOutcome.PING_QUEUED
    assert session.outbox == ["2"]
    assert session.next_deadline() == T0 + 77


def test_pong_without_a_ping_changes_nothing() -> None:
    session = polling()
    assert receive(session, "3", now=T0 + 10) is None
    assert session.next_deadline() == T0 + 25
    assert session.is_open


def test_a_ping_from_the_client_is_an_error() -> None:
    # v4 moved the heartbeat to the server: "invalid heartbeat direction".
    session = websocket()
    assert receive(session, "2") is None
    assert not session.is_open
    assert session.close_reason == CloseReason.TRANSPORT_ERROR


def test_a_probe_ping_outside_an_upgrade_is_an_error_too() -> None:
    session = polling()
    assert receive(session, "2probe") is None
    assert session.close_reason == CloseReason.TRANSPORT_ERROR


def test_three_heartbeat_rounds() -> None:
    session = websocket()
    now = T0
    for _ in range(3):
        now = session.next_deadline()
        assert session.on_timer(now) is TimerOutcome.PING_QUEUED
        assert session.take_outbox() == ["2"]
        now += 1.5
        receive(session, "3", now=now)
        assert session.next_deadline() == now + 25
    assert session.is_open


# ---------------------------------------------------------------- 3. long-polling


def test_get_waits_when_there_is_nothing_to_say() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    assert session.poll_pending


def test_get_takes_the_outbox_and_ends_the_poll() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    session.send("4a")
    session.send("4b")
    assert session.poll_take() == "4a\x1e4b"
    assert not session.poll_pending
    assert session.outbox == []
    session.poll_begin()  # the next GET is not an overlap
    assert session.poll_pending


def test_pending_get_receives_the_heartbeat_ping() -> None:
    session = polling()
    session.poll_begin()
    session.on_timer(T0 + 25)
    assert session.poll_take() == "2"


def test_a_second_concurrent_get_closes_the_session() -> None:
    session = polling()
    session.poll_begin()
    with pytest.raises(PollOverlapError):
        session.poll_begin()
    assert not session.is_open
    assert session.close_reason == CloseReason.TRANSPORT_ERROR
    # The pending GET is answered with the close packet, and the poll ends.
    assert session.poll_take() == "1"
    assert not session.poll_pending
    assert not session.lingering


def test_an_overlapping_get_drops_queued_messages() -> None:
    session = polling()
    session.poll_begin()
    session.send("4never")  # queued, but the transport has not taken it yet
    with pytest.raises(PollOverlapError):
        session.poll_begin()
    assert session.poll_take() == "1"


def test_a_second_concurrent_post_closes_the_session() -> None:
    session = polling()
    session.poll_begin()
    session.post_begin()
    with pytest.raises(PollOverlapError):
        session.post_begin()
    assert session.close_reason == CloseReason.TRANSPORT_ERROR
    assert session.poll_take() == "1"  # the pending GET learns of it


def test_sequential_posts_are_fine() -> None:
    session = polling()
    for _ in range(3):
        session.post_begin()
        session.post_end()
    assert session.is_open


def test_a_get_and_a_post_may_overlap() -> None:
    session = polling()
    session.poll_begin()
    session.post_begin()
    assert session.is_open


def test_abandoning_a_pending_get_closes_the_session() -> None:
    session = polling()
    session.poll_begin()
    session.poll_abandon()
    assert not session.poll_pending
    assert session.close_reason == CloseReason.TRANSPORT_ERROR


def test_abandon_without_a_pending_get_does_nothing() -> None:
    session = polling()
    session.poll_abandon()
    assert session.is_open


# ---------------------------------------------------------------- 4. upgrade


def test_upgrade_begin_starts_the_upgrade_deadline() -> None:
    session = polling()
    session.upgrade_begin(T0 + 3)
    assert session.upgrading
    assert session.next_deadline() == T0 + 13
    assert session.transport is Transport.POLLING


def test_probe_is_answered_and_a_pending_get_is_released_with_noop() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    session.upgrade_begin(T0)
    assert upgrade(session, "2probe") == (UpgradeOutcome.PROBE_ANSWERED, "3probe")
    assert session.poll_take() == "6"
    assert not session.poll_pending
    # A GET during the upgrade is answered at once rather than held.
    session.poll_begin()
    assert session.poll_take() == "6"


def test_messages_queued_during_the_upgrade_still_go_to_polling() -> None:
    # One drainer at a time: polling keeps the outbox until "5" arrives.
    session = polling()
    session.upgrade_begin(T0)
    upgrade(session, "2probe")
    session.send("4during")
    session.poll_begin()
    assert session.poll_take() == "4during"


def test_upgrade_packet_completes_the_upgrade() -> None:
    session = polling()
    session.upgrade_begin(T0)
    upgrade(session, "2probe")
    session.send("4queued")
    assert upgrade(session, "5") == (UpgradeOutcome.COMPLETED, None)
    assert session.transport is Transport.WEBSOCKET
    assert not session.upgrading
    assert session.next_deadline() == T0 + 25  # the upgrade deadline is gone
    # The outbox now belongs to the WebSocket; a late GET gets a noop and takes nothing.
    session.poll_begin()
    assert session.poll_take() == "6"
    assert session.take_outbox() == ["4queued"]


def test_upgrade_packet_without_a_probe_completes_too() -> None:
    session = polling()
    session.upgrade_begin(T0)
    assert upgrade(session, "5") == (UpgradeOutcome.COMPLETED, None)
    assert session.transport is Transport.WEBSOCKET


@pytest.mark.parametrize("wire", ["4hello", "2", "3probe", "6", "1", "0", b"\x01"])
def test_anything_else_on_the_probing_websocket_aborts_the_upgrade(wire: WirePacket) -> None:
    session = polling()
    session.upgrade_begin(T0)
    assert upgrade(session, "2probe")[0] is UpgradeOutcome.PROBE_ANSWERED
    assert upgrade(session, wire) == (UpgradeOutcome.ABORTED, None)
    assert not session.upgrading
    assert session.transport is Transport.POLLING
    assert session.is_open
    assert session.next_deadline() == T0 + 25
    # Polling goes on: a GET waits again instead of being answered with a noop.
    session.poll_begin()
    assert session.poll_take() is None


def test_upgrade_packets_without_an_upgrade_in_progress_abort() -> None:
    session = polling()
    assert upgrade(session, "2probe") == (UpgradeOutcome.ABORTED, None)
    assert upgrade(session, "5") == (UpgradeOutcome.ABORTED, None)
    assert session.transport is Transport.POLLING


def test_upgrade_times_out_and_polling_goes_on() -> None:
    session = polling()
    session.upgrade_begin(T0 + 2)
    upgrade(session, "2probe")
    assert session.on_timer(T0 + 11.999) is TimerOutcome.NOTHING
    assert session.on_timer(T0 + 12) is TimerOutcome.UPGRADE_EXPIRED
    assert not session.upgrading
    assert session.is_open
    assert session.transport is Transport.POLLING
    assert session.next_deadline() == T0 + 25
    # A late "5" on the expired probe does not complete anything.
    assert upgrade(session, "5") == (UpgradeOutcome.ABORTED, None)
    assert session.transport is Transport.POLLING


def test_upgrade_deadline_and_ping_due_at_the_same_moment_both_run() -> None:
    session = polling()
    session.upgrade_begin(T0 + 15)  # expires at T0 + 25, when the first ping is due
    outcomes = []
    while (outcome := session.on_timer(T0 + 25)) is not TimerOutcome.NOTHING:
        outcomes.append(outcome)
    assert outcomes == [TimerOutcome.UPGRADE_EXPIRED, TimerOutcome.PING_QUEUED]
    assert session.outbox == ["2"]


def test_heartbeat_goes_on_during_the_upgrade() -> None:
    session = polling()
    session.upgrade_begin(T0 + 20)
    upgrade(session, "2probe")
    assert session.on_timer(T0 + 25) is TimerOutcome.PING_QUEUED
    session.poll_begin()
    assert session.poll_take() == "2"


def test_an_upgrade_may_be_tried_again_after_an_abort() -> None:
    session = polling()
    session.upgrade_begin(T0)
    session.upgrade_abort()
    assert not session.upgrading
    session.upgrade_begin(T0 + 1)
    assert upgrade(session, "5")[0] is UpgradeOutcome.COMPLETED


def test_a_second_upgrade_while_one_is_in_progress_is_refused() -> None:
    session = polling()
    session.upgrade_begin(T0)
    with pytest.raises(UpgradeRefusedError):
        session.upgrade_begin(T0 + 1)
    assert session.upgrading  # the first upgrade is untouched
    assert session.next_deadline() == T0 + 10


def test_an_upgraded_session_cannot_upgrade_again() -> None:
    session = upgraded()
    with pytest.raises(UpgradeRefusedError):
        session.upgrade_begin(T0 + 1)
    assert session.transport is Transport.WEBSOCKET
    assert session.is_open


def test_a_websocket_session_cannot_upgrade() -> None:
    with pytest.raises(UpgradeRefusedError):
        websocket().upgrade_begin(T0)


def test_a_closed_session_cannot_upgrade() -> None:
    session = polling()
    session.close(CloseReason.FORCED_CLOSE, T0)
    with pytest.raises(UpgradeRefusedError):
        session.upgrade_begin(T0)


def test_closing_during_an_upgrade_ends_it() -> None:
    session = polling()
    session.upgrade_begin(T0)
    upgrade(session, "2probe")
    session.fail(CloseReason.PING_TIMEOUT)
    assert not session.upgrading
    assert upgrade(session, "5") == (UpgradeOutcome.ABORTED, None)
    assert session.transport is Transport.POLLING


# ---------------------------------------------------------------- 5. close


def test_close_is_idempotent_and_the_first_reason_wins() -> None:
    session = polling()
    assert session.close(CloseReason.FORCED_CLOSE, T0)
    assert not session.close(CloseReason.SERVER_SHUTTING_DOWN, T0)
    assert not session.fail(CloseReason.PARSE_ERROR)
    receive(session, "1")
    assert session.close_reason == CloseReason.FORCED_CLOSE == "forced close"


def test_fail_then_close_keeps_the_failure_reason() -> None:
    session = websocket()
    assert session.fail(CloseReason.PARSE_ERROR)
    assert not session.close(CloseReason.FORCED_CLOSE, T0)
    assert session.close_reason == "parse error"


def test_close_stops_every_timer() -> None:
    session = websocket()
    session.on_timer(T0 + 25)  # a pong is now awaited
    session.close(CloseReason.FORCED_CLOSE, T0 + 26)
    assert session.next_deadline() == math.inf
    assert session.on_timer(T0 + 1000) is TimerOutcome.NOTHING
    assert session.close_reason == CloseReason.FORCED_CLOSE


def test_our_close_delivers_the_outbox_then_the_close_packet_to_the_pending_get() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    session.send("4a")
    session.send(b"\x01")
    assert session.close(CloseReason.FORCED_CLOSE, T0)
    assert not session.lingering  # the pending GET takes the final answer
    assert session.poll_take() == "4a\x1ebAQ==\x1e1"
    assert not session.poll_pending


def test_our_close_without_a_pending_get_lingers_for_the_final_answer() -> None:
    session = polling()
    session.send("4bye")
    assert session.close(CloseReason.FORCED_CLOSE, T0 + 5)
    assert session.lingering
    assert session.next_deadline() == T0 + 35
    session.poll_begin()
    assert session.poll_take() == "4bye\x1e1"
    assert not session.lingering
    assert session.next_deadline() == math.inf


def test_linger_ends_after_close_timeout() -> None:
    session = polling()
    session.send("4bye")
    session.close(CloseReason.FORCED_CLOSE, T0 + 5)
    assert session.on_timer(T0 + 34.999) is TimerOutcome.NOTHING
    assert session.lingering
    assert session.on_timer(T0 + 35) is TimerOutcome.LINGER_OVER
    assert not session.lingering
    assert session.outbox == []
    assert session.next_deadline() == math.inf


def test_close_without_linger_keeps_the_final_answer_but_sets_no_deadline() -> None:
    session = polling()
    session.send("4bye")
    session.close(CloseReason.SERVER_SHUTTING_DOWN, T0, linger=False)
    assert not session.lingering
    assert session.next_deadline() == math.inf
    session.poll_begin()
    assert session.poll_take() == "4bye\x1e1"


def test_fail_drops_the_outbox_and_the_pending_get_gets_close() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    session.send("4dropped")
    assert session.fail(CloseReason.PARSE_ERROR)
    assert session.outbox == []
    assert session.poll_take() == "1"


def test_fail_does_not_linger() -> None:
    session = polling()
    session.fail(CloseReason.PARSE_ERROR)
    assert not session.lingering
    assert session.next_deadline() == math.inf


def test_the_clients_close_packet_releases_the_pending_get_with_noop() -> None:
    session = polling()
    session.poll_begin()
    assert session.poll_take() is None
    assert receive(session, "1") is None
    assert not session.is_open
    assert session.close_reason == CloseReason.TRANSPORT_CLOSE == "transport close"
    assert session.poll_take() == "6"
    assert not session.lingering


def test_the_clients_close_packet_drops_the_outbox() -> None:
    session = polling()
    session.send("4unsent")
    receive(session, "1")
    assert session.outbox == []
    session.poll_begin()
    assert session.poll_take() == "6"


def test_our_close_on_a_websocket_keeps_the_outbox_and_does_not_linger() -> None:
    session = websocket()
    session.send("4bye")
    assert session.close(CloseReason.FORCED_CLOSE, T0)
    assert not session.lingering
    assert session.take_outbox() == ["4bye"]  # the writer sends it before the close frame
    assert session.next_deadline() == math.inf


def test_our_close_after_an_upgrade_does_not_linger() -> None:
    session = upgraded()
    session.send("4bye")
    session.close(CloseReason.FORCED_CLOSE, T0)
    assert not session.lingering
    assert session.take_outbox() == ["4bye"]


def test_ping_timeout_drops_the_outbox_and_answers_close() -> None:
    session = polling()
    session.on_timer(T0 + 25)  # "2" queued, never taken
    session.on_timer(T0 + 45)
    assert session.close_reason == CloseReason.PING_TIMEOUT
    assert session.outbox == []
    assert not session.lingering
    session.poll_begin()
    assert session.poll_take() == "1"
