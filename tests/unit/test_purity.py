"""The sans-I/O rule: minisock.proto imports without trio (or any async library); and the
optional extras stay optional: the core never imports them.

The package's ``__init__`` imports the trio layer, so the first test registers a bare
``minisock`` package and imports only ``errors`` and every module of ``proto`` from it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import minisock

PROTO_MODULES = sorted(
    path.stem for path in (Path(minisock.__file__).parent / "proto").glob("*.py")
)


def test_every_proto_module_imports_without_trio() -> None:
    assert {"eio", "sio", "cluster", "cluster_requests", "ack_collector"} <= set(PROTO_MODULES)
    package_dir = str(Path(minisock.__file__).parent)
    imports = "".join(f"import minisock.proto.{name}\n" for name in PROTO_MODULES)
    code = (
        "import sys, types\n"
        "sys.modules['trio'] = None\n"
        "pkg = types.ModuleType('minisock'); pkg.__path__ = [sys.argv[1]]\n"
        "sys.modules['minisock'] = pkg\n"
        f"{imports}"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('trio', 'asyncio', 'anyio')]\n"
        "assert all(sys.modules[m] is None for m in loaded), loaded\n"
    )
    subprocess.run([sys.executable, "-c", code, package_dir], check=True)


def test_the_core_runs_without_the_redis_extra() -> None:
    """coredis and msgpack are the ``redis`` extra: ``import minisock`` and a server with the
    in-memory adapter must not need them."""
    code = (
        "import sys\n"
        "sys.modules['msgpack'] = None; sys.modules['coredis'] = None\n"
        "import minisock, minisock.adapters, minisock.adapters.local\n"
        "minisock.Server()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
