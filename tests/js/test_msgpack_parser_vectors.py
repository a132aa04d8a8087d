"""The msgpack parser's vectors (tests/vectors/sio_msgpack.json) against the npm
socket.io-msgpack-parser 3.0.2: ``msgpack_parser_vectors.mjs`` encodes every packet with the npm
Encoder and decodes every byte string with the npm Decoder; both must agree with the bytes
minisock is tested against (tests/unit/test_sio_msgpack_codec.py). Needs ``node`` and
``tests/js/node_modules``; never skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _node
import pytest

JS_DIR = Path(__file__).resolve().parent
SCRIPT = JS_DIR / "msgpack_parser_vectors.mjs"
VECTORS = JS_DIR.parent / "vectors" / "sio_msgpack.json"


def _run(vectors: Path) -> tuple[int, dict[str, Any] | None, str]:
    return _node.run_checker(SCRIPT, str(vectors), packages=("socket.io-msgpack-parser",))


@pytest.mark.js
def test_vectors_match_the_npm_parser() -> None:
    code, report, output = _run(VECTORS)
    assert report is not None, output
    assert report["failures"] == [], output
    assert code == 0, output
    vectors = json.loads(VECTORS.read_text("utf-8"))
    count = sum(len(vectors[kind]) for kind in ("packets", "refused", "stricter"))
    assert isinstance(report["checked"], int)
    assert report["checked"] >= count


@pytest.mark.js
def test_a_wrong_vector_is_caught(tmp_path: Path) -> None:
    """One flipped byte in one packet, and one refused vector that is in fact valid: both are
    reported by name."""
    vectors = json.loads(VECTORS.read_text("utf-8"))
    victim = next(v for v in vectors["packets"] if v["name"] == "event")
    wire = bytearray.fromhex(victim["hex"])
    wire[-1] ^= 0x01  # the namespace "/" becomes "."
    victim["hex"] = wire.hex()
    vectors["refused"].append({"name": "not_refused", "hex": vectors["packets"][0]["hex"]})
    broken = tmp_path / "sio_msgpack.json"
    broken.write_text(json.dumps(vectors), "utf-8")
    code, report, output = _run(broken)
    assert code == 1, output
    assert report is not None, output
    failures = report["failures"]
    assert isinstance(failures, list)
    assert {f["name"] for f in failures} == {"event", "not_refused"}, output
