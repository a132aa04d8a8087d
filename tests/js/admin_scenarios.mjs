// The admin UI's protocol, driven by the real npm socket.io-client as the UI drives it.
//
//   node admin_scenarios.mjs <base-url>
//
// Against the server of admin_node_server.mjs (the Node reference first, then minisock):
// an admin connects to "/admin" with a wrong password, then the right one, then again with
// the session id it was given; an application client connects to "/", sends an event with
// an ack; the admin makes it join and leave a room, sends it an event, and disconnects it.
// Prints ONE JSON line: {"ok", "reason", "events", "stats", ...} where "events" is what the
// admin received (server_stats aside), each value normalised: socket ids become "<admin>" /
// "<app>", ISO dates "<date>", the handshake and the stats their shape. The test compares
// the reference's report with minisock's.

import { io } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 6_000;
const [base] = process.argv.slice(2);
const report = { ok: false, reason: null, events: [], stats: null };
const labels = new Map();
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const development = () => report.config?.supportedFeatures?.includes("ALL_EVENTS");
const canAct = () => report.config?.supportedFeatures?.includes("JOIN");

function shape(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape(value[k])]));
  }
  return typeof value;
}

function norm(value, key) {
  if (key === "handshake" || key === "headers") return shape(value);
  if (key === "clientId") return typeof value === "string" && value.length ? "<client>" : value;
  if (typeof value === "string") return labels.get(value) ?? (ISO.test(value) ? "<date>" : value);
  if (Array.isArray(value)) return value.map((v) => norm(v));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, norm(value[k], k)]));
  }
  return value;
}

// The admin socket's own transport, as the race above left it, is not compared.
function withoutAdminTransport(events) {
  const settle = (s) => (s?.id === "<admin>" ? { ...s, transport: "<settled>" } : s);
  return events
    .filter((e) => !(e[0] === "socket_updated" && e[1]?.id === "<admin>"))
    .map((e) => {
      if (e[0] === "socket_connected") return [e[0], settle(e[1]), ...e.slice(2)];
      if (e[0] === "all_sockets") return [e[0], e[1].map(settle)];
      return e;
    });
}

