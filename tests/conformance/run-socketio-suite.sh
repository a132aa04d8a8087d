#!/usr/bin/env bash
# Run the official Socket.IO protocol suite (a copy outside this repo) with paced WebSocket
# events. Usage: run-socketio-suite.sh SUITE_DIR   (a server must listen on localhost:3000)
set -euo pipefail
suite=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cp "$here/paced-websocket.mjs" "$suite/paced-websocket.mjs"
sed -e 's#import { WebSocket } from "ws";#import { PacedWebSocket as WebSocket } from "./paced-websocket.mjs";#' \
  "$suite/node-imports.js" > "$suite/node-imports.paced.js"
sed -e 's#"./node-imports.js"#"./node-imports.paced.js"#' "$suite/test-suite.js" > "$suite/test-suite.paced.js"
cd "$suite"
[ -d node_modules ] || npm ci --no-audit --no-fund
npx mocha test-suite.paced.js
