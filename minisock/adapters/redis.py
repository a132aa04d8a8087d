"""The Redis adapter: many minisock (and Node socket.io) processes as one cluster.

It speaks the wire protocol of Node's ``@socket.io/redis-adapter`` 8.x (the classic pub/sub
adapter), so minisock and Node servers can share one Redis and one set of rooms::

    from minisock.adapters.redis import RedisBus
    sio = Server(adapter=RedisBus("redis://127.0.0.1:6379"))

One :class:`RedisBus` per server: one subscriber connection for every namespace, and one
publisher task that sends whatever is queued as a pipelined batch. Each namespace gets a
:class:`RedisAdapter`, which does this server's share with the in-memory adapter it builds
on and talks to the other servers through the bus. The message formats are pure code in
:mod:`minisock.proto.cluster`.

Redis pub/sub is at-most-once: what a server misses while it is cut off from Redis is lost.
While Redis is down, local delivery keeps working, publishes are dropped (and counted in the
log), and cluster queries fail at once with :class:`~minisock.errors.ClusterError`. The bus
reconnects and subscribes again by itself, and logs how long the gap was.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import coredis
import trio

from minisock._timers import TimerHeap
from minisock.adapters import AckCallbacks, BroadcastOptions
from minisock.adapters.emitter import Emitter
from minisock.adapters.local import LocalAdapter
from minisock.errors import AckTimeoutError, ClusterError
from minisock.proto.cluster import (
    Channels,
    ClusterEncodeError,
    ClusterLimits,
    ClusterMessageError,
    ClusterRequest,
    ClusterResponse,
    RequestType,
    SocketDetails,
    decode_broadcast,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_request,
    encode_response,
)
from minisock.proto.cluster_requests import PendingRequest, PendingRequests
from minisock.proto.sio import SioPacket
from minisock.remote_socket import RemoteSocket

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.socket import Socket

__all__ = ["Emitter", "RedisAdapter", "RedisBus"]

log = logging.getLogger("minisock.redis")


def new_uid() -> str:
    """Six characters, like the reference's ``uid2(6)``."""
    return secrets.token_urlsafe(5)[:6]


