import type { ConnectOptions, PortError, Runtime, Socket, TlsCertificate, TlsContext, TlsHandshakeCallbacks, TlsServerSessionOptions, TlsSession } from "../port.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { compileStringMatch } from "../http/route/header-matcher.ts";
import type { DownstreamTlsConfig, DownstreamTlsSessionConfig, UpstreamTlsConfig, ValidationContextConfig } from "../config/bootstrap.ts";
import { SslStats } from "./ssl-stats.ts";
import { pathOf, readBytes, readCertificate, readValidationContext, type ResolvedSecret, type ResolvedValidationContext } from "./read-secret.ts";
import type { SecretLease, SecretManager } from "./secret-manager.ts";
import { OcspStapler } from "./ocsp-stapler.ts";
import { notReadySocket } from "./not-ready-socket.ts";
import type { Counter } from "../stats/counter.ts";

/**
 * A filter chain's or a cluster's TLS (Envoy's ServerSslSocketFactory and
 * ClientSslSocketFactory): the runtime's TLS context, built once at start from the
 * config (files read through the port), and the checks Envoy's DefaultCertValidator
 * makes on a peer certificate, with their stats. The runtime verifies the chain; the
 * SANs, the certificate hash and a required certificate are checked here, once the
 * handshake is done and before any application byte is delivered. Certificates and the
 * validation context may come from secrets (SecretManager): an SDS update builds a new
 * runtime context, which new connections use (Envoy's onAddOrUpdateSecret). While a
 * secret a management server has not sent is missing (its initial_fetch_timeout passed),
 * there is no context: each connection is closed before any handshake, counted in
 * `server_ssl_socket_factory.downstream_context_secrets_not_ready` (upstream:
 * `client_ssl_socket_factory.upstream_context_secrets_not_ready`), as Envoy's
 * NotReadySslSocket ("TLS error: Secret is not supplied by SDS"), until it comes.
 */
export class SslSocketFactory implements TlsHandshakeCallbacks {
  readonly stats: SslStats;
  /** Undefined while a secret is missing. */
  private context: TlsContext | undefined;
  /** The certificates, a missing secret's undefined (certificates holds them once all are there). */
  private slots: readonly (CertificateInUse | undefined)[] = [];
  /** The validation context's secret is missing. */
  private validationMissing = false;
  /** Envoy's SslSocketFactoryStats: connections refused for a missing secret, contexts rebuilt by SDS. */
  private secretsNotReady: Counter | undefined;
  private contextUpdateBySds: Counter | undefined;
  private sanMatchers: ((session: TlsSession) => boolean) | undefined;
  /** The certificates in use (read from the config's files, or its secrets). */
  certificates: readonly CertificateInUse[] = [];
  /** The validation context in use, its trusted CA read. */
  validation: (ResolvedValidationContext & { readonly path: string }) | undefined;
  /** Downstream: the session settings, ticket keys read. */
  private session: TlsServerSessionOptions | undefined;
  /** Downstream: the certificates' OCSP staples and the policy (replaced with the certificates). */
  private stapler: OcspStapler | undefined;

  private constructor(
    private readonly runtime: Runtime,
    private readonly config: DownstreamTlsConfig | UpstreamTlsConfig,
    scope: StatsScope,
    /** auto_san_validation: the upstream's certificate must name the SNI sent. */
    private readonly autoSanValidation: boolean,
  ) {
    this.stats = new SslStats(scope);
  }

  /**
   * Build it: read the data sources, then have the runtime make its context. Rejects
   * with an Error naming what is wrong (an unreadable file, a bad key, something this
   * runtime's TLS cannot do). Resolves once its secrets from a management server came or
   * their initial_fetch_timeout passed (a cluster's TLS); a listener uses `createWarming`.
   */
  static async create(...args: Parameters<typeof SslSocketFactory.createWarming>): Promise<SslSocketFactory> {
    const factory = await SslSocketFactory.createWarming(...args);
    await Promise.all(factory.initTargets.map((target) => target.ready));
    return factory;
  }

