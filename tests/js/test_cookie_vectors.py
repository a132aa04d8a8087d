"""The sid cookie, byte for byte as Node engine.io 6.6 writes it (its npm ``cookie`` package).

Each case is serialised by Node (``cookie_vectors.mjs``) and by :class:`CookieOptions`; the
two ``Set-Cookie`` values must be equal. Node's option names are camelCase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _node
import trio

from minisock import CookieOptions

SCRIPT = Path(__file__).resolve().parent / "cookie_vectors.mjs"
SID = "dGhpc2lzYXNpZA-_"

# (Node options, the same in minisock)
CASES: list[tuple[dict[str, Any], CookieOptions]] = [
    ({}, CookieOptions()),
    ({"name": "sticky"}, CookieOptions(name="sticky")),
    ({"path": "/app"}, CookieOptions(path="/app")),
    ({"domain": "example.com"}, CookieOptions(domain="example.com")),
    ({"httpOnly": False}, CookieOptions(http_only=False)),
    ({"sameSite": "strict"}, CookieOptions(same_site="strict")),
    ({"sameSite": "none", "secure": True}, CookieOptions(same_site="none", secure=True)),
    ({"sameSite": False}, CookieOptions(same_site=None)),
    ({"maxAge": 86400}, CookieOptions(max_age=86400)),
    ({"maxAge": 0}, CookieOptions(max_age=0)),
    ({"partitioned": True, "secure": True}, CookieOptions(partitioned=True, secure=True)),
    (
        {
            "name": "lb",
            "path": "/socket.io",
            "domain": "a.example",
            "httpOnly": True,
            "secure": True,
            "sameSite": "lax",
            "maxAge": 60,
        },
        CookieOptions(name="lb", path="/socket.io", domain="a.example", secure=True, max_age=60),
    ),
]


async def test_cookie_header_matches_node() -> None:
    node = _node.require_node("cookie")
    payload = json.dumps([{"value": SID, "options": options} for options, _ in CASES])
    with trio.fail_after(20):
        proc = await trio.run_process([node, str(SCRIPT), payload], capture_stdout=True)
    expected = json.loads(proc.stdout)
    assert [ours.header_value(SID) for _, ours in CASES] == expected