class RedisBus:
    """One server's connection to the cluster; pass it as ``Server(adapter=...)``.

    ``request_timeout`` bounds every cluster query (the reference's ``requestsTimeout``,
    5 s). ``max_queued_publishes`` bounds what waits for the publisher; beyond it, and while
    Redis is down, publishes are dropped. ``max_request_tasks`` bounds the requests from
    other servers being handled at once (server-side handlers, disconnects).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        *,
        key: str = "socket.io",
        request_timeout: float = 5.0,
        publish_on_specific_response_channel: bool = False,
        max_queued_publishes: int = 10_000,
        max_request_tasks: int = 256,
        max_remote_ack_broadcasts: int = 10_000,
        reconnect_delays: tuple[float, float] = (0.1, 5.0),
        limits: ClusterLimits | None = None,
    ) -> None:
        self.url = url
        self.key = key
        self.uid = new_uid()
        self.request_timeout = request_timeout
        self.publish_on_specific_response_channel = publish_on_specific_response_channel
        self.max_queued_publishes = max_queued_publishes
        self.max_request_tasks = max_request_tasks
        self.max_remote_ack_broadcasts = max_remote_ack_broadcasts
        self.reconnect_delays = reconnect_delays
        self.limits = limits if limits is not None else ClusterLimits()
        self.adapters: dict[str, RedisAdapter] = {}
        """By namespace name."""
        self.connected = False
        self.dropped = 0
        """Publishes dropped because Redis was down or the queue was full."""
        self.dropped_requests = 0
        """Requests from other servers dropped because ``max_request_tasks`` were running."""
        self._client: coredis.Redis[bytes] | None = None
        self._pubsub: Any = None
        self._nursery: trio.Nursery | None = None
        self._queue: list[tuple[str, bytes]] = []
        self._queue_ready = trio.Event()
        self._request_tasks = 0
        self._ack_timers: TimerHeap[_AckWait] = TimerHeap(_AckWait.fire)
        self._by_pattern: dict[str, RedisAdapter] = {}
        self._by_channel: dict[str, Callable[[bytes], None]] = {}
        self._subscribing = trio.Lock()

    # ---------------------------------------------------------------- the adapter factory

    def __call__(self, namespace: Namespace) -> RedisAdapter:
        adapter = RedisAdapter(namespace, self)
        self.adapters[namespace.name] = adapter
        channels = adapter.channels
        self._by_pattern[channels.pattern] = adapter
        self._by_channel[channels.request] = adapter.on_request
        self._by_channel[channels.response] = adapter.on_response
        self._by_channel[channels.specific_response(self.uid)] = adapter.on_response
        self._resubscribe_soon(self._subscribe, adapter)  # a namespace made later
        return adapter

    def forget(self, adapter: RedisAdapter) -> None:
        """``adapter``'s namespace went (an empty child namespace cleaned up): stop
        listening to its channels, so that other servers stop counting this one there."""
        name = adapter.namespace.name
        if self.adapters.get(name) is not adapter:
            return
        del self.adapters[name]
        channels = adapter.channels
        del self._by_pattern[channels.pattern]
        for channel in (channels.request, channels.response, channels.specific_response(self.uid)):
            del self._by_channel[channel]
        adapter.fail_pending(ClusterError(f"the namespace {name} was closed"))
        self._resubscribe_soon(self._unsubscribe, adapter)

    def _resubscribe_soon(
        self, change: Callable[[RedisAdapter], Awaitable[None]], adapter: RedisAdapter
    ) -> None:
        """Subscribe or unsubscribe in the background; not while disconnected (the next
        connection subscribes to what is wanted then) nor while the bus is closing."""
        if self.connected and self._nursery is not None:
            try:
                self._nursery.start_soon(change, adapter)
            except RuntimeError:  # the nursery is closing: the connection goes with it
                log.debug("not changing subscriptions: the Redis bus is closing")

    # ---------------------------------------------------------------- connection

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, subscribe, then serve messages; reconnect for as long as the server runs.

        Reports started once Redis has confirmed the first subscriptions.
        """
        async with trio.open_nursery() as outer:
            outer.start_soon(self._ack_timers.run)
            await self._connect_forever(task_status)

    async def _connect_forever(self, task_status: trio.TaskStatus[None]) -> None:
        delay = self.reconnect_delays[0]
        lost_at: float | None = None  # when the connection was lost, while it is
        started = False
        while True:
            try:
                client: coredis.Redis[bytes] = coredis.Redis.from_url(
                    self.url, decode_responses=False
                )
                async with client:
                    pubsub = client.pubsub(ignore_subscribe_messages=True, retry_policy=None)
                    async with pubsub, trio.open_nursery() as nursery:
                        self._client, self._pubsub, self._nursery = client, pubsub, nursery
                        for adapter in list(self.adapters.values()):
                            await self._subscribe(adapter)
                        self.connected = True
                        if lost_at is not None and started:
                            log.warning(
                                "reconnected to Redis after %.1f s; what was published "
                                "meanwhile is lost (pub/sub is at-most-once)",
                                trio.current_time() - lost_at,
                            )
                        elif lost_at is not None:
                            log.info(
                                "reached Redis after %.1f s of retrying; serving now",
                                trio.current_time() - lost_at,
                            )
                        lost_at, delay = None, self.reconnect_delays[0]
                        if not started:
                            started = True
                            task_status.started()
                        nursery.start_soon(self._publish_batches, client)
                        async for message in pubsub:
                            self._dispatch(message)
            except BaseException as exc:
                if trio.current_effective_deadline() == -math.inf and not isinstance(
                    exc, trio.Cancelled
                ):
                    # The server is shutting down. coredis may raise errors of its own while
                    # it unwinds (anyio's ClosedResourceError from the UNSUBSCRIBE of a
                    # reconnected pubsub, beside the Cancelled): only the cancellation counts.
                    log.debug("ignored while closing the Redis bus: %r", exc)
                    await trio.lowlevel.checkpoint()  # raises Cancelled
                if not isinstance(exc, Exception):
                    raise
                if lost_at is None:  # log once per outage, not once per attempt
                    lost_at = trio.current_time()
                    what = "lost Redis" if started else "cannot reach Redis (not serving yet)"
                    if _is_connection_error(exc):
                        log.warning("%s at %s: %s", what, self.url, _first(exc))
                    else:
                        log.exception("the Redis bus failed; reconnecting")
            finally:
                self._disconnected()
            await trio.sleep(delay)
            delay = min(delay * 2, self.reconnect_delays[1])

    async def _subscribe(self, adapter: RedisAdapter) -> None:
        # Under the lock, and only if still wanted: a namespace can be made, closed and made
        # again faster than Redis answers, and the last change must win.
        async with self._subscribing:
            if self.adapters.get(adapter.namespace.name) is not adapter:
                return
            channels = adapter.channels
            await self._pubsub.psubscribe(channels.pattern)
            await self._pubsub.subscribe(
                channels.request, channels.response, channels.specific_response(self.uid)
            )

    async def _unsubscribe(self, adapter: RedisAdapter) -> None:
        async with self._subscribing:
            if adapter.namespace.name in self.adapters:
                return  # made again meanwhile: same channels, still wanted
            channels = adapter.channels
            await self._pubsub.punsubscribe(channels.pattern)
            await self._pubsub.unsubscribe(
                channels.request, channels.response, channels.specific_response(self.uid)
            )

    def _disconnected(self) -> None:
        self.connected = False
        self._client = self._pubsub = self._nursery = None
        if self._queue:
            self.dropped += len(self._queue)
            self._queue.clear()
        for adapter in self.adapters.values():
            adapter.fail_pending(ClusterError("lost the connection to Redis"))

    # ---------------------------------------------------------------- inbound

    def _dispatch(self, message: Mapping[str, Any]) -> None:
        """One message from Redis. Anyone who can publish can send anything: a malformed
        message is logged and dropped, and never reaches a handler."""
        try:
            channel = _text(message["channel"])
            data = message["data"]
            if not isinstance(data, bytes):
                return
            if len(data) > self.limits.max_message_bytes:
                raise ClusterMessageError(f"message of {len(data)} bytes is over the limit")
            if message["type"] == "pmessage":
                adapter = self._by_pattern.get(_text(message["pattern"]))
                if adapter is not None:
                    adapter.on_broadcast(channel, data)
            else:
                handler = self._by_channel.get(channel)
                if handler is not None:
                    handler(data)
        except ClusterMessageError as exc:
            log.warning("dropped a malformed message from Redis: %s", exc.message)
        except Exception:
            log.exception("dropped a message from Redis that could not be handled")

    def forget_later(self, seconds: float, forget: Callable[[], None]) -> None:
        """Call ``forget`` after ``seconds``, on one timer for every broadcast with acks that
        other servers asked of this one (no task each); beyond the bound, at once."""
        if len(self._ack_timers) >= self.max_remote_ack_broadcasts:
            log.warning("too many broadcasts awaiting acks for other servers; not waiting")
            forget()
            return
        wait = _AckWait(forget)
        self._ack_timers.schedule(wait, trio.current_time() + seconds)

    def spawn_request(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Handle a request from another server in a task of its own, within a bound."""
        if self._nursery is None:
            return
        if self._request_tasks >= self.max_request_tasks:
            # Counted, and logged now and then: a flood must not become a flood of log lines.
            self.dropped_requests += 1
            if self.dropped_requests == 1 or self.dropped_requests % 1000 == 0:
                log.warning(
                    "dropped a cluster request (%d so far): %d already running",
                    self.dropped_requests,
                    self._request_tasks,
                )
            return
        self._request_tasks += 1
        self._nursery.start_soon(self._run_request, fn, *args)

    async def _run_request(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await fn(*args)
        except Exception:
            log.exception("a request from another server failed")
        finally:
            self._request_tasks -= 1

    # ---------------------------------------------------------------- outbound

    def publish_nowait(self, channel: str, data: bytes) -> None:
        """Queue one publish for the batching publisher; dropped while Redis is down."""
        if not self.connected or len(self._queue) >= self.max_queued_publishes:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("dropped %d publish(es): Redis is down or behind", self.dropped)
            return
        self._queue.append((channel, data))
        self._queue_ready.set()

    async def _publish_batches(self, client: coredis.Redis[bytes]) -> None:
        while True:
            await self._queue_ready.wait()
            self._queue_ready = trio.Event()
            batch, self._queue = self._queue, []
            if len(batch) == 1:
                await client.publish(*batch[0])
                continue
            async with client.pipeline(transaction=False) as pipe:
                for channel, data in batch:
                    pipe.publish(channel, data)

    async def numsub(self, channel: str) -> int:
        """How many servers listen on ``channel`` (``PUBSUB NUMSUB``)."""
        client = self._client
        if not self.connected or client is None:
            raise ClusterError("Redis is unreachable: cluster queries fail while it is down")
        with trio.move_on_after(self.request_timeout):
            try:
                counts = await client.pubsub_numsub(channel)
            except Exception as exc:
                # Redis went away meanwhile: coredis raises its own errors (ConnectionError,
                # or RuntimeError once the bus has closed the client); callers get ours.
                raise ClusterError(f"Redis is unreachable: {exc}") from exc
            return int(next(iter(counts.values()), 0))
        raise ClusterError("Redis did not answer PUBSUB NUMSUB in time")


def _is_connection_error(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_connection_error(inner) for inner in error.exceptions)
    return isinstance(error, OSError | coredis.exceptions.ConnectionError | TimeoutError)


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


class RedisAdapter(LocalAdapter):
    """One namespace on the cluster: this server's sockets, and messages to the others."""

    __slots__ = ("_ack_requests", "_failed", "_waiters", "bus", "channels", "pending")

    def __init__(self, namespace: Namespace, bus: RedisBus) -> None:
        super().__init__(namespace)
        self.bus = bus
        self.channels = Channels(bus.key, namespace.name)
        self.pending = PendingRequests()
        self._waiters: dict[str, trio.Event] = {}
        self._failed: dict[str, ClusterError] = {}
        self._ack_requests: dict[str, AckCallbacks] = {}

    # ---------------------------------------------------------------- to every server

    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None:
        if not opts.local:
            # Encoded before anything is delivered: a payload Node cannot take fails whole.
            data = encode_broadcast(
                self.bus.uid, packet, opts.rooms, opts.except_rooms, _flags(opts)
            )
            self.bus.publish_nowait(self.channels.broadcast_channel(opts.rooms), data)
        await super().broadcast(packet, opts)

    async def broadcast_with_ack(
        self, packet: SioPacket, opts: BroadcastOptions, callbacks: AckCallbacks
    ) -> Callable[[], None]:
        if opts.local:
            return await super().broadcast_with_ack(packet, opts, callbacks)
        if not self.bus.connected:
            # The caller could only fail later (the server count needs Redis): fail before
            # asking any client a question whose answer nobody would wait for.
            raise ClusterError("Redis is unreachable: cluster queries fail while it is down")
        request_id = new_uid()
        request = ClusterRequest(
            type=RequestType.BROADCAST,
            uid=self.bus.uid,
            request_id=request_id,
            rooms=opts.rooms,
            except_rooms=opts.except_rooms,
            has_opts=True,
            packet=packet,
            flags=_flags(opts),
        )
        self._publish_request(request)
        self._ack_requests[request_id] = callbacks
        forget_local = await super().broadcast_with_ack(packet, opts, callbacks)

        def forget() -> None:
            self._ack_requests.pop(request_id, None)
            forget_local()

        return forget

    async def server_count(self) -> int:
        return await self.bus.numsub(self.channels.request)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocket]:
        found: list[Socket | RemoteSocket] = list(self.local_targets(opts))
        if opts.local:
            await trio.lowlevel.checkpoint()
            return found
        request = ClusterRequest(
            type=RequestType.REMOTE_FETCH,
            uid=self.bus.uid,
            request_id=new_uid(),
            rooms=opts.rooms,
            except_rooms=opts.except_rooms,
            has_opts=True,
        )
        pending = await self._ask(request)
        if pending is None:
            return found
        if not pending.complete:
            raise ClusterError("timeout reached while waiting for fetchSockets response")
        return found + [self._remote(details) for details in pending.sockets]

    async def sids(self, opts: BroadcastOptions) -> set[str]:
        return {socket.id for socket in await self.fetch_sockets(opts)}

    async def has_members(self, opts: BroadcastOptions) -> bool:
        """Answered here when a local socket matches; otherwise the cluster is asked."""
        here = self.has_local_members(opts)
        if here or opts.local:
            await trio.lowlevel.checkpoint()
            return here
        return bool(await self.fetch_sockets(opts))

    async def all_rooms(self) -> set[str]:
        rooms = set(self.registry.rooms())
        request = ClusterRequest(type=RequestType.ALL_ROOMS, uid=self.bus.uid, request_id=new_uid())
        pending = await self._ask(request, initial=rooms)
        if pending is None:
            return rooms
        if not pending.complete:
            raise ClusterError("timeout reached while waiting for allRooms response")
        return pending.rooms

    # Each acts on this server's sockets now, exactly as the in-memory adapter does, and
    # tells the others (no answer is awaited, as in the reference). Our own request comes
    # back from Redis and is ignored then.

    async def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        self._tell_others(RequestType.REMOTE_JOIN, opts, rooms=rooms)
        await super().add_sockets(opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        self._tell_others(RequestType.REMOTE_LEAVE, opts, rooms=rooms)
        await super().del_sockets(opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        self._tell_others(RequestType.REMOTE_DISCONNECT, opts, close=close)
        await super().disconnect_sockets(opts, close)

    def _tell_others(
        self,
        kind: RequestType,
        opts: BroadcastOptions,
        *,
        rooms: list[str] | None = None,
        close: bool = False,
    ) -> None:
        if opts.local:
            return
        request = ClusterRequest(
            type=kind,
            uid=self.bus.uid,
            rooms=opts.rooms,
            except_rooms=opts.except_rooms,
            has_opts=True,
            target_rooms=tuple(rooms or ()),
            close=close,
        )
        self._publish_request(request)

    def _apply_locally(
        self, kind: RequestType, opts: BroadcastOptions, rooms: tuple[str, ...], close: bool
    ) -> None:
        """Another server's join, leave or disconnect request, applied synchronously, so a
        join followed by a broadcast from the same sender is applied in the order Redis
        delivered them. A join beyond this server's room bounds is logged, not raised."""
        if kind is RequestType.REMOTE_JOIN:
            for socket in self.local_targets(opts):
                _join_within_limits(socket, rooms)
        elif kind is RequestType.REMOTE_LEAVE:
            self.del_local(opts, list(rooms))
        else:
            self.disconnect_local(opts, close)

    async def server_side_emit(self, data: list[Any]) -> None:
        request = ClusterRequest(type=RequestType.SERVER_SIDE_EMIT, uid=self.bus.uid, data=data)
        self._publish_request(request)
        await trio.lowlevel.checkpoint()

    async def server_side_call(self, data: list[Any], timeout: float | None) -> list[Any]:
        request = ClusterRequest(
            type=RequestType.SERVER_SIDE_EMIT, uid=self.bus.uid, request_id=new_uid(), data=data
        )
        pending = await self._ask(request, timeout=timeout)
        if pending is None:
            return []
        if not pending.complete:
            raise AckTimeoutError(
                f"timeout reached: only {len(pending.responses)} responses received out of "
                f"{pending.expected}",
                pending.responses,
            )
        return pending.responses

    # ---------------------------------------------------------------- asking and answering

    def _publish_request(self, request: ClusterRequest) -> None:
        self.bus.publish_nowait(self.channels.request, encode_request(request))

    def _publish_response(self, request: ClusterRequest, response: ClusterResponse) -> None:
        channel = self.channels.response
        if self.bus.publish_on_specific_response_channel and request.uid:
            channel = self.channels.specific_response(request.uid)
        self.bus.publish_nowait(channel, encode_response(response))

    async def _ask(
        self,
        request: ClusterRequest,
        *,
        timeout: float | None = None,
        initial: Iterable[Any] = (),
    ) -> PendingRequest | None:
        """Publish ``request``; wait for every other server's answer, or the timeout.

        ``None`` when no other server is there. Otherwise the pending request, complete or
        not: the caller decides what a timeout means for its operation.
        """
        request_id = request.request_id
        assert request_id is not None
        expected = await self.bus.numsub(self.channels.request) - 1
        if expected <= 0:
            return None
        deadline = trio.current_time() + (self.bus.request_timeout if timeout is None else timeout)
        pending = self.pending.add(request_id, request.type, expected, deadline, initial)
        done = self._waiters[request_id] = trio.Event()
        try:
            self._publish_request(request)
            with trio.move_on_at(deadline):
                await done.wait()
        finally:
            del self._waiters[request_id]
            self.pending.cancel(request_id)
            self.pending.expire(trio.current_time())  # prunes the deadlines of finished ones
            error = self._failed.pop(request_id, None)
        if error is not None:
            raise error
        return pending

    def close(self) -> None:
        """The namespace went: unsubscribe from its channels."""
        self.bus.forget(self)

    def fail_pending(self, error: ClusterError) -> None:
        """Redis went away: the queries waiting on it fail now rather than time out."""
        for request_id, event in self._waiters.items():
            self._failed[request_id] = error
            event.set()

    def on_response(self, data: bytes) -> None:
        response = decode_response(data, self.bus.limits)
        callbacks = self._ack_requests.get(response.request_id)
        if callbacks is not None:
            if response.type is RequestType.BROADCAST_CLIENT_COUNT:
                callbacks.client_count(response.client_count or 0)
            elif response.type is RequestType.BROADCAST_ACK:
                callbacks.ack(response.packet)
            return
        if self.pending.feed(response) is not None:
            self._waiters[response.request_id].set()

    def on_broadcast(self, channel: str, data: bytes) -> None:
        room = self.channels.room_of(channel)
        if room is None or (room and self.recovery is None and not self.registry.has_members(room)):
            # Not ours, or a room with no member here: not even decoded. With recovery on,
            # every event is logged here, for the sockets that may come back to this server.
            return
        message = decode_broadcast(data, self.bus.limits)
        if message.uid == self.bus.uid or message.packet.nsp != self.namespace.name:
            return
        volatile = message.flags.get("volatile") is True
        compress = message.flags.get("compress") is not False
        opts = BroadcastOptions(
            message.rooms, message.except_rooms, volatile=volatile, compress=compress
        )
        self.deliver(message.packet, opts)

    def on_request(self, data: bytes) -> None:
        request = decode_request(data, self.bus.limits)
        kind = request.type
        own = request.uid == self.bus.uid
        if kind in (
            RequestType.REMOTE_JOIN,
            RequestType.REMOTE_LEAVE,
            RequestType.REMOTE_DISCONNECT,
        ):
            if not request.has_opts:
                self._apply_to_one(request)
            elif not own:
                opts = BroadcastOptions(request.rooms, request.except_rooms)
                self._apply_locally(kind, opts, request.target_rooms, request.close)
        elif kind is RequestType.REMOTE_FETCH:
            if not own:
                self._answer_fetch(request)
        elif kind is RequestType.SOCKETS:
            if not own:
                sids = self.registry.select(request.rooms, ())
                self._publish_response(
                    request, ClusterResponse(type=None, request_id=_rid(request), sids=sorted(sids))
                )
        elif kind is RequestType.ALL_ROOMS:
            if not own:
                rooms = sorted(self.registry.rooms())
                self._publish_response(
                    request, ClusterResponse(type=None, request_id=_rid(request), rooms=rooms)
                )
        elif kind is RequestType.SERVER_SIDE_EMIT:
            if not own:
                self.bus.spawn_request(self._answer_server_side, request)
        elif kind is RequestType.BROADCAST and request.request_id not in self._ack_requests:
            self._answer_broadcast(request)

    def _apply_to_one(self, request: ClusterRequest) -> None:
        """The legacy single-socket forms: act on ``sid`` if it is here, then answer."""
        socket = self.namespace.sockets.get(request.sid or "")
        if socket is None:
            return
        if request.type is RequestType.REMOTE_JOIN:
            _join_within_limits(socket, (request.room or "",))
        elif request.type is RequestType.REMOTE_LEAVE:
            socket.leave(request.room or "")
        else:
            socket.disconnect_nowait(request.close)
        self._publish_response(request, ClusterResponse(type=None, request_id=_rid(request)))

    def _answer_fetch(self, request: ClusterRequest) -> None:
        opts = BroadcastOptions(request.rooms, request.except_rooms)
        sockets = [
            SocketDetails(s.id, s.handshake, sorted(s.rooms), s.data)
            for s in self.local_targets(opts)
        ]
        response = ClusterResponse(type=None, request_id=_rid(request), sockets=sockets)
        try:
            self._publish_response(request, response)
        except (ClusterEncodeError, TypeError, ValueError) as exc:
            log.warning("fetchSockets: socket.data cannot be sent (%s); sent without it", exc)
            for details in sockets:
                details.data = None
            self._publish_response(request, response)

    async def _answer_server_side(self, request: ClusterRequest) -> None:
        answered, value = await self.namespace.run_server_side(list(request.data or ()))
        if request.request_id is None or not answered:
            return
        response = ClusterResponse(
            type=RequestType.SERVER_SIDE_EMIT, request_id=request.request_id, data=value
        )
        # The reference answers on the common response channel, whatever the option says.
        self.bus.publish_nowait(self.channels.response, encode_response(response))

    def _answer_broadcast(self, request: ClusterRequest) -> None:
        assert request.packet is not None
        request_id = _rid(request)

        def client_count(count: int) -> None:
            response = ClusterResponse(
                type=RequestType.BROADCAST_CLIENT_COUNT, request_id=request_id, client_count=count
            )
            self._publish_response(request, response)

        def ack(value: Any) -> None:
            response = ClusterResponse(
                type=RequestType.BROADCAST_ACK, request_id=request_id, packet=value
            )
            try:
                self._publish_response(request, response)
            except (ClusterEncodeError, TypeError, ValueError) as exc:
                log.warning("a client's ack cannot be sent to the asking server: %s", exc)

        opts = BroadcastOptions(request.rooms, request.except_rooms)
        forget = self.deliver_with_ack(request.packet, opts, AckCallbacks(client_count, ack))
        # The asking server stops listening after its timeout; so do we.
        timeout = request.flags.get("timeout")
        seconds = timeout / 1000 if isinstance(timeout, int | float) else self.bus.request_timeout
        if math.isnan(seconds):  # msgpack can carry NaN; trio.sleep refuses it
            seconds = self.bus.request_timeout
        self.bus.forget_later(min(max(seconds, 0.0), 3600.0), forget)

    def _remote(self, details: SocketDetails) -> RemoteSocket:
        return RemoteSocket(
            self.namespace, details.id, details.handshake, frozenset(details.rooms), details.data
        )


class _AckWait:
    """A broadcast with acks asked by another server, until its timeout."""

    __slots__ = ("forget", "timer_at")

    def __init__(self, forget: Callable[[], None]) -> None:
        self.forget = forget
        self.timer_at = math.inf

    def fire(self, now: float) -> None:
        self.forget()


def _flags(opts: BroadcastOptions) -> dict[str, Any]:
    """The reference's broadcast flags: ``timeout`` (in ms), ``volatile`` and ``compress``
    cross servers."""
    flags: dict[str, Any] = {"volatile": True} if opts.volatile else {}
    if not opts.compress:
        flags["compress"] = False
    if opts.timeout is not None and not math.isinf(opts.timeout):
        flags["timeout"] = round(opts.timeout * 1000)
    return flags


def _rid(request: ClusterRequest) -> str:
    if request.request_id is None:
        raise ClusterMessageError(f"request of type {int(request.type)} without a requestId")
    return request.request_id


def _join_within_limits(socket: Socket, rooms: tuple[str, ...]) -> None:
    """A remote join obeys this server's bounds on room names and counts, like a local one."""
    try:
        socket.join(*rooms)
    except ValueError as exc:
        log.warning("refused a remote join: %s", exc)
