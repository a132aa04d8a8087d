"""One command for a local cluster: Redis, N workers of examples/jwt_app.py, HAProxy in front.

    python examples/cluster/run.py --workers 3

starts ``redis-server`` (port 6379, or a free one if that is taken; ``--redis URL`` uses a
Redis you already run instead), ``--workers`` processes of ``examples/jwt_app.py
--connect-auth --redis URL`` on ports ``--worker-port``, +1, +2... (``0``: ephemeral ports),
and HAProxy with ``haproxy.cfg`` (cookie-sticky, one ``server`` line per worker) on
``--port`` (3000). With ``--cookie io`` the workers set the Engine.IO ``io`` cookie and
HAProxy routes by it (prefix mode) instead of inserting its own. It logs where to open the
browser, and on Ctrl-C or SIGTERM stops everything it started, by PID: HAProxy, then the
workers, then Redis. If a child dies on its own, the others are stopped too and the exit code
is 1.

Every child runs in its own session, so Ctrl-C reaches only this script, which then stops
them in order. Their output is logged here, one line at a time, prefixed with their name.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

log = logging.getLogger("cluster")

HERE = Path(__file__).resolve().parent
JWT_APP = HERE.parent / "jwt_app.py"
TEMPLATE = HERE / "haproxy.cfg"
BEGIN, END = "# BEGIN workers", "# END workers"
INSERT_COOKIE = "cookie SERVERID insert indirect nocache httponly"
READY_TIMEOUT = 20.0
STOP_GRACE = 5.0
DEFAULT_REDIS_PORT = 6379


class StartError(Exception):
    pass


class Child:
    """A child process whose merged output is logged line by line under its name."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,  # Ctrl-C goes to run.py alone, which stops us in order
        )
        self.output = logging.getLogger(f"cluster.{name}")
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()
        log.info("started %s (pid %d)", name, self.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            self.output.info("%s", line)
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self._lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self._lines)
                if self.popen.poll() is not None and not self._reader.is_alive():
                    raise StartError(f"{self.name} exited (code {self.popen.returncode})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StartError(f"{self.name} printed no {pattern!r} within {timeout} s")
                self._changed.wait(min(left, 0.2))

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after STOP_GRACE seconds; reaps it."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM: SIGKILL", self.name, self.pid)
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        self._reader.join(1.0)
        log.info("stopped %s (pid %d, exit code %s)", self.name, self.pid, self.popen.returncode)


