// Connects to one gridcast instance with the official socket.io-client, reads the whole presence
// list page by page (`next` cursors) and prints one JSON line: distinct members, pages, the largest
// page, how long it took, whether this client is listed. Usage: node interop/presence-count.mjs <url>
import { io } from "socket.io-client";
const url = process.argv[2];
const socket = io(url, { transports: ["websocket"] });
const page = (cursor) => new Promise((resolve) => socket.emit("presence", cursor ? { cursor } : undefined, resolve));
socket.on("welcome", async (w) => {
  const ids = new Set(); let pages = 0; let cursor; let biggest = 0;
  const started = Date.now();
  do {
    const ack = await page(cursor);
    if (!ack.ok) { console.log(JSON.stringify(ack)); process.exit(1); }
    pages++; biggest = Math.max(biggest, ack.members.length);
    for (const m of ack.members) ids.add(m.id);
    cursor = ack.next;
  } while (cursor);
  console.log(JSON.stringify({ members: ids.size, pages, biggest_page: biggest, ms: Date.now() - started, me_listed: ids.has(w.id) }));
  process.exit(0);
});
