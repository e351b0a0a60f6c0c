#!/usr/bin/env node
// The idle keep-alive connections of the memory scenario: opens N connections to the proxy,
// at most `concurrency` at a time, each sends one GET and reads the response (so the proxy
// has parsed a request and used its upstream pool), then stays open and idle.
// Prints {"event":"ready",...} when all are open; on a "status" line on stdin prints how many
// are still open (the proxy may have closed some); exits on "close" or end of stdin.
// Usage: node idle-conns.mjs '{"port":…,"count":…,"concurrency":64,"path":"/64"}'
import net from "node:net";
import { createInterface } from "node:readline";
import { ResponseReader } from "./response-reader.mjs";

const { port, host = "127.0.0.1", count, concurrency = 64, path = "/64", timeoutMs = 60_000 } = JSON.parse(process.argv[2]);
const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: polyvoy-bench\r\n\r\n`, "latin1");

const sockets = new Set();
let started = 0;
let ready = 0;
let failed = 0;
let closedAfterReady = 0;
let inFlight = 0;
const t0 = Date.now();

function openOne() {
  started++;
  inFlight++;
  let done = false;
  const socket = net.connect({ port, host });
  const settle = (ok) => {
    if (done) return;
    done = true;
    inFlight--;
    if (ok) ready++;
    else {
      failed++;
      socket.destroy();
    }
    next();
  };
  const reader = new ResponseReader((response) => settle(response.status === 200));
  socket.setNoDelay(true);
  socket.on("connect", () => socket.write(request));
  socket.on("data", (chunk) => {
    try {
      reader.feed(chunk);
    } catch {
      settle(false);
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    sockets.delete(socket);
    if (done) closedAfterReady++;
    else settle(false);
  });
  sockets.add(socket);
}

function next() {
  while (inFlight < concurrency && started < count) openOne();
  if (inFlight === 0 && started === count) {
    clearTimeout(timer);
    report("ready");
  }
}

function report(event) {
  process.stdout.write(
    JSON.stringify({ event, requested: count, ready, failed, open: sockets.size, closedAfterReady, ms: Date.now() - t0 }) + "\n",
  );
}

// bounded: give up after timeoutMs
const timer = setTimeout(() => {
  report("timeout");
  process.exit(1);
}, timeoutMs);

createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (line.trim() === "status") report("status");
    if (line.trim() === "close") shutdown();
  })
  .on("close", shutdown);

function shutdown() {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
}

next();
