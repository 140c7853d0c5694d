// The official socket.io-client on gridcast's `/admin` namespace, as the Admin UI connects to it
// (`io(url + "/admin", {withCredentials, transports, path, auth})`), driven line by line for the
// Rust tests.
//
// Usage: node admin-client.mjs <base-url> <websocket|polling> <auth as JSON>
// stdin, one JSON command per line:
//   {"emit": ["join", "/", "room", "<socket id>"]}           as the Admin UI does (no ack)
//   {"emit": ["join", "/", "room", "<socket id>"], "id": 1}  with an ack callback
// stdout, one JSON line per thing received:
//   {"type": "connected"} / {"type": "connect_error", "message": "..."} /
//   {"type": "disconnected", "reason": "..."} / {"type": "event", "event": "...", "args": [...]} /
//   {"type": "ack", "id": 1, "args": [...]}
// Closing stdin ends it.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transport, auth] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const transports = transport === "polling" ? ["polling"] : ["websocket"];
const socket = io(url + "/admin", {
  forceNew: true,
  reconnection: false,
  withCredentials: true,
  transports,
  path: "/socket.io",
  auth: JSON.parse(auth),
  timeout: 5000,
});
socket.on("connect", () => out({ type: "connected" }));
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
socket.on("disconnect", (reason) => out({ type: "disconnected", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const cmd = JSON.parse(line);
    if (cmd.id === undefined) socket.emit(...cmd.emit);
    else socket.emit(...cmd.emit, (...args) => out({ type: "ack", id: cmd.id, args }));
  })
  .on("close", () => {
    socket.close();
    process.exit(0);
  });
