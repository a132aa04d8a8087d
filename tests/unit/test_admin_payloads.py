"""The admin UI's pure parts: payload shapes, commands, counts, sessions and the login."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisock
from minisock.admin import BasicAuth, hash_password
from minisock.admin.event_counts import EventCounts
from minisock.admin.payloads import (
    CommandError,
    client_id,
    command,
    features,
    iso_time,
    jsonable,
    payload_size,
    socket_details,
)
from minisock.admin.sessions import SessionStore

HANDSHAKE: dict[str, Any] = {
    "headers": {"host": "h", "authorization": "Bearer eyJ.x.y", "cookie": "io=abc"},
    "time": "Thu Dec 03 2026 15:00:00 GMT+0000 (Coordinated Universal Time)",
    "address": "127.0.0.1",
    "xdomain": False,
    "secure": False,
    "issued": 1796310000000,
    "url": "/socket.io/?EIO=4&transport=polling",
    "query": {"EIO": "4", "transport": "polling"},
    "auth": {"token": "secret"},
}


def test_features_follow_the_reference_order() -> None:
    assert features(read_only=False, development=True) == [
        "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT",
        "AGGREGATED_EVENTS", "ALL_EVENTS",
    ]  # fmt: skip
    assert features(read_only=True, development=False) == ["AGGREGATED_EVENTS"]


def test_iso_time_is_javascripts() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00.000Z"
    assert iso_time(1796310000.1234) == "2026-12-03T15:00:00.123Z"


def test_socket_details_hide_credentials_and_the_sid() -> None:
    eio_sid = "AbCdEfGhIjKlMnOpQrStUv"
    details = socket_details(
        sid="s1",
        nsp="/",
        eio_sid=eio_sid,
        transport="polling",
        data={"user": {1, 2}, "n": float("nan")},
        handshake=HANDSHAKE,
        rooms=["s1", "user:1"],
    )
    headers = details["handshake"]["headers"]
    assert headers == {"host": "h", "authorization": "[redacted]", "cookie": "[redacted]"}
    assert "auth" not in details["handshake"]
    assert details["clientId"] == client_id(eio_sid) and len(details["clientId"]) == 12
    assert eio_sid[:6] not in details["clientId"]
    assert details["data"] == {"user": "{1, 2}", "n": None}
    assert details["rooms"] == ["s1", "user:1"]


def test_forwarded_address_wins_as_in_the_reference() -> None:
    handshake = {**HANDSHAKE, "headers": {"x-forwarded-for": "10.0.0.9"}}
    details = socket_details(
        sid="s", nsp="/", eio_sid="e", transport="websocket", data={}, handshake=handshake, rooms=[]
    )
    assert details["handshake"]["address"] == "10.0.0.9"


def test_commands() -> None:
    assert command("join", ["/", "r", "sid"]) == {"nsp": "/", "room": "r", "filter": "sid"}
    assert command("leave", ["/", "r", None])["filter"] is None
    assert command("_disconnect", ["/", True, ""]) == {"nsp": "/", "close": True, "filter": None}
    emitted = command("emit", ["/", None, "ev", 1, {"a": 2}])
    assert emitted == {"nsp": "/", "filter": None, "event": "ev", "args": [1, {"a": 2}]}
    refused: list[tuple[str, list[Any]]] = [
        ("join", []),
        ("join", ["/", 3, None]),
        ("join", ["/", "x" * 300, None]),
        ("_disconnect", ["/", "yes", None]),
        ("emit", ["/", None]),
        ("drop-table", ["/"]),
    ]
    for name, args in refused:
        with pytest.raises(CommandError):
            command(name, args)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(st.sampled_from(["join", "leave", "_disconnect", "emit", "x"]), st.lists(json_values))
def test_any_command_parses_or_is_refused(name: str, args: list[Any]) -> None:
    try:
        command(name, args)
    except CommandError:
        pass


def test_jsonable_bounds_depth() -> None:
    deep: Any = []
    for _ in range(50):
        deep = [deep]
    flat = jsonable(deep, depth=3)
    assert flat == [[["…"]]]


def test_event_counts_per_second_and_bounded() -> None:
    counts = EventCounts(max_keys=3)
    counts.add("packetsIn", 100.2)
    counts.add("packetsIn", 100.9)
    counts.add("bytesIn", 100.5, 7)
    counts.add("rawDisconnection", 101.0, sub_type="transport close")
    counts.add("rawDisconnection", 101.0, sub_type="ping timeout")  # a fourth key: dropped
    counts.add("packetsIn", 100.0)  # an existing key still counts
    assert counts.dropped == 1
    assert counts.take() == [
        {"timestamp": 100000, "type": "packetsIn", "count": 3},
        {"timestamp": 100000, "type": "bytesIn", "count": 7},
        {"timestamp": 101000, "type": "rawDisconnection", "subType": "transport close", "count": 1},
    ]
    assert counts.take() == [] and len(counts) == 0


def test_payload_size_counts_utf8_bytes() -> None:
    assert payload_size("é") == 2 and payload_size(b"\x00\x01") == 2


def test_sessions_expire_and_are_bounded() -> None:
    store = SessionStore(ttl=10, max_sessions=2)
    store.add("a", 0)
    store.add("b", 1)
    assert store.valid("a", 5)
    store.add("c", 2)  # "a" is the oldest: forgotten
    assert not store.valid("a", 5)
    assert store.valid("b", 11) and not store.valid("b", 11.5)
    assert len(store) == 1


def test_basic_auth() -> None:
    auth = BasicAuth("admin", bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode())
    assert auth.check("admin", "pw")
    assert not auth.check("admin", "nope")
    assert not auth.check("root", "pw")
    assert not auth.check("admin", "p" * 100)  # past bcrypt's 72 bytes
    assert not auth.check(None, "pw")
    with pytest.raises(ValueError, match="bcrypt hash"):
        BasicAuth("admin", "pw")
    assert BasicAuth("a", hash_password("x", rounds=4)).check("a", "x")


def test_the_pure_parts_import_without_trio_nor_bcrypt() -> None:
    """Payloads, counts, sessions and credentials are pure (time passed in); bcrypt is
    imported only when credentials are made."""
    package_dir = str(Path(minisock.__file__).parent)
    code = (
        "import sys, types\n"
        "sys.modules['trio'] = None\n"
        "sys.modules['bcrypt'] = None\n"
        "for name, sub in (('minisock', ''), ('minisock.admin', '/admin')):\n"
        "    pkg = types.ModuleType(name); pkg.__path__ = [sys.argv[1] + sub]\n"
        "    sys.modules[name] = pkg\n"
        "import minisock.admin.payloads, minisock.admin.event_counts\n"
        "import minisock.admin.sessions, minisock.admin.credentials\n"
    )
    subprocess.run([sys.executable, "-c", code, package_dir], check=True)
