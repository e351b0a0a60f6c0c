import type * as tls from "node:tls";
import { Buffer } from "node:buffer";
import type { X509Certificate } from "node:crypto";
import { nodeCrypto, nodeTls } from "../builtins.ts";
import type { Duplex } from "node:stream";
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
    const contexts = options.certificates.map((certificate) => secureContext(certificate, params, options, options.session));
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
    const requestCert = options.requestClientCertificate || options.trustedCa !== undefined;
    return new NodeTlsContext("server", callbacks, options.trustedCa !== undefined, contexts[0]!, alpn(options.alpnProtocols), byName, requestCert);
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
  // Stateful resumption needs a session cache, which node:tls keeps only through a
  // tls.Server's newSession/resumeSession events (SSL_SESS_CACHE_NO_INTERNAL): a TLSSocket
  // has none, so disable_stateful_session_resumption holds as is.
  if (session?.ticketKeys) options.ticketKeys = nodeTicketKey(session.ticketKeys[0]!);
  if (session?.disableStateless) options.secureOptions = nodeCrypto().constants.SSL_OP_NO_TICKET ?? 0x4000;
  if (session?.timeoutSeconds !== undefined) options.sessionTimeout = session.timeoutSeconds;
  try {
    return nodeTls().createSecureContext(options);
  } catch (err) {
    throw new Error(err instanceof Error ? err.message : String(err));
  }
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
