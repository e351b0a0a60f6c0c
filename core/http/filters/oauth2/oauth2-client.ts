/**
 * Envoy's OAuth2ClientImpl (source/extensions/filters/http/oauth2/oauth_client.cc): the
 * authorization code exchanged for tokens by a POST to token_endpoint (RFC 6749 §4.1.3),
 * through the async client, limited by token_endpoint.timeout. A 200 whose JSON body has
 * an access_token (and expires_in, or the config's default_expires_in, above 0) is a
 * success; anything else is a failure the filter answers 401.
 */
import type { OAuth2FilterConfig } from "../../../config/bootstrap.ts";
import { encodeBase64 } from "../../../util/base64.ts";
import { latin1Encode } from "../../../util/latin1.ts";
import { utf8Decode, utf8Encode } from "../../../util/utf8.ts";
import type { AsyncClient, AsyncFailureReason, AsyncRequest, AsyncRequestCallbacks, AsyncResponse } from "../../async-client.ts";
import { RequestHeaders } from "../../message.ts";
import { urlEncodeQueryParameter } from "./oauth2-url.ts";

/** The most token-response body kept: a few tokens (an id_token JWT may be several KiB). */
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

/**
 * RFC 6265 §4.1.1 cookie-octets: the tokens go into Set-Cookie values and the upstream's
 * Cookie and Authorization headers, so a CR, LF, ";", "," space or quote in one would
 * inject headers or cookie attributes; such an answer is a failed token response.
 */
