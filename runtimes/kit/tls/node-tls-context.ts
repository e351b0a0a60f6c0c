import type * as tls from "node:tls";
import type { Buffer } from "node:buffer";
import type { X509Certificate } from "node:crypto";
import { nodeBuffer, nodeCrypto, nodeEvents, nodeTls } from "../builtins.ts";
import type { Duplex } from "node:stream";
import type { EventEmitter } from "node:events";
import type { TlsCertificate, TlsClientOptions, TlsContext, TlsHandshakeCallbacks, TlsParams, TlsServerOptions, TlsServerSessionOptions } from "../../../core/port.ts";
import { ENVOY_DEFAULT_CIPHER_SUITES, ENVOY_DEFAULT_ECDH_CURVES } from "../../../core/tls/tls-config.ts";

/** What a runtime's node:tls can and cannot be asked for (found by experiment, see each adapter). */
export interface NodeTlsLimits {
  /** The runtime's name, for error messages. */
  readonly runtime: string;
  /** `ciphers` is honoured (Deno's rustls-backed node:tls ignores it). */
  readonly cipherSuites: boolean;
  /** `ecdhCurve` is honoured (likewise). */
  readonly ecdhCurves: boolean;
  /** A server TLSSocket calls SNICallback (Bun's does not), so certificates can be chosen by SNI. */
  readonly sniCallback: boolean;
  /**
   * A context chosen by SNICallback keeps the first context's certificate of another key
   * type (node's OpenSSL: switching from an ECDSA default to an RSA certificate still
   * serves the ECDSA one), so certificates chosen by SNI must share the first's key type.
   */
  readonly sniKeepsDefaultKeyTypes: boolean;
  /**
   * The chain check's error names an expired certificate CERT_HAS_EXPIRED, as OpenSSL
   * does (absent: true). Deno's rustls-backed node:tls reports expiry otherwise, so
   * allow_expired_certificate cannot be honoured there.
   */
  readonly namesExpiry?: boolean;
  /**
   * `crl` is honoured (absent: true): a revoked certificate fails the chain check with
   * CERT_REVOKED. Deno's rustls-backed node:tls accepts the option and ignores it.
   */
  readonly crl?: boolean;
  /**
   * `ticketKeys` is honoured (absent: true): two servers given the same key resume each
   * other's sessions. Bun's and Deno's node:tls accept the option and keep keys of their own.
   */
  readonly ticketKeys?: boolean;
  /**
   * `secureOptions: SSL_OP_NO_TICKET` and `sessionTimeout` are honoured (absent: true).
   * Deno's rustls-backed node:tls ignores both (it issues tickets and resumes regardless).
   */
  readonly sessionSettings?: boolean;
  /**
   * A server TLSSocket given a `server` with an OCSPRequest listener asks it for a staple
   * when the client sends status_request (node's _tls_wrap requestOCSP; absent: true).
   * Bun's and Deno's never emit OCSPRequest, even on a tls.Server.
   */
  readonly ocspStapling?: boolean;
  /**
   * A server TLSSocket given a `server` with newSession/resumeSession listeners keeps
   * sessions there for session-ID resumption (node's enableSessionCallbacks; absent:
   * true). Bun's never emits them (and resumes no session by ID); Deno's rustls keeps a
   * cache of its own.
   */
  readonly sessionCache?: boolean;
}

/** A session a client context keeps to resume a later connection to the same SNI. */
interface KeptSession {
  readonly serverName: string | undefined;
  readonly session: Buffer;
}

/** One filter chain's or cluster's TLS, built once: node:tls secure contexts and the socket options. */
export class NodeTlsContext implements TlsContext {
  private constructor(
    readonly side: "server" | "client",
    readonly callbacks: TlsHandshakeCallbacks,
    /** A chain check will be read after the handshake (a trusted CA is configured). */
    readonly verifiesPeer: boolean,
    private readonly secureContext: tls.SecureContext,
    private readonly alpnProtocols: string[] | undefined,
    /** Server side: the certificates after the first, with the names they serve. */
    private readonly byName: { context: tls.SecureContext; certificate: X509Certificate }[],
    private readonly requestCert: boolean,
    /** Client side: max_session_keys. */
    private readonly maxSessionKeys = 0,
    /** Server side: what node's TLSSocket asks a tls.Server for (OCSP staples, cached sessions), when the runtime asks. */
    private readonly server?: EventEmitter,
  ) {}

