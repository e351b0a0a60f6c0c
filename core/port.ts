/**
 * The port: the only contract between polyvoy's runtime-neutral core and a runtime.
 *
 * Everything the core needs from the outside world (sockets, timers, clock, randomness,
 * DNS, files, signals, logging, exit) is asked for through these interfaces. Each
 * runtime implements them in one thin adapter under `runtimes/`; `runtimes/README.md`
 * explains how to write another. The core never asks which runtime it is on: what
 * differs between runtimes is a capability an adapter declares here.
 *
 * Sockets are callback-style, not WHATWG streams: a stream costs allocations per chunk
 * on some runtimes, and a proxy moves many chunks.
 */
import type { Compression } from "./port-compression.ts";

export type * from "./port-compression.ts";

/**
 * An endpoint: an IP one (`family` 4 or 6), or a Unix domain socket (`family` "unix",
 * Envoy's Address::Type::Pipe): then `address` is its path, an abstract one (Linux) written
 * as Envoy's friendly name does, `@name`, and `port` is 0.
 */
export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6 | "unix";
}

/**
 * A Unix domain socket to listen on (envoy.config.core.v3.Pipe): ListenOptions.address is
 * its path, `@name` for one in Linux's abstract namespace. As Envoy's SocketImpl::bind
 * (source/common/network/socket_impl.cc): a filesystem path is unlinked before the bind
 * (whatever is there; a failure to unlink is left to the bind to report), and after it
 * chmod-ed to `mode` when `mode` is not 0. A socket accepted on it reports the listener's
 * path as both its local and its remote address (Envoy's peerAddress: an unnamed Unix peer
 * is given the socket's own name, getsockname).
 */
export interface PipeListenOptions {
  /** File permission bits (0 to 0o777); 0 leaves what the bind made (the umask's). */
  readonly mode: number;
}

/** Why a socket closed, as seen by the adapter. */
export type CloseReason =
  /** We closed it (close/reset called locally). */
  | "local"
  /** The peer closed both directions (FIN after our end, or FIN with no half-open use). */
  | "remote"
  /** The connection broke: ECONNRESET, EPIPE, … (the `error` argument says which). */
  | "error";

/**
 * The events a socket delivers. Set once with `Socket.setHandler` before the first
 * event can fire (synchronously in `onAccept` or right after `connect`).
 */
export interface SocketHandler {
  /**
   * An outbound connection was established (a TLS one: its handshake done and accepted).
   * On a socket from `TlsCapability.accept`: the handshake is done and accepted, before
   * any data. Never called for other accepted sockets.
   */
  onConnect(): void;
  /**
   * Bytes arrived. `data` is lent for this call only: once it returns, the adapter may
   * read the next bytes into the same memory (adapters may read into reused buffers, as
   * nginx reads into its proxy_buffers: fresh memory for every read can cost a third of
   * the CPU on large responses). A receiver that keeps bytes past the
   * call keeps a copy (`keepBytes` in core/util/bytes.ts); passing them to a `write` of
   * this runtime during the call is not keeping them (see `Socket.write`).
   */
  onData(data: Uint8Array): void;
  /** The peer half-closed (FIN): no more data will come; we may still write. */
  onEnd(): void;
  /**
   * The write queue emptied after `write` left bytes buffered (bufferedAmount > 0).
   * The core uses it to fall below its low watermark.
   */
  onDrain(): void;
  /**
   * The socket is gone, after which no other event fires. For an outbound socket that
   * never connected, `error` describes the connect failure (ECONNREFUSED, …).
   */
  onClose(reason: CloseReason, error?: PortError): void;
}

/** An error reported by the runtime, with the errno-style code when there is one. */
export interface PortError {
  readonly code: string;
  readonly message: string;
}

/**
 * A TCP connection, accepted or outbound. Sockets start with TCP_NODELAY set, as
 * Envoy's connections do (a proxy writes heads and bodies separately; Nagle would delay
 * the second write by the peer's delayed ACK).
 */
