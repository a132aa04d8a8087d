"""minisock: Engine.IO v4 and Socket.IO v5 on trio, with hand-written transports."""

from minisock.auth import JWTAuth, JWTVerifier, bearer_token
from minisock.broadcast import BroadcastOperator
from minisock.class_namespace import ClassNamespace
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
from minisock.parent_namespace import ParentNamespace
from minisock.remote_socket import RemoteSocket
from minisock.request import Request, Response
from minisock.runner import run, serve_until_signal
from minisock.server import Server
from minisock.socket import Socket

__all__ = [
    "AckTimeoutError",
    "BroadcastOperator",
    "ClassNamespace",
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
    "ParentNamespace",
    "ProtocolError",
    "RemoteSocket",
    "Request",
    "Response",
    "Server",
    "SessionClosedError",
    "Socket",
    "TokenError",
    "WebSocketProtocolError",
    "bearer_token",
    "run",
    "serve_until_signal",
]
