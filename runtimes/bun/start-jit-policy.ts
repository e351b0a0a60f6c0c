/**
 * JavaScriptCore's tier-up thresholds raised while the proxy starts, normal again once it
 * serves. Start-up runs nearly all of its code once or a few times (the bundle's module
 * top levels, reading and validating the config, building the listeners), yet with the
 * normal thresholds JavaScriptCore's baseline and optimizing JITs compiled that code on
 * the way, spending CPU on code that never runs again and keeping its machine code, its
 * compile-time metadata and the compilers' own pages of Bun's executable resident
 * (docs/performance.md, "Bun: JIT policy during start-up"). Bun.unsafe.setJITPolicy(scale)
 * multiplies the thresholds of this thread's VM by `scale` until the next call (Bun's
 * documented use: a `bun build --compile --compile-jit-policy` executable starts scaled
 * and sets 1 once interactive); a code block's counter takes the thresholds in force
 * when it next counts, so code that turns hot once the proxy serves tiers up as usual.
 *
 * Imported first by main.ts, so it is in force before the bundle's modules initialise.
 * A Bun without the call (older than 1.4) starts as before.
 */
import { Bun } from "./bun-api.ts";

/**
 * The scale while starting. Start-up code below ~500 × this many runs stays in the
 * interpreter; a start-up loop over a large config (thousands of routes or clusters)
 * still reaches the JIT within it.
 */
export const START_JIT_POLICY_SCALE = 100;

/**
 * The longest start-up with raised thresholds (ms after this module ran): when start-up
 * waits longer (a slow config source, listeners that are still binding), the proxy may
 * already serve traffic, which should not wait for its JIT.
 */
export const START_JIT_POLICY_MAX_MS = 2000;

const unsafe = Bun.unsafe;
let restoreTimer: ReturnType<typeof setTimeout> | undefined;

if (unsafe?.setJITPolicy !== undefined) {
  unsafe.setJITPolicy(START_JIT_POLICY_SCALE);
  restoreTimer = setTimeout(restoreJITPolicy, START_JIT_POLICY_MAX_MS);
  restoreTimer.unref();
}

/** The normal thresholds again (once start-up is over, or its time is up); idempotent. */
export function restoreJITPolicy(): void {
  if (restoreTimer === undefined) return;
  clearTimeout(restoreTimer);
  restoreTimer = undefined;
  unsafe!.setJITPolicy!(1);
}
