/**
 * JavaScriptCore's JIT while the proxy starts. Most of what runs before the listeners
 * serve runs once (the modules' top level, the config's check), yet the JIT compiles the
 * functions that loop in it (zod's and the config's internals, the regex tables) on its
 * compiler thread, which the bench's start-up scenario pins to the proxy's one core. With
 * the tier-up thresholds scaled by START_JIT_POLICY until the listeners serve, a start on
 * Bun 1.4.5 takes ~30–50 ms less CPU and its idle RSS ~4.5 MiB less (less machine code).
 * ×100 rather than ×10: as fast to listen, ~2 MiB less idle, and a large config (3,000
 * routes, 500 clusters) starts no slower; ×1000 leaves its check's loops interpreted too
 * long (docs/performance.md, "Start-up on bun: no JIT for run-once code" and "Bun: JIT
 * policy during start-up"). Bun documents the call for this use: a scale > 1 during a
 * burst of run-once start-up code, `setJITPolicy(1)` once interactive (bun.d.ts,
 * `Bun.unsafe.setJITPolicy`; `bun build --compile-jit-policy` is the same for executables).
 *
 * A loop that runs often enough still tiers up (100× the usual count): a large config's
 * check is not left in the interpreter.
 *
 * Imported by runtimes/bun/main.ts right after the process guards, before the core's
 * modules load: importing this module applies the start-up policy.
 */
import { Bun } from "./bun-api.ts";

export const START_JIT_POLICY = 100;

/**
 * The longest the start-up policy holds: runMain does not return in a --concurrency
 * supervisor (it supervises until exit), nor while a start waits long (a large config on a
 * loaded machine); past this the process runs with the normal policy whatever it does.
 */
export const START_JIT_POLICY_MAX_MS = 2000;

// Thresholds ×START_JIT_POLICY from here; a Bun without the call is left as it is.
Bun.unsafe?.setJITPolicy?.(START_JIT_POLICY);
const fallback = setTimeout(servingJitPolicy, START_JIT_POLICY_MAX_MS);
fallback.unref();

/**
 * The normal policy again: the proxy serves, and what runs per request should compile. A
 * scale above 1 here only delays the request path's compiles (it is hot enough to reach
 * every tier anyway) at a cost in CPU: docs/performance.md, "Bun under get-64c: a JIT
 * policy above 1 while serving".
 */
export function servingJitPolicy(): void {
  clearTimeout(fallback);
  // Never fatal: a later Bun that throws here must not end a proxy that already serves.
  try {
    Bun.unsafe?.setJITPolicy?.(1);
  } catch {}
}
