// One socket.io-client session for the tracer's end-to-end test (tests/integration/test_trace_cli.py):
// sockets on "/" and "/custom" over one Engine.IO session, which upgrades to WebSocket; an
// emit with an ack and a long argument; then both disconnect. Last line: {"ok": true, ...}.
import { Manager } from "socket.io-client";

const fail = (reason) => {
  console.log(JSON.stringify({ ok: false, reason }));
  process.exit(1);
};
setTimeout(() => fail("timed out"), 10000).unref();

const manager = new Manager(process.argv[2]);
const main = manager.socket("/");
const custom = manager.socket("/custom");
await Promise.all([main, custom].map((s) => new Promise((ok) => s.once("connect", ok))));
if (manager.engine.transport.name !== "websocket") {
  await new Promise((ok) => manager.engine.once("upgrade", ok));
}
const echoed = await main.timeout(5000).emitWithAck("message-with-ack", "bar", "x".repeat(300));
custom.disconnect();
main.disconnect();
const ok = echoed === "bar";
console.log(JSON.stringify({ ok, reason: JSON.stringify(echoed).slice(0, 80) }));
