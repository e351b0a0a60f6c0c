/**
 * Envoy's oauth2 HTTP filter (source/extensions/filters/http/oauth2/filter.cc), the
 * authorization code flow (RFC 6749 §4.1) for a browser:
 * 1. a request matching a pass_through_matcher goes on untouched (oauth_passthrough);
 * 2. otherwise Authorization is removed (unless preserve_authorization_header), and a
 *    request on signout_path gets the cookies deleted and a 302 to "/";
 * 3. valid cookies (OauthHMAC signs host, OauthExpires and the tokens with hmac_secret;
 *    the expiry is ahead) let it through, with Authorization: Bearer <BearerToken> when
 *    forward_bearer_token (oauth_success);
 * 4. without them, a request off the redirect path with a RefreshToken cookie (and
 *    use_refresh_token) waits while the session is renewed at token_endpoint (RFC 6749
 *    §6: oauth_refreshtoken_success / _failure); otherwise it is sent to authorization_endpoint
 *    (302; client_id, redirect_uri, response_type=code, scope, state = the original URL;
 *    oauth_unauthorized_rq), or answered 401 when a deny_redirect_matcher matches;
 * 5. the callback (redirect_path_matcher) with code and state: the code is exchanged at
 *    token_endpoint, the cookies are set and the browser sent back to the state's URL.
 * Failures answer 401 "OAuth flow failed." (oauth_failure).
 */
import type { OAuth2Config, OAuth2FilterConfig, SdsSecretConfig, StringMatcherConfig } from "../../../config/bootstrap.ts";
import type { ServerContext } from "../../../server-context.ts";
import type { Counter } from "../../../stats/counter.ts";
import type { SecretProvider } from "../../../tls/secret-manager.ts";
import { latin1Encode } from "../../../util/latin1.ts";
import { utf8Encode } from "../../../util/utf8.ts";
import { compileTextFormat } from "../../../access-log/format.ts";
import type { AccessLogFormatter } from "../../../access-log/format.ts";
import { AsyncClient } from "../../async-client.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamFilter,
} from "../../filter.ts";
import { ResponseHeaders, type RequestHeaders } from "../../message.ts";
import { parseJwt } from "../jwt-authn/jwt.ts";
import { compileHeaderMatcher, compileStringMatch } from "../../route/header-matcher.ts";
import type { HttpFilterChainContext } from "../http-filter-registry.ts";
import { PerConfig } from "../../../util/per-config.ts";
import { OAuth2Client, type AccessTokenResult, type OAuth2ClientCallbacks } from "./oauth2-client.ts";
import { encodeHmacBase64, parseCookies, readOAuth2Cookies, type HmacSha256 } from "./oauth2-cookies.ts";
import { VerifiedCookies } from "./verified-cookies.ts";
import { isAbsoluteHttpUrl, parseQueryString, pathAndQuery, percentDecode, replaceQueryString, urlEncodeQueryParameter } from "./oauth2-url.ts";
import { sanitizeStatsPrefix } from "../../../stats/sanitize-stats-name.ts";

/** filter.cc's local reply body and response code details. */
const UNAUTHORIZED_BODY = "OAuth flow failed.";
const REDIRECT_RACE = "oauth.race_redirect";
const REDIRECT_LOGGED_IN = "oauth.logged_in";
const REDIRECT_FOR_CREDENTIALS = "oauth.missing_credentials";
const SIGN_OUT = "oauth.sign_out";

/** CookieDeleteFormatString and CookieTailHttpOnlyFormatString (filter.cc). */
const deleteCookie = (name: string) => `${name}=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT`;
const cookieTail = (maxAge: string) => `;path=/;Max-Age=${maxAge};secure;HttpOnly`;

/** The path without query and fragment, what a PathMatcher matches (Http::PathUtil::removeQueryAndFragment). */
function withoutQuery(path: string): string {
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}

function pathMatcher(config: StringMatcherConfig): (path: string) => boolean {
  const matches = compileStringMatch(config);
  return (path) => matches(withoutQuery(path));
}

