"""The admin UI's payloads, shaped as ``@socket.io/admin-ui`` 0.5 sends them (its
``dist/index.js``); pure data in, JSON-ready data out.

- ``config``: ``{"supportedFeatures": [...]}``, what the UI may offer (:func:`features`);
- ``socket_connected`` / ``all_sockets``: a socket's details (:func:`socket_details`);
- ``server_stats``: every two seconds (:func:`server_stats`);
- the other events carry a date, as JavaScript's ``Date.toISOString()`` (:func:`iso_time`);
- the UI's commands (``join``, ``leave``, ``_disconnect``, ``emit``) are checked by
  :func:`command`, since they come from outside like any other packet.

Where minisock differs from the reference, on purpose:

- ``clientId``: Node shows the first 12 characters of the Engine.IO sid. minisock keeps
  that sid private (it is a bearer credential), so it shows 12 hex digits of a hash of it:
  the same for every socket of one connection, which is all the UI uses it for.
- ``handshake.headers``: the values of ``authorization``, ``cookie`` and
  ``proxy-authorization`` are replaced by ``"[redacted]"`` (Node shows them, tokens included).
"""

from __future__ import annotations

import enum
import hashlib
import math
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CommandError",
    "Feature",
    "client_id",
    "command",
    "features",
    "iso_time",
    "jsonable",
    "payload_size",
    "server_stats",
    "socket_details",
]

REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Feature(enum.StrEnum):
    """What the UI may offer; named as the reference names them (``typed-events.js``)."""

    EMIT = "EMIT"
    JOIN = "JOIN"
    LEAVE = "LEAVE"
    DISCONNECT = "DISCONNECT"
    MJOIN = "MJOIN"
    MLEAVE = "MLEAVE"
    MDISCONNECT = "MDISCONNECT"
    AGGREGATED_EVENTS = "AGGREGATED_EVENTS"
    ALL_EVENTS = "ALL_EVENTS"


_ACTIONS = [Feature.EMIT, Feature.JOIN, Feature.LEAVE, Feature.DISCONNECT]
_MULTI = [Feature.MJOIN, Feature.MLEAVE, Feature.MDISCONNECT]


def features(*, read_only: bool, development: bool) -> list[str]:
    """The ``supportedFeatures`` of ``config``, in the reference's order."""
    chosen = [] if read_only else [*_ACTIONS, *_MULTI]
    chosen.append(Feature.AGGREGATED_EVENTS)
    if development:
        chosen.append(Feature.ALL_EVENTS)
    return [str(feature) for feature in chosen]


def iso_time(unix: float) -> str:
    """``new Date(unix * 1000).toISOString()``: ``2026-12-03T15:36:48.123Z``."""
    moment = datetime.fromtimestamp(unix, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def client_id(eio_sid: str) -> str:
    """The UI's ``clientId``: stable per connection, and no part of the sid itself."""
    return hashlib.blake2b(eio_sid.encode(), digest_size=6).hexdigest()


def jsonable(value: Any, depth: int = 32) -> Any:
    """``value`` as JSON would carry it: what JSON cannot hold becomes its ``repr``, so an
    application's odd ``socket.data`` never breaks the admin's packets."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON.stringify(NaN) is null
    if depth <= 0:
        return "…"
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth - 1) for item in value]
    return repr(value)


def _headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        name: "[redacted]" if name in REDACTED_HEADERS else value for name, value in headers.items()
    }


def socket_details(
    *,
    sid: str,
    nsp: str,
    eio_sid: str,
    transport: str,
    data: dict[str, Any],
    handshake: dict[str, Any],
    rooms: list[str],
) -> dict[str, Any]:
    """One socket as ``socket_connected`` and ``all_sockets`` show it. ``handshake`` is the
    reference's handshake object (``minisock.socket.handshake_of``); its ``auth`` is left out,
    as the reference leaves it out."""
    headers = handshake.get("headers", {})
    address = (
        headers.get("cf-connecting-ip") or headers.get("x-forwarded-for") or handshake["address"]
    )
    return {
        "id": sid,
        "clientId": client_id(eio_sid),
        "transport": transport,
        "nsp": nsp,
        "data": jsonable(data),
        "handshake": {
            "address": address,
            "headers": _headers(headers),
            "query": handshake["query"],
            "issued": handshake["issued"],
            "secure": handshake["secure"],
            "time": handshake["time"],
            "url": handshake["url"],
            "xdomain": handshake["xdomain"],
        },
        "rooms": rooms,
    }


def server_stats(
    *,
    server_id: str,
    hostname: str,
    pid: int,
    uptime: float,
    clients_count: int,
    polling_clients_count: int,
    aggregated_events: list[dict[str, Any]],
    namespaces: list[tuple[str, int]],
) -> dict[str, Any]:
    """The periodic ``server_stats``: ``namespaces`` is ``[(name, sockets count)]``."""
    return {
        "serverId": server_id,
        "hostname": hostname,
        "pid": pid,
        "uptime": uptime,
        "clientsCount": clients_count,
        "pollingClientsCount": polling_clients_count,
        "aggregatedEvents": aggregated_events,
        "namespaces": [{"name": name, "socketsCount": count} for name, count in namespaces],
    }


class CommandError(ValueError):
    """A command from the UI whose arguments are not what the protocol says."""


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CommandError(f"{what} must be a non-empty string of at most {limit} characters")
    return value


def _filter(value: Any, limit: int) -> str | None:
    """The sockets a command applies to: a room (a socket's own id picks that socket), or
    every socket of the namespace when empty."""
    if value is None or value == "":
        return None
    return _text(value, "the filter", limit)


def command(name: str, args: list[Any], *, limit: int = 256) -> dict[str, Any]:
    """The arguments of one UI command, checked; raises :class:`CommandError`.

    - ``join`` / ``leave``: ``(nsp, room, filter)``
    - ``_disconnect``: ``(nsp, close, filter)``
    - ``emit``: ``(nsp, filter, event, *args)``
    """
    if not args:
        raise CommandError("a command names its namespace first")
    nsp = _text(args[0], "the namespace", limit)
    if name in ("join", "leave"):
        if len(args) > 3 or len(args) < 2:
            raise CommandError(f"{name} takes (nsp, room, filter)")
        room = _text(args[1], "the room", limit)
        return {
            "nsp": nsp,
            "room": room,
            "filter": _filter(args[2] if len(args) > 2 else None, limit),
        }
    if name == "_disconnect":
        if len(args) > 3 or len(args) < 2 or not isinstance(args[1], bool):
            raise CommandError("_disconnect takes (nsp, close: boolean, filter)")
        return {
            "nsp": nsp,
            "close": args[1],
            "filter": _filter(args[2] if len(args) > 2 else None, limit),
        }
    if name == "emit":
        if len(args) < 3:
            raise CommandError("emit takes (nsp, filter, event, ...args)")
        return {
            "nsp": nsp,
            "filter": _filter(args[1], limit),
            "event": _text(args[2], "the event", limit),
            "args": list(args[3:]),
        }
    raise CommandError(f"unknown command {name!r}")


def payload_size(data: str | bytes) -> int:
    """Bytes of one Engine.IO message as Node's ``Buffer.byteLength`` counts them."""
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)
