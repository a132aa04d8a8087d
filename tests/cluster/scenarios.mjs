// Mixed-cluster scenarios: socket.io-client clients on two servers that share one Redis, plus
// the @socket.io/redis-emitter, checking everything the Redis adapter carries between nodes.
//
//   node tests/cluster/scenarios.mjs --a URL_A --b URL_B --redis REDIS_URL
//                                    [--key socket.io] [--only NAME[,NAME...]]
//
// Both servers implement the cluster app contract of tests/cluster/README.md (node_app.mjs is
// the reference; minisock_app.py the Python one) and must be started with --key equal to ours.
// Prints one "PASS name" / "FAIL name: reason" line per scenario (with "  ok ..." detail lines
// before it) and a final "N passed, M failed" line; exits 1 if any scenario failed (or on the
// overall timeout), 0 otherwise.
//
// Determinism: every wait is bounded. Where a check is "X did NOT happen" we send a FENCE after
// the operation from the same origin (a broadcast to all, a socketsJoin of a fence room, ...)
// and check once every client has seen the fence: one origin publishes on one Redis
// connection, Redis delivers to each subscriber in order, and the reference node applies them
// in order, so anything the operation caused has happened by then. The only plain timed waits
// are NOTHING_MS after serverSideEmit (which cannot be fenced) and the ack timeouts under test.
//
// The npm packages come from tests/js/node_modules (createRequire: ESM ignores NODE_PATH).

import { createRequire } from "node:module";
import { isDeepStrictEqual, inspect } from "node:util";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { io } = require("socket.io-client");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

const OVERALL_TIMEOUT_MS = 90_000;
const STEP_MS = 5_000; // any single ack or awaited condition
const NOTHING_MS = 300; // "no serverSideEmit came back to the sender"
const ACK_TIMEOUT_MS = 3_000; // call-all when every client answers
const SHORT_ACK_TIMEOUT_MS = 500; // call-all when one client stays silent
const SSE_TIMEOUT_MS = 12_000; // sse-call that no server answers: > the servers' requests timeout

// ------------------------------------------------------------------------------ arguments

