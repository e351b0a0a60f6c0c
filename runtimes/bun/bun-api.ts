/**
 * The few Bun APIs the adapter uses, declared here rather than pulling in
 * `@types/bun`, whose globals clash with Deno's in one type-check.
 */
export interface BunSocketHandle {
  /** Writes what the kernel takes now (of `byteLength` bytes from `byteOffset`), copying nothing else; returns the count. */
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  shutdown(halfClose?: boolean): void;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: "IPv4" | "IPv6";
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: "IPv4" | "IPv6";
  data: unknown;
}

export interface BunSocketHandlers {
  binaryType: "uint8array";
  open(socket: BunSocketHandle): void;
  data(socket: BunSocketHandle, data: Uint8Array): void;
  end(socket: BunSocketHandle): void;
  drain(socket: BunSocketHandle): void;
  close(socket: BunSocketHandle, error?: Error): void;
  error(socket: BunSocketHandle, error: Error): void;
  connectError?(socket: BunSocketHandle, error: Error): void;
}

export interface BunGlobal {
  readonly version: string;
  /** A garbage collection; `true`: synchronous and full. */
  gc(force: boolean): void;
  /** Asks JavaScriptCore to shrink its heap (release free memory); absent in some versions. */
  shrink?(): void;
  listen(options: {
    hostname: string;
    port: number;
    exclusive: boolean;
    /** SO_REUSEPORT: other processes may bind the same address (worker processes, --concurrency). */
    reusePort?: boolean;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
  }): { readonly port: number; readonly hostname: string; stop(closeActiveConnections?: boolean): void };
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    data: unknown;
    socket: BunSocketHandlers;
  }): Promise<BunSocketHandle>;
}

export const Bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