export interface Socket {
  setHandler(handler: SocketHandler): void;
  /**
   * Queue bytes for sending. Never drops data, whatever the runtime's partial-write
   * behaviour: what the kernel does not take now stays queued in the adapter.
   * The socket takes ownership of `data`; the caller must not mutate it afterwards.
   * `data` may be bytes this runtime lent to an `onData` that is still running: an
   * adapter that lends keeps what it queues of them intact (the next read goes elsewhere,
   * or it copies them). Writes after `end`/`close`/`reset` are ignored.
   */
  write(data: Uint8Array): void;
  /**
   * Optional: as `write`, for the `length` bytes of `data` from `offset`, which the
   * caller reuses as soon as this returns — the socket copies whatever it keeps. An
   * adapter offers it where its runtime's write takes the bytes synchronously anyway,
   * so a connection can encode heads and join small pieces in one reused buffer
   * instead of a new array per write (allocations a collector then pays for;
   * event-arena.ts). The conformance suite checks the copy.
   */
  writeCopying?(data: Uint8Array, offset: number, length: number): void;
  /**
   * Optional: as `write` for each of `chunks`, in order, handed to the kernel together
   * where the runtime can gather them (node: one writev(2) for a corked burst). A
   * connection flushes an event's writes through it when they are several and large: an
   * HTTP/2 DATA frame is a 9-byte header and its payload, so 64 KiB of body would
   * otherwise be eight system calls. The socket takes ownership of every chunk, as `write`.
   */
  writev?(chunks: readonly Uint8Array[]): void;
  /** Bytes accepted by `write` and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /**
   * Counted read disabling, as Envoy's `Network::Connection::readDisable`: each
   * `readDisable(true)` needs a matching `readDisable(false)` before reading resumes.
   * While disabled no `onData` fires and the kernel's receive window fills, pushing
   * back on the peer. The peer's reset still closes the socket (`onClose`), and its FIN
   * still fires `onEnd` when no bytes wait before it, as Envoy's connection watches for
   * the peer's close while reads are disabled (Network::ConnectionImpl::readDisable): an
   * adapter may read one chunk ahead to see them, and holds that chunk (and a FIN
   * behind it) until reading is enabled.
   */
  readDisable(disable: boolean): void;
  /** True while reading is disabled (the count is above zero). */
  readonly readDisabled: boolean;
  /** Half-close: send FIN once the write queue has flushed. Reading goes on. */
  end(): void;
  /** Close both directions once the write queue has flushed. `onClose("local")` follows. */
  close(): void;
  /** Abortive close (RST where the runtime allows it): drop queued data, close now. */
  reset(): void;
  setNoDelay(noDelay: boolean): void;
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  /**
   * Set on a socket made by the runtime's TLS (`Runtime.tls`): what its handshake agreed,
   * once it is done (Envoy's `Connection::ssl()`); undefined on plain sockets.
   */
  readonly tls?: TlsSession | undefined;
}

// ---- TLS -------------------------------------------------------------------------------

export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

/** A certificate chain and its private key, PEM text. */
export interface TlsCertificate {
  readonly certificateChain: string;
  readonly privateKey: string;
  /** The private key's passphrase, when it is encrypted. */
  readonly password?: string;
  /**
   * A DER OCSP response for the certificate (ocsp_staple). The core decides, handshake by
   * handshake, whether it is stapled (TlsHandshakeCallbacks.onOcspRequest); a runtime
   * that cannot staple throws when one is given.
   */
  readonly ocspStaple?: Uint8Array;
}

/**
 * Envoy's TlsParameters. An absent cipher or curve list is Envoy's default list
 * (core/tls/tls-config.ts) on a runtime whose TLS takes lists, else the runtime's own.
 */
export interface TlsParams {
  readonly minVersion?: TlsVersion;
  readonly maxVersion?: TlsVersion;
  /** OpenSSL-style cipher names (TLS 1.2 and below), e.g. ECDHE-RSA-AES128-GCM-SHA256. */
  readonly cipherSuites?: readonly string[];
  /** Groups for key exchange, e.g. X25519, P-256. */
  readonly ecdhCurves?: readonly string[];
}

/** What a TLS server (the downstream side of a filter chain) is made of. */
export interface TlsServerOptions {
  /** One or more; the first is the default, the others are chosen by the client's SNI. */
  readonly certificates: readonly TlsCertificate[];
  /** Offered in preference order (ALPN, RFC 7301); empty: no ALPN. */
  readonly alpnProtocols: readonly string[];
  readonly params: TlsParams;
  /** Ask the client for a certificate (it is asked for whenever `trustedCa` is set, too). */
  readonly requestClientCertificate: boolean;
  /**
   * allow_expired_certificate: the core lets an expired peer certificate through, so
   * `peerVerifyError` must tell expiry apart (CERT_HAS_EXPIRED, CERT_NOT_YET_VALID); a
   * runtime that cannot throws.
   */
  readonly allowExpiredCertificate?: boolean;
  /**
   * PEM CA certificates a client certificate is checked against (the result is
   * `TlsSession.peerVerifyError`). Absent: a client certificate is not checked.
   */
  readonly trustedCa?: string;
  /**
   * PEM certificate revocation lists: every certificate of the client's chain is checked
   * against them (a revoked one or one whose issuer has no CRL fails the chain check,
   * CERT_REVOKED / UNABLE_TO_GET_CRL). A runtime that cannot throws.
   */
  readonly crl?: string;
  /** Session resumption (Envoy's DownstreamTlsContext session settings). Absent: the runtime's defaults (tickets with keys of its own). */
  readonly session?: TlsServerSessionOptions;
}

/** How a TLS server resumes sessions. */
export interface TlsServerSessionOptions {
  /**
   * session_ticket_keys: Envoy's 80-byte keys (16-byte name, 32-byte HMAC secret, 32-byte
   * AES key), the first encrypting new tickets. A runtime that cannot use them throws.
   */
  readonly ticketKeys?: readonly Uint8Array[];
  /** disable_stateless_session_resumption: no session tickets are issued. */
  readonly disableStateless?: boolean;
  /** disable_stateful_session_resumption: no session-ID cache. */
  readonly disableStateful?: boolean;
  /** session_timeout in whole seconds: how long a session may be resumed (the ticket lifetime hint). */
  readonly timeoutSeconds?: number;
}

