// TLS and Engine.IO hooks, seen from the npm engine.io-client and socket.io-client.
//
//   node hooks_scenarios.mjs <scenario> <base-url> <transport> [<ca.pem>]
//
// Runs ONE scenario against a server built to the contract of hooks_reference_server.mjs
// (engine.io on /engine.io/, socket.io on /socket.io/). <transport> is "polling" or
// "websocket" (the only transport the client may use), or "upgrade" (polling, then the
// upgrade to websocket before the echo, in the echo scenarios). With <ca.pem> the client trusts that
// CA for this connection only (the `ca` option); certificate checks stay on.
//
// Prints ONE JSON line ({"ok": bool, "reason": ..., ...observations}) and exits 0 when every
// check passed, 1 otherwise. Never hangs: an overall timeout fails the run.
//
// Scenarios:
//   eio-echo      engine.io-client: open, echo one message, close; the id is "custom-N"
//   sio-echo      socket.io-client: connect, echo with an ack, read handshake.secure
//   eio-cookies   engine.io-client with withCredentials: the cookie jar holds io=<id>
//                 (with an expiry, from Max-Age), initial=yes, and seen=yes once a later
//                 request carried the cookies back (polling only: ws exposes no 101 headers)
//   eio-refused   engine.io-client with ?deny=1: the handshake is refused; observations
//                 carry the HTTP status and body the client saw (polling) or its error
//   sio-refused   the same with socket.io-client (connect_error)

import fs from "node:fs";
import { Socket } from "engine.io-client";
import { io } from "socket.io-client";

const OVERALL_TIMEOUT_MS = 10_000;
const [scenario, baseUrl, transport, caFile] = process.argv.slice(2);
const obs = { ok: false, reason: null, scenario, transport };
const tls = caFile ? { ca: fs.readFileSync(caFile) } : {};
const transports = transport === "upgrade" ? { transports: ["polling", "websocket"], upgrade: true }
  : { transports: [transport], upgrade: false };
let finished = false;

function finish(ok, reason = null) {
  if (finished) return;
  finished = true;
  obs.ok = ok;
  obs.reason = reason;
  process.stdout.write(JSON.stringify(obs) + "\n");
  setTimeout(() => process.exit(ok ? 0 : 1), 200);
}

setTimeout(() => finish(false, "overall timeout"), OVERALL_TIMEOUT_MS);

function eioSocket(query = {}, extra = {}) {
  return new Socket(baseUrl, {
    path: "/engine.io/",
    ...transports,
    query,
    ...tls,
    ...extra,
  });
}

// Close without a race the test would blame on the server. When the echo arrives on the
// GET before the POST that carried the message has been answered, engine.io-client has
// already sent its next GET (on a new TLS connection) by the time close() may proceed;
// the close POST, reusing the freed connection, can reach the server first, and the GET
// then meets a closed session: 400 "Session ID unknown", from Node as from minisock. So
// wait for the POST to drain, then long enough for that GET to arrive, then close.
const GET_SETTLE_MS = 300;
function closeQuietly(socket, then) {
  const close = () => {
    socket.close();
    then();
  };
  if (socket.writeBuffer.length === 0) return close();
  socket.once("drain", () => setTimeout(close, GET_SETTLE_MS));
}

function refusalOf(err) {
  const context = err?.context;
  return {
    message: err?.message ?? String(err),
    description: typeof err?.description === "number" ? err.description : String(err?.description?.message ?? err?.description ?? ""),
    status: context && typeof context.status === "number" ? context.status : null,
    body: context && typeof context.responseText === "string" ? context.responseText : null,
  };
}

const scenarios = {
  "eio-echo": () => {
    const socket = eioSocket();
    const send = () => {
      obs.finalTransport = socket.transport.name;
      socket.send("hello over TLS");
    };
    socket.on("open", () => {
      obs.id = socket.id;
      if (transport === "upgrade") socket.on("upgrade", send);
      else send();
    });
    socket.on("message", (data) => {
      obs.echo = data;
      closeQuietly(socket, () => {
        if (data !== "hello over TLS") return finish(false, "wrong echo");
        if (!/^custom-\d+$/.test(obs.id)) return finish(false, "id not from generateId");
        finish(true);
      });
    });
    socket.on("error", (err) => finish(false, `error: ${err?.message ?? err}`));
  },
  "sio-echo": () => {
    const socket = io(baseUrl, { ...transports, ...tls });
    socket.on("connect", async () => {
      obs.engineId = socket.io.engine.id;
      if (transport === "upgrade" && socket.io.engine.transport.name !== "websocket") {
        await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
      }
      obs.finalTransport = socket.io.engine.transport.name;
      obs.echo = await socket.emitWithAck("echo", { n: 1, text: "é" });
      obs.handshake = await socket.emitWithAck("handshake");
      socket.disconnect();
      if (JSON.stringify(obs.echo) !== JSON.stringify({ n: 1, text: "é" })) {
        return finish(false, "wrong echo");
      }
      if (!/^custom-\d+$/.test(obs.engineId)) return finish(false, "id not from generateId");
      finish(true);
    });
    socket.on("connect_error", (err) => finish(false, `connect_error: ${err.message}`));
  },
  "eio-cookies": () => {
    const socket = eioSocket({}, { withCredentials: true });
    let echoes = 0;
    socket.on("open", () => socket.send("one"));
    socket.on("message", () => {
      echoes += 1;
      if (echoes < 2) return socket.send("two");
      const jar = {};
      for (const [name, cookie] of socket._cookieJar.cookies) {
        jar[name] = { value: cookie.value, expires: cookie.expires !== undefined };
      }
      obs.id = socket.id;
      obs.jar = jar;
      closeQuietly(socket, () => {
        if (jar.io?.value !== obs.id) return finish(false, "no io=<id> cookie");
        if (!jar.io.expires) return finish(false, "the io cookie has no expiry (Max-Age)");
        if (jar.initial?.value !== "yes") return finish(false, "no initial_headers cookie");
        if (jar.seen?.value !== "yes") return finish(false, "cookies not sent back");
        finish(true);
      });
    });
    socket.on("error", (err) => finish(false, `error: ${err?.message ?? err}`));
  },
  "eio-refused": () => {
    const socket = eioSocket({ deny: "1" });
    socket.on("open", () => finish(false, "opened despite allowRequest"));
    socket.on("error", (err) => {
      obs.refusal = refusalOf(err);
      finish(true);
    });
  },
  "sio-refused": () => {
    const socket = io(baseUrl, {
      ...transports,
      reconnection: false,
      query: { deny: "1" },
      ...tls,
    });
    socket.on("connect", () => finish(false, "connected despite allowRequest"));
    socket.on("connect_error", (err) => {
      obs.refusal = refusalOf(err);
      socket.close();
      finish(true);
    });
  },
};

const run = scenarios[scenario];
if (!run) finish(false, `unknown scenario ${scenario}`);
else run();