def executable(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise StartError(f"`{name}` is not installed (Debian: apt-get install {name})")
    return found


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_accepting(child: Child, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if child.popen.poll() is not None:
            raise StartError(f"{child.name} exited (code {child.popen.returncode})")
        if time.monotonic() > deadline:
            raise StartError(f"{child.name} did not accept on {host}:{port} within {timeout} s")
        time.sleep(0.05)


def haproxy_config(
    template: str, workers: Sequence[tuple[str, int]], app_cookie: str | None = None
) -> str:
    """``template`` with one ``server`` line per (host, port) between the two markers; with
    ``app_cookie``, HAProxy routes by that cookie of the app (prefix mode) instead of its own."""
    if app_cookie is not None:
        if INSERT_COOKIE not in template:
            raise StartError(f"the HAProxy template has no {INSERT_COOKIE!r} line to replace")
        template = template.replace(INSERT_COOKIE, f"cookie {app_cookie} prefix nocache")
    lines = template.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == END)
    except StopIteration:
        raise StartError(f"the HAProxy template has no {BEGIN!r} ... {END!r} block") from None
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    servers = [
        f'{indent}server w{i} "{host}:{port}" cookie w{i} check inter 2s'
        for i, (host, port) in enumerate(workers, 1)
    ]
    return "\n".join([*lines[: begin + 1], *servers, *lines[end:]]) + "\n"


def start_redis(port: int, directory: Path) -> tuple[Child, str]:
    exe = executable("redis-server")
    if port == 0:
        port = free_port()
    elif not port_free(port):
        chosen = free_port()
        log.info("port %d is taken: Redis gets port %d", port, chosen)
        port = chosen
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    child = Child("redis", [*argv, "--dir", str(directory), "--loglevel", "warning"])
    wait_accepting(child, "127.0.0.1", port, READY_TIMEOUT)
    return child, f"redis://127.0.0.1:{port}"


def start_worker(
    index: int, host: str, port: int, redis_url: str, key: str, cookie: str | None
) -> Child:
    argv = [sys.executable, str(JWT_APP), "--host", host, "--port", str(port), "--connect-auth"]
    argv += ["--redis", redis_url, "--redis-key", key]
    return Child(f"w{index}", argv if cookie is None else [*argv, "--cookie", cookie])


def run(args: argparse.Namespace, tmp: Path, children: list[Child], stop: threading.Event) -> int:
    if args.redis:
        redis_url = args.redis
    else:
        redis, redis_url = start_redis(args.redis_port, tmp)
        children.append(redis)
    log.info("Redis: %s (key %r)", redis_url, args.key)

    # All workers start at once; each logs "listening on port N" once it listens, which
    # with Redis is after its adapter has subscribed.
    started = []
    for i in range(1, args.workers + 1):
        port = 0 if args.worker_port == 0 else args.worker_port + i - 1
        child = start_worker(i, args.worker_host, port, redis_url, args.key, args.cookie)
        children.append(child)
        started.append(child)
    workers = []
    for child in started:
        match = child.wait_for_line(r"listening on port (\d+)", READY_TIMEOUT)
        workers.append((args.worker_host, int(match.group(1))))

    config = tmp / "haproxy.cfg"
    config.write_text(
        haproxy_config(Path(args.haproxy_config).read_text("utf-8"), workers, args.cookie)
    )
    env = {"LISTEN_HOST": args.host, "FRONTEND_PORT": str(args.port)}
    proxy = Child("haproxy", [executable("haproxy"), "-f", str(config), "-db"], env=env)
    children.append(proxy)
    wait_accepting(proxy, args.host, args.port, READY_TIMEOUT)

    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    log.info(
        "workers %s behind HAProxy; open http://%s:%d/ (log in as john / changeit); "
        "Ctrl-C stops everything",
        ", ".join(f"{h}:{p}" for h, p in workers),
        shown,
        args.port,
    )
    while not stop.wait(0.5):
        for child in children:
            if child.popen.poll() is not None:
                log.error("%s exited (code %s): stopping", child.name, child.popen.returncode)
                return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="how many jwt_app processes")
    parser.add_argument("--host", default="127.0.0.1", help="where HAProxy listens")
    parser.add_argument("--port", type=int, default=3000, help="HAProxy's port (0: a free one)")
    parser.add_argument("--worker-host", default="127.0.0.1")
    parser.add_argument(
        "--worker-port", type=int, default=3001, help="first worker's port (0: ephemeral)"
    )
    parser.add_argument("--redis", metavar="URL", help="use this Redis; start none")
    parser.add_argument("--redis-port", type=int, default=DEFAULT_REDIS_PORT)
    parser.add_argument("--key", default="socket.io", help="the cluster's Redis channel prefix")
    parser.add_argument("--haproxy-config", default=str(TEMPLATE), help="the template")
    parser.add_argument(
        "--cookie",
        metavar="NAME",
        help="workers set the Engine.IO sid cookie NAME, and HAProxy routes by it (prefix mode)"
        " instead of inserting its own",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.port == 0:
        args.port = free_port(args.host)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children: list[Child] = []
    code = 1
    with tempfile.TemporaryDirectory(prefix="minisock-cluster-") as tmp:
        try:
            code = run(args, Path(tmp), children, stop)
        except StartError as exc:
            log.error("%s", exc)
        finally:
            for child in reversed(children):  # HAProxy first, Redis last
                child.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
