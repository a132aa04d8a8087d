// The msgpack parser driven by the real npm socket.io-client 4.8 with
// `parser: require("socket.io-msgpack-parser")` (3.0.2), on one transport at a time.
//
//   node msgpack_scenarios.mjs <scenario> <base-url> <polling|websocket>
//
// Prints ONE JSON line ({"ok", "reason", "scenario", ...}) and exits 0 when every check passed.
// test_msgpack_parser_client.py runs each scenario against the Node reference
// (msgpack_node_server.mjs) first, then against minisock built to the same contract:
//
//   "/"       "echo" ...args     acked with the same arguments
//             "ping-me" x        answered by the event "pong" x
//             "broadcast-me" x   the event "news" x to every socket of "/"
//             "ask-me" q         the server asks the client "question" q (with an ack) and
//                                acks the client's answer
//   "/admin"  a middleware refuses unless auth.token is "ok": Error("not authorized") with
//             data {reason: "bad token"}; once connected, the socket gets "welcome" {nsp}
//   "/nope"   no such namespace
//
// Scenarios: events, acks, binary, namespaces.

import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");

const [scenario, url, transport] = process.argv.slice(2);
const report = { scenario, transport, ok: false, reason: null };
const finish = (reason, extra = {}) => {
  Object.assign(report, extra, { ok: reason === null, reason });
  console.log(JSON.stringify(report));
  process.exit(reason === null ? 0 : 1);
};
setTimeout(() => finish("overall timeout"), 15_000);
const show = (value) => JSON.stringify(value, (_, v) => (v && v.type === "Buffer" ? `<${Buffer.from(v.data).toString("hex")}>` : v));

function open(nsp = "/", options = {}) {
  return io(url + nsp, {
    reconnection: false,
    forceNew: true,
    transports: [transport],
    parser,
    ...options,
  });
}

function connect(nsp = "/", options = {}) {
  const socket = open(nsp, options);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

function refusal(nsp, options = {}) {
  const socket = open(nsp, options);
  return new Promise((resolve) => {
    socket.once("connect", () => resolve({ connected: true }));
    socket.once("connect_error", (err) => {
      socket.close();
      resolve({ message: err.message, data: err.data });
    });
  });
}

const once = (socket, event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));

function checkTransport(socket) {
  const name = socket.io.engine.transport.name;
  return name === transport ? null : `the session runs on ${name}, not ${transport}`;
}

const scenarios = {
  async events() {
    const socket = await connect();
    const wrong = checkTransport(socket);
    if (wrong) return wrong;
    const payload = { text: "héllo ☃", n: 1.5, big: 2 ** 40, neg: -129, list: [true, false, null], s: "x".repeat(300) };
    const pong = once(socket, "pong");
    socket.emit("ping-me", payload);
    const [got] = await pong;
    if (!isDeepStrictEqual(got, payload)) return `pong ${show(got)}`;
    const other = await connect();
    const news = Promise.all([once(socket, "news"), once(other, "news")]);
    socket.emit("broadcast-me", { n: 1 });
    const [[a], [b]] = await news;
    if (!isDeepStrictEqual([a, b], [{ n: 1 }, { n: 1 }])) return `news ${show([a, b])}`;
    socket.disconnect();
    other.disconnect();
    return null;
  },

  async acks() {
    const socket = await connect();
    const echoed = await socket.emitWithAck("echo", "a", 1, null, [true], { k: "v" });
    if (!isDeepStrictEqual(echoed, "a")) return `echo acked ${show(echoed)}`;
    const all = await new Promise((resolve) => socket.emit("echo", "a", 2, { k: "v" }, (...args) => resolve(args)));
    if (!isDeepStrictEqual(all, ["a", 2, { k: "v" }])) return `echo (all arguments) ${show(all)}`;
    const none = await new Promise((resolve) => socket.emit("echo", (...args) => resolve(args)));
    if (none.length !== 0) return `echo without arguments acked ${show(none)}`;
    socket.on("question", (question, cb) => cb(`${question}!`));
    const answer = await socket.emitWithAck("ask-me", "why");
    if (answer !== "why!") return `ask-me acked ${show(answer)}`;
    socket.disconnect();
    return null;
  },

  async binary() {
    const socket = await connect();
    const blob = Buffer.from([0, 1, 2, 255]);
    const big = Buffer.alloc(70_000, 7); // bin 32
    const echoed = await new Promise((resolve) =>
      socket.emit("echo", blob, { nested: [blob, "t"], big }, (...args) => resolve(args)),
    );
    if (!isDeepStrictEqual(echoed, [blob, { nested: [blob, "t"], big }])) return `echo ${show(echoed).slice(0, 300)}`;
    const pong = once(socket, "pong");
    socket.emit("ping-me", { file: blob });
    const [got] = await pong;
    if (!Buffer.isBuffer(got.file) || !got.file.equals(blob)) return `pong ${show(got)}`;
    socket.disconnect();
    return null;
  },

  async namespaces() {
    const root = await connect();
    const admin = open("/admin", { auth: { token: "ok" } });
    const [welcome] = await once(admin, "welcome");
    if (!isDeepStrictEqual(welcome, { nsp: "/admin" })) return `welcome ${show(welcome)}`;
    const refused = await refusal("/admin", { auth: { token: "no" } });
    if (!isDeepStrictEqual(refused, { message: "not authorized", data: { reason: "bad token" } }))
      return `refused ${show(refused)}`;
    const missing = await refusal("/nope");
    if (!isDeepStrictEqual(missing, { message: "Invalid namespace", data: undefined }))
      return `missing ${show(missing)}`;
    // One Manager, two namespaces multiplexed on one Engine.IO session.
    const shared = io(url, { reconnection: false, forceNew: true, transports: [transport], parser });
    await once(shared, "connect");
    let why = null;
    shared.on("disconnect", (reason) => {
      why = reason;
    });
    const sharedAdmin = shared.io.socket("/admin", { auth: { token: "ok" } });
    const [again] = await once(sharedAdmin, "welcome");
    if (shared.disconnected) return `the shared session's "/" disconnected: ${why}`;
    if (!isDeepStrictEqual(again, { nsp: "/admin" })) return `welcome (shared) ${show(again)}`;
    const echoed = await shared.emitWithAck("echo", "still here");
    if (echoed !== "still here") return `echo on the shared session ${show(echoed)}`;
    for (const s of [root, admin, shared, sharedAdmin]) s.disconnect();
    return null;
  },
};

const run = scenarios[scenario];
if (!run) finish(`unknown scenario ${scenario}`);
run().then((reason) => finish(reason), (err) => finish(`error: ${err && err.message}`));
