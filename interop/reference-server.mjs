// The reference setup gridcast is compatible with: socket.io 4 + @socket.io/redis-adapter, where a
// client's `message` string is broadcast to everyone with `io.emit`.
//
// Usage: node reference-server.mjs <port> <redis-url>
// Prints "listening <port>" once ready; stops on SIGTERM/SIGINT.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const [port, redisUrl] = process.argv.slice(2);
const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient) });
io.on("connection", (socket) => {
  socket.on("message", (msg) => io.emit("message", msg));
});

httpServer.listen(Number(port), "127.0.0.1", () => console.log(`listening ${port}`));
const stop = () => io.close(() => Promise.all([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
