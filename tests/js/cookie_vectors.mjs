// Node's own Set-Cookie for engine.io's `cookie` option: reads a JSON list of option objects
// on argv[2], prints a JSON list of `serialize(name, value, options)` strings, with engine.io's
// defaults applied first ({name: "io", path: "/", httpOnly: true, sameSite: "lax"}).

import { serialize } from "cookie";

const cases = JSON.parse(process.argv[2]);
const out = cases.map(({ value, options }) => {
  const merged = Object.assign({ name: "io", path: "/", httpOnly: true, sameSite: "lax" }, options);
  return serialize(merged.name, value, merged);
});
process.stdout.write(JSON.stringify(out) + "\n");
