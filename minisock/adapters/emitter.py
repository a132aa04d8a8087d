"""Emit into a cluster from a process that runs no server: a worker, a cron job.

Compatible with Node's ``@socket.io/redis-emitter``: the messages are those a server of the
cluster publishes, with the uid ``"emitter"``, so every server (minisock or Node) delivers
them to its own sockets::

    async with Emitter("redis://127.0.0.1:6379") as emitter:
        await emitter.to("user:1").emit("notification", {"text": "hi"})
        await emitter.of("/admin").server_side_emit("reload")

Nothing comes back: an emitter does not subscribe, so it counts as no server and cannot
wait for acknowledgements (neither can the reference's).
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Any

import coredis

from minisock.adapters import BroadcastOptions
from minisock.errors import ClusterError
from minisock.proto.cluster import (
    Channels,
    ClusterRequest,
    RequestType,
    encode_broadcast,
    encode_request,
)
from minisock.proto.sio import SioPacket, SioPacketType, check_event_name

__all__ = ["Emitter", "EmitterOperator"]

EMITTER_UID = "emitter"


class Emitter:
    """A connection to the cluster's Redis that only publishes. Use it with ``async with``."""

    def __init__(
        self, url: str = "redis://127.0.0.1:6379", *, key: str = "socket.io", nsp: str = "/"
    ) -> None:
        self.url = url
        self.channels = Channels(key, nsp)
        self._client: coredis.Redis[bytes] | None = None

    async def __aenter__(self) -> Emitter:
        client: coredis.Redis[bytes] = coredis.Redis.from_url(self.url, decode_responses=False)
        await client.__aenter__()
        self._client = client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(exc_type, exc, tb)

    def of(self, nsp: str) -> Emitter:
        """The same connection, for namespace ``nsp``."""
        other = Emitter(
            self.url, key=self.channels.key, nsp=nsp if nsp.startswith("/") else "/" + nsp
        )
        other._client = self._client
        return other

    @property
    def _all(self) -> EmitterOperator:
        return EmitterOperator(self, BroadcastOptions())

    def to(self, *rooms: str) -> EmitterOperator:
        return self._all.to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> EmitterOperator:
        return self._all.except_(*rooms)

    async def emit(self, event: str, *args: Any) -> None:
        await self._all.emit(event, *args)

    async def sockets_join(self, *rooms: str) -> None:
        await self._all.sockets_join(*rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        await self._all.sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._all.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to the servers' ``on_server_side`` handlers (no ack)."""
        check_event_name(event, server_side=True)
        request = ClusterRequest(
            type=RequestType.SERVER_SIDE_EMIT, uid=EMITTER_UID, data=[event, *args]
        )
        await self.publish(self.channels.request, encode_request(request))

    async def publish(self, channel: str, data: bytes) -> None:
        if self._client is None:
            raise ClusterError("the emitter is not connected: use it with `async with`")
        try:
            await self._client.publish(channel, data)
        except Exception as exc:
            # coredis raises its own errors (ConnectionError, RuntimeError once its pool has
            # closed); an emitter's caller gets one type for "Redis did not take it".
            raise ClusterError(f"cannot publish to Redis: {exc}") from exc


class EmitterOperator:
    """Sockets chosen by rooms, on every server of the cluster."""

    __slots__ = ("_emitter", "_opts")

    def __init__(self, emitter: Emitter, opts: BroadcastOptions) -> None:
        self._emitter = emitter
        self._opts = opts

    def to(self, *rooms: str) -> EmitterOperator:
        opts = dataclasses.replace(self._opts, rooms=self._opts.rooms | frozenset(rooms))
        return EmitterOperator(self._emitter, opts)

    in_ = to

    def except_(self, *rooms: str) -> EmitterOperator:
        opts = self._opts
        opts = dataclasses.replace(opts, except_rooms=opts.except_rooms | frozenset(rooms))
        return EmitterOperator(self._emitter, opts)

    async def emit(self, event: str, *args: Any) -> None:
        check_event_name(event)
        emitter, opts = self._emitter, self._opts
        packet = SioPacket(SioPacketType.EVENT, emitter.channels.nsp, [event, *args])
        data = encode_broadcast(EMITTER_UID, packet, opts.rooms, opts.except_rooms, {})
        await emitter.publish(emitter.channels.broadcast_channel(opts.rooms), data)

    async def sockets_join(self, *rooms: str) -> None:
        await self._request(RequestType.REMOTE_JOIN, rooms=rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        await self._request(RequestType.REMOTE_LEAVE, rooms=rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self._request(RequestType.REMOTE_DISCONNECT, close=close)

    async def _request(
        self, kind: RequestType, *, rooms: tuple[str, ...] = (), close: bool = False
    ) -> None:
        # The reference's emitter sends these with no uid.
        request = ClusterRequest(
            type=kind,
            uid=None,
            rooms=self._opts.rooms,
            except_rooms=self._opts.except_rooms,
            has_opts=True,
            target_rooms=rooms,
            close=close,
        )
        emitter = self._emitter
        await emitter.publish(emitter.channels.request, encode_request(request))
