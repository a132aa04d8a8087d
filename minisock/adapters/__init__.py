"""Where broadcasts go: the seam between a namespace and the sockets of every server.

An adapter answers "who" (room memberships, kept locally and synchronously) and carries the
operations that may cross servers (broadcasts, queries, remote joins), which are async. A
broadcast carries the *unencoded* packet plus its target and excepted rooms; each server
encodes it once for its own sockets. That is the shape of the reference's adapters, so a
cluster adapter ships the same message between servers and delivers what it receives
through the same local path.

Two implementations: :class:`~minisock.adapters.local.LocalAdapter` (one process, the
default) and :class:`~minisock.adapters.redis.RedisAdapter` (many processes on Redis,
compatible with Node's ``@socket.io/redis-adapter``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from minisock.proto.eio import WirePacket
from minisock.proto.recovery import Claim, KeptSession, RecoveryStore
from minisock.proto.sio import SioPacket

if TYPE_CHECKING:
    from minisock.namespace import Namespace
    from minisock.remote_socket import RemoteSocket
    from minisock.socket import Socket

__all__ = [
    "AckCallbacks",
    "Adapter",
    "AdapterFactory",
    "BroadcastOptions",
    "RoomListener",
    "cluster_adapter",
]

RoomListener = Callable[..., None]
"""A room event listener: ``(room)`` for create/delete, ``(room, sid)`` for join/leave."""


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets: members of any of ``rooms`` (everyone if empty), minus ``except_rooms``.

    ``local`` keeps the operation on this server; ``timeout`` (seconds) bounds a broadcast
    that waits for acknowledgements; ``volatile`` drops the packet for each socket whose
    transport is not writable; ``compress=False`` sends it uncompressed (Node's
    ``io.compress(false)``).
    """

    rooms: frozenset[str] = field(default_factory=frozenset)
    except_rooms: frozenset[str] = field(default_factory=frozenset)
    local: bool = False
    timeout: float | None = None
    volatile: bool = False
    compress: bool = True


@dataclass(frozen=True, slots=True)
class AckCallbacks:
    """How a broadcast with acks reports back: once per server, the number of sockets it
    asked; then each socket's answer (its first ack argument, as in the reference)."""

    client_count: Callable[[int], None]
    ack: Callable[[Any], None]


class Adapter(Protocol):
    """What a namespace needs from an adapter."""

    namespace: Namespace
    recovery: RecoveryStore | None
    """The kept sessions and the log of offsets, with connection state recovery on."""

    # Membership of this server's sockets: local and synchronous.
    def add(self, sio_sid: str, rooms: Iterable[str]) -> None: ...
    def remove(self, sio_sid: str, room: str) -> None: ...
    def remove_all(self, sio_sid: str) -> None: ...
    def rooms_of(self, sio_sid: str) -> frozenset[str]: ...

    # Room events (create-room, delete-room, join-room, leave-room), as the reference's.
    def on(self, event: str) -> Callable[[RoomListener], RoomListener]: ...

    def close(self) -> None:
        """The namespace is gone: release what the adapter holds (Redis subscriptions)."""
        ...

    # Connection state recovery, this server's share (only with ``recovery`` set).
    def stamp(self, packet: SioPacket) -> tuple[SioPacket, list[WirePacket]]: ...
    def record(
        self,
        packet: SioPacket,
        wires: list[WirePacket],
        rooms: frozenset[str],
        except_rooms: frozenset[str],
    ) -> None: ...
    def persist_session(self, session: KeptSession) -> None: ...
    def restore_session(self, pid: str, offset: str, identity: Any) -> Claim | None: ...

    # Operations on the sockets of every server (of this one only with ``opts.local``).
    async def broadcast(self, packet: SioPacket, opts: BroadcastOptions) -> None: ...
    async def broadcast_with_ack(
        self, packet: SioPacket, opts: BroadcastOptions, callbacks: AckCallbacks
    ) -> Callable[[], None]:
        """Send; returns a function that forgets the acks still awaited (on timeout)."""
        ...

    async def server_count(self) -> int: ...
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocket]: ...
    async def sids(self, opts: BroadcastOptions) -> set[str]: ...
    async def has_members(self, opts: BroadcastOptions) -> bool: ...
    async def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None: ...
    async def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None: ...
    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None: ...
    async def all_rooms(self) -> set[str]: ...

    # Messages between servers (never to clients).
    async def server_side_emit(self, data: list[Any]) -> None: ...
    async def server_side_call(self, data: list[Any], timeout: float | None) -> list[Any]:
        """Every other server's answer; raises ``AckTimeoutError`` with those that came."""
        ...


AdapterFactory = Callable[["Namespace"], Adapter]
"""What ``Server(adapter=...)`` takes: makes the adapter of each namespace."""


def cluster_adapter(redis_url: str | None, key: str = "socket.io") -> AdapterFactory:
    """The Redis adapter on ``redis_url``, or the in-memory one when it is ``None``: what a
    ``--redis URL`` option picks. Redis needs the extra: ``pip install minisock[redis]``."""
    if redis_url is None:
        from minisock.adapters.local import LocalAdapter

        return LocalAdapter
    from minisock.adapters.redis import RedisBus

    return RedisBus(redis_url, key=key)