/** What a TLS client (a cluster's upstream connections) is made of. */
export interface TlsClientOptions {
  /** Presented when the server asks for one. */
  readonly certificate?: TlsCertificate;
  /** As TlsServerOptions.allowExpiredCertificate. */
  readonly allowExpiredCertificate?: boolean;
  readonly alpnProtocols: readonly string[];
  readonly params: TlsParams;
  /**
   * PEM CA certificates the server's chain is checked against (the result is
   * `TlsSession.peerVerifyError`). Absent: the server's certificate is not checked, as
   * Envoy without a validation_context.
   */
  readonly trustedCa?: string;
  /** As TlsServerOptions.crl, for the server's chain. */
  readonly crl?: string;
  /**
   * max_session_keys: how many sessions the context keeps to resume later connections
   * with (the newest one for the same SNI is offered). 0 or absent: no resumption.
   */
  readonly maxSessionKeys?: number;
}

/** A peer's certificate, as the access log and SAN checks need it. */
export interface TlsPeerCertificate {
  /** The subject, RFC 2253 style (`CN=client1,O=Example`), as Envoy's %DOWNSTREAM_PEER_SUBJECT%. */
  readonly subject: string;
  readonly subjectAltNames: readonly TlsSubjectAltName[];
  /** SHA-256 of the DER certificate, lowercase hex without separators. */
  readonly sha256: string;
  /** SHA-256 of its SubjectPublicKeyInfo, base64 (verify_certificate_spki); adapters may compute it on first read. */
  readonly spkiSha256: string;
  /** The certificate as PEM (x-forwarded-client-cert's Cert); adapters may compute it on first read. */
  readonly pem: string;
  /**
   * The peer's chain as PEM, its certificate first, then the issuers the runtime
   * reports, a self-signed root left out (x-forwarded-client-cert's Chain); computed on first read.
   */
  readonly chainPem: string;
}

export interface TlsSubjectAltName {
  readonly type: "DNS" | "URI" | "EMAIL" | "IP_ADDRESS";
  readonly value: string;
}

/** What a finished TLS handshake agreed. */
export interface TlsSession {
  /** `TLSv1.3`, `TLSv1.2`, … */
  readonly version: string;
  /** The cipher's OpenSSL name (`TLS_AES_128_GCM_SHA256`, `ECDHE-RSA-AES128-GCM-SHA256`). */
  readonly cipher: string;
  /** The ALPN protocol agreed, if any. */
  readonly alpn: string | undefined;
  /** The SNI the client sent (server side) or the one we sent (client side). */
  readonly serverName: string | undefined;
  readonly peerCertificate: TlsPeerCertificate | undefined;
  /** The first URI SAN of the certificate this side presented (x-forwarded-client-cert's By), if any; computed on first read. */
  readonly localUriSan: string | undefined;
  /**
   * Why the peer's certificate did not verify against `trustedCa` (an OpenSSL code such
   * as UNABLE_TO_GET_ISSUER_CERT), or undefined when it did, or when there was nothing
   * to check (no trustedCa, or no certificate presented).
   */
  readonly peerVerifyError: string | undefined;
  readonly sessionReused: boolean;
  /**
   * The key-exchange group agreed, in BoringSSL's names (`X25519`, `P-256`), for Envoy's
   * `ssl.curves.<name>`; undefined when the runtime's TLS does not tell (some report it on
   * the client side only, some not at all: see the adapters).
   */
  readonly curve?: string;
}

/**
 * A TLS socket's handshake outcome, told before any application data is delivered.
 * Set per context (one per filter chain or cluster), not per connection.
 */
export interface TlsHandshakeCallbacks {
  /**
   * The handshake finished. Returning false refuses the peer (a certificate check the
   * core makes: SANs, a required client certificate): the socket then closes with a
   * TLS error and delivers nothing. The socket's `tls` is set when this is called.
   */
  onHandshake(session: TlsSession): boolean;
  /** The handshake failed (the socket then closes with `error`). */
  onHandshakeError(error: PortError): void;
  /**
   * Server side, during the handshake, when the client asked for the certificate's status
   * (the status_request extension, RFC 6066 §8) and the runtime can staple: what to do for
   * `certificate` (an index into TlsServerOptions.certificates, the one chosen): staple
   * these bytes, staple nothing ("none"), or fail the handshake ("fail"). Envoy's
   * ocspStapleAction. Absent: nothing is ever stapled.
   */
  onOcspRequest?(certificate: number): Uint8Array | "none" | "fail";
}

/** A context the runtime built from TlsServerOptions or TlsClientOptions (opaque to the core). */
export interface TlsContext {
  readonly side: "server" | "client";
}