/**
 * A generic secret's bytes now, kept up to date as SDS delivers new ones. Empty while a
 * management server has not sent it (or sent it empty): not ready, never used as a key.
 */
class GenericSecret {
  value: Uint8Array = new Uint8Array(0);

  get ready(): boolean {
    return this.value.length > 0;
  }

  /**
   * Lease the secret (static, an SDS file, or a management server's) and follow its
   * updates until the filter's listener is gone: then the lease is released, and an SDS
   * subscription no one else holds stops (Envoy's GenericSecretSdsApi goes with the last
   * FilterConfig holding it). A management server's first update (or its
   * initial_fetch_timeout) is the listener's init target, as a TLS context's secret: the
   * listener warms meanwhile, its build does not wait.
   */
  static async load(server: ServerContext, ref: SdsSecretConfig, field: string): Promise<GenericSecret> {
    const manager = server.secretManager;
    if (manager === undefined) throw new Error(`${field}: no secret manager`);
    const lease = manager.lease(ref, "genericSecret");
    let stopUpdates: (() => void) | undefined;
    let released = false;
    server.onListenerDestroyed?.(() => {
      released = true;
      stopUpdates?.();
      lease.release();
    });
    if (lease.initTarget !== undefined) server.initManager.add(`SdsApi ${ref.name}`, lease.initTarget);
    let provider: SecretProvider;
    try {
      provider = await lease.provider;
    } catch (err) {
      throw new Error(`${field}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const secret = new GenericSecret();
    const take = (resolved: SecretProvider["secret"]) => {
      // Not yet sent by a management server: empty until it is (the filter answers 401 meanwhile).
      if (resolved?.kind === "genericSecret") secret.value = resolved.secret;
    };
    take(provider.secret);
    // The listener gone while this waited: no updates to follow.
    if (!released) stopUpdates = provider.addUpdateCallback((resolved) => () => take(resolved));
    return secret;
  }
}

/** What one oauth2 filter's streams share (Envoy's FilterConfig): matchers, formatter, secrets, stats. */
export class OAuth2Shared {
  readonly passThrough: ((headers: RequestHeaders) => boolean)[];
  readonly denyRedirect: ((headers: RequestHeaders) => boolean)[];
  readonly redirectPath: (path: string) => boolean;
  readonly signoutPath: (path: string) => boolean;
  readonly redirectUri: AccessLogFormatter;
  /** The authorization endpoint's own query, with client_id, response_type and scope set (buildAutorizationQueryParams). */
  readonly authorizationQuery: Map<string, string[]>;
  /** "&resource=…" for each of resources, appended to the redirect (encodeResourceList). */
  readonly encodedResources: string;
  readonly client: AsyncClient;
  /** credentials.token_secret (the client secret) and hmac_secret, once resolved. */
  clientSecret: GenericSecret | undefined;
  hmacSecret: GenericSecret | undefined;
  readonly oauthUnauthorizedRq: Counter;
  readonly oauthFailure: Counter;
  readonly oauthPassthrough: Counter;
  readonly oauthSuccess: Counter;
  readonly oauthRefreshtokenSuccess: Counter;
  readonly oauthRefreshtokenFailure: Counter;
  /** Cookie tuples whose HMAC was checked: the same cookies again need no new HMAC until they expire. */
  readonly verifiedCookies = new VerifiedCookies();
  private resolving: Promise<void> | undefined;

  constructor(
    readonly config: OAuth2FilterConfig,
    readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    this.passThrough = config.passThroughMatchers.map(compileHeaderMatcher);
    this.denyRedirect = config.denyRedirectMatchers.map(compileHeaderMatcher);
    this.redirectPath = pathMatcher(config.redirectPathMatcher);
    this.signoutPath = pathMatcher(config.signoutPath);
    // Envoy's Formatter::FormatterImpl: a value a command lacks renders as "-".
    this.redirectUri = compileTextFormat(config.redirectUri);
    this.authorizationQuery = parseQueryString(config.authorizationEndpoint);
    this.authorizationQuery.set("client_id", [config.clientId]);
    this.authorizationQuery.set("response_type", ["code"]);
    this.authorizationQuery.set("scope", [urlEncodeQueryParameter(utf8Encode(config.authScopes.join(" ")))]);
    this.encodedResources = config.resources.map((r) => `&resource=${urlEncodeQueryParameter(utf8Encode(r))}`).join("");
    this.client = new AsyncClient(server);
    // ALL_OAUTH_FILTER_STATS under the HCM's prefix (config.cc passes the filter's stats_prefix).
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.`);
    this.oauthUnauthorizedRq = server.stats.counter(`${prefix}oauth_unauthorized_rq`);
    this.oauthFailure = server.stats.counter(`${prefix}oauth_failure`);
    this.oauthPassthrough = server.stats.counter(`${prefix}oauth_passthrough`);
    this.oauthSuccess = server.stats.counter(`${prefix}oauth_success`);
    this.oauthRefreshtokenSuccess = server.stats.counter(`${prefix}oauth_refreshtoken_success`);
    this.oauthRefreshtokenFailure = server.stats.counter(`${prefix}oauth_refreshtoken_failure`);
  }

  /** Read both secrets (static, or from their SDS files); config.cc refuses the filter without them. */
  resolve(): Promise<void> {
    this.resolving ??= (async () => {
      // Both asked for at once (their subscriptions start together).
      const [clientSecret, hmacSecret] = await Promise.all([
        GenericSecret.load(this.server, this.config.tokenSecret, "invalid token secret configuration"),
        GenericSecret.load(this.server, this.config.hmacSecret, "invalid HMAC secret configuration"),
      ]);
      this.clientSecret = clientSecret;
      this.hmacSecret = hmacSecret;
    })();
    return this.resolving;
  }

  /**
   * Both secrets are there. Without hmac_secret any cookie could be forged (an HMAC with
   * an empty key is anyone's) and nothing can be signed; without token_secret no code can
   * be exchanged: until SDS delivers them, every request the filter would check is refused.
   */
  get secretsReady(): boolean {
    return this.hmacSecret?.ready === true && this.clientSecret?.ready === true;
  }

  get hmac(): HmacSha256 {
    return this.server.runtime.hmacSha256!.bind(this.server.runtime);
  }

  /** Wall-clock seconds since the epoch (the expiry cookies count in them). */
  nowSeconds(): number {
    return Math.floor(this.server.runtime.wallClock() / 1000);
  }
}

const CONFIGS = new PerConfig((config: OAuth2FilterConfig, server: ServerContext, chain: HttpFilterChainContext) => new OAuth2Shared(config, server, chain));

export function oauth2FilterConfig(config: OAuth2FilterConfig, server: ServerContext, chain: HttpFilterChainContext): OAuth2Shared {
  return CONFIGS.get(config, server, chain);
}

/** Without `config`, Envoy installs no filter: this one passes everything on. */
export function oauth2Enabled(config: OAuth2Config): config is { config: OAuth2FilterConfig } {
  return config.config !== undefined;
}

const enum State {
  /** Not decided yet, or let through. */
  Idle,
  /** Awaiting the cookie check or the token endpoint: the request waits. */
  Working,
  /** Answered by this filter. */
  Responded,
  /** Let through after waiting. */
  Continued,
}

export class OAuth2Filter implements StreamFilter, OAuth2ClientCallbacks {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private headers: RequestHeaders | undefined;
  /** After a refresh: the cookies the response sets (Envoy's was_refresh_token_flow_). */
  private refreshedCookies: [string, string][] | undefined;
  private state = State.Idle;
  private destroyed = false;
  private host = "";
  /** The callback's state: the URL the browser goes back to once logged in. */
  private originalUrl = "";
  private oauthClient: OAuth2Client | undefined;

