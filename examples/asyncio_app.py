"""A Socket.IO server inside an asyncio program: minisock on trio's guest mode.

    python examples/asyncio_app.py --port 3000 [--interval 1.0]

The asyncio side owns two things a real program might: a news feed (a task that makes a
headline every ``--interval`` seconds) and a key-value store with asyncio methods. The
Socket.IO handlers stay trio code:

- ``subscribe`` (room): joins the room and acks ``true``; every headline goes to room
  ``news`` as the event ``headline``, emitted from the asyncio task through
  ``running.run_in_trio``;
- ``lookup`` (key): acks the store's value, read by ``run_in_asyncio`` from the trio handler;
- ``publish`` (text): a headline of the client's own, put on the asyncio feed's queue.

Ctrl-C or SIGTERM stops it gracefully (close 1001 to every WebSocket, waiting polls answered,
exit 0), as for the other examples.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging

from minisock import Server, Socket, trace
from minisock.asyncio import Running, run_in_asyncio, serving

log = logging.getLogger("asyncio_app")

NEWS_ROOM = "news"


class Store:
    """An asyncio key-value store: stands for a database driver with async methods."""

    def __init__(self) -> None:
        self._values = {"answer": 42, "greeting": "hello from asyncio"}
        self._lock = asyncio.Lock()

    async def get(self, key: str) -> object:
        async with self._lock:
            await asyncio.sleep(0)  # a real driver would do I/O here
            return self._values.get(key)


class Feed:
    """Headlines: one made every ``interval`` seconds, and those that clients publish."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)

    async def run(self, running: Running, sio: Server) -> None:
        for n in itertools.count(1):
            try:
                text = await asyncio.wait_for(self.queue.get(), self.interval)
            except TimeoutError:
                text = f"headline {n}"
            await running.run_in_trio(sio.to(NEWS_ROOM).emit, "headline", text)


def build_app(store: Store, feed: Feed) -> Server:
    sio = Server()

    @sio.on("subscribe")
    async def subscribe(socket: Socket, room: str) -> bool:
        socket.join(room)
        return True

    @sio.on("lookup")
    async def lookup(socket: Socket, key: str) -> object:
        return await run_in_asyncio(store.get, key)

    @sio.on("publish")
    async def publish(socket: Socket, text: str) -> bool:
        async def put() -> bool:
            try:
                feed.queue.put_nowait(str(text))
            except asyncio.QueueFull:
                return False
            return True

        return await run_in_asyncio(put)

    return sio


async def main(host: str, port: int, interval: float) -> None:
    store, feed = Store(), Feed(interval)
    sio = build_app(store, feed)
    async with serving(sio, host, port) as running:  # until Ctrl-C or SIGTERM
        log.info("Socket.IO in an asyncio program on http://%s:%d/socket.io/", host, running.port)
        news = asyncio.create_task(feed.run(running, sio))
        try:
            await running.wait_stopped()
        finally:
            news.cancel()
            await asyncio.gather(news, return_exceptions=True)  # cancelled, or the server stopped


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between headlines")
    parser.add_argument("--trace", action="store_true", help="print every packet (stderr)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.trace:
        trace.enable()
    asyncio.run(main(args.host, args.port, args.interval))


if __name__ == "__main__":
    cli()
