// The MySQL throughput bench's load (`node mysql-client.mjs '{"port","connections","seconds","sql"}'`):
// `connections` sessions (a HandshakeResponse41 as user "bench", database "bench", after the
// server's greeting), each sending one COM_QUERY and waiting for the whole answer (an OK, an
// ERR, or a result set's closing EOF) before the next (closed loop), for `seconds`. Prints one
// JSON line in wrk's summary shape, as postgres-client.mjs: {requests (queries answered),
// duration_us, errors, latency_us: {p50, p99, p999, max}}.
import net from "node:net";

const options = JSON.parse(process.argv[2]);
const { port, host = "127.0.0.1", connections = 64, seconds = 5, sql = "SELECT 1" } = options;

const packet = (seq, payload) => Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, (payload.length >> 16) & 0xff, seq, ...payload]);
const u32 = (v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
const nul = (s) => [...Buffer.from(s), 0];
// CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB
const CAPS = 0x200 | 0x8000 | 0x80000 | 0x8;
const LOGIN = packet(1, [...u32(CAPS), ...u32(16 * 1024 * 1024), 0x21, ...new Array(23).fill(0), ...nul("bench"), 20, ...new Array(20).fill(7), ...nul("bench"), ...nul("mysql_native_password")]);
const QUERY = packet(0, [0x03, ...Buffer.from(sql)]);

const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
const latencies = []; // µs, of the measured window only
let requests = 0;
let measuring = false;
let done = false;

function session() {
  return new Promise((resolveSession) => {
    const socket = net.connect({ port, host, noDelay: true });
    let buffered = Buffer.alloc(0);
    let sentAt = 0;
    let phase = "greeting"; // then "login", then "query" (its answer: first packet, then rows until EOF)
    let inResultSet = false;
    let eofs = 0;
    const send = () => {
      if (done) {
        socket.end(packet(0, [0x01]));
        return;
      }
      sentAt = performance.now();
      socket.write(QUERY);
    };
    socket.on("data", (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let at = 0;
      while (buffered.length - at >= 4) {
        const length = buffered[at] | (buffered[at + 1] << 8) | (buffered[at + 2] << 16);
        if (buffered.length - at < 4 + length) break;
        const first = buffered[at + 4];
        at += 4 + length;
        if (phase === "greeting") {
          phase = "login";
          socket.write(LOGIN);
          continue;
        }
        if (phase === "login") {
          if (first !== 0x00) errors.connect++;
          phase = "query";
          send();
          continue;
        }
        // A query's answer: OK or ERR alone, or a result set ended by its second EOF.
        let answered = false;
        if (!inResultSet) {
          if (first === 0x00 || first === 0xff) {
            if (first === 0xff && measuring) errors.status++;
            answered = true;
          } else {
            inResultSet = true;
            eofs = 0;
          }
        } else if (first === 0xfe && length < 9 && ++eofs === 2) {
          inResultSet = false;
          answered = true;
        }
        if (answered) {
          if (measuring) {
            requests++;
            latencies.push((performance.now() - sentAt) * 1000);
          }
          send();
        }
      }
      buffered = buffered.subarray(at);
    });
    socket.on("error", () => {
      if (!done) errors[phase === "query" ? "read" : "connect"]++;
    });
    socket.on("close", () => resolveSession());
  });
}

const sessions = Array.from({ length: connections }, session);
// A short ramp first (the sessions' logins), then the measured window.
await new Promise((r) => setTimeout(r, 200));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const duration_us = (performance.now() - t0) * 1000;
done = true;
await Promise.race([Promise.all(sessions), new Promise((r) => setTimeout(r, 5000))]);
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
console.log(JSON.stringify({ requests, duration_us, errors, latency_us: { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: latencies.at(-1) ?? 0 } }));
process.exit(0);
