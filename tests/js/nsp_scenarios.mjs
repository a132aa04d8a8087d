// Dynamic namespaces and adapter room events, driven by the real npm `socket.io-client`.
//
//   node nsp_scenarios.mjs <scenario> <base-url>
//
// Runs ONE scenario against the server at <base-url> and prints ONE JSON line
// ({"ok": bool, "reason": string|null, "scenario": ..., ...}); exits 0 when every check
// passed. The Node reference (nsp_node_server.mjs) is the first server it runs against;
// test_namespaces_client.py builds the same server with minisock. Reconnection is off.
//
// The server (cleanupEmptyChildNamespaces on):
//   "/dyn-0"          static, made before the patterns below
//   /^\/dyn-\d+$/     a pattern parent; middleware: auth.deny -> refuse "denied"
//   /^\/dyn-/         a second pattern parent, made after the first
//   (name, auth)      a function parent: allows "/fn-*" when auth.ok === true
//   (name, auth)      a function parent that fails for "/boom" (and allows nothing)
//   "/events"         static; its adapter's room events are logged as [event, room, sid|null]
//   on connection (every namespace but "/"): emit "hello", {nsp, kind} with kind "static",
//       "regex", "regex2", "fn" or "events"; then "join" rooms -> ack the socket's rooms
//       without its own id, sorted; "leave" room -> ack true
//   on "/": "parent-emit" {event, payload}: the first pattern parent emits it; ack true
//           "parent-to" {room, event, payload}: the same, to(room); ack true
//           "namespaces": ack the sorted names of the server's namespaces
//           "room-log": ack the room-event log of "/events"
//
// Scenarios:
//   dynamic       which parent takes which name; refusals; parent broadcasts reach exactly
//                 that parent's children; an empty child goes, and comes back on connect
//   room-events   create/join/leave/delete of two sockets of "/events", their order, and
//                 what a disconnect fires

import { Manager } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 15_000;
const STEP_TIMEOUT_MS = 5_000;

const [scenario, base] = process.argv.slice(2);
const report = { ok: false, reason: null, scenario };

function fail(reason) {
  report.reason = reason;
  throw new Error(reason);
}