  constructor(private readonly shared: OAuth2Shared | undefined) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  /** The response is only added to (encodeHeaders): nothing to ask of it. */
  setEncoderFilterCallbacks(): void {}

  /** After a refresh, the new cookies go to the browser with the upstream's response. */
  encodeHeaders(headers: ResponseHeaders): FilterHeadersStatus {
    const cookies = this.refreshedCookies;
    this.refreshedCookies = undefined;
    if (cookies !== undefined) for (const [name, value] of cookies) headers.add(name, value);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const shared = this.shared;
    if (shared === undefined) return FilterHeadersStatus.Continue;
    // Pass-through first, before Authorization is touched.
    for (const matches of shared.passThrough) {
      if (matches(headers)) {
        shared.oauthPassthrough.inc();
        return FilterHeadersStatus.Continue;
      }
    }
    // Envoy cannot validate a client's own Authorization: removed, unless told to keep it.
    if (!shared.config.preserveAuthorizationHeader) headers.remove("authorization");
    this.host = headers.authority;
    this.headers = headers;
    if (shared.signoutPath(headers.path)) {
      this.signOutUser(headers);
      return FilterHeadersStatus.StopIteration;
    }
    this.state = State.Working;
    this.decide(headers).catch((err: unknown) => {
      // What the steps throw (a local reply into a stream gone) must end the stream, not escape.
      this.server.log.error(`oauth2: ${err instanceof Error ? err.message : String(err)}`);
      if (!this.destroyed) this.callbacks.resetStream();
    });
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return this.state === State.Working ? FilterDataStatus.StopIterationAndBuffer : FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.state === State.Working ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.destroyed = true;
    this.oauthClient?.cancel();
  }

