"""The JWT page in a real headless Chromium with permessage-deflate on.

Chromium always offers permessage-deflate; with ``per_message_deflate`` on, minisock accepts
it, so this runs the whole walk of ``jwt_page.mjs`` (polling, the upgrade, events and acks
both ways, websocket-only mode) over compressed WebSocket frames. The threshold is 0, so
every message the server sends is compressed; the wire tracer counts the frames that went
out with RSV1, and the server's frame parser inflates whatever Chromium compressed.
Tools and failure rules as in ``test_jwt_page.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio
from test_jwt_page import DEADLINE, SCRIPT, _load_jwt_app, require_tools

from minisock import Deflate, Server

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


class _Rsv1Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.deflated = 0
        self.inflated_from_browser = 0

    def emit(self, record: logging.LogRecord) -> None:
        entry = getattr(record, "wire", None)
        if entry is None:
            return
        if "RSV1" in entry.meaning:
            self.deflated += 1
        first = entry.raw.split(" ")[0]  # of a read: a frame's first byte, in practice
        if entry.meaning == "frame bytes, masked" and int(first, 16) & 0x40:
            self.inflated_from_browser += 1


@pytest.mark.js
async def test_jwt_page_over_deflate(tmp_path: Path) -> None:
    node = require_tools()
    sio = _load_jwt_app().build_app(connect_auth=True)
    assert isinstance(sio, Server)
    sio.engine.per_message_deflate = Deflate(threshold=0)
    counter = _Rsv1Counter()
    wire = logging.getLogger("minisock.wire")
    wire.addHandler(counter)
    level = wire.level
    wire.setLevel(logging.DEBUG)
    try:
        async with trio.open_nursery() as nursery:
            port: int = await nursery.start(sio.serve, "127.0.0.1", 0)
            with trio.fail_after(DEADLINE):
                proc = await trio.run_process(
                    [node, str(SCRIPT), f"http://127.0.0.1:{port}", str(tmp_path)],
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
            nursery.cancel_scope.cancel()
    finally:
        wire.removeHandler(counter)
        wire.setLevel(level)
    stdout = proc.stdout.decode("utf-8", "replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or report.get("ok") is not True:
        stderr = proc.stderr.decode("utf-8", "replace")[-8000:]
        pytest.fail(f"exit {proc.returncode}: {stdout}\n{stderr}", pytrace=False)
    assert counter.deflated > 0
    assert counter.inflated_from_browser > 0
