// The Node socket.io reference server for deflate_scenarios.mjs, with perMessageDeflate on
// (engine.io's default threshold, 1024) and httpCompression at its default (on, 1024).
// Prints its port as one line on stdout, then serves until killed.
//
//   node deflate_node_server.mjs

import { createServer } from "node:http";
import { Server } from "socket.io";

const BIG = "x".repeat(16 * 1024);
const httpServer = createServer();
const io = new Server(httpServer, { perMessageDeflate: true });

io.on("connection", (socket) => {
  socket.on("echo", (value, cb) => cb(value));
  socket.on("go", () => {
    socket.emit("a", BIG);
    socket.compress(false).emit("b", BIG);
    socket.emit("small", "hi");
    io.to(socket.id).compress(false).emit("c", BIG);
    io.to(socket.id).emit("e", BIG);
  });
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(httpServer.address().port);
});
