"""The sans-I/O rule: minisock.proto imports without trio (or any async library).

The package's ``__init__`` imports the trio layer, so the test registers a bare ``minisock``
package first and imports only ``errors`` and ``proto`` from it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import minisock


def test_proto_never_imports_trio() -> None:
    package_dir = str(Path(minisock.__file__).parent)
    code = (
        "import sys, types\n"
        "sys.modules['trio'] = None\n"
        "pkg = types.ModuleType('minisock'); pkg.__path__ = [sys.argv[1]]\n"
        "sys.modules['minisock'] = pkg\n"
        "import minisock.proto.eio, minisock.proto.eio_session, minisock.proto.route\n"
        "import minisock.proto.ws, minisock.proto.ws_handshake\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('trio', 'asyncio', 'anyio')]\n"
        "assert all(sys.modules[m] is None for m in loaded), loaded\n"
    )
    subprocess.run([sys.executable, "-c", code, package_dir], check=True)
