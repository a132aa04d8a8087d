// Compression scenarios for the real npm clients, run against the Node reference server
// (deflate_node_server.mjs) and against minisock built to the same contract:
//
//   - event "echo" (value) is acknowledged with the same value;
//   - event "go" makes the server emit, in order: "a" (16 KiB), "b" (16 KiB, compress(false)),
//     "small" ("hi"), "c" (16 KiB, io.to(socket.id).compress(false)), "e" (16 KiB, io.to(...)).
//
//   node deflate_scenarios.mjs SCENARIO URL [JSON OPTIONS]
//
// Scenarios:
//   sio-ws         socket.io-client on WebSocket (perMessageDeflate is on by default in Node's
//                  engine.io-client); reports the negotiated extension and, for each event
//                  received, whether its frame came with RSV1 (read from ws's receiver).
//   raw-ws         the `ws` package alone with perMessageDeflate OPTIONS; the Engine.IO and
//                  Socket.IO handshakes by hand; reports the server's Sec-WebSocket-Extensions
//                  answer and the RSV1 flags.
//   fetch-polling  socket.io-client on the Fetch polling transport (undici's fetch sends
//                  Accept-Encoding and inflates); reports each answer's Content-Encoding.
// The last line of stdout is a JSON report with "ok".

import { io } from "socket.io-client";
import { Fetch } from "engine.io-client";
import { WebSocket } from "ws";

const [scenario, url, rawOptions] = process.argv.slice(2);
const options = rawOptions ? JSON.parse(rawOptions) : {};
const BIG = "x".repeat(16 * 1024);
const EXPECTED = ["a", "b", "small", "c", "e"];

function done(report) {
  console.log(JSON.stringify({ ok: true, ...report }));
  process.exit(0);
}

function fail(message) {
  console.log(JSON.stringify({ ok: false, error: String(message) }));
  process.exit(1);
}

setTimeout(() => fail("timeout"), 15000);

// Wraps a ws WebSocket so each received message is paired with its RSV1 bit.
function sniff(ws) {
  const seen = [];
  const receiver = ws._receiver;
  const dataMessage = receiver.dataMessage;
  let compressed = null;
  receiver.dataMessage = function (cb) {
    if (this._fin) compressed = this._compressed;
    return dataMessage.call(this, cb);
  };
  ws.on("message", (data) => seen.push({ rsv1: compressed, text: String(data).slice(0, 12) }));
  return seen;
}

async function sioWs() {
  const socket = io(url, { transports: ["websocket"], reconnection: false, ...options });
  let seen = null;
  socket.io.on("open", () => {
    seen = sniff(socket.io.engine.transport.ws);
  });
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  const echoed = await socket.emitWithAck("echo", BIG);
  const events = [];
  await new Promise((resolve) => {
    socket.onAny((event, value) => {
      events.push({ event, length: value.length });
      if (events.length === EXPECTED.length) resolve();
    });
    socket.emit("go");
  });
  const extensions = socket.io.engine.transport.ws.extensions;
  socket.disconnect();
  const rsv1 = {};
  for (const { rsv1: bit, text } of seen) {
    const match = /^42\["(\w+)"/.exec(text);
    if (match) rsv1[match[1]] = bit;
  }
  done({ extensions, echoOk: echoed === BIG, events, rsv1 });
}

async function rawWs() {
  const target = url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
  const ws = new WebSocket(target, { perMessageDeflate: options });
  let seen = null;
  let answer = null;
  ws.on("upgrade", (response) => (answer = response.headers["sec-websocket-extensions"]));
  ws.on("open", () => (seen = sniff(ws))); // the receiver exists once the socket is open
  const texts = [];
  let waiting = null;
  ws.on("message", (data) => {
    texts.push(String(data));
    if (waiting) waiting();
  });
  const next = async (predicate) => {
    for (;;) {
      const found = texts.findIndex(predicate);
      if (found >= 0) return texts.splice(found, 1)[0];
      await new Promise((resolve) => (waiting = resolve));
    }
  };
  await new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  await next((t) => t.startsWith("0"));
  ws.send("40");
  await next((t) => t.startsWith("40"));
  ws.send(`421["echo",${JSON.stringify(BIG)}]`); // compressed by ws: over its threshold
  const echoed = await next((t) => t.startsWith("431"));
  ws.send('42["go"]');
  for (const name of EXPECTED) await next((t) => t.startsWith(`42["${name}"`));
  const rsv1 = {};
  for (const { rsv1: bit, text } of seen) {
    const match = /^42\["(\w+)"/.exec(text);
    if (match) rsv1[match[1]] = bit;
  }
  const extensions = ws.extensions;
  ws.close();
  done({ extensions, answer, echoOk: echoed === `431[${JSON.stringify(BIG)}]`, rsv1 });
}

async function fetchPolling() {
  const encodings = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (...args) => {
    const response = await realFetch(...args);
    const method = (args[1] && args[1].method) || "GET";
    if (method === "GET") encodings.push(response.headers.get("content-encoding"));
    return response;
  };
  const socket = io(url, { transports: [Fetch], reconnection: false, ...options });
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  const echoed = await socket.emitWithAck("echo", BIG);
  const events = [];
  await new Promise((resolve) => {
    socket.onAny((event, value) => {
      events.push({ event, length: value.length });
      if (events.length === EXPECTED.length) resolve();
    });
    socket.emit("go");
  });
  socket.disconnect();
  done({ echoOk: echoed === BIG, events, encodings });
}

const scenarios = { "sio-ws": sioWs, "raw-ws": rawWs, "fetch-polling": fetchPolling };
if (!(scenario in scenarios)) fail(`unknown scenario ${scenario}`);
scenarios[scenario]().catch(fail);
