"""The exceptions minisock raises, and what each one tells the glue to answer.

Every error a peer can cause is a :class:`ProtocolError`. Like h11's ``RemoteProtocolError``
it carries *hints* instead of leaving the glue to guess: the HTTP status to answer with, and
the WebSocket close code to send. The pure codecs raise these; the trio layer turns them into
bytes on the wire and never crashes on them.

    MinisockError
    ├── ProtocolError              the peer broke a rule (hints: http_status, close_code)
    │   ├── EngineProtocolError    malformed Engine.IO packet or polling payload
    │   ├── WebSocketProtocolError RFC 6455 violation (close_code 1002, 1007, 1009)
    │   └── HandshakeError         a WebSocket upgrade request we refuse (http_status)
    ├── SessionClosedError         you used a session after it closed
    ├── RecordSeparatorError       an Engine.IO text message holding \\x1e (a ValueError too)
    ├── AckTimeoutError            acks did not all come in time (carries those that did)
    ├── ClusterError               a cluster operation failed (the bus is unreachable)
    ├── ConnectRefusedError        raise it in a middleware or connect handler to refuse
    ├── RequestRefusedError        raise it in an engine's allow_request to refuse (403)
    └── TokenError                 a bearer token was missing or refused (reason: one word)
"""

from __future__ import annotations

__all__ = [
    "AckTimeoutError",
    "ClusterError",
    "ConnectRefusedError",
    "EngineProtocolError",
    "HandshakeError",
    "MinisockError",
    "ProtocolError",
    "RecordSeparatorError",
    "RequestRefusedError",
    "SessionClosedError",
    "TokenError",
    "WebSocketProtocolError",
]


class MinisockError(Exception):
    """Base class of every exception minisock raises on purpose."""


class ProtocolError(MinisockError):
    """The remote peer sent something the protocol forbids.

    ``http_status`` is the status to answer an HTTP request with; ``close_code`` is the
    WebSocket close code to send when the error arrived on a WebSocket.
    """

    default_http_status = 400
    default_close_code = 1002

    def __init__(
        self, message: str, *, http_status: int | None = None, close_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = self.default_http_status if http_status is None else http_status
        self.close_code = self.default_close_code if close_code is None else close_code


class EngineProtocolError(ProtocolError):
    """A malformed Engine.IO packet or polling payload (the reference calls it "parse error")."""


class WebSocketProtocolError(ProtocolError):
    """An RFC 6455 violation. ``close_code`` is 1002, 1007 (bad UTF-8) or 1009 (too big)."""


class HandshakeError(ProtocolError):
    """A WebSocket upgrade request that is refused before any 101 is sent."""


class SessionClosedError(MinisockError):
    """The session was closed (by you or by the peer) before or during this operation."""


class RecordSeparatorError(MinisockError, ValueError):
    """An Engine.IO text message containing ``\\x1e``, refused before anything is queued.

    Long-polling joins packets with that record separator, so such a message would reach
    the client as two broken packets. It is refused on WebSocket too: a session may move to
    another transport while its messages wait in the queue. Send ``bytes`` or escape it.
    """


class AckTimeoutError(MinisockError, TimeoutError):
    """The acknowledgements did not all arrive in time ("operation has timed out").

    ``responses`` holds the answers that did arrive: for a broadcast, one per socket that
    answered; for ``server_side_call``, one per server; empty for a single socket.
    """

    def __init__(
        self, message: str = "operation has timed out", responses: list[object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.responses: list[object] = responses if responses is not None else []


class ClusterError(MinisockError):
    """A cluster-wide operation could not be done: the bus (Redis) is unreachable, or the
    other servers did not answer in time. Local delivery keeps working meanwhile."""


class ConnectRefusedError(MinisockError):
    """Refuse a Socket.IO namespace connection from a middleware or connect handler.

    The client receives ``CONNECT_ERROR {"message": message, "data": data}`` and its
    ``connect_error`` event fires with them.
    """

    def __init__(self, message: str = "Connection refused", data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class TokenError(MinisockError):
    """A token was missing or refused. ``reason`` is one short word, safe to show clients."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RequestRefusedError(MinisockError):
    """Refuse an Engine.IO handshake from ``allow_request`` with a message of your own.

    The client gets ``403 {"code": 4, "message": message}``, as from Node's ``allowRequest``.
    """

    def __init__(self, message: str = "Forbidden") -> None:
        super().__init__(message)
        self.message = message
