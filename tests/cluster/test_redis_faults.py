"""The Redis adapter when Redis goes away: in-process minisock servers on a real redis-server
that the tests kill (SIGKILL) and start again on the same port, with real WebSocket clients.

- While Redis is down, local delivery keeps working, publishes are dropped (never replayed),
  and cluster queries fail at once with ClusterError rather than waiting for their timeout.
- A query in flight when Redis drops fails with ClusterError too.
- Once Redis is back, each bus reconnects and subscribes again by itself, logs the length of
  the gap, and cross-node broadcasts and queries work again.
- With Redis down at start, the server does not listen until Redis is up.

The reconnect backoff starts at 0.1 s and doubles up to 5 s, so the waits for recovery allow
for one full 5 s step.
"""

from __future__ import annotations

import logging
import re

import pytest
import trio

from minisock import ClusterError
from minisock.adapters.redis import RedisAdapter

from ._procs import RedisServer, port_accepts
from ._redis_helpers import (
    RawRedis,
    SioClient,
    build_node,
    redis_records,
    serving,
    wait_for,
)

pytestmark = pytest.mark.cluster

FAST = 1.0  # seconds: "at once", far below the request timeout
REQUEST_TIMEOUT = 10.0
RECOVERY = 12.0  # the backoff's longest step is 5 s
GAP_LOG = re.compile(r"reconnected to Redis after (\d+(?:\.\d+)?) s")
START_LOG = re.compile(r"reached Redis after (\d+(?:\.\d+)?) s of retrying")


async def kill(redis: RedisServer) -> None:
    await trio.to_thread.run_sync(redis.kill)


async def restart(redis: RedisServer) -> None:
    await trio.to_thread.run_sync(redis.start)


async def test_redis_down_local_works_queries_fail_fast_then_the_bus_recovers(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "minisock.redis")
    a = build_node("A", redis_server.url, request_timeout=REQUEST_TIMEOUT)
    b = build_node("B", redis_server.url, request_timeout=REQUEST_TIMEOUT)
    async with serving(a), serving(b):
        a1 = await SioClient.connect(a.port, {"name": "a1"})
        a2 = await SioClient.connect(a.port, {"name": "a2"})
        b1 = await SioClient.connect(b.port, {"name": "b1"})
        await a1.emit("shout", "before")
        for client in (a2, b1):
            assert (await client.next_event()).args == ["before"]

        await kill(redis_server)
        killed = trio.current_time()
        await wait_for("both buses to notice", lambda: not (a.bus.connected or b.bus.connected))
        assert "lost Redis at" in "\n".join(redis_records(caplog))

        # Local delivery goes on; the publish is dropped and counted.
        dropped = a.bus.dropped
        await a1.emit("shout", "while down")
        assert (await a2.next_event()).args == ["while down"]
        assert await a1.call("echo", "still answering") == "still answering"
        await wait_for("the dropped publish to be counted", lambda: a.bus.dropped > dropped)

        # Cluster queries fail at once, not after REQUEST_TIMEOUT.
        adapter = a.sio.sockets.adapter
        queries = {
            "fetch_sockets": a.sio.fetch_sockets,
            "server_side_call": lambda: a.sio.server_side_call("whoami"),
            "server_count": adapter.server_count,
            "all_rooms": adapter.all_rooms,
        }
        for what, query in queries.items():
            start = trio.current_time()
            with pytest.raises(ClusterError):
                await query()
            took = trio.current_time() - start
            assert took < FAST, f"{what} took {took:.2f} s to fail"

        down_for = 0.6
        await trio.sleep(max(0.0, down_for - (trio.current_time() - killed)))
        await restart(redis_server)
        took = await wait_for(
            "both buses to reconnect", lambda: a.bus.connected and b.bus.connected, RECOVERY
        )
        gap = trio.current_time() - killed

        # Each bus logged its gap, at least as long as Redis was away, at most the whole wait.
        gaps = [float(m.group(1)) for m in map(GAP_LOG.search, redis_records(caplog)) if m]
        assert len(gaps) == 2, redis_records(caplog)
        for logged in gaps:
            assert down_for - 0.1 <= logged <= gap + 0.1, (logged, down_for, gap, took)

        # Cross-node broadcasts and queries work again; nothing from the gap was replayed.
        await a1.emit("shout", "after")
        assert (await b1.next_event()).args == ["after"]
        assert (await a2.next_event()).args == ["after"]
        found = await a.sio.fetch_sockets()
        assert sorted(s.data["name"] for s in found) == ["a1", "a2", "b1"]
        assert await a.sio.server_side_call("whoami") == ["B"]
        assert await b.sio.sockets.adapter.server_count() == 2
        for client in (a1, a2, b1):
            await client.aclose()


