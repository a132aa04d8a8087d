"""Cluster requests waiting for answers, as pure state with time passed in.

The Redis adapter publishes a request (fetchSockets, allRooms, serverSideEmit with an ack)
and waits here for every other server's answer; the table counts them by the reference's
rules and never reads a clock. Messages themselves are :mod:`minisock.proto.cluster`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minisock.proto.cluster import (
    SINGLE_SOCKET_REQUESTS,
    ClusterResponse,
    RequestType,
    SocketDetails,
)

__all__ = ["PendingRequest", "PendingRequests"]


# Theory of operation: waiting for answers (the adapter's ``requests`` map and ``onresponse``).
#
# 1. A request that wants answers is published once, and waited for until every other server
#    that was subscribed to the request channel when it was sent has answered (``expected``:
#    PUBSUB NUMSUB minus this one), or its deadline passes. The table never reads a clock:
#    the caller passes ``deadline`` in, and calls ``expire(now)`` when ``next_deadline()``
#    comes. With no other server there is nothing to wait for; the caller answers at once.
# 2. SOCKETS, REMOTE_FETCH and ALL_ROOMS start from this server's own part (``initial``).
#    Every answer counts, even one without the expected key; but only an answer *with* the
#    key can complete the request, when the count reaches ``expected``. That is Node's rule
#    (its count starts at 1 for itself and ends at NUMSUB), kept so that a mixed cluster
#    behaves one way: an answer without the key, arriving last, leaves the request to time out.
# 3. SERVER_SIDE_EMIT completes after ``expected`` answers, collecting each one's ``data``
#    (``None`` when it had none).
# 4. The single-socket forms of REMOTE_JOIN/LEAVE/DISCONNECT complete on the first answer.
# 5. Answers to unknown or finished requests are ignored; so are answers beyond completion.
#    The type the answer claims is not consulted: the pending request's type decides.
# 6. Broadcasts with acks are counted by :class:`AckCollector`, not here.


@dataclass(slots=True, eq=False)
class PendingRequest:
    """A request waiting for answers; ``result`` is what it has gathered so far (this server's
    part included), ``answers`` how many answers counted, ``complete`` whether it finished."""

    request_id: str
    type: RequestType
    expected: int
    deadline: float
    answers: int = 0
    sids: set[str] = field(default_factory=set)
    rooms: set[str] = field(default_factory=set)
    sockets: list[SocketDetails] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)
    complete: bool = False
    _order: int = 0

    @property
    def result(self) -> Any:
        """SOCKETS: the set of sids; ALL_ROOMS: the set of rooms; REMOTE_FETCH: the socket
        details; SERVER_SIDE_EMIT: the answers' data; single-socket forms: ``None``."""
        if self.type is RequestType.SOCKETS:
            return self.sids
        if self.type is RequestType.ALL_ROOMS:
            return self.rooms
        if self.type is RequestType.REMOTE_FETCH:
            return self.sockets
        if self.type is RequestType.SERVER_SIDE_EMIT:
            return self.responses
        return None


_SELF_COUNTED = (RequestType.SOCKETS, RequestType.REMOTE_FETCH, RequestType.ALL_ROOMS)


class PendingRequests:
    """The requests of one namespace that wait for answers, by request id."""

    __slots__ = ("_by_id", "_counter", "_deadlines")

    def __init__(self) -> None:
        self._by_id: dict[str, PendingRequest] = {}
        self._deadlines: list[tuple[float, int, str]] = []  # a heap; stale entries skipped
        self._counter = itertools.count()

    def add(
        self,
        request_id: str,
        type: RequestType,
        expected: int,
        deadline: float,
        initial: Iterable[Any] = (),
    ) -> PendingRequest:
        """Wait for answers to ``request_id``.

        ``expected`` is the number of answers to wait for: the servers subscribed to the
        request channel, this one left out. ``initial`` is this server's own part: sids
        (SOCKETS), room names (ALL_ROOMS) or :class:`SocketDetails` (REMOTE_FETCH). Node
        answers without waiting when no other server is there; so must the caller:
        ``ValueError`` if ``expected`` is below 1, if the id is taken, or for a type that is
        not answered this way.
        """
        if request_id in self._by_id:
            raise ValueError(f"request id {request_id!r} is already pending")
        if expected < 1:
            raise ValueError(f"{type.name} waiting for {expected} answers: nothing to wait for")
        pending = PendingRequest(request_id, type, expected, deadline)
        if type in _SELF_COUNTED:
            if type is RequestType.SOCKETS:
                pending.sids.update(initial)
            elif type is RequestType.ALL_ROOMS:
                pending.rooms.update(initial)
            else:
                pending.sockets.extend(initial)
        elif type is not RequestType.SERVER_SIDE_EMIT and type not in SINGLE_SOCKET_REQUESTS:
            raise ValueError(f"{type.name} answers are not waited for here")
        pending._order = next(self._counter)
        self._by_id[request_id] = pending
        heapq.heappush(self._deadlines, (deadline, pending._order, request_id))
        return pending

    def feed(self, response: ClusterResponse) -> PendingRequest | None:
        """Count one answer. Returns the request if this answer completed it (it is then no
        longer pending), else ``None``."""
        pending = self._by_id.get(response.request_id)
        if pending is None:
            return None
        kind = pending.type
        pending.answers += 1
        if kind in _SELF_COUNTED:
            if kind is RequestType.SOCKETS:
                if response.sids is None:
                    return None
                pending.sids.update(response.sids)
            elif kind is RequestType.ALL_ROOMS:
                if response.rooms is None:
                    return None
                pending.rooms.update(response.rooms)
            else:
                if response.sockets is None:
                    return None
                pending.sockets.extend(response.sockets)
            if pending.answers != pending.expected:
                return None
        elif kind is RequestType.SERVER_SIDE_EMIT:
            pending.responses.append(response.data)
            if len(pending.responses) != pending.expected:
                return None
        pending.complete = True
        del self._by_id[response.request_id]
        return pending

    def expire(self, now: float) -> list[PendingRequest]:
        """Remove and return the requests whose deadline is at or before ``now``."""
        expired: list[PendingRequest] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, order, request_id = heapq.heappop(heap)
            pending = self._by_id.get(request_id)
            if pending is not None and pending._order == order:
                del self._by_id[request_id]
                expired.append(pending)
        return expired

    def next_deadline(self) -> float:
        """The earliest deadline of a pending request; ``math.inf`` when none is pending."""
        heap = self._deadlines
        while heap:
            _, order, request_id = heap[0]
            pending = self._by_id.get(request_id)
            if pending is not None and pending._order == order:
                return heap[0][0]
            heapq.heappop(heap)
        return math.inf

    def cancel(self, request_id: str) -> PendingRequest | None:
        """Stop waiting for ``request_id``; returns it if it was pending."""
        return self._by_id.pop(request_id, None)

    def get(self, request_id: str) -> PendingRequest | None:
        return self._by_id.get(request_id)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)
