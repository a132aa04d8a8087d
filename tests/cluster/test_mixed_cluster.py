"""A cluster of two servers sharing one Redis, driven by scenarios.mjs (see README.md).

Each pair (implementation of server A, implementation of server B) runs every scenario of
``scenarios.mjs``: broadcasts, fetchSockets, serverSideEmit, broadcasts with acks, remote
join/leave/disconnect and the @socket.io/redis-emitter, across the two nodes. ("node", "node")
is the reference: it validates the scenarios themselves. Adding an implementation: one line in
``_procs.IMPLEMENTATIONS``, and its pairs in ``PAIRS`` below.
"""

from __future__ import annotations

import subprocess

import _node
import pytest

from ._procs import (
    IMPLEMENTATIONS,
    NPM_PACKAGES,
    SCENARIOS,
    ProcessGroup,
    RedisServer,
    start_app,
)

PAIRS = [
    ("node", "node"),
    ("minisock", "node"),
    ("node", "minisock"),
    ("minisock", "minisock"),
]
KEY = "socket.io"
DRIVER_DEADLINE = 120.0  # the driver has its own 90 s overall timeout


@pytest.mark.cluster
@pytest.mark.js
@pytest.mark.parametrize(("impl_a", "impl_b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_mixed_cluster(
    impl_a: str, impl_b: str, redis_server: RedisServer, processes: ProcessGroup
) -> None:
    assert impl_a in IMPLEMENTATIONS and impl_b in IMPLEMENTATIONS
    node = _node.require_node(*NPM_PACKAGES)
    a = start_app(processes, impl_a, f"{impl_a}-A", redis_server.url, key=KEY)
    b = start_app(processes, impl_b, f"{impl_b}-B", redis_server.url, key=KEY)
    argv = [node, str(SCENARIOS), "--a", a.url, "--b", b.url, "--redis", redis_server.url]
    driver = processes.spawn("scenarios", [*argv, "--key", KEY])
    try:
        driver.popen.wait(DRIVER_DEADLINE)
    except subprocess.TimeoutExpired:
        driver.stop()
    if driver.returncode != 0 or "0 failed" not in driver.output():
        pytest.fail(
            f"scenarios.mjs failed (exit code {driver.returncode}) for A={impl_a}, B={impl_b}\n"
            + processes.outputs(),
            pytrace=False,
        )
