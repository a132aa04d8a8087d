// A `ws` WebSocket that delivers "message" and "close" events one per macrotask.
//
// The official Socket.IO protocol suite awaits one message, then registers the listener for
// the next. When two frames arrive in one TCP read (minisock writes the CONNECT ack and the
// first event together), `ws` emits both synchronously and the second is missed. The
// reference server hits the same race at random. Pacing the events removes the race from
// the client without changing what the server sends.
import { WebSocket } from "ws";

export class PacedWebSocket extends WebSocket {
  emit(name, ...args) {
    if (name !== "message" && name !== "close") {
      return super.emit(name, ...args);
    }
    this._paced = (this._paced ?? Promise.resolve()).then(
      () =>
        new Promise((resolve) =>
          setTimeout(() => {
            super.emit(name, ...args);
            resolve();
          }, 0),
        ),
    );
    return true;
  }
}
