// Real socket.io-client 4.x clients through HAProxy (examples/cluster/haproxy.cfg, cookie
// mode) in front of examples/jwt_app.py workers sharing one Redis. See test_haproxy.py.
//
//   node haproxy_clients.mjs <scenario> <haproxy-url> '<json params>'
//
// Every scenario logs in through HAProxy first (POST /login, john and jane), then connects
// with `extraHeaders: {Authorization: "Bearer <token>"}`. Prints exactly ONE JSON line
// ({"ok": bool, "reason": string|null, "scenario": ..., "clients": [...], ...}) and exits 0
// only if every check made here passed. Never hangs: an overall timeout fails the run.
//
// Scenarios (params):
//   upgrade        {count}  `count` clients on default transports (polling, then upgrade),
//                           withCredentials: each gets "hello", ends on websocket, echoes
//   polling        {count, rounds}  `count` polling-only clients, withCredentials: each
//                           echoes `rounds` times and notifies itself through the server
//   cross          {}       john and jane on different workers (reconnects jane until HAProxy
//                           put her on the other one): is-online both ways, notify-user both
//                           ways, and a user-2 notification that john must not see
//   no-credentials {}       one polling-only client WITHOUT withCredentials: must fail (its
//                           requests after the handshake are balanced to the other worker)
//
// Each client reports the worker HAProxy pinned it to: the SERVERID cookie HAProxy inserted
// in the handshake answer (or, in prefix mode, the "w1~" prefix of the app's io cookie), read
// from the client's cookie jar (socket.io.engine._cookieJar, which engine.io-client 6.x keeps
// under Node.js only with withCredentials: true).
//
// Set DEBUG=socket.io-client:*,engine.io-client:* for the client's own trace on stderr.

import { createRequire } from "node:module";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { io } = require("socket.io-client");

const OVERALL_TIMEOUT_MS = 25_000;
const STEP_TIMEOUT_MS = 8_000;
const QUIET_MS = 500;
const EXIT_GRACE_MS = 200;
const COOKIE = "SERVERID";

const [scenario, baseUrl, rawParams] = process.argv.slice(2);
const params = JSON.parse(rawParams ?? "{}");
const t0 = Date.now();
const obs = { ok: false, reason: null, scenario: scenario ?? null, elapsedMs: 0, clients: [] };
const sockets = [];
let finished = false;

const now = () => Date.now() - t0;

