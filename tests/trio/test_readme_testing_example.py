"""The example of README.md's "Testing your app" runs, as written, under pytest-trio.

The code block is cut out of the README and run by a separate pytest in a temporary folder
(no conftest, no trio_mode: only what the example itself says), so the README cannot rot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import minisock

ROOT = Path(minisock.__file__).resolve().parents[1]
README = ROOT / "README.md"


def example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Testing your app\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return str(code)


def test_the_readme_example_passes(tmp_path: Path) -> None:
    (tmp_path / "test_chat.py").write_text(example(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_chat.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
