// The PostgreSQL scenarios' load (`node postgres-client.mjs '{"port","connections","seconds","sql"}'`):
// `connections` sessions (startup as user "bench", database "bench"), each sending one
// simple Query and waiting for its ReadyForQuery before the next (closed loop), for
// `seconds`. Prints one JSON line in wrk's summary shape: {requests (queries answered),
// duration_us, errors, latency_us: {p50, p99, p999, max}}.
import net from "node:net";

const options = JSON.parse(process.argv[2]);
const { port, host = "127.0.0.1", connections = 64, seconds = 5, sql = "SELECT 1" } = options;

function startup(parameters) {
  const body = Buffer.concat([Buffer.from([0, 3, 0, 0]), ...Object.entries(parameters).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  const head = Buffer.alloc(4);
  head.writeInt32BE(body.length + 4);
  return Buffer.concat([head, body]);
}
const QUERY = (() => {
  const text = Buffer.from(`${sql}\0`);
  const head = Buffer.alloc(5);
  head.write("Q", 0, "latin1");
  head.writeInt32BE(text.length + 4, 1);
  return Buffer.concat([head, text]);
})();
const STARTUP = startup({ user: "bench", database: "bench" });

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
    let ready = false;
    const send = () => {
      if (done) {
        socket.end();
        return;
      }
      sentAt = performance.now();
      socket.write(QUERY);
    };
    socket.on("connect", () => socket.write(STARTUP));
    socket.on("data", (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let at = 0;
      let readies = 0;
      while (buffered.length - at >= 5) {
        const length = buffered.readInt32BE(at + 1);
        if (buffered.length - at < 1 + length) break;
        const type = buffered[at];
        if (type === 0x45 /* E: ErrorResponse */ && measuring) errors.status++;
        if (type === 0x5a /* Z */) readies++;
        at += 1 + length;
      }
      buffered = buffered.subarray(at);
      for (let i = 0; i < readies; i++) {
        if (!ready) ready = true;
        else if (measuring) {
          requests++;
          latencies.push((performance.now() - sentAt) * 1000);
        }
        send();
      }
    });
    socket.on("error", (error) => {
      if (!done) errors[ready ? "read" : "connect"]++;
      void error;
    });
    socket.on("close", () => resolveSession());
  });
}

const sessions = Array.from({ length: connections }, session);
// A short ramp first (the sessions' startups), then the measured window.
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
