#!/usr/bin/env node
// The bench's own HTTP/1.1 load client (plain node:net, requests pre-serialized, responses
// counted by ResponseReader). Two modes:
//   rate:   open loop at a fixed request rate over a pool of keep-alive connections, for the
//           latency scenario (wrk in Debian has no fixed-rate mode; wrk2 is not packaged).
//           A request is timed from the first timer tick at or after its scheduled time, so
//           time spent waiting for a free connection counts (no coordinated omission) and the
//           client's own timer granularity does not.
//   closed: each connection sends its next request when the previous response completes, for
//           throughput when wrk is absent (a fallback: one node process cannot keep up with
//           the fastest proxies, so the results say so).
// Usage: node http-client.mjs '<json options>'   → prints one JSON line with the summary.
import { readFileSync } from "node:fs";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { ResponseReader } from "./response-reader.mjs";

const options = JSON.parse(process.argv[2]);
const {
  port,
  host = "127.0.0.1",
  path = "/",
  method = "GET",
  bodyBytes = 0,
  connections = 64,
  durationMs = 5000,
  close = false,
  mode = "closed",
  rate = 1000,
  warmupMs = 0,
  drainMs = 2000,
  hostHeader = `${host}:${port}`,
  bodyFile = null,
  headers = [],
} = options;

const body = bodyFile ? readFileSync(bodyFile) : Buffer.alloc(bodyBytes, "x");
const head =
  `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: polyvoy-bench\r\n` +
  headers.map((h) => `${h}\r\n`).join("") +
  (close ? "Connection: close\r\n" : "") +
  (body.length > 0 ? `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n` : "") +
  "\r\n";
const request = Buffer.concat([Buffer.from(head, "latin1"), body]);

const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
let completed = 0; // measured responses
let answered = 0; // all responses, warm-up included
let bytes = 0;
let latencies = new Float64Array(1 << 16);
let samples = 0;
function record(us) {
  if (samples === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[samples++] = us;
}

let stopped = false;
const t0 = performance.now();

/** One client connection; `onIdle` is called whenever it can take a request. */
class Conn {
  constructor(onIdle) {
    this.onIdle = onIdle;
    this.start = 0; // when the request in flight counts from
    this.busy = false;
    this.open();
  }
  open() {
    this.connected = false;
    this.reader = new ResponseReader((response) => this.done(response));
    const socket = net.connect({ port, host });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("connect", () => {
      this.connected = true;
      if (this.queued !== undefined) {
        const start = this.queued;
        this.queued = undefined;
        this.write(start);
      } else this.onIdle(this);
    });
    socket.on("data", (chunk) => {
      try {
        this.reader.feed(chunk);
      } catch {
        errors.read++;
        this.replace();
      }
    });
    socket.on("error", () => {
      if (!this.connected) errors.connect++; // mid-response failures are counted on close
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      if (this.busy && !this.reader.end()) errors.read++;
      if (this.busy) this.busy = false;
      this.socket = null;
      if (!stopped) setTimeout(() => !stopped && this.reopen(), this.connected ? 0 : 10);
    });
  }
  reopen() {
    this.open();
  }
  replace() {
    const old = this.socket;
    this.socket = null;
    this.busy = false;
    old?.destroy();
    if (!stopped) this.open();
  }
  /** Send a request that counts from `start` (ms, performance.now()); `measured` false for warm-up requests. */
  send(start, measured = true) {
    this.measured = measured;
    if (!this.socket) {
      this.queued = start;
      this.open();
    } else if (!this.connected) this.queued = start;
    else this.write(start);
  }
  write(start) {
    this.busy = true;
    this.start = start;
    this.socket.write(request);
  }
  done(response) {
    const now = performance.now();
    this.busy = false;
    if (response.status >= 400) errors.status++;
    answered++;
    if ((!stopped || mode === "rate") && this.measured) {
      completed++;
      bytes += response.bodyBytes;
      record((now - this.start) * 1000);
    }
    if (response.close || close) {
      const old = this.socket;
      this.socket = null;
      old?.destroy();
      if (!stopped) this.open();
      return;
    }
    this.onIdle(this);
  }
}

function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function finish(elapsedMs) {
  stopped = true;
  const sorted = latencies.slice(0, samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const summary = {
    requests: completed,
    duration_us: Math.round(elapsedMs * 1000),
    bytes,
    errors,
    latency_us: {
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      max: sorted.length ? sorted[sorted.length - 1] : 0,
      mean: sorted.length ? sum / sorted.length : 0,
    },
  };
  process.stdout.write(JSON.stringify(summary) + "\n", () => process.exit(0));
}

const conns = [];
if (mode === "closed") {
  for (let i = 0; i < connections; i++) conns.push(new Conn((conn) => !stopped && conn.send(performance.now())));
  setTimeout(() => {
    finish(performance.now() - t0);
    for (const conn of conns) conn.socket?.destroy();
  }, durationMs);
} else if (mode === "rate") {
  // Open loop: request i is due at start + i/rate; it waits in `queue` (with the time it was
  // first seen due) until a connection is idle. The first warmupMs are sent but not measured.
  const idle = [];
  const queue = [];
  const warmupCount = Math.floor((rate * warmupMs) / 1000);
  const total = warmupCount + Math.floor((rate * durationMs) / 1000);
  let issued = 0;
  let measuredFrom = 0;
  let lastDone = 0;
  const take = (conn) => {
    const item = queue.shift();
    conn.send(item.t, item.measured);
  };
  const onIdle = (conn) => {
    if (queue.length) take(conn);
    else idle.push(conn);
    if (issued === total && answered >= total && !lastDone) lastDone = performance.now();
  };
  for (let i = 0; i < connections; i++) conns.push(new Conn(onIdle));
  const start = performance.now();
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * rate) / 1000));
    while (issued < due) {
      if (issued === warmupCount) measuredFrom = now;
      queue.push({ t: now, measured: issued >= warmupCount });
      issued++;
    }
    while (queue.length && idle.length) take(idle.pop());
    if (issued < total) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  // bounded: stop at warm-up + duration + drain time at the latest
  const deadline = start + warmupMs + durationMs + drainMs;
  const check = setInterval(() => {
    const now = performance.now();
    if ((issued === total && answered >= total) || now > deadline) {
      clearInterval(check);
      errors.timeout += Math.max(0, total - answered);
      finish((lastDone || now) - (measuredFrom || start));
      for (const conn of conns) conn.socket?.destroy();
    }
  }, 20);
} else {
  throw new Error(`unknown mode ${mode}`);
}
