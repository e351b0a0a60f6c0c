// The TCP scenarios' origin (`node tcp-echo-origin.mjs PORT`): every byte a connection sends
// is written back on it (socket.pipe(socket), so a slow reader slows the writer), and its
// half-close is answered with ours. The scenarios measure the proxy, so the origin does no
// more than that.
import net from "node:net";

const port = Number(process.argv[2] ?? 0);
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on("error", () => socket.destroy());
  socket.pipe(socket);
});
server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => console.log(`listening ${server.address().port}`));
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
