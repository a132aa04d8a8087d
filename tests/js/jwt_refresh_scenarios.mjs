// Refreshing a token on a live socket, driven by the real npm `socket.io-client` against
// examples/jwt_app.py with short-lived tokens (see test_jwt_refresh_client.py).
//
//   node jwt_refresh_scenarios.mjs <scenario> <base-url> '<json params>'
//
// Scenarios (params):
//   refresh  {token, wsOnly}          halfway through each token's life: POST /refresh, then
//                                     emitWithAck("reauthenticate", fresh); 1.5 s past the first
//                                     token's exp the socket is the same one, never disconnected
//   refused  {token, other, expired}  other user's token, an expired one, a number: each refused
//                                     with its reason; POST /refresh refuses the expired token;
//                                     then the server disconnects at the first exp
//
// Prints exactly ONE JSON line ({"ok", "reason", "scenario", ...}); exits 0 only if every
// check made here passed. An overall timeout fails the run.

import { io } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 5_000;
const PAST_EXPIRY_MS = 1_500;

const [scenario, baseUrl, rawParams] = process.argv.slice(2);
const t0 = Date.now();
const obs = { ok: false, reason: null, scenario: scenario ?? null, events: [] };
let socket = null;
let finished = false;

class Failure extends Error {}
const check = (cond, reason) => {
  if (!cond) throw new Failure(reason);
};
const event = (name, detail) => obs.events.push([Date.now() - t0, name, detail ?? null]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bearer = (token) => ({ Authorization: `Bearer ${token}` });
const expOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp;

function finish(ok, reason) {
  if (finished) return;
  finished = true;
  obs.ok = ok;
  obs.reason = reason ?? null;
  obs.elapsedMs = Date.now() - t0;
  process.stdout.write(JSON.stringify(obs) + "\n");
  if (socket) socket.disconnect(); // after the report: this disconnect is ours
  setTimeout(() => process.exit(ok ? 0 : 1), 200);
}
process.on("uncaughtException", (err) => finish(false, `uncaught exception: ${err?.stack ?? err}`));
process.on("unhandledRejection", (err) => finish(false, `unhandled rejection: ${err?.stack ?? err}`));
setTimeout(() => finish(false, `overall timeout after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

/** Connects with the token (header, or CONNECT auth when wsOnly); resolves once connected. */
function connect(token, wsOnly) {
  const opts = wsOnly ? { transports: ["websocket"], auth: { token } } : { extraHeaders: bearer(token) };
  socket = io(baseUrl, { reconnection: false, forceNew: true, ...opts });
  obs.connects = 0;
  obs.disconnects = [];
  socket.on("connect", () => {
    obs.connects += 1;
    event("connect", socket.id);
  });
  socket.on("disconnect", (reason) => {
    obs.disconnects.push([Date.now(), reason]);
    event("disconnect", reason);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure("no connect")), STEP_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket.id);
    });
    socket.once("connect_error", (err) => reject(new Failure(`connect_error ${err.message}`)));
  });
}

async function postRefresh(token) {
  const response = await fetch(new URL("/refresh", baseUrl), { method: "POST", headers: bearer(token) });
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json() };
}

const reauthenticate = (value) => socket.timeout(STEP_TIMEOUT_MS).emitWithAck("reauthenticate", value);

async function refresh({ token, wsOnly }) {
  const firstId = await connect(token, wsOnly);
  const firstExp = expOf(token);
  obs.firstExp = firstExp;
  obs.refreshes = [];
  let current = token;
  while (Date.now() < firstExp * 1000 + PAST_EXPIRY_MS) {
    const left = expOf(current) * 1000 - Date.now();
    await sleep(Math.max(100, left / 2));
    const answer = await postRefresh(current);
    check(answer.status === 200, `POST /refresh: ${JSON.stringify(answer)}`);
    const fresh = answer.body.token;
    const ack = await reauthenticate(fresh);
    check(ack.ok === true && ack.exp === expOf(fresh), `reauthenticate: ${JSON.stringify(ack)}`);
    obs.refreshes.push(ack.exp);
    current = fresh;
    event("refreshed", ack.exp);
  }
  check(socket.connected && socket.id === firstId, `not the same live socket: ${socket.id}`);
  check(obs.connects === 1 && obs.disconnects.length === 0, `reconnected: ${JSON.stringify(obs.events)}`);
  obs.echo = await socket.timeout(STEP_TIMEOUT_MS).emitWithAck("echo", "still here");
  check(obs.echo === "still here", `echo ${JSON.stringify(obs.echo)}`);
}

async function refused({ token, other, expired }) {
  await connect(token, false);
  const firstExp = expOf(token);
  obs.firstExp = firstExp;
  obs.answers = [];
  for (const value of [other, expired, 42]) obs.answers.push(await reauthenticate(value));
  obs.refreshExpired = await postRefresh(expired);
  check(socket.connected, "still connected after the refusals");
  const deadline = firstExp * 1000 + 5_000;
  while (!obs.disconnects.length && Date.now() < deadline) await sleep(20);
  check(obs.disconnects.length === 1, `no disconnect by ${deadline}`);
  obs.disconnectAt = obs.disconnects[0][0];
  obs.disconnectReason = obs.disconnects[0][1];
}

const SCENARIOS = { refresh, refused };
if (!(scenario in SCENARIOS) || !baseUrl) {
  finish(false, `usage: node jwt_refresh_scenarios.mjs ${Object.keys(SCENARIOS).join("|")} <base-url> '<json>'`);
} else {
  SCENARIOS[scenario](JSON.parse(rawParams ?? "{}")).then(
    () => finish(true),
    (err) => finish(false, err instanceof Failure ? err.message : String(err?.stack ?? err)),
  );
}
