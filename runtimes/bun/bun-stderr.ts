/**
 * The proxy's log on Bun: write(2) on fd 2, as the Deno adapter writes Deno.stderr.
 * Bun builds `process.stderr` on first use as a Node stream (node:stream, the fs streams
 * and process.stdin and stdout with it), which costs some 25 ms of CPU at start-up; the
 * log needs none of it (docs/performance.md, "Start-up on bun and deno").
 *
 * Synchronous, as Node's and Bun's process.stderr are for pipes and files: a line is out
 * when write returns, so nothing is lost when the process exits right after. A stderr
 * that was left non-blocking (EAGAIN) is waited for, 1 ms at a time, for at most
 * STALL_LIMIT_MS; once a line is given up on, the next ones are not waited for (one try
 * each) until stderr takes a write again, so a pipe nobody reads cannot hold the proxy a
 * second per line. A line cut off is ended by the next one written. A stderr that is gone
 * (EPIPE, EBADF) loses the line, not the proxy.
 */
import { writeSync } from "node:fs";

const STALL_LIMIT_MS = 1000;
const encoder = new TextEncoder();
const pause = new Int32Array(new SharedArrayBuffer(4));
/** A line was given up on because stderr did not drain: do not wait for the next ones. */
let stalled = false;
/** The line given up on was cut: the next write starts with the newline it lacks. */
let cut = false;

export function writeStderr(line: string): void {
  const prefix = cut ? 1 : 0;
  const bytes = encoder.encode(cut ? `\n${line}` : line);
  const deadline = stalled ? 0 : Date.now() + STALL_LIMIT_MS;
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(2, bytes, at, bytes.length - at);
    } catch (err) {
      const blocked = (err as { code?: unknown }).code === "EAGAIN";
      if (!blocked || Date.now() >= deadline) {
        stalled = blocked;
        // Cut when part of the line itself went out; a newline still owed stays owed.
        cut = at > prefix || (prefix === 1 && at === 0);
        return;
      }
      Atomics.wait(pause, 0, 0, 1);
    }
  }
  stalled = false;
  cut = false;
}
