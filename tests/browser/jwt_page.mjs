// A person's walk through examples/jwt_app.html in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; nothing here downloads a browser).
//
//   node jwt_page.mjs <base-url> <screenshot-dir>
//
// The server must run with --connect-auth (the websocket-only step needs it). Prints ONE JSON
// line ({"ok", "reason", "steps", "screenshots", ...}) and exits 0 only if every step passed.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const STEP_TIMEOUT_MS = 10_000;
const OVERALL_TIMEOUT_MS = 60_000;

const [baseUrl, shotDir] = process.argv.slice(2);
const t0 = Date.now();
const obs = { ok: false, reason: null, steps: [], screenshots: [], requests: [], websockets: [], pageErrors: [], console: [] };
let context = null;
let profile = null;

function step(name, detail) {
  obs.steps.push(detail === undefined ? [Date.now() - t0, name] : [Date.now() - t0, name, detail]);
}

async function finish(ok, reason) {
  obs.ok = ok;
  obs.reason = reason ?? null;
  obs.elapsedMs = Date.now() - t0;
  try {
    if (context) await context.close();
  } catch {
    // leaving anyway
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(obs) + "\n");
  process.exit(ok ? 0 : 1);
}
setTimeout(() => finish(false, `overall timeout after ${OVERALL_TIMEOUT_MS} ms`), OVERALL_TIMEOUT_MS).unref();

const text = (page, id) => page.locator(`#${id}`).innerText();

/** Waits until #id's text satisfies `pred`; fails with what it last was. */
async function waitText(page, id, pred, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let last = null;
  while (Date.now() < deadline) {
    last = await text(page, id);
    if (pred(last)) {
      step(what, last);
      return last;
    }
    await page.waitForTimeout(50);
  }
  throw new Error(`${what}: #${id} is ${JSON.stringify(last)} after ${STEP_TIMEOUT_MS} ms`);
}

async function shot(page, name) {
  const path = join(shotDir, name);
  await page.screenshot({ path, fullPage: true });
  obs.screenshots.push(path);
}

async function main() {
  profile = mkdtempSync(join(tmpdir(), "minisock-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 900, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (err) => obs.pageErrors.push(String(err)));
  page.on("console", (msg) => {
    if (msg.type() === "error") obs.console.push(msg.text());
  });
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (!url.pathname.startsWith("/socket.io/")) return;
    obs.requests.push({
      method: req.method(),
      transport: url.searchParams.get("transport"),
      sid: url.searchParams.has("sid"),
      authorization: "authorization" in req.headers(),
    });
  });
  page.on("websocket", (ws) => obs.websockets.push(new URL(ws.url()).search));

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

  if (obs.pageErrors.length) throw new Error(`page errors: ${obs.pageErrors}`);
}

if (!baseUrl || !shotDir) {
  await finish(false, "usage: node jwt_page.mjs <base-url> <screenshot-dir>");
} else {
  main().then(
    () => finish(true, null),
    (err) => finish(false, String(err?.stack ?? err)),
  );
}