  private get server(): ServerContext {
    return this.shared!.server;
  }

  /** The rest of decodeHeaders, after the (asynchronous) cookie check. */
  private async decide(headers: RequestHeaders): Promise<void> {
    const shared = this.shared!;
    const path = headers.path;
    if (!shared.secretsReady) {
      const log = this.server.log.component("oauth2");
      if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}oauth2: token_secret or hmac_secret not supplied by SDS yet`);
      return this.sendUnauthorizedResponse();
    }
    const cookies = readOAuth2Cookies(headers, shared.config.cookieNames);
    const valid = await shared.verifiedCookies.verify(shared.hmac, shared.hmacSecret!.value, cookies, shared.nowSeconds());
    if (this.destroyed) return;
    if (valid) {
      shared.oauthSuccess.inc();
      if (shared.config.forwardBearerToken && cookies.token !== "") headers.set("authorization", `Bearer ${cookies.token}`);
      if (shared.redirectPath(path)) {
        // Logged in already (a second tab's callback): back to the state's URL, unless that is the callback itself (a loop).
        const state = parseQueryString(path).get("state")?.[0];
        const url = state === undefined ? "" : percentDecode(state);
        if (!isAbsoluteHttpUrl(url) || shared.redirectPath(pathAndQuery(url))) return this.sendUnauthorizedResponse();
        return this.redirect(url, [], REDIRECT_RACE);
      }
      return this.continueDecoding();
    }
    if (!shared.redirectPath(path)) {
      // An expired session with a refresh token is renewed first (RFC 6749 §6), the request waiting.
      if (shared.config.useRefreshToken && cookies.refreshToken !== "") {
        this.oauthClient = new OAuth2Client(shared.client, shared.config);
        this.oauthClient.refreshAccessToken(cookies.refreshToken, shared.clientSecret!.value, this);
        return;
      }
      return this.redirectOrDeny(headers);
    }
    // The callback from the authorization server: an error, or a code and the state.
    const query = parseQueryString(path);
    if (query.has("error")) return this.sendUnauthorizedResponse();
    const code = query.get("code")?.[0];
    const state = query.get("state")?.[0];
    if (code === undefined || state === undefined) return this.sendUnauthorizedResponse();
    this.originalUrl = percentDecode(state);
    if (!isAbsoluteHttpUrl(this.originalUrl)) return this.sendUnauthorizedResponse();
    const redirectUri = shared.redirectUri.format(this.callbacks.headerFormatterContext(undefined));
    this.oauthClient = new OAuth2Client(shared.client, shared.config);
    this.oauthClient.getAccessToken(code, shared.clientSecret!.value, redirectUri, this);
  }

  /** canRedirectToOAuthServer: 401 when a deny_redirect_matcher matches, else the redirect. */
  private redirectOrDeny(headers: RequestHeaders): void {
    for (const matches of this.shared!.denyRedirect) if (matches(headers)) return this.sendUnauthorizedResponse();
    this.redirectToOAuthServer(headers);
  }

  /** redirectToOAuthServer: 302 to authorization_endpoint with the query Envoy builds. */
  private redirectToOAuthServer(headers: RequestHeaders): void {
    const shared = this.shared!;
    // https unless the request says http (OAuth needs https; a plain-http request says so explicitly).
    const scheme = headers.scheme.toLowerCase() === "http" ? "http" : "https";
    const originalUrl = `${scheme}://${this.host}${headers.path}`;
    const redirectUri = shared.redirectUri.format(this.callbacks.headerFormatterContext(undefined));
    const query = new Map(shared.authorizationQuery);
    query.set("redirect_uri", [urlEncodeQueryParameter(latin1Encode(redirectUri))]);
    query.set("state", [urlEncodeQueryParameter(latin1Encode(originalUrl))]);
    const location = replaceQueryString(shared.config.authorizationEndpoint, query) + shared.encodedResources;
    shared.oauthUnauthorizedRq.inc();
    this.redirect(location, [], REDIRECT_FOR_CREDENTIALS);
  }

