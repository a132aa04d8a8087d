// The Node socket.io reference server for msgpack_scenarios.mjs (the contract is described
// there), with socket.io-msgpack-parser 3.0.2. Prints its port as one line on stdout, then
// serves until killed.
//
//   node msgpack_node_server.mjs

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { Server } from "socket.io";

const require = createRequire(import.meta.url);
const httpServer = createServer();
const io = new Server(httpServer, { parser: require("socket.io-msgpack-parser") });

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const cb = args.pop();
    cb(...args);
  });
  socket.on("ping-me", (payload) => socket.emit("pong", payload));
  socket.on("broadcast-me", (payload) => io.emit("news", payload));
  socket.on("ask-me", (question, cb) => {
    socket.timeout(2000).emit("question", question, (err, answer) => cb(err ? "timeout" : answer));
  });
});

const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth.token === "ok") return next();
  const err = new Error("not authorized");
  err.data = { reason: "bad token" };
  next(err);
});
admin.on("connection", (socket) => socket.emit("welcome", { nsp: socket.nsp.name }));

httpServer.listen(0, "127.0.0.1", () => {
  console.log(httpServer.address().port);
});
