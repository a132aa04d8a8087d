// The Socket.IO JWT guide's client side, driven by the real npm `socket.io-client` against
// examples/jwt_app.py (see test_jwt_client.py, which starts the app and mints the tokens).
//
//   node jwt_scenarios.mjs <scenario> <base-url> '<json params>'
//
// Prints exactly ONE JSON line ({"ok": bool, "reason": string|null, "scenario": ..., ...}) and
// exits 0 only if every check made here passed. Never hangs: an overall timeout fails the run.
// The Python side makes the server-side checks (which requests carried the header, 401s).
//
// Scenarios (params):
//   header-upgrade   {token}           extraHeaders Authorization: hello, then polling -> websocket
//   header-once      {token}           the same, but the client drops the header right after the
//                                      handshake; the session must go on (upgrade, echo) without it
//   ws-auth          {token, expect}   websocket only, token in the CONNECT payload;
//                                      expect "hello" or "connect_error"
//   bad-token        {header}          extraHeaders Authorization = header (null: none sent);
//                                      must end in connect_error, never in hello
//   notify           {token1, token2}  two clients of user 1 get a notification, user 2's doesn't
//   is-online        {token1, token2}  is-online 2: false, true once user 2 connects, false after
//   ask              {token}           server -> client ack: "question" acked -> "answer"
//   ask-no-ack       {token}           "question" never acked -> {"error": "no ack"} after ~2 s
//
// Set DEBUG=socket.io-client:*,engine.io-client:* for the client's own trace on stderr.

import { io } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 15_000;
const STEP_TIMEOUT_MS = 5_000;
const QUIET_MS = 500; // how long "nothing arrives" is watched for
const EXIT_GRACE_MS = 200;

const [scenario, baseUrl, rawParams] = process.argv.slice(2);
const t0 = Date.now();
const obs = { ok: false, reason: null, scenario: scenario ?? null, elapsedMs: 0, events: [] };
const sockets = [];
let finished = false;

const now = () => Date.now() - t0;
const event = (name, detail) => obs.events.push(detail === undefined ? [now(), name] : [now(), name, detail]);

