// The Socket.IO admin UI (@socket.io/admin-ui's own files, served by examples/jwt_app.py at
// /admin/) next to the demo page, in Debian's /usr/bin/chromium driven by playwright-core.
//
//   node admin_page.mjs <base-url> <screenshot-dir>
//
// The demo page logs in as john; the admin UI logs in as john too (the demo's admin user).
// Then the UI must list the page's socket and its "user:1" room, show an event the page
// emits (development mode), and its Disconnect button must disconnect the page. Prints ONE
// JSON line ({"ok", "reason", "steps", "screenshots", ...}); exits 0 only if all passed.

import { runWalk } from "./page_kit.mjs";

const OVERALL_TIMEOUT_MS = 90_000;
const [baseUrl, shotDir] = process.argv.slice(2);

async function walk(page, { obs, step, shot, waitText }) {
  // The demo page: log in, connected over WebSocket.
  await page.goto(baseUrl);
  await page.fill("#password", "changeit");
  await page.click("#login-button");
  await waitText(page, "hello", (t) => t.includes('"username":"john"'), "demo page: hello");
  await waitText(page, "transport", (t) => t === "websocket", "demo page: upgraded");
  const status = await waitText(page, "status", (t) => t.startsWith("connected as socket "), "demo page: connected");
  const sid = status.slice("connected as socket ".length).trim();
  obs.socketId = sid;

  // The admin UI beside it, logging in through its own connection form.
  const admin = await page.context().newPage();
  admin.on("pageerror", (err) => obs.pageErrors.push(`admin: ${err}`));
  admin.on("console", (msg) => {
    if (msg.type() === "error") obs.console.push(`admin: ${msg.text()}`);
  });
  const outside = [];
  admin.on("request", (req) => {
    if (!req.url().startsWith(baseUrl)) outside.push(req.url());
  });
  await admin.setViewportSize({ width: 1300, height: 850 });
  await admin.goto(`${baseUrl}/admin/`);
  step("admin UI loaded", await admin.title());
  await admin.getByLabel("Server URL").fill(baseUrl);
  await admin.getByLabel("Username").fill("john");
  await admin.getByLabel("Password").fill("changeit");
  await shot(admin, "01-admin-login.png");
  await admin.getByRole("button", { name: "Connect" }).click();
  await admin.getByLabel("Server URL").waitFor({ state: "hidden" });
  step("admin UI logged in");
  await bodyHas(admin, (t) => t.includes("CONNECTED") && /\n\/\t1\n/.test(t), "dashboard: connected, one socket in /", step);
  await admin.waitForTimeout(2500); // one server_stats tick for the charts
  await shot(admin, "02-admin-dashboard.png");

  // 1. The page's socket, and its room.
  await admin.evaluate(() => (location.hash = "#/sockets/"));
  await bodyHas(admin, (t) => t.includes(sid), `the socket ${sid} listed`, step);
  await admin.waitForTimeout(600); // the view's fade-in, for a readable screenshot
  await shot(admin, "03-admin-sockets.png");
  await admin.evaluate(() => (location.hash = "#/rooms/"));
  await bodyHas(admin, (t) => t.includes("user:1"), "the room user:1 listed", step);
  await admin.waitForTimeout(600); // the view's fade-in, for a readable screenshot
  await shot(admin, "04-admin-rooms.png");

  // 2. An event from the page, in the UI's event list.
  await admin.evaluate(() => (location.hash = "#/events/"));
  await page.fill("#notify-user-id", "1");
  await page.fill("#notify-message", "watched from the admin UI");
  await page.click("#notify-button");
  await waitText(page, "notify-ack", (t) => t.includes('"ok":true'), "demo page: notify ack");
  await bodyHas(admin, (t) => t.includes("notify-user") && t.includes("notification"), "events notify-user (received) and notification (sent) listed", step);
  await admin.waitForTimeout(600); // the view's fade-in, for a readable screenshot
  await shot(admin, "05-admin-events.png");

  // 3. Its details; then its Disconnect button in the socket list (_disconnect, close false).
  await admin.evaluate((id) => (location.hash = `#/n/%2F/sockets/${id}`), sid);
  await bodyHas(admin, (t) => t.includes("user:1") && t.includes(sid), "socket details", step);
  await admin.waitForTimeout(600); // the view's fade-in, for a readable screenshot
  await shot(admin, "06-admin-socket-details.png");
  await admin.evaluate(() => (location.hash = "#/sockets/"));
  await bodyHas(admin, (t) => t.includes(sid), "back to the socket list", step);
  await admin.locator("tr", { hasText: sid }).locator("button").click();
  await waitText(page, "state", (t) => t === "disconnected (io server disconnect)", "demo page: disconnected by the UI");
  await shot(page, "07-demo-page-disconnected.png");
  await admin.evaluate(() => (location.hash = "#/events/"));
  await bodyHas(admin, (t) => /server namespace disconnect/.test(t), "the disconnection listed", step);
  await shot(admin, "08-admin-events-after-disconnect.png");
  obs.outsideRequests = outside;
  if (outside.length) throw new Error(`the admin UI reached outside the demo: ${outside}`);
}

async function bodyHas(page, pred, what, step, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = await page.locator("body").innerText();
    if (pred(last)) {
      step(what);
      return last;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not seen after ${timeoutMs} ms; the page says: ${JSON.stringify(last.slice(0, 1500))}`);
}

if (!baseUrl || !shotDir) {
  process.stdout.write(JSON.stringify({ ok: false, reason: "usage: node admin_page.mjs <base-url> <screenshot-dir>" }) + "\n");
  process.exit(1);
}
await runWalk(shotDir, OVERALL_TIMEOUT_MS, walk);
