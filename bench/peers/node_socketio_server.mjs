// The Node peer of the bench-server contract: socket.io 4.8 on /socket.io/ and a plain
// engine.io 6.6 server on /engine.io/, both on one node:http server.
//
//   PORT=3002 node bench/peers/node_socketio_server.mjs
//
// socket.io's defaults (pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize 1e6), plus the
// contract's Origin rule (socket.io does not check Origin by itself: allowRequest refuses an
// Origin that differs from Host). With BENCH_JWT_SECRET a middleware checks the handshake's
// bearer token (jsonwebtoken) and refuses with CONNECT_ERROR "unauthorized". With
// BENCH_REDIS_URL, socket.io joins a cluster through @socket.io/redis-adapter 8.3 (node-redis
// 4, one publisher and one subscriber client) and listens only once both are connected.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Server as EngineServer } from "engine.io";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";

const PORT = Number(process.env.PORT || 3002);
const SECRET = process.env.BENCH_JWT_SECRET || null;
const REDIS_URL = process.env.BENCH_REDIS_URL || null;
const ISSUER = "accounts.examplesoft.com";
const AUDIENCE = "yoursite.net";

function sameOrigin(req, callback) {
  const origin = req.headers.origin;
  if (origin === undefined) return callback(null, true);
  let ok = false;
  try {
    ok = new URL(origin).host === req.headers.host;
  } catch {
    ok = false;
  }
  callback(ok ? null : "Origin not allowed", ok);
}

const httpServer = createServer();
const io = new Server(httpServer, {
  allowRequest: sameOrigin,
  destroyUpgrade: false,
  perMessageDeflate: process.env.BENCH_DEFLATE === "1", // the loadgen's deflate group
});
const redisClients = [];

if (REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pubClient = createClient({ url: REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => process.stderr.write(`redis: ${err.message}\n`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
  redisClients.push(pubClient, subClient);
}

if (SECRET) {
  io.use((socket, next) => {
    const header = socket.handshake.headers.authorization || "";
    const [scheme, token] = header.split(" ");
    try {
      if (!scheme || scheme.toLowerCase() !== "bearer" || !token) throw new Error("missing");
      const claims = jwt.verify(token, SECRET, {
        algorithms: ["HS256"],
        audience: AUDIENCE,
        issuer: ISSUER,
      });
      if (typeof claims.exp !== "number") throw new Error("no exp");
      next();
    } catch {
      next(new Error("unauthorized"));
    }
  });
}

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("bcast", (room, payload, ack) => {
    io.to(room).emit("msg", payload);
    if (typeof ack === "function") ack();
  });
});

const eio = new EngineServer({ allowRequest: sameOrigin });
eio.attach(httpServer, { path: "/engine.io", destroyUpgrade: false });
eio.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

httpServer.listen({ port: PORT, host: "127.0.0.1", backlog: 4096 }, () => {
  const v = (name) => {
    const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(file, "utf8")).version;
  };
  process.stderr.write(
    `socket.io ${v("socket.io")} / engine.io ${v("engine.io")} on Node ${process.version}, ` +
      `port ${PORT}, JWT ${SECRET ? "on" : "off"}` +
      (REDIS_URL ? `, redis-adapter ${v("@socket.io/redis-adapter")} on ${REDIS_URL}` : "") +
      "\n",
  );
});

function stop() {
  io.close(); // disconnects every socket and closes the http server
  eio.close();
  for (const client of redisClients) client.disconnect().catch(() => {});
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
