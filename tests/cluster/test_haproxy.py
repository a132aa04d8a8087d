"""The shipped HAProxy config (examples/cluster/haproxy.cfg, cookie mode) in front of two
workers of examples/jwt_app.py sharing one Redis, driven by real socket.io-client clients
(haproxy_clients.mjs); and examples/cluster/run.py, the one-command cluster.

Which worker a client landed on is the ``SERVERID`` cookie HAProxy inserted in its handshake
answer (``w1`` or ``w2``), read from the client's cookie jar. Round-robin over fresh clients
spreads them, and the tests assert that both workers got some.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _node
import pytest

from ._procs import HAProxy, Proc, ProcessGroup, RedisServer, free_port
from .conftest import HAProxyStarter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
JWT_APP = ROOT / "examples" / "jwt_app.py"
HAPROXY_CFG = ROOT / "examples" / "cluster" / "haproxy.cfg"
RUN_PY = ROOT / "examples" / "cluster" / "run.py"
DRIVER = HERE / "haproxy_clients.mjs"
DRIVER_DEADLINE = 40.0  # the driver has its own 25 s overall timeout
READY = r"listening on port (\d+)"
WORKERS = {"w1", "w2"}
INSERT_COOKIE = "cookie SERVERID insert indirect nocache httponly"

pytestmark = pytest.mark.cluster


@dataclass
class Cluster:
    proxy: HAProxy
    workers: list[Proc]
    processes: ProcessGroup


def start_cluster(
    redis_server: RedisServer,
    processes: ProcessGroup,
    haproxy: HAProxyStarter,
    app_cookie: str | None = None,
) -> Cluster:
    """Two jwt_app workers on Redis (ephemeral ports), HAProxy with the shipped config; with
    ``app_cookie``, the workers set that Engine.IO cookie and HAProxy routes by it (prefix
    mode, the config's commented alternative), as ``run.py --cookie`` does."""
    argv = [sys.executable, str(JWT_APP), "--port", "0", "--redis", redis_server.url]
    config = HAPROXY_CFG.read_text()
    if app_cookie is not None:
        argv += ["--cookie", app_cookie]
        assert INSERT_COOKIE in config
        config = config.replace(INSERT_COOKIE, f"cookie {app_cookie} prefix nocache")
    workers = [processes.spawn(name, argv) for name in sorted(WORKERS)]
    ports = [int(worker.wait_for_line(READY).group(1)) for worker in workers]
    proxy = haproxy(config, env={"WORKER1_PORT": ports[0], "WORKER2_PORT": ports[1]})
    return Cluster(proxy=proxy, workers=workers, processes=processes)


@pytest.fixture
def cluster(redis_server: RedisServer, processes: ProcessGroup, haproxy: HAProxyStarter) -> Cluster:
    return start_cluster(redis_server, processes, haproxy)


def drive(cluster: Cluster, scenario: str, **params: Any) -> dict[str, Any]:
    """Runs one scenario of haproxy_clients.mjs; fails with every process's output unless ok."""
    node = _node.require_node("socket.io-client")
    argv = [node, str(DRIVER), scenario, cluster.proxy.url, json.dumps(params)]
    driver = cluster.processes.spawn(f"haproxy_clients:{scenario}", argv)
    try:
        driver.popen.wait(DRIVER_DEADLINE)
    except subprocess.TimeoutExpired:
        driver.stop()
    driver.stop()  # reaps it and joins its reader
    result: dict[str, Any] | None = None
    for line in driver.lines:
        if line.startswith('{"ok"'):
            result = json.loads(line)
    if result is None or not result["ok"] or driver.returncode != 0:
        reason = None if result is None else result["reason"]
        pytest.fail(
            f"haproxy_clients.mjs {scenario}: {reason} (exit code {driver.returncode})\n"
            + cluster.processes.outputs(),
            pytrace=False,
        )
    return result


def workers_of(result: dict[str, Any]) -> list[str]:
    return [client["worker"] for client in result["clients"]]


@pytest.mark.js
def test_default_clients_connect_and_upgrade(cluster: Cluster) -> None:
    """Polling first, then the upgrade: the WebSocket must reach the worker of the session."""
    result = drive(cluster, "upgrade", count=10)
    assert len(result["clients"]) == 10
    assert all(c["transport"] == "websocket" for c in result["clients"]), result["clients"]
    assert set(workers_of(result)) == WORKERS, workers_of(result)


@pytest.mark.js
def test_polling_only_clients_stick_to_their_worker(cluster: Cluster) -> None:
    """Every request of a polling session must reach its worker: the other answers 400."""
    result = drive(cluster, "polling", count=10, rounds=3)
    assert len(result["clients"]) == 10
    assert all(c["transport"] == "polling" for c in result["clients"]), result["clients"]
    assert set(workers_of(result)) == WORKERS, workers_of(result)
    # Each client got the notification of every client, on its worker and on the other.
    for client in result["clients"]:
        assert sorted(client["notifications"]) == sorted(f"from client{i}" for i in range(10))


@pytest.mark.js
def test_events_cross_workers(cluster: Cluster) -> None:
    """john and jane on different workers: is-online and notify-user cross through Redis."""
    result = drive(cluster, "cross")
    assert set(result["workers"].values()) == WORKERS, result["workers"]


@pytest.mark.js
def test_polling_without_cookies_is_not_sticky(cluster: Cluster) -> None:
    """What the Node client needs: without ``withCredentials`` it keeps no cookie, so its
    requests after the handshake are balanced to the other worker, which refuses them."""
    result = drive(cluster, "no-credentials")
    assert "xhr" in result["outcome"] or "transport" in result["outcome"], result["outcome"]


@pytest.mark.js
def test_app_io_cookie_in_prefix_mode(
    redis_server: RedisServer, processes: ProcessGroup, haproxy: HAProxyStarter
) -> None:
    """The app's own ``io`` cookie (``jwt_app.py --cookie io``) routes instead of HAProxy's:
    HAProxy answers ``io=w1~<sid>`` and strips the prefix from the requests."""
    cluster = start_cluster(redis_server, processes, haproxy, app_cookie="io")
    polling = drive(cluster, "polling", count=6, rounds=2)
    assert set(workers_of(polling)) == WORKERS, workers_of(polling)
    upgrade = drive(cluster, "upgrade", count=6)
    assert all(c["transport"] == "websocket" for c in upgrade["clients"]), upgrade["clients"]
    assert set(workers_of(upgrade)) == WORKERS, workers_of(upgrade)


# ----------------------------------------------------------------------------------- run.py


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _http(url: str, body: dict[str, str] | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        status: int = response.status
        return status, response.read()


def test_run_py_starts_serves_and_stops_everything(processes: ProcessGroup) -> None:
    port = free_port()
    argv = [sys.executable, str(RUN_PY), "--workers", "2", "--port", str(port)]
    run = processes.spawn("run.py", [*argv, "--worker-port", "0", "--redis-port", "0"])
    children: dict[str, int] = {}
    try:
        run.wait_for_line(rf"open http://\S+:{port}/", timeout=30)
        for line in run.lines:
            if match := re.search(r"^cluster: started (\S+) \(pid (\d+)\)", line):
                children[match.group(1)] = int(match.group(2))
        assert set(children) == {"redis", "w1", "w2", "haproxy"}, run.output()
        assert all(_alive(pid) for pid in children.values()), children

        url = f"http://127.0.0.1:{port}"
        status, page = _http(f"{url}/")
        assert status == 200 and b"<html" in page
        status, body = _http(f"{url}/login", {"username": "john", "password": "changeit"})
        assert status == 200 and "token" in json.loads(body)

        os.kill(run.pid, signal.SIGTERM)
        run.popen.wait(20)
        assert run.returncode == 0, run.output()
        left = [name for name, pid in children.items() if _alive(pid)]
        assert not left, f"still running after run.py stopped: {left}\n{run.output()}"
        for name in children:
            assert re.search(rf"^cluster: stopped {name} \(pid", run.output(), re.M), name
    finally:
        run.stop()
        _kill_leftovers(children)


def _kill_leftovers(children: dict[str, int]) -> None:
    """SIGKILLs, by PID, what run.py said it started and left running (only on failure)."""
    names = {"redis": "redis-server", "haproxy": "haproxy"}
    for name, pid in children.items():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if _alive(pid) and names.get(name, "jwt_app.py") in cmdline:  # not a reused PID
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
