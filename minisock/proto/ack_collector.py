"""Counting the acknowledgements of one broadcast, as pure state with time passed in.

Used for a broadcast with acks on one server and across a cluster alike
(``BroadcastOperator.call``); no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AckCollector"]


# Theory of operation: acks of a broadcast (socket.io's BroadcastOperator.emit with an ack).
#
# 1. Each server that delivered the broadcast reports how many clients it sent it to
#    (this one directly, others by BROADCAST_CLIENT_COUNT); each client's ack then arrives
#    (locally, or by BROADCAST_ACK). The number of servers to hear from is learnt separately
#    (PUBSUB NUMSUB), possibly after some counts came in: until then it is unknown.
# 2. The broadcast is complete when the servers heard from equal the servers expected and
#    the acks equal the sum of the reported client counts. Every input re-checks this.
# 3. The deadline passing first times it out, with the acks gathered so far.
# 4. Complete or timed out, it is finished: later input changes nothing (Node could call
#    the callback twice when a surplus server's count and acks line up; this cannot).
# 5. Without a cluster the expected server count is 1 from the start.


@dataclass(slots=True, eq=False)
class AckCollector:
    """Counts the servers and client acks of one broadcast with an ack; time passed in.

    Each method returns ``True`` exactly when that call finished the broadcast (complete, or
    timed out for :meth:`expire`): the caller then answers its callback once.
    """

    deadline: float
    expected_servers: int | None = None
    servers: int = 0
    expected_clients: int = 0
    responses: list[Any] = field(default_factory=list)
    complete: bool = False
    timed_out: bool = False

    @property
    def finished(self) -> bool:
        return self.complete or self.timed_out

    def set_expected_servers(self, count: int) -> bool:
        """The number of servers in the cluster, this one included."""
        if self.finished:
            return False
        self.expected_servers = count
        return self._check()

    def add_server(self, client_count: int) -> bool:
        """One server sent the broadcast to ``client_count`` clients."""
        if self.finished:
            return False
        self.servers += 1
        self.expected_clients += client_count
        return self._check()

    def add_response(self, value: Any) -> bool:
        """One client acked, with ``value`` (its ack's first argument)."""
        if self.finished:
            return False
        self.responses.append(value)
        return self._check()

    def expire(self, now: float) -> bool:
        """Time out if ``now`` is at or past the deadline and acks are still due."""
        if self.finished or now < self.deadline:
            return False
        self.timed_out = True
        return True

    def _check(self) -> bool:
        if self.expected_servers == self.servers and len(self.responses) == self.expected_clients:
            self.complete = True
        return self.complete
