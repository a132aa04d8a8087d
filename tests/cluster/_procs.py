"""Child processes for the cluster tests: servers, Redis and HAProxy, always stopped by PID.

Everything here is synchronous (``subprocess`` plus one reader thread per child), so the
helpers work the same from sync and async tests; the waits are short and bounded. A child's
stdout and stderr are merged and kept (see :meth:`Proc.output`) so that a failing test can
show what the servers said.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STOP_GRACE = 3.0  # SIGTERM, then SIGKILL after this many seconds
READY_TIMEOUT = 15.0
MAX_OUTPUT_SHOWN = 12_000


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_executable(name: str, hint: str) -> str:
    """Path of ``name``; fails (never skips) with ``hint`` if it is missing."""
    exe = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if exe is None:
        pytest.fail(f"`{name}` is not installed: {hint}", pytrace=False)
    return exe


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    what: str, check: Callable[[], bool], timeout: float, proc: Proc | None = None
) -> None:
    """Polls ``check()`` until true; fails after ``timeout`` s or when ``proc`` has exited."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.returncode is not None:
            raise ProcError(f"{proc.name} exited (code {proc.returncode}) before {what}", proc)
        if time.monotonic() > deadline:
            raise ProcError(f"timed out after {timeout} s waiting for {what}", proc)
        time.sleep(0.02)


class ProcError(Exception):
    def __init__(self, message: str, proc: Proc | None = None) -> None:
        if proc is not None:
            message += f"\n--- output of {proc.name} (pid {proc.pid}) ---\n{proc.output()}"
        super().__init__(message)


