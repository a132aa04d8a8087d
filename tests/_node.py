"""Node.js for the tests that run npm packages: where they live, and a check that never skips.

Also the three steps every reference-first JS test takes: start a Node reference server
(:func:`reference_server`), serve minisock the same way (:func:`serving`), and run one scenario
script against either (:func:`run_scenario`).

The npm packages of every JS-driven test are installed in ``tests/js/node_modules`` (``make
test`` runs ``npm ci`` there). Shared by ``tests/js`` and ``tests/cluster``; importable as
``_node`` because ``tests/`` is on ``sys.path`` (pytest puts it there for ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
import trio

JS_DIR = Path(__file__).resolve().parent / "js"
NODE_MODULES = JS_DIR / "node_modules"


def require_node(*packages: str) -> str:
    """Path of the ``node`` executable; fails (never skips) if the JS toolchain is missing.

    Also checks that each npm package of ``packages`` is installed in ``tests/js/node_modules``.
    Call it from test bodies (not fixtures) so that a missing toolchain is reported as a test
    FAILURE rather than a setup error.
    """
    exe = shutil.which("node")
    if exe is None:
        pytest.fail(
            "`node` is not on PATH: these tests drive the real npm packages under Node.js. "
            "Install Node.js (>= 18) and run `make test` (it runs `npm ci` in tests/js).",
            pytrace=False,
        )
    for package in packages:
        manifest = NODE_MODULES / package / "package.json"
        if not manifest.is_file():
            pytest.fail(
                f"{manifest.parent} is missing: run `make test` (it runs `npm ci` in tests/js), "
                "or `cd tests/js && npm ci`.",
                pytrace=False,
            )
    return exe


class _Serves(Protocol):
    async def serve(
        self, host: str = ..., port: int = ..., *, task_status: trio.TaskStatus[int] = ...
    ) -> None: ...


@asynccontextmanager
async def serving(server: _Serves) -> AsyncIterator[str]:
    """``server`` on a free port of 127.0.0.1 for as long as the block; its base URL."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.serve, "127.0.0.1", 0)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@contextmanager
def reference_server(
    script: Path, *args: str, packages: tuple[str, ...] = ("socket.io",)
) -> Iterator[str]:
    """A Node reference server, ``node script args...``, whose first line ends with its port;
    its base URL. Stopped by PID when the block ends (SIGTERM, then SIGKILL after 5 s)."""
    node = require_node(*packages)
    proc = subprocess.Popen(
        [node, str(script), *args],
        cwd=JS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        words = line.split()
        assert words and words[-1].isdigit(), (line, proc.stderr.read() if proc.stderr else "")
        yield f"http://127.0.0.1:{int(words[-1])}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


async def run_scenario(
    script: Path, *args: str, packages: tuple[str, ...], deadline: float
) -> dict[str, Any]:
    """Run ``node script args...``; its last line that is a JSON object is its report.

    Fails the test, showing all the script printed, unless it exited 0 with ``"ok": true``.
    """
    node = require_node(*packages)
    with trio.fail_after(deadline):
        proc = await trio.run_process(
            [node, str(script), *args], capture_stdout=True, capture_stderr=True, check=False
        )
    stdout = proc.stdout.decode("utf-8", "replace")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or report.get("ok") is not True:
        pytest.fail(
            f"{script.name} {' '.join(args)}: exit {proc.returncode}, {report.get('reason')}\n"
            f"--- stdout ---\n{stdout}\n"
            f"--- stderr ---\n{proc.stderr.decode('utf-8', 'replace')[-4000:]}",
            pytrace=False,
        )
    return report


def run_checker(
    script: Path, *args: str, packages: tuple[str, ...], timeout: float = 60.0
) -> tuple[int, dict[str, Any] | None, str]:
    """Run a checking script, ``node script args...``, that may fail on purpose.

    Returns its exit code, its last line that is a JSON object (``None`` if it printed none)
    and everything it printed, for the caller to assert on.
    """
    proc = subprocess.run(
        [require_node(*packages), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            report = json.loads(line)
            break
    return proc.returncode, report, proc.stdout + proc.stderr