  /**
   * Build it without waiting for the secrets a management server has not sent yet (Envoy
   * builds the factory with its context not ready): they settle on their first
   * updates or initial_fetch_timeout (`initTargets`), the listener's init targets (Envoy's SdsApi init
   * target), while the listener manager serves the others. Every secret is asked for at
   * once. close() releases the secrets when its listener or cluster is gone.
   */
  static async createWarming(
    runtime: Runtime,
    config: DownstreamTlsConfig | UpstreamTlsConfig,
    scope: StatsScope,
    autoSanValidation = false,
    secrets?: SecretManager,
    /** The listener's or cluster's `server_ssl_socket_factory.` / `client_ssl_socket_factory.` scope. */
    factoryScope?: StatsScope,
  ): Promise<SslSocketFactory> {
    if (!runtime.tls) throw new Error(`envoy.transport_sockets.tls is not available on ${runtime.name}: its adapter offers no TLS`);
    const factory = new SslSocketFactory(runtime, config, scope, autoSanValidation);
    if (factoryScope) {
      factory.secretsNotReady = factoryScope.counter(config.side === "downstream" ? "downstream_context_secrets_not_ready" : "upstream_context_secrets_not_ready");
      factory.contextUpdateBySds = factoryScope.counter("ssl_context_update_by_sds");
    }
    const common = config.common;
    const needSecrets = (): SecretManager => {
      if (!secrets) throw new Error("secrets are not available here");
      return secrets;
    };
    try {
      // Every secret asked for at once (their subscriptions start in parallel).
      const certificateLeases = common.tlsCertificateSds.map((ref) => factory.hold(needSecrets().lease(ref, "tlsCertificate")));
      const validationRef = common.validationContextSds;
      const validationLease = validationRef ? factory.hold(needSecrets().lease(validationRef, "validationContext")) : undefined;
      const refs = [...common.tlsCertificateSds, ...(validationRef ? [validationRef] : [])];
      [...certificateLeases, ...(validationLease ? [validationLease] : [])].forEach((lease, i) => {
        if (lease.initTarget) factory.initTargets.push({ name: `SdsApi ${refs[i]!.name}`, ready: lease.initTarget });
      });
      // What the files give, before any secret is taken: an update then builds with them.
      if (config.side === "downstream" && config.session) factory.session = await readSession(runtime, config.session);
      factory.slots = certificateLeases.length > 0 ? certificateLeases.map(() => undefined) : await Promise.all(common.tlsCertificates.map(async (c) => ({ ...(await readCertificate(runtime, c)), path: pathOf(c.certificateChain) })));
      factory.validationMissing = validationLease !== undefined;
      if (!validationLease && common.validationContext) factory.validation = { ...(await readValidationContext(runtime, common.validationContext)), path: pathOf(common.validationContext.trustedCa) };
      // Each secret: what it is now, and its updates, taken in one step (none is missed). An
      // update builds a context beside the one in use; the SDS api switches once every user could.
      await Promise.all([
        ...certificateLeases.map((lease, i) =>
          lease.provider.then(
            (provider) => {
              if (provider.secret) factory.slots = factory.slots.map((slot, j) => (j === i ? certificateOf(provider.secret!) : slot));
              factory.unsubscribes.push(
                provider.addUpdateCallback((secret) => {
                  const next = [...factory.slots];
                  next[i] = certificateOf(secret);
                  return factory.prepare(next, factory.validation, factory.validationMissing, true);
                }),
              );
            },
            (err: unknown) => Promise.reject(new Error(`tls_certificate_sds_secret_configs[${i}] ('${common.tlsCertificateSds[i]!.name}'): ${describeError(err)}`)),
          ),
        ),
        validationLease?.provider.then(
          (provider) => {
            if (provider.secret) {
              factory.validation = validationOf(provider.secret);
              factory.validationMissing = false;
            }
            factory.unsubscribes.push(provider.addUpdateCallback((secret) => factory.prepare(factory.slots, validationOf(secret), false, true)));
          },
          (err: unknown) => Promise.reject(new Error(`validation_context_sds_secret_config ('${validationRef!.name}'): ${describeError(err)}`)),
        ),
      ]);
      // An update that came meanwhile built the context already.
      if (!factory.ready) factory.prepare(factory.slots, factory.validation, factory.validationMissing)();
    } catch (err) {
      factory.close();
      throw err;
    }
    return factory;
  }