/**
 * TLS with the runtime's own TLS library, as a capability of the port (Runtime.tls).
 * A TLS socket is a port Socket: bytes in and out are plaintext, and every Socket
 * promise holds (write never drops, counted readDisable, half-close, drain).
 */
export interface TlsCapability {
  /**
   * Build a server context. Throws an Error whose message says what is wrong (a key
   * that does not match, PEM that does not parse, a cipher the library does not know)
   * or what this runtime cannot do with the options.
   */
  serverContext(options: TlsServerOptions, callbacks: TlsHandshakeCallbacks): TlsContext;
  /** Build a client context; throws as serverContext. */
  clientContext(options: TlsClientOptions, callbacks: TlsHandshakeCallbacks): TlsContext;
  /**
   * Terminate TLS on an accepted socket: the returned socket carries the plaintext.
   * `peeked` are bytes a listener filter already read from `socket`: the handshake
   * sees them first, then what the socket reads.
   */
  accept(socket: Socket, context: TlsContext, peeked: Uint8Array | undefined): Socket;
  /**
   * Connect and start TLS (sending `serverName` as SNI when given). `onConnect` fires
   * once the handshake is done and accepted; a failed handshake closes with an error.
   */
  connect(options: ConnectOptions, context: TlsContext, serverName: string | undefined): Socket;
  /**
   * Optional: what the first certificate of `pem` says (the admin's /certs). Throws when
   * it is not a PEM certificate. Without it, /certs lists paths only.
   */
  describeCertificate?(pem: string): CertificateInfo;
}

/** A certificate's details, as the admin's /certs shows them (Envoy's CertificateDetails). */
export interface CertificateInfo {
  /** Lowercase hex, as Envoy prints it. */
  readonly serialNumber: string;
  readonly subjectAltNames: readonly TlsSubjectAltName[];
  /** notBefore and notAfter, wall-clock ms since the epoch. */
  readonly validFrom: number;
  readonly expiration: number;
}

export interface ListenOptions {
  /** An IP literal, or with `pipe` the Unix socket's path. */
  readonly address: string;
  /** 0 with `pipe`. */
  readonly port: number;
  /** Set: listen on the Unix domain socket at `address` (PipeListenOptions). */
  readonly pipe?: PipeListenOptions;
  /**
   * Other worker processes of this proxy listen on the same address (--concurrency):
   * bind with SO_REUSEPORT, or the runtime's own sharing (node:cluster). Unset: the
   * address is this process's alone, and a second bind fails with EADDRINUSE.
   */
  readonly shared?: boolean;
}

// ---- UDP ----------------------------------------------------------------------------

/** The events of a bound UDP socket (DatagramCapability.bind). */
export interface DatagramHandler {
  /**
   * A datagram arrived from `from`. `data` is lent for this call only, as `onData`'s
   * bytes are: a receiver that keeps it keeps a copy. A datagram longer than the bind's
   * `maxDatagramSize` arrives cut to it with `truncated` set (recvmsg's MSG_TRUNC), where
   * the runtime reads into a buffer of that size; adapters whose runtime reads whole
   * datagrams cut them themselves.
   */
  onMessage(data: Uint8Array, from: SocketAddress, truncated: boolean): void;
  /** An error the socket reported after binding (ICMP port unreachable, …); the socket stays open. */
  onError(error: PortError): void;
  /**
   * A datagram `send` accepted failed later (EMSGSIZE, ENETUNREACH, …), reported apart from
   * `onError` so that a sender counts it as a transmit error (Envoy's *_tx_errors), not a
   * receive one. The socket stays open.
   */
  onSendError?(error: PortError): void;
}

/** What DatagramCapability.bind is asked for. */
export interface DatagramBindOptions {
  readonly address: string;
  /** 0: a port the system chooses. */
  readonly port: number;
  /** As ListenOptions.shared: worker processes bind the same address (--concurrency). */
  readonly shared?: boolean;
  /** The largest datagram read whole (Envoy's max_rx_datagram_size, default 1500). */
  readonly maxDatagramSize: number;
}

/** A bound UDP socket. */
export interface DatagramSocket {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress;
  /**
   * Send one datagram to `to`. Returns false when it was dropped at once: more than
   * `DATAGRAM_SEND_QUEUE_LIMIT` datagrams wait in the runtime's send queue (UDP is
   * lossy; a bounded queue drops, as a full kernel buffer does), or the socket is closed.
   * Later failures reach the handler's `onSendError`. The socket takes ownership of `data`
   * (it may send it after the call): the caller must not change it after, and bytes lent by
   * `onMessage` are copied before they are handed on.
   */
  send(data: Uint8Array, to: { readonly address: string; readonly port: number }): boolean;
  /** Close it; no event fires after. */
  close(): void;
}

/** How many datagrams an adapter lets wait in its runtime's send queue before `send` drops. */
export const DATAGRAM_SEND_QUEUE_LIMIT = 1024;

