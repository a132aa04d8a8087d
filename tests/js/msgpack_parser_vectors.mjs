// Cross-checks tests/vectors/sio_msgpack.json against the npm socket.io-msgpack-parser 3.0.2
// (the parser socket.io-client and a Node server load with `parser: require(...)`).
//
// packets: for 'both' vectors the npm Encoder, given the packet object with its keys in the
// order Node's socket.emit leaves them (type, data, id, nsp), must write the vector's bytes;
// for 'decode' vectors, given the 'js' pairs in their order. Every vector's bytes must decode
// (npm Decoder) to the packet. refused: the npm Decoder must throw. stricter: it must accept
// (minisock refuses them; the test documents that the difference is ours).
// Prints one JSON line {checked, failures}; exits 1 on failure.
//
// Usage: node msgpack_parser_vectors.mjs [path/to/sio_msgpack.json]

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

import { toJS } from "./vector_tags.mjs";

const require = createRequire(import.meta.url);
const { Encoder, Decoder } = require("socket.io-msgpack-parser");

const here = fileURLToPath(new URL(".", import.meta.url));
const path = process.argv[2] ?? `${here}../vectors/sio_msgpack.json`;
const vectors = JSON.parse(readFileSync(path, "utf8"));

// undefined inside data is what minisock reads as None: compare it as null.
function settled(value) {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(settled);
  if (value !== null && typeof value === "object" && !Buffer.isBuffer(value)) {
    const out = {};
    for (const key of Object.keys(value)) out[key] = settled(value[key]);
    return out;
  }
  return value;
}

function nodeOrder(packet) {
  const out = { type: packet.type };
  if ("data" in packet) out.data = toJS(packet.data);
  if ("id" in packet) out.id = packet.id;
  out.nsp = packet.nsp;
  return out;
}

function decode(hex) {
  const decoder = new Decoder();
  let got;
  decoder.on("decoded", (packet) => {
    got = packet;
  });
  decoder.add(Buffer.from(hex, "hex"));
  return got;
}

let checked = 0;
const failures = [];

function expectEqual(name, what, actual, expected) {
  checked++;
  if (!isDeepStrictEqual(actual, expected)) {
    failures.push({ name, what, actual: String(JSON.stringify(actual)), expected: String(JSON.stringify(expected)) });
  }
}

for (const vector of vectors.packets) {
  const source = vector.direction === "both"
    ? nodeOrder(vector.packet)
    : Object.fromEntries(vector.js.map(([key, value]) => [key, toJS(value)]));
  const [wire, ...rest] = new Encoder().encode(source);
  expectEqual(vector.name, "one message", rest.length, 0);
  expectEqual(vector.name, "npm encode", Buffer.from(wire).toString("hex"), vector.hex);
  let decoded;
  try {
    decoded = decode(vector.hex);
  } catch (error) {
    failures.push({ name: vector.name, what: "npm decode", actual: String(error) });
    continue;
  }
  const fields = { type: decoded.type, nsp: decoded.nsp };
  if (decoded.data !== undefined) fields.data = settled(decoded.data);
  if (decoded.id !== undefined) fields.id = decoded.id;
  expectEqual(vector.name, "npm decode", fields, nodeOrder(vector.packet));
}

for (const [kind, shouldThrow] of [["refused", true], ["stricter", false]]) {
  for (const vector of vectors[kind]) {
    checked++;
    let error = null;
    try {
      decode(vector.hex);
    } catch (caught) {
      error = caught;
    }
    if ((error !== null) !== shouldThrow) {
      failures.push({
        name: vector.name,
        what: `${kind}: npm ${shouldThrow ? "accepted" : "refused"} it`,
        actual: String(error),
      });
    }
  }
}

console.log(JSON.stringify({ checked, failures }));
process.exit(failures.length ? 1 : 0);
