// The server of admin_scenarios.mjs on the Node reference: socket.io 4.8 instrumented by
// @socket.io/admin-ui 0.5.1's own instrument(). test_admin_ui_client.py builds the same
// server with minisock.admin.instrument().
//
//   node admin_node_server.mjs <mode> <readonly> <bcrypt-hash>
//
// <mode> is "development" or "production", <readonly> "true" or "false"; the admin user is
// "admin" with the password whose bcrypt hash is given (made by Python's bcrypt, so the test
// also checks that bcryptjs accepts it). Listens on an ephemeral port of 127.0.0.1, prints
// "ready <port>"; stops on SIGTERM.
//
// The application: on "/", a connection joins "room-a" and is sent "welcome", {n: 1};
// "ping-me" (...args, ack) acks ["pong", ...args].

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { Server } from "socket.io";

const require = createRequire(import.meta.url);
const { instrument } = require("@socket.io/admin-ui");

const [mode, readonly, hash] = process.argv.slice(2);
const httpServer = createServer();
const io = new Server(httpServer);

io.on("connection", (socket) => {
  socket.join("room-a");
  socket.emit("welcome", { n: 1 });
  socket.on("ping-me", (...args) => {
    const ack = args.pop();
    ack("pong", ...args);
  });
});

instrument(io, {
  auth: { type: "basic", username: "admin", password: hash },
  mode,
  readonly: readonly === "true",
  serverId: "the-server",
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
