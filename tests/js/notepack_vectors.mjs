// Cross-checks tests/vectors/cluster.json against Node's own encoders: notepack.io 3.0.1 (what
// @socket.io/redis-adapter and redis-emitter use) and JSON.stringify / JSON.parse.
//
// For every msgpack value: notepack.encode(value) must give the vector's bytes (or node_hex,
// where JavaScript's one number type makes notepack write otherwise), and notepack.decode of
// the vector's bytes must give the value back. For every JSON value and message, the same with
// JSON.stringify and JSON.parse. Last, the real RedisAdapter and Emitter publish some of the
// messages into a fake Redis client, and must publish exactly the vectors' bytes.
// Prints one JSON line {checked, failures}; exits 1 on failure.
//
// Usage: node notepack_vectors.mjs [path/to/cluster.json]

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

import { toJS } from "./vector_tags.mjs";

const require = createRequire(import.meta.url);
const notepack = require("notepack.io");

const here = fileURLToPath(new URL(".", import.meta.url));
const path = process.argv[2] ?? `${here}../vectors/cluster.json`;
const vectors = JSON.parse(readFileSync(path, "utf8"));

let checked = 0;
const failures = [];

function expectEqual(name, what, actual, expected) {
  checked++;
  if (!isDeepStrictEqual(actual, expected)) {
    failures.push({ name, what, actual: show(actual), expected: show(expected) });
  }
}

function show(value) {
  if (Buffer.isBuffer(value)) return `<hex ${value.toString("hex")}>`;
  if (value instanceof Date) return `<Date ${value.getTime()}>`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (Object.is(value, -0)) return "-0";
  if (value === undefined) return "<undefined>";
  if (Array.isArray(value)) return value.map(show);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, show(v)]));
  }
  return value;
}

function attempt(name, what, fn) {
  try {
    fn();
  } catch (err) {
    checked++;
    failures.push({ name, what, error: String(err) });
  }
}

for (const v of vectors.msgpack) {
  const value = toJS(v.value);
  const bytes = Buffer.from(v.hex, "hex");
  if (v.node_writes !== false) {
    attempt(v.name, "notepack.encode", () => {
      expectEqual(v.name, "notepack.encode", notepack.encode(value).toString("hex"), v.node_hex ?? v.hex);
    });
  }
  attempt(v.name, "notepack.decode", () => {
    const expected = "js" in v ? toJS(v.js) : value;
    expectEqual(v.name, "notepack.decode", notepack.decode(bytes), expected);
  });
}

for (const v of vectors.json) {
  const value = toJS(v.value);
  if (v.direction !== "decode") {
    expectEqual(v.name, "JSON.stringify", JSON.stringify(value), v.node_json ?? v.json);
  }
  if (v.direction !== "encode") {
    expectEqual(v.name, "JSON.parse", JSON.parse(v.json), value);
  }
}

for (const v of vectors.messages) {
  const value = toJS(v.js);
  if (typeof v.wire === "string") {
    expectEqual(v.name, "JSON.stringify", JSON.stringify(value), v.wire);
    expectEqual(v.name, "JSON.parse", JSON.parse(v.wire), value);
  } else {
    attempt(v.name, "notepack", () => {
      expectEqual(v.name, "notepack.encode", notepack.encode(value).toString("hex"), v.wire.hex);
      expectEqual(v.name, "notepack.decode", notepack.decode(Buffer.from(v.wire.hex, "hex")), value);
    });
  }
}

// The real @socket.io/redis-adapter and redis-emitter, publishing into a fake Redis client:
// what they publish must be the vector's wire, byte for byte. (Requests that carry a random
// requestId are left to the hand-built values above.)
const { RedisAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const published = [];
const pubClient = {
  on() {},
  off() {},
  publish(channel, message) {
    published.push(Buffer.isBuffer(message) ? { hex: message.toString("hex") } : message);
  },
};
const subClient = { on() {}, off() {}, psubscribe() {}, subscribe() {} };
const namespace = { name: "/chat", sockets: new Map(), server: { encoder: { encode: () => [] } } };
const adapter = new RedisAdapter(namespace, pubClient, subClient, {});
const emitter = new Emitter(pubClient);
const opts = { rooms: new Set(["r1", "r2"]), except: new Set(["x"]) };
const byName = Object.fromEntries(vectors.messages.map((v) => [v.name, v]));
const sources = [
  ["broadcast to one room, binary, flags, except", "a1b2c3", () =>
    adapter.broadcast(
      { type: 2, data: ["up", Buffer.from([0, 255]), { b: Buffer.from([1, 2]) }] },
      { rooms: new Set(["room1"]), except: new Set(["x"]), flags: { volatile: true, compress: false } },
    )],
  ["REMOTE_JOIN (socketsJoin)", "u1", () => adapter.addSockets(opts, ["new"])],
  ["REMOTE_LEAVE (socketsLeave)", "u1", () => adapter.delSockets(opts, ["old"])],
  ["REMOTE_DISCONNECT (disconnectSockets)", "u1", () => adapter.disconnectSockets(opts, true)],
  ["SERVER_SIDE_EMIT", "u1", () => adapter.serverSideEmit(["ping", 1, { a: "b" }])],
  ["broadcast from the emitter (opts in its order: rooms, flags, except)", null, () =>
    emitter.to(["a", "b"]).except("c").emit("chat", "hi", 1)],
  ["REMOTE_JOIN from the emitter (no uid)", null, () => emitter.socketsJoin(["a", "b"])],
  ["SERVER_SIDE_EMIT from the emitter", null, () => emitter.serverSideEmit("hello")],
];
for (const [name, uid, publish] of sources) {
  attempt(name, "published by Node", () => {
    if (!(name in byName)) throw new Error("no such vector");
    if (uid !== null) adapter.uid = uid;
    published.length = 0;
    publish();
    expectEqual(name, "published by Node", published, [byName[name].wire]);
  });
}

console.log(JSON.stringify({ checked, failures }));
process.exit(failures.length === 0 && checked > 0 ? 0 : 1);
