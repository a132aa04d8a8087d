// The Node socket.io reference server for event_scenarios.mjs (the contract is described
// there). Prints its port as one line on stdout, then serves until killed.
//
//   node event_node_server.mjs

import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer, { pingInterval: 2000, pingTimeout: 5000 });

io.on("connection", (socket) => {
  let flaky = 0;
  const errors = [];
  const incoming = [];
  const outgoing = [];
  socket.onAny((event) => incoming.push(event));
  socket.onAnyOutgoing((event) => outgoing.push(event));
  socket.use(([event, ...args], next) => {
    if (event === "forbidden") return next(new Error("nope"));
    next();
  });
  socket.use((event, next) => {
    if (event[0] === "shout") event[1] = String(event[1]).toUpperCase();
    next();
  });
  socket.on("error", (err) => errors.push(err.message));

  socket.on("flaky", (cb) => {
    flaky += 1;
    if (flaky > 2) cb(flaky); // the first two attempts are left unanswered
  });
  socket.on("never", () => {});
  socket.on("later", (x, cb) => setTimeout(() => cb("late", x), 200));
  socket.on("shout", (text, cb) => cb(text));
  socket.on("forbidden", (cb) => cb("handler ran"));
  socket.on("errors", (cb) => cb(errors));
  socket.on("hello", () => {
    socket.emit("greet");
    io.to(socket.id).emit("bc");
  });
  socket.on("seen", (cb) => cb({ incoming: [...incoming], outgoing: [...outgoing] }));
  socket.on("vol", () => {
    socket.emit("a");
    socket.volatile.emit("b");
    io.to(socket.id).emit("c");
    io.volatile.to(socket.id).emit("d");
    setTimeout(() => socket.volatile.emit("e"), 300);
    setTimeout(() => io.volatile.to(socket.id).emit("f"), 600);
    setTimeout(() => socket.emit("g"), 900);
  });
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(httpServer.address().port);
});
