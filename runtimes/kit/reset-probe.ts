/**
 * Finds a peer's reset on sockets whose reads the adapter has stopped: the core disabled
 * reads and the one chunk read ahead came (held-reads.ts; deno-socket.ts's read loop),
 * so no read is pending. The port promises that a reset still closes a read-disabled
 * socket (port.ts, readDisable), but then nothing asks the kernel about it: node's libuv
 * drops a descriptor with neither a read nor a write pending from epoll (uv__io_stop), and
 * Deno has no read pending on the conn, so a tcp_proxy whose upstream does not read kept
 * both connections until its idle timeout. (Bun's paused socket stays polled, and epoll
 * reports EPOLLERR/EPOLLHUP whatever was asked.) Neither runtime can poll a socket without
 * reading it, so a socket held so is probed every second with a zero-length write: a
 * syscall that sends nothing, which the kernel fails on a reset connection (ECONNRESET,
 * then EPIPE), and the adapter closes the socket with that error.
 *
 * Envoy reads nothing either while reads are disabled on a half-close connection
 * (source/common/network/connection_impl.cc, readDisable: Write events only): its
 * descriptor stays in epoll, which reports the reset as an error event.
 */
export interface ResetProbed {
  /** Still held with no read pending, and a probe can be written; false drops it. */
  readonly probeWanted: boolean;
  /** Write zero bytes (not when other writes are pending: a pending write sees the reset). */
  probeReset(): void;
}

const PROBE_INTERVAL_MS = 1000;
const probed = new Set<ResetProbed>();
let timer: ReturnType<typeof setInterval> | undefined;

/** `socket` holds a chunk with no read pending: probe it until `probeWanted` turns false. */
export function watchForReset(socket: ResetProbed): void {
  probed.add(socket);
  if (timer !== undefined) return;
  // One timer for every socket held so, running only while there is one.
  timer = setInterval(probeAll, PROBE_INTERVAL_MS);
  // A probe must not keep a process alive that has nothing else to do.
  (timer as { unref?: () => void }).unref?.();
}

/**
 * At most this many probes a tick, so thousands of paused sockets cost no long stall: the
 * ones probed go to the back of the set, the next tick starts with the others.
 */
const MAX_PROBES_PER_TICK = 1024;

function probeAll(): void {
  const batch: ResetProbed[] = [];
  for (const socket of probed) {
    batch.push(socket);
    if (batch.length === MAX_PROBES_PER_TICK) break;
  }
  for (const socket of batch) {
    probed.delete(socket);
    if (!socket.probeWanted) continue;
    probed.add(socket);
    socket.probeReset();
  }
  if (probed.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}
