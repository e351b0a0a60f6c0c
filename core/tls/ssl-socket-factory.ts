import type { ConnectOptions, PortError, Runtime, Socket, TlsCertificate, TlsContext, TlsHandshakeCallbacks, TlsSession } from "../port.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { compileStringMatch } from "../http/route/header-matcher.ts";
import type { DownstreamTlsConfig, TlsDataSourceConfig, UpstreamTlsConfig, ValidationContextConfig } from "../config/bootstrap.ts";
import { SslStats } from "./ssl-stats.ts";

/**
 * A filter chain's or a cluster's TLS (Envoy's ServerSslSocketFactory and
 * ClientSslSocketFactory): the runtime's TLS context, built once at start from the
 * config (files read through the port), and the checks Envoy's DefaultCertValidator
 * makes on a peer certificate, with their stats. The runtime verifies the chain; the
 * SANs, the certificate hash and a required certificate are checked here, once the
 * handshake is done and before any application byte is delivered.
 */
export class SslSocketFactory implements TlsHandshakeCallbacks {
  readonly stats: SslStats;
  private context!: TlsContext;
  private readonly sanMatchers: ((session: TlsSession) => boolean) | undefined;

  private constructor(
    private readonly runtime: Runtime,
    private readonly config: DownstreamTlsConfig | UpstreamTlsConfig,
    scope: StatsScope,
    /** auto_san_validation: the upstream's certificate must name the SNI sent. */
    private readonly autoSanValidation: boolean,
  ) {
    this.stats = new SslStats(scope);
    this.sanMatchers = sanMatcher(config.common.validationContext);
  }

  /**
   * Build it: read the data sources, then have the runtime make its context. Rejects
   * with an Error naming what is wrong (an unreadable file, a bad key, something this
   * runtime's TLS cannot do).
   */
  static async create(runtime: Runtime, config: DownstreamTlsConfig | UpstreamTlsConfig, scope: StatsScope, autoSanValidation = false): Promise<SslSocketFactory> {
    const tls = runtime.tls;
    if (!tls) throw new Error(`envoy.transport_sockets.tls is not available on ${runtime.name}: its adapter offers no TLS`);
    const factory = new SslSocketFactory(runtime, config, scope, autoSanValidation);
    const common = config.common;
    const certificates = await Promise.all(common.tlsCertificates.map((c) => readCertificate(runtime, c)));
    const trustedCa = common.validationContext?.trustedCa ? await readData(runtime, common.validationContext.trustedCa, "validation_context.trusted_ca") : undefined;
    const withCa = trustedCa !== undefined ? { trustedCa } : {};
    if (config.side === "downstream") {
      factory.context = tls.serverContext(
        { certificates, alpnProtocols: common.alpnProtocols, params: common.params, requestClientCertificate: config.requireClientCertificate || factory.checksPeer, ...withCa },
        factory,
      );
    } else {
      const certificate = certificates[0];
      factory.context = tls.clientContext({ alpnProtocols: common.alpnProtocols, params: common.params, ...withCa, ...(certificate ? { certificate } : {}) }, factory);
    }
    return factory;
  }

  /** The validation context asks for checks of the peer's certificate beyond its chain. */
  private get checksPeer(): boolean {
    const v = this.config.common.validationContext;
    return v !== undefined && (v.matchTypedSubjectAltNames.length > 0 || v.verifyCertificateHash.length > 0);
  }

  /** Terminate TLS on an accepted socket (`peeked`: bytes a listener filter already read). */
  accept(socket: Socket, peeked: Uint8Array | undefined): Socket {
    return this.runtime.tls!.accept(socket, this.context, peeked);
  }

  /** Connect to an upstream host over TLS, with `serverName` (auto_sni) or the configured SNI. */
  connect(options: ConnectOptions, serverName?: string): Socket {
    const sni = serverName ?? (this.config.side === "upstream" ? this.config.sni : undefined);
    return this.runtime.tls!.connect(options, this.context, sni);
  }

  /** Envoy's DefaultCertValidator order: a missing certificate, the chain, the SANs, the hash. */
  onHandshake(session: TlsSession): boolean {
    const stats = this.stats;
    const validation = this.config.common.validationContext;
    const cert = session.peerCertificate;
    const required = this.config.side === "upstream" ? validation?.trustedCa !== undefined || this.checksPeer : this.config.requireClientCertificate;
    if (!cert && required) {
      stats.failVerifyNoCert.inc();
      return false;
    }
    if (cert) {
      if (session.peerVerifyError !== undefined && validation?.trustedCa !== undefined) {
        stats.failVerifyError.inc();
        return false;
      }
      if ((this.sanMatchers && !this.sanMatchers(session)) || (this.autoSanValidation && !namesHost(session))) {
        stats.failVerifySan.inc();
        return false;
      }
      if (validation && validation.verifyCertificateHash.length > 0 && !validation.verifyCertificateHash.includes(cert.sha256)) {
        stats.failVerifyCertHash.inc();
        return false;
      }
    }
    stats.handshake.inc();
    if (session.sessionReused) stats.sessionReused.inc();
    if (!cert) stats.noCertificate.inc();
    stats.countValue("versions", session.version);
    stats.countValue("ciphers", session.cipher);
    return true;
  }

  onHandshakeError(_error: PortError): void {
    this.stats.connectionError.inc();
  }
}

/** auto_san_validation: a DNS SAN of the upstream's certificate matches the SNI sent (`*.` covers one label, RFC 6125 §6.4.3). */
function namesHost(session: TlsSession): boolean {
  const name = session.serverName?.toLowerCase();
  if (!name) return true;
  return (session.peerCertificate?.subjectAltNames ?? []).some((san) => {
    if (san.type !== "DNS") return false;
    const pattern = san.value.toLowerCase();
    if (!pattern.startsWith("*.")) return pattern === name;
    const dot = name.indexOf(".");
    return dot > 0 && name.slice(dot) === pattern.slice(1);
  });
}

/** match_typed_subject_alt_names: any SAN of a matcher's type that the matcher accepts. */
function sanMatcher(validation: ValidationContextConfig | undefined): ((session: TlsSession) => boolean) | undefined {
  const matchers = validation?.matchTypedSubjectAltNames ?? [];
  if (matchers.length === 0) return undefined;
  const compiled = matchers.map((m) => ({ type: m.sanType, match: compileStringMatch(m.matcher) }));
  return (session) => {
    const sans = session.peerCertificate?.subjectAltNames ?? [];
    return compiled.some((m) => sans.some((san) => san.type === m.type && m.match(san.value)));
  };
}

async function readCertificate(runtime: Runtime, c: { certificateChain: TlsDataSourceConfig; privateKey: TlsDataSourceConfig; password?: TlsDataSourceConfig }): Promise<TlsCertificate> {
  const certificateChain = await readData(runtime, c.certificateChain, "certificate_chain");
  const privateKey = await readData(runtime, c.privateKey, "private_key");
  const password = c.password ? await readData(runtime, c.password, "password") : undefined;
  return password !== undefined ? { certificateChain, privateKey, password } : { certificateChain, privateKey };
}

async function readData(runtime: Runtime, source: TlsDataSourceConfig, field: string): Promise<string> {
  if ("inline" in source) return source.inline;
  try {
    return await runtime.readTextFile(source.filename);
  } catch (err) {
    const error = err as Partial<PortError>;
    throw new Error(`${field}: cannot read ${source.filename}: ${error.code ?? ""} ${error.message ?? String(err)}`.replace(/\s+/g, " ").trim());
  }
}