function parseArgs(argv) {
  const opts = { a: null, b: null, redis: null, key: "socket.io", only: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === "--a") opts.a = value;
    else if (flag === "--b") opts.b = value;
    else if (flag === "--redis") opts.redis = value;
    else if (flag === "--key") opts.key = value;
    else if (flag === "--only") opts.only = value.split(",");
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!opts.a || !opts.b || !opts.redis) {
    throw new Error("usage: scenarios.mjs --a URL --b URL --redis URL [--key K] [--only NAME]");
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ------------------------------------------------------------------------------ utilities

class CheckFailed extends Error {}

const show = (value) => inspect(value, { depth: 6, breakLength: Infinity });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Buffers / ArrayBuffers become {$bin: hex}, functions are dropped: comparable plain data. */
function plain(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("hex") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex") };
  }
  if (Array.isArray(value)) return value.filter((v) => typeof v !== "function").map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const byJson = (list) =>
  [...list].sort((x, y) => {
    const [a, b] = [JSON.stringify(x), JSON.stringify(y)];
    return a < b ? -1 : a > b ? 1 : 0;
  });

function expectEqual(actual, expected, what) {
  if (!isDeepStrictEqual(plain(actual), plain(expected))) {
    throw new CheckFailed(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

function expect(condition, what) {
  if (!condition) throw new CheckFailed(what);
}

/** Polls `probe` (async, returns a value) until `accept(value)`; fails after `ms`. */
async function waitFor(what, probe, accept = (v) => v, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (accept(last)) return last;
    if (Date.now() > deadline) {
      throw new CheckFailed(`timed out after ${ms} ms waiting for ${what}; last: ${show(last)}`);
    }
    await sleep(20);
  }
}

// Names, rooms and note tags start with this, so that runs against long-lived servers never see
// each other's leftovers.
const RUN = Math.random().toString(36).slice(2, 8);

let currentLog = [];
const ok = (what) => currentLog.push(`  ok ${what}`);

// ------------------------------------------------------------------------------ clients

/**
 * A socket.io-client socket named `name` on `url`, in `rooms` (auth {name, rooms}).
 * Records every event; answers "q" with {name, args} unless args[0].silent lists its name.
 */
class Client {
  constructor(url, name, rooms, server) {
    this.name = name;
    this.server = server; // "A" or "B"
    this.rooms = rooms;
    this.events = []; // [{event, args}]
    this.disconnectReasons = [];
    this.socket = io(url, {
      auth: { name, rooms },
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: STEP_MS,
    });
    this.socket.onAny((event, ...args) => this.events.push({ event, args: plain(args) }));
    this.socket.on("q", (...args) => {
      const cb = args.pop();
      const silent = args[0]?.silent;
      if (Array.isArray(silent) && silent.includes(name)) return;
      if (typeof cb === "function") cb({ name, args: plain(args) });
    });
    this.socket.on("disconnect", (reason) => this.disconnectReasons.push(reason));
  }

  connected() {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve(this);
      const timer = setTimeout(() => reject(new CheckFailed(`${this.name}: connect timed out`)), STEP_MS);
      this.socket.once("connect", () => {
        clearTimeout(timer);
        resolve(this);
      });
      this.socket.once("connect_error", (err) => {
        clearTimeout(timer);
        reject(new CheckFailed(`${this.name}: connect_error ${err.message}`));
      });
    });
  }

  get id() {
    return this.socket.id;
  }

  /** Emits `event` with `payload` (if any) and returns the server's ack. */
  async call(event, ...payload) {
    return this.callWithin(STEP_MS, event, ...payload);
  }

  async callWithin(ms, event, ...payload) {
    try {
      return await this.socket.timeout(ms).emitWithAck(event, ...payload);
    } catch (err) {
      throw new CheckFailed(`${this.name} -> ${event} ${show(payload)}: ${err.message}`);
    }
  }

  count(event) {
    return this.events.filter((e) => e.event === event).length;
  }

  received(event) {
    return this.events.filter((e) => e.event === event);
  }

  close() {
    this.socket.disconnect();
  }
}

/** Connects the clients of `spec` ({name: [server, rooms]}); names and rooms get `prefix`. */
async function connectAll(prefix, spec) {
  const clients = {};
  for (const [short, [server, rooms]] of Object.entries(spec)) {
    const url = server === "A" ? opts.a : opts.b;
    clients[short] = new Client(url, `${prefix}${short}`, rooms.map((r) => `${prefix}${r}`), server);
  }
  scenarioClients.push(...Object.values(clients));
  await Promise.all(Object.values(clients).map((c) => c.connected()));
  return clients;
}

// Every client of the running scenario; the runner closes them (closeAll) after it.
let scenarioClients = [];

let fenceCounter = 0;

/** Broadcast a fence to everyone from `origin` (a client) and wait until every client has it. */
async function fence(origin, clients) {
  const event = `fence-${++fenceCounter}`;
  expectEqual(await origin.call("emit-to", { to: [], except: [], event, args: [] }), true, "fence ack");
  const all = Object.values(clients).filter((c) => c.socket.connected);
  await waitFor(`${event} at every client`, () => all.filter((c) => c.count(event) === 0).map((c) => c.name), (v) => v.length === 0);
}

/** Waits until exactly `expected` (short names) got `event` once, and nobody else (fenced). */
async function expectDelivery(clients, event, expected, fenceOrigin, args = null) {
  const want = expected.map((s) => clients[s]);
  await waitFor(`${event} at ${expected.join(",")}`, () => want.filter((c) => c.count(event) === 0).map((c) => c.name), (v) => v.length === 0);
  await fence(fenceOrigin, clients);
  const counts = Object.fromEntries(Object.entries(clients).map(([s, c]) => [s, c.count(event)]));
  const wantCounts = Object.fromEntries(Object.keys(clients).map((s) => [s, expected.includes(s) ? 1 : 0]));
  expectEqual(counts, wantCounts, `deliveries of ${event}`);
  if (args !== null) {
    for (const s of expected) expectEqual(clients[s].received(event)[0].args, args, `${event} args at ${s}`);
  }
}

// ------------------------------------------------------------------------------ scenarios

const PAYLOAD = { text: "héllo ✓ 日本 🎉", nested: { list: [1, 2.5, null, true, "ü"], empty: {} } };

const scenarios = {
  async "server-count"() {
    const c = await connectAll(`${RUN}.sc:`, { a1: ["A", []], b1: ["B", []] });
    expectEqual(await c.a1.call("server-count"), 2, "serverCount() on A");
    expectEqual(await c.b1.call("server-count"), 2, "serverCount() on B");
    ok("both nodes count 2 servers");
  },

  async broadcast() {
    const P = `${RUN}.bc:`;
    const c = await connectAll(P, {
      a1: ["A", ["r1"]],
      a2: ["A", ["r2", "rx"]],
      b1: ["B", ["r1"]],
      b2: ["B", ["r2"]],
      b3: ["B", ["r1", "r2", "rx"]],
    });
    const r = (name) => `${P}${name}`;
    const cases = [
      ["a1", { to: [r("r1")] }, ["a1", "b1", "b3"]],
      ["b2", { to: [r("r2")] }, ["a2", "b2", "b3"]],
      ["a2", { to: [] }, ["a1", "a2", "b1", "b2", "b3"]],
      ["b1", { to: [] }, ["a1", "a2", "b1", "b2", "b3"]],
      ["a1", { to: [r("r1")], except: [r("rx")] }, ["a1", "b1"]],
      ["b1", { to: [r("r1")], except: [r("rx")] }, ["a1", "b1"]],
      ["b2", { to: [r("r1"), r("r2")] }, ["a1", "a2", "b1", "b2", "b3"]],
      ["a1", { to: [r("r1"), r("r2")], except: [r("rx")] }, ["a1", "b1", "b2"]],
      ["a1", { to: [], except: [r("r1")] }, ["a2", "b2"]],
      ["a1", { to: [r("r1")], local: true }, ["a1"]],
      ["b1", { to: [r("r1"), r("r2")], local: true }, ["b1", "b2", "b3"]],
      ["a2", { to: [], local: true }, ["a1", "a2"]],
      ["a1", { to: [r("nobody")] }, []],
    ];
    let n = 0;
    for (const [origin, sel, expected] of cases) {
      const event = `bc-${++n}`;
      const args = [n, PAYLOAD];
      const req = { to: sel.to, except: sel.except ?? [], event, args, local: sel.local ?? false };
      expectEqual(await c[origin].call("emit-to", req), true, `emit-to ack (${event})`);
      await expectDelivery(c, event, expected, c[origin], args);
      ok(`${event} from ${origin} ${show(sel)} reached exactly ${expected.join(",") || "nobody"}`);
    }
    // Binary arguments cross Redis as msgpack bin and arrive as binary attachments.
    const bin = { buf: Buffer.from([0, 1, 2, 253, 254, 255]), list: ["x", Buffer.alloc(0)] };
    for (const origin of ["a1", "b1"]) {
      const event = `bc-bin-${origin}`;
      const req = { to: [r("r1")], except: [], event, args: [bin], local: false };
      expectEqual(await c[origin].call("emit-to", req), true, "emit-to ack (binary)");
      await expectDelivery(c, event, ["a1", "b1", "b3"], c[origin], [bin]);
      ok(`binary broadcast from ${origin} arrived intact`);
    }
  },

  async fetch() {
    const P = `${RUN}.fs:`;
    const c = await connectAll(P, {
      a1: ["A", ["r1"]],
      a2: ["A", ["r2", "rx"]],
      b1: ["B", ["r1", "rx"]],
      b2: ["B", []],
    });
    const [nodeA, nodeB] = await nodeNames(c.a1, c.b1);
    const entry = (s) => ({
      id: c[s].id,
      name: c[s].name,
      node: c[s].server === "A" ? nodeA : nodeB,
      rooms: [...c[s].rooms, c[s].id].sort(),
    });
    const r = (name) => `${P}${name}`;
    const cases = [
      [{ to: [] }, ["a1", "a2", "b1", "b2"]],
      [{ to: [r("r1")] }, ["a1", "b1"]],
      [{ to: [r("r1"), r("r2")], except: [r("rx")] }, ["a1"]],
      [{ to: [r("rx")] }, ["a2", "b1"]],
      [{ to: [c.b2.id] }, ["b2"]],
      [{ to: [r("nobody")] }, []],
    ];
    for (const origin of ["a1", "b1"]) {
      for (const [sel, expected] of cases) {
        const req = { to: sel.to, except: sel.except ?? [], local: false };
        let got = await c[origin].call("fetch", req);
        if (sel.to.length === 0) got = got.filter((s) => s.name.startsWith(P)); // others may linger
        expectEqual(got, expected.map(entry), `fetch from ${origin} ${show(sel)}`);
      }
      ok(`fetchSockets from ${origin} sees both nodes' sockets (ids, names, nodes, rooms)`);
      const local = await c[origin].call("fetch", { to: [r("r1"), r("r2"), r("rx")], except: [], local: true });
      const mine = ["a1", "a2", "b1", "b2"].filter((s) => c[s].server === c[origin].server);
      expectEqual(local, mine.filter((s) => s !== "b2").map(entry), `local fetch from ${origin}`);
      ok(`local fetchSockets from ${origin} sees its own node only`);
    }
  },

  async "server-side-emit"() {
    const P = `${RUN}.sse:`;
    const c = await connectAll(P, { a1: ["A", []], b1: ["B", []] });
    const [nodeA, nodeB] = await nodeNames(c.a1, c.b1);
    for (const [from, to] of [["a1", "b1"], ["b1", "a1"]]) {
      const tag = `${P}note-from-${from}`;
      const args = [tag, PAYLOAD, 42];
      expectEqual(await c[from].call("sse", { event: "note", args }), true, "sse ack");
      await waitFor(`note ${tag} on the other node`, () => c[to].call("notes"), (notes) => notes.some((n) => n[0] === tag));
      const there = (await c[to].call("notes")).filter((n) => n[0] === tag);
      expectEqual(there, [args], `notes with ${tag} on the other node`);
      await sleep(NOTHING_MS); // cannot be fenced: serverSideEmit has no order w.r.t. anything we see
      const here = (await c[from].call("notes")).filter((n) => n[0] === tag);
      expectEqual(here, [], `notes with ${tag} on the sending node`);
      ok(`serverSideEmit from ${from}'s node reached the other node once, not itself`);
    }
    expectEqual(await c.a1.call("sse-call", { event: "whoami", args: [] }), { responses: [nodeB] }, "whoami from A");
    expectEqual(await c.b1.call("sse-call", { event: "whoami", args: [] }), { responses: [nodeA] }, "whoami from B");
    ok("serverSideEmitWithAck(whoami) gets the other node's answer, both ways");
    for (const from of ["a1", "b1"]) {
      // Times out after the server's --requests-timeout (5 s by default).
      const got = await c[from].callWithin(SSE_TIMEOUT_MS, "sse-call", { event: "nobody-answers", args: [1] });
      expect(typeof got.error === "string" && got.error.length > 0, `sse-call timeout from ${from}: expected an error, got ${show(got)}`);
      expectEqual(got.responses, [], `sse-call timeout responses from ${from}`);
      ok(`serverSideEmitWithAck nobody answers, from ${from}: error ${show(got.error)}`);
    }
  },

  async "broadcast-ack"() {
    const P = `${RUN}.ack:`;
    const c = await connectAll(P, {
      a1: ["A", ["r1"]],
      a2: ["A", []],
      b1: ["B", ["r1"]],
      b2: ["B", ["r1"]],
    });
    const r1 = `${P}r1`;
    const answer = (s, args) => ({ name: c[s].name, args });
    for (const origin of ["a2", "b1"]) {
      const args = [origin, PAYLOAD];
      const got = await c[origin].call("call-all", { to: [r1], except: [], event: "q", args, timeout: ACK_TIMEOUT_MS });
      expectEqual(got, { responses: byJson(["a1", "b1", "b2"].map((s) => answer(s, args))) }, `call-all from ${origin}`);
      ok(`broadcast with ack from ${origin} gathered the acks of r1 on both nodes`);
      const everyone = await c[origin].call("call-all", { to: [], except: [r1], event: "q", args, timeout: ACK_TIMEOUT_MS });
      const mine = everyone.responses?.filter((x) => x.name.startsWith(P));
      expectEqual({ ...everyone, responses: mine }, { responses: [answer("a2", args)] }, `call-all except r1 from ${origin}`);
      ok(`broadcast with ack except r1 from ${origin}`);
    }
    for (const [origin, silent] of [["a1", "b2"], ["b2", "a1"]]) {
      const args = [{ silent: [c[silent].name] }];
      const started = Date.now();
      const got = await c[origin].call("call-all", { to: [r1], except: [], event: "q", args, timeout: SHORT_ACK_TIMEOUT_MS });
      const others = ["a1", "b1", "b2"].filter((s) => s !== silent);
      expectEqual(got, { error: "operation has timed out", responses: byJson(others.map((s) => answer(s, args))) }, `call-all with ${silent} silent from ${origin}`);
      expect(Date.now() - started >= SHORT_ACK_TIMEOUT_MS - 50, "the timeout fired too early");
      ok(`broadcast with ack from ${origin}, ${silent} silent: timed out with the partial responses`);
    }
    const none = await c.a1.call("call-all", { to: [`${P}nobody`], except: [], event: "q", args: [], timeout: ACK_TIMEOUT_MS });
    expectEqual(none, { responses: [] }, "call-all to an empty room");
    ok("broadcast with ack to an empty room resolves with no responses");
  },

  async "remote-ops"() {
    const P = `${RUN}.ro:`;
    const c = await connectAll(P, {
      a1: ["A", ["r1"]],
      a2: ["A", ["rx"]],
      a3: ["A", ["r1"]],
      b1: ["B", ["r1"]],
      b2: ["B", ["rx"]],
      b3: ["B", []],
    });
    const r = (name) => `${P}${name}`;
    const roomsOf = (s) => c[s].call("rooms");
    const hasRoom = (room) => (rooms) => rooms.includes(room);
    const lacksRoom = (room) => (rooms) => !rooms.includes(room);
    for (const [origin, target] of [["a1", "b3"], ["b1", "a3"], ["a1", "a3"]]) {
      const room = r(`joined-by-${origin}`);
      expectEqual(await c[origin].call("remote-join", { name: c[target].name, room }), true, "remote-join ack");
      await waitFor(`${target} in ${room}`, () => roomsOf(target), hasRoom(room));
      expectEqual(await c[origin].call("remote-leave", { name: c[target].name, room }), true, "remote-leave ack");
      await waitFor(`${target} out of ${room}`, () => roomsOf(target), lacksRoom(room));
      ok(`RemoteSocket join/leave of ${target} from ${origin}'s node`);
    }

    // Broadcast-operator forms, fenced with a socketsJoin of a fence room to everyone.
    const fenceJoin = async (origin, n) => {
      const room = r(`fence-${n}`);
      await c[origin].call("sockets-join", { to: [], except: [], rooms: [room] });
      const live = Object.keys(c).filter((s) => c[s].socket.connected);
      for (const s of live) await waitFor(`${s} in ${room}`, () => roomsOf(s), hasRoom(room));
      return live;
    };
    const j = r("j");
    await c.a1.call("sockets-join", { to: [r("r1")], except: [], rooms: [j, r("k")] });
    for (const s of ["a1", "a3", "b1"]) await waitFor(`${s} in ${j}`, () => roomsOf(s), (v) => v.includes(j) && v.includes(r("k")));
    for (const s of await fenceJoin("a1", 1)) {
      expectEqual((await roomsOf(s)).includes(j), ["a1", "a3", "b1"].includes(s), `${s} in ${j}`);
    }
    ok("socketsJoin from A reached r1 on both nodes, nobody else");
    await c.b2.call("sockets-leave", { to: [j], except: [r("r1")], rooms: [j] }); // nobody
    await c.b2.call("sockets-leave", { to: [], except: [], rooms: [r("k")] });
    await c.b2.call("sockets-leave", { to: [j], except: [], rooms: [j] });
    for (const s of ["a1", "a3", "b1"]) await waitFor(`${s} out of ${j}`, () => roomsOf(s), (v) => !v.includes(j) && !v.includes(r("k")));
    ok("socketsLeave from B removed r1's sockets on both nodes");

    // Remote disconnects, both ways. With close=true the reference still sends the
    // DISCONNECT packet before closing the connection, so the client's reason is the same.
    const disconnected = (s) => waitFor(`${s} disconnected`, async () => c[s].disconnectReasons, (v) => v.length > 0);
    await c.a1.call("remote-disconnect", { name: c.b3.name, close: false });
    expectEqual(await disconnected("b3"), ["io server disconnect"], "b3 disconnect reasons");
    await c.b1.call("remote-disconnect", { name: c.a3.name, close: true });
    expectEqual(await disconnected("a3"), ["io server disconnect"], "a3 disconnect reasons");
    ok("RemoteSocket.disconnect both ways (namespace disconnect, and close=true)");
    await c.b1.call("disconnect-sockets", { to: [r("rx")], except: [], close: false });
    expectEqual(await disconnected("a2"), ["io server disconnect"], "a2 disconnect reasons");
    expectEqual(await disconnected("b2"), ["io server disconnect"], "b2 disconnect reasons");
    await fenceJoin("b1", 2);
    for (const s of ["a1", "b1"]) expectEqual(c[s].disconnectReasons, [], `${s} disconnect reasons`);
    ok("disconnectSockets(rx) from B disconnected rx on both nodes, nobody else");
  },

  async emitter() {
    const P = `${RUN}.em:`;
    const c = await connectAll(P, {
      a1: ["A", ["r1"]],
      a2: ["A", ["rx"]],
      b1: ["B", ["r1", "rx"]],
      b2: ["B", []],
    });
    const r = (name) => `${P}${name}`;
    const redis = createClient({ url: opts.redis });
    redis.on("error", () => {});
    await redis.connect();
    const emitter = new Emitter(redis, { key: opts.key });
    // The emitter's own fence: everything it publishes goes through one Redis connection.
    const emitterFence = {
      async call(_event, { event }) {
        emitter.emit(event);
        return true;
      },
    };
    try {
      const cases = [
        [(e, ...a) => emitter.emit(e, ...a), ["a1", "a2", "b1", "b2"], "emit"],
        [(e, ...a) => emitter.to(r("r1")).emit(e, ...a), ["a1", "b1"], "to(r1).emit"],
        [(e, ...a) => emitter.to(r("r1")).to(r("rx")).except(r("r1")).emit(e, ...a), ["a2"], "to(r1,rx).except(r1).emit"],
      ];
      let n = 0;
      for (const [send, expected, what] of cases) {
        const event = `em-${++n}`;
        const args = [n, PAYLOAD];
        send(event, ...args);
        await expectDelivery(c, event, expected, emitterFence, args);
        ok(`emitter ${what} reached exactly ${expected.join(",")}`);
      }
      const tag = `${P}note`;
      emitter.serverSideEmit("note", tag, PAYLOAD);
      for (const s of ["a1", "b1"]) {
        await waitFor(`emitter note on ${c[s].server}`, () => c[s].call("notes"), (notes) => notes.some((x) => x[0] === tag));
        expectEqual((await c[s].call("notes")).filter((x) => x[0] === tag), [[tag, PAYLOAD]], `emitter notes on ${c[s].server}`);
      }
      ok("emitter serverSideEmit reached both nodes once");
      const j = r("j");
      emitter.in(r("rx")).socketsJoin(j);
      for (const s of ["a2", "b1"]) await waitFor(`${s} in ${j}`, () => c[s].call("rooms"), (v) => v.includes(j));
      emitter.in(j).socketsLeave(j);
      for (const s of ["a2", "b1"]) await waitFor(`${s} out of ${j}`, () => c[s].call("rooms"), (v) => !v.includes(j));
      ok("emitter socketsJoin / socketsLeave reached both nodes");
      emitter.in(r("r1")).disconnectSockets();
      for (const s of ["a1", "b1"]) {
        await waitFor(`${s} disconnected`, async () => c[s].disconnectReasons, (v) => v.length > 0);
        expectEqual(c[s].disconnectReasons, ["io server disconnect"], `${s} disconnect reasons`);
      }
      emitter.emit("em-after");
      await expectDelivery(c, "em-after", ["a2", "b2"], emitterFence);
      expectEqual([c.a2.disconnectReasons, c.b2.disconnectReasons], [[], []], "a2/b2 still connected");
      ok("emitter disconnectSockets(r1) disconnected r1 on both nodes, nobody else");
    } finally {
      await redis.disconnect().catch(() => {});
    }
  },
};

/**
 * Disconnects `clients` and waits until neither server lists them any more, so that the next
 * scenario's broadcasts (with acks) never wait on a socket that is already gone.
 */
async function closeAll(all) {
  for (const client of all) client.close();
  const names = new Set(all.map((c) => c.name));
  for (const url of [opts.a, opts.b]) {
    const probe = await new Client(url, `${RUN}.probe`, [], null).connected();
    try {
      await waitFor("the scenario's sockets to be gone", async () => {
        const left = await probe.call("fetch", { to: [], except: [], local: true });
        return left.filter((s) => names.has(s.name)).map((s) => s.name);
      }, (v) => v.length === 0);
    } finally {
      probe.close();
    }
  }
}

/** The node names of the servers of a (on A) and b (on B), as their sockets' data.node say. */
async function nodeNames(a, b) {
  const [[fa], [fb]] = await Promise.all([
    a.call("fetch", { to: [a.id], except: [], local: true }),
    b.call("fetch", { to: [b.id], except: [], local: true }),
  ]);
  expect(fa && fb && fa.node !== fb.node, `node names: ${show([fa, fb])}`);
  return [fa.node, fb.node];
}

// ------------------------------------------------------------------------------ runner

const overall = setTimeout(() => {
  console.log(`FAIL overall timeout of ${OVERALL_TIMEOUT_MS} ms`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

const selected = opts.only ?? Object.keys(scenarios);
let passed = 0;
let failed = 0;
for (const name of selected) {
  const scenario = scenarios[name];
  currentLog = [];
  if (!scenario) {
    console.log(`FAIL ${name}: no such scenario (known: ${Object.keys(scenarios).join(", ")})`);
    failed++;
    continue;
  }
  scenarioClients = [];
  let error = null;
  try {
    await scenario();
  } catch (err) {
    error = err;
  }
  try {
    await closeAll(scenarioClients);
  } catch (err) {
    if (error === null) error = err;
    else currentLog.push(`  (cleanup failed too: ${err.message})`);
  }
  for (const line of currentLog) console.log(line);
  if (error === null) {
    console.log(`PASS ${name}`);
    passed++;
  } else {
    console.log(`FAIL ${name}: ${error instanceof CheckFailed ? error.message : error?.stack ?? error}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
clearTimeout(overall);
process.exit(failed === 0 ? 0 : 1);
