"""minisock: Engine.IO v4 and Socket.IO v5 on trio, with hand-written transports."""

from minisock.ack import NO_ACK, Ack, NoAck
from minisock.auth import JWTAuth, JWTVerifier, bearer_token
from minisock.broadcast import BroadcastOperator
from minisock.engine import EngineServer
from minisock.engine_socket import EngineSocket
from minisock.errors import (
    AckTimeoutError,
    ClusterError,
    ConnectRefusedError,
    EngineProtocolError,
    HandshakeError,
    MinisockError,
    ProtocolError,
    SessionClosedError,
    TokenError,
    WebSocketProtocolError,
)
from minisock.namespace import Namespace
from minisock.proto.token_bucket import RateLimit
from minisock.remote_socket import RemoteSocket
from minisock.request import Request, Response
from minisock.server import Server
from minisock.socket import Socket
from minisock.stats import ServerStats

__all__ = [
    "NO_ACK",
    "Ack",
    "AckTimeoutError",
    "BroadcastOperator",
    "ClusterError",
    "ConnectRefusedError",
    "EngineProtocolError",
    "EngineServer",
    "EngineSocket",
    "HandshakeError",
    "JWTAuth",
    "JWTVerifier",
    "MinisockError",
    "Namespace",
    "NoAck",
    "ProtocolError",
    "RateLimit",
    "RemoteSocket",
    "Request",
    "Response",
    "Server",
    "ServerStats",
    "SessionClosedError",
    "Socket",
    "TokenError",
    "WebSocketProtocolError",
    "bearer_token",
]
