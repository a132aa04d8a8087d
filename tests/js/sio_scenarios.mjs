// Socket.IO v5 conformance scenarios driven by the real npm `socket.io-client`.
//
//   node sio_scenarios.mjs <scenario> <base-url>
//
// Runs ONE scenario against a Socket.IO server listening at <base-url> (path "/socket.io/") and
// prints exactly ONE JSON line on stdout describing what was observed
// ({"ok": bool, "reason": string|null, "scenario": ..., "sockets": {...}, ...}); exits 0 when every
// check passed, 1 otherwise. Never hangs: an overall timeout fails the run. Reconnection is off,
// so an unexpected disconnect is reported instead of hidden by a reconnect loop.
//
// The server this script expects (test_socketio_client.py builds it with minisock; any Socket.IO
// 4.x server written to the same contract works, e.g. the socket.io reference):
//
//   namespaces "/" and "/custom"
//   middleware on "/"   auth.refuse truthy -> refuse: message "not allowed", data {code: 42}
//   on connect ("/" and "/custom")  emit "welcome", {nsp, auth, text: NON_ASCII, nested: NESTED}
//   "which-nsp" ("/" and "/custom") ack: the namespace name
//   the events below exist on "/" only:
//   "ping-me" ...args        emit "pong-you", ...args
//   "echo-ack" ...args       ack ...args
//   "void-ack"               ack with no argument
//   "square" i               ack {i, square: i * i}
//   "ask-me" x               the server emits "question", x WITH an ack request, then emits
//                            "answer", ...(the arguments of the client's ack)
//   "binary-echo" ...args    emit "binary-back", ...args
//   "binary-please"          emit "binary-server", ...SERVER_BINARY
//   "kick-me"                the server disconnects this socket (namespace only)
//   "join" rooms             join rooms; ack the socket's rooms (own id left out), sorted
//   "members" {rooms, except}   ack the sorted ids of the sockets of "/" in rooms (all sockets
//                               if rooms is empty) and in none of except
//   "broadcast" {rooms, except, event, payload}   emit event, payload to that selection of "/"
//                               (server-wide, not socket.to), then ack its ids as "members" does
//   any other event, ...args (catch-all)      emit "caught", event, ...args
//   disconnect            the server records (nsp, auth.tag, reason); the caller checks them
//
// Scenarios:
//   namespaces           "/" and "/custom" multiplexed over one Engine.IO connection
//   events[-polling|-websocket]   events both ways, non-ASCII and nested data, catch-all
//   acks[-polling|-websocket]     client->server acks (binary, several args, none, 20 concurrent)
//                                 and server->client acks
//   binary[-polling|-websocket]   Buffer / Uint8Array / ArrayBuffer args both ways, nested
//   middleware-refusal   connect_error "not allowed" with data {code: 42}; no retry
//   rooms                4 clients; to("r").except("x") reaches exactly A and B; B leaves
//   disconnect-reasons   client-side and server-side namespace disconnects (tags dr-client,
//                        dr-server; the server-side reasons are checked by the caller)
//   upgrade              polling -> websocket while 50 numbered events flow, echoed in order
//
// Set DEBUG=socket.io-client:*,engine.io-client:* to get the client's own trace on stderr.

import { io } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 15_000;
const STEP_TIMEOUT_MS = 5_000; // any single awaited event / ack
// After the verdict, keep the process alive briefly so that DISCONNECT packets / close frames we
// just queued really reach the server (the server-side disconnect reasons are checked by the caller).
const EXIT_GRACE_MS = 300;
const MAX_EVENTS = 400;

const NON_ASCII = "héllo ✓ 日本 🎉";
const NESTED = { list: [1, 2.5, null, true, "ü"], obj: { deep: ["x", { y: "€" }] } };
// What the server sends on "binary-please" (the Python side builds the same values).
const SERVER_BINARY = [
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  { b: Buffer.from([1, 2, 3]), list: [Buffer.from([0xff]), "text", { deep: Buffer.alloc(0) }] },
];

const [scenario, baseUrl] = process.argv.slice(2);
const t0 = Date.now();

