"""What every harness in this folder shares: reading structure out of raw fuzz bytes, and the
entry point that runs a harness under atheris, or under a plain hypothesis loop without it.

A harness defines ``test_one_input(data: bytes) -> None``. The contract it enforces is the one
of STYLE.md §8 and issue 7: any input is either accepted or rejected with the documented
exception. Anything else that escapes ``test_one_input`` (another exception, a failed
assertion about what was accepted) is a finding: atheris stops, prints the traceback and saves
the input as ``fuzz/artifacts/<name>-crash-<sha1>``; replay it with
``fuzz/.venv/bin/python fuzz/fuzz_<name>.py fuzz/artifacts/<file>``.

Command line of every harness (``fuzz/run.py`` passes these; ``make fuzz`` calls it)::

    fuzz_<name>.py [libFuzzer flags] [corpus dir ...]   # atheris, e.g. -max_total_time=60
    fuzz_<name>.py --fallback SECONDS                   # no atheris: hypothesis st.binary()

Inputs are raw bytes; :class:`Reader` turns them into choices, sizes and strings the same way
under every engine, so a crash file found by atheris replays under the fallback too.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

try:
    import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # the fallback below needs only hypothesis
    atheris = None

__all__ = ["FUZZ_DIR", "Reader", "as_text", "depth", "finite", "instrumented", "known", "main"]

FUZZ_DIR = Path(__file__).resolve().parent
TestOneInput = Callable[[bytes], None]


class Reader:
    """Consumes fuzz bytes from the front; past the end every read gives zeros or empties."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        value = self.data[self.pos]
        self.pos += 1
        return value

    def below(self, bound: int) -> int:
        """An integer in ``range(bound)`` from one or two bytes."""
        if bound <= 1:
            return 0
        value = self.byte() if bound <= 256 else self.byte() << 8 | self.byte()
        return value % bound

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def take(self, size: int) -> bytes:
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def sized(self, limit: int = 255) -> bytes:
        """A length byte (or two), then that many bytes."""
        return self.take(self.below(limit + 1))

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    @property
    def exhausted(self) -> bool:
        return self.pos >= len(self.data)


def as_text(raw: bytes, how: int) -> str:
    """Bytes as a ``str`` four ways, so every code point class is reachable: latin-1 (every
    byte a character, \\x1e included), UTF-8 (replacement characters), UTF-8 with lone
    surrogates (surrogateescape), and UTF-16 with surrogates passed through."""
    how %= 4
    if how == 0:
        return raw.decode("latin-1")
    if how == 1:
        return raw.decode("utf-8", "replace")
    if how == 2:
        return raw.decode("utf-8", "surrogateescape")
    return raw[: len(raw) & ~1].decode("utf-16-le", "surrogatepass")


_SKIP = {t.strip() for t in os.environ.get("FUZZ_SKIP_KNOWN", "").split(",") if t.strip()}
_skipped: dict[str, int] = {}


def finite(value: Any) -> bool:
    """No NaN or infinity anywhere in decoded JSON-like data (NaN != NaN spoils round trips)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(finite(v) for v in value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    return True


def depth(value: Any) -> int:
    """Nesting of lists and dicts, counted as the decoders' ``max_depth`` counts it."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def known(tag: str) -> bool:
    """Whether a finding already reported (``fuzz/README.md``, "Findings") is to be stepped
    over, so a run can look past it: ``FUZZ_SKIP_KNOWN=tag,...`` or ``all``. Off by default:
    a known bug still fails the run until it is fixed."""
    if tag not in _SKIP and "all" not in _SKIP:
        return False
    _skipped[tag] = _skipped.get(tag, 0) + 1
    if _skipped[tag] == 1:
        print(f"known finding {tag!r} stepped over (FUZZ_SKIP_KNOWN)", file=sys.stderr)
    return True


def instrumented(*packages: str) -> contextlib.AbstractContextManager[Any]:
    """Coverage instrumentation for modules imported inside the block (atheris only)."""
    if atheris is None:
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=list(packages))  # type: ignore[no-any-return]


def _seed_corpus(name: str, seeds: Iterable[bytes], argv: list[str]) -> None:
    """Write the harness's seeds into the first corpus directory given, if it is empty."""
    dirs = [Path(a) for a in argv[1:] if not a.startswith("-")]
    if not dirs or dirs[0].is_file():
        return
    corpus = dirs[0]
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for seed in seeds:
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)


def _fallback(name: str, test_one_input: TestOneInput, seeds: list[bytes], seconds: float) -> None:
    """Without atheris: the seeds, then hypothesis ``st.binary()`` batches until time is up."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    for seed in seeds:
        test_one_input(seed)
    runs = len(seeds)
    start = time.monotonic()

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(st.binary(max_size=4096), st.sampled_from(seeds).flatmap(_mutations)))
    def batch(data: bytes) -> None:
        nonlocal runs
        runs += 1
        test_one_input(data)

    while time.monotonic() - start < seconds:
        batch()
    elapsed = time.monotonic() - start
    print(
        f"#{runs}\tDONE   fallback (hypothesis) {name}: {runs} runs in {elapsed:.0f} s, "
        f"exec/s: {runs / max(elapsed, 1e-9):.0f}",
        flush=True,
    )


def _mutations(seed: bytes) -> Any:
    """Hypothesis strategy: a seed with a slice replaced by random bytes."""
    from hypothesis import strategies as st

    def splice(cut: tuple[int, int, bytes]) -> bytes:
        a, b, middle = cut
        lo, hi = sorted((a % (len(seed) + 1), b % (len(seed) + 1)))
        return seed[:lo] + middle + seed[hi:]

    return st.tuples(st.integers(0, 1 << 16), st.integers(0, 1 << 16), st.binary(max_size=32)).map(
        splice
    )


def _replay(test_one_input: TestOneInput, paths: Iterator[Path]) -> None:
    for path in paths:
        print(f"replaying {path}", flush=True)
        test_one_input(path.read_bytes())
    print("replay: no finding", flush=True)


def main(name: str, test_one_input: TestOneInput, seeds: Iterable[bytes] = ()) -> None:
    """Run ``test_one_input`` under atheris, the fallback, or replay files given as arguments."""
    seed_list = list(seeds) or [b""]
    argv = list(sys.argv)
    if "--fallback" in argv:
        seconds = float(argv[argv.index("--fallback") + 1])
        _fallback(name, test_one_input, seed_list, seconds)
        return
    files = [Path(a) for a in argv[1:] if not a.startswith("-") and Path(a).is_file()]
    if files and (atheris is None or os.environ.get("FUZZ_REPLAY")):
        _replay(test_one_input, iter(files))
        return
    if atheris is None:
        sys.exit(f"{name}: atheris is not installed; use --fallback SECONDS (see fuzz/README.md)")
    _seed_corpus(name, seed_list, argv)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