@dataclass(eq=False)
class Proc:
    """One child process: its merged output is collected line by line by a reader thread."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _reader: threading.Thread | None = None

    @classmethod
    def spawn(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=None if env is None else {**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        proc = cls(name=name, argv=list(argv), popen=popen)
        proc._reader = threading.Thread(target=proc._read, name=f"reader-{name}", daemon=True)
        proc._reader.start()
        return proc

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._changed:
                self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                self._changed.notify_all()
        self.popen.wait()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait_for_line(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        """The first output line matching ``pattern`` (re.search), waiting up to ``timeout`` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match is not None:
                        return match
                seen = len(self.lines)
                if self.popen.poll() is not None and not (
                    self._reader is not None and self._reader.is_alive()
                ):
                    raise ProcError(
                        f"{self.name} exited (code {self.popen.returncode}) before printing a "
                        f"line matching {pattern!r}",
                        self,
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProcError(
                        f"{self.name} printed no line matching {pattern!r} within {timeout} s",
                        self,
                    )
                self._changed.wait(min(left, 0.1))

    def output(self) -> str:
        with self._changed:
            text = "\n".join(self.lines)
        if len(text) > MAX_OUTPUT_SHOWN:
            text = "...(truncated)...\n" + text[-MAX_OUTPUT_SHOWN:]
        return text

    def kill(self) -> None:
        """SIGKILL by PID, then reap."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM by PID; SIGKILL if it is still there after ``grace`` s. Idempotent."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._reader is not None:
            self._reader.join(1.0)


class ProcessGroup:
    """The children a test started; :meth:`stop_all` (fixture teardown) stops each by PID."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Proc:
        proc = Proc.spawn(name, argv, cwd=cwd, env=env)
        self.procs.append(proc)
        return proc

    def start_server(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: str = r"^ready (\d+)$",
        timeout: float = READY_TIMEOUT,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> tuple[Proc, re.Match[str]]:
        """Starts ``argv`` and waits for its readiness line (``ready``, a regex).

        Returns the process and the match, e.g. ``int(match.group(1))`` is the port of the
        cluster app contract's ``ready <port>`` line.
        """
        proc = self.spawn(name, argv, cwd=cwd, env=env)
        return proc, proc.wait_for_line(ready, timeout)

    def outputs(self) -> str:
        return "\n".join(
            f"--- {p.name} (pid {p.pid}, exit {p.returncode}) ---\n{p.output()}" for p in self.procs
        )

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except BaseException as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise errors[0]


# ------------------------------------------------------------------------------------ Redis

REDIS_HINT = "`make test` installs it (apt-get install redis-server)."


def redis_ping(port: int, timeout: float = 0.5) -> bool:
    """True if a Redis server on 127.0.0.1:``port`` answers PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1:``port``, no persistence, data in ``directory``.

    ``.url``, ``.port``, ``.pid`` (of the current process); ``.kill()`` SIGKILLs it and
    ``.start()`` starts it again on the same port (the fault tests do both); ``.stop()``
    SIGTERMs it (teardown).
    """

    def __init__(self, group: ProcessGroup, directory: Path, port: int | None = None) -> None:
        self.exe = require_executable("redis-server", REDIS_HINT)
        self.group = group
        self.directory = directory
        self.port = port if port is not None else free_port()
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "redis-server is not running"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            raise RuntimeError(f"redis-server already running (pid {self.pid})")
        self.starts += 1
        argv = [
            self.exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
            "--logfile",
            "",
            "--loglevel",
            "warning",
            "--protected-mode",
            "no",
        ]
        self.proc = self.group.spawn(f"redis-server#{self.starts}", argv)
        wait_until(
            f"redis-server on port {self.port} to answer PING", self._ping, timeout, self.proc
        )

    def _ping(self) -> bool:
        return redis_ping(self.port)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


# ---------------------------------------------------------------------------------- HAProxy

HAPROXY_HINT = "`make test` installs it (apt-get install haproxy)."


@dataclass
class HAProxy:
    """A running ``haproxy -f cfg -db``: ``.ports`` maps each allocated name to its port."""

    proc: Proc
    config: Path
    ports: dict[str, int]
    frontend: str

    @property
    def port(self) -> int:
        return self.ports[self.frontend]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.stop()


def start_haproxy(
    group: ProcessGroup,
    directory: Path,
    config: str | Path,
    *,
    ports: Sequence[str] = ("FRONTEND_PORT",),
    frontend: str = "FRONTEND_PORT",
    env: Mapping[str, str | int] | None = None,
    timeout: float = 10.0,
) -> HAProxy:
    """Runs HAProxy with ``config`` (its text, or a path) in the foreground.

    Placeholders are HAProxy's own environment variables, written ``"${NAME}"`` inside double
    quotes in the config (e.g. ``bind "127.0.0.1:${FRONTEND_PORT}"`` and
    ``server a "127.0.0.1:${SERVER_A_PORT}"``), so the same file also runs by hand. Each name
    in ``ports`` gets a free port of 127.0.0.1; ``env`` supplies the others (backend ports...).
    Waits until the ``frontend`` port accepts TCP connections. The config must not say
    ``daemon``.
    """
    exe = require_executable("haproxy", HAPROXY_HINT)
    text = config.read_text() if isinstance(config, Path) else config
    path = directory / "haproxy.cfg"
    path.write_text(text)
    allocated = {name: free_port() for name in ports}
    values = {k: str(v) for k, v in {**(env or {}), **allocated}.items()}
    check = subprocess.run(
        [exe, "-c", "-q", "-f", str(path)],
        env={**os.environ, **values},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check.returncode != 0:
        raise ProcError(f"haproxy -c refused the config:\n{check.stdout}{check.stderr}\n{text}")
    proc = group.spawn("haproxy", [exe, "-f", str(path), "-db"], env=values)
    port = int(values[frontend])
    wait_until(f"haproxy to accept on port {port}", lambda: port_accepts(port), timeout, proc)
    return HAProxy(proc=proc, config=path, ports={**allocated, frontend: port}, frontend=frontend)


# ------------------------------------------------------------------------ the cluster apps

HERE = Path(__file__).resolve().parent
NODE_APP = HERE / "node_app.mjs"
MINISOCK_APP = HERE / "minisock_app.py"
SCENARIOS = HERE / "scenarios.mjs"
# The npm packages node_app.mjs and scenarios.mjs load (from tests/js/node_modules).
NPM_PACKAGES = (
    "socket.io",
    "socket.io-client",
    "@socket.io/redis-adapter",
    "@socket.io/redis-emitter",
    "redis",
)
# Short, so that the "no server answers" scenarios do not take the default 5 s.
REQUESTS_TIMEOUT_MS = 2000


@dataclass
class ClusterApp:
    """A running server of the cluster app contract (README.md)."""

    impl: str
    name: str
    port: int
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.stop()

    def kill(self) -> None:
        self.proc.kill()


def contract_args(redis_url: str, name: str, key: str, port: int = 0) -> list[str]:
    """The command-line arguments every implementation of the contract takes."""
    return [
        "--port",
        str(port),
        "--redis",
        redis_url,
        "--name",
        name,
        "--key",
        key,
        "--requests-timeout",
        str(REQUESTS_TIMEOUT_MS),
    ]


def node_argv(redis_url: str, name: str, key: str, port: int = 0) -> list[str]:
    node = require_executable("node", "install Node.js (>= 18), then `make test`.")
    return [node, str(NODE_APP), *contract_args(redis_url, name, key, port)]


def minisock_argv(redis_url: str, name: str, key: str, port: int = 0) -> list[str]:
    return [sys.executable, str(MINISOCK_APP), *contract_args(redis_url, name, key, port)]


AppArgv = Callable[[str, str, str, int], list[str]]

# Implementation name -> its command line. Adding an implementation is one line here (and its
# pairs in test_mixed_cluster.py's PAIRS).
IMPLEMENTATIONS: dict[str, AppArgv] = {
    "node": node_argv,
    "minisock": minisock_argv,
}


def start_app(
    group: ProcessGroup,
    impl: str,
    name: str,
    redis_url: str,
    *,
    key: str = "socket.io",
    port: int = 0,
    timeout: float = READY_TIMEOUT,
) -> ClusterApp:
    """Starts implementation ``impl`` of the contract and waits for its ``ready <port>`` line."""
    argv = IMPLEMENTATIONS[impl](redis_url, name, key, port)
    proc, match = group.start_server(f"{impl}:{name}", argv, timeout=timeout)
    return ClusterApp(impl=impl, name=name, port=int(match.group(1)), proc=proc)
