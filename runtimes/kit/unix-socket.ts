/**
 * Unix domain socket (Envoy's `Pipe`) addresses, shared by the node, bun and deno adapters.
 * Linux's abstract namespace is written `@name` in the config and the core (Envoy's friendly
 * name); the runtimes take it as the kernel does, a leading NUL byte — measured on node 20,
 * Bun 1.x and Deno 2: each listens on and connects to "\0name", and reports accepted Unix
 * peers without an address (so the adapters give them the listener's own, as Envoy's
 * peerAddress does with getsockname).
 */
import type { SocketAddress } from "../../core/port.ts";

/** The path a runtime binds or connects to: `@name` → "\0name" (abstract), any other as it is. */
export function runtimeSocketPath(address: string): string {
  return address.startsWith("@") ? `\0${address.slice(1)}` : address;
}

/** The address an accepted or connected Unix socket reports: the listener's (or target's) path. */
export function pipeAddress(address: string): SocketAddress {
  return { address, port: 0, family: "unix" };
}

/** What binding a Unix socket needs of the file system (node:fs, or Deno's own calls). */
export interface UnixSocketFiles {
  unlink(path: string): void;
  chmod(path: string, mode: number): void;
}

/**
 * Before the bind (Envoy's SocketImpl::bind, source/common/network/socket_impl.cc): a
 * filesystem path is unlinked, whatever is there; an error (no such file, a directory, no
 * permission) is ignored, and the bind reports what still stands in its way.
 */
export function unlinkBeforeBind(address: string, files: UnixSocketFiles): void {
  if (address.startsWith("@")) return;
  try {
    files.unlink(address);
  } catch {
    // Envoy ignores unlink's errors too: the bind's own error names the problem.
  }
}

/**
 * After the bind: a filesystem socket is chmod-ed to `mode` unless it is 0 (Envoy's
 * SocketImpl::bind); a failure is Envoy's "Failed to create socket with mode …" error.
 */
export function chmodAfterBind(address: string, mode: number, files: UnixSocketFiles): void {
  if (mode === 0 || address.startsWith("@")) return;
  try {
    files.chmod(address, mode);
  } catch (err) {
    throw new Error(`Failed to create socket with mode ${mode}: ${(err as Error).message ?? String(err)}`);
  }
}
