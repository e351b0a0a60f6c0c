import { lookup } from "node:dns/promises";
import { readFile } from "node:fs/promises";
import type { Runtime } from "../../core/port.ts";

/**
 * The port's non-socket services through Node's APIs. Bun implements these node:
 * modules natively, so its adapter reuses this; none of it is on a proxy hot path.
 */
export const processServices: Omit<Runtime, "name" | "version" | "listen" | "connect"> = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  defer: (callback) => void setImmediate(callback),
  now: () => performance.now(),
  wallClock: () => Date.now(),
  async resolve(host) {
    const found = await lookup(host, { all: true });
    return found.map((entry) => entry.address);
  },
  readTextFile: (path) => readFile(path, "utf8"),
  onSignal(signal, callback) {
    process.on(signal, callback);
  },
  log: { write: (line) => void process.stderr.write(line) },
  exit: (code) => process.exit(code),
  memoryUsage: () => process.memoryUsage.rss(),
};
