"""minisock: Engine.IO v4 and Socket.IO v5 on trio, with hand-written transports."""

from minisock.engine import EngineServer
from minisock.engine_socket import EngineSocket
from minisock.errors import (
    EngineProtocolError,
    HandshakeError,
    MinisockError,
    ProtocolError,
    SessionClosedError,
    WebSocketProtocolError,
)
from minisock.request import Request, Response

__all__ = [
    "EngineProtocolError",
    "EngineServer",
    "EngineSocket",
    "HandshakeError",
    "MinisockError",
    "ProtocolError",
    "Request",
    "Response",
    "SessionClosedError",
    "WebSocketProtocolError",
]
