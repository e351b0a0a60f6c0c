/**
 * TcpKeepalive (ConnectOptions.keepalive) on runtimes whose sockets offer
 * `setKeepAlive(enable, initialDelayMs)` — node:net and Bun's sockets: SO_KEEPALIVE, and
 * TCP_KEEPIDLE when the delay is above 0 (0 leaves the kernel's idle time). Neither sets
 * TCP_KEEPCNT or TCP_KEEPINTVL, so keepalive_probes and keepalive_interval are refused.
 */
import type { TcpKeepaliveCapability, TcpKeepaliveOptions } from "../../core/port.ts";

export function idleTimeOnlyKeepalive(runtime: string): TcpKeepaliveCapability {
  const reason = `${runtime}'s socket.setKeepAlive sets only SO_KEEPALIVE and the idle time (keepalive_time), not the probe count or interval`;
  return { unsupported: (field) => (field === "keepalive_time" ? undefined : reason) };
}

/**
 * node:net's socket.setKeepAlive(`keepalive`) once the socket is connected: called before,
 * node 20 applies a 0 delay as a 60 s idle time (seen with ss -o) instead of the kernel's.
 */
export function keepAliveOnConnect(socket: { once(event: "connect", listener: () => void): unknown; setKeepAlive(enable?: boolean, initialDelay?: number): unknown }, keepalive: TcpKeepaliveOptions): void {
  socket.once("connect", () => socket.setKeepAlive(true, keepaliveInitialDelayMs(keepalive)));
}

/** The initialDelay setKeepAlive takes for `keepalive`: keepalive_time in ms, 0 when unset. */
export function keepaliveInitialDelayMs(keepalive: TcpKeepaliveOptions): number {
  return (keepalive.timeSec ?? 0) * 1000;
}
