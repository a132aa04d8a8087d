"""A server program run as a subprocess, stopped by a real signal, and the clients it had.

Shared by ``tests/integration/test_signals.py`` and ``test_asyncio_embedding.py``: start an
example (or the Node reference server) on a free port, connect real clients, send SIGINT or
SIGTERM by PID, and collect what everyone saw. Importable as ``_server_process`` because
``tests/`` is on ``sys.path`` (as for ``_node``).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _node

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CLIENTS = _node.JS_DIR / "shutdown_clients.mjs"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


class ServerProcess:
    """A server subprocess whose stderr is collected line by line (and never blocks it)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_port(self) -> int:
        """The port from the ``listening on port N`` line (minisock's, and the reference's),
        or from the bench server's startup line."""
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while True:
                for line in self.lines:
                    if match := re.search(
                        r"listening on port (\d+)|bench server on http://127\.0\.0\.1:(\d+)/", line
                    ):
                        return int(match.group(1) or match.group(2))
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"the server did not start:\n{self.stderr}")
                self._changed.wait(min(left, 0.2))

    def signal(self, signum: signal.Signals) -> None:
        os.kill(self.popen.pid, signum)

    def wait(self) -> int:
        """The exit code; kills the process (and fails) if it does not end in time."""
        try:
            code = self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not stop:\n{self.stderr}") from None
        self._reader.join(5.0)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def python_example(script: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / script), "--port", "0", *args]


class NodeClients:
    """``shutdown_clients.mjs``: a websocket and a long-polling client that wait for the end."""

    def __init__(self, url: str, *, kind: str = "sio", login: bool = False) -> None:
        node = _node.require_node("socket.io-client", "engine.io-client")
        config = json.dumps({"url": url, "kind": kind, "login": login})
        self.popen = subprocess.Popen(
            [node, str(CLIENTS), config],
            cwd=_node.JS_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if json.loads(line or "{}") != {"ready": True}:
            self.popen.kill()
            _, err = self.popen.communicate()
            raise AssertionError(f"the clients did not connect: {line!r}\n{err}")

    def endings(self) -> dict[str, Any]:
        """How each client ended: ``{"websocket": {...}, "polling": {...}}``."""
        try:
            out, err = self.popen.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            out, err = self.popen.communicate()
        assert self.popen.returncode == 0, (
            f"clients failed ({self.popen.returncode}):\n{out}\n{err}"
        )
        result: dict[str, Any] = json.loads(out.splitlines()[-1])
        return result

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.communicate()


class PendingPoll:
    """A raw Engine.IO long-polling session whose next GET waits in a thread for the server."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.port, self.path, self.headers = port, path, headers or {}
        body = self._get(f"{path}?EIO=4&transport=polling")
        assert body.startswith("0{"), body
        self.eio_sid = json.loads(body[1:])["sid"]
        self.answer: str | None = None
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _get(self, target: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=STOP_TIMEOUT)
        try:
            connection.request("GET", target, headers=self.headers)
            response = connection.getresponse()
            return f"{response.read().decode()}" if response.status == 200 else f"{response.status}"
        finally:
            connection.close()

    def _wait(self) -> None:
        self.answer = self._get(f"{self.path}?EIO=4&transport=polling&sid={self.eio_sid}")

    def result(self) -> str | None:
        self._thread.join(STOP_TIMEOUT)
        return self.answer


def login_token(port: int) -> str:
    """A token from the JWT demo's ``POST /login``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STOP_TIMEOUT)
    try:
        body = json.dumps({"username": "john", "password": "changeit"})
        connection.request("POST", "/login", body, {"Content-Type": "application/json"})
        token: str = json.loads(connection.getresponse().read())["token"]
        return token
    finally:
        connection.close()
