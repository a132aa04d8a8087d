// examples/jwt_app.html keeping its socket across token expiries, in a real headless Chromium.
//
//   node jwt_refresh_page.mjs <base-url> <screenshot-dir> <mode> '<json params>'
//
// The server runs with a short token lifetime (a few seconds) and --connect-auth.
//   stays    {}           log in (polling + header, then websocket only with CONNECT auth); the
//                         page refreshes on its own; well past the first token's exp the socket
//                         is still the same one (same id, one connect, no disconnect) and works
//   refused  {expired}    auto refresh off; the live socket is handed jane's token and an expired
//                         one (both refused, with their reasons), POST /refresh refuses the
//                         expired token; the server then disconnects the socket at the first
//                         token's exp ("io server disconnect")
// Prints ONE JSON line (see page_kit.mjs); exits 0 only if every check passed.

import { runWalk } from "./page_kit.mjs";

const OVERALL_TIMEOUT_MS = 60_000;
const PAST_EXPIRY_MS = 1_500; // how long after the first token's exp the socket must still live
const [baseUrl, shotDir, mode, rawParams] = process.argv.slice(2);
const params = JSON.parse(rawParams ?? "{}");

const pageState = (page) =>
  page.evaluate(() => ({
    id: socket ? socket.id : null,
    connected: socket ? socket.connected : false,
    exp: token ? claimsOf(token).exp : null,
    history: history.slice(),
  }));

async function login(page, kit, wsOnly, label) {
  const before = await pageState(page);
  await page.fill("#username", "john");
  await page.fill("#password", "changeit");
  if (wsOnly) await page.check("#ws-only");
  else await page.uncheck("#ws-only");
  await page.click("#login-button");
  // A new socket, connected: the previous one's texts may still be on the page until then.
  await page.waitForFunction((previous) => socket && socket.connected && socket.id !== previous, before.id);
  await kit.waitText(page, "hello", (t) => t.includes('"username":"john"'), `hello (${label})`);
  await kit.waitText(page, "state", (t) => t === "connected", `connected (${label})`);
  const state = await pageState(page);
  kit.step(`first token (${label})`, { exp: state.exp, id: state.id });
  return state;
}

/** Watches the page until the first token is PAST_EXPIRY_MS past its exp: always connected. */
async function stayConnectedPast(page, kit, first, label) {
  const until = first.exp * 1000 + PAST_EXPIRY_MS;
  while (Date.now() < until) {
    const state = await kit.text(page, "state");
    if (state !== "connected") throw new Error(`${label}: state became ${JSON.stringify(state)} before ${until}`);
    await page.waitForTimeout(100);
  }
  const now = await pageState(page);
  const refreshes = Number(await kit.text(page, "refresh-count"));
  kit.step(`past the first exp (${label})`, { refreshes, exp: now.exp, id: now.id });
  if (!now.connected || now.id !== first.id) throw new Error(`${label}: not the same live socket: ${JSON.stringify(now)}`);
  if (refreshes < 1 || !(now.exp > first.exp)) throw new Error(`${label}: no refresh: ${refreshes}, exp ${now.exp}`);
  const since = now.history.filter(([at]) => at >= first.history.at(-1)[0]);
  if (since.length !== 1 || since[0][1] !== "connect") throw new Error(`${label}: reconnected: ${JSON.stringify(since)}`);
  await page.fill("#online-user-id", "1");
  await page.click("#online-button");
  await kit.waitText(page, "online-result", (t) => t === "user 1 is online", `still served (${label})`);
  kit.obs[label] = { firstExp: first.exp, exp: now.exp, refreshes };
}

async function stays(page, kit) {
  await page.goto(baseUrl);
  const polling = await login(page, kit, false, "polling");
  await kit.waitText(page, "transport", (t) => t === "websocket", "upgraded");
  await stayConnectedPast(page, kit, polling, "polling");
  await kit.shot(page, "refresh-01-polling-past-expiry.png");
  const wsOnly = await login(page, kit, true, "websocketOnly");
  await stayConnectedPast(page, kit, wsOnly, "websocketOnly");
  await kit.shot(page, "refresh-02-websocket-only-past-expiry.png");
  await page.click("#logout-button");
}

async function refused(page, kit) {
  await page.goto(baseUrl);
  await page.uncheck("#auto-refresh");
  const first = await login(page, kit, false, "polling");
  const jane = await page.evaluate(async () => {
    const response = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "jane", password: "changeit" }),
    });
    return (await response.json()).token;
  });
  await page.evaluate((t) => reauthenticate(t), jane);
  await kit.waitText(page, "refresh-result", (t) => t === "refused: identity_mismatch", "jane's token refused");
  await page.evaluate((t) => reauthenticate(t), params.expired);
  await kit.waitText(page, "refresh-result", (t) => t === "refused: expired", "expired token refused");
  const refresh = await page.evaluate(async (t) => {
    const response = await fetch("/refresh", { method: "POST", headers: { Authorization: `Bearer ${t}` } });
    return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json() };
  }, params.expired);
  kit.step("POST /refresh with the expired token", refresh);
  if (refresh.status !== 401 || refresh.body.reason !== "expired") throw new Error(`POST /refresh: ${JSON.stringify(refresh)}`);
  const after = await pageState(page);
  if (after.exp !== first.exp || after.id !== first.id) throw new Error(`the refusals changed the socket: ${JSON.stringify(after)}`);
  await kit.shot(page, "refresh-03-refused.png");
  const timeout = first.exp * 1000 - Date.now() + 5_000;
  await kit.waitText(page, "state", (t) => t === "disconnected (io server disconnect)", "disconnected at expiry", timeout);
  const { history } = await pageState(page);
  const [at, , reason] = history.at(-1);
  kit.obs.disconnect = { at, reason, firstExp: first.exp };
  kit.step("disconnect vs first exp (ms)", at - first.exp * 1000);
  await kit.shot(page, "refresh-04-disconnected-at-expiry.png");
}

const WALKS = { stays, refused };
if (!baseUrl || !shotDir || !(mode in WALKS)) {
  process.stdout.write(JSON.stringify({ ok: false, reason: "usage: node jwt_refresh_page.mjs <base-url> <screenshot-dir> stays|refused '<json>'" }) + "\n");
  process.exit(1);
}
await runWalk(shotDir, OVERALL_TIMEOUT_MS, WALKS[mode]);