const obs = {
  ok: false,
  reason: null,
  scenario: scenario ?? null,
  baseUrl: baseUrl ?? null,
  elapsedMs: 0,
  requestedTransports: null,
  sockets: {}, // name -> {nsp, id, engineId, transport, events: [...]}
  events: [], // [ms since start, socket name, event, detail?]
};

const sockets = new Map(); // name -> socket.io-client Socket
let finished = false;

function now() {
  return Date.now() - t0;
}

function event(who, name, detail) {
  if (obs.events.length < MAX_EVENTS) {
    obs.events.push(detail === undefined ? [now(), who, name] : [now(), who, name, detail]);
  } else if (obs.events.length === MAX_EVENTS) {
    obs.events.push([now(), who, "events-truncated"]);
  }
}

class ScenarioFailure extends Error {}

function fail(message) {
  throw new ScenarioFailure(message);
}

function check(cond, message) {
  if (!cond) fail(message);
}

function describeError(err) {
  if (err === undefined || err === null) return null;
  if (typeof err === "string") return err;
  const out = {};
  for (const key of ["message", "description", "type", "code", "data"]) {
    const v = err[key];
    if (v === undefined || v === null) continue;
    if (typeof v === "object" && !(v instanceof Error)) out[key] = show(v);
    else if (typeof v === "object") out[key] = v.message;
    else out[key] = v;
  }
  return Object.keys(out).length ? out : String(err);
}

function snapshot(name, s) {
  const engine = s.io && s.io.engine;
  obs.sockets[name] = {
    ...(obs.sockets[name] ?? {}),
    nsp: s.nsp,
    id: s.id ?? null,
    connected: s.connected,
    active: s.active,
    engineId: engine ? (engine.id ?? null) : null,
    transport: engine && engine.transport ? engine.transport.name : null,
  };
}

function finish(ok, reason) {
  if (finished) return;
  finished = true;
  obs.ok = ok;
  obs.reason = reason ?? null;
  obs.elapsedMs = now();
  for (const [name, s] of sockets) {
    try {
      snapshot(name, s);
    } catch {
      // keep going: the verdict matters more than a snapshot
    }
  }
  let line;
  try {
    line = JSON.stringify(obs);
  } catch (err) {
    line = JSON.stringify({ ok: false, reason: `could not serialise observations: ${err}`, scenario });
    ok = false;
  }
  process.stdout.write(line + "\n");
  process.exitCode = ok ? 0 : 1;
  for (const s of sockets.values()) {
    try {
      if (s.active) s.disconnect();
    } catch {
      // ignore: we are leaving anyway
    }
  }
  setTimeout(() => process.exit(ok ? 0 : 1), EXIT_GRACE_MS);
}

