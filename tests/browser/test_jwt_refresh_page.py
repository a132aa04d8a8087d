"""examples/jwt_app.html across token expiries, in a real headless Chromium.

The jwt app runs in-process with 3-second tokens (``build_app(token_lifetime=3)``, the
``--token-lifetime`` flag of the demo) and ``close_at_exp`` on, as the demo always has it.
``jwt_refresh_page.mjs`` drives Debian's ``/usr/bin/chromium`` with playwright-core:

- ``stays``: the page refreshes each token halfway through its life (``POST /refresh``, then
  the ``reauthenticate`` event) and its socket lives on well past the first token's expiry,
  the same socket (same id, no reconnection), over polling+websocket with the header and over
  websocket only with CONNECT auth; the server saw no second handshake.
- ``refused``: with auto refresh off, jane's token and an expired token are both refused on
  the live socket (``identity_mismatch``, ``expired``), ``POST /refresh`` refuses the expired
  one (401), and the server disconnects the socket at the first token's expiry.

Never skips; anything missing is a failure (see test_jwt_page.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from test_jwt_page import _load_jwt_app, require_tools

from minisock import Server

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "jwt_refresh_page.mjs"
DEADLINE = 90.0  # the script has its own 60 s timeout
LIFETIME = 3  # seconds: exp = int(now) + 3, so each token lives 2 to 3 s

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


async def walk(tmp_path: Path, mode: str, params: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Run one walk against the app; returns the script's report and the handshakes seen."""
    node = require_tools()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    jwt_app = _load_jwt_app()
    sio = jwt_app.build_app(connect_auth=True, token_lifetime=LIFETIME)
    assert isinstance(sio, Server)
    handshakes = 0
    check = sio.engine.handshake_check
    assert check is not None

    def counting_check(request: Any) -> Any:
        nonlocal handshakes
        handshakes += 1
        return check(request)

    sio.engine.handshake_check = counting_check
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(sio.serve, "127.0.0.1", 0)
        with trio.fail_after(DEADLINE):
            proc = await trio.run_process(
                [
                    node,
                    str(SCRIPT),
                    f"http://127.0.0.1:{port}",
                    str(shots),
                    mode,
                    json.dumps(params),
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        nursery.cancel_scope.cancel()
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")[-8000:]
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    print(f"screenshots in {shots}:\n" + json.dumps(report, indent=1))
    if proc.returncode != 0 or report.get("ok") is not True:
        pytest.fail(
            f"exit {proc.returncode}: {report.get('reason', '<no JSON report>')}\n"
            f"--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            pytrace=False,
        )
    assert all(Path(p).stat().st_size > 0 for p in report["screenshots"])
    return report, handshakes


@pytest.mark.js
async def test_the_page_refreshes_and_stays_connected_past_expiry(tmp_path: Path) -> None:
    report, handshakes = await walk(tmp_path, "stays", {})
    for phase in ("polling", "websocketOnly"):
        seen = report[phase]
        assert seen["refreshes"] >= 1, seen
        assert seen["exp"] > seen["firstExp"], seen
    # One handshake per login (the websocket-only one has no header: connect_auth lets it
    # through to CONNECT): a refresh never opened another session.
    assert handshakes == 2
    assert len(report["screenshots"]) == 2


@pytest.mark.js
async def test_a_refused_refresh_leaves_the_socket_to_expire(tmp_path: Path) -> None:
    jwt_app = _load_jwt_app()
    john = jwt_app.USERS["john"][1]
    expired = jwt_app.issue_token(jwt_app.DEMO_SECRET, john, time.time() - 600, lifetime=60)
    report, handshakes = await walk(tmp_path, "refused", {"expired": expired})
    disconnect = report["disconnect"]
    assert disconnect["reason"] == "io server disconnect"
    # At the first token's exp (server and browser share this machine's clock), not before;
    # the slack covers the page's 50 ms polling and a loaded machine.
    late_by = disconnect["at"] - disconnect["firstExp"] * 1000
    assert -100 <= late_by <= 2000, late_by
    assert handshakes == 1
    assert len(report["screenshots"]) == 2
