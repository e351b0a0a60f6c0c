/**
 * The proxy's log on Bun: write(2) on fd 2, as the Deno adapter writes Deno.stderr.
 * Bun builds `process.stderr` on first use as a Node stream (node:stream, the fs streams
 * and process.stdin and stdout with it), which costs some 25 ms of CPU at start-up; the
 * log needs none of it (docs/performance.md, "Start-up on bun and deno").
 *
 * Synchronous, as Node's and Bun's process.stderr are for pipes and files: a line is out
 * when write returns, so nothing is lost when the process exits right after. A stderr
 * that was left non-blocking (EAGAIN) is waited for, 1 ms at a time, for at most
 * STALL_LIMIT_MS per line; a stderr that is gone (EPIPE, EBADF) loses the line, not the
 * proxy.
 */
import { writeSync } from "node:fs";

const STALL_LIMIT_MS = 1000;
const encoder = new TextEncoder();
const pause = new Int32Array(new SharedArrayBuffer(4));

export function writeStderr(line: string): void {
  const bytes = encoder.encode(line);
  let stalledMs = 0;
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(2, bytes, at, bytes.length - at);
    } catch (err) {
      if ((err as { code?: unknown }).code !== "EAGAIN" || stalledMs >= STALL_LIMIT_MS) return;
      Atomics.wait(pause, 0, 0, 1);
      stalledMs++;
    }
  }
}
