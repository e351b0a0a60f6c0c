/**
 * One full garbage collection once the proxy has started, on Deno. Loading and validating
 * the config grows V8's young generation to ~7 MiB, and V8 keeps it that size while the
 * proxy idles: collecting once gives it back (idle RSS ~5 MiB lower, docs/performance.md,
 * "Start-up on bun and deno"). Deno exposes no gc() unless started with
 * `--v8-flags=--expose-gc`, so the flag is set for the moment a new context is made
 * (V8 installs `gc` in contexts created while it is on) and unset again at once. Later
 * requests are unaffected: their garbage is young and collected as before. node:v8 and
 * node:vm are imported then, not at start (runtimes/README.md, "Deno: no node: module on
 * the start path").
 */

/** After `delayMs`, without keeping the process alive. */
export function collectOnceAfterStart(delayMs: number, unrefTimer: (id: number) => void): void {
  // A collection that cannot run (no node:vm, a flag refused) only leaves the memory as it is.
  const id = setTimeout(() => collectNow().catch(() => {}), delayMs) as unknown as number;
  unrefTimer(id);
}

async function collectNow(): Promise<void> {
  const [v8, vm] = await Promise.all([import("node:v8"), import("node:vm")]);
  const exposed = typeof (globalThis as { gc?: unknown }).gc === "function";
  let gc: (() => void) | undefined = exposed ? (globalThis as unknown as { gc(): void }).gc : undefined;
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    try {
      gc = vm.runInNewContext("gc") as () => void;
    } finally {
      v8.setFlagsFromString("--no-expose-gc");
    }
  }
  gc();
}
