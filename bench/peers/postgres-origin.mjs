// The PostgreSQL scenarios' origin (`node postgres-origin.mjs PORT`): speaks the protocol's
// exact bytes (protocol 3.0, as test/support/postgres-server.ts), trusts every user, answers
// an SSLRequest with 'N', each simple Query with one text row (RowDescription, DataRow,
// CommandComplete "SELECT 1", ReadyForQuery), Terminate by closing. No real postgres: the
// scenario measures the proxy, so the origin must cost little per query.
import net from "node:net";

const port = Number(process.argv[2] ?? 0);

function message(type, body) {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}
const cstring = (s) => Buffer.from(`${s}\0`);
const int16 = (n) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const GREETING = Buffer.concat([
  message("R", int32(0)),
  message("S", Buffer.concat([cstring("server_version"), cstring("16.0")])),
  message("S", Buffer.concat([cstring("client_encoding"), cstring("UTF8")])),
  message("K", Buffer.concat([int32(1234), int32(5678)])),
  message("Z", Buffer.from("I")),
]);
const ROW = Buffer.concat([
  message("T", Buffer.concat([int16(1), cstring("?column?"), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)])),
  message("D", Buffer.concat([int16(1), int32(1), Buffer.from("1")])),
  message("C", cstring("SELECT 1")),
  message("Z", Buffer.from("I")),
]);

const server = net.createServer({ noDelay: true }, (socket) => {
  let buffered = Buffer.alloc(0);
  let startup = true;
  socket.on("error", () => {});
  socket.on("data", (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    let at = 0;
    const replies = [];
    for (;;) {
      if (startup) {
        if (buffered.length - at < 8) break;
        const length = buffered.readInt32BE(at);
        if (buffered.length - at < length) break;
        const code = buffered.readInt32BE(at + 4);
        at += length;
        if (code === 80877103) replies.push(Buffer.from("N"));
        else {
          startup = false;
          replies.push(GREETING);
        }
        continue;
      }
      if (buffered.length - at < 5) break;
      const type = buffered[at];
      const length = buffered.readInt32BE(at + 1);
      if (buffered.length - at < 1 + length) break;
      at += 1 + length;
      if (type === 0x51 /* Q */) replies.push(ROW);
      else if (type === 0x58 /* X */) socket.end();
    }
    buffered = buffered.subarray(at);
    if (replies.length) socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
  });
});
server.listen(port, "127.0.0.1", 4096, () => console.log(`listening ${server.address().port}`));