async def test_a_query_in_flight_when_redis_drops_fails_with_cluster_error(
    redis_server: RedisServer,
) -> None:
    """A second subscriber that never answers keeps fetch_sockets waiting (NUMSUB counts it);
    then Redis dies: the waiting query fails at once, well before its timeout."""
    a = build_node("A", redis_server.url, request_timeout=REQUEST_TIMEOUT)
    mute = await RawRedis.open(redis_server.port)
    adapter = a.sio.sockets.adapter
    assert isinstance(adapter, RedisAdapter)
    channel = adapter.channels.request
    assert (await mute.command("SUBSCRIBE", channel))[0] == b"subscribe"
    async with serving(a):
        outcome: list[BaseException | None] = []
        failed_at: list[float] = []

        async def fetch() -> None:
            try:
                await a.sio.fetch_sockets()
                outcome.append(None)
            except Exception as exc:
                outcome.append(exc)
            failed_at.append(trio.current_time())

        async def call() -> None:
            try:
                await a.sio.server_side_call("whoami")
                outcome.append(None)
            except Exception as exc:
                outcome.append(exc)
            failed_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch)
            nursery.start_soon(call)
            await wait_for("both queries to wait", lambda: len(adapter.pending) == 2)
            await kill(redis_server)
            killed = trio.current_time()
        assert len(outcome) == 2
        for exc in outcome:
            assert isinstance(exc, ClusterError), repr(exc)
        assert max(failed_at) - killed < FAST
    await mute.aclose()


async def test_queries_raced_against_the_kill_fail_only_with_cluster_error(
    redis_server: RedisServer,
) -> None:
    """Queries started just before and after the kill, before the bus has noticed: each one
    answers or fails with ClusterError, fast, never with a Redis client's own exception."""
    a = build_node("A", redis_server.url, request_timeout=REQUEST_TIMEOUT)
    b = build_node("B", redis_server.url, request_timeout=REQUEST_TIMEOUT)
    async with serving(a), serving(b):
        outcomes: list[str] = []

        async def query(delay: float) -> None:
            await trio.sleep(delay)
            start = trio.current_time()
            try:
                await a.sio.fetch_sockets()
                outcomes.append("ok")
            except ClusterError:
                outcomes.append("ClusterError")
            except Exception as exc:
                outcomes.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
            assert trio.current_time() - start < FAST

        async with trio.open_nursery() as nursery:
            for i in range(40):
                nursery.start_soon(query, i * 0.005)
            await trio.sleep(0.05)
            await kill(redis_server)
        assert set(outcomes) <= {"ok", "ClusterError"}, outcomes
        assert "ClusterError" in outcomes


async def test_with_redis_down_at_start_the_server_listens_only_once_redis_is_up(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The bus keeps retrying with its backoff (logging the first failure once, as "cannot
    reach Redis (not serving yet)"), ``serve`` does not report started and the port does not
    accept; once Redis is up the bus subscribes, logs how long it retried, and the server
    listens."""
    caplog.set_level(logging.INFO, "minisock.redis")
    other = build_node("B", redis_server.url)
    await kill(redis_server)
    a = build_node("A", redis_server.url)
    listening: list[int] = []

    async def start(nursery: trio.Nursery) -> None:
        listening.append(await nursery.start(a.sio.serve, "127.0.0.1", 0))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(start, nursery)
        await trio.sleep(0.8)
        assert listening == []
        assert not a.bus.connected
        failures = [m for m in redis_records(caplog) if "cannot reach Redis" in m]
        assert len(failures) == 1, failures  # once per outage, not once per attempt
        await restart(redis_server)
        await wait_for("the server to listen", lambda: bool(listening), RECOVERY)
        assert a.bus.connected
        assert await trio.to_thread.run_sync(port_accepts, listening[0])
        assert any(START_LOG.search(m) for m in redis_records(caplog, logging.INFO))
        assert not any(GAP_LOG.search(m) for m in redis_records(caplog))
        a.port = listening[0]
        async with serving(other):
            a1 = await SioClient.connect(a.port, {"name": "a1"})
            b1 = await SioClient.connect(other.port, {"name": "b1"})
            await a1.emit("shout", "hello")
            assert (await b1.next_event()).args == ["hello"]
            await a1.aclose()
            await b1.aclose()
        a.sio.shutdown()


async def test_cancelling_a_server_that_waits_for_redis_ends_at_once(
    redis_server: RedisServer,
) -> None:
    """Ctrl-C while Redis is unreachable at start: nothing is serving yet, so there is
    nothing to shut down gracefully and the cancellation must not wait for Redis."""
    await kill(redis_server)
    node = build_node("A", redis_server.url)
    with trio.fail_after(5):  # a hang fails here instead of freezing the suite
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.sio.serve, "127.0.0.1", 0)
            await trio.sleep(0.5)
            assert not node.bus.connected
            started = trio.current_time()
            nursery.cancel_scope.cancel()
    assert trio.current_time() - started < 1.0
