// The TCP scenarios' load (`node tcp-client.mjs '{"port","connections","seconds","mode"}'`),
// against an echo origin (bench/peers/tcp-echo-origin.mjs), directly or through a proxy:
//   mode "bytes":   `connections` connections, each keeping `window` chunks of `chunk` bytes
//                   in flight (a new chunk written as one comes back): requests = chunks echoed
//                   back whole in the measured window (so bytes that went both ways).
//   mode "connect": `connections` loops, each opening a connection, writing 64 bytes, and
//                   closing it once they are echoed: requests = connections completed, latency
//                   from the connect() to the echo (connection set-up, a tunnel's included).
// After a 200 ms ramp, `seconds` are measured. Prints one JSON line in wrk's summary shape:
// {requests, duration_us, errors, latency_us: {p50, p99, p999, max}}.
import net from "node:net";

const options = JSON.parse(process.argv[2]);
const { port, host = "127.0.0.1", connections = 16, seconds = 5, mode = "bytes", chunk = 64 * 1024, window = 4 } = options;
if (mode !== "bytes" && mode !== "connect") throw new Error(`unknown mode ${mode}`);

const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
const latencies = []; // µs, of the measured window only (connect mode)
let echoed = 0; // bytes echoed back in the measured window
let completed = 0; // connections completed in the measured window
let measuring = false;
let done = false;
const CHUNK = Buffer.alloc(chunk, 0x61);
const PING = Buffer.alloc(64, 0x62);

function streamBytes() {
  return new Promise((resolveStream) => {
    const socket = net.connect({ port, host, noDelay: true });
    let sent = 0;
    let received = 0;
    const fill = () => {
      while (!done && sent - received < window * chunk) {
        socket.write(CHUNK);
        sent += chunk;
      }
    };
    socket.on("connect", fill);
    socket.on("data", (data) => {
      received += data.length;
      if (measuring) echoed += data.length;
      if (done) socket.destroy();
      else fill();
    });
    socket.on("error", () => {
      if (!done) errors[received ? "read" : "connect"]++;
    });
    socket.on("close", () => resolveStream());
  });
}

/** One loop of connect mode: a connection at a time until the end. */
async function connectLoop() {
  while (!done) {
    await new Promise((resolveOne) => {
      const startedAt = performance.now();
      const socket = net.connect({ port, host, noDelay: true });
      let got = 0;
      let ok = false;
      socket.on("connect", () => socket.write(PING));
      socket.on("data", (data) => {
        got += data.length;
        if (got < PING.length) return;
        ok = true;
        if (measuring) {
          completed++;
          latencies.push((performance.now() - startedAt) * 1000);
        }
        socket.destroy();
      });
      socket.on("error", () => {
        if (!done && !ok) errors[got ? "read" : "connect"]++;
      });
      // A proxy that closes before the echo is an error too (and the loop goes on).
      socket.on("close", () => {
        if (!ok && !done) errors.read++;
        resolveOne();
      });
    });
  }
}

const workers = Array.from({ length: connections }, mode === "bytes" ? streamBytes : connectLoop);
await new Promise((r) => setTimeout(r, 200));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const duration_us = (performance.now() - t0) * 1000;
done = true;
await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 5000))]);
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
const requests = mode === "bytes" ? echoed / chunk : completed;
console.log(JSON.stringify({ requests, bytes: echoed, duration_us, errors, latency_us: { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: latencies.at(-1) ?? 0 } }));
process.exit(0);
