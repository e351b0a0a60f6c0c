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
  /** SO_KEEPALIVE, and TCP_KEEPIDLE from `initialDelay` (ms) when above 0. */
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: "IPv4" | "IPv6";
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: "IPv4" | "IPv6";
  data: unknown;
  /**
   * TLS in Bun itself on this connected socket (BoringSSL under uSockets): `initialData`
   * is ciphertext already read from it. Returns the raw socket (its events still go to
   * this socket's handlers) and the TLS one (its events to `socket`); undefined when the
   * socket is gone. Handlers may run before it returns (a bad ClientHello in `initialData`).
   */
  upgradeTLS?(options: {
    data: unknown;
    tls: BunServerTlsOptions;
    socket: BunSocketHandlers;
    isServer: true;
    initialData?: Uint8Array;
  }): [BunSocketHandle, BunTlsSocketHandle] | undefined;
  /** Another set of handlers for this socket alone. */
  reload?(options: { socket: Partial<BunSocketHandlers> }): void;
}

/** Options of a server-side upgrade: a node:tls secure context's native half, as Bun's own tls.TLSSocket passes it. */
export interface BunServerTlsOptions {
  secureContext: unknown;
  /** ALPN protocols in wire format (RFC 7301 §3.1: each prefixed by its length). */
  ALPNProtocols?: Uint8Array;
  requestCert: boolean;
  rejectUnauthorized: false;
}

/** A socket carrying TLS in Bun: the plain socket's calls plus what the handshake agreed (the same calls Bun's tls.TLSSocket makes on its handle). */
export interface BunTlsSocketHandle extends BunSocketHandle {
  readonly alpnProtocol: string | false | null;
  getServername(): string | undefined;
  getTLSVersion(): string | null;
  getCipher(): { name?: string } | undefined;
  isSessionReused(): boolean;
  getPeerCertificate(abbreviated?: boolean): unknown;
  getCertificate(): unknown;
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
  /** TLS sockets: the handshake finished (`verifyError`: the peer chain's check, made but not enforced). */
  handshake?(socket: BunSocketHandle, success: boolean, verifyError: (Error & { code?: string }) | null): void;
  /** TLS server sockets: the client's SNI, before the certificate is chosen; a native secure context, or undefined for the default. */
  serverName?(server: unknown, serverName: string, socket: BunSocketHandle | undefined): unknown;
}

export interface BunGlobal {
  readonly version: string;
  /** A garbage collection; `true`: synchronous and full. */
  gc(force: boolean): void;
  /** Asks JavaScriptCore to shrink its heap (release free memory); absent in some versions. */
  shrink?(): void;
  /** Bun.unsafe.setJITPolicy (Bun ≥ 1.4): scales JavaScriptCore's tier-up thresholds for this thread's VM; 1 is the normal policy. */
  readonly unsafe?: { setJITPolicy?(scale: number): void };
  listen(options: {
    hostname: string;
    port: number;
    exclusive: boolean;
    /** SO_REUSEPORT: other processes may bind the same address (worker processes, --concurrency). */
    reusePort?: boolean;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
  }): { readonly port: number; readonly hostname: string; stop(closeActiveConnections?: boolean): void };
  /** A Unix domain socket listener ("\0name": Linux's abstract namespace). */
  listen(options: { unix: string; allowHalfOpen: boolean; socket: BunSocketHandlers }): { stop(closeActiveConnections?: boolean): void };
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    data: unknown;
    socket: BunSocketHandlers;
  }): Promise<BunSocketHandle>;
  connect(options: { unix: string; allowHalfOpen: boolean; data: unknown; socket: BunSocketHandlers }): Promise<BunSocketHandle>;
}

export const Bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;
