/**
 * Envoy's jwt_authn HTTP filter (source/extensions/filters/http/jwt_authn/filter.cc,
 * authenticator.cc, verifier.cc): the first rule matching the request (matcher.cc; or the
 * route's PerRouteConfig) names a requirement; the request waits while its JWTs are
 * verified (signatures through the port's WebCrypto, so asynchronously) and goes on, or is
 * answered 401 (403 for a disallowed audience) with jwt_verify_lib's status text as the
 * body and a `www-authenticate: Bearer realm="<request URI>"` header (plus
 * `, error="invalid_token"` unless the JWT was missing). Stats:
 * http.<stat_prefix>.jwt_authn.<filter stat_prefix>{allowed,denied,cors_preflight_bypassed,
 * jwks_fetch_success,jwks_fetch_failed}. A remote_jwks provider's keys come from
 * remote-jwks.ts: a request whose keys are missing or expired waits for their fetch.
 */
import type { JwtAuthnConfig, JwtAuthnPerRouteConfig, JwtJwk, JwtProviderConfig, JwtRequirementConfig } from "../../../config/bootstrap.ts";
import type { ServerContext } from "../../../server-context.ts";
import type { Counter } from "../../../stats/counter.ts";
import { PerConfig } from "../../../util/per-config.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../../filter.ts";
import type { RequestHeaders } from "../../message.ts";
import { parseQueryParameters } from "../../route/header-matcher.ts";
import { compileRequestMatch, type RouteRequest } from "../../route/route-table.ts";
import type { HttpFilterChainContext } from "../http-filter-registry.ts";
import { AsyncClient } from "../../async-client.ts";
import { encodeBase64 } from "../../../util/base64.ts";
import { utf8Encode } from "../../../util/utf8.ts";
import { latin1Decode } from "../../../util/latin1.ts";
import { RemoteJwks, type JwksFetchStats } from "./remote-jwks.ts";
import {
  JWKS_FETCH_FAIL,
  JWKS_KID_ALG_MISMATCH,
  JWT_AUDIENCE_NOT_ALLOWED,
  JWT_EXPIRED,
  JWT_MISSED,
  JWT_NOT_YET_VALID,
  JWT_UNKNOWN_ISSUER,
  JWT_VERIFICATION_FAIL,
  parseJwt,
  type Jwt,
} from "./jwt.ts";
import { sanitizeStatsPrefix } from "../../../stats/sanitize-stats-name.ts";

const OK = "OK";
/** Envoy's MaximumUriLength for the realm (filter.cc). */
const MAXIMUM_URI_LENGTH = 256;
const INVALID_TOKEN = ', error="invalid_token"';

/** A provider with where its tokens are, and its remote keys' cache. */
interface Provider {
  readonly name: string;
  readonly config: JwtProviderConfig;
  readonly remote: RemoteJwks | undefined;
}

/** A token found in the request, and where (to remove it when not forwarded). */
interface FoundToken {
  token: string;
  provider: Provider;
  /** The header it came from; undefined for a query parameter. */
  header: string | undefined;
}

export class JwtAuthnFilterConfig {
  readonly providers = new Map<string, Provider>();
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly corsPreflightBypassed: Counter;
  /** The rules, compiled once: the first whose match holds names the requirement. */
  private readonly rules: { matches: (request: RouteRequest) => boolean; requirement: JwtRequirementConfig | undefined }[];
  private asyncFetchesStarted = false;

