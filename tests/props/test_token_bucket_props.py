"""The token bucket of ``proto/token_bucket.py``: its bounds, checked with hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisock.proto.token_bucket import RateLimit, TokenBucket

rates = st.floats(min_value=0.01, max_value=1000.0)
bursts = st.integers(min_value=1, max_value=100)
steps = st.lists(st.floats(min_value=-5.0, max_value=10.0), max_size=200)


@given(rates, bursts, steps)
def test_never_more_events_pass_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, deltas: list[float]
) -> None:
    limit = RateLimit(rate, burst)
    bucket = TokenBucket(limit, 0.0)
    now = latest = 0.0
    passed = 0
    for delta in deltas:
        now += delta  # the clock may even go backwards
        latest = max(latest, now)
        passed += bucket.take(limit, now)
        assert passed <= burst + rate * latest + 1e-6
        assert 0.0 <= bucket.tokens <= burst


@given(rates, bursts)
def test_a_full_bucket_lets_exactly_burst_events_through_at_once(rate: float, burst: int) -> None:
    limit = RateLimit(rate, burst)
    bucket = TokenBucket(limit, 10.0)
    assert [bucket.take(limit, 10.0) for _ in range(burst + 3)] == [True] * burst + [False] * 3


@given(rates, bursts, st.integers(min_value=1, max_value=50))
def test_a_steady_sender_at_the_rate_is_never_limited(rate: float, burst: int, n: int) -> None:
    limit = RateLimit(rate, burst)
    bucket = TokenBucket(limit, 0.0)
    for _ in range(burst):
        assert bucket.take(limit, 0.0)  # empty the bucket first
    # One token comes back every 1/rate seconds: an event each period always passes.
    for i in range(1, n + 1):
        assert bucket.take(limit, i / rate * (1 + 1e-9))


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0), (1, 1.5)]
)
def test_a_limit_out_of_bounds_is_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimit(rate, burst)
