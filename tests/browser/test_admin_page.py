"""The Socket.IO admin UI next to the JWT demo page, in a real headless Chromium.

examples/jwt_app.py runs in-process (``build_app(connect_auth=True)``, instrumented in
development mode, the UI's own files at ``/admin/``). ``admin_page.mjs`` logs in on the
demo page as john, opens the admin UI beside it and logs in there as john too, then checks
that the UI lists the page's socket and its ``user:1`` room, shows the page's
``notify-user`` event (received) and its ``notification`` (sent), and that the UI's
Disconnect button disconnects the page ("io server disconnect"). The UI must load nothing
from outside the demo (its CDN links are rewritten). Screenshots go to pytest's
``tmp_path`` (the path is printed).

Needs what test_jwt_page.py needs, and ``@socket.io/admin-ui`` and ``@mdi/font`` in
``examples/node_modules`` (``npm ci`` in examples/, as ``make test`` runs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_jwt_page import CHROMIUM, ROOT, _load_jwt_app, require_tools, walk_page

from minisock import Server

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "admin_page.mjs"
ADMIN_UI = ROOT / "examples" / "node_modules" / "@socket.io" / "admin-ui" / "ui" / "dist"
DEADLINE = 120.0  # the script has its own 90 s timeout

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.mark.js
async def test_admin_ui_beside_the_demo_page(tmp_path: Path) -> None:
    node = require_tools()
    if not (ADMIN_UI / "index.html").is_file():
        pytest.fail(f"missing: {ADMIN_UI} (npm ci in examples). Run `make test`.")
    assert CHROMIUM.is_file()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    sio = _load_jwt_app().build_app(connect_auth=True)
    assert isinstance(sio, Server)
    report = await walk_page(node, SCRIPT, sio, shots, DEADLINE)
    assert report["outsideRequests"] == []
    assert len(report["screenshots"]) == 8
    assert all(Path(p).stat().st_size > 0 for p in report["screenshots"])
