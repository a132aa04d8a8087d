"""Class-based namespaces, as python-socketio's ``AsyncNamespace``: one class, its handlers.

    class Chat(ClassNamespace):
        async def on_connect(self, socket: Socket, auth: dict[str, Any]) -> None:
            socket.join("lobby")

        async def on_disconnect(self, socket: Socket, reason: str) -> None: ...

        async def on_message(self, socket: Socket, text: str) -> str:
            await self.to("lobby").emit("message", text)
            return "sent"                       # the ack, as for a decorated handler

    sio.register_namespace(Chat("/chat"))

Event ``x`` goes to the method ``on_x`` (python-socketio's ``"on_" + event``), which gets the
socket and the event's arguments. ``on_connect(socket, auth)`` may refuse by raising
:class:`~minisock.errors.ConnectRefusedError` or, as in python-socketio, by returning
``False``. Methods may be ``async def`` or plain functions. Event names that are not Python
identifiers (``"chat-message"``) have no method of their own: override
:meth:`ClassNamespace.trigger_event`, which then receives every event (python-socketio's
way of dispatching by hand). ``namespace`` may also be a compiled regular expression or a
callable: the class then serves a dynamic namespace and each of its children, and
``self.emit``/``self.to`` reach every child (``socket.namespace.to(...)`` reaches one).

The methods are found once, at registration: an ``on_`` method added to the object later is
not seen (python-socketio looks them up at each event).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from minisock.errors import ConnectRefusedError
from minisock.parent_namespace import NamespaceMatcher
from minisock.proto.sio import RESERVED_EVENTS

if TYPE_CHECKING:
    from minisock.broadcast import BroadcastOperator
    from minisock.namespace import Namespace
    from minisock.remote_socket import RemoteSocket
    from minisock.server import Server
    from minisock.socket import Socket

__all__ = ["ClassNamespace"]

_PREFIX = "on_"
# python-socketio's message when a connect handler returns False.
REJECTED = "Connection rejected by server"


class ClassNamespace:
    """Subclass it with ``on_<event>`` methods; serve it with ``server.register_namespace``."""

    def __init__(self, namespace: str | re.Pattern[str] | NamespaceMatcher = "/") -> None:
        self.namespace = namespace
        """The name (or pattern, or matcher) given, as ``self.namespace`` in python-socketio."""
        self.server: Server | None = None
        self._nsp: Namespace | None = None

    @property
    def nsp(self) -> Namespace:
        """The namespace this object serves (a parent for a pattern or a callable)."""
        if self._nsp is None:
            raise RuntimeError("not registered yet: server.register_namespace(this)")
        return self._nsp

    def bind(self, server: Server) -> Namespace:
        """Install this object's methods as the handlers of its namespace on ``server``."""
        if self._nsp is not None:
            raise RuntimeError(f"{self!r} is already registered")
        nsp = server.of(self.namespace)
        if type(self).trigger_event is not ClassNamespace.trigger_event:
            # Dispatch by hand: every event, connect and disconnect included, goes there.
            nsp.on("connect")(self._connect)
            nsp.on("disconnect")(self._by_name("disconnect"))
            nsp.on("*")(self._any_event)
        else:
            for event, method in self._methods():
                if event == "connect":
                    nsp.on("connect")(self._connect)
                else:
                    nsp.on(event)(_as_async(method))
        self.server, self._nsp = server, nsp
        return nsp

    def _methods(self) -> list[tuple[str, Callable[..., Any]]]:
        found = []
        for attribute in dir(type(self)):
            if not attribute.startswith(_PREFIX) or len(attribute) == len(_PREFIX):
                continue
            method = getattr(self, attribute)
            if not callable(method):
                continue
            event = attribute[len(_PREFIX) :]
            if event in RESERVED_EVENTS and event not in ("connect", "disconnect"):
                raise ValueError(f"{attribute}: {event!r} is a reserved event name")
            found.append((event, method))
        return found

    async def trigger_event(self, event: str, socket: Socket, *args: Any) -> Any:
        """Run the method of ``event`` (``on_<event>``), if there is one; returns its result.

        Override it to dispatch yourself (python-socketio's catch-all): every event comes
        here then, ``connect`` with ``(socket, auth)`` and ``disconnect`` with
        ``(socket, reason)``.
        """
        method = getattr(self, _PREFIX + event, None)
        if method is None:
            return None
        return await _as_async(method)(socket, *args)

    async def _connect(self, socket: Socket, auth: dict[str, Any]) -> None:
        if await self.trigger_event("connect", socket, auth) is False:
            raise ConnectRefusedError(REJECTED)

    def _by_name(self, event: str) -> Callable[..., Any]:
        async def run(socket: Socket, *args: Any) -> Any:
            return await self.trigger_event(event, socket, *args)

        return run

    async def _any_event(self, socket: Socket, event: str, *args: Any) -> Any:
        return await self.trigger_event(event, socket, *args)

    # ---------------------------------------------------------------- the namespace's API

    async def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` to every socket of this namespace."""
        await self.nsp.emit(event, *args)

    def to(self, *rooms: str) -> BroadcastOperator:
        return self.nsp.to(*rooms)

    in_ = to

    def except_(self, *rooms: str) -> BroadcastOperator:
        return self.nsp.except_(*rooms)

    @property
    def local(self) -> BroadcastOperator:
        return self.nsp.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.nsp.timeout(seconds)

    async def fetch_sockets(self) -> list[Socket | RemoteSocket]:
        return await self.nsp.fetch_sockets()

    async def sockets_join(self, *rooms: str) -> None:
        await self.nsp.sockets_join(*rooms)

    async def sockets_leave(self, *rooms: str) -> None:
        await self.nsp.sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.nsp.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.nsp.server_side_emit(event, *args)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.namespace!r}>"


def _as_async(method: Callable[..., Any]) -> Callable[..., Any]:
    """Handlers are awaited; a plain method (python-socketio allows them) is wrapped."""
    if inspect.iscoroutinefunction(method):
        return method

    async def run(*args: Any) -> Any:
        return method(*args)

    return run
