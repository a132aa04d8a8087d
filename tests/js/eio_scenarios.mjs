// Engine.IO v4 conformance scenarios driven by the real npm `engine.io-client`.
//
//   node eio_scenarios.mjs <scenario> <base-url>
//
// Runs ONE scenario against an Engine.IO echo server listening at <base-url> (path "/engine.io/"):
// the server must echo every message back unchanged (text as text, binary as binary) and close the
// session when it receives exactly the text "close-me".
//
// Prints exactly ONE JSON line on stdout describing what was observed
// ({"ok": bool, "reason": string|null, "scenario": ..., "transports": [...], ...}) and exits 0 when
// every check passed, 1 otherwise. Never hangs: an overall timeout fails the run.
//
// Scenarios:
//   upgrade                  polling -> websocket upgrade, 100 mixed messages sent across the upgrade
//   polling                  polling only, messages sent in synchronous bursts (batched POSTs)
//   websocket                websocket only, 100 mixed messages
//   heartbeat                idle for 5 x pingInterval; at least 3 server pings and no close
//   client-close-polling     echo one message, then socket.close() -> "forced close"
//   client-close-websocket   same over websocket only
//   server-close-polling     send "close-me" -> client sees "transport close"
//   server-close-websocket   same over websocket only
//
// Set DEBUG=engine.io-client:* to get the client's own trace on stderr.

import { Socket } from "engine.io-client";

const OVERALL_TIMEOUT_MS = 10_000;
// After the verdict, keep the process alive briefly so that a close packet / close frame we just
// queued really reaches the server (the server-side disconnect reason is checked by the caller).
const EXIT_GRACE_MS = 300;
const SERVER_CLOSE_DEADLINE_MS = 3_000;
const UPGRADE_DEADLINE_MS = 5_000;
const MAX_EVENTS = 400;

const [scenario, baseUrl] = process.argv.slice(2);
const t0 = Date.now();

const obs = {
  ok: false,
  reason: null,
  scenario: scenario ?? null,
  baseUrl: baseUrl ?? null,
  elapsedMs: 0,
  handshake: null,
  transports: [], // transport at "open", then each transport upgraded to
  finalTransport: null,
  upgraded: false,
  close: null, // {reason, description, atMs}
  events: [], // [ms since start, name, detail?]
};

let socket = null;
let finished = false;

function now() {
  return Date.now() - t0;
}

function event(name, detail) {
  if (obs.events.length < MAX_EVENTS) {
    obs.events.push(detail === undefined ? [now(), name] : [now(), name, detail]);
  } else if (obs.events.length === MAX_EVENTS) {
    obs.events.push([now(), "events-truncated"]);
  }
}

function describeError(err) {
  if (err === undefined || err === null) return null;
  if (typeof err === "string") return err;
  const out = {};
  for (const key of ["message", "description", "type", "code"]) {
    const v = err[key];
    if (v === undefined || v === null) continue;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[key] = v;
    else if (typeof v === "object" && typeof v.message === "string") out[key] = v.message;
    else out[key] = String(v);
  }
  return Object.keys(out).length ? out : String(err);
}

function finish(ok, reason) {
  if (finished) return;
  finished = true;
  obs.ok = ok;
  obs.reason = reason ?? null;
  obs.elapsedMs = now();
  if (socket) obs.finalTransport = socket.transport ? socket.transport.name : null;
  let line;
  try {
    line = JSON.stringify(obs);
  } catch (err) {
    line = JSON.stringify({ ok: false, reason: `could not serialise observations: ${err}`, scenario });
    ok = false;
  }
  process.stdout.write(line + "\n");
  process.exitCode = ok ? 0 : 1;
  if (socket && socket.readyState !== "closed") {
    try {
      socket.close();
    } catch {
      // ignore: we are leaving anyway
    }
  }
  setTimeout(() => process.exit(ok ? 0 : 1), EXIT_GRACE_MS);
}

process.on("uncaughtException", (err) => {
  finish(false, `uncaught exception: ${err && err.stack ? err.stack : err}`);
});
process.on("unhandledRejection", (err) => {
  finish(false, `unhandled rejection: ${err && err.stack ? err.stack : err}`);
});
setTimeout(() => finish(false, `overall timeout after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS);

// ---------------------------------------------------------------------------------------------
// Messages

const NON_ASCII = "héllo ✓ 日本 🎉";

/** Deterministic message #i: ASCII text, non-ASCII text or binary, plus a few larger payloads. */
function makeMessage(i) {
  if (i % 25 === 24) {
    // Larger payloads (> 1 KiB, the client's compression threshold).
    if ((i / 25) % 2 < 1) return `${NON_ASCII} big #${i} ` + "ñ→😀".repeat(400);
    const big = new Uint8Array(3000);
    for (let k = 0; k < big.length; k++) big[k] = (k * 31 + i) & 0xff;
    big[0] = i & 0xff;
    big[1] = (i >> 8) & 0xff;
    return big;
  }
  switch (i % 3) {
    case 0:
      return `ascii message #${i}`;
    case 1:
      return `${NON_ASCII} #${i}`;
    default:
      // Index first, then bytes that are not valid UTF-8 and a record separator (0x1e).
      return Uint8Array.from([i & 0xff, (i >> 8) & 0xff, 0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x1e, 0x7f]);
  }
}

