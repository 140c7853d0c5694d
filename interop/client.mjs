// A line-oriented driver around the official socket.io-client, for the Rust interop tests.
//
// Usage: node client.mjs <base-url> <websocket|polling>
//        node client.mjs <url>,<url>,... <websocket|polling> recipe
//   (with GRIDCAST_TOKEN set, the first form sends {"token": $GRIDCAST_TOKEN} as its CONNECT auth)
//   (the second form uses the zero-loss recipe of docs/protocol.md, recipe.mjs: offsets, session, failover)
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
import { connectWithRecovery } from "./recipe.mjs";

const [url, transport, mode] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const watch = (socket) => {
  socket.on("connect", () =>
    out({ type: "connected", sid: socket.id, transport: socket.io.engine.transport.name }),
  );
  socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
  socket.on("disconnect", (reason) => out({ type: "disconnected", reason }));
  socket.onAny((event, ...args) => out({ type: "event", event, args }));
};

let current;
if (mode === "recipe") {
  const client = connectWithRecovery(url.split(","), { transports: [transport], onSocket: watch });
  current = () => client.socket;
} else {
  const socket = io(url, {
    transports: [transport],
    upgrade: false,
    reconnection: false,
    timeout: 5000,
    ...(process.env.GRIDCAST_TOKEN ? { auth: { token: process.env.GRIDCAST_TOKEN } } : {}),
  });
  watch(socket);
  current = () => socket;
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.emit) current().emit(...cmd.emit);
  if (cmd.emit_ack) current().emit(...cmd.emit_ack, (...args) => out({ type: "ack", id: cmd.id, args }));
}).on("close", () => {
  current().close();
  process.exit(0);
});
