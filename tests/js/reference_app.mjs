// The application of tests/_sio_app.py on the Node reference server (socket.io 4.8), so the
// Python test client (minisock.testing.SocketIOClient) can be checked against the real thing.
//
//   node tests/js/reference_app.mjs [--ping-interval MS] [--ping-timeout MS]
//
// Listens on 127.0.0.1, on a port the system picks, and prints exactly one line
// "ready <port>" on stdout; everything else goes to stderr. Stops on SIGTERM / SIGINT.
//
// The contract (the same as minisock's in tests/_sio_app.py):
//   "/"       connect: emits "auth" with the CONNECT payload
//             "echo" ...args          -> emits "echo-back" ...args
//             "ack" ...args, cb       -> cb(...args)
//             "ask" event ...args     -> emits event ...args with an ack, then "answer" ...ack
//             "headers" cb            -> cb(the authorization header, or null)
//             "bye"                   -> disconnects this socket (the session stays)
//             "close"                 -> disconnects this socket and closes the session
//   "/admin"  a middleware refuses unless auth.token === "secret", with
//             message "not authorized" and data {why: "token"}; "echo" as on "/".
//   A handshake with an "x-refuse" header is refused by allowRequest ("refused by allowRequest").

import { createServer } from "node:http";
import { createRequire } from "node:module";

const require = createRequire(new URL("./package.json", import.meta.url));
const { Server } = require("socket.io");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: option("--ping-interval", 25000),
  pingTimeout: option("--ping-timeout", 20000),
  allowRequest: (req, callback) =>
    callback("refused by allowRequest", req.headers["x-refuse"] === undefined),
});

function echo(socket) {
  socket.on("echo", (...args) => socket.emit("echo-back", ...args));
}

io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
  echo(socket);
  socket.on("ack", (...args) => {
    const cb = args.pop();
    cb(...args);
  });
  socket.on("ask", (event, ...args) => {
    socket.emit(event, ...args, (...answer) => socket.emit("answer", ...answer));
  });
  socket.on("headers", (cb) => cb(socket.handshake.headers.authorization ?? null));
  socket.on("bye", () => socket.disconnect());
  socket.on("close", () => socket.disconnect(true));
});

const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { why: "token" };
  next(err);
});
admin.on("connection", echo);

httpServer.listen(0, "127.0.0.1", () => {
  console.log(`ready ${httpServer.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
