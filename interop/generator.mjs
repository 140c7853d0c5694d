// A load generator on the official socket.io-client, to weigh `gridcast bench`'s own cost against:
// the same load (clients spread over the URLs, `rate` plain `message` strings per second in
// total, every client receiving every message) for `seconds`, then one JSON line with what it
// received and the CPU it used (process.cpuUsage).
//
// Usage: node generator.mjs <url>,<url>,... <clients> <rate> <seconds>
import { io } from "socket.io-client";

const [urlList, clientsArg, rateArg, secondsArg] = process.argv.slice(2);
const urls = urlList.split(",");
const clients = Number(clientsArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);

const sockets = [];
let received = 0;
await Promise.all(
  Array.from({ length: clients }, (_, i) => {
    const socket = io(urls[i % urls.length], { transports: ["websocket"], reconnection: false });
    socket.on("message", () => {
      received += 1;
    });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
  }),
);

const cpuStart = process.cpuUsage();
const start = Date.now();
let sent = 0;
// Paced like gridcast bench: every 10 ms, the messages due by now, round-robin over the clients.
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const elapsed = (Date.now() - start) / 1000;
    if (elapsed >= seconds) {
      clearInterval(tick);
      resolve();
      return;
    }
    const due = Math.floor(elapsed * rate);
    while (sent < due) {
      sockets[sent % clients].emit("message", `gen ${sent} ${Date.now()}`);
      sent += 1;
    }
  }, 10);
});
// Let the last deliveries arrive.
await new Promise((resolve) => setTimeout(resolve, 2000));
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(
  JSON.stringify({
    sent,
    received,
    expected: sent * clients,
    cpu_seconds: cpuSeconds,
    cpu_us_per_delivery: (cpuSeconds * 1e6) / Math.max(received, 1),
  }) + "\n",
);
for (const socket of sockets) socket.close();
process.exit(0);