class Failure extends Error {}
const fail = (reason) => {
  throw new Failure(reason);
};
const check = (cond, reason) => {
  if (!cond) fail(reason);
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function describeError(err) {
  if (err === undefined || err === null) return null;
  const out = { message: String(err.message ?? err) };
  if (err.data !== undefined) out.data = err.data;
  if (err.type !== undefined) out.type = String(err.type);
  const d = err.description;
  if (typeof d === "number" || typeof d === "string") out.description = d;
  else if (d && typeof d.message === "string") out.description = d.message;
  return out;
}

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

/** A client that records what it sees; no reconnection, so a refusal is final. */
function client(label, opts) {
  const s = io(baseUrl, { reconnection: false, forceNew: true, ...opts });
  sockets.push(s);
  const seen = { label, hello: null, transports: [], notifications: [], connectErrors: [] };
  s.seen = seen;
  s.io.on("open", () => {
    const engine = s.io.engine;
    seen.transports.push(engine.transport.name);
    engine.on("upgrade", (t) => {
      seen.transports.push(t.name);
      event(`${label} upgrade`, t.name);
    });
  });
  s.on("connect", () => event(`${label} connect`));
  s.on("hello", (payload) => {
    seen.hello = payload;
    event(`${label} hello`, payload);
  });
  s.on("notification", (message) => {
    seen.notifications.push(message);
    event(`${label} notification`, message);
  });
  s.on("connect_error", (err) => {
    seen.connectErrors.push(describeError(err));
    event(`${label} connect_error`, describeError(err));
  });
  s.on("disconnect", (reason) => event(`${label} disconnect`, reason));
  return s;
}

/** Resolves with the first arguments of `name` on `emitter`, or fails after `ms`. */
function once(emitter, name, what, ms = STEP_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure(`no ${what} within ${ms} ms`)), ms);
    emitter.once(name, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function until(cond, what, ms = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(s, ...args) {
  return await s.timeout(STEP_TIMEOUT_MS).emitWithAck(...args);
}

const bearer = (token) => ({ Authorization: `Bearer ${token}` });

async function connected(s) {
  await until(() => s.seen.hello !== null || s.seen.connectErrors.length, `${s.seen.label}: hello`);
  check(s.seen.hello !== null, `${s.seen.label}: connect_error ${JSON.stringify(s.seen.connectErrors)}`);
  return s.seen.hello;
}

async function upgraded(s) {
  await until(() => s.seen.transports.includes("websocket"), `${s.seen.label}: upgrade to websocket`);
  obs.transports = s.seen.transports;
  check(same(s.seen.transports, ["polling", "websocket"]), `transports ${JSON.stringify(s.seen.transports)}`);
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function headerUpgrade({ token }) {
  const s = client("A", { extraHeaders: bearer(token) });
  obs.hello = await connected(s);
  await upgraded(s);
  const payload = { text: "après l'upgrade", n: 42 };
  obs.echo = await call(s, "echo", payload);
  check(same(obs.echo, payload), `echo ${JSON.stringify(obs.echo)}`);
}

async function headerOnce({ token }) {
  // engine.io-client shares this object with every request it builds: emptying it after the
  // handshake (the CONNECT auth callback runs right after it) takes the header off what follows.
  const headers = bearer(token);
  const s = client("A", {
    extraHeaders: headers,
    auth: (cb) => {
      delete headers.Authorization;
      event("header dropped");
      cb({});
    },
  });
  obs.hello = await connected(s);
  await upgraded(s);
  obs.echo = await call(s, "echo", "no header any more");
  check(obs.echo === "no header any more", `echo ${JSON.stringify(obs.echo)}`);
}

async function wsAuth({ token, expect }) {
  const s = client("A", { transports: ["websocket"], auth: { token } });
  await until(() => s.seen.hello !== null || s.seen.connectErrors.length, "hello or connect_error");
  await sleep(100); // a hello after a connect_error (or the reverse) would be a bug: wait for it
  obs.hello = s.seen.hello;
  obs.connectErrors = s.seen.connectErrors;
  obs.transports = s.seen.transports;
  if (expect === "hello") {
    check(s.seen.hello !== null && !s.seen.connectErrors.length, "expected hello only");
    check(same(s.seen.transports, ["websocket"]), `transports ${JSON.stringify(s.seen.transports)}`);
    obs.echo = await call(s, "echo", "ws only");
    check(obs.echo === "ws only", `echo ${JSON.stringify(obs.echo)}`);
  } else {
    check(s.seen.hello === null && s.seen.connectErrors.length === 1, "expected one connect_error only");
  }
}

async function badToken({ header }) {
  const s = client("A", header === null ? {} : { extraHeaders: { Authorization: header } });
  await until(() => s.seen.connectErrors.length || s.seen.hello !== null, "connect_error");
  await sleep(QUIET_MS);
  obs.hello = s.seen.hello;
  obs.connectErrors = s.seen.connectErrors;
  obs.connected = s.connected;
  check(s.seen.hello === null && !s.connected, "a bad token got a connection");
  check(s.seen.connectErrors.length === 1, `${s.seen.connectErrors.length} connect_errors`);
}

async function notify({ token1, token2 }) {
  const a = client("user1-a", { extraHeaders: bearer(token1) });
  // Node (unlike a browser) sends extraHeaders on a WebSocket: b's session starts with one.
  const b = client("user1-b", { extraHeaders: bearer(token1), transports: ["websocket"] });
  const c = client("user2", { extraHeaders: bearer(token2) });
  for (const s of [a, b, c]) await connected(s);
  obs.hellos = [a, b, c].map((s) => s.seen.hello);
  obs.ack = await call(c, "notify-user", { userId: 1, message: "from jane" });
  check(same(obs.ack, { ok: true }), `notify-user ack ${JSON.stringify(obs.ack)}`);
  await until(() => a.seen.notifications.length && b.seen.notifications.length, "both user-1 notifications");
  await sleep(QUIET_MS);
  obs.notifications = Object.fromEntries([a, b, c].map((s) => [s.seen.label, s.seen.notifications]));
  check(same(a.seen.notifications, ["from jane"]), "user1-a notifications");
  check(same(b.seen.notifications, ["from jane"]), "user1-b notifications");
  check(c.seen.notifications.length === 0, "user2 got user 1's notification");
}

async function isOnline({ token1, token2 }) {
  const a = client("user1", { extraHeaders: bearer(token1) });
  await connected(a);
  const steps = (obs.steps = []);
  const ask = async (userId, expected, when) => {
    const answer = await call(a, "is-online", userId);
    steps.push({ when, userId, answer });
    check(same(answer, { online: expected }), `${when}: is-online ${userId} -> ${JSON.stringify(answer)}`);
  };
  await ask(1, true, "self");
  await ask(2, false, "before user 2 connects");
  const b = client("user2", { extraHeaders: bearer(token2) });
  await connected(b);
  await ask(2, true, "user 2 connected");
  b.disconnect();
  await sleep(200);
  await ask(2, false, "after user 2 disconnected");
}

async function ask({ token }, reply) {
  const s = client("A", { extraHeaders: bearer(token) });
  await connected(s);
  s.on("question", (payload, ack) => {
    event("question", payload);
    if (reply) ack({ answer: "42" });
  });
  const started = Date.now();
  s.emit("ask-me", { question: "the answer?" });
  const [answer] = await once(s, "answer", "answer");
  obs.answer = answer;
  obs.answerAfterMs = Date.now() - started;
  if (reply) {
    check(same(answer, { answer: "42" }), `answer ${JSON.stringify(answer)}`);
  } else {
    check(same(answer, { error: "no ack" }), `answer ${JSON.stringify(answer)}`);
    check(obs.answerAfterMs >= 1900 && obs.answerAfterMs < 4000, `answer after ${obs.answerAfterMs} ms`);
  }
}

const SCENARIOS = {
  "header-upgrade": headerUpgrade,
  "header-once": headerOnce,
  "ws-auth": wsAuth,
  "bad-token": badToken,
  notify,
  "is-online": isOnline,
  ask: (p) => ask(p, true),
  "ask-no-ack": (p) => ask(p, false),
};

async function main() {
  if (!scenario || !Object.hasOwn(SCENARIOS, scenario)) fail(`unknown scenario ${JSON.stringify(scenario)}`);
  if (!/^https?:\/\//.test(baseUrl ?? "")) fail(`bad base url ${JSON.stringify(baseUrl)}`);
  await SCENARIOS[scenario](JSON.parse(rawParams ?? "{}"));
}

main().then(
  () => finish(true, null),
  (err) => finish(false, err instanceof Failure ? err.message : `threw: ${err?.stack ?? err}`),
);
