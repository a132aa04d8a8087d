"""minisock: Engine.IO v4 and Socket.IO v5 on trio, with hand-written transports."""

from minisock.ack import NO_ACK, Ack, NoAck
from minisock.auth import JWTAuth, JWTVerifier, bearer_token
from minisock.broadcast import BroadcastOperator
from minisock.class_namespace import ClassNamespace
from minisock.engine import ConnectionErrorEvent, CookieOptions, EngineServer
from minisock.engine_socket import EngineSocket
from minisock.errors import (
    AckTimeoutError,
    ClusterError,
    ConnectRefusedError,
    EngineProtocolError,
    HandshakeError,
    MinisockError,
    ProtocolError,
    RecordSeparatorError,
    RequestRefusedError,
    SessionClosedError,
    TokenError,
    WebSocketProtocolError,
)
from minisock.namespace import Namespace
from minisock.parent_namespace import ParentNamespace
from minisock.proto.http_compression import HttpCompression
from minisock.proto.recovery import Recovery
from minisock.proto.token_bucket import RateLimit
from minisock.proto.ws_deflate import Deflate
from minisock.remote_socket import RemoteSocket
from minisock.request import Request, Response
from minisock.runner import run, serve_until_signal
from minisock.server import Server
from minisock.socket import Socket
from minisock.stats import ServerStats

__all__ = [
    "NO_ACK",
    "Ack",
    "AckTimeoutError",
    "BroadcastOperator",
    "ClassNamespace",
    "ClusterError",
    "ConnectRefusedError",
    "ConnectionErrorEvent",
    "CookieOptions",
    "Deflate",
    "EngineProtocolError",
    "EngineServer",
    "EngineSocket",
    "HandshakeError",
    "HttpCompression",
    "JWTAuth",
    "JWTVerifier",
    "MinisockError",
    "Namespace",
    "NoAck",
    "ParentNamespace",
    "ProtocolError",
    "RateLimit",
    "RecordSeparatorError",
    "Recovery",
    "RemoteSocket",
    "Request",
    "RequestRefusedError",
    "Response",
    "Server",
    "ServerStats",
    "SessionClosedError",
    "Socket",
    "TokenError",
    "WebSocketProtocolError",
    "bearer_token",
    "run",
    "serve_until_signal",
]