  /** signOutUser: the cookies deleted, 302 to the host's root. */
  private signOutUser(headers: RequestHeaders): void {
    const names = this.shared!.config.cookieNames;
    const cookies = [names.oauthHmac, names.bearerToken, names.idToken, names.refreshToken].map((name): [string, string] => ["set-cookie", deleteCookie(name)]);
    this.redirect(`${headers.scheme}://${this.host}/`, cookies, SIGN_OUT);
  }

  onGetAccessTokenSuccess(result: AccessTokenResult, refresh: boolean): void {
    this.oauthClient = undefined;
    if (this.destroyed) return;
    (refresh ? this.finishRefreshAccessTokenFlow(result) : this.finishGetAccessTokenFlow(result)).catch((err: unknown) => {
      this.server.log.error(`oauth2: ${err instanceof Error ? err.message : String(err)}`);
      if (!this.destroyed) this.callbacks.resetStream();
    });
  }

  onGetAccessTokenFailure(why: string, refresh: boolean): void {
    this.oauthClient = undefined;
    if (this.destroyed) return;
    const log = this.server.log.component("oauth2");
    if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}oauth2: ${why}`);
    if (!refresh) return this.sendUnauthorizedResponse();
    // onRefreshAccessTokenFailure: no new token, so the browser goes to log in again.
    this.shared!.oauthRefreshtokenFailure.inc();
    this.redirectOrDeny(this.headers!);
  }

  /**
   * updateTokens + addResponseCookies: the session's cookies for `result`, and its fields
   * (the new expiry, the tokens kept), each cookie `;path=/;Max-Age=…;secure;HttpOnly`.
   */
  private async tokenCookies(result: AccessTokenResult): Promise<{ cookies: [string, string][]; values: Map<string, string> }> {
    const shared = this.shared!;
    const idToken = shared.config.disableIdTokenSetCookie ? "" : result.idToken;
    const expiresIn = String(result.expiresIn);
    const newExpires = String(shared.nowSeconds() + result.expiresIn);
    // An SDS update emptied the key while the token endpoint answered: nothing is signed with it.
    if (!shared.hmacSecret!.ready) throw new Error("hmac_secret is empty: no cookie is signed");
    const hmac = await encodeHmacBase64(shared.hmac, shared.hmacSecret!.value, {
      host: this.host,
      expires: newExpires,
      token: result.accessToken,
      idToken,
      refreshToken: result.refreshToken,
    });
    const names = shared.config.cookieNames;
    const tail = cookieTail(expiresIn);
    const values = new Map<string, string>([
      [names.oauthHmac, hmac],
      [names.oauthExpires, newExpires],
    ]);
    const cookies: [string, string][] = [
      ["set-cookie", `${names.oauthHmac}=${hmac}${tail}`],
      ["set-cookie", `${names.oauthExpires}=${newExpires}${tail}`],
    ];
    if (result.accessToken !== "") {
      values.set(names.bearerToken, result.accessToken);
      cookies.push(["set-cookie", `${names.bearerToken}=${result.accessToken}${tail}`]);
    }
    if (idToken !== "") {
      values.set(names.idToken, idToken);
      cookies.push(["set-cookie", `${names.idToken}=${idToken}${tail}`]);
    }
    if (result.refreshToken !== "") {
      values.set(names.refreshToken, result.refreshToken);
      cookies.push(["set-cookie", `${names.refreshToken}=${result.refreshToken}${cookieTail(this.refreshTokenMaxAge(result))}`]);
    }
    return { cookies, values };
  }

  /**
   * getExpiresTimeForRefreshToken: with use_refresh_token, the refresh token's own exp when
   * it is a JWT with one (0 when past), else default_refresh_token_expires_in; without, expires_in.
   */
  private refreshTokenMaxAge(result: AccessTokenResult): string {
    const config = this.shared!.config;
    if (!config.useRefreshToken) return String(result.expiresIn);
    const jwt = parseJwt(result.refreshToken);
    if (typeof jwt !== "string" && jwt.exp !== 0) return String(Math.max(0, jwt.exp - this.shared!.nowSeconds()));
    return String(config.defaultRefreshTokenExpiresIn);
  }

  /** finishGetAccessTokenFlow: the cookies set, 302 back to the state's URL. */
  private async finishGetAccessTokenFlow(result: AccessTokenResult): Promise<void> {
    const { cookies } = await this.tokenCookies(result);
    if (this.destroyed) return;
    this.shared!.oauthSuccess.inc();
    this.redirect(this.originalUrl, cookies, REDIRECT_LOGGED_IN);
  }

  /**
   * finishRefreshAccessTokenFlow: the request goes on with its Cookie header carrying the
   * new values (the upstream sees the session as renewed) and the bearer token; the
   * response sets the new cookies (encodeHeaders).
   */
  private async finishRefreshAccessTokenFlow(result: AccessTokenResult): Promise<void> {
    const shared = this.shared!;
    const { cookies, values } = await this.tokenCookies(result);
    if (this.destroyed) return;
    const headers = this.headers!;
    const all = parseCookies(headers, () => true);
    for (const [name, value] of values) all.set(name, value);
    headers.set("cookie", [...all].map(([name, value]) => `${name}=${value}`).join("; "));
    if (shared.config.forwardBearerToken && result.accessToken !== "") headers.set("authorization", `Bearer ${result.accessToken}`);
    this.refreshedCookies = cookies;
    shared.oauthRefreshtokenSuccess.inc();
    shared.oauthSuccess.inc();
    this.continueDecoding();
  }

  /** A 302 from here, with its response code details. */
  private redirect(location: string, extra: [string, string][], details: string): void {
    this.state = State.Responded;
    const response = new ResponseHeaders(302);
    for (const [name, value] of extra) response.add(name, value);
    response.set("location", location);
    this.callbacks.streamInfo.responseCodeDetails = details;
    this.callbacks.encodeHeaders(response, true);
  }

  /** sendUnauthorizedResponse: 401 "OAuth flow failed." (oauth_failure). */
  private sendUnauthorizedResponse(): void {
    this.shared!.oauthFailure.inc();
    this.state = State.Responded;
    this.callbacks.sendLocalReply(401, UNAUTHORIZED_BODY, "");
  }

  private continueDecoding(): void {
    // decide() runs after an await, so decodeHeaders has returned StopIteration by now.
    this.state = State.Continued;
    this.callbacks.continueDecoding();
  }
}
