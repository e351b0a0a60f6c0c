import * as tls from "node:tls";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import type { TlsCertificate, TlsClientOptions, TlsContext, TlsHandshakeCallbacks, TlsParams, TlsServerOptions } from "../../../core/port.ts";
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
  ) {}

  static server(options: TlsServerOptions, callbacks: TlsHandshakeCallbacks, limits: NodeTlsLimits): NodeTlsContext {
    checkParams(options.params, limits);
    checkValidation(options, limits);
    if (options.certificates.length === 0) throw new Error("a TLS server needs a certificate");
    if (options.certificates.length > 1 && !limits.sniCallback) {
      throw new Error(`several tls_certificates need a certificate chosen by SNI, which ${limits.runtime}'s node:tls does not offer (its TLSSocket never calls SNICallback): configure one`);
    }
    const params = withDefaults(options.params, limits);
    const contexts = options.certificates.map((certificate) => secureContext(certificate, params, options));
    const byName = options.certificates.slice(1).map((certificate, i) => ({ context: contexts[i + 1]!, certificate: new X509Certificate(certificate.certificateChain) }));
    if (limits.sniKeepsDefaultKeyTypes && byName.length > 0) {
      const defaultType = new X509Certificate(options.certificates[0]!.certificateChain).publicKey.asymmetricKeyType;
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
    return new NodeTlsContext("client", callbacks, options.trustedCa !== undefined, context, alpn(options.alpnProtocols), [], false);
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
    return options;
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

function checkParams(params: TlsParams, limits: NodeTlsLimits): void {
  if (params.cipherSuites && !limits.cipherSuites) {
    throw new Error(`tls_params.cipher_suites cannot be set on ${limits.runtime}: its node:tls ignores cipher lists`);
  }
  if (params.ecdhCurves && !limits.ecdhCurves) {
    throw new Error(`tls_params.ecdh_curves cannot be set on ${limits.runtime}: its node:tls ignores curve lists`);
  }
}

function secureContext(certificate: TlsCertificate | undefined, params: TlsParams, validation: { trustedCa?: string; crl?: string }): tls.SecureContext {
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
  try {
    return tls.createSecureContext(options);
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
    leaf = new X509Certificate(certificate.certificateChain);
  } catch (err) {
    throw new Error(`certificate_chain is not a PEM certificate: ${err instanceof Error ? err.message : String(err)}`);
  }
  let key;
  try {
    key = createPrivateKey(certificate.password !== undefined ? { key: certificate.privateKey, passphrase: certificate.password } : certificate.privateKey);
  } catch (err) {
    throw new Error(`private_key cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new Error("private_key does not match the certificate_chain's first certificate");
}
