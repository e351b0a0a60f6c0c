// The MySQL throughput bench's origin (`node mysql-origin.mjs PORT`): speaks the protocol's
// exact bytes (as test/support/mysql-server.ts): a HandshakeV10 greeting, OK to every login,
// each COM_QUERY answered with a one-row text result set (column count, one column
// definition, EOF, the row, EOF), COM_QUIT by closing. No real mysqld: the bench measures
// the proxy, so the origin must cost little per query.
import net from "node:net";

const port = Number(process.argv[2] ?? 0);

const u16 = (v) => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const nul = (s) => [...Buffer.from(s), 0];
const lenenc = (s) => [Buffer.byteLength(s), ...Buffer.from(s)];
const packet = (seq, payload) => Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, (payload.length >> 16) & 0xff, seq, ...payload]);

// CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB
const CAPS = 0x200 | 0x8000 | 0x80000 | 0x8;
const scramble = [...Buffer.from("abcdefghijklmnopqrst")];
const GREETING = packet(0, [10, ...nul("8.0.35-polyvoy-bench"), ...u32(7), ...scramble.slice(0, 8), 0, ...u16(CAPS & 0xffff), 0x21, ...u16(2), ...u16(CAPS >>> 16), 21, ...new Array(10).fill(0), ...scramble.slice(8), 0, ...nul("mysql_native_password")]);
const ok = (seq) => packet(seq, [0x00, 0, 0, 2, 0, 0, 0]);
const RESULT = Buffer.concat([
  packet(1, [1]),
  packet(2, [...lenenc("def"), ...lenenc(""), ...lenenc(""), ...lenenc(""), ...lenenc("c"), ...lenenc("c"), 0x0c, ...u16(0x21), ...u32(21), 0x08, ...u16(0), 0, ...u16(0)]),
  packet(3, [0xfe, 0, 0, 2, 0]),
  packet(4, [...lenenc("1")]),
  packet(5, [0xfe, 0, 0, 2, 0]),
]);

const server = net.createServer({ noDelay: true }, (socket) => {
  let buffered = Buffer.alloc(0);
  let loggedIn = false;
  socket.on("error", () => {});
  socket.write(GREETING);
  socket.on("data", (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    let at = 0;
    const replies = [];
    while (buffered.length - at >= 4) {
      const length = buffered[at] | (buffered[at + 1] << 8) | (buffered[at + 2] << 16);
      if (buffered.length - at < 4 + length) break;
      const seq = buffered[at + 3];
      const command = buffered[at + 4];
      at += 4 + length;
      if (!loggedIn) {
        loggedIn = true;
        replies.push(ok(seq + 1));
      } else if (command === 0x03 /* COM_QUERY */) replies.push(RESULT);
      else if (command === 0x01 /* COM_QUIT */) socket.end();
      else replies.push(ok(1));
    }
    buffered = buffered.subarray(at);
    if (replies.length) socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
  });
});
server.listen(port, "127.0.0.1", 4096, () => console.log(`listening ${server.address().port}`));
