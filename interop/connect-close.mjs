// Clients that connect and close at once, `concurrency` at a time, spread over the URLs, half over
// WebSocket and half over long-polling.
//
// - `official`: each socket.io-client closes in its own `connect` callback, the moment the server
//   accepted it.
// - `raw`: hand-made Engine.IO/Socket.IO, as hostile or buggy clients do it: over WebSocket the
//   Socket.IO and Engine.IO close go out as soon as the CONNECT reply arrives; over long-polling
//   they go in the POST right after the one carrying the CONNECT, before any reply is read.
// - `vanish`: long-polling only: a session and its CONNECT, then nothing (no poll, no close), as
//   in a polling flood; the server closes each when its heartbeat times out.
//
// Usage: node connect-close.mjs <url>,<url>,... <clients> <concurrency> [official|raw|vanish]
// stdout: one JSON line at the end, {"connected": n, "errors": n, "seconds": s}
import { io } from "socket.io-client";
import WebSocket from "ws";

const [urls, count, concurrency, mode = "official"] = process.argv.slice(2);
const targets = urls.split(",");
const n = Number(count);
let started = 0;
let connected = 0;
let errors = 0;
let finished = 0;
const begin = Date.now();

const official = (url, transport) =>
  new Promise((resolve) => {
    const socket = io(url, {
      transports: [transport],
      upgrade: false,
      reconnection: false,
      forceNew: true,
      timeout: 10000,
    });
    socket.on("connect", () => {
      socket.close();
      resolve(true);
    });
    socket.on("connect_error", () => {
      socket.close();
      resolve(false);
    });
  });

const rawWebSocket = (url) =>
  new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    const timer = setTimeout(() => { ws.terminate(); resolve(false); }, 10000);
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0")) ws.send("40");
      else if (text.startsWith("40")) {
        ws.send("41");
        ws.send("1");
        ws.close();
        clearTimeout(timer);
        resolve(true);
      }
    });
    ws.on("error", () => { clearTimeout(timer); resolve(false); });
  });

const rawPolling = async (url) => {
  try {
    const engine = `${url}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(engine)).text();
    const sid = JSON.parse(open.slice(1)).sid;
    const post = (body) => fetch(`${engine}&sid=${sid}`, { method: "POST", body }).then((r) => r.text());
    await post("40");
    if (mode !== "vanish") await post("41\u001e1");
    return true;
  } catch {
    return false;
  }
};

const one = async () => {
  while (started < n) {
    const i = started++;
    const url = targets[i % targets.length];
    const websocket = i % 4 < 2;
    const ok =
      mode === "vanish"
        ? await rawPolling(url)
        : mode === "raw"
        ? await (websocket ? rawWebSocket(url) : rawPolling(url))
        : await official(url, websocket ? "websocket" : "polling");
    if (ok) connected += 1;
    else errors += 1;
    finished += 1;
  }
};

await Promise.all(Array.from({ length: Number(concurrency) }, one));
const seconds = (Date.now() - begin) / 1000;
process.stdout.write(JSON.stringify({ connected, errors, seconds }) + "\n");
process.exit(0);
