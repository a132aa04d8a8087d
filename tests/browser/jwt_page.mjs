// A person's walk through examples/jwt_app.html in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; nothing here downloads a browser).
//
//   node jwt_page.mjs <base-url> <screenshot-dir>
//
// The server must run with --connect-auth (the websocket-only step needs it). Prints ONE JSON
// line ({"ok", "reason", "steps", "screenshots", ...}) and exits 0 only if every step passed.

import { runWalk } from "./page_kit.mjs";

const OVERALL_TIMEOUT_MS = 60_000;
const [baseUrl, shotDir] = process.argv.slice(2);

async function walk(page, { obs, step, shot, waitText }) {
  await page.goto(baseUrl);
  step("loaded", await page.title());
  if (await page.evaluate(() => typeof window.io) !== "function") throw new Error("socket.io.min.js did not load");

  // A wrong password first: the page says so and does not connect.
  await page.fill("#password", "wrong");
  await page.click("#login-button");
  await waitText(page, "status", (t) => t.includes("invalid credentials"), "bad login refused");
  await shot(page, "01-login-refused.png");

  // Default mode: polling with the Authorization header, then the upgrade.
  await page.fill("#password", "changeit");
  await page.click("#login-button");
  await waitText(page, "hello", (t) => t.includes('"username":"john"'), "hello");
  await waitText(page, "transport", (t) => t === "websocket", "upgraded");
  await page.fill("#notify-user-id", "1");
  await page.fill("#notify-message", "a note to myself");
  await page.click("#notify-button");
  await waitText(page, "notifications", (t) => t.includes("a note to myself"), "notification");
  await waitText(page, "notify-ack", (t) => t.includes('"ok":true'), "notify ack");
  await page.fill("#online-user-id", "2");
  await page.click("#online-button");
  await waitText(page, "online-result", (t) => t === "user 2 is offline", "is-online 2");
  await page.click("#ask-button");
  await waitText(page, "answer", (t) => t === '{"answer":"42"}', "server -> client ack");
  obs.defaultModeRequests = obs.requests.length;
  await shot(page, "02-connected-polling-then-websocket.png");

  // Websocket only: no polling request at all, the token travels in the CONNECT payload.
  const before = obs.requests.length;
  await page.check("#ws-only");
  await page.click("#login-button");
  await waitText(page, "mode", (t) => t.startsWith("websocket only"), "websocket-only mode");
  await waitText(page, "hello", (t) => t.includes('"username":"john"'), "hello (websocket only)");
  await waitText(page, "transport", (t) => t === "websocket", "transport (websocket only)");
  await waitText(page, "state", (t) => t === "connected", "connected (websocket only)");
  await page.fill("#online-user-id", "1");
  await page.click("#online-button");
  await waitText(page, "online-result", (t) => t === "user 1 is online", "is-online 1");
  const polled = obs.requests.slice(before);
  if (polled.length) throw new Error(`websocket-only mode made HTTP requests: ${JSON.stringify(polled)}`);
  await shot(page, "03-websocket-only.png");

  // Bad tokens, through the page's own connect(): a refused handshake, then a refused CONNECT.
  await page.evaluate(() => connect("not.a.jwt", false));
  await waitText(page, "connect-error", (t) => t === "xhr poll error (HTTP 401)", "bad token refused (polling)");
  await page.evaluate(() => connect("not.a.jwt", true));
  await waitText(page, "connect-error", (t) => t === 'unauthorized {"reason":"malformed"}', "bad token refused (CONNECT)");
  await waitText(page, "state", (t) => t === "connect error", "state after refusal");
  await shot(page, "04-connect-error.png");
  await page.click("#logout-button");
}

if (!baseUrl || !shotDir) {
  process.stdout.write(JSON.stringify({ ok: false, reason: "usage: node jwt_page.mjs <base-url> <screenshot-dir>" }) + "\n");
  process.exit(1);
}
await runWalk(shotDir, OVERALL_TIMEOUT_MS, walk);
