// Connection state recovery driven by the real npm socket.io-client 4.8.
//
//   node recovery_scenarios.mjs <scenario> <base-url>
//
// Prints ONE JSON line ({"ok", "reason", "scenario", ...}) and exits 0 when every check passed.
// test_recovery_client.py runs each scenario against the Node reference
// (recovery_node_server.mjs, connectionStateRecovery on) first, then against minisock with
// Server(connection_state_recovery=...), both built to this contract:
//
//   a middleware on "/" counts its runs in socket.data.mw;
//   "join" room     joins room, emits "joined" room (so the client holds an offset), acks
//   "shout" room t  broadcasts "shout" t to room, acks
//   "set" k v       socket.data[k] = v, acks
//   "state"         acks {id, rooms (without its own), recovered, data}
//   "kinds"         emits volatile "volatile" 2, "plain" 1, "asking" 3 with an ack, and
//                   broadcasts "broadcast" 4 to its own room; acks
//   "bye"           the server disconnects the socket
//
// The transport is cut from the server's side of the wire: the client reaches the server
// through a TCP proxy in this process, which closes both connections and refuses new ones
// until it is opened again (so the client's reconnection waits for the test).
//
// Scenarios: recover, recover-polling, expired (the server keeps sessions 1 s; the cut lasts 2 s), on-purpose,
// forged, kinds; and suite, against examples/socketio_suite.py --recovery.

import net from "node:net";
import { io } from "socket.io-client";