  /** Client side: the newest sessions first, at most maxSessionKeys (Envoy's ClientContextImpl session_keys_). */
  private readonly sessions: KeptSession[] = [];

  static server(options: TlsServerOptions, callbacks: TlsHandshakeCallbacks, limits: NodeTlsLimits): NodeTlsContext {
    checkParams(options.params, limits);
    checkValidation(options, limits);
    checkSession(options.session, limits);
    if (options.certificates.length === 0) throw new Error("a TLS server needs a certificate");
    if (options.certificates.length > 1 && !limits.sniCallback) {
      throw new Error(`several tls_certificates need a certificate chosen by SNI, which ${limits.runtime}'s node:tls does not offer (its TLSSocket never calls SNICallback): configure one`);
    }
    const params = withDefaults(options.params, limits);
    const contexts = options.certificates.map((certificate) => secureContext(certificate, params, options, options.session ?? {}));
    const byName = options.certificates.slice(1).map((certificate, i) => ({ context: contexts[i + 1]!, certificate: new (nodeCrypto().X509Certificate)(certificate.certificateChain) }));
    if (limits.sniKeepsDefaultKeyTypes && byName.length > 0) {
      const defaultType = new (nodeCrypto().X509Certificate)(options.certificates[0]!.certificateChain).publicKey.asymmetricKeyType;
      for (const [i, { certificate }] of byName.entries()) {
        const type = certificate.publicKey.asymmetricKeyType;
        if (type !== defaultType) {
          throw new Error(`tls_certificates[${i + 1}] is ${type?.toUpperCase()}, the first is ${defaultType?.toUpperCase()}: on ${limits.runtime} a certificate chosen by SNI must have the first's key type (its OpenSSL would go on serving the first's)`);
        }
      }
    }
    if (limits.ocspStapling === false && options.certificates.some((c) => c.ocspStaple !== undefined)) {
      throw new Error(`ocsp_staple cannot be honoured on ${limits.runtime}: its node:tls never asks for a staple (a TLSSocket never emits OCSPRequest, even on a tls.Server), so nothing would be stapled`);
    }
    const requestCert = options.requestClientCertificate || options.trustedCa !== undefined;
    const server = serverEvents(contexts, options, callbacks, limits);
    return new NodeTlsContext("server", callbacks, options.trustedCa !== undefined, contexts[0]!, alpn(options.alpnProtocols), byName, requestCert, 0, server);
  }

  static client(options: TlsClientOptions, callbacks: TlsHandshakeCallbacks, limits: NodeTlsLimits): NodeTlsContext {
    checkParams(options.params, limits);
    checkValidation(options, limits);
    const context = secureContext(options.certificate, withDefaults(options.params, limits), options);
    return new NodeTlsContext("client", callbacks, options.trustedCa !== undefined, context, alpn(options.alpnProtocols), [], false, options.maxSessionKeys ?? 0);
  }

  /** A server TLSSocket's options. The chain is checked after the handshake (tls-session.ts), so nothing is rejected inside it. */
  serverSocketOptions(): tls.TLSSocketOptions {
    const options: tls.TLSSocketOptions = {
      isServer: true,
      secureContext: this.secureContext,
      requestCert: this.requestCert,
      rejectUnauthorized: false,
    };
    if (this.alpnProtocols) options.ALPNProtocols = this.alpnProtocols;
    if (this.byName.length > 0) options.SNICallback = this.selectBySni;
    if (this.server) (options as { server?: unknown }).server = this.server;
    return options;
  }

