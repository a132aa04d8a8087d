// Clients that stay connected until the server shuts down, and report how each one ended.
//
//   node shutdown_clients.mjs '{"url": "http://127.0.0.1:3000", "kind": "sio", "login": false}'
//
// kind "sio": two socket.io-client sockets (websocket only, long-polling only); kind "eio": two
// engine.io-client sockets on /engine.io/. With "login", a token from POST /login (the JWT
// demo) goes in the Authorization header and in the CONNECT auth. Prints {"ready": true} once
// both are connected, then, when both have ended, one JSON line: for each transport, the
// reason the client gave, its description and the WebSocket close code it saw (if any).
import { io } from "socket.io-client";
import { Socket } from "engine.io-client";

const config = JSON.parse(process.argv[2]);
const TIMEOUT_MS = 20000;
const SETTLE_MS = 300;

setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout" }));
  process.exit(1);
}, TIMEOUT_MS).unref();

async function token() {
  if (!config.login) return null;
  const response = await fetch(`${config.url}/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "john", password: "changeit" }),
  });
  return (await response.json()).token;
}

function ending(reason, details) {
  const context = details && details.context;
  return {
    reason,
    description: details && typeof details.description === "string" ? details.description : null,
    code: context && typeof context.code === "number" ? context.code : null,
    detail: details instanceof Error ? `${details.message} ${details.description}` : undefined,
  };
}

function open(transport, bearer) {
  const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
  return new Promise((resolve, reject) => {
    if (config.kind === "eio") {
      const socket = new Socket(config.url, { transports: [transport], extraHeaders: headers });
      socket.on("open", () => resolve(socket));
      socket.on("error", reject);
      return;
    }
    const socket = io(config.url, {
      transports: [transport],
      reconnection: false,
      forceNew: true,
      extraHeaders: headers,
      auth: bearer ? { token: bearer } : {},
    });
    socket.on("connect", () => resolve(socket));
    socket.on("connect_error", reject);
  });
}

function ended(socket) {
  const event = config.kind === "eio" ? "close" : "disconnect";
  return new Promise((resolve) => socket.on(event, (reason, details) => resolve(ending(reason, details))));
}

const bearer = await token();
const websocket = await open("websocket", bearer);
const polling = await open("polling", bearer);
const endings = Promise.all([ended(websocket), ended(polling)]);
// The polling client sends its next GET right after the one that brought the CONNECT answer;
// give it time to reach the server, so that the signal finds it waiting there. (A GET that
// arrives after the shutdown began is refused, by minisock and by Node alike, and the client
// would report "transport error" instead.)
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
console.log(JSON.stringify({ ready: true }));
const [ws, poll] = await endings;
console.log(JSON.stringify({ websocket: ws, polling: poll }));
process.exit(0);
