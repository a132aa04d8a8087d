"""minisock: Engine.IO v4 and Socket.IO v5 on trio, with hand-written transports."""

from minisock.broadcast import BroadcastOperator
from minisock.engine import EngineServer
from minisock.engine_socket import EngineSocket
from minisock.errors import (
    ConnectRefusedError,
    EngineProtocolError,
    HandshakeError,
    MinisockError,
    ProtocolError,
    SessionClosedError,
    WebSocketProtocolError,
)
from minisock.namespace import Namespace
from minisock.request import Request, Response
from minisock.server import Server
from minisock.socket import Socket

__all__ = [
    "BroadcastOperator",
    "ConnectRefusedError",
    "EngineProtocolError",
    "EngineServer",
    "EngineSocket",
    "HandshakeError",
    "MinisockError",
    "Namespace",
    "ProtocolError",
    "Request",
    "Response",
    "Server",
    "SessionClosedError",
    "Socket",
    "WebSocketProtocolError",
]
