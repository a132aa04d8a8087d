"""Fixtures of the cluster tests: a private Redis, HAProxy, and the servers of the contract.

Every process is started through the ``processes`` fixture and stopped by PID at its teardown
(SIGTERM, then SIGKILL), whatever the test did. Nothing skips: a missing ``redis-server``,
``haproxy`` or ``node`` fails with a message saying how to install it (``make test`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from ._procs import (
    HAProxy,
    ProcessGroup,
    RedisServer,
    start_haproxy,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: starts its own redis-server (and Node.js servers): the cluster tests"
    )


@pytest.fixture
def processes() -> Iterator[ProcessGroup]:
    """The group every child of the test joins; its teardown stops them all by PID."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def redis_server(processes: ProcessGroup, tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` on a free port of 127.0.0.1, answering PING.

    ``.url`` ("redis://127.0.0.1:PORT"), ``.port``, ``.pid``, ``.kill()`` (SIGKILL and reap),
    ``.start()`` (again, same port), ``.stop()``.
    """
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(processes, directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()


HAProxyStarter = Callable[..., HAProxy]


@pytest.fixture
def haproxy(processes: ProcessGroup, tmp_path: Path) -> Iterator[HAProxyStarter]:
    """``haproxy(config, *, ports=("FRONTEND_PORT",), frontend="FRONTEND_PORT", env={})``.

    Starts ``haproxy -f cfg -db`` (see :func:`cluster._procs.start_haproxy`: placeholders are
    ``"${NAME}"`` environment variables; each name of ``ports`` gets a free port) and waits
    until the frontend accepts. Returns an :class:`HAProxy` (``.port``, ``.ports``, ``.url``,
    ``.pid``, ``.stop()``); stopped by PID at teardown.
    """
    started: list[HAProxy] = []
    count = 0

    def start(
        config: str | Path,
        *,
        ports: Sequence[str] = ("FRONTEND_PORT",),
        frontend: str = "FRONTEND_PORT",
        env: Mapping[str, str | int] | None = None,
        timeout: float = 10.0,
    ) -> HAProxy:
        nonlocal count
        count += 1
        directory = tmp_path / f"haproxy-{count}"
        directory.mkdir()
        proxy = start_haproxy(
            processes, directory, config, ports=ports, frontend=frontend, env=env, timeout=timeout
        )
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()