process.on("uncaughtException", (err) => {
  finish(false, `uncaught exception: ${err && err.stack ? err.stack : err}`);
});
process.on("unhandledRejection", (err) => {
  finish(false, `unhandled rejection: ${err && err.stack ? err.stack : err}`);
});
setTimeout(() => finish(false, `overall timeout after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS);

// ---------------------------------------------------------------------------------------------
// Values: binary-aware comparison and a JSON-safe rendering

function isBinary(v) {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function bytesOf(v) {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function kindOf(v) {
  if (Buffer.isBuffer(v)) return "Buffer";
  if (v instanceof ArrayBuffer) return "ArrayBuffer";
  if (ArrayBuffer.isView(v)) return v.constructor ? v.constructor.name : "view";
  if (Array.isArray(v)) return "array";
  return v === null ? "null" : typeof v;
}

/** JSON-safe rendering: binary becomes {$binary: kind, length, hex (first 16 bytes)}. */
function show(v, depth = 0) {
  if (depth > 12) return "<too deep>";
  if (isBinary(v)) {
    const b = bytesOf(v);
    const hex = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, 16)).toString("hex");
    return { $binary: kindOf(v), length: b.byteLength, hex: hex + (b.byteLength > 16 ? "..." : "") };
  }
  if (typeof v === "function") return "<function>";
  if (v === undefined) return "<undefined>";
  if (typeof v === "string" && v.length > 200) return v.slice(0, 200) + `...(${v.length} chars)`;
  if (Array.isArray(v)) return v.map((x) => show(x, depth + 1));
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = show(x, depth + 1);
    return out;
  }
  return v;
}

/** null when `got` equals `expected` (binary compared by bytes, any binary kind), else where not. */
function diff(expected, got, path = "$") {
  if (isBinary(expected)) {
    if (!isBinary(got)) return `${path}: expected binary, got ${kindOf(got)} ${JSON.stringify(show(got))}`;
    const a = bytesOf(expected);
    const b = bytesOf(got);
    if (a.byteLength !== b.byteLength) return `${path}: expected ${a.byteLength} bytes, got ${b.byteLength}`;
    for (let i = 0; i < a.byteLength; i++) {
      if (a[i] !== b[i]) return `${path}: byte ${i} is ${b[i]}, expected ${a[i]}`;
    }
    return null;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(got)) return `${path}: expected array, got ${kindOf(got)} ${JSON.stringify(show(got))}`;
    if (got.length !== expected.length) {
      return `${path}: expected ${expected.length} items, got ${got.length}: ${JSON.stringify(show(got))}`;
    }
    for (let i = 0; i < expected.length; i++) {
      const d = diff(expected[i], got[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (expected !== null && typeof expected === "object") {
    if (got === null || typeof got !== "object" || Array.isArray(got) || isBinary(got)) {
      return `${path}: expected object, got ${kindOf(got)} ${JSON.stringify(show(got))}`;
    }
    const ek = Object.keys(expected).sort();
    const gk = Object.keys(got).sort();
    if (ek.join("\u0000") !== gk.join("\u0000")) {
      return `${path}: keys ${JSON.stringify(gk)}, expected ${JSON.stringify(ek)}`;
    }
    for (const k of ek) {
      const d = diff(expected[k], got[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  if (!Object.is(expected, got)) return `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(show(got))}`;
  return null;
}

function checkEqual(expected, got, what) {
  const d = diff(expected, got);
  if (d) fail(`${what}: ${d}`);
}

/** Kinds of every binary value inside v (to report what the client handed us). */
function binaryKinds(v, out = []) {
  if (isBinary(v)) out.push(kindOf(v));
  else if (Array.isArray(v)) v.forEach((x) => binaryKinds(x, out));
  else if (v && typeof v === "object") Object.values(v).forEach((x) => binaryKinds(x, out));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Socket plumbing

function variantTransports(name) {
  if (name.endsWith("-polling")) return ["polling"];
  if (name.endsWith("-websocket")) return ["websocket"];
  return undefined; // default: polling first, then upgrade to websocket
}

let transportsForRun;

/** Opens a socket named `name` on namespace `nsp`; records its lifecycle; fails on surprises. */
function open(name, nsp, opts = {}) {
  const options = { reconnection: false, ...opts };
  if (transportsForRun && !options.transports) options.transports = transportsForRun;
  const s = io(baseUrl + (nsp === "/" ? "" : nsp), options);
  sockets.set(name, s);
  s.__expectDisconnect = false;
  s.__expectConnectError = false;
  s.on("connect", () => {
    event(name, "connect", { id: s.id, engineId: s.io.engine.id, transport: s.io.engine.transport.name });
    snapshot(name, s);
  });
  s.on("connect_error", (err) => {
    event(name, "connect_error", describeError(err));
    if (!s.__expectConnectError) finish(false, `${name}: unexpected connect_error ${JSON.stringify(describeError(err))}`);
  });
  s.on("disconnect", (reason, description) => {
    event(name, "disconnect", { reason, description: describeError(description) });
    if (!s.__expectDisconnect) finish(false, `${name}: unexpected disconnect (${reason})`);
  });
  const manager = s.io;
  if (!manager.__instrumented) {
    manager.__instrumented = true;
    manager.on("open", () => event(name, "manager open", manager.engine.id));
    manager.on("close", (reason) => event(name, "manager close", reason));
    manager.on("error", (err) => event(name, "manager error", describeError(err)));
    const engine = manager.engine;
    engine.on("upgrading", (t) => event(name, "upgrading", t.name));
    engine.on("upgrade", (t) => event(name, "upgrade", t.name));
    engine.on("upgradeError", (err) => event(name, "upgradeError", describeError(err)));
  }
  return s;
}

function timeoutError(what) {
  return new ScenarioFailure(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
}

/** Resolves with the arguments of the next `ev` on `s` (register BEFORE triggering it). */
function next(s, ev, what = ev) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.off(ev, handler);
      reject(timeoutError(what));
    }, STEP_TIMEOUT_MS);
    const handler = (...args) => {
      clearTimeout(timer);
      s.off(ev, handler);
      resolve(args);
    };
    s.on(ev, handler);
  });
}

function connected(s, name) {
  if (s.connected) return Promise.resolve();
  return next(s, "connect", `${name} to connect`).then(() => undefined);
}

/** Emits with an ack callback (bounded); resolves with ALL the ack's arguments. */
function ackArgs(s, ev, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(STEP_TIMEOUT_MS).emit(ev, ...args, (err, ...answer) => {
      if (err) reject(new ScenarioFailure(`no ack for "${ev}": ${err.message}`));
      else resolve(answer);
    });
  });
}

/** emitWithAck, bounded: resolves with the ack's first argument. */
async function ack(s, ev, ...args) {
  try {
    return await s.timeout(STEP_TIMEOUT_MS).emitWithAck(ev, ...args);
  } catch (err) {
    throw new ScenarioFailure(`no ack for "${ev}": ${err && err.message ? err.message : err}`);
  }
}

/** Resolves once predicate() is true (checked on every listed event of s and every 20 ms). */
function until(predicate, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let done = false;
      try {
        done = predicate();
      } catch (err) {
        reject(err);
        return;
      }
      if (done) resolve();
      else if (Date.now() - started > STEP_TIMEOUT_MS) reject(timeoutError(what));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function expectedWelcome(nsp, auth) {
  return { nsp, auth, text: NON_ASCII, nested: NESTED };
}

function checkTransport(s, name) {
  const engine = s.io.engine;
  const t = engine.transport.name;
  obs.finalTransport = t;
  if (transportsForRun) {
    check(t === transportsForRun[0], `${name}: transport is ${t}, expected ${transportsForRun[0]}`);
    check(!obs.events.some((e) => e[2] === "upgrade"), `${name}: upgraded although transports = ${transportsForRun}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function runNamespaces() {
  const mainAuth = { tag: "ns-main" };
  const customAuth = { tag: "ns-custom", text: NON_ASCII };
  const main = open("main", "/", { auth: mainAuth });
  const custom = open("custom", "/custom", { auth: customAuth });
  const welcomes = Promise.all([next(main, "welcome", "welcome on /"), next(custom, "welcome", "welcome on /custom")]);
  let opens = 0;
  main.io.on("open", () => opens++);
  await Promise.all([connected(main, "main"), connected(custom, "custom")]);
  const [[wMain], [wCustom]] = await welcomes;
  checkEqual(expectedWelcome("/", mainAuth), wMain, 'welcome on "/"');
  checkEqual(expectedWelcome("/custom", customAuth), wCustom, 'welcome on "/custom"');

  const engineId = main.io.engine.id;
  obs.engineIds = [main.io.engine.id, custom.io.engine.id];
  obs.socketIds = [main.id, custom.id];
  check(main.io === custom.io, "the two namespaces did not share one Manager");
  check(typeof engineId === "string" && engineId.length > 0, `bad engine id ${JSON.stringify(engineId)}`);
  check(custom.io.engine.id === engineId, `engine ids differ: ${obs.engineIds}`);
  check(opens <= 1, `the manager opened ${opens} Engine.IO connections`);
  check(main.id && custom.id && main.id !== custom.id, `socket ids not distinct: ${obs.socketIds}`);
  check(main.id !== engineId && custom.id !== engineId, "a Socket.IO id equals the Engine.IO id");

  check((await ack(main, "which-nsp")) === "/", '"which-nsp" on "/" was not answered by "/"');
  check((await ack(custom, "which-nsp")) === "/custom", '"which-nsp" on "/custom" was not answered by "/custom"');

  // Leaving one namespace keeps the other (and the shared connection) alive.
  custom.__expectDisconnect = true;
  custom.disconnect();
  await sleep(100);
  check(main.connected, '"/" disconnected when "/custom" left');
  check((await ack(main, "which-nsp")) === "/", '"which-nsp" on "/" after "/custom" left');
  check(main.io.engine.id === engineId, "the Engine.IO connection changed after /custom left");
  obs.finalTransport = main.io.engine.transport.name;
}

async function runEvents() {
  const auth = { tag: "events", text: NON_ASCII, nested: NESTED };
  const s = open("events", "/", { auth });
  const welcome = next(s, "welcome");
  await connected(s, "events");
  const [w] = await welcome;
  checkEqual(expectedWelcome("/", auth), w, "welcome (server emit on connect)");

  const N = 10;
  const sent = [];
  for (let i = 0; i < N; i++) {
    sent.push([
      i,
      `${NON_ASCII} #${i}`,
      { i, nested: NESTED, arr: [[], {}, [null]], emoji: "🎉".repeat(i), quote: 'a"b\\c\n\u2028' },
      null,
      true,
      3.25,
    ]);
  }
  sent.push([]); // an event with no argument at all
  const received = [];
  s.on("pong-you", (...args) => received.push(args));
  for (const args of sent) s.emit("ping-me", ...args);
  await until(() => received.length >= sent.length, `${sent.length} "pong-you" events`);
  obs.pongs = received.length;
  for (let i = 0; i < sent.length; i++) checkEqual(sent[i], received[i], `pong-you #${i}`);

  const caught = next(s, "caught");
  s.emit("something-else", NON_ASCII, { k: [1, { z: "ö" }] });
  checkEqual(["something-else", NON_ASCII, { k: [1, { z: "ö" }] }], await caught, "catch-all (caught)");
  await sleep(50);
  check(received.length === sent.length, `extra "pong-you" events: ${received.length}`);
  checkTransport(s, "events");
}

async function runAcks() {
  const s = open("acks", "/", { auth: { tag: "acks" } });
  await connected(s, "acks");

  // client -> server, one argument with binary nested in objects and arrays
  const payload = {
    text: NON_ASCII,
    bin: Buffer.from([0, 1, 2, 255]),
    list: [Uint8Array.from([9, 8, 7]), { deep: Buffer.from("ü日", "utf8") }, "plain"],
    none: null,
  };
  const got = await ack(s, "echo-ack", payload);
  checkEqual(payload, got, "emitWithAck echo-ack");
  obs.ackBinaryKinds = binaryKinds(got);

  // several ack arguments, and none
  const several = ["a", 2, { b: [Buffer.from([3])], t: NON_ASCII }];
  checkEqual(several, await ackArgs(s, "echo-ack", ...several), "echo-ack with 3 arguments");
  checkEqual([], await ackArgs(s, "void-ack"), "void-ack");

  // 20 concurrent acks, answered in whatever order, each to its own request
  const requests = Array.from({ length: 20 }, (_, i) =>
    i % 2 === 0
      ? { ev: "echo-ack", arg: { i, bin: Buffer.from([i, 255 - i]), label: `#${i} ✓` }, expect: null }
      : { ev: "square", arg: i, expect: { i, square: i * i } },
  );
  const answers = await Promise.all(requests.map((r) => ack(s, r.ev, r.arg)));
  requests.forEach((r, i) => checkEqual(r.expect ?? r.arg, answers[i], `concurrent ack #${i} (${r.ev})`));

  // server -> client: the server asks "question" with an ack and reports the ack's args as "answer"
  const questions = [];
  s.on("question", (x, cb) => {
    questions.push(show(x));
    if (typeof cb !== "function") {
      finish(false, `"question" arrived without an ack callback: ${JSON.stringify(show(x))}`);
      return;
    }
    if (x.none) cb();
    else if (x.multi) cb("first", x.n * 2, { third: Buffer.from([x.n]) });
    else cb({ got: x, doubled: x.n * 2, bin: Buffer.from([x.n, 0x1e]), text: NON_ASCII });
  });
  const cases = [
    [{ n: 21, text: NON_ASCII }, (x) => [{ got: x, doubled: 42, bin: Buffer.from([21, 0x1e]), text: NON_ASCII }]],
    [{ n: 5, multi: true }, () => ["first", 10, { third: Buffer.from([5]) }]],
    [{ n: 0, none: true }, () => []],
  ];
  for (const [x, expected] of cases) {
    const answer = next(s, "answer", `"answer" to ${JSON.stringify(x)}`);
    s.emit("ask-me", x);
    checkEqual(expected(x), await answer, `server->client ack for ${JSON.stringify(x)}`);
  }
  obs.questions = questions;
  checkTransport(s, "acks");
}

async function runBinary() {
  const s = open("binary", "/", { auth: { tag: "binary" } });
  await connected(s, "binary");

  const big = Buffer.alloc(64 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const args = [
    Buffer.from([0, 1, 2, 3, 0x1e, 254, 255]),
    Uint8Array.from([10, 20, 30]),
    Uint8Array.from([5, 6, 7]).buffer,
    { nested: { buf: Buffer.from("日本", "utf8"), arr: [big, "str", { u8: new Uint8Array([0x1e, 0x00]) }] } },
    "text after binary",
    Buffer.alloc(0),
  ];
  const back = next(s, "binary-back");
  s.emit("binary-echo", ...args);
  const echoed = await back;
  checkEqual(args, echoed, "binary-back");
  obs.echoKinds = binaryKinds(echoed);

  const fromServer = next(s, "binary-server");
  s.emit("binary-please");
  const got = await fromServer;
  checkEqual(SERVER_BINARY, got, "binary-server");
  obs.serverKinds = binaryKinds(got);
  checkTransport(s, "binary");
}

async function runMiddlewareRefusal() {
  const s = open("refused", "/", { auth: { refuse: true, tag: "refused" } });
  s.__expectConnectError = true;
  s.on("connect", () => finish(false, "connected although the middleware refuses"));
  const [err] = await next(s, "connect_error");
  obs.connectError = describeError(err);
  check(err instanceof Error, `connect_error argument is not an Error: ${JSON.stringify(show(err))}`);
  check(err.message === "not allowed", `err.message ${JSON.stringify(err.message)}, expected "not allowed"`);
  checkEqual({ code: 42 }, err.data, "err.data");
  await sleep(200); // a refusal by the server is final: no retry, no late connect
  check(!s.connected, "socket is connected after the refusal");
  check(!s.active, "socket is still active (would retry) after the server's refusal");
}

async function runRooms() {
  const names = ["A", "B", "C", "D"];
  const joins = { A: ["r"], B: ["r"], C: ["other"], D: ["r", "x"] };
  const s = {};
  const got = {};
  for (const n of names) {
    s[n] = open(n, "/", { forceNew: true, auth: { tag: `room-${n}` } });
    got[n] = [];
    for (const ev of ["news", "marker"]) s[n].on(ev, (payload) => got[n].push([ev, payload]));
  }
  await Promise.all(names.map((n) => connected(s[n], n)));
  const engineIds = new Set(names.map((n) => s[n].io.engine.id));
  check(engineIds.size === 4, `expected 4 Engine.IO connections, got ${engineIds.size}`);
  const id = Object.fromEntries(names.map((n) => [n, s[n].id]));
  obs.ids = id;
  const ids = (...ns) => ns.map((n) => id[n]).sort();

  const joined = await Promise.all(names.map((n) => ack(s[n], "join", joins[n])));
  names.forEach((n, i) => checkEqual([...joins[n]].sort(), joined[i], `rooms of ${n} after join`));

  const news1 = { seq: 1, text: NON_ASCII };
  checkEqual(
    ids("A", "B"),
    await ack(s.A, "broadcast", { rooms: ["r"], except: ["x"], event: "news", payload: news1 }),
    'targets of to("r").except("x")',
  );
  // A marker to everyone: each connection is ordered, so once it arrives everywhere any "news"
  // meant for a client has arrived too.
  checkEqual(ids(...names), await ack(s.A, "broadcast", { rooms: [], except: [], event: "marker", payload: 1 }), "targets of the first marker");
  await until(() => names.every((n) => got[n].some(([ev]) => ev === "marker")), "marker 1 everywhere");
  obs.received1 = structuredClone(got);
  for (const n of ["A", "B"]) checkEqual([["news", news1], ["marker", 1]], got[n], `${n} after the first broadcast`);
  for (const n of ["C", "D"]) checkEqual([["marker", 1]], got[n], `${n} after the first broadcast`);

  s.B.__expectDisconnect = true;
  s.B.disconnect();
  const sel = { rooms: ["r"], except: ["x"] };
  let members = null;
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    members = await ack(s.A, "members", sel);
    if (diff(ids("A"), members) === null) break;
    await sleep(20);
  }
  checkEqual(ids("A"), members, 'members of to("r").except("x") once B left');

  const news2 = { seq: 2, nested: NESTED };
  checkEqual(ids("A"), await ack(s.A, "broadcast", { ...sel, event: "news", payload: news2 }), "targets of the second broadcast");
  checkEqual(ids("A", "C", "D"), await ack(s.A, "broadcast", { rooms: [], except: [], event: "marker", payload: 2 }), "targets of the second marker");
  await until(() => ["A", "C", "D"].every((n) => got[n].some(([ev, p]) => ev === "marker" && p === 2)), "marker 2 on A, C, D");
  await sleep(50);
  obs.received = got;
  checkEqual([["news", news1], ["marker", 1], ["news", news2], ["marker", 2]], got.A, "A at the end");
  checkEqual([["news", news1], ["marker", 1]], got.B, "B at the end (disconnected)");
  for (const n of ["C", "D"]) checkEqual([["marker", 1], ["marker", 2]], got[n], `${n} at the end`);
}

async function runDisconnectReasons() {
  const byClient = open("client-side", "/", { forceNew: true, auth: { tag: "dr-client" } });
  const byServer = open("server-side", "/", { forceNew: true, auth: { tag: "dr-server" } });
  await Promise.all([connected(byClient, "client-side"), connected(byServer, "server-side")]);
  obs.ids = { "dr-client": byClient.id, "dr-server": byServer.id };

  byClient.__expectDisconnect = true;
  const d1 = next(byClient, "disconnect", "client-side disconnect event");
  byClient.disconnect();
  const [reason1] = await d1;
  obs.clientSideReason = reason1;
  check(reason1 === "io client disconnect", `client-side disconnect: reason ${JSON.stringify(reason1)}, expected "io client disconnect"`);

  byServer.__expectDisconnect = true;
  const d2 = next(byServer, "disconnect", "disconnect after kick-me");
  byServer.emit("kick-me");
  const [reason2] = await d2;
  obs.serverSideReason = reason2;
  check(reason2 === "io server disconnect", `server-side disconnect: reason ${JSON.stringify(reason2)}, expected "io server disconnect"`);
  await sleep(100);
  check(!byServer.active, "socket still active (would reconnect) after the server disconnected it");
}

async function runUpgrade() {
  const TOTAL = 50;
  const PROBE_AFTER = 10; // sent events before the websocket probe may start
  const MAX_BEFORE_UPGRADE = 40; // leave at least 10 events for after the upgrade
  const s = open("upgrade", "/", { auth: { tag: "upgrade" } });
  const engine = s.io.engine;
  // Against a local server the probe can finish before the CONNECT round trip does, and then
  // nothing would flow "across" the upgrade. So the probe (engine.io-client starts it on "open")
  // is held back until PROBE_AFTER events have been sent over polling.
  check(typeof engine._probe === "function", "engine.io-client has no _probe() to defer (version changed?)");
  let releaseProbe;
  const probeGate = new Promise((resolve) => (releaseProbe = resolve));
  const probe = engine._probe;
  engine._probe = function (name) {
    event("upgrade", "probe deferred", name);
    probeGate.then(() => {
      event("upgrade", "probe released", name);
      probe.call(this, name);
    });
  };
  obs.sent = []; // [n, transport at send time]
  obs.received = []; // [n, transport at receipt]
  let upgradeSettled = false;
  let upgraded = false;
  engine.on("upgrade", () => {
    upgraded = upgradeSettled = true;
    obs.upgradedAfterSending = obs.sent.length;
    obs.upgradedAfterReceiving = obs.received.length;
  });
  engine.on("upgradeError", () => (upgradeSettled = true));
  s.on("pong-you", (msg) => {
    const n = obs.received.length;
    obs.received.push([msg && msg.n, engine.transport.name]);
    if (!msg || msg.n !== n) finish(false, `echo #${n} out of order: got ${JSON.stringify(show(msg))}`);
    else checkEqual({ n, text: `${NON_ASCII} #${n}` }, msg, `echo #${n}`);
  });
  await connected(s, "upgrade");
  obs.transportAtConnect = engine.transport.name + (engine.upgrading ? "(upgrading)" : "");
  const send = (n) => {
    obs.sent.push([n, engine.transport.name + (engine.upgrading ? "(upgrading)" : "")]);
    s.emit("ping-me", { n, text: `${NON_ASCII} #${n}` });
    if (n + 1 === PROBE_AFTER) releaseProbe();
  };
  // A synchronous burst right at connect, then a trickle that spans the upgrade.
  let n = 0;
  while (n < 5) send(n++);
  while (n < TOTAL) {
    await sleep(5);
    if (n >= MAX_BEFORE_UPGRADE) await until(() => upgradeSettled, 'the "upgrade" event');
    send(n++);
  }
  await until(() => obs.received.length >= TOTAL, `${TOTAL} echoes`);
  await sleep(50);
  const sentOn = {};
  for (const [, t] of obs.sent) sentOn[t] = (sentOn[t] ?? 0) + 1;
  const receivedVia = {};
  for (const [, t] of obs.received) receivedVia[t] = (receivedVia[t] ?? 0) + 1;
  obs.sentOn = sentOn;
  obs.receivedVia = receivedVia;
  obs.finalTransport = engine.transport.name;
  check(upgraded, 'no "upgrade" event');
  check(obs.received.length === TOTAL, `${obs.received.length} echoes, expected ${TOTAL}`);
  check(engine.transport.name === "websocket", `final transport ${engine.transport.name}, expected websocket`);
  check(sentOn.polling > 0, "no event was sent over polling before the upgrade");
  check(sentOn.websocket > 0, "no event was sent over websocket after the upgrade");
  check(receivedVia.polling > 0, "no echo was received over polling before the upgrade");
  check(receivedVia.websocket > 0, "no echo was received over websocket after the upgrade");
  check(s.connected, "socket not connected after the upgrade");
  check((await ack(s, "which-nsp")) === "/", '"which-nsp" after the upgrade');
}

// ---------------------------------------------------------------------------------------------

const SCENARIOS = {
  namespaces: runNamespaces,
  events: runEvents,
  "events-polling": runEvents,
  "events-websocket": runEvents,
  acks: runAcks,
  "acks-polling": runAcks,
  "acks-websocket": runAcks,
  binary: runBinary,
  "binary-polling": runBinary,
  "binary-websocket": runBinary,
  "middleware-refusal": runMiddlewareRefusal,
  rooms: runRooms,
  "disconnect-reasons": runDisconnectReasons,
  upgrade: runUpgrade,
};

if (!scenario || !Object.hasOwn(SCENARIOS, scenario)) {
  finish(false, `usage: node sio_scenarios.mjs <${Object.keys(SCENARIOS).join("|")}> <base-url>; got scenario ${JSON.stringify(scenario)}`);
} else if (!baseUrl || !/^https?:\/\/[^/]+$/.test(baseUrl)) {
  finish(false, `bad base url ${JSON.stringify(baseUrl)} (expected http://host:port)`);
} else {
  transportsForRun = variantTransports(scenario);
  obs.requestedTransports = transportsForRun ?? "default";
  SCENARIOS[scenario]().then(
    () => finish(true, null),
    (err) =>
      finish(false, err instanceof ScenarioFailure ? err.message : `scenario threw: ${err && err.stack ? err.stack : err}`),
  );
}