/** Optional: UDP sockets, for UDP listeners (udp_proxy). Without it a UDP listener is refused at start. */
export interface DatagramCapability {
  /**
   * Bind a UDP socket. Resolves once bound; rejects with a PortError (EADDRINUSE, …).
   * With `shared` on a runtime whose UDP sockets cannot be shared by worker processes,
   * rejects naming `sharedUnsupported`.
   */
  bind(options: DatagramBindOptions, handler: DatagramHandler): Promise<DatagramSocket>;
  /** Why worker processes cannot share a UDP socket on this runtime; undefined where they can. */
  readonly sharedUnsupported?: string;
}

/** A bound, listening TCP socket. */
export interface Listener {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: SocketAddress;
  /** Stop accepting. Connections already accepted are not touched. */
  close(): void;
}

export interface ConnectOptions {
  /** An IP literal, or with `pipe` the Unix socket's path (`@name`: an abstract one). */
  readonly address: string;
  /** 0 with `pipe`. */
  readonly port: number;
  /** Connect to the Unix domain socket at `address`; its socket's addresses are that path (family "unix"). */
  readonly pipe?: boolean;
  /**
   * SO_KEEPALIVE on the connection once it is made (a cluster's
   * upstream_connection_options.tcp_keepalive), with the settings given; TCP only. A
   * runtime applies only what its `tcpKeepalive` capability says it can: the config
   * refuses the rest before a connection is made.
   */
  readonly keepalive?: TcpKeepaliveOptions;
}

/**
 * envoy.config.core.v3.TcpKeepalive as a connection applies it: SO_KEEPALIVE, and each
 * setting given (Envoy sets each one it has as a socket option); an unset one stays the
 * kernel's (net.ipv4.tcp_keepalive_*).
 */
export interface TcpKeepaliveOptions {
  /** keepalive_probes: TCP_KEEPCNT. */
  readonly probes?: number;
  /** keepalive_time in seconds: TCP_KEEPIDLE, the idle time before the first probe. */
  readonly timeSec?: number;
  /** keepalive_interval in seconds: TCP_KEEPINTVL. */
  readonly intervalSec?: number;
}

/** The TcpKeepalive fields by their Envoy names. */
export type TcpKeepaliveField = "keepalive_probes" | "keepalive_time" | "keepalive_interval";

/** What a runtime's connections can do of TcpKeepalive: SO_KEEPALIVE always, the settings as `unsupported` says. */
export interface TcpKeepaliveCapability {
  /** Why this runtime cannot set `field`; undefined where it can. */
  unsupported(field: TcpKeepaliveField): string | undefined;
}

/** Which address families a resolution asks for. */
export type ResolveFamily = "v4" | "v6" | "all";

export interface ResolveOptions {
  /** Also find each address's DNS TTL (an extra DNS query on some runtimes). */
  readonly ttl?: boolean;
}

/** One address a name resolved to. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
  /** The DNS record's TTL, when asked for and the runtime can tell it. */
  readonly ttlSeconds?: number;
}

/** An opaque timer handle. */
export type TimerHandle = unknown;

/**
 * Signals the core reacts to: SIGTERM and SIGINT stop the server, SIGUSR1 reopens the
 * access-log files, SIGHUP is logged and otherwise ignored (as Envoy does). Once the core
 * asks for a signal the adapter must keep the runtime's default action (exit, or a
 * debugger opening) from happening.
 */
export type SignalName = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR1";

/** Where log lines go (the adapter writes them to stderr). */
export interface LogSink {
  write(line: string): void;
}

/** One entry of a directory (Runtime.readDirectory). */
export interface DirectoryEntry {
  readonly name: string;
  readonly type: "file" | "directory" | "other";
}

/**
 * A file opened for appending (access logs). Writes never block the event loop: each
 * is queued behind the ones before and done asynchronously, in order, never
 * interleaved with one another (a short write is completed before the next starts).
 */
export interface AppendFile {
  /** The path it was opened with. */
  readonly path: string;
  /**
   * Append `data` after everything written before. Returns at once; the promise
   * resolves once every byte is handed to the OS and rejects with a PortError
   * (ENOSPC, EPIPE, EBADF after close, …) if they could not be. The caller must handle
   * the rejection. The file takes ownership of `data`.
   */
  write(data: Uint8Array): Promise<void>;
  /** Resolves once every write queued so far has settled (succeeded or failed). Never rejects. */
  flush(): Promise<void>;
  /** Flush, then close. Later writes reject with EBADF. Never rejects. */
  close(): Promise<void>;
}

/** What Runtime.watchDirectory saw: an entry's content written, or anything else (created, moved, removed). */
export type DirectoryChange = "change" | "rename";

/** A directory being watched (Runtime.watchDirectory). */
export interface DirectoryWatch {
  /** Stop watching; no onChange after it. */
  close(): void;
}

/** Everything the core asks of a runtime. */
/** A worker's place among its supervisor's workers (--concurrency). */
export interface WorkerIdentity {
  /** 0 … count-1; a restarted worker keeps its index. */
  readonly index: number;
  readonly count: number;
  /**
   * The supervisor's random secret (made per supervisor run): its stats requests to this
   * worker's admin carry it (SUPERVISOR_TOKEN_HEADER, core/admin/admin.ts), and only those
   * are answered on the worker-only paths; anyone else on loopback gets 404.
   */
  readonly supervisorToken?: string;
}

