import type { TimerHandle } from "../../core/port.ts";

/** The longest wait node, bun and deno take: a longer setTimeout fires after 1 ms (node's TimeoutOverflowWarning). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A wait longer than MAX_TIMEOUT_MS, made of steps. */
class LongTimeout {
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The port's setTimeout for any `ms`: a dns_refresh_rate, a DNS TTL (up to 2^31-1 s,
 * RFC 2181 §8) or any other protobuf duration can be longer than a runtime timer takes,
 * and such a timer would fire at once (a DNS cluster then resolved without pause).
 * Envoy's libevent timers take any duration.
 */
export function setLongTimeout(callback: () => void, ms: number): TimerHandle {
  if (!(ms > MAX_TIMEOUT_MS)) return setTimeout(callback, ms);
  const long = new LongTimeout();
  const deadline = performance.now() + ms;
  const step = (): void => {
    const left = deadline - performance.now();
    long.timer = left > MAX_TIMEOUT_MS ? setTimeout(step, MAX_TIMEOUT_MS) : setTimeout(callback, Math.max(0, left));
  };
  step();
  return long;
}

export function clearLongTimeout(handle: TimerHandle): void {
  clearTimeout((handle instanceof LongTimeout ? handle.timer : handle) as ReturnType<typeof setTimeout>);
}