  /** Its secrets from a management server, each settling on its first update or initial_fetch_timeout (Envoy's SdsApi init targets). */
  readonly initTargets: { name: string; ready: Promise<void> }[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  private readonly leases: SecretLease[] = [];

  private hold(lease: SecretLease): SecretLease {
    this.leases.push(lease);
    return lease;
  }

  /**
   * Its listener or cluster is gone: no more updates (a rotation builds no context for
   * it) and its secrets are released — one no context holds any more stops, its name
   * leaving the subscription's request (Envoy's SdsApi destructor). Connections open keep
   * the context they have.
   */
  close(): void {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    for (const lease of this.leases.splice(0)) lease.release();
  }

  /**
   * Build the context for these secrets (throws naming what is wrong) and return what
   * puts it in use; with a secret still missing, what records the others (no context).
   */
  private prepare(slots: readonly (CertificateInUse | undefined)[], validation: SslSocketFactory["validation"], validationMissing: boolean, bySds = false): () => void {
    const certificates = slots.flatMap((c) => (c ? [c] : []));
    const ready = certificates.length === slots.length && !validationMissing;
    const built = ready ? this.build(certificates, validation) : undefined;
    return () => {
      this.slots = slots;
      this.validationMissing = validationMissing;
      if (built) {
        this.apply(certificates, validation, built);
        if (bySds) this.contextUpdateBySds?.inc();
      } else this.validation = validation;
    };
  }

  /** Every secret is there: connections get TLS (else each is closed before a handshake). */
  get ready(): boolean {
    return this.context !== undefined;
  }

  /** The runtime's context for these certificates and this validation context (throws naming what is wrong). */
  private build(certificates: readonly TlsCertificate[], validation: ResolvedValidationContext | undefined): { context: TlsContext; stapler?: OcspStapler } {
    const tls = this.runtime.tls!;
    const common = this.config.common;
    const withCa = {
      ...(validation?.trustedCa !== undefined ? { trustedCa: validation.trustedCa } : {}),
      ...(validation?.crl !== undefined ? { crl: validation.crl } : {}),
      ...(validation?.config.allowExpiredCertificate ? { allowExpiredCertificate: true } : {}),
    };
    const plain = certificates.map(({ certificateChain, privateKey, password, ocspStaple }) => ({ certificateChain, privateKey, ...(password !== undefined ? { password } : {}), ...(ocspStaple ? { ocspStaple } : {}) }));
    if (this.config.side === "downstream") {
      const requestClientCertificate = this.config.requireClientCertificate || checksPeer(validation?.config);
      const stapler = new OcspStapler(plain, this.config.ocspStaplePolicy);
      const context = tls.serverContext({ certificates: plain, alpnProtocols: common.alpnProtocols, params: common.params, requestClientCertificate, ...withCa, ...(this.session ? { session: this.session } : {}) }, this);
      return { context, stapler };
    }
    const certificate = plain[0];
    return { context: tls.clientContext({ alpnProtocols: common.alpnProtocols, params: common.params, maxSessionKeys: this.config.maxSessionKeys, ...withCa, ...(certificate ? { certificate } : {}) }, this) };
  }

  private apply(certificates: readonly CertificateInUse[], validation: SslSocketFactory["validation"], built: { context: TlsContext; stapler?: OcspStapler }): void {
    this.certificates = certificates;
    this.validation = validation;
    this.sanMatchers = sanMatcher(validation?.config);
    this.context = built.context;
    this.stapler = built.stapler;
  }

  /** The validation context asks for checks of the peer's certificate beyond its chain. */
  private get checksPeer(): boolean {
    return checksPeer(this.validation?.config);
  }

  /** Terminate TLS on an accepted socket (`peeked`: bytes a listener filter already read). */
  accept(socket: Socket, peeked: Uint8Array | undefined): Socket {
    const context = this.context;
    if (context === undefined) {
      this.secretsNotReady?.inc();
      return notReadySocket(socket, false);
    }
    return this.runtime.tls!.accept(socket, context, peeked);
  }

  /** Connect to an upstream host over TLS, with `serverName` (auto_sni) or the configured SNI. */
  connect(options: ConnectOptions, serverName?: string): Socket {
    const context = this.context;
    if (context === undefined) {
      this.secretsNotReady?.inc();
      return notReadySocket(this.runtime.connect(options), true);
    }
    const sni = serverName ?? (this.config.side === "upstream" ? this.config.sni : undefined);
    return this.runtime.tls!.connect(options, context, sni);
  }

  /** Envoy's DefaultCertValidator order: a missing certificate, the chain, the SANs, the hash. */
  onHandshake(session: TlsSession): boolean {
    const stats = this.stats;
    const validation = this.validation?.config;
    const cert = session.peerCertificate;
    const required = this.config.side === "upstream" ? validation?.trustedCa !== undefined || this.checksPeer : this.config.requireClientCertificate;
    if (!cert && required) {
      stats.failVerifyNoCert.inc();
      return false;
    }
    if (cert) {
      const verifyError = session.peerVerifyError;
      // allow_expired_certificate: Envoy's DefaultCertValidator lets these two through.
      const expiredAllowed = validation?.allowExpiredCertificate === true && (verifyError === "CERT_HAS_EXPIRED" || verifyError === "CERT_NOT_YET_VALID");
      if (verifyError !== undefined && validation?.trustedCa !== undefined && !expiredAllowed) {
        stats.failVerifyError.inc();
        // trust_chain_verification ACCEPT_UNTRUSTED: counted, then accepted.
        if (validation.acceptUntrusted !== true) return false;
      }
      if ((this.sanMatchers && !this.sanMatchers(session)) || (this.autoSanValidation && !namesHost(session))) {
        stats.failVerifySan.inc();
        return false;
      }
      // verify_certificate_hash or verify_certificate_spki: a certificate matching either list passes.
      const spkis = validation?.verifyCertificateSpki ?? [];
      if (validation && (validation.verifyCertificateHash.length > 0 || spkis.length > 0) && !validation.verifyCertificateHash.includes(cert.sha256) && !(spkis.length > 0 && spkis.includes(cert.spkiSha256))) {
        stats.failVerifyCertHash.inc();
        return false;
      }
    }
    stats.handshake.inc();
    if (session.sessionReused) stats.sessionReused.inc();
    if (!cert) stats.noCertificate.inc();
    stats.countValue("versions", session.version);
    stats.countValue("ciphers", session.cipher);
    // Envoy's SslHandshakerImpl logs the group (SSL_get_curve_name) in `curves.<name>`.
    if (session.curve !== undefined) stats.countValue("curves", session.curve);
    return true;
  }

  onHandshakeError(_error: PortError): void {
    this.stats.connectionError.inc();
  }

  /** The client asked for a staple of `certificate` (Envoy's DefaultTlsCertificateSelector::selectTlsContext counts). */
  onOcspRequest(certificate: number): Uint8Array | "none" | "fail" {
    const stats = this.stats;
    stats.ocspStapleRequests.inc();
    const action = this.stapler ? this.stapler.action(certificate, this.runtime.wallClock()) : "none";
    if (action === "fail") stats.ocspStapleFailed.inc();
    else if (action === "none") stats.ocspStapleOmitted.inc();
    else stats.ocspStapleResponses.inc();
    return action;
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

/** A certificate in use, with where it came from (the admin's /certs shows it). */
export interface CertificateInUse extends TlsCertificate {
  /** certificate_chain's file, or "<inline>". */
  readonly path: string;
}

function checksPeer(v: ValidationContextConfig | undefined): boolean {
  return v !== undefined && (v.matchTypedSubjectAltNames.length > 0 || v.verifyCertificateHash.length > 0 || (v.verifyCertificateSpki?.length ?? 0) > 0);
}

function certificateOf(secret: ResolvedSecret): CertificateInUse {
  if (secret.kind !== "tlsCertificate") throw new Error("not a tls_certificate secret");
  return { ...secret.certificate, path: secret.path };
}

function validationOf(secret: ResolvedSecret): ResolvedValidationContext & { readonly path: string } {
  if (secret.kind !== "validationContext") throw new Error("not a validation_context secret");
  return { ...secret.validation, path: secret.path };
}

/** Envoy's session ticket key: 16-byte name, 32-byte HMAC secret, 32-byte AES-256 key (ServerContextConfigImpl). */
const SESSION_TICKET_KEY_LENGTH = 80;

async function readSession(runtime: Runtime, config: DownstreamTlsSessionConfig): Promise<TlsServerSessionOptions> {
  const ticketKeys = config.ticketKeys
    ? await Promise.all(
        config.ticketKeys.map(async (source, i) => {
          const key = await readBytes(runtime, source, `session_ticket_keys.keys[${i}]`);
          if (key.byteLength !== SESSION_TICKET_KEY_LENGTH) throw new Error(`Incorrect TLS session ticket key length. Length ${key.byteLength}, expected length ${SESSION_TICKET_KEY_LENGTH}.`);
          return key;
        }),
      )
    : undefined;
  return {
    ...(ticketKeys ? { ticketKeys } : {}),
    ...(config.disableStateless ? { disableStateless: true } : {}),
    ...(config.disableStateful ? { disableStateful: true } : {}),
    ...(config.timeoutSeconds !== undefined ? { timeoutSeconds: config.timeoutSeconds } : {}),
  };
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