/** What the supervisor is given: the command line to start each worker with, and where the one admin listens. */
export interface SuperviseOptions {
  readonly count: number;
  /** The command line, as given; each worker runs it again. */
  readonly argv: readonly string[];
  /** The configured admin address, served by the supervisor for all workers; undefined when the config has no admin. */
  readonly admin: { readonly address: string; readonly port: number; readonly pipe?: PipeListenOptions } | undefined;
  /** bootstrap.stats_config, so the merged /stats/prometheus tags names as each worker would. */
  readonly statsConfig: unknown;
  /** Lines for the application log (main.ts's logger: level, format and --log-path apply). */
  readonly log: { info(message: string): void; warn(message: string): void; error(message: string): void; debug?(message: string): void };
  /**
   * The bootstrap has stats_sinks: the supervisor flushes every worker's stats as one, every
   * `intervalMs` (stats_flush_interval), or with `intervalMs` undefined on each read of its
   * admin's /stats (stats_flush_on_admin), through the first live worker's sinks
   * (core/stats/merged-flush.ts, runtimes/kit/workers/sink-flush.ts).
   */
  readonly statsSinks?: { readonly intervalMs: number | undefined };
  /** A signal the supervisor caught and passes on to every worker (SIGHUP: each worker reloads itself). */
  readonly forwardSignals: readonly SignalName[];
  /**
   * The config text the supervisor read, when its file can be read only once (a FIFO,
   * `-c <(…)`, /dev/stdin: not a regular file): every worker, a restarted one too, starts
   * with this text (WorkerProcesses.startConfig) instead of reading the path again.
   */
  readonly startConfig?: string;
}

/**
 * Optional: --concurrency N, N worker processes running this same core and config and
 * sharing each listener (Envoy's worker threads; docs/architecture.md, Workers). The
 * process a user starts supervises: it starts the workers, serves the one admin (stats
 * merged across workers), passes signals on and restarts a worker that crashes.
 */
export interface WorkerProcesses {
  /** Set in a process a supervisor started as one of its workers; undefined in the one a user started. */
  readonly worker: WorkerIdentity | undefined;
  /**
   * How a listener bound `shared` is shared: "one-socket", every worker accepts from one
   * listening socket (node:cluster's); "reuse-port", each worker binds a socket of its own
   * with SO_REUSEPORT. A listener with enable_reuse_port: false needs "one-socket".
   */
  readonly sharing: "one-socket" | "reuse-port";
  /** Start the workers and supervise them; resolves with the exit code once all have stopped. */
  supervise(options: SuperviseOptions): Promise<number>;
  /** In a worker, once its server has started: tell the supervisor, with where this worker's own admin listens (an internal loopback port), if it has one. */
  announceStarted(admin: SocketAddress | undefined): Promise<void>;
  /**
   * Optional: in a worker, the config text its supervisor handed over
   * (SuperviseOptions.startConfig), undefined when it handed none. Without it a worker
   * reads the config path itself (a FIFO or pipe config then needs one process).
   */
  startConfig?(): Promise<string | undefined>;
}

/**
 * Where the command keeps the configs this build checked before
 * (core/config/checked-config-cache.ts): files in a directory only this user can write, one
 * set per build of polyvoy, so an entry is never read by other code than the one that made
 * it. The command's entries (runtimes/X/main.ts of a build) make one; from the sources, or
 * where no such directory can be had, there is none and every start checks its config.
 */
export interface CheckedConfigStore {
  /** Where the entries are (the debug log names it). */
  readonly location: string;
  /** The entry `name` (a file name: hex, dots, letters) as written, or undefined when there is none. */
  read(name: string): string | undefined;
  /** Keep `data` as the entry `name`, whole or not at all, the oldest entries let go past a limit. Throws what failed. */
  write(name: string, data: string): void;
}

export interface Runtime {
  /** The runtime's name (logged at start-up, shown by `--version`). */
  readonly name: string;
  /** The runtime's own version string. */
  readonly version: string;

  /**
   * Bind and listen. Resolves once listening; rejects with a PortError
   * (EADDRINUSE, EACCES, …) when the address cannot be bound.
   */
  listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener>;
  /**
   * Start connecting and return the pending socket at once. `onConnect` or
   * `onClose("error", err)` follows, never synchronously within this call.
   */
  connect(options: ConnectOptions): Socket;

  /** Any `ms`, longer than 2^31-1 too (a protobuf duration, a DNS TTL): the adapter waits in steps. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Run `callback` on a later turn of the event loop (a macrotask, like setImmediate),
   * after the I/O already received has been delivered: a FIN that arrived with data is
   * reported before a callback deferred from that data runs (the HTTP/1 pool relies on
   * it; the conformance suite checks it). Soon after, too: it runs for every reused
   * upstream connection, so not a timer's millisecond.
   */
  defer(callback: () => void): void;
  /** Monotonic milliseconds, for durations and timeouts. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps. */
  wallClock(): number;

