// The server of nsp_scenarios.mjs, on the Node reference (socket.io 4.8):
// dynamic namespaces and adapter room events. test_namespaces_client.py builds the same
// server with minisock.
//
//   node nsp_node_server.mjs
//
// Listens on an ephemeral port of 127.0.0.1 and prints "ready <port>" on stdout; stops on
// SIGTERM. The contract is described at the top of nsp_scenarios.mjs.

import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer, { cleanupEmptyChildNamespaces: true });

const hello = (kind) => (socket) => {
  socket.emit("hello", { nsp: socket.nsp.name, kind });
  socket.on("join", (rooms, ack) => {
    socket.join(rooms);
    ack([...socket.rooms].filter((r) => r !== socket.id).sort());
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    ack(true);
  });
};

// Made before the pattern that also matches its name: stays a plain static namespace.
io.of("/dyn-0").on("connection", hello("static"));

const digits = io.of(/^\/dyn-\d+$/);
digits.use((socket, next) => {
  next(socket.handshake.auth.deny ? new Error("denied") : undefined);
});
digits.on("connection", hello("regex"));

io.of(/^\/dyn-/).on("connection", hello("regex2"));

io.of((name, auth, next) => next(null, name.startsWith("/fn-") && auth.ok === true)).on(
  "connection",
  hello("fn"),
);

// A check that fails ("throws" in Node's callback style): that name is refused.
io.of((name, auth, next) => next(name === "/boom" ? new Error("boom") : null, false));

// Room events of the static namespace "/events", as [event, room, sid or null].
const roomLog = [];
const events = io.of("/events");
for (const kind of ["create-room", "delete-room"]) {
  events.adapter.on(kind, (room) => roomLog.push([kind, room, null]));
}
for (const kind of ["join-room", "leave-room"]) {
  events.adapter.on(kind, (room, id) => roomLog.push([kind, room, id]));
}
events.on("connection", hello("events"));

io.on("connection", (socket) => {
  socket.on("parent-emit", ({ event, payload }, ack) => {
    digits.emit(event, payload);
    ack(true);
  });
  socket.on("parent-to", ({ room, event, payload }, ack) => {
    digits.to(room).emit(event, payload);
    ack(true);
  });
  socket.on("namespaces", (ack) => ack([...io._nsps.keys()].sort()));
  socket.on("room-log", (ack) => ack(roomLog));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});
const stop = () => {
  io.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
