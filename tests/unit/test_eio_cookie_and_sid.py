"""The pure pieces of the engine hooks: the cookie options and the custom-sid check."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisock.engine import EngineServer
from minisock.proto.eio_cookie import CookieOptions
from minisock.proto.eio_sid import MAX_SID_LENGTH, sid_problem


def test_defaults_are_nodes() -> None:
    assert CookieOptions().header_value("abc") == "io=abc; Path=/; HttpOnly; SameSite=Lax"


@pytest.mark.parametrize(
    "options",
    [
        {"name": "bad name"},
        {"name": ""},
        {"name": "a;b"},
        {"path": "/a;b"},
        {"path": "/a\r\nX-Injected: 1"},
        {"domain": "x.example; Secure"},
        {"same_site": "sometimes"},
        {"max_age": 1.5},
    ],
)
def test_unsafe_options_are_refused_up_front(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CookieOptions(**options)


def test_engine_cookie_argument_stays_compatible() -> None:
    """``cookie="name"`` and ``cookie_path`` work as before; ``True`` means Node's defaults."""
    assert EngineServer().cookie is None
    assert EngineServer(cookie=False).cookie is None
    assert EngineServer(cookie=True).cookie == CookieOptions()
    assert EngineServer(cookie="sticky", cookie_path="/app").cookie == CookieOptions(
        name="sticky", path="/app"
    )
    custom = CookieOptions(name="lb", max_age=60, secure=True)
    assert EngineServer(cookie=custom).cookie is custom


@given(st.text(alphabet="ABCxyz019._~-", min_size=1, max_size=MAX_SID_LENGTH))
def test_url_safe_sids_are_accepted(sid: str) -> None:
    assert sid_problem(sid) is None


@given(st.text(min_size=1, max_size=40).filter(lambda s: any(c in s for c in "/+=?&; \r\n%#")))
def test_sids_needing_escapes_are_refused(sid: str) -> None:
    assert sid_problem(sid) is not None


@pytest.mark.parametrize("candidate", ["", "x" * (MAX_SID_LENGTH + 1), None, 42, b"abc"])
def test_empty_long_and_non_string_sids_are_refused(candidate: object) -> None:
    assert sid_problem(candidate) is not None
