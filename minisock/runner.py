"""Running a server until SIGINT or SIGTERM, then shutting it down gracefully.

Ctrl-C in a terminal sends SIGINT; systemd, Docker and Kubernetes stop a service with SIGTERM
and kill it a few seconds later. Left to trio, SIGINT becomes a ``KeyboardInterrupt`` that
leaves the process with a traceback and exit code 1, and SIGTERM kills the process before any
client is told. Here both signals mean the same thing, :meth:`EngineServer.shutdown`: every
WebSocket gets close 1001, every waiting poll is answered with the close packet, disconnect
handlers run, and the process exits 0. A second signal during that graceful part (bounded by
``shutdown_timeout``) calls ``shutdown()`` again, which closes what is still open at once.

    minisock.run(sio, "127.0.0.1", 3000)                      # a whole program
    await minisock.serve_until_signal(sio, "127.0.0.1", 3000)  # inside a trio program
"""

from __future__ import annotations

import logging
import signal
import ssl
from collections.abc import Iterable
from functools import partial
from typing import Protocol

import trio

__all__ = ["STOP_SIGNALS", "Serveable", "run", "serve_until_signal"]

log = logging.getLogger("minisock.runner")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a server: Ctrl-C, and what service managers send."""


class Serveable(Protocol):
    """What the runner needs of a server: :class:`Server` and :class:`EngineServer` both are."""

    async def serve(
        self,
        host: str = ...,
        port: int = ...,
        *,
        ssl_context: ssl.SSLContext | None = ...,
        task_status: trio.TaskStatus[int] = ...,
    ) -> None: ...

    def shutdown(self) -> None: ...


async def serve_until_signal(
    server: Serveable,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    signals: Iterable[signal.Signals] = STOP_SIGNALS,
    ssl_context: ssl.SSLContext | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> signal.Signals | None:
    """Serve on ``host:port`` until one of ``signals`` arrives, then shut down gracefully.

    Reports the bound port through ``task_status``, like ``server.serve``. Returns the signal
    that stopped the server, or ``None`` if something else did (``server.shutdown()``).
    With ``ssl_context`` it serves HTTPS and WSS (see ``EngineServer.serve``).
    Logs one line when the first signal arrives, and one more if a second one cuts the
    graceful part short. Must run in the main thread (where Python delivers signals).
    """
    received: signal.Signals | None = None
    listening = False
    # The receiver is open before the port is: a signal from then on is never lost to the
    # default action (death by SIGTERM, KeyboardInterrupt for SIGINT).
    with trio.open_signal_receiver(*signals) as incoming:
        async with trio.open_nursery() as nursery:

            async def serve(*, task_status: trio.TaskStatus[int]) -> None:
                await server.serve(host, port, ssl_context=ssl_context, task_status=task_status)
                nursery.cancel_scope.cancel()  # stopped: the watcher below has nothing to do

            async def watch() -> None:
                nonlocal received
                async for signum in incoming:
                    name = signal.Signals(signum).name
                    if received is not None:
                        log.warning("%s again: closing the remaining connections now", name)
                        server.shutdown()
                        return
                    received = signal.Signals(signum)
                    if not listening:
                        # Still starting (a cluster bus connecting): nothing to close yet.
                        log.info("%s: stopping before the server started", name)
                        nursery.cancel_scope.cancel()
                        return
                    log.info("%s: shutting down gracefully (%s again to hurry)", name, name)
                    server.shutdown()

            nursery.start_soon(watch)
            bound = await nursery.start(serve)
            listening = True
            task_status.started(bound)
    return received


def run(
    server: Serveable,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    signals: Iterable[signal.Signals] = STOP_SIGNALS,
    ssl_context: ssl.SSLContext | None = None,
) -> signal.Signals | None:
    """``trio.run`` of :func:`serve_until_signal`: a whole program that serves until stopped.

    Returns normally after a graceful shutdown, so the process exits 0.
    """
    return trio.run(
        partial(serve_until_signal, server, host, port, signals=signals, ssl_context=ssl_context)
    )
