"""Running a minisock server inside an asyncio program, on trio's guest mode.

minisock is trio code, and stays trio code here: ``trio.lowlevel.start_guest_run`` runs trio
*on* the program's asyncio loop, in the same thread, so handlers, timers and transports run
exactly as under ``trio.run``, and the asyncio program keeps its loop. The two worlds meet in
three places:

- :func:`serving` (asyncio side): starts the server, gives a :class:`Running`, and shuts the
  server down gracefully when its block ends, however it ends: normally, by an exception, or
  by cancellation (``asyncio.run`` cancels what is left when ``main`` returns). Cancelled
  again during that graceful part, it stops waiting, like a second Ctrl-C.
- :meth:`Running.run_in_trio` (asyncio side): ``await running.run_in_trio(sio.to("news").emit,
  "headline", text)`` runs trio code (an emit, say) and returns its result.
- :func:`run_in_asyncio` (trio side, in a handler): ``await run_in_asyncio(store.get, key)``
  runs an asyncio coroutine function as a task of the loop and returns its result.

Signals: by default the server also stops on SIGINT and SIGTERM, exactly as with
:func:`minisock.run` (one log line, exit 0; a second signal hurries). Pass ``signals=()`` if
the asyncio program handles signals itself, and let cancellation stop the server.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from signal import Signals
from typing import Any, TypeVar

import outcome
import trio

from minisock.runner import STOP_SIGNALS, Serveable, serve_until_signal

__all__ = ["Running", "run_in_asyncio", "serving"]

log = logging.getLogger("minisock.asyncio")

T = TypeVar("T")


class Running:
    """A server running in trio guest mode on the current asyncio loop (see :func:`serving`)."""

    def __init__(self, server: Serveable, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.port = 0
        """The bound port (useful with port 0)."""
        self._loop = loop
        self._started: asyncio.Future[None] = loop.create_future()
        self._done: asyncio.Future[None] = loop.create_future()
        """Set when the trio run is over: its exception, if it ended with one."""
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_requested = False

    async def run_in_trio(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the server's trio world and return its result.

        Cancelling the caller cancels the trio call. Raises :class:`RuntimeError` if the
        server stops before the call finishes.
        """
        result: asyncio.Future[T] = self._loop.create_future()
        scope = trio.CancelScope()

        async def call() -> None:
            try:
                with scope:
                    value = await fn(*args)
                    if not result.done():
                        result.set_result(value)
            except Exception as exc:
                if not result.done():
                    result.set_exception(exc)
            finally:
                if not result.done():
                    result.set_exception(RuntimeError("the minisock server stopped"))

        def start(nursery: trio.Nursery) -> None:
            try:
                nursery.start_soon(call)
            except RuntimeError:  # the nursery closed: the server has stopped
                if not result.done():
                    result.set_exception(RuntimeError("the minisock server stopped"))

        if self._nursery is None or not self._call_soon(start, self._nursery):
            raise RuntimeError("the minisock server is not running")
        try:
            return await result
        except asyncio.CancelledError:
            self._call_soon(scope.cancel)
            raise

    async def wait_stopped(self) -> None:
        """Wait until the server has stopped (a signal, or ``server.shutdown()`` in trio)."""
        await asyncio.shield(self._done)

    # ------------------------------------------------------------------ the guest run

    def _call_soon(self, fn: Callable[..., object], *args: Any) -> bool:
        """Schedule ``fn(*args)`` in trio; ``False`` if trio is not running (yet, or now)."""
        if self._token is None or self._done.done():
            return False
        try:
            self._token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            return False
        return True

    async def _main(
        self,
        host: str,
        port: int,
        signals: tuple[Signals, ...],
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery

            async def serve(*, task_status: trio.TaskStatus[int]) -> None:
                if signals:
                    await serve_until_signal(
                        self.server,
                        host,
                        port,
                        signals=signals,
                        ssl_context=ssl_context,
                        task_status=task_status,
                    )
                else:
                    await self.server.serve(
                        host, port, ssl_context=ssl_context, task_status=task_status
                    )
                nursery.cancel_scope.cancel()  # calls still running end with the server

            if self._stop_requested:  # cancelled before trio's first step
                self.server.shutdown()
            self.port = await nursery.start(serve)
            if not self._started.done():
                self._started.set_result(None)

    def _finished(self, result: outcome.Outcome[None]) -> None:
        if self._done.done():
            return
        if isinstance(result, outcome.Error):
            self._done.set_exception(result.error)
        else:
            self._done.set_result(None)

    async def _wait_started(self) -> None:
        either: set[asyncio.Future[Any]] = {self._started, self._done}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not self._started.done():
            self._done.result()  # the server could not start: raises its error
            raise RuntimeError("the minisock server stopped before it started")

    async def _stop(self) -> None:
        """Shut down gracefully and wait for trio to finish; each cancellation hurries it."""
        cancelled = False
        while not self._done.done():
            self._stop_requested = True
            self._call_soon(self.server.shutdown)
            try:
                await asyncio.shield(self._done)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        self._done.result()


@asynccontextmanager
async def serving(
    server: Serveable,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    signals: Iterable[Signals] = STOP_SIGNALS,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Running]:
    """Serve ``server`` on ``host:port`` in trio guest mode on the running asyncio loop.

    The block runs once the server listens; leaving it shuts the server down gracefully and
    waits for that. Must be used in the loop's thread (the main thread, if ``signals``).
    """
    loop = asyncio.get_running_loop()
    running = Running(server, loop)
    trio.lowlevel.start_guest_run(
        running._main,
        host,
        port,
        tuple(signals),
        ssl_context,
        run_sync_soon_threadsafe=loop.call_soon_threadsafe,
        run_sync_soon_not_threadsafe=loop.call_soon,
        done_callback=running._finished,
        host_uses_signal_set_wakeup_fd=True,
    )
    try:
        await running._wait_started()
        yield running
    finally:
        await running._stop()


async def run_in_asyncio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """From trio code run by :func:`serving`: ``await fn(*args)`` as an asyncio task.

    Cancelling the trio caller cancels the task. Raises :class:`RuntimeError` outside guest
    mode (there is no asyncio loop to run on) or if the task is cancelled by asyncio.
    """
    loop = asyncio.get_running_loop()  # in guest mode, trio steps run inside the loop
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    task = loop.create_task(_awaited(fn, *args))
    task.add_done_callback(wake)
    try:
        await done.wait()
    finally:
        if not task.done():
            task.cancel()
    if task.cancelled():
        raise RuntimeError("the asyncio task was cancelled")
    return task.result()


async def _awaited(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await fn(*args)
