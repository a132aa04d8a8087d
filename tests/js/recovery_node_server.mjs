// The Node socket.io reference server for recovery_scenarios.mjs, with connectionStateRecovery
// on (the contract is described there). Prints its port as one line on stdout, then serves
// until killed.
//
//   node recovery_node_server.mjs <maxDisconnectionDuration ms> <skipMiddlewares: true|false>

import { createServer } from "node:http";
import { Server } from "socket.io";

const [duration, skip] = process.argv.slice(2);
const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 2000,
  pingTimeout: 5000,
  connectionStateRecovery: {
    maxDisconnectionDuration: Number(duration),
    skipMiddlewares: skip === "true",
  },
});

io.use((socket, next) => {
  socket.data.mw = (socket.data.mw || 0) + 1;
  next();
});

io.on("connection", (socket) => {
  socket.on("join", (room, cb) => {
    socket.join(room);
    socket.emit("joined", room);
    cb();
  });
  socket.on("shout", (room, text, cb) => {
    io.to(room).emit("shout", text);
    cb();
  });
  socket.on("set", (key, value, cb) => {
    socket.data[key] = value;
    cb();
  });
  socket.on("state", (cb) =>
    cb({
      id: socket.id,
      rooms: [...socket.rooms].filter((room) => room !== socket.id).sort(),
      recovered: socket.recovered,
      data: socket.data,
    }),
  );
  socket.on("kinds", (cb) => {
    socket.volatile.emit("volatile", 2); // first: nothing is being written yet
    socket.emit("plain", 1);
    socket.emit("asking", 3, () => {});
    io.to(socket.id).emit("broadcast", 4);
    cb();
  });
  socket.on("bye", () => socket.disconnect());
});

httpServer.listen(0, "127.0.0.1", () => console.log(httpServer.address().port));