function check(condition, what) {
  if (!condition) fail(what);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function expectSame(got, want, what) {
  check(same(got, want), `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function manager() {
  return new Manager(base, { reconnection: false });
}

// Resolves with {hello} or {error}: the first of "hello" and "connect_error".
function attempt(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer on ${socket.nsp}`)), STEP_TIMEOUT_MS);
    socket.once("hello", (hello) => {
      clearTimeout(timer);
      resolve({ hello });
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      resolve({ error: err.message });
    });
    if (!socket.active) socket.connect();
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    const timer = setTimeout(() => reject(new Error(`${socket.nsp} did not connect`)), STEP_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${socket.nsp}: ${err.message}`));
    });
  });
}

const ask = (socket, event, ...args) =>
  socket.timeout(STEP_TIMEOUT_MS).emitWithAck(event, ...args);

async function dynamic() {
  const m = manager();
  const root = m.socket("/");
  await connected(root);
  const plan = [
    ["/dyn-1", {}, { hello: { nsp: "/dyn-1", kind: "regex" } }],
    ["/dyn-0", {}, { hello: { nsp: "/dyn-0", kind: "static" } }],
    ["/dyn-7", {}, { hello: { nsp: "/dyn-7", kind: "regex" } }],
    ["/dyn-x", {}, { hello: { nsp: "/dyn-x", kind: "regex2" } }],
    ["/fn-a", { ok: true }, { hello: { nsp: "/fn-a", kind: "fn" } }],
    ["/fn-b", {}, { error: "Invalid namespace" }],
    ["/boom", {}, { error: "Invalid namespace" }],
    ["/nope", {}, { error: "Invalid namespace" }],
    ["/dyn-2", { deny: true }, { error: "denied" }],
  ];
  const sockets = {};
  const received = {};
  for (const [nsp, auth, want] of plan) {
    const socket = m.socket(nsp, { auth });
    sockets[nsp] = socket;
    received[nsp] = [];
    socket.on("news", (payload) => received[nsp].push(["news", payload]));
    socket.on("tinted", (payload) => received[nsp].push(["tinted", payload]));
    expectSame(await attempt(socket), want, `connect to ${nsp}`);
  }
  // One Engine.IO connection carries every namespace: whatever the server sent before the
  // ack has arrived when the ack does.
  check((await ask(root, "parent-emit", { event: "news", payload: "n1" })) === true, "parent-emit");
  check((await ask(sockets["/dyn-1"], "join", ["blue"])).join() === "blue", "join blue");
  check(
    (await ask(root, "parent-to", { room: "blue", event: "tinted", payload: "t1" })) === true,
    "parent-to",
  );
  const got = Object.fromEntries(Object.entries(received).filter(([, list]) => list.length));
  expectSame(
    got,
    { "/dyn-1": [["news", "n1"], ["tinted", "t1"]], "/dyn-7": [["news", "n1"]] },
    "what the parent's broadcasts reached",
  );

  const names = await ask(root, "namespaces");
  for (const name of ["/", "/dyn-0", "/dyn-1", "/dyn-7", "/dyn-x", "/events", "/fn-a"]) {
    check(names.includes(name), `${name} missing from ${JSON.stringify(names)}`);
  }
  // "/dyn-2" was made for a connection its middleware refused: cleaned up with it.
  for (const name of ["/fn-b", "/boom", "/nope", "/dyn-2"]) {
    check(!names.includes(name), `${name} should not exist: ${JSON.stringify(names)}`);
  }

  sockets["/dyn-7"].disconnect();
  const after = await ask(root, "namespaces");
  check(!after.includes("/dyn-7"), `the empty child /dyn-7 is still there: ${JSON.stringify(after)}`);
  check(after.includes("/dyn-1"), "/dyn-1 went too");
  expectSame(await attempt(sockets["/dyn-7"]), plan[2][2], "connect to /dyn-7 again");
  check((await ask(root, "namespaces")).includes("/dyn-7"), "/dyn-7 made again");
  m._close();
}

async function roomEvents() {
  const a = manager();
  const aRoot = a.socket("/");
  const aEvents = a.socket("/events");
  await connected(aRoot);
  expectSame(await attempt(aEvents), { hello: { nsp: "/events", kind: "events" } }, "A");
  const b = manager();
  const bRoot = b.socket("/");
  const bEvents = b.socket("/events");
  await connected(bRoot);
  expectSame(await attempt(bEvents), { hello: { nsp: "/events", kind: "events" } }, "B");
  const label = { [aEvents.id]: "A", [bEvents.id]: "B" };
  const named = (log) => log.map(([kind, room, id]) => [kind, label[room] ?? room, id && label[id]]);

  expectSame(await ask(aEvents, "join", ["r1", "r2"]), ["r1", "r2"], "A joins r1, r2");
  expectSame(await ask(aEvents, "join", ["r1"]), ["r1", "r2"], "A joins r1 again");
  expectSame(await ask(bEvents, "join", ["r2"]), ["r2"], "B joins r2");
  await ask(aEvents, "leave", "r2");
  await ask(aEvents, "leave", "nope");
  await ask(bEvents, "leave", "r2");
  const before = [
    ["create-room", "A", null],
    ["join-room", "A", "A"],
    ["create-room", "B", null],
    ["join-room", "B", "B"],
    ["create-room", "r1", null],
    ["join-room", "r1", "A"],
    ["create-room", "r2", null],
    ["join-room", "r2", "A"],
    ["join-room", "r2", "B"],
    ["leave-room", "r2", "A"],
    ["leave-room", "r2", "B"],
    ["delete-room", "r2", null],
  ];
  expectSame(named(await ask(bRoot, "room-log")), before, "room events so far");
  aEvents.disconnect(); // then, on the same connection, the question: in that order
  const afterA = [
    ...before,
    ["leave-room", "A", "A"],
    ["delete-room", "A", null],
    ["leave-room", "r1", "A"],
    ["delete-room", "r1", null],
  ];
  expectSame(named(await ask(aRoot, "room-log")), afterA, "room events after A left");
  bEvents.disconnect();
  const afterB = [...afterA, ["leave-room", "B", "B"], ["delete-room", "B", null]];
  expectSame(named(await ask(bRoot, "room-log")), afterB, "room events after B left");
  a._close();
  b._close();
}

const scenarios = { dynamic, "room-events": roomEvents };

const overall = setTimeout(() => {
  report.reason = report.reason ?? "overall timeout";
  console.log(JSON.stringify(report));
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

try {
  const run = scenarios[scenario];
  if (!run) fail(`unknown scenario ${scenario}`);
  await run();
  report.ok = true;
} catch (err) {
  report.reason = report.reason ?? String(err?.stack ?? err);
}
clearTimeout(overall);
console.log(JSON.stringify(report));
setTimeout(() => process.exit(report.ok ? 0 : 1), 100);
