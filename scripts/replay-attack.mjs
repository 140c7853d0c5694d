// Raw Engine.IO/Socket.IO clients over WebSocket for the replay measurements of
// scripts/replay-attack.sh (Node.js, the `ws` package installed with interop/'s npm packages).
//
//   node scripts/replay-attack.mjs fill <url> <count> <bytes>
//       one client sends <count> messages of <bytes> U+0001 characters (JSON escapes each as six
//       bytes), a few hundred at a time, and waits for them to come back
//   node scripts/replay-attack.mjs gap <url> <count>
//       a client reads one message and leaves; another sends <count>; the first comes back with
//       its offset: prints what `welcome.recovery` said, how many messages arrived, and the time
//   node scripts/replay-attack.mjs replay0 <url> <clients> <read|stall> <seconds>
//       <clients> clients connect with offset 0-0 at once and either read their replay or stop
//       reading after the CONNECT reply; after <seconds> prints how many were welcomed, with
//       what, and how many messages they got
import WebSocket from "../interop/node_modules/ws/wrapper.mjs";

const [mode, base, a, b, c] = process.argv.slice(2);
const wsUrl = base.replace(/^http/, "ws").replace(/\/$/, "") + "/socket.io/?EIO=4&transport=websocket";

/** A client: `on(event, args)` for every event; resolves once connected. */
function client(auth, on, { stall = false } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    ws.on("error", reject);
    ws.on("message", (data) => {
      const text = data.toString();
      if (text.startsWith("0")) ws.send("40" + JSON.stringify(auth));
      else if (text === "2") ws.send("3");
      else if (text.startsWith("40")) {
        if (stall) ws._socket.pause();
        resolve(ws);
      } else if (text.startsWith("42")) {
        const [event, ...args] = JSON.parse(text.slice(2));
        on(event, args);
      }
    });
    ws.on("close", () => on("__closed", []));
  });
}

const emit = (ws, ...args) => ws.send("42" + JSON.stringify(["message", ...args]));

async function fill(count, bytes, prefix = "fill") {
  let back = 0;
  let wake = () => {};
  const ws = await client({}, (event, args) => {
    if (event === "message" && String(args[0]).startsWith(prefix)) {
      back += 1;
      wake();
    }
  });
  const body = "\u0001".repeat(Math.max(0, bytes - 24));
  for (let i = 0; i < count; i += 200) {
    for (let k = i; k < Math.min(count, i + 200); k++) emit(ws, `${prefix}-${k}-${body}`);
    while (back < Math.min(count, i + 200)) await new Promise((r) => (wake = r));
  }
  ws.close();
}

if (mode === "fill") {
  await fill(Number(a), Number(b));
  process.exit(0);
}

if (mode === "gap") {
  const count = Number(a);
  let offset;
  const away = await client({}, (event, args) => {
    if (event === "message" && args[0] === "before the gap") offset = args[1].offset;
  });
  emit(away, "before the gap");
  while (!offset) await new Promise((r) => setTimeout(r, 10));
  away.close();
  await fill(count, 100, "gap");
  const started = Date.now();
  let got = 0;
  let welcome;
  await new Promise((resolve) => {
    client({ offset }, (event, args) => {
      if (event === "message" && String(args[0]).startsWith("gap")) got += 1;
      if (event === "welcome") welcome = args[0];
      if ((welcome && (got >= count || !welcome.recovery?.recovered)) || event === "__closed") resolve();
    });
    setTimeout(resolve, 120000);
  });
  console.log(JSON.stringify({ gap: count, received: got, recovery: welcome?.recovery, ms: Date.now() - started }));
  process.exit(0);
}

if (mode === "replay0") {
  const [n, how, seconds] = [Number(a), b, Number(c)];
  const state = Array.from({ length: n }, () => ({ got: 0, welcome: null, closed: false }));
  await Promise.all(
    state.map((s) =>
      client(
        { offset: "0-0" },
        (event, args) => {
          if (event === "message") s.got += 1;
          if (event === "welcome") s.welcome = args[0];
          if (event === "__closed") s.closed = true;
        },
        { stall: how === "stall" },
      ).catch(() => (s.closed = true)),
    ),
  );
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const welcomed = state.filter((s) => s.welcome);
  const reasons = {};
  for (const s of welcomed) {
    const key = s.welcome.recovery?.recovered ? "recovered" : s.welcome.recovery?.reason;
    reasons[key] = (reasons[key] ?? 0) + 1;
  }
  console.log(
    JSON.stringify({
      clients: n,
      welcomed: welcomed.length,
      outcomes: reasons,
      closed: state.filter((s) => s.closed).length,
      messages: state.reduce((t, s) => t + s.got, 0),
    }),
  );
  process.exit(0);
}

console.error("mode: fill | gap | replay0");
process.exit(2);