function toBytes(v) {
  if (typeof v === "string" || v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return v; // includes Buffer
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (typeof Blob !== "undefined" && v instanceof Blob) return null; // not expected under Node
  return null;
}

function kindOf(v) {
  if (typeof v === "string") return "text";
  if (Buffer.isBuffer(v)) return "buffer";
  if (v instanceof ArrayBuffer) return "arraybuffer";
  if (ArrayBuffer.isView(v)) return v.constructor ? v.constructor.name : "view";
  return v === null ? "null" : typeof v;
}

function preview(v) {
  if (typeof v === "string") {
    return v.length > 60 ? `${JSON.stringify(v.slice(0, 60))}...(${v.length} chars)` : JSON.stringify(v);
  }
  const bytes = toBytes(v);
  if (!bytes) return `<${kindOf(v)}>`;
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 16)).toString("hex");
  return `${kindOf(v)}[${bytes.byteLength}] ${hex}${bytes.byteLength > 16 ? "..." : ""}`;
}

function sameMessage(expected, got) {
  if (typeof expected === "string") return typeof got === "string" && got === expected;
  if (typeof got === "string") return false;
  const a = toBytes(expected);
  const b = toBytes(got);
  if (!a || !b || a.byteLength !== b.byteLength) return false;
  for (let k = 0; k < a.byteLength; k++) if (a[k] !== b[k]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Socket plumbing

function transportsFor(name) {
  if (name.endsWith("-polling")) return ["polling"];
  if (name.endsWith("-websocket")) return ["websocket"];
  return undefined; // engine.io-client default: polling first, then upgrade
}

/** Records the packets handed to each transport in one write (one POST for polling). */
function instrumentTransport(transport) {
  if (!transport || transport.__minisockInstrumented) return;
  transport.__minisockInstrumented = true;
  const originalSend = transport.send;
  transport.send = function (packets) {
    const messages = packets.filter((p) => p.type === "message").length;
    obs.flushes.push({ transport: transport.name, packets: packets.length, messages });
    return originalSend.call(this, packets);
  };
  if (transport.name === "polling") {
    // "pollComplete" fires once per GET response, after all its packets were processed.
    let messagesInThisPoll = 0;
    transport.on("packet", (packet) => {
      if (packet.type === "message") messagesInThisPoll++;
    });
    transport.on("pollComplete", () => {
      obs.pollResponses.push(messagesInThisPoll);
      messagesInThisPoll = 0;
    });
  }
}

function openSocket(transports) {
  const opts = { path: "/engine.io/" };
  if (transports) opts.transports = transports;
  obs.requestedTransports = transports ?? "default";
  obs.flushes = [];
  obs.pollResponses = [];
  socket = new Socket(baseUrl, opts);
  socket.on("handshake", (data) => {
    obs.handshake = data;
    event("handshake", data);
  });
  socket.on("open", () => {
    obs.transports.push(socket.transport.name);
    event("open", socket.transport.name);
    instrumentTransport(socket.transport);
  });
  socket.on("upgrading", (t) => {
    event("upgrading", t.name);
    instrumentTransport(t);
  });
  socket.on("upgrade", (t) => {
    obs.upgraded = true;
    obs.transports.push(t.name);
    event("upgrade", t.name);
  });
  socket.on("upgradeError", (err) => event("upgradeError", describeError(err)));
  socket.on("error", (err) => event("error", describeError(err)));
  socket.on("close", (reason, description) => {
    obs.close = { reason, description: describeError(description), atMs: now() };
    event("close", reason);
  });
  return socket;
}

// ---------------------------------------------------------------------------------------------
// Echo scenarios: upgrade / polling / websocket

function runEcho(mode) {
  const TOTAL = 100;
  const expected = Array.from({ length: TOTAL }, (_, i) => makeMessage(i));
  const transports = mode === "upgrade" ? undefined : [mode];
  obs.sent = [];
  obs.received = [];
  let nextToSend = 0;

  const s = openSocket(transports);

  const send = (i) => {
    obs.sent.push([i, s.transport.name + (s.upgrading ? "(upgrading)" : "")]);
    s.send(expected[i]);
  };

  s.on("message", (data) => {
    const i = obs.received.length;
    const via = s.transport.name;
    obs.received.push({ i, kind: kindOf(data), via, value: preview(data) });
    if (i >= TOTAL) {
      finish(false, `unexpected extra message #${i}: ${preview(data)}`);
      return;
    }
    if (!sameMessage(expected[i], data)) {
      finish(
        false,
        `message #${i} mismatch: expected ${kindOf(expected[i])} ${preview(expected[i])}, ` +
          `got ${kindOf(data)} ${preview(data)}`,
      );
      return;
    }
    if (mode === "polling" && i === 49 && nextToSend === 50) {
      // Second burst once the first one has fully come back.
      while (nextToSend < TOTAL) send(nextToSend++);
    }
    if (obs.received.length === TOTAL) verifyEcho(mode);
  });

  s.on("close", (reason) => {
    finish(false, `unexpected close (${reason}) after ${obs.received.length}/${TOTAL} echoes`);
  });

  s.on("open", () => {
    if (mode === "polling") {
      // Burst of 50 in one tick: the first goes out alone, the other 49 queue up behind it
      // and must leave together in a single batched POST.
      while (nextToSend < 50) send(nextToSend++);
    } else if (mode === "websocket") {
      while (nextToSend < TOTAL) send(nextToSend++);
    } else {
      // upgrade: start immediately and keep a steady trickle so that messages are sent while
      // polling, while the probe is in progress (buffered), and after the switch. Never send
      // more than 60 before the upgrade so that plenty of traffic is left for the websocket.
      // A small synchronous burst first, so that several messages (and echoes) use polling.
      while (nextToSend < 5) send(nextToSend++);
      let upgradeSettled = false; // "upgrade" or "upgradeError" seen
      let parked = false;
      const resume = () => {
        upgradeSettled = true;
        if (parked) {
          parked = false;
          setTimeout(step, 2);
        }
      };
      s.once("upgrade", resume);
      s.once("upgradeError", resume);
      const offered = (obs.handshake && obs.handshake.upgrades) || [];
      if (!offered.includes("websocket")) {
        finish(false, `handshake offers no websocket upgrade: ${JSON.stringify(obs.handshake)}`);
        return;
      }
      setTimeout(() => {
        if (!upgradeSettled) finish(false, `no "upgrade"/"upgradeError" within ${UPGRADE_DEADLINE_MS} ms of open`);
      }, UPGRADE_DEADLINE_MS);
      const step = () => {
        if (finished || nextToSend >= TOTAL) return;
        if (!upgradeSettled && nextToSend >= 60) {
          parked = true; // wait for the upgrade to finish (or fail) before sending the rest
          return;
        }
        send(nextToSend++);
        setTimeout(step, 2);
      };
      step();
    }
  });
}

function verifyEcho(mode) {
  const problems = [];
  const finalName = socket.transport.name;
  const viaCount = {};
  for (const r of obs.received) viaCount[r.via] = (viaCount[r.via] ?? 0) + 1;
  const sentOn = {};
  for (const [, t] of obs.sent) sentOn[t] = (sentOn[t] ?? 0) + 1;
  obs.receivedVia = viaCount;
  obs.sentOn = sentOn;
  const binaryEchoes = obs.received.filter((r) => r.kind !== "text").length;
  const binarySent = obs.sent.filter(([i]) => typeof makeMessage(i) !== "string").length;
  if (binaryEchoes !== binarySent) problems.push(`binary echoes ${binaryEchoes} != binary sent ${binarySent}`);

  if (mode === "upgrade") {
    if (!obs.upgraded) problems.push('no "upgrade" event');
    if (finalName !== "websocket") problems.push(`final transport is ${finalName}, expected websocket`);
    if (!sentOn.polling) problems.push("no message was sent over polling before the upgrade");
    if (!sentOn.websocket) problems.push("no message was sent over websocket after the upgrade");
    if (!viaCount.polling) problems.push("no echo was received over polling before the upgrade");
    if (!viaCount.websocket) problems.push("no echo was received over websocket after the upgrade");
  } else {
    if (obs.upgraded) problems.push(`unexpected upgrade with transports [${mode}]`);
    if (finalName !== mode) problems.push(`final transport is ${finalName}, expected ${mode}`);
    if (obs.transports.some((t) => t !== mode)) problems.push(`transports seen: ${obs.transports}`);
  }
  if (mode === "polling") {
    obs.maxMessagesPerPost = Math.max(0, ...obs.flushes.map((f) => f.messages));
    obs.maxMessagesPerPoll = Math.max(0, ...obs.pollResponses);
    if (obs.maxMessagesPerPost < 2) {
      problems.push(`engine.io-client never batched several messages in one POST (flushes: ${JSON.stringify(obs.flushes)})`);
    }
  }
  if (problems.length) finish(false, problems.join("; "));
  else finish(true, null);
}

// ---------------------------------------------------------------------------------------------
// heartbeat

function runHeartbeat() {
  const s = openSocket(undefined);
  obs.pings = [];
  let openedAt = null;
  s.on("ping", () => obs.pings.push({ atMs: now(), sinceOpenMs: now() - openedAt, via: s.transport.name }));
  s.on("message", (data) => event("message", preview(data)));
  s.on("close", (reason) => finish(false, `unexpected close (${reason}) while idle; pings so far: ${obs.pings.length}`));
  s.on("open", () => {
    openedAt = now();
    const hs = obs.handshake ?? {};
    const pingInterval = Number(hs.pingInterval ?? s._pingInterval);
    const pingTimeout = Number(hs.pingTimeout ?? s._pingTimeout);
    obs.pingInterval = pingInterval;
    obs.pingTimeout = pingTimeout;
    if (!Number.isFinite(pingInterval) || pingInterval <= 0) {
      finish(false, `bad pingInterval in handshake: ${JSON.stringify(hs)}`);
      return;
    }
    const idleMs = 5 * pingInterval;
    obs.idleMs = idleMs;
    if (idleMs > OVERALL_TIMEOUT_MS - 2_000) {
      finish(false, `pingInterval ${pingInterval} ms too large for this test (idle ${idleMs} ms)`);
      return;
    }
    setTimeout(() => {
      const n = obs.pings.length;
      if (n < 3) finish(false, `only ${n} ping(s) in ${idleMs} ms (pingInterval ${pingInterval} ms)`);
      else finish(true, null);
    }, idleMs);
  });
}

// ---------------------------------------------------------------------------------------------
// client-close-*

function runClientClose(transports) {
  const s = openSocket(transports);
  const text = `${NON_ASCII} client-close`;
  let closeRequested = false;
  obs.received = [];
  s.on("open", () => s.send(text));
  s.on("message", (data) => {
    obs.received.push(preview(data));
    if (data !== text) {
      finish(false, `echo mismatch: got ${preview(data)}`);
      return;
    }
    closeRequested = true;
    event("socket.close()");
    s.close();
  });
  s.on("close", (reason) => {
    if (!closeRequested) finish(false, `closed (${reason}) before the echo came back`);
    else if (reason !== "forced close") finish(false, `close reason ${JSON.stringify(reason)}, expected "forced close"`);
    else if (socket.transport.name !== transports[0]) finish(false, `transport ${socket.transport.name}, expected ${transports[0]}`);
    else finish(true, null);
  });
}

// ---------------------------------------------------------------------------------------------
// server-close-*

function runServerClose(transports) {
  const s = openSocket(transports);
  obs.received = [];
  s.on("open", () => {
    event("send close-me");
    s.send("close-me");
    setTimeout(
      () => finish(false, `no close event within ${SERVER_CLOSE_DEADLINE_MS} ms of sending "close-me"`),
      SERVER_CLOSE_DEADLINE_MS,
    );
  });
  s.on("message", (data) => obs.received.push(preview(data)));
  s.on("close", (reason) => {
    if (reason !== "transport close") finish(false, `close reason ${JSON.stringify(reason)}, expected "transport close"`);
    else if (obs.received.length) finish(false, `server sent messages before closing: ${obs.received}`);
    else if (socket.transport.name !== transports[0]) finish(false, `transport ${socket.transport.name}, expected ${transports[0]}`);
    else finish(true, null);
  });
}

// ---------------------------------------------------------------------------------------------

const SCENARIOS = {
  upgrade: () => runEcho("upgrade"),
  polling: () => runEcho("polling"),
  websocket: () => runEcho("websocket"),
  heartbeat: () => runHeartbeat(),
  "client-close-polling": () => runClientClose(transportsFor("client-close-polling")),
  "client-close-websocket": () => runClientClose(transportsFor("client-close-websocket")),
  "server-close-polling": () => runServerClose(transportsFor("server-close-polling")),
  "server-close-websocket": () => runServerClose(transportsFor("server-close-websocket")),
};

if (!scenario || !Object.hasOwn(SCENARIOS, scenario)) {
  finish(false, `usage: node eio_scenarios.mjs <${Object.keys(SCENARIOS).join("|")}> <base-url>; got scenario ${JSON.stringify(scenario)}`);
} else if (!baseUrl || !/^https?:\/\//.test(baseUrl)) {
  finish(false, `bad base url ${JSON.stringify(baseUrl)} (expected http://host:port)`);
} else {
  try {
    SCENARIOS[scenario]();
  } catch (err) {
    finish(false, `scenario threw: ${err && err.stack ? err.stack : err}`);
  }
}