const [scenario, url] = process.argv.slice(2);
const report = { scenario, ok: false, reason: null };
const finish = (reason, extra = {}) => {
  Object.assign(report, extra, { ok: reason === null, reason });
  console.log(JSON.stringify(report));
  process.exit(reason === null ? 0 : 1);
};
setTimeout(() => finish("overall timeout"), 20_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const once = (socket, event) => new Promise((resolve) => socket.once(event, resolve));

/** A TCP proxy to the server: cut() closes every connection; block() refuses new ones. */
async function proxy() {
  const target = new URL(url);
  const pairs = new Set();
  let blocked = false;
  const server = net.createServer((downstream) => {
    if (blocked) return downstream.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = [downstream, upstream];
    pairs.add(pair);
    downstream.pipe(upstream).on("error", () => {});
    upstream.pipe(downstream).on("error", () => {});
    const drop = () => {
      pairs.delete(pair);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on("close", drop).on("error", drop);
    upstream.on("close", drop).on("error", drop);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      blocked = true;
      for (const [downstream, upstream] of pairs) {
        upstream.destroy(); // the server's side of the wire goes first
        downstream.destroy();
      }
    },
    open() {
      blocked = false;
    },
  };
}

function connect(base, options = {}) {
  const socket = io(base, {
    transports: ["websocket"],
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
    ...options,
  });
  socket.events = [];
  socket.onAny((event, ...args) => socket.events.push([event, ...args]));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

/** Connects through a proxy, joins "r", sets data, then loses the transport. */
async function cutAfterJoining(options = {}, wait = 200) {
  const link = await proxy();
  const a = await connect(link.url, options);
  const joined = once(a, "joined");
  await a.emitWithAck("join", "r");
  await joined;
  await a.emitWithAck("set", "k", "v");
  const before = { id: a.id, recovered: a.recovered, state: await a.emitWithAck("state") };
  const gone = once(a, "disconnect");
  link.cut();
  const reason = await gone;
  await sleep(wait); // the server sees its connection close
  return { link, a, before, reason };
}

const shouts = (socket) => socket.events.filter(([event]) => event === "shout");

const scenarios = {
  async recover(options = {}, wait = 200) {
    const { link, a, before, reason } = await cutAfterJoining(options, wait);
    if (!["transport close", "transport error"].includes(reason))
      return `the client saw ${reason}`;
    const b = await connect(url, { reconnection: false });
    for (const text of ["one", "two", "three"]) await b.emitWithAck("shout", "r", text);
    await b.emitWithAck("shout", "elsewhere", "not for a");
    const back = once(a, "connect");
    link.open();
    await back;
    const state = await a.emitWithAck("state");
    await b.emitWithAck("shout", "r", "four");
    await sleep(200);
    const got = shouts(a);
    const texts = got.map(([, text]) => text);
    const offsets = got.map((args) => args[args.length - 1]);
    const extra = { before, recovered: a.recovered, sameId: a.id === before.id, state, texts };
    if (!a.recovered) return ["not recovered", extra];
    if (a.id !== before.id) return ["a new id", extra];
    if (!same(texts, ["one", "two", "three", "four"])) return ["shouts", extra];
    if (!got.every((args) => args.length === 3 && typeof args[2] === "string"))
      return ["each shout ends with an offset", extra];
    if (new Set(offsets).size !== offsets.length) return ["an offset twice", extra];
    if (!same(state.rooms, ["r"]) || state.data.k !== "v" || !state.recovered)
      return ["server-side state", extra];
    return [null, extra];
  },

  // On long-polling no connection stays open between requests, so a server learns of a cut
  // only when the heartbeat times out (pingInterval 2 s + pingTimeout 5 s here): the client
  // is kept away for 8 s. Back sooner, the old socket is still connected: a new socket.
  async "recover-polling"() {
    return scenarios.recover({ transports: ["polling"] }, 8000);
  },

  async expired() {
    const { link, a, before } = await cutAfterJoining();
    const b = await connect(url, { reconnection: false });
    await b.emitWithAck("shout", "r", "one");
    await sleep(2000);
    const back = once(a, "connect");
    link.open();
    await back;
    const state = await a.emitWithAck("state");
    const extra = { recovered: a.recovered, sameId: a.id === before.id, state };
    if (a.recovered || a.id === before.id) return ["recovered after the duration", extra];
    if (shouts(a).length !== 0 || state.rooms.length !== 0) return ["old state came back", extra];
    return [null, extra];
  },

  async "on-purpose"() {
    const a = await connect(url, { reconnection: false });
    const joined = once(a, "joined");
    await a.emitWithAck("join", "r");
    await joined;
    const first = a.id;
    a.disconnect(); // client-side, on purpose
    a.connect();
    await once(a, "connect");
    const afterClient = { recovered: a.recovered, sameId: a.id === first };
    const second = a.id;
    const joinedAgain = once(a, "joined");
    await a.emitWithAck("join", "r");
    await joinedAgain;
    const gone = once(a, "disconnect");
    a.emit("bye"); // server-side, on purpose
    const reason = await gone;
    a.connect();
    await once(a, "connect");
    const afterServer = { recovered: a.recovered, sameId: a.id === second, reason };
    const state = await a.emitWithAck("state");
    const extra = { afterClient, afterServer, state };
    if (afterClient.recovered || afterClient.sameId) return ["client disconnect recovered", extra];
    if (afterServer.recovered || afterServer.sameId) return ["server disconnect recovered", extra];
    if (reason !== "io server disconnect" || state.rooms.length) return ["state", extra];
    return [null, extra];
  },

  async forged() {
    const { link, a, before } = await cutAfterJoining();
    const tries = [
      { pid: "forged", offset: "nope" },
      { pid: 5, offset: { x: 1 } },
      { pid: a._pid, offset: "not-an-offset" },
      { pid: a._pid }, // no offset: the reference needs both strings
      { pid: a._pid, offset: "" },
    ];
    const results = [];
    for (const auth of tries) {
      const c = await connect(url, { reconnection: false, auth });
      const state = await c.emitWithAck("state");
      results.push({ recovered: c.recovered, sameId: c.id === before.id, rooms: state.rooms });
      c.disconnect();
    }
    // None of those took the session: the real client still recovers it.
    const back = once(a, "connect");
    link.open();
    await back;
    const extra = { results, recovered: a.recovered, sameId: a.id === before.id };
    if (results.some((r) => r.recovered || r.sameId || r.rooms.length))
      return ["a forged CONNECT recovered", extra];
    if (!a.recovered || a.id !== before.id) return ["the real client did not recover", extra];
    return [null, extra];
  },

  // Against examples/socketio_suite.py --recovery (minisock only: the flag is ours).
  async suite() {
    const link = await proxy();
    const a = await connect(link.url);
    const echoed = new Promise((resolve) => a.once("message-back", (...all) => resolve(all)));
    a.emit("message", "hi");
    const args = await echoed;
    const before = a.id;
    const gone = once(a, "disconnect");
    link.cut();
    await gone;
    await sleep(200);
    const back = once(a, "connect");
    link.open();
    await back;
    const extra = { args, recovered: a.recovered, sameId: a.id === before };
    if (args.length !== 2 || args[0] !== "hi" || typeof args[1] !== "string")
      return ["message-back carries no offset", extra];
    if (!a.recovered || a.id !== before) return ["not recovered", extra];
    return [null, extra];
  },

  async kinds() {
    const a = await connect(url, { reconnection: false });
    await a.emitWithAck("kinds");
    await sleep(200);
    const shape = a.events.map(([event, ...args]) => [event, args.map((arg) => typeof arg)]);
    const extra = { shape, pid: typeof a._pid };
    const expected = [
      ["volatile", ["number"]],
      ["plain", ["number", "string"]],
      ["asking", ["number", "function"]],
      ["broadcast", ["number", "string"]],
    ];
    if (!same(shape, expected) || typeof a._pid !== "string") return ["shape", extra];
    return [null, extra];
  },
};

const run = scenarios[scenario];
if (!run) finish(`unknown scenario ${scenario}`);
run().then(
  ([reason, extra]) => finish(reason, extra),
  (err) => finish(`error: ${err && err.stack}`),
);