  clientConnectOptions(transport: Duplex, serverName: string | undefined): tls.ConnectionOptions {
    const options: tls.ConnectionOptions = {
      socket: transport,
      secureContext: this.secureContext,
      // Envoy checks the chain against trusted_ca and matches SANs only when told to
      // (match_typed_subject_alt_names): no host name check here, the core decides.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    };
    if (serverName !== undefined) options.servername = serverName;
    if (this.alpnProtocols) options.ALPNProtocols = this.alpnProtocols;
    const kept = this.sessions.find((s) => s.serverName === serverName);
    if (kept) options.session = kept.session;
    return options;
  }

  /** A client connection's new session (node:tls's 'session' event; TLS 1.3 may send several). */
  keepSession(serverName: string | undefined, session: Buffer): void {
    if (this.maxSessionKeys === 0) return;
    this.sessions.unshift({ serverName, session });
    if (this.sessions.length > this.maxSessionKeys) this.sessions.length = this.maxSessionKeys;
  }

  /** Client side: sessions are kept (max_session_keys > 0). */
  get keepsSessions(): boolean {
    return this.maxSessionKeys > 0;
  }

  /**
   * Envoy's certificate selection (tls/context_impl.cc, selectTlsContext): the first
   * certificate whose names match the client's SNI, else the first (the default).
   */
  private readonly selectBySni = (serverName: string, callback: (err: Error | null, context?: tls.SecureContext) => void): void => {
    for (const { context, certificate } of this.byName) {
      if (serverName && certificate.checkHost(serverName) !== undefined) return callback(null, context);
    }
    callback(null, this.secureContext);
  };
}

/**
 * What node's server TLSSocket asks of the tls.Server it belongs to (lib/_tls_wrap.js:
 * requestOCSP emits OCSPRequest with the chosen context's certificate, loadSession
 * resumeSession, onnewsession newSession), answered for a TLSSocket that has no
 * tls.Server: an EventEmitter with the two fields those paths read (`_sharedCreds`, the
 * default context; `_contexts`, no addContext names). Undefined when nothing is asked.
 */
function serverEvents(contexts: readonly tls.SecureContext[], options: TlsServerOptions, callbacks: TlsHandshakeCallbacks, limits: NodeTlsLimits): EventEmitter | undefined {
  const ocsp = limits.ocspStapling !== false && callbacks.onOcspRequest !== undefined;
  const cache = limits.sessionCache !== false && options.session?.disableStateful !== true;
  if (!ocsp && !cache) return undefined;
  const server = Object.assign(new (nodeEvents().EventEmitter)(), { _sharedCreds: contexts[0], _contexts: [] });
  if (ocsp) {
    const certificates = options.certificates.map((c) => new (nodeCrypto().X509Certificate)(c.certificateChain).raw);
    server.on("OCSPRequest", (certificate: Buffer, _issuer: Buffer, done: (err: Error | null, response?: Buffer) => void) => {
      const index = Math.max(0, certificates.findIndex((raw) => raw.equals(certificate)));
      const action = callbacks.onOcspRequest!(index);
      if (action === "fail") return done(new Error("OCSP staple required by ocsp_staple_policy but not available"));
      done(null, action === "none" ? undefined : nodeBuffer().Buffer.from(action.buffer, action.byteOffset, action.byteLength));
    });
  }
  if (cache) {
    const sessions = new SessionCache(options.session?.timeoutSeconds ?? NODE_SESSION_TIMEOUT_S);
    server.on("newSession", (id: Buffer, session: Buffer, done: () => void) => {
      sessions.add(id, session);
      done();
    });
    server.on("resumeSession", (id: Buffer, done: (err: Error | null, session: Buffer | null) => void) => done(null, sessions.get(id) ?? null));
  }
  return server;
}

/**
 * A bare secure context's session timeout (seconds): OpenSSL's default, 7200 (a tls.Server
 * would set 300; BoringSSL's, Envoy's, is 7200 too). OpenSSL also checks it on a cached session.
 */
const NODE_SESSION_TIMEOUT_S = 7200;
/** BoringSSL's SSL_DEFAULT_SESSION_CACHE_SIZE, Envoy's session cache bound. */
const SESSION_CACHE_SIZE = 20 * 1024;

/**
 * A server context's sessions by ID, for stateful resumption (Envoy leaves
 * BoringSSL's internal session cache on unless disable_stateful_session_resumption):
 * at most SESSION_CACHE_SIZE, the oldest dropped first, none kept past the session timeout.
 */
class SessionCache {
  private readonly sessions = new Map<string, { session: Buffer; expires: number }>();

