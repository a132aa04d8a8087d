"""Broadcast operators: ``server.to("room").except_("other").emit(...)``.

An operator is an immutable selection of sockets in one namespace, on every server of the
cluster (or this one only, with :attr:`BroadcastOperator.local`). Each ``to``/``except_``/
``timeout`` returns a new one, so a selection can be kept and reused.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from minisock.adapters import AckCallbacks, BroadcastOptions
from minisock.errors import AckTimeoutError
from minisock.proto.ack_collector import AckCollector
from minisock.proto.sio import SioPacket, SioPacketType, check_event_name

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.remote_socket import RemoteSocket
    from minisock.socket import Socket

__all__ = ["BroadcastOperator"]


class BroadcastOperator:
    """Sockets of a namespace chosen by rooms, to emit to or act on."""

    __slots__ = ("_namespace", "_opts", "_single")

    def __init__(
        self, namespace: Namespace, opts: BroadcastOptions | None = None, *, single: bool = False
    ) -> None:
        self._namespace = namespace
        self._opts = opts if opts is not None else BroadcastOptions()
        self._single = single  # one socket (a RemoteSocket): call() returns its one answer

    def _with(self, **changes: Any) -> BroadcastOperator:
        opts = dataclasses.replace(self._opts, **changes)
        return BroadcastOperator(self._namespace, opts, single=self._single)

    def to(self, *rooms: str) -> BroadcastOperator:
        """Also target the members of ``rooms``."""
        return self._with(rooms=self._opts.rooms | frozenset(rooms))

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        """Leave out the members of ``rooms``."""
        return self._with(except_rooms=self._opts.except_rooms | frozenset(rooms))

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this server: ``sio.local.emit(...)`` does not cross Redis."""
        return self._with(local=True)

    @property
    def volatile(self) -> BroadcastOperator:
        """Each selected socket whose transport is not writable misses the packet (Node's
        ``io.volatile``); counted in ``server.stats.volatile_dropped``."""
        return self._with(volatile=True)

    def compress(self, compress: bool) -> BroadcastOperator:
        """``compress(False)``: send this packet uncompressed, whatever its size (Node's
        ``io.compress(false)``); it matters only with permessage-deflate or HTTP compression."""
        return self._with(compress=compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Bound :meth:`call`: after ``seconds`` it raises :class:`AckTimeoutError`."""
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError("a timeout is a finite number of seconds")
        return self._with(timeout=seconds)

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every selected socket. Never waits on a slow one: a socket whose
        queue is full is disconnected instead."""
        await self._namespace.adapter.broadcast(self._packet(event, args), self._opts)

    async def call(self, event: str, *args: Any) -> Any:
        """Emit and gather every selected socket's acknowledgement (its first argument).

        Needs :meth:`timeout`. Returns the answers once every server has said how many
        sockets it asked and each of them answered; after the timeout, raises
        :class:`AckTimeoutError` carrying the answers that did come. This is
        ``io.timeout(ms).emitWithAck(...)`` in the reference.
        """
        timeout = self._opts.timeout
        if timeout is None:
            raise ValueError("a broadcast call() needs a timeout: sio.timeout(5).call(...)")
        packet = self._packet(event, args)
        adapter = self._namespace.adapter
        collector = AckCollector(deadline=trio.current_time() + timeout)
        done = trio.Event()

        def settle(finished: bool) -> None:
            if finished:
                done.set()

        callbacks = AckCallbacks(
            client_count=lambda count: settle(collector.add_server(count)),
            ack=lambda value: settle(collector.add_response(value)),
        )
        forget: Callable[[], None] | None = None
        try:
            with trio.move_on_at(collector.deadline):
                forget = await adapter.broadcast_with_ack(packet, self._opts, callbacks)
                servers = 1 if self._opts.local else await adapter.server_count()
                settle(collector.set_expected_servers(servers))
                await done.wait()
        finally:
            if forget is not None:
                forget()  # the acks still awaited are not wanted any more
        responses = collector.responses
        if not collector.complete:
            collector.expire(trio.current_time())
            raise AckTimeoutError(responses=responses[:1] if self._single else responses)
        if self._single:
            return responses[0] if responses else None
        return responses

    def _packet(self, event: str, args: tuple[Any, ...]) -> SioPacket:
        check_event_name(event)
        return SioPacket(SioPacketType.EVENT, self._namespace.name, [event, *args])

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        """The selected sockets of every server: this server's as :class:`Socket`, the
        others' as :class:`~minisock.remote_socket.RemoteSocket`."""
        return await self._namespace.adapter.fetch_sockets(self._opts)

    async def sids(self) -> set[str]:
        """The Socket.IO ids of the selected sockets."""
        return await self._namespace.adapter.sids(self._opts)

    async def has_members(self) -> bool:
        """Whether any socket is selected: "is this user connected?" for ``to("user:1")``."""
        return await self._namespace.adapter.has_members(self._opts)

    async def sockets_join(self, *rooms: str) -> None:
        """The selected sockets, wherever they are, join ``rooms``."""
        await self._namespace.adapter.add_sockets(self._opts, list(rooms))

    async def sockets_leave(self, *rooms: str) -> None:
        await self._namespace.adapter.del_sockets(self._opts, list(rooms))

    async def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every selected socket; ``close`` also closes their Engine.IO sessions."""
        await self._namespace.adapter.disconnect_sockets(self._opts, close)
