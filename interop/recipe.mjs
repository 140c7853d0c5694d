// The zero-loss recipe of docs/protocol.md: the official socket.io-client catching up after a reconnect, and failing
// over to another instance when its own is gone, without losing or repeating a message.
import { io } from "socket.io-client";

export function connectWithRecovery(urls, { transports, onWelcome, onSocket } = {}) {
  const last = { offset: undefined, session: undefined };
  let current = 0;
  const client = { socket: undefined };
  const open = () => {
    const socket = io(urls[current], {
      transports,
      reconnectionAttempts: 2, // then try the next instance
      reconnectionDelay: 200,
      // Evaluated on every (re)connection: where we are, and who we are.
      auth: (cb) => cb({ offset: last.offset, session: last.session }),
    });
    socket.on("welcome", (welcome) => {
      last.session = welcome.session; // welcome.recovery says what was replayed, or missed
      onWelcome?.(welcome);
    });
    // Every broadcast that can be missed carries its offset in its metadata.
    socket.on("message", (_text, meta) => { if (meta?.offset) last.offset = meta.offset; });
    for (const event of ["room_message", "direct"]) {
      socket.on(event, (routed) => { if (routed?.meta?.offset) last.offset = routed.meta.offset; });
    }
    const moveOn = () => {
      socket.close();
      current = (current + 1) % urls.length;
      open();
    };
    socket.io.on("reconnect_failed", moveOn); // the instance is gone
    socket.on("disconnect", (reason) => { if (reason === "io server disconnect") moveOn(); }); // drained
    client.socket = socket;
    onSocket?.(socket);
  };
  open();
  return client;
}
