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
  rename(from: string, to: string): void;
}

/** sockaddr_un's sun_path holds 108 bytes with the NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
let bindCount = 0;

/**
 * Where a filesystem socket is bound before it is moved onto its path (placeBoundSocket): a
 * name of its own in the same directory. Node and Bun unlink the name a listener was bound
 * to when it closes; bound under another name and renamed, that unlink removes nothing — not
 * the socket of a process that has taken the path since (Envoy never unlinks at close). The
 * path itself when the other name would not fit sun_path, or for an abstract socket.
 */
export function bindPathFor(address: string): string {
  if (address.startsWith("@")) return runtimeSocketPath(address);
  const dir = address.slice(0, address.lastIndexOf("/") + 1);
  const temporary = `${dir}.polyvoy-${Math.random().toString(36).slice(2, 10)}-${++bindCount}.sock`;
  return new TextEncoder().encode(temporary).length <= MAX_SOCKET_PATH_BYTES ? temporary : address;
}

/**
 * After binding at `bound` (bindPathFor): chmod (chmodAfterBind), then the rename onto the
 * path, which replaces whatever is there as Envoy's unlink before its bind does (a directory
 * stays and fails the bind, as there). When `bound` is the path itself it was unlinked before
 * (unlinkBeforeBind). On failure the bound name is removed and the error thrown.
 */
export function placeBoundSocket(bound: string, address: string, mode: number, files: UnixSocketFiles): void {
  if (address.startsWith("@")) return;
  try {
    chmodAfterBind(bound, mode, files);
    if (bound !== address) files.rename(bound, address);
  } catch (err) {
    try {
      if (bound !== address) files.unlink(bound);
    } catch {
      // Gone already: nothing to clean.
    }
    const message = (err as Error).message ?? String(err);
    throw new Error(message.startsWith("Failed to create socket") ? message : `cannot bind ${address}: ${message}`);
  }
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
function chmodAfterBind(address: string, mode: number, files: UnixSocketFiles): void {
  if (mode === 0 || address.startsWith("@")) return;
  try {
    files.chmod(address, mode);
  } catch (err) {
    throw new Error(`Failed to create socket with mode ${mode}: ${(err as Error).message ?? String(err)}`);
  }
}
