"""examples/jwt_app.html in a real headless Chromium, as a person would use it.

The jwt app runs in-process (``build_app(connect_auth=True)``); ``jwt_page.mjs`` drives
Debian's ``/usr/bin/chromium`` with playwright-core: a refused login, then login, hello,
upgrade to websocket, a notification to oneself, is-online, the server -> client ack,
websocket-only mode, then two bad tokens (the connect errors shown). Screenshots go to
pytest's ``tmp_path`` (the path is printed).

Needs /usr/bin/chromium, node, ``tests/browser/node_modules`` and
``examples/node_modules`` (the page's socket.io-client bundle): ``make test`` installs all of
them. These tests never skip: anything missing is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from minisock import Server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = HERE / "jwt_page.mjs"
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = HERE / "node_modules" / "playwright-core" / "package.json"
BUNDLE = ROOT / "examples" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
DEADLINE = 90.0  # the script has its own 60 s timeout

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def _load_jwt_app() -> ModuleType:
    """examples/jwt_app.py as a module (examples/ is not a package)."""
    name = "minisock_example_jwt_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "jwt_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def require_tools() -> str:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    node = shutil.which("node")
    if node is None:
        missing.append("node (Node.js >= 20)")
    if not PLAYWRIGHT.is_file():
        missing.append(f"{PLAYWRIGHT.parent} (npm ci in tests/browser)")
    if not BUNDLE.is_file():
        missing.append(f"{BUNDLE} (npm ci in examples)")
    if missing or node is None:
        pytest.fail("missing: " + "; ".join(missing) + ". Run `make test`, which installs them.")
    return node


async def walk_page(node: str, script: Path, sio: Server, shots: Path, deadline: float) -> Any:
    """Serve ``sio`` on a free port, run ``node script <url> <shots>`` (a walk written with
    page_kit.mjs), print where its screenshots are, and return its JSON report; fail the
    test, showing everything the walk printed, unless it passed."""
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(sio.serve, "127.0.0.1", 0)
        with trio.fail_after(deadline):
            proc = await trio.run_process(
                [node, str(script), f"http://127.0.0.1:{port}", str(shots)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        nursery.cancel_scope.cancel()
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")[-8000:]
    report: dict[str, Any] = {}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if lines:
        report = json.loads(lines[-1])
    print(f"screenshots in {shots}:")
    for path in report.get("screenshots", []):
        print(f"  {path}")
    print(json.dumps(report, indent=1))
    if proc.returncode != 0 or report.get("ok") is not True:
        pytest.fail(
            f"exit {proc.returncode}: {report.get('reason', '<no JSON report>')}\n"
            f"screenshots in {shots}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            pytrace=False,
        )
    return report


@pytest.mark.js
async def test_jwt_page_in_chromium(tmp_path: Path) -> None:
    node = require_tools()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    sio = _load_jwt_app().build_app(connect_auth=True)
    assert isinstance(sio, Server)
    report = await walk_page(node, SCRIPT, sio, shots, DEADLINE)
    assert len(report["screenshots"]) == 4
    assert all(Path(p).stat().st_size > 0 for p in report["screenshots"])
