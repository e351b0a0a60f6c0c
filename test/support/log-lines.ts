import { existsSync, readFileSync } from "node:fs";

/** Lines of a log file once it has at least `n` (the logger flushes at least every second), or what it has after 5 s. */
export async function lines(path: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, "utf8") : "";
    const all = text.split("\n").filter(Boolean);
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
}
