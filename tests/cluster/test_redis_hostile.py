"""Hostile messages on the Redis channels: anyone who can publish to Redis can send anything.

A minisock server (in this process, on a real redis-server) with real WebSocket clients gets
garbage, truncated and misshapen messages on its broadcast, room, request and response
channels from a plain RESP connection. Each malformed one is logged and dropped: it reaches no
client and no handler, and the adapter keeps its connection. Messages that are well formed
but not for this server (another namespace, an answer to someone else's request, a room with
no member here) are dropped quietly, as the reference does. Afterwards a second server joins
and cross-node broadcasts and fetch_sockets work. A flood of requests is bounded by
``RedisBus.max_request_tasks`` and the server stays responsive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import trio

from ._procs import RedisServer
from ._redis_helpers import (
    RawRedis,
    SioClient,
    build_node,
    redis_records,
    resp_command,
    serving,
    wait_for,
)

pytestmark = pytest.mark.cluster

BC = "socket.io#/#"
ROOM = "socket.io#/#r#"
REQ = "socket.io-request#/#"
RESP = "socket.io-response#/#"


def pack(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def broadcast(*data: Any, nsp: str = "/", ack_id: int | None = None) -> bytes:
    packet: dict[str, Any] = {"type": 2, "data": list(data), "nsp": nsp}
    if ack_id is not None:
        packet["id"] = ack_id
    return pack(["intruder", packet, {"rooms": [], "except": [], "flags": {}}])


VALID = broadcast("ev", 1)


def warned_after(caplog: pytest.LogCaptureFixture, count: int) -> Callable[[], bool]:
    return lambda: len(redis_records(caplog)) > count


# (what, channel, message, a fragment of the warning it must cause)
MALFORMED: list[tuple[str, str | bytes, bytes, str]] = [
    ("garbage bytes", BC, b"\xc1\xff\xfegarbage", "invalid msgpack"),
    ("truncated msgpack", BC, VALID[:-3], "invalid msgpack"),
    ("trailing bytes", BC, VALID + b"\x00", "invalid msgpack"),
    ("a map, not [uid, packet, opts]", BC, pack({"a": 1}), "[uid, packet, opts]"),
    ("event data not a list", BC, pack(["x", {"type": 2, "data": "ev"}, {}]), "non-empty list"),
    ("a CONNECT packet", BC, pack(["x", {"type": 0, "data": ["ev"]}, {}]), "not an event"),
    ("rooms not a list", BC, pack(["x", {"type": 2, "data": ["ev"]}, {"rooms": "r"}]), "list"),
    ("a room not a string", BC, pack(["x", {"type": 2, "data": ["ev"]}, {"rooms": [1]}]), "room"),
    ("an ack id beyond 2**53", BC, broadcast("ev", ack_id=2**60), "not an ack id"),
    ("a reserved event name", BC, broadcast("connect"), "reserved"),
    ("invalid UTF-8 in a str", BC, b"\x93\xa1\xff\x80\x80", "invalid msgpack"),
    ("a map key that is not a str", BC, b"\x93\xa1x\x81\x01\x02\x80", "invalid msgpack"),
    ("an ext type Node never writes", BC, b"\x93\xa1x\xd4\x05\x00\x80", "ext type 5"),
    ("array32 declaring 4G items", BC, b"\xdd\xff\xff\xff\xff\x01", "invalid msgpack"),
    ("str32 declaring 2 GB", BC, b"\xdb\x7f\xff\xff\xffabc", "invalid msgpack"),
    ("bin32 declaring 4 GB", BC, b"\xc6\xff\xff\xff\xffabc", "invalid msgpack"),
    ("nesting 50 deep", BC, b"\x91" * 50 + b"\xc0", "nested deeper"),
    ("nesting 200000 deep", BC, b"\x91" * 200_000 + b"\xc0", "invalid msgpack"),
    ("over the size limit", BC, b"\x93" + b"\x00" * (1 << 20), "over the limit"),
    ("garbage on a room with a member", ROOM, b"\xff" * 64, "invalid msgpack"),
    ("invalid JSON request", REQ, b"{not json", "invalid JSON"),
    ("invalid UTF-8 in JSON", REQ, b'{"type":1,"requestId":"\xff"}', "invalid JSON"),
    ("request type as a string", REQ, b'{"type":"5","requestId":"x"}', "not an integer"),
    ("unknown request type", REQ, b'{"type":42,"requestId":"x"}', "unknown request type"),
    ("an answer type as a request", REQ, b'{"type":8,"requestId":"x"}', "unknown request type"),
    ("request type beyond 2**53", REQ, b'{"type":1152921504606846976}', "not an integer"),
    ("requestId not a string", REQ, b'{"type":5,"requestId":7,"opts":{}}', "requestId"),
    ("fetch without requestId", REQ, b'{"type":5,"opts":{}}', "without a requestId"),
    ("opts.rooms not a list", REQ, b'{"type":5,"requestId":"x","opts":{"rooms":"r"}}', "list"),
    ("server-side data not a list", REQ, b'{"type":6,"data":"note"}', "non-empty list"),
    ("server-side event not a str", REQ, b'{"type":6,"data":[5]}', "not a string"),
    ("server-side reserved name", REQ, b'{"type":6,"data":["new_namespace"]}', "reserved"),
    ("JSON nested 100000 deep", REQ, b'{"a":' * 100_000, "invalid JSON"),
    (
        "JSON nested 60 deep",
        REQ,
        b'{"type":6,"data":["note",' + b"[" * 60 + b"]" * 60 + b"]}",
        "nested deeper",
    ),
    ("a number with 5000 digits", REQ, b'{"type":' + b"9" * 5000 + b"}", "invalid JSON"),
    ("NaN in JSON", REQ, b'{"type":6,"data":["note",NaN]}', "invalid JSON"),
    ("msgpack request, wrong shape", REQ, pack([1, 2, 3]), "request is not a map"),
    ("answer without requestId", RESP, b'{"sockets":[]}', "requestId"),
    ("answer requestId not a str", RESP, b'{"requestId":5}', "requestId"),
    ("answer mixing ids and sockets", RESP, b'{"requestId":"x","sockets":["a",{}]}', "mixes"),
    ("client count missing", RESP, b'{"requestId":"x","type":8}', "without clientCount"),
    ("client count negative", RESP, b'{"requestId":"x","type":8,"clientCount":-1}', "count"),
    ("unknown answer type", RESP, b'{"requestId":"x","type":99}', "unknown"),
]

# Well formed, but not for this server: dropped without a word.
QUIET: list[tuple[str, str | bytes, bytes]] = [
    ("a broadcast for another namespace", BC, broadcast("ev", nsp="/admin")),
    ("a broadcast on another namespace's channel", "socket.io#/admin#", broadcast("ev")),
    ("a room with no member here", "socket.io#/#nobody#", b"\xff garbage, never decoded"),
    ("a non-UTF-8 room channel", b"socket.io#/#\xff\xfe#", VALID),
    ("a non-UTF-8 channel", b"socket.io-request#/#\xff", b'{"type":6,"data":["note"]}'),
    ("a fetch answer for an unknown request", RESP, b'{"requestId":"nobody","sockets":[]}'),
    ("a server-side answer for nobody", RESP, b'{"requestId":"zz","type":6,"data":[1]}'),
    ("a legacy disconnect of an unknown sid", REQ, b'{"requestId":"q","type":4,"sid":"nope"}'),
]


async def test_malformed_messages_are_logged_and_dropped_and_the_cluster_still_works(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "minisock.redis")
    a = build_node("A", redis_server.url)
    raw = await RawRedis.open(redis_server.port)
    async with serving(a):
        a1 = await SioClient.connect(a.port, {"name": "a1", "rooms": ["r"]})
        a2 = await SioClient.connect(a.port, {"name": "a2"})
        for what, channel, message, fragment in MALFORMED:
            before = len(redis_records(caplog))
            assert await raw.publish(channel, message) == 1, what  # A hears it
            await wait_for(f"a warning for {what}", warned_after(caplog, before))
            logged = redis_records(caplog)[before:]
            assert len(logged) == 1 and fragment in logged[0], (what, logged)
            assert "dropped" in logged[0]
        quiet_from = len(redis_records(caplog))
        for _, channel, message in QUIET:
            await raw.publish(channel, message)
        # Ints beyond 2**53 in an argument arrive as the float Node would hold.
        await raw.publish(BC, broadcast("big", 2**63, -(2**60)))
        # A broadcast with acks whose timeout is NaN: delivered, forgotten after the default.
        packet = {"type": 2, "data": ["nan"], "nsp": "/"}
        opts = {"rooms": ["r"], "except": [], "flags": {"timeout": float("nan")}}
        request = {"uid": "x", "requestId": "nan", "type": 7, "packet": packet, "opts": opts}
        await raw.publish(REQ, pack(request))
        # A fence on the same connection: A applies messages in the order Redis sent them.
        await raw.publish(BC, broadcast("fence"))
        big = ("big", [2.0**63, -(2.0**60)])
        seen = await a1.events_until("fence")
        assert [(p.event, p.args) for p in seen] == [big, ("nan", [])]
        seen = await a2.events_until("fence")
        assert [(p.event, p.args) for p in seen] == [big]
        assert redis_records(caplog)[quiet_from:] == []
        assert a.server_side == []
        assert a.bus.connected
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

        # The adapter kept its session: a second server joins and the cluster works.
        b = build_node("B", redis_server.url)
        async with serving(b):
            b1 = await SioClient.connect(b.port, {"name": "b1", "rooms": ["r"]})
            await a.sio.to("r").emit("cross", "from A")
            assert (await b1.next_event()).args == ["from A"]
            assert (await a1.next_event()).args == ["from A"]
            found = await a.sio.fetch_sockets()
            assert sorted(s.data["name"] for s in found) == ["a1", "a2", "b1"]
            assert await a.sio.server_side_call("whoami") == ["B"]
            await b1.aclose()
        for client in (a1, a2):
            await client.aclose()
    await raw.aclose()
    assert not any("reconnected" in m for m in redis_records(caplog))


async def test_a_flood_of_requests_is_bounded_and_the_server_stays_responsive(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "minisock.redis")
    bound, flood = 20, 300
    a = build_node("A", redis_server.url, max_request_tasks=bound)
    release = trio.Event()
    running = peak = handled = 0

    @a.sio.on_server_side("slow")
    async def slow(*args: Any) -> None:
        nonlocal running, peak, handled
        running += 1
        peak = max(peak, running)
        try:
            await release.wait()
        finally:
            running -= 1
            handled += 1

    raw = await RawRedis.open(redis_server.port)
    async with serving(a):
        a1 = await SioClient.connect(a.port, {"name": "a1"})
        a2 = await SioClient.connect(a.port, {"name": "a2"})
        request = b'{"uid":"flood","type":6,"data":["slow"]}'
        # Pipelined: the whole flood in one write, the replies read afterwards.
        await raw.stream.send_all(resp_command("PUBLISH", REQ, request) * flood)
        for _ in range(flood):
            assert await raw.reply() == 1
        await raw.publish(BC, broadcast("fence"))
        for client in (a1, a2):
            assert await client.events_until("fence") == []
        assert peak == running == bound
        assert a.bus.dropped_requests == flood - bound
        # Logged once, not once per dropped request.
        dropped = [m for m in redis_records(caplog) if "dropped a cluster request" in m]
        assert len(dropped) == 1, redis_records(caplog)

        # Responsive meanwhile: acks, local broadcasts, broadcasts from the bus.
        start = trio.current_time()
        assert await a1.call("echo", "alive") == "alive"
        await a1.emit("shout", "hi")
        assert (await a2.next_event()).args == ["hi"]
        await raw.publish(BC, broadcast("from-bus"))
        assert (await a2.next_event()).event == "from-bus"
        assert trio.current_time() - start < 1.0

        # Once the handlers finish, the slots are free again.
        release.set()
        await wait_for("the handlers to finish", lambda: handled == bound)
        await raw.publish(REQ, b'{"uid":"later","type":6,"data":["note","after"]}')
        await wait_for("a later request to be handled", lambda: bool(a.server_side))
        assert a.server_side == [("note", ["after"])]
        for client in (a1, a2):
            await client.aclose()
    await raw.aclose()
