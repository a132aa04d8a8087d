// The Node reference for tests/integration/test_signals.py: a socket.io 4.8 server that, on
// SIGINT or SIGTERM, does what a Node application does to stop cleanly: io.close(), then exit.
//
//   node shutdown_reference_server.mjs    (prints "listening on port N" on stderr)
import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer);

function stop(signal) {
  console.error(`${signal}: shutting down gracefully`);
  io.close(() => process.exit(0));
}

process.on("SIGINT", stop);
process.on("SIGTERM", stop);
httpServer.listen(0, "127.0.0.1", () => {
  console.error(`listening on port ${httpServer.address().port}`);
});