function waitFor(list, pred, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      const found = list.find(pred);
      if (found) return resolve(found);
      if (Date.now() - t0 > STEP_TIMEOUT_MS) return reject(new Error(`timeout waiting for ${what}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

const raw = [];  // [event, ...args], as received
function admin(auth) {
  const socket = io(`${base}/admin`, { auth, forceNew: true, reconnection: false });
  socket.onAny((event, ...args) => {
    if (event === "server_stats") {
      raw.push(["server_stats", args[0]]);
      return;
    }
    raw.push([event, ...args]);
  });
  return socket;
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(null));
    socket.once("connect_error", (err) => resolve(err.message));
    setTimeout(() => reject(new Error("no connect nor connect_error")), STEP_TIMEOUT_MS);
  });
}

async function main() {
  // 1. A wrong password.
  const wrong = admin({ username: "admin", password: "wrong" });
  report.wrongPassword = await connected(wrong);
  wrong.close();

  // 2. The right one: session, config, (development) all_sockets and itself connecting.
  const boss = admin({ username: "admin", password: "s3cret" });
  const refused = await connected(boss);
  if (refused) throw new Error(`admin refused: ${refused}`);
  labels.set(boss.id, "<admin>");
  const session = await waitFor(raw, (e) => e[0] === "session", "session");
  labels.set(session[1], "<session>");
  report.sessionIdLength = session[1].length;
  const config = await waitFor(raw, (e) => e[0] === "config", "config");
  report.config = config[1];
  if (development()) {
    const all = await waitFor(raw, (e) => e[0] === "all_sockets", "all_sockets");
    // The admin's own upgrade to WebSocket (Node: at once; minisock: by the next stats tick).
    // Whether it comes before or after the (bcrypt-slow) login is a race on either server:
    // when the login lost it, the UI already hears "websocket" and no update follows.
    const mine = all[1].find((s) => s.id === boss.id);
    if (mine?.transport !== "websocket") {
      await waitFor(raw, (e) => e[0] === "socket_updated" && e[1].id === boss.id, "socket_updated");
    }
  }

  // 3. An application client: connects, is welcomed, sends an event with an ack.
  const app = io(base, { forceNew: true, reconnection: false, transports: ["websocket"] });
  const appEvents = [];
  app.onAny((event, ...args) => appEvents.push([event, ...args]));
  const disconnected = new Promise((resolve) => app.on("disconnect", resolve));
  if (await connected(app)) throw new Error("app refused");
  const appId = app.id;
  labels.set(appId, "<app>");
  await waitFor(appEvents, (e) => e[0] === "welcome", "welcome");
  report.ack = await app.timeout(STEP_TIMEOUT_MS).emitWithAck("ping-me", 1, { x: [true, null] });
  if (development()) {
    await waitFor(raw, (e) => e[0] === "event_received", "event_received");
    await waitFor(raw, (e) => e[0] === "event_sent", "event_sent");
  }

  // 4. The admin's commands, filtered on the app socket's id (its own room).
  if (canAct()) {
    boss.emit("join", "/", "extra", app.id);
    if (development()) await waitFor(raw, (e) => e[0] === "room_joined" && e[2] === "extra", "room_joined");
    boss.emit("leave", "/", "extra", app.id);
    if (development()) await waitFor(raw, (e) => e[0] === "room_left" && e[2] === "extra", "room_left");
    boss.emit("emit", "/", app.id, "from-admin", "hi", 2);
    await waitFor(appEvents, (e) => e[0] === "from-admin", "from-admin");
    boss.emit("_disconnect", "/", false, app.id);
    report.appDisconnect = await disconnected;
    if (development()) await waitFor(raw, (e) => e[0] === "socket_disconnected" && e[2] === appId, "socket_disconnected");
    await waitFor(raw, (e) => e[0] === "server_stats" && e[1].namespaces.some((n) => n.name === "/" && n.socketsCount === 0), "stats after the disconnect");
  } else {
    boss.emit("_disconnect", "/", false, app.id);  // ignored: read-only
    await new Promise((r) => setTimeout(r, 300));
    report.appConnectedAfterCommand = app.connected;
    app.close();
  }
  report.appEvents = norm(appEvents);

  // 5. The session id alone lets the admin back in, without a new "session".
  const stats = await waitFor(raw, (e) => e[0] === "server_stats" && e[1].aggregatedEvents.some((a) => a.type === "bytesIn"), "aggregated bytesIn");
  const cut = raw.length;  // what follows comes to two admin sockets at once
  const again = admin({ sessionId: session[1] });
  report.sessionLogin = await connected(again);
  labels.set(again.id, "<admin2>");
  await new Promise((r) => setTimeout(r, 300));
  again.close();
  boss.close();

  const first = raw.find((e) => e[0] === "server_stats")[1];
  report.stats = {
    shape: shape({ ...first, aggregatedEvents: [], namespaces: [] }),
    serverId: first.serverId,
    namespaces: first.namespaces.map((n) => n.name).sort(),
    eventShape: shape(stats[1].aggregatedEvents[0]),
    eventTypes: [...new Set(raw.filter((e) => e[0] === "server_stats").flatMap((e) => e[1].aggregatedEvents.map((a) => `${a.type}/${a.subType ?? ""}`)))].sort(),
  };
  report.events = withoutAdminTransport(
    raw.slice(0, cut).filter((e) => e[0] !== "server_stats").map((e) => norm(e)),
  );
  report.ok = true;
}

setTimeout(() => {
  report.reason = `overall timeout after ${OVERALL_TIMEOUT_MS} ms`;
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(1);
}, OVERALL_TIMEOUT_MS).unref();
try {
  await main();
} catch (err) {
  report.reason = String(err?.stack ?? err);
  report.events = withoutAdminTransport(
    raw.filter((e) => e[0] !== "server_stats").map((e) => norm(e)),
  );
}
process.stdout.write(JSON.stringify(report) + "\n");
process.exit(report.ok ? 0 : 1);
