// What every walk through examples/jwt_app.html needs: Debian's /usr/bin/chromium driven by
// playwright-core (nothing here downloads a browser), a step log, screenshots, a text poller,
// and ONE JSON line on stdout at the end ({"ok", "reason", "steps", "screenshots", ...}); the
// process exits 0 only if the walk passed, and never outlives its overall timeout.

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
export const STEP_TIMEOUT_MS = 10_000;

/**
 * Runs `walk(page, kit)` in a fresh headless Chromium profile, then prints the report.
 * `kit` has: obs (the report, free to extend), step(name, detail), shot(page, file),
 * waitText(page, id, pred, what, timeoutMs?), text(page, id).
 */
export async function runWalk(shotDir, overallTimeoutMs, walk) {
  const t0 = Date.now();
  const obs = { ok: false, reason: null, steps: [], screenshots: [], requests: [], websockets: [], pageErrors: [], console: [] };
  let context = null;
  let profile = null;

  const step = (name, detail) =>
    obs.steps.push(detail === undefined ? [Date.now() - t0, name] : [Date.now() - t0, name, detail]);
  const text = (page, id) => page.locator(`#${id}`).innerText();

  /** Waits until #id's text satisfies `pred`; fails with what it last was. */
  async function waitText(page, id, pred, what, timeoutMs = STEP_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last = null;
    while (Date.now() < deadline) {
      last = await text(page, id);
      if (pred(last)) {
        step(what, last);
        return last;
      }
      await page.waitForTimeout(50);
    }
    throw new Error(`${what}: #${id} is ${JSON.stringify(last)} after ${timeoutMs} ms`);
  }

  async function shot(page, name) {
    const path = join(shotDir, name);
    await page.screenshot({ path, fullPage: true });
    obs.screenshots.push(path);
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
  setTimeout(() => finish(false, `overall timeout after ${overallTimeoutMs} ms`), overallTimeoutMs).unref();

  try {
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
    await walk(page, { obs, step, shot, waitText, text });
    if (obs.pageErrors.length) throw new Error(`page errors: ${obs.pageErrors}`);
  } catch (err) {
    return finish(false, String(err?.stack ?? err));
  }
  return finish(true, null);
}
