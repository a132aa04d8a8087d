"""How much faster is :func:`minisock.proto.ws.mask_bytes` than the RFC's per-byte loop?

A micro-measurement, not a test: every client frame is unmasked on the hot path, and this is
the figure behind the choice of one big-integer XOR per payload. Run it with::

    .venv/bin/python examples/measure_masking.py

The result is logged (INFO) as the best of a few timeit runs per size.
"""

from __future__ import annotations

import logging
import os
import timeit
from collections.abc import Callable
from functools import partial

from minisock.proto.ws import mask_bytes

log = logging.getLogger("measure_masking")

KEY = bytes.fromhex("37fa213d")
SIZES = {"16 KiB": 16 * 1024, "1 MB": 1_000_000}


def naive_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 as written: octet i XOR key[i MOD 4], one byte at a time."""
    return bytes(octet ^ key[i % 4] for i, octet in enumerate(data))


def best_seconds(fn: Callable[[], object], number: int) -> float:
    """Best per-call time over five runs: the minimum is the least disturbed by other load."""
    runs = timeit.repeat(fn, number=number, repeat=5)
    return min(runs) / number


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for label, size in SIZES.items():
        data = os.urandom(size)
        assert mask_bytes(data, KEY) == naive_mask(data, KEY)
        # Aim at roughly 0.1 s per run for each implementation.
        fast = best_seconds(partial(mask_bytes, data, KEY), number=max(1, 200_000_000 // size))
        slow = best_seconds(partial(naive_mask, data, KEY), number=max(1, 2_000_000 // size))
        log.info(
            "%-7s mask_bytes %9.1f µs (%7.0f MB/s) | per-byte loop %9.1f µs (%5.1f MB/s) | x%.0f",
            label,
            fast * 1e6,
            size / fast / 1e6,
            slow * 1e6,
            size / slow / 1e6,
            slow / fast,
        )


if __name__ == "__main__":
    main()