  constructor(
    readonly config: JwtAuthnConfig,
    private readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.jwt_authn.${config.statPrefix}`);
    this.allowed = server.stats.counter(`${prefix}allowed`);
    this.denied = server.stats.counter(`${prefix}denied`);
    this.corsPreflightBypassed = server.stats.counter(`${prefix}cors_preflight_bypassed`);
    this.rules = config.rules.map((rule) => ({
      matches: compileRequestMatch(rule.match),
      requirement: rule.requires ?? (rule.requirementName !== undefined ? config.requirementMap.get(rule.requirementName) : undefined),
    }));
    let fetchStats: JwksFetchStats | undefined;
    let client: AsyncClient | undefined;
    for (const [name, provider] of config.providers) {
      let remote: RemoteJwks | undefined;
      if (provider.remoteJwks !== undefined) {
        fetchStats ??= { success: server.stats.counter(`${prefix}jwks_fetch_success`), failed: server.stats.counter(`${prefix}jwks_fetch_failed`) };
        client ??= new AsyncClient(server);
        remote = new RemoteJwks(server, client, provider.remoteJwks, fetchStats);
      }
      this.providers.set(name, { name, config: provider, remote });
    }
  }

  /** remote_jwks with async_fetch: the first fetches, which the listener waits for unless fast_listener (once). */
  startAsyncFetches(): void {
    if (this.asyncFetchesStarted) return;
    this.asyncFetchesStarted = true;
    for (const provider of this.providers.values()) {
      const first = provider.remote?.startAsyncFetch();
      if (first !== undefined) this.server.initManager.add(`jwt_authn provider ${provider.name}'s JWKS (${provider.config.remoteJwks!.uri})`, first);
    }
    // Envoy's JwksAsyncFetcher goes with the filter config: its listener gone, no more refetches.
    this.server.onListenerDestroyed?.(() => {
      for (const provider of this.providers.values()) provider.remote?.stop();
    });
  }

  /** The requirement of the first rule matching the request (its path without the query, headers, query parameters), if any. */
  findRequirement(request: RouteRequest): JwtRequirementConfig | undefined {
    for (const rule of this.rules) {
      if (rule.matches(request)) return rule.requirement;
    }
    return undefined;
  }
}

const CONFIGS = new PerConfig((config: JwtAuthnConfig, server: ServerContext, chain: HttpFilterChainContext) => new JwtAuthnFilterConfig(config, server, chain));

export function jwtAuthnFilterConfig(config: JwtAuthnConfig, server: ServerContext, chain: HttpFilterChainContext): JwtAuthnFilterConfig {
  return CONFIGS.get(config, server, chain);
}

const CALLING = 1;
const COMPLETE = 2;
const RESPONDED = 3;

export class JwtAuthnFilter implements StreamDecoderFilter {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private state = 0;
  private stopped = false;
  private destroyed = false;
  private headers: RequestHeaders | undefined;
  /** Tokens that verified: removed (forward false) and their payloads forwarded once the requirement holds. */
  private verified: { found: FoundToken; jwt: Jwt }[] = [];

