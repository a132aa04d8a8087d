// A client of examples/asyncio_app.py (a Socket.IO server inside an asyncio program).
//
//   node asyncio_client.mjs '{"url": "http://127.0.0.1:3000", "transport": "websocket"}'
//
// Subscribes to room "news" (ack), waits for a "headline" that the server's asyncio task
// emits to that room, asks "lookup" (answered from the asyncio store), publishes a headline
// of its own and waits for it to come back through the room. Prints one JSON line with what
// it got, then stays connected until the server goes away and prints how it ended.
import { io } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
const TIMEOUT_MS = 20000;
const SETTLE_MS = 300;

setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout" }));
  process.exit(1);
}, TIMEOUT_MS).unref();

const socket = io(config.url, { transports: [config.transport], reconnection: false });
const headlines = [];
const waiters = [];
socket.on("headline", (text) => {
  headlines.push(text);
  waiters.splice(0).forEach((wake) => wake());
});
const ended = new Promise((resolve) =>
  socket.on("disconnect", (reason, details) =>
    resolve({ reason, code: details && details.context ? details.context.code ?? null : null }),
  ),
);

async function headline(predicate) {
  while (!headlines.some(predicate)) await new Promise((wake) => waiters.push(wake));
  return headlines.find(predicate);
}

await new Promise((resolve, reject) => {
  socket.on("connect", resolve);
  socket.on("connect_error", reject);
});
const subscribed = await socket.timeout(5000).emitWithAck("subscribe", "news");
const first = await headline(() => true);
const looked = await socket.timeout(5000).emitWithAck("lookup", "greeting");
const published = await socket.timeout(5000).emitWithAck("publish", "from the client");
const own = await headline((text) => text === "from the client");
// Let a polling client's next GET reach the server before the test sends its signal.
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
console.log(JSON.stringify({ subscribed, first, looked, published, own }));
console.log(JSON.stringify(await ended));
process.exit(0);
