"""The cluster vectors (tests/vectors/cluster.json) against Node's own encoders.

``notepack_vectors.mjs`` encodes each vector's JavaScript value with notepack.io 3.0.1 (the
msgpack of @socket.io/redis-adapter and redis-emitter) and with ``JSON.stringify``, and
decodes the vector's bytes with them: both must agree with the bytes minisock's codec is
tested against (tests/unit/test_cluster_codec.py). Then the real RedisAdapter 8.3.0 and
Emitter 5.1.0 publish some of the messages into a fake Redis client, byte for byte the
vectors'. A vector that only minisock believed in fails here.

Needs ``node`` on PATH and ``tests/js/node_modules`` (``make test`` runs ``npm ci`` for you).
This test never skips: a missing toolchain is a failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _node
import pytest

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "notepack_vectors.mjs"
VECTORS = JS_DIR.parent / "vectors" / "cluster.json"
DEADLINE = 60.0


def _run(vectors: Path) -> tuple[int, dict[str, Any] | None, str]:
    return _node.run_checker(SCRIPT, str(vectors), packages=("notepack.io",), timeout=DEADLINE)


@pytest.mark.js
def test_vectors_match_notepack_and_json_stringify() -> None:
    code, report, output = _run(VECTORS)
    assert report is not None, output
    assert report["failures"] == [], output
    assert code == 0, output
    vectors = json.loads(VECTORS.read_text("utf-8"))
    assert isinstance(report["checked"], int)
    assert report["checked"] >= len(vectors["msgpack"]) + len(vectors["messages"])


@pytest.mark.js
def test_a_wrong_vector_is_caught(tmp_path: Path) -> None:
    """The checker can fail: one flipped byte in one vector is reported by name."""
    vectors = json.loads(VECTORS.read_text("utf-8"))
    victim = next(v for v in vectors["messages"] if isinstance(v["wire"], dict))
    wire = bytearray.fromhex(victim["wire"]["hex"])
    wire[-1] ^= 0x01
    victim["wire"]["hex"] = wire.hex()
    broken = tmp_path / "cluster.json"
    broken.write_text(json.dumps(vectors), "utf-8")
    code, report, output = _run(broken)
    assert code == 1, output
    assert report is not None, output
    failures = report["failures"]
    assert isinstance(failures, list)
    assert {f["name"] for f in failures} == {victim["name"]}, output