  constructor(private readonly timeoutSeconds: number) {}

  add(id: Buffer, session: Buffer): void {
    const key = id.toString("hex");
    this.sessions.delete(key);
    this.sessions.set(key, { session, expires: Date.now() + this.timeoutSeconds * 1000 });
    if (this.sessions.size > SESSION_CACHE_SIZE) this.sessions.delete(this.sessions.keys().next().value!);
  }

  get(id: Buffer): Buffer | undefined {
    const key = id.toString("hex");
    const kept = this.sessions.get(key);
    if (!kept) return undefined;
    if (kept.expires > Date.now()) return kept.session;
    this.sessions.delete(key);
    return undefined;
  }
}

function alpn(protocols: readonly string[]): string[] | undefined {
  return protocols.length > 0 ? [...protocols] : undefined;
}

/** Envoy's cipher and curve lists where the runtime takes lists and the config names none. */
function withDefaults(params: TlsParams, limits: NodeTlsLimits): TlsParams {
  return {
    ...params,
    ...(limits.cipherSuites && !params.cipherSuites ? { cipherSuites: ENVOY_DEFAULT_CIPHER_SUITES } : {}),
    ...(limits.ecdhCurves && !params.ecdhCurves ? { ecdhCurves: ENVOY_DEFAULT_ECDH_CURVES } : {}),
  };
}

function checkValidation(options: { allowExpiredCertificate?: boolean; crl?: string }, limits: NodeTlsLimits): void {
  if (options.allowExpiredCertificate && limits.namesExpiry === false) {
    throw new Error(`validation_context.allow_expired_certificate cannot be honoured on ${limits.runtime}: its node:tls does not tell an expired certificate from other chain errors`);
  }
  if (options.crl !== undefined && limits.crl === false) {
    throw new Error(`validation_context.crl cannot be honoured on ${limits.runtime}: its node:tls ignores certificate revocation lists (a revoked certificate would pass)`);
  }
}

function checkSession(session: TlsServerSessionOptions | undefined, limits: NodeTlsLimits): void {
  if (!session) return;
  if (session.ticketKeys && limits.ticketKeys === false) {
    throw new Error(`session_ticket_keys cannot be honoured on ${limits.runtime}: its node:tls ignores ticket keys (it keeps keys of its own, so another listener or process given the same key could not resume the session)`);
  }
  if (session.ticketKeys && session.ticketKeys.length > 1) {
    throw new Error("session_ticket_keys: only one key is supported: node:tls takes a single ticket key, so earlier keys cannot be kept for decrypting (list the current key alone)");
  }
  if (limits.sessionSettings === false) {
    const named = [session.disableStateless && "disable_stateless_session_resumption", session.disableStateful && "disable_stateful_session_resumption", session.timeoutSeconds !== undefined && "session_timeout"].filter(Boolean);
    if (named.length > 0) throw new Error(`${named.join(", ")} cannot be honoured on ${limits.runtime}: its node:tls ignores secureOptions and sessionTimeout (it issues tickets and resumes sessions regardless)`);
  }
}

/**
 * node:tls's ticket key (48 bytes: 16-byte name, 16-byte HMAC secret, 16-byte AES-128
 * key; node's SecureContext::SetTicketKeys) from Envoy's 80-byte one (16-byte name,
 * 32-byte HMAC secret, 32-byte AES-256 key): the name as is and the first 16 bytes of
 * each secret. Tickets are AES-128-CBC + HMAC-SHA256, so they are not Envoy's own, but
 * every polyvoy given the same key file reads the others' tickets.
 */
function nodeTicketKey(envoyKey: Uint8Array): Buffer {
  const { Buffer } = nodeBuffer();
  const key = Buffer.from(envoyKey.buffer, envoyKey.byteOffset, envoyKey.byteLength);
  return Buffer.concat([key.subarray(0, 16), key.subarray(16, 32), key.subarray(48, 64)]);
}

function checkParams(params: TlsParams, limits: NodeTlsLimits): void {
  if (params.cipherSuites && !limits.cipherSuites) {
    throw new Error(`tls_params.cipher_suites cannot be set on ${limits.runtime}: its node:tls ignores cipher lists`);
  }
  if (params.ecdhCurves && !limits.ecdhCurves) {
    throw new Error(`tls_params.ecdh_curves cannot be set on ${limits.runtime}: its node:tls ignores curve lists`);
  }
}

function secureContext(certificate: TlsCertificate | undefined, params: TlsParams, validation: { trustedCa?: string; crl?: string }, session?: TlsServerSessionOptions): tls.SecureContext {
  const options: tls.SecureContextOptions = {};
  if (certificate) checkKeyPair(certificate);
  if (certificate) {
    options.cert = certificate.certificateChain;
    options.key = certificate.privateKey;
    if (certificate.password !== undefined) options.passphrase = certificate.password;
  }
  if (validation.trustedCa !== undefined) options.ca = validation.trustedCa;
  // node:tls checks the whole chain against these (X509_V_FLAG_CRL_CHECK_ALL), as Envoy by default.
  if (validation.crl !== undefined) options.crl = validation.crl;
  if (params.minVersion) options.minVersion = params.minVersion;
  if (params.maxVersion) options.maxVersion = params.maxVersion;
  if (params.cipherSuites) options.ciphers = params.cipherSuites.join(":");
  if (params.ecdhCurves) options.ecdhCurve = params.ecdhCurves.join(":");
  // Stateful resumption: node:tls keeps sessions only through a tls.Server's
  // newSession/resumeSession events (SSL_SESS_CACHE_NO_INTERNAL), which serverEvents answers.
  if (session?.ticketKeys) options.ticketKeys = nodeTicketKey(session.ticketKeys[0]!);
  if (session?.disableStateless) options.secureOptions = nodeCrypto().constants.SSL_OP_NO_TICKET ?? 0x4000;
  if (session?.timeoutSeconds !== undefined) options.sessionTimeout = session.timeoutSeconds;
  let context: tls.SecureContext;
  try {
    context = nodeTls().createSecureContext(options);
  } catch (err) {
    throw new Error(err instanceof Error ? err.message : String(err));
  }
  if (session && certificate) setSessionIdContext(context, certificate);
  return context;
}

/**
 * A server context's session ID context (SSL_CTX_set_session_id_context), which a
 * tls.Server sets and a bare secure context lacks: without it OpenSSL refuses to resume
 * any session on a context that asks for client certificates. Derived from the
 * certificate, as Envoy's (ServerContextImpl::generateHashForSessionContextId hashes the
 * certificates' names) so sessions resume only where the same certificate is served.
 * Runtimes whose context has no such method keep their own.
 */
function setSessionIdContext(context: tls.SecureContext, certificate: TlsCertificate): void {
  const native = (context as unknown as { context?: { setSessionIdContext?: (id: string) => void } }).context;
  native?.setSessionIdContext?.(nodeCrypto().createHash("sha256").update(certificate.certificateChain).digest("hex").slice(0, 32));
}

/**
 * The private key belongs to the certificate: checked here because not every runtime's
 * createSecureContext does (Deno's accepts a mismatched pair and fails each handshake).
 */
function checkKeyPair(certificate: TlsCertificate): void {
  let leaf: X509Certificate;
  try {
    leaf = new (nodeCrypto().X509Certificate)(certificate.certificateChain);
  } catch (err) {
    throw new Error(`certificate_chain is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
  let key;
  try {
    key = nodeCrypto().createPrivateKey(certificate.password !== undefined ? { key: certificate.privateKey, passphrase: certificate.password } : certificate.privateKey);
  } catch (err) {
    throw new Error(`private_key cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new Error("private_key does not match the certificate_chain's first certificate");
}
