// The official socket.io-client with no application code for recovery: whatever it recovers, it
// recovers by itself (socket.io's connection state recovery: the server's CONNECT reply carries a
// `pid`, the client sends it back with the last offset it saw). For the Rust tests.
//
// Usage: node stock-client.mjs <url> <websocket|polling> [cut every ms]
//   with a third argument, the client cuts its own transport (`socket.io.engine.close()`) that
//   often; the Manager reconnects by itself after its usual delay (0.5 to 1.5 s).
// stdout, one JSON line each (at: Date.now()):
//   {"type":"connect","recovered":bool,"at"}   {"type":"disconnect","reason","at"}
//   {"type":"message","text","at"}              {"type":"welcome","instance":url,"at"}
// Closing stdin ends it.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transport, cutEvery] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify({ ...obj, at: Date.now() }) + "\n");
const socket = io(url, { transports: [transport], upgrade: false });
socket.on("connect", () => out({ type: "connect", recovered: socket.recovered }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.on("message", (text) => out({ type: "message", text }));
// Observed, not acted on: which instance the client is on (gridcast's own event).
socket.on("welcome", (w) => out({ type: "welcome", instance: w.instance.url }));
if (cutEvery) setInterval(() => socket.io.engine.close(), Number(cutEvery));
createInterface({ input: process.stdin }).on("close", () => {
  socket.close();
  process.exit(0);
});