  /**
   * Resolve a host name to its addresses with getaddrinfo's semantics: /etc/hosts
   * (`localhost`), then DNS; an IP literal resolves to itself. `family` narrows the
   * answer ("all": both families, in the resolver's order). A name without addresses
   * (of that family) — NXDOMAIN, NODATA, getaddrinfo's EAI_NONAME/EAI_NODATA — resolves
   * to `[]`, as Envoy's resolvers report it (a completed query without records); a
   * lookup that failed (EAI_AGAIN, a timeout, no reachable server) rejects with a
   * PortError. With `options.ttl` the adapter adds each DNS answer's TTL where the
   * runtime can tell it (never for /etc/hosts entries); `ttlSeconds` is absent otherwise.
   */
  resolve(host: string, family: ResolveFamily, options?: ResolveOptions): Promise<ResolvedAddress[]>;
  /** Read a UTF-8 file. Rejects with a PortError (ENOENT, EACCES, EISDIR, …). */
  readTextFile(path: string): Promise<string>;
  /**
   * Optional: what `path` is, following symbolic links (stat(2)): "file" for a regular
   * file, "other" for a FIFO, a socket or a device (`-c <(…)`, /dev/stdin), whose
   * content a second read does not give again. Rejects as readTextFile (ENOENT, …).
   * Without it, every path is taken for a regular file.
   */
  fileType?(path: string): Promise<DirectoryEntry["type"]>;
  /**
   * Optional: the size in bytes of the file at `path`, following symbolic links (stat(2)),
   * so a capped read refuses a large file before reading it (Envoy's datasource.cc checks
   * fileSize first). Rejects as readTextFile (ENOENT, …).
   */
  fileSize?(path: string): Promise<number>;
  /** Optional: read a file's bytes (binary TLS data: session ticket keys, OCSP responses). Rejects as readTextFile. */
  readFileBytes?(path: string): Promise<Uint8Array>;
  /**
   * Optional: watch the directory `path` (Envoy's Filesystem::Watcher, inotify on Linux):
   * `onChange(name, kind)` is called after an entry of it is created, written, moved in or
   * out, or removed, with the entry's name when the runtime tells it (undefined when it
   * does not: then anything may have changed) and `kind` "change" when only an entry's
   * content was written ("rename" for the rest, or when the runtime cannot tell). Calls
   * may come in bursts for one change. Throws
   * a PortError when the directory cannot be watched (ENOENT, …). Without it, the core
   * polls the files it would watch (core/tls/file-watch.ts).
   */
  watchDirectory?(path: string, onChange: (name: string | undefined, kind: DirectoryChange) => void): DirectoryWatch;
  /**
   * Optional: the entries of a directory, a symbolic link typed as what it points to (a
   * dangling one as "other"), for a layered_runtime disk_layer (core/runtime/disk-layer.ts).
   * Rejects with a PortError (ENOENT, ENOTDIR, EACCES, …). Without it, a disk_layer is refused.
   */
  readDirectory?(path: string): Promise<DirectoryEntry[]>;
  /**
   * Optional: import the JavaScript or TypeScript module at `path` (relative paths from the
   * working directory, as Envoy reads every file a config names) and give its namespace:
   * how a config's user filter module is loaded (http/user-filter/resolve-user-filters.ts).
   * Rejects with the runtime's own error when the file is missing or fails to load.
   * Without it, a config naming a module is refused.
   */
  importModule?(path: string): Promise<unknown>;
  /**
   * Optional: verify a JWS signature (RFC 7515) with a public JSON Web Key (RFC 7517), for
   * the jwt_authn filter: `alg` is the JWS algorithm (RS256/384/512, PS256/384/512,
   * ES256/384, EdDSA), `data` the signing input (header "." payload, ASCII), `signature`
   * the decoded signature (for ECDSA the raw r‖s of RFC 7518 §3.4). Resolves false for a
   * signature that does not verify, rejects when the key cannot be used for `alg`.
   * Adapters use the runtime's WebCrypto. Without it, jwt_authn is refused at start.
   */
  verifySignature?(jwk: JsonWebPublicKey, alg: string, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /**
   * Optional: HMAC-SHA256 of `data` with `key` (RFC 2104), for the oauth2 filter's cookie
   * signature. Adapters use the runtime's WebCrypto. Without it, oauth2 is refused at start.
   */
  hmacSha256?(key: Uint8Array, data: Uint8Array): Promise<Uint8Array>;
  /**
   * Open `path` for appending, creating it (mode 0644) if missing, as Envoy opens access
   * log files. "/dev/stdout" and "/dev/stderr" are the process's own stdout and stderr
   * (fd 1 and 2, whatever they are: terminal, pipe, file or socket), never reopened.
   * Rejects with a PortError (ENOENT when the directory is missing, EACCES, EISDIR, …).
   */
  openAppendFile(path: string): Promise<AppendFile>;
  /**
   * Optional: told when a server's start-up is over (its listeners serve; Server.start()
   * calls it, whoever started the server: the entry or an embedding program). An adapter
   * may work differently from then on (one reads files at once while starting, on a
   * thread pool after: runtimes/README.md).
   */
  serving?(): void;
  onSignal(signal: SignalName, callback: () => void): void;
  readonly log: LogSink;
  exit(code: number): never;
  /** Resident set size in bytes, where the runtime can tell. */
  memoryUsage(): number | undefined;
  /**
   * Optional: bytes of heap in use — the engine's JavaScript heap plus what it holds
   * outside that heap for its objects (array buffers) — which the overload manager's
   * `envoy.resource_monitors.fixed_heap` measures against `max_heap_size_bytes`, as
   * Envoy's measures the bytes its allocator has handed out. Not the RSS: freed memory
   * the runtime keeps mapped is not in use. Without it, fixed_heap is refused at start.
   * Called once per overload refresh_interval, never on a hot path.
   */
  heapUsage?(): number;
  /**
   * Optional: hand free memory back to the system as far as the runtime can (Envoy's
   * Memory::Utils::releaseFreeMemory, tcmalloc's ReleaseFreeMemory), for the overload
   * manager's envoy.overload_actions.shrink_heap, at most every 10 s while it is active.
   * Absent where the runtime offers no such call: the action then does nothing (logged once).
   */
  releaseFreeMemory?(): void;
  /**
   * Optional: gzip and brotli for the compressor and decompressor HTTP filters. Without
   * it, or where `unsupported` names a reason, a config using them is refused at start.
   */
  readonly compression?: Compression;
  /**
   * Optional: the value of the process's environment variable `name`, undefined when it
   * is unset or the runtime may not read it (no permission to). The core reads
   * only what Envoy's own code reads there (the Lua filter's LUA_PATH, DataSources'
   * environment_variable, tracing's environment custom tags).
   */
  environmentVariable?(name: string): string | undefined;
  /**
   * A float in [0, 1) for the core's random choices (weighted clusters), so a runtime
   * with a seeded generator (runtimes/memory) makes them reproducible.
   */
  random(): number;
  /**
   * Fill `into` with random bytes (request ids), from the runtime's cryptographically
   * secure generator; the memory runtime fills it from its seeded generator, so a seed
   * reproduces a run byte for byte.
   */
  randomBytes(into: Uint8Array): void;
  /**
   * Optional: true where the runtime's engine allocates a small byte array of its own
   * faster than it makes a view into a larger one. The core then gives small arrays
   * (encoded heads, joined writes, short body pieces kept) arrays of their own instead
   * of views into shared slabs (util/byte-slab.ts). Absent or false: slabs.
   */
  readonly ownSmallArrays?: boolean;
  /** Optional: UDP sockets (above). Without it a UDP listener is refused at start. */
  readonly udp?: DatagramCapability;
  /** Optional: TLS (above). Without it a config with a TLS transport socket is refused at start. */
  readonly tls?: TlsCapability;
  /** Optional: worker processes (--concurrency above 1); without it such a command line is refused. */
  readonly workers?: WorkerProcesses;
  /**
   * Optional: how many CPUs there are, for --concurrency's default (core/concurrency.ts).
   * "hardware": the machine's hardware threads, whatever this process may run on (Envoy's
   * default, std::thread::hardware_concurrency()); "cpuset": those this process may run on,
   * its affinity mask (Envoy's --cpuset-threads). Absent: 1, one process.
   */
  cpuCount?(which: "hardware" | "cpuset"): number;
  /**
   * Optional: this host's interface addresses (IPv4 and IPv6, loopback ones included) in the
   * order getifaddrs(3) lists them, from which the core picks Envoy's local address
   * (Network::Utility::getLocalAddress: the first non-loopback IPv4 one), what an HCM with
   * use_remote_address appends to x-forwarded-for for a loopback peer. Without it, or when
   * it throws, that address is 127.0.0.1, Envoy's own fallback.
   */
  interfaceAddresses?(): readonly string[];
  /**
   * Optional: why this runtime cannot bind or connect to a Unix socket in Linux's abstract
   * namespace as Envoy names it (`@name`: exactly those bytes, Envoy's PipeInstance
   * address_length_); undefined where it can. A listener (or the admin) on one is refused
   * at start with this reason, and a connection to one fails with it.
   */
  readonly abstractPipeUnsupported?: string;
  /**
   * Optional: this runtime's connections take ConnectOptions.keepalive (SO_KEEPALIVE, and the
   * settings the capability allows); absent: a cluster's tcp_keepalive is refused here.
   */
  readonly tcpKeepalive?: TcpKeepaliveCapability;
}

/** A public key as a JSON Web Key (RFC 7517): the fields jwt_authn's keys may carry. */
export interface JsonWebPublicKey {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  /** RSA */
  n?: string;
  e?: string;
  /** EC and OKP */
  crv?: string;
  x?: string;
  y?: string;
}
