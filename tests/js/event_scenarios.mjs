// The event path driven by the real npm socket.io-client: acks answered late or never,
// event middlewares, catch-all listeners, volatile packets, rate limits.
//
//   node event_scenarios.mjs <scenario> <base-url>
//
// Prints ONE JSON line ({"ok", "reason", "scenario", ...}) and exits 0 when every check passed.
// test_event_path.py runs each scenario against the Node reference (event_node_server.mjs)
// first, then against minisock built to the same contract:
//
//   every socket of "/" has two event middlewares: "forbidden" is refused with Error("nope")
//   (handler never runs; the error reaches the socket's "error" listener), and "shout"'s
//   first argument is upper-cased; catch-all listeners record incoming and outgoing event
//   names;
//   "flaky"          the first two attempts are left unanswered, the third acked with 3
//   "never"          never acked
//   "later" x        acked 200 ms later, from elsewhere, with "late", x
//   "shout" text     acked with text (as the middleware left it)
//   "forbidden"      acked "handler ran" (never, since the middleware refuses it)
//   "errors"         acked with the messages of the errors the socket saw
//   "hello"          emits "greet", then broadcasts "bc" to this socket's room
//   "seen"           acked {incoming, outgoing}: the event names seen so far
//   "vol"            emit "a"; volatile "b"; broadcast "c"; volatile broadcast "d" (at once),
//                    then volatile "e" at 300 ms, volatile broadcast "f" at 600 ms, "g" at 900
//   (minisock only, Server(rate_limit=...)) "count" counts; "count?" acks the count
//
// Scenarios: acks, middleware, catch-all, volatile-polling, volatile-websocket,
// rate-limit (burst 3, 0.5/s: 10 quick "count"s, 3 pass), rate-limit-disconnect.

import { io } from "socket.io-client";

const [scenario, url] = process.argv.slice(2);
const report = { scenario, ok: false, reason: null };
const finish = (reason, extra = {}) => {
  Object.assign(report, extra, { ok: reason === null, reason });
  console.log(JSON.stringify(report));
  process.exit(reason === null ? 0 : 1);
};
setTimeout(() => finish("overall timeout"), 15_000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function connect(options = {}) {
  const socket = io(url, { reconnection: false, ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

const scenarios = {
  async acks() {
    const socket = await connect({ retries: 3, ackTimeout: 250 });
    const flaky = await socket.emitWithAck("flaky");
    if (flaky !== 3) return `flaky acked ${flaky}, expected 3 (the third attempt)`;
    const late = await socket.emitWithAck("later", 7);
    if (late !== "late") return `later acked ${JSON.stringify(late)}`; // the first argument
    const plain = await connect(); // no retries: a plain timeout
    const both = await new Promise((resolve) =>
      plain.timeout(300).emit("later", 8, (err, a, b) => resolve([err && err.message, a, b])),
    );
    if (!same(both, [null, "late", 8])) return `later (two args) gave ${JSON.stringify(both)}`;
    const never = await new Promise((resolve) =>
      plain.timeout(300).emit("never", (err) => resolve(err ? err.message : "acked")),
    );
    if (never !== "operation has timed out") return `never: ${never}`;
    socket.disconnect();
    plain.disconnect();
    return null;
  },

  async middleware() {
    const socket = await connect();
    const refused = await new Promise((resolve) =>
      socket.timeout(300).emit("forbidden", (err, r) => resolve(err ? "timeout" : r)),
    );
    if (refused !== "timeout") return `forbidden was answered: ${refused}`;
    const shout = await socket.emitWithAck("shout", "hi");
    if (shout !== "HI") return `shout acked ${shout}`;
    const errors = await socket.emitWithAck("errors");
    if (!same(errors, ["nope"])) return `errors ${JSON.stringify(errors)}`;
    socket.disconnect();
    return null;
  },

  async "catch-all"() {
    const socket = await connect();
    const got = [];
    socket.onAny((event) => got.push(event));
    socket.emit("hello");
    socket.emit("unhandled", 1);
    socket.timeout(200).emit("forbidden", () => {});
    await sleep(300);
    const seen = await socket.emitWithAck("seen");
    const expected = {
      incoming: ["hello", "unhandled", "forbidden", "seen"],
      outgoing: ["greet", "bc"],
    };
    if (!same(seen, expected)) return `seen ${JSON.stringify(seen)}`;
    if (!same(got, ["greet", "bc"])) return `client got ${JSON.stringify(got)}`;
    socket.disconnect();
    return null;
  },

  async "volatile-polling"() {
    return volatile({ transports: ["polling"] }, ["a", "c", "e", "f", "g"]);
  },

  async "volatile-websocket"() {
    return volatile({ transports: ["websocket"] }, null);
  },

  async "rate-limit"() {
    const socket = await connect();
    for (let i = 0; i < 10; i++) socket.emit("count");
    await sleep(2500); // one token comes back
    const count = await socket.emitWithAck("count?");
    if (count !== 3) return `count ${count}, expected 3 (the burst)`;
    socket.disconnect();
    return null;
  },

  async "rate-limit-disconnect"() {
    const socket = await connect();
    const reason = new Promise((resolve) => socket.once("disconnect", resolve));
    for (let i = 0; i < 10; i++) socket.emit("count");
    const why = await Promise.race([reason, sleep(3000).then(() => "still connected")]);
    if (why !== "io server disconnect") return `disconnect reason ${why}`;
    return null;
  },
};

async function volatile(options, expected) {
  const socket = await connect(options);
  const got = [];
  socket.onAny((event) => got.push(event));
  socket.emit("vol");
  await new Promise((resolve) => socket.on("g", resolve));
  await sleep(50);
  socket.disconnect();
  report.received = got;
  if (expected !== null) return same(got, expected) ? null : `received ${JSON.stringify(got)}`;
  // WebSocket: the non-volatile ones always arrive, and the late volatile ones too (the
  // transport is idle by then); "b" and "d" are up to the transport (see the test).
  for (const event of ["a", "c", "e", "f", "g"]) {
    if (!got.includes(event)) return `missing ${event}: ${JSON.stringify(got)}`;
  }
  return null;
}

try {
  finish(await scenarios[scenario]());
} catch (err) {
  finish(`error: ${err && err.stack ? err.stack : err}`);
}