const COOKIE_OCTETS = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** The largest expires_in kept: above it the seconds lose integer precision (and Envoy's uint64 ends at 2^64-1). */
const MAX_EXPIRES_IN = Number.MAX_SAFE_INTEGER;

export interface AccessTokenResult {
  readonly accessToken: string;
  readonly idToken: string;
  readonly refreshToken: string;
  /** Seconds. */
  readonly expiresIn: number;
}

/** `refresh`: the answer to a refresh-token request (asyncRefreshAccessToken), else to the code's exchange. */
export interface OAuth2ClientCallbacks {
  onGetAccessTokenSuccess(result: AccessTokenResult, refresh: boolean): void;
  /** `why`: for the debug log. */
  onGetAccessTokenFailure(why: string, refresh: boolean): void;
}

/**
 * The refresh request's body (oauth_client.cc, RefreshAccessTokenBodyFormatString[WithBasicAuth],
 * RFC 6749 §6): the refresh token, client_id and the client secret percent-encoded.
 */
export function refreshTokenRequest(config: OAuth2FilterConfig, refreshToken: string, clientSecret: Uint8Array): { body: string; authorization?: string } {
  const token = urlEncodeQueryParameter(latin1Encode(refreshToken));
  if (config.authType === "BASIC_AUTH") {
    const basic = new Uint8Array([...utf8Encode(`${config.clientId}:`), ...clientSecret]);
    return { body: `grant_type=refresh_token&refresh_token=${token}`, authorization: `Basic ${encodeBase64(basic)}` };
  }
  const clientId = urlEncodeQueryParameter(utf8Encode(config.clientId));
  const secret = urlEncodeQueryParameter(clientSecret);
  return { body: `grant_type=refresh_token&refresh_token=${token}&client_id=${clientId}&client_secret=${secret}` };
}

/**
 * The token request's body (oauth_client.cc, GetAccessTokenBodyFormatString[WithBasicAuth]):
 * the code as the callback's query had it, client_id, the client secret and redirect_uri
 * percent-encoded; with BASIC_AUTH the client's id and secret go in Authorization instead.
 */
export function accessTokenRequest(config: OAuth2FilterConfig, authCode: string, clientSecret: Uint8Array, redirectUri: string): { body: string; authorization?: string } {
  const encodedRedirectUri = urlEncodeQueryParameter(latin1Encode(redirectUri));
  if (config.authType === "BASIC_AUTH") {
    const basic = new Uint8Array([...utf8Encode(`${config.clientId}:`), ...clientSecret]);
    return { body: `grant_type=authorization_code&code=${authCode}&redirect_uri=${encodedRedirectUri}`, authorization: `Basic ${encodeBase64(basic)}` };
  }
  const clientId = urlEncodeQueryParameter(utf8Encode(config.clientId));
  const secret = urlEncodeQueryParameter(clientSecret);
  return { body: `grant_type=authorization_code&code=${authCode}&client_id=${clientId}&client_secret=${secret}&redirect_uri=${encodedRedirectUri}` };
}

/**
 * The answer's fields, as MessageUtil::loadFromJson reads OAuthResponse (oauth_response.proto):
 * StringValue tokens, a UInt64Value expires_in (a number or a decimal string), other
 * members ignored. Undefined when it is not such an object.
 */
export function parseTokenResponse(text: string, defaultExpiresIn: number): AccessTokenResult | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return `Error parsing response body, received exception: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "Error parsing response body: not a JSON object";
  const body = json as Record<string, unknown>;
  const strings: Record<string, string> = {};
  for (const name of ["access_token", "id_token", "refresh_token"]) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") return `Error parsing response body: ${name} is not a string`;
    if (!COOKIE_OCTETS.test(value)) return `Error parsing response body: ${name} has characters a cookie cannot carry`;
    strings[name] = value;
  }
  if (strings.access_token === undefined) return "No access token after asyncGetAccessToken";
  let expiresIn = defaultExpiresIn;
  const expires = body.expires_in;
  if (expires !== undefined && expires !== null) {
    const n = typeof expires === "number" ? expires : typeof expires === "string" && /^[0-9]+$/.test(expires) ? Number(expires) : NaN;
    if (!Number.isInteger(n) || n < 0) return "Error parsing response body: expires_in is not a uint64";
    if (n > MAX_EXPIRES_IN) return `Error parsing response body: expires_in ${expires} is too large`;
    expiresIn = n;
  }
  if (expiresIn <= 0) return "expires_in is 0 and no default_expires_in is set";
  return { accessToken: strings.access_token, idToken: strings.id_token ?? "", refreshToken: strings.refresh_token ?? "", expiresIn };
}

/** One filter's token request (Envoy's OAuth2ClientImpl, one per stream). */
export class OAuth2Client implements AsyncRequestCallbacks {
  private request: AsyncRequest | undefined;
  private callbacks: OAuth2ClientCallbacks | undefined;
  private refresh = false;
  private readonly scheme: string;
  private readonly authority: string;
  private readonly path: string;

  constructor(
    private readonly client: AsyncClient,
    private readonly config: OAuth2FilterConfig,
  ) {
    // Http::Utility::prepareHeaders: :authority and :path from the URI (checked by the schema).
    const match = /^(https?):\/\/([^/?#]+)([^#]*)/i.exec(config.tokenEndpoint.uri)!;
    this.scheme = match[1]!.toLowerCase();
    this.authority = match[2]!;
    this.path = match[3] === "" ? "/" : match[3]!.startsWith("/") ? match[3]! : `/${match[3]}`;
  }

  /** asyncGetAccessToken: POST the code; `callbacks` hear once, unless cancel() comes first. */
  getAccessToken(authCode: string, clientSecret: Uint8Array, redirectUri: string, callbacks: OAuth2ClientCallbacks): void {
    this.send(accessTokenRequest(this.config, authCode, clientSecret, redirectUri), false, callbacks);
  }

  /** asyncRefreshAccessToken: POST the refresh token. */
  refreshAccessToken(refreshToken: string, clientSecret: Uint8Array, callbacks: OAuth2ClientCallbacks): void {
    this.send(refreshTokenRequest(this.config, refreshToken, clientSecret), true, callbacks);
  }

  private send({ body, authorization }: { body: string; authorization?: string }, refresh: boolean, callbacks: OAuth2ClientCallbacks): void {
    this.callbacks = callbacks;
    this.refresh = refresh;
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = this.path;
    headers.authority = this.authority;
    headers.scheme = this.scheme;
    headers.set("content-type", "application/x-www-form-urlencoded");
    // The Accept header asks for the Access Token Response as JSON.
    headers.set("accept", "application/json");
    if (authorization !== undefined) headers.set("authorization", authorization);
    const endpoint = this.config.tokenEndpoint;
    this.request = this.client.send(endpoint.cluster, headers, latin1Encode(body), this, { timeoutMs: endpoint.timeoutMs, maxResponseBytes: MAX_TOKEN_RESPONSE_BYTES });
  }

  cancel(): void {
    this.callbacks = undefined;
    const request = this.request;
    this.request = undefined;
    request?.cancel();
  }

  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    this.request = undefined;
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    if (callbacks === undefined) return;
    if (response.headers.status !== 200) return callbacks.onGetAccessTokenFailure(`Oauth response code: ${response.headers.status}`, this.refresh);
    const result = parseTokenResponse(utf8Decode(response.body), this.config.defaultExpiresIn);
    if (typeof result === "string") return callbacks.onGetAccessTokenFailure(result, this.refresh);
    callbacks.onGetAccessTokenSuccess(result, this.refresh);
  }

  onFailure(_request: AsyncRequest, reason: AsyncFailureReason): void {
    this.request = undefined;
    const callbacks = this.callbacks;
    this.callbacks = undefined;
    callbacks?.onGetAccessTokenFailure(`token request failed: ${reason}`, this.refresh);
  }
}
