// The Node reference for test_tls_and_hooks.py: engine.io 6.6 on /engine.io/ and socket.io 4.8
// on /socket.io/, on one HTTP or HTTPS server, with the hooks minisock's twin server also has.
//
//   node hooks_reference_server.mjs [<cert.pem> <key.pem>]
//
// Prints {"port": N} on its first stdout line once listening, then one JSON line per
// `connection_error` event: {"event": "connection_error", "engine": "eio"|"sio", "code",
// "message", "context"}. Stops on SIGTERM.
//
// The contract (the same as the minisock server of test_tls_and_hooks.py):
// - engine.io echoes every message; socket.io answers "echo" (x, ack) with ack(x) and
//   "handshake" (ack) with ack({secure: socket.handshake.secure});
// - allowRequest refuses a handshake whose query has deny=1, with the message "banned",
//   after an asynchronous pause (a database asked);
// - generateId is async and returns "custom-" + a counter;
// - cookie: {name: "io", maxAge: 3600} (Node's defaults for the rest);
// - initial_headers adds the cookie "initial=yes"; headers adds "seen=yes" when the request
//   carried the cookie "initial=yes", else "seen=no".

import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { Server as EioServer } from "engine.io";
import { Server as SioServer } from "socket.io";

const [certFile, keyFile] = process.argv.slice(2);
const httpServer = certFile
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) })
  : http.createServer();

let counter = 0;
const options = {
  pingInterval: 5000,
  pingTimeout: 5000,
  cookie: { name: "io", maxAge: 3600 },
  allowRequest: (req, fn) => {
    setTimeout(() => {
      const denied = new URL(req.url, "http://x").searchParams.get("deny") === "1";
      fn(denied ? "banned" : null, !denied);
    }, 5);
  },
};

function addCookie(headers, value) {
  const list = headers["Set-Cookie"] ?? [];
  headers["Set-Cookie"] = [...(Array.isArray(list) ? list : [list]), value];
}

function install(engine, name) {
  engine.generateId = async () => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    counter += 1;
    return `custom-${counter}`;
  };
  engine.on("initial_headers", (headers) => addCookie(headers, "initial=yes"));
  engine.on("headers", (headers, req) => {
    const seen = (req.headers.cookie ?? "").includes("initial=yes");
    addCookie(headers, `seen=${seen ? "yes" : "no"}`);
  });
  engine.on("connection_error", (err) => {
    const context = {};
    for (const [key, value] of Object.entries(err.context ?? {})) {
      if (typeof value !== "object" || value === null) context[key] = value;
    }
    const line = { event: "connection_error", engine: name, code: err.code, message: err.message, context };
    process.stdout.write(JSON.stringify(line) + "\n");
  });
}

const eio = new EioServer(options);
eio.attach(httpServer, { path: "/engine.io/", destroyUpgrade: false });
install(eio, "eio");
eio.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

const sio = new SioServer(httpServer, options);
install(sio.engine, "sio");
sio.on("connection", (socket) => {
  socket.on("echo", (value, ack) => ack(value));
  socket.on("handshake", (ack) => ack({ secure: socket.handshake.secure }));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