class Failure extends Error {}
const fail = (reason) => {
  throw new Failure(reason);
};
const check = (cond, reason) => {
  if (!cond) fail(reason);
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function finish(ok, reason) {
  if (finished) return;
  finished = true;
  obs.ok = ok;
  obs.reason = reason ?? null;
  obs.elapsedMs = now();
  for (const s of sockets) s.disconnect();
  process.stdout.write(JSON.stringify(obs) + "\n");
  process.exitCode = ok ? 0 : 1;
  setTimeout(() => process.exit(ok ? 0 : 1), EXIT_GRACE_MS);
}

process.on("uncaughtException", (err) => finish(false, `uncaught exception: ${err?.stack ?? err}`));
process.on("unhandledRejection", (err) => finish(false, `unhandled rejection: ${err?.stack ?? err}`));
setTimeout(() => finish(false, `overall timeout after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

// ---------------------------------------------------------------------------------------------
// Plumbing

function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function login(username) {
  const res = await withTimeout(
    fetch(`${baseUrl}/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password: "changeit" }),
    }),
    `POST /login as ${username}`,
  );
  const body = await res.json();
  check(res.status === 200 && typeof body.token === "string", `login ${username}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * The worker HAProxy pinned this client to, or null: its SERVERID cookie (insert mode), or the
 * prefix HAProxy put on the app's `io` cookie (prefix mode: io=w1~<sid>).
 */
function workerOf(socket) {
  const jar = socket.io.engine?._cookieJar;
  if (!jar) return null;
  for (const [name, cookie] of jar.cookies) {
    if (name === COOKIE) return cookie.value;
    if (name === "io" && cookie.value.includes("~")) return cookie.value.split("~")[0];
  }
  return null;
}

/**
 * A client that records what it sees; no reconnection, so a failure is final.
 * Resolves once "hello" arrived (the server's connect handler ran), with the client's record.
 */
function connect(label, token, options) {
  const socket = io(baseUrl, {
    reconnection: false,
    forceNew: true,
    timeout: STEP_TIMEOUT_MS,
    extraHeaders: { Authorization: `Bearer ${token}` },
    ...options,
  });
  sockets.push(socket);
  const record = { label, worker: null, hello: null, transport: null, notifications: [], errors: [] };
  obs.clients.push(record);
  socket.on("notification", (message) => record.notifications.push(message));
  socket.on("connect_error", (err) => record.errors.push(`connect_error: ${err.message}`));
  socket.on("disconnect", (reason) => record.errors.push(`disconnect: ${reason}`));
  const hello = new Promise((resolve, reject) => {
    socket.once("hello", (user) => {
      record.hello = user;
      record.worker = workerOf(socket);
      record.transport = socket.io.engine.transport.name;
      resolve(record);
    });
    socket.once("connect_error", (err) => reject(new Failure(`${label}: connect_error ${err.message}`)));
    socket.once("disconnect", (reason) => reject(new Failure(`${label}: disconnect ${reason} before hello`)));
  });
  return { socket, record, hello: withTimeout(hello, `${label}: hello`) };
}

/** Emits with an ack callback; resolves with ALL the ack's arguments (an array). */
function call(socket, label, ...args) {
  const acked = new Promise((resolve, reject) => {
    socket.timeout(STEP_TIMEOUT_MS).emit(...args, (err, ...answer) => (err ? reject(err) : resolve(answer)));
  });
  return withTimeout(acked, `${label}: ack of ${args[0]}`);
}

/** The first argument of the ack, for the handlers that answer one value. */
const ask = async (socket, label, ...args) => (await call(socket, label, ...args))[0];

function upgraded(socket, label) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return withTimeout(new Promise((resolve) => engine.once("upgrade", () => resolve())), `${label}: upgrade`);
}

function notification(record, message) {
  return withTimeout(
    new Promise((resolve) => {
      const poll = () => (record.notifications.includes(message) ? resolve() : setTimeout(poll, 10));
      poll();
    }),
    `${record.label}: notification ${JSON.stringify(message)}`,
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function checkConnected(records) {
  for (const r of records) {
    check(r.errors.length === 0, `${r.label}: ${r.errors.join(", ")}`);
    check(r.worker !== null, `${r.label}: no ${COOKIE} (or prefixed io) cookie from HAProxy`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const scenarios = {
  async upgrade({ count }) {
    const token = await login("john");
    const clients = [];
    for (let i = 0; i < count; i++) {
      clients.push(connect(`client${i}`, token, { withCredentials: true }));
    }
    await Promise.all(clients.map((c) => c.hello));
    await Promise.all(clients.map((c) => upgraded(c.socket, c.record.label)));
    await Promise.all(
      clients.map(async (c) => {
        const reply = await call(c.socket, c.record.label, "echo", c.record.label, 1);
        check(same(reply, [c.record.label, 1]), `${c.record.label}: echo answered ${JSON.stringify(reply)}`);
        c.record.transport = c.socket.io.engine.transport.name;
        check(c.record.transport === "websocket", `${c.record.label}: transport ${c.record.transport}`);
      }),
    );
    checkConnected(clients.map((c) => c.record));
  },

  async polling({ count, rounds }) {
    const token = await login("jane");
    const clients = [];
    for (let i = 0; i < count; i++) {
      clients.push(connect(`client${i}`, token, { withCredentials: true, transports: ["polling"] }));
    }
    await Promise.all(clients.map((c) => c.hello));
    await Promise.all(
      clients.map(async (c) => {
        const label = c.record.label;
        for (let round = 0; round < rounds; round++) {
          const reply = await call(c.socket, label, "echo", label, round);
          check(same(reply, [label, round]), `${label}: echo ${round} answered ${JSON.stringify(reply)}`);
        }
        // Through the adapter: jane (user 2) notifies user 2, i.e. every client here.
        const ack = await ask(c.socket, label, "notify-user", { userId: 2, message: `from ${label}` });
        check(same(ack, { ok: true }), `${label}: notify-user answered ${JSON.stringify(ack)}`);
      }),
    );
    // Each client gets every client's notification, from its own worker and from the other.
    await Promise.all(
      clients.flatMap((c) => clients.map((from) => notification(c.record, `from ${from.record.label}`))),
    );
    for (const c of clients) {
      c.record.transport = c.socket.io.engine.transport.name;
      check(c.record.transport === "polling", `${c.record.label}: transport ${c.record.transport}`);
    }
    checkConnected(clients.map((c) => c.record));
  },

  async cross() {
    const [johnToken, janeToken] = [await login("john"), await login("jane")];
    const john = connect("john", johnToken, { withCredentials: true });
    await john.hello;
    check(john.record.hello?.username === "john", `john's hello: ${JSON.stringify(john.record.hello)}`);
    let jane;
    for (let attempt = 0; attempt < 4; attempt++) {
      const candidate = connect(`jane#${attempt}`, janeToken, { withCredentials: true });
      await candidate.hello;
      if (candidate.record.worker !== john.record.worker) {
        jane = candidate;
        break;
      }
      candidate.socket.disconnect(); // same worker as john: try again (round-robin moves on)
      await sleep(100);
    }
    check(jane !== undefined, `HAProxy put every jane on john's worker ${john.record.worker}`);
    obs.workers = { john: john.record.worker, jane: jane.record.worker };
    await Promise.all([upgraded(john.socket, "john"), upgraded(jane.socket, "jane")]);

    const online2 = await ask(john.socket, "john", "is-online", 2);
    check(same(online2, { online: true }), `john: is-online 2 answered ${JSON.stringify(online2)}`);
    const online1 = await ask(jane.socket, "jane", "is-online", 1);
    check(same(online1, { online: true }), `jane: is-online 1 answered ${JSON.stringify(online1)}`);
    const online3 = await ask(jane.socket, "jane", "is-online", 3);
    check(same(online3, { online: false }), `jane: is-online 3 answered ${JSON.stringify(online3)}`);

    const toJane = await ask(john.socket, "john", "notify-user", { userId: 2, message: "hi jane" });
    check(same(toJane, { ok: true }), `john: notify-user answered ${JSON.stringify(toJane)}`);
    await notification(jane.record, "hi jane");
    const toJohn = await ask(jane.socket, "jane", "notify-user", { userId: 1, message: "hi john" });
    check(same(toJohn, { ok: true }), `jane: notify-user answered ${JSON.stringify(toJohn)}`);
    await notification(john.record, "hi john");
    await sleep(QUIET_MS);
    check(!john.record.notifications.includes("hi jane"), "john got jane's notification");
    check(!jane.record.notifications.includes("hi john"), "jane got john's notification");
    checkConnected([john.record, jane.record]);
  },

  async "no-credentials"() {
    const token = await login("john");
    const client = connect("client", token, { transports: ["polling"] });
    let outcome;
    try {
      await client.hello;
      // Connected by luck of timing: the next requests must still fail.
      for (let round = 0; round < 4; round++) await call(client.socket, "client", "echo", round);
      outcome = "connected";
    } catch (err) {
      if (!(err instanceof Failure)) throw err;
      outcome = err.message;
    }
    obs.outcome = outcome;
    check(outcome !== "connected", "a polling client without cookies worked through two workers");
  },
};

// ---------------------------------------------------------------------------------------------

async function main() {
  const run = scenarios[scenario];
  if (!run || !baseUrl) {
    finish(false, `usage: haproxy_clients.mjs <${Object.keys(scenarios).join("|")}> <url> '<json>'`);
    return;
  }
  await run(params);
  finish(true);
}

main().catch((err) => finish(false, err instanceof Failure ? err.message : `error: ${err?.stack ?? err}`));
