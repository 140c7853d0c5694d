// Many official socket.io-clients that each send one `message` (with an ack) from their own
// `connect` callback, the moment the server has accepted them: every one must be acknowledged
// and come back to its sender.
//
// Usage: node connect-burst.mjs <url>,<url>,... <websocket|polling> <clients> <tag prefix>
// stdout: one JSON line at the end, {"acked": n, "echoed": n, "refused": [...], "errors": [...]}
import { io } from "socket.io-client";

const [urls, transport, count, prefix] = process.argv.slice(2);
const targets = urls.split(",");
const n = Number(count);
let acked = 0;
let echoed = 0;
const refused = [];
const errors = [];
const sockets = [];
let finished = 0;

const done = () => {
  finished += 1;
  if (finished < n) return;
  process.stdout.write(JSON.stringify({ acked, echoed, refused, errors }) + "\n");
  for (const s of sockets) s.close();
  process.exit(0);
};

for (let i = 0; i < n; i++) {
  const tag = `${prefix}-${i}`;
  const socket = io(targets[i % targets.length], {
    transports: [transport],
    upgrade: false,
    reconnection: false,
    forceNew: true,
    timeout: 10000,
  });
  sockets.push(socket);
  let gotAck = false;
  let gotEcho = false;
  const settle = () => {
    if (gotAck && gotEcho) done();
  };
  socket.on("message", (text) => {
    if (text === tag && !gotEcho) {
      gotEcho = true;
      echoed += 1;
      settle();
    }
  });
  socket.on("connect", () => {
    socket.emit("message", tag, (reply) => {
      gotAck = true;
      if (reply && reply.ok) acked += 1;
      else refused.push(reply);
      settle();
    });
  });
  socket.on("connect_error", (err) => {
    errors.push(err.message);
    done();
  });
}

setTimeout(() => {
  process.stdout.write(JSON.stringify({ acked, echoed, refused, errors, timeout: true }) + "\n");
  process.exit(0);
}, 30000);
