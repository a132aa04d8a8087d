"""The cluster fixtures themselves: Redis restarts on its port, HAProxy proxies, readiness."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from ._procs import HAProxy, ProcError, ProcessGroup, RedisServer, redis_ping

TCP_PROXY = """
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend front
    bind "127.0.0.1:${FRONTEND_PORT}"
    default_backend redis

backend redis
    server r1 "127.0.0.1:${REDIS_PORT}"
"""


@pytest.mark.cluster
def test_redis_kill_and_restart(redis_server: RedisServer) -> None:
    assert redis_ping(redis_server.port)
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}"
    first = redis_server.pid
    redis_server.kill()
    assert not redis_ping(redis_server.port)
    redis_server.start()
    assert redis_ping(redis_server.port)
    assert redis_server.pid != first


@pytest.mark.cluster
def test_haproxy_proxies(redis_server: RedisServer, haproxy: Callable[..., HAProxy]) -> None:
    proxy = haproxy(TCP_PROXY, env={"REDIS_PORT": redis_server.port})
    assert proxy.ports["FRONTEND_PORT"] == proxy.port
    assert redis_ping(proxy.port)


def test_readiness_line_and_early_exit(processes: ProcessGroup) -> None:
    script = "import time; print('noise'); print('ready 4242', flush=True); time.sleep(60)"
    proc, match = processes.start_server("sleeper", [sys.executable, "-c", script])
    assert match.group(1) == "4242"
    with pytest.raises(ProcError, match=r"exited .* before printing"):
        processes.start_server("quitter", [sys.executable, "-c", "print('bye')"])
    processes.stop_all()
    assert proc.returncode is not None
