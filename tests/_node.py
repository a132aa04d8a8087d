"""Node.js for the tests that run npm packages: where they live, and a check that never skips.

The npm packages of every JS-driven test are installed in ``tests/js/node_modules`` (``make
test`` runs ``npm ci`` there). Shared by ``tests/js`` and ``tests/cluster``; importable as
``_node`` because ``tests/`` is on ``sys.path`` (pytest puts it there for ``tests/conftest.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