  constructor(
    private readonly shared: JwtAuthnFilterConfig,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    this.state = CALLING;
    this.headers = headers;
    if (this.shared.config.bypassCorsPreflight && headers.method === "OPTIONS" && headers.has("origin") && headers.has("access-control-request-method")) {
      this.shared.corsPreflightBypassed.inc();
      this.onComplete(OK);
      return FilterHeadersStatus.Continue;
    }
    let requirement: JwtRequirementConfig | undefined;
    const perRoute = this.callbacks.mostSpecificPerFilterConfig<JwtAuthnPerRouteConfig>();
    if (perRoute !== undefined) {
      if ("disabled" in perRoute) return this.complete();
      requirement = this.shared.config.requirementMap.get(perRoute.requirementName);
      if (requirement === undefined) {
        const names = [...this.shared.config.requirementMap.keys()].join(",");
        const error = `Wrong requirement_name: ${perRoute.requirementName}. It should be one of [${names}]`;
        this.shared.denied.inc();
        this.state = RESPONDED;
        this.callbacks.sendLocalReply(403, this.shared.config.stripFailureResponse ? "" : `Failed JWT authentication: ${error}`, rcDetails(error));
        return FilterHeadersStatus.StopIteration;
      }
    } else {
      requirement = this.shared.findRequirement(headers);
    }
    if (requirement === undefined) return this.complete();
    this.verify(requirement)
      .then(
        (status) => this.onComplete(status),
        (err: unknown) => {
          const log = this.server.log.component("jwt");
          if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}jwt_authn: verification failed: ${err instanceof Error ? err.message : String(err)}`);
          this.onComplete(JWT_VERIFICATION_FAIL);
        },
      )
      // What onComplete itself throws (a local reply or continuing the stream) must end this
      // stream, not escape as an unhandled rejection, which ends a node process.
      .catch((err: unknown) => {
        this.server.log.error(`jwt_authn: ${err instanceof Error ? err.message : String(err)}`);
        if (!this.destroyed) this.callbacks.resetStream();
      });
    if (this.state === COMPLETE) return FilterHeadersStatus.Continue;
    this.stopped = true;
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return this.state === CALLING ? FilterDataStatus.StopIterationAndWatermark : FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.state === CALLING ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.destroyed = true;
  }

  private complete(): FilterHeadersStatus {
    this.onComplete(OK);
    return FilterHeadersStatus.Continue;
  }

  /** Envoy's Filter::onComplete. */
  private onComplete(status: string): void {
    if (this.destroyed || this.state === RESPONDED) return;
    if (status !== OK) {
      this.shared.denied.inc();
      this.state = RESPONDED;
      const code = status === JWT_AUDIENCE_NOT_ALLOWED ? 403 : 401;
      if (this.shared.config.stripFailureResponse) {
        this.callbacks.sendLocalReply(code, "", rcDetails(status));
        return;
      }
      const realm = `Bearer realm="${originalUri(this.headers!)}"${status === JWT_MISSED ? "" : INVALID_TOKEN}`;
      this.callbacks.sendLocalReply(code, status, rcDetails(status), undefined, [["www-authenticate", realm]]);
      return;
    }
    this.applyVerified();
    this.shared.allowed.inc();
    this.state = COMPLETE;
    if (this.stopped) this.callbacks.continueDecoding();
  }

  /**
   * Tokens that verified (Envoy's AuthenticatorImpl::handleGoodJwt): their payload in
   * forward_payload_header, claim_to_headers, removed unless forwarded; once the whole
   * requirement holds, header/payload_in_metadata in the stream's dynamic metadata under
   * envoy.filters.http.jwt_authn (verifier.cc sets the extracted data only on success).
   */
  private applyVerified(): void {
    const headers = this.headers!;
    let extracted: Record<string, unknown> | undefined;
    for (const { found, jwt } of this.verified) {
      const provider = found.provider.config;
      if (provider.forwardPayloadHeader !== "") {
        let payload = jwt.payloadBase64Url;
        if (provider.padForwardPayloadHeader) payload += "=".repeat((4 - (payload.length % 4)) % 4);
        headers.set(provider.forwardPayloadHeader, payload);
      }
      for (const { header, claim } of provider.claimToHeaders) {
        const value = claimHeaderValue(jwt.payload, claim);
        // The client's own copies were removed before verifying (sanitize). A value with
        // NUL, CR or LF would split the header or the message on the wire: not sent.
        if (value !== "" && !UNSAFE_VALUE.test(value)) headers.add(header, value);
      }
      if (!provider.forward && found.header !== undefined) headers.remove(found.header);
      if (provider.headerInMetadata !== "") (extracted ??= {})[provider.headerInMetadata] = jwt.header;
      if (provider.payloadInMetadata !== "") (extracted ??= {})[provider.payloadInMetadata] = jwt.payload;
    }
    if (extracted !== undefined) this.callbacks.streamInfo.setDynamicMetadata(JWT_AUTHN_METADATA_NAMESPACE, extracted);
  }

  // ---- requirements (Envoy's verifier.cc) ----

  private async verify(requirement: JwtRequirementConfig): Promise<string> {
    switch (requirement.type) {
      case "provider": {
        const provider = this.shared.providers.get(requirement.provider)!;
        return this.verifyProvider(provider, requirement.audiences);
      }
      case "all": {
        for (const r of requirement.requirements) {
          const status = await this.verify(r);
          if (status !== OK) return status;
        }
        return OK;
      }
      case "any": {
        // OK when one is; else the first failure that is not a missing JWT (Envoy's AnyVerifierImpl).
        let failure: string | undefined;
        for (const r of requirement.requirements) {
          const status = await this.verify(r);
          if (status === OK) return OK;
          if (failure === undefined || failure === JWT_MISSED) failure = status;
        }
        return failure ?? JWT_MISSED;
      }
      case "allowMissing": {
        const status = await this.verifyAnyProvider();
        return status === JWT_MISSED ? OK : status;
      }
      case "allowMissingOrFailed":
        await this.verifyAnyProvider();
        return OK;
      case "allowAll":
        return OK;
    }
  }

  /** One provider's tokens: the first found must verify. */
  private async verifyProvider(provider: Provider, audiences: string[] | undefined): Promise<string> {
    this.sanitize(provider);
    const found = this.extract(provider);
    if (found === undefined) return JWT_MISSED;
    return this.verifyToken(found, audiences);
  }

  /** allow_missing(_or_failed): a token at any provider's place, verified by the provider its issuer names. */
  private async verifyAnyProvider(): Promise<string> {
    for (const provider of this.shared.providers.values()) this.sanitize(provider);
    for (const provider of this.shared.providers.values()) {
      const found = this.extract(provider);
      if (found === undefined) continue;
      const jwt = parseJwt(found.token);
      if (typeof jwt !== "string") {
        const byIssuer = [...this.shared.providers.values()].find((p) => p.config.issuer === jwt.iss);
        if (byIssuer !== undefined) found.provider = byIssuer;
      }
      return this.verifyToken(found, undefined);
    }
    return JWT_MISSED;
  }

  /**
   * The headers this provider writes from a verified token are the proxy's alone: a
   * client's own copies are removed before verifying, so an upstream never takes a
   * client-made `x-jwt-payload` or claim header for a verified one (Envoy's
   * ExtractorImpl::sanitizeHeaders, called by each provider's verifier).
   */
  private sanitize(provider: Provider): void {
    const headers = this.headers!;
    const config = provider.config;
    if (config.forwardPayloadHeader !== "") headers.remove(config.forwardPayloadHeader);
    for (const { header } of config.claimToHeaders) headers.remove(header);
  }

  /** Envoy's authenticator.cc order: parse, issuer, time, audiences, key, signature. */
  private async verifyToken(found: FoundToken, requirementAudiences: string[] | undefined): Promise<string> {
    const jwt = parseJwt(found.token);
    if (typeof jwt === "string") return jwt;
    const provider = found.provider.config;
    if (provider.issuer !== "" && jwt.iss !== provider.issuer) return JWT_UNKNOWN_ISSUER;
    const now = Math.floor(this.server.runtime.wallClock() / 1000);
    const skew = provider.clockSkewSeconds;
    if (jwt.nbf !== 0 && now + skew < jwt.nbf) return JWT_NOT_YET_VALID;
    if (jwt.exp !== 0 && now - skew > jwt.exp) return JWT_EXPIRED;
    if (jwt.exp === 0 && provider.requireExpiration) return JWT_EXPIRED;
    const audiences = requirementAudiences !== undefined && requirementAudiences.length > 0 ? requirementAudiences : provider.audiences;
    if (audiences.length > 0 && !jwt.audiences.some((aud) => audiences.includes(aud))) return JWT_AUDIENCE_NOT_ALLOWED;
    let jwks = provider.jwks;
    const remote = found.provider.remote;
    if (remote !== undefined) {
      // Missing or expired keys: this request waits for a fetch (Envoy's authenticator.cc startVerify).
      const fetched = remote.cached() ?? (await remote.fetch());
      if (fetched === undefined) return JWKS_FETCH_FAIL;
      if (this.destroyed) return JWT_VERIFICATION_FAIL;
      jwks = fetched;
    }
    const keys = jwks.filter((key) => keyMatches(key, jwt));
    if (keys.length === 0) return JWKS_KID_ALG_MISMATCH;
    const verifySignature = this.server.runtime.verifySignature!;
    for (const key of keys) {
      if (await verifySignature(key, jwt.alg, jwt.signingInput, jwt.signature)) {
        this.verified.push({ found, jwt });
        return OK;
      }
    }
    return JWT_VERIFICATION_FAIL;
  }

  /** The provider's first token: its from_headers and from_params, else Envoy's defaults (Authorization Bearer, access_token). */
  private extract(provider: Provider): FoundToken | undefined {
    const headers = this.headers!;
    const config = provider.config;
    const fromHeaders = config.fromHeaders.length === 0 && config.fromParams.length === 0 ? DEFAULT_HEADERS : config.fromHeaders;
    const fromParams = config.fromHeaders.length === 0 && config.fromParams.length === 0 ? DEFAULT_PARAMS : config.fromParams;
    for (const { name, valuePrefix } of fromHeaders) {
      const value = headers.get(name);
      if (value === undefined) continue;
      // Envoy: the prefix is matched case-sensitively, and the token is what follows it.
      if (!value.startsWith(valuePrefix)) continue;
      const token = value.slice(valuePrefix.length).trim();
      if (token !== "") return { token, provider, header: name };
    }
    if (fromParams.length > 0 && headers.path.includes("?")) {
      const query = parseQueryParameters(headers.path);
      for (const name of fromParams) {
        const token = query.get(name);
        if (token !== undefined && token !== "") return { token, provider, header: undefined };
      }
    }
    return undefined;
  }
}

const JWT_AUTHN_METADATA_NAMESPACE = "envoy.filters.http.jwt_authn";

/**
 * A claim's header value as Envoy's addJWTClaimToHeader makes it (authenticator.cc): the
 * claim found by a `.`-separated path into nested objects (jwt_verify_lib's
 * StructUtils::GetValue); a string as is, a number as an integer when it is a whole
 * non-negative one (else C++'s std::to_string of a double: six decimals), true/false, an
 * object or array as base64 of its JSON; "" (no header) when absent or null.
 */
export function claimHeaderValue(payload: Record<string, unknown>, claim: string): string {
  let value: unknown = payload;
  for (const part of claim.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return "";
    value = (value as Record<string, unknown>)[part];
  }
  switch (typeof value) {
    case "string":
      // Header values are byte strings: a claim's text goes as its UTF-8 bytes, as Envoy's.
      return utf8ByteString(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      return Number.isInteger(value) && value >= 0 && value < 2 ** 64 ? BigInt(value).toString() : value.toFixed(6);
    case "object":
      return value === null ? "" : encodeBase64(utf8Encode(JSON.stringify(value)));
    default:
      return "";
  }
}

const UNSAFE_VALUE = /[\0\r\n]/;

/** `text` as the byte string of its UTF-8 encoding (each byte one code unit ≤ 0xff). */
function utf8ByteString(text: string): string {
  if (/^[\0-\x7f]*$/.test(text)) return text;
  const bytes = utf8Encode(text);
  return latin1Decode(bytes, 0, bytes.length);
}

const DEFAULT_HEADERS = [{ name: "authorization", valuePrefix: "Bearer " }];
const DEFAULT_PARAMS = ["access_token"];

/** A key may verify the JWT: kid and alg agree when both say one, and its type fits the algorithm. */
function keyMatches(key: JwtJwk, jwt: Jwt): boolean {
  if (jwt.kid !== undefined && key.kid !== undefined && key.kid !== jwt.kid) return false;
  if (key.alg !== undefined && key.alg !== jwt.alg) return false;
  const family = jwt.alg.slice(0, 2);
  if (family === "RS" || family === "PS") return key.kty === "RSA";
  if (family === "ES") return key.kty === "EC";
  return key.kty === "OKP";
}

/** Envoy's generateRcDetails: jwt_authn_access_denied{<status, spaces as underscores>}. */
function rcDetails(status: string): string {
  return `jwt_authn_access_denied{${status.replace(/\s/g, "_")}}`;
}

/**
 * Envoy's Http::Utility::buildOriginalUri (source/common/http/utility.cc): :scheme "://"
 * host, then x-envoy-original-path or :path (query included), cut at 256 characters.
 */
function originalUri(headers: RequestHeaders): string {
  const path = (headers.get("x-envoy-original-path") ?? headers.path).slice(0, MAXIMUM_URI_LENGTH);
  return `${headers.scheme}://${headers.authority}${path}`;
}
