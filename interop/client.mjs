// A line-oriented driver around the official socket.io-client, for the Rust interop tests.
//
// Usage: node client.mjs <base-url> <websocket|polling>
// stdin, one JSON command per line:
//   {"emit": ["message", "text"]}            plain emit, as the reference Node.js setup does
//   {"emit_ack": ["message", "text"], "id": 1} emit with an ack callback
// stdout, one JSON event per line:
//   {"type": "connected", "sid": "...", "transport": "polling"}
//   {"type": "event", "event": "message", "args": ["text", {...meta}]}
//   {"type": "ack", "id": 1, "args": [...]}
//   {"type": "disconnected", "reason": "..."} / {"type": "connect_error", "message": "..."}
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transport] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  transports: [transport],
  upgrade: false,
  reconnection: false,
  timeout: 5000,
});

socket.on("connect", () =>
  out({ type: "connected", sid: socket.id, transport: socket.io.engine.transport.name }),
);
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ type: "disconnected", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.emit) socket.emit(...cmd.emit);
  if (cmd.emit_ack) socket.emit(...cmd.emit_ack, (...args) => out({ type: "ack", id: cmd.id, args }));
}).on("close", () => {
  socket.close();
  process.exit(0);
});
