// The cluster app of tests/cluster/README.md, on the Node reference: socket.io 4.8 with
// @socket.io/redis-adapter 8.3 over the `redis` 4.x client.
//
//   node tests/cluster/node_app.mjs --port P --redis URL --name NODE_NAME
//                                   [--key socket.io] [--requests-timeout MS]
//
// --port 0 picks an ephemeral port. Prints exactly one line "ready <port>" on stdout once it
// listens AND the adapter's Redis subscriptions are confirmed; everything else goes to stderr.
// Stops on SIGTERM / SIGINT.
//
// The npm packages live in tests/js/node_modules; ESM ignores NODE_PATH, so they are loaded
// through createRequire anchored at tests/js/package.json (this file can stay next to the tests).

import { createServer } from "node:http";
import { createRequire } from "node:module";

const require = createRequire(new URL("../js/package.json", import.meta.url));
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const opts = { port: null, redis: null, name: null, key: "socket.io", requestsTimeout: 5000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === "--port") opts.port = Number(value);
    else if (flag === "--redis") opts.redis = value;
    else if (flag === "--name") opts.name = value;
    else if (flag === "--key") opts.key = value;
    else if (flag === "--requests-timeout") opts.requestsTimeout = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (opts.port === null || !opts.redis || !opts.name) {
    throw new Error("usage: node_app.mjs --port P --redis URL --name NAME [--key K]");
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const NODE_NAME = opts.name;
const log = (...args) => console.error(`[node_app ${NODE_NAME}]`, ...args);

// Canonical orders, so that both implementations answer byte-for-byte the same lists.
const byJson = (list) =>
  [...list].sort((x, y) => {
    const [a, b] = [JSON.stringify(x), JSON.stringify(y)];
    return a < b ? -1 : a > b ? 1 : 0;
  });
const sortedStrings = (iterable) => [...iterable].map(String).sort();

const pub = createClient({ url: opts.redis });
const sub = pub.duplicate();
pub.on("error", (err) => log("redis pub error:", err.message));
sub.on("error", (err) => log("redis sub error:", err.message));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });
io.adapter(
  createAdapter(pub, sub, { key: opts.key, requestsTimeout: opts.requestsTimeout }),
);
// The adapter's SUBSCRIBE / PSUBSCRIBE are not awaitable; one more SUBSCRIBE on the same
// connection is answered after them (Redis replies in order), so once it resolves the adapter
// is subscribed and PUBSUB NUMSUB counts this node.
await sub.subscribe(`${opts.key}-ready#${NODE_NAME}#`, () => {});

const notes = [];

// Server-side events (serverSideEmit from the other nodes or from the emitter).
io.on("whoami", (cb) => cb(NODE_NAME));
io.on("note", (...args) => notes.push(args));

function operator({ to = [], except = [], local = false } = {}) {
  return (local ? io.local : io).to(to).except(except);
}

async function findSocket(name) {
  const sockets = await io.fetchSockets();
  const found = sockets.find((s) => s.data?.name === name);
  if (!found) throw new Error(`no socket named ${name}`);
  return found;
}

io.on("connection", (socket) => {
  const auth = socket.handshake.auth ?? {};
  socket.data = { name: auth.name ?? null, node: NODE_NAME };
  for (const room of auth.rooms ?? []) socket.join(room);

  // Every client->server event carries an ack; a handler error is acked as {error}.
  const handle = (event, fn) =>
    socket.on(event, async (...args) => {
      const cb = args.pop();
      if (typeof cb !== "function") return log(`${event} without an ack`);
      try {
        cb(await fn(...args));
      } catch (err) {
        log(`${event} failed:`, err);
        cb({ error: String(err?.message ?? err) });
      }
    });

  handle("join", async (room) => {
    await socket.join(room);
    return true;
  });
  handle("leave", async (room) => {
    await socket.leave(room);
    return true;
  });
  handle("rooms", () => sortedStrings(socket.rooms));
  handle("emit-to", (req) => {
    operator(req).emit(req.event, ...(req.args ?? []));
    return true;
  });
  handle("fetch", async (req) => {
    const sockets = await operator(req).fetchSockets();
    return sockets
      .map((s) => ({ id: s.id, name: s.data.name, node: s.data.node, rooms: sortedStrings(s.rooms) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  });
  handle("call-all", async (req) => {
    try {
      const responses = await operator(req)
        .timeout(req.timeout)
        .emitWithAck(req.event, ...(req.args ?? []));
      return { responses: byJson(responses) };
    } catch (err) {
      return { error: err.message, responses: byJson(err.responses ?? []) };
    }
  });
  handle("sse", (req) => {
    io.serverSideEmit(req.event, ...(req.args ?? []));
    return true;
  });
  handle("sse-call", async (req) => {
    try {
      const responses = await io.serverSideEmitWithAck(req.event, ...(req.args ?? []));
      return { responses: byJson(responses) };
    } catch (err) {
      return { error: err.message, responses: byJson(err.responses ?? []) };
    }
  });
  handle("notes", () => notes);
  handle("remote-join", async ({ name, room }) => {
    (await findSocket(name)).join(room);
    return true;
  });
  handle("remote-leave", async ({ name, room }) => {
    (await findSocket(name)).leave(room);
    return true;
  });
  handle("remote-disconnect", async ({ name, close = false }) => {
    (await findSocket(name)).disconnect(close);
    return true;
  });
  handle("sockets-join", (req) => {
    operator(req).socketsJoin(req.rooms);
    return true;
  });
  handle("sockets-leave", (req) => {
    operator(req).socketsLeave(req.rooms);
    return true;
  });
  handle("disconnect-sockets", (req) => {
    operator(req).disconnectSockets(req.close ?? false);
    return true;
  });
  handle("server-count", () => io.of("/").adapter.serverCount());
});

await new Promise((resolve, reject) => {
  httpServer.once("error", reject);
  httpServer.listen(opts.port, "127.0.0.1", resolve);
});
process.stdout.write(`ready ${httpServer.address().port}\n`);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`stopping on ${signal}`);
  io.close();
  await Promise.allSettled([pub.disconnect(), sub.disconnect()]);
  process.exit(0);
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
