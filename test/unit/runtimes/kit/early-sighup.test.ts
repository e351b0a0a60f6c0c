/**
 * SIGHUP held from the first module on (runtimes/kit/early-sighup.ts): a SIGHUP before the
 * core asks for the signal ends nothing, and the core's first listener hears it once.
 */
import { expect, test } from "vitest";
import type { SignalName } from "../../../../core/port.ts";
import { holdEarlySighup, replayEarlySighup } from "../../../../runtimes/kit/early-sighup.ts";
import type { ProcessHost } from "../../../../runtimes/kit/process-host.ts";

test("a SIGHUP before the core listens is heard by its first listener, once; later ones are the core's own", async () => {
  const listeners = new Map<SignalName, (() => void)[]>();
  const host = {
    onSignal(signal: SignalName, callback: () => void) {
      listeners.set(signal, [...(listeners.get(signal) ?? []), callback]);
    },
  } as unknown as ProcessHost;
  const deliver = () => {
    for (const listener of listeners.get("SIGHUP") ?? []) listener();
  };
  holdEarlySighup(host);
  holdEarlySighup(host);
  expect(listeners.get("SIGHUP")).toHaveLength(1);
  deliver();
  deliver();
  // The core asks (the adapter's onSignal adds its listener, then replays).
  let heard = 0;
  const core = () => heard++;
  host.onSignal("SIGHUP", core);
  replayEarlySighup(core);
  expect(heard).toBe(0);
  await Promise.resolve();
  expect(heard).toBe(1);
  // A second listener hears no replay; a SIGHUP now reaches the core once.
  replayEarlySighup(() => heard++);
  deliver();
  await Promise.resolve();
  expect(heard).toBe(2);
});
