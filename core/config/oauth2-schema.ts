/**
 * envoy.extensions.filters.http.oauth2.v3.OAuth2: the oauth2 filter's config
 * (core/http/filters/oauth2/), the fields of the proto polyvoy pins
 * (api/envoy/extensions/filters/http/oauth2/v3/oauth.proto, next-free-field 18).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { OAuth2Config, OAuth2CookieNames, OAuth2FilterConfig, StringMatcherConfig } from "./bootstrap.ts";
import { headerMatcher, stringMatcher } from "./matcher-schema.ts";
import { durationMs } from "./proto-schema.ts";
import { FormatError, parseFormat } from "../access-log/format.ts";
import { resolveEnvironmentCommands } from "../access-log/environment-command.ts";
import { sdsSecretConfig } from "../tls/tls-context-schema.ts";

export const OAUTH2_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2";

/** PGV's well-known HTTP_HEADER_NAME (validate.proto), which the cookie names must match when set. */
const HTTP_HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

/** Envoy's cookie names (filter.h, CookieNames). */
const DEFAULT_COOKIE_NAMES: OAuth2CookieNames = {
  bearerToken: "BearerToken",
  oauthHmac: "OauthHMAC",
  oauthExpires: "OauthExpires",
  idToken: "IdToken",
  refreshToken: "RefreshToken",
};

/** filter.cc: a week, PROTOBUF_GET_SECONDS_OR_DEFAULT(default_refresh_token_expires_in, 604800). */
const DEFAULT_REFRESH_TOKEN_EXPIRES_IN = 604800;

/** filter.cc, authScopesList: no auth_scopes → "user". */
const DEFAULT_AUTH_SCOPE = "user";

const cookieName = lazySchema(() =>
  z.string().refine((name) => name === "" || HTTP_HEADER_NAME.test(name), { message: "must be a valid HTTP header name" }));

/** OAuth2Credentials.CookieNames: an empty name is the default one. */
const cookieNames = lazySchema(() =>
  strictObject({
    bearer_token: cookieName.optional(),
    oauth_hmac: cookieName.optional(),
    oauth_expires: cookieName.optional(),
    id_token: cookieName.optional(),
    refresh_token: cookieName.optional(),
  }).transform(
    (c): OAuth2CookieNames => ({
      bearerToken: c.bearer_token || DEFAULT_COOKIE_NAMES.bearerToken,
      oauthHmac: c.oauth_hmac || DEFAULT_COOKIE_NAMES.oauthHmac,
      oauthExpires: c.oauth_expires || DEFAULT_COOKIE_NAMES.oauthExpires,
      idToken: c.id_token || DEFAULT_COOKIE_NAMES.idToken,
      refreshToken: c.refresh_token || DEFAULT_COOKIE_NAMES.refreshToken,
    }),
  ));

/** OAuth2Credentials: token_secret and hmac_secret are SDS generic secrets (static or from a file). */
const credentials = lazySchema(() =>
  strictObject({
    client_id: nonEmptyString,
    token_secret: sdsSecretConfig,
    hmac_secret: sdsSecretConfig,
    cookie_names: cookieNames.optional(),
  }));

/** envoy.config.core.v3.HttpUri: the token endpoint (uri gives :authority and :path; Envoy requires timeout). */
const httpUri = lazySchema(() =>
  strictObject({
    uri: z.string().min(1).refine((uri) => /^https?:\/\/[^/?#]+/i.test(uri), { message: "must be an absolute http:// or https:// URI" }),
    cluster: nonEmptyString,
    timeout: durationMs,
  }));

/** envoy.type.matcher.v3.PathMatcher: `path`, matched against the path without query and fragment. */
const pathMatcher = lazySchema(() =>
  strictObject({ path: stringMatcher }).transform((p) => p.path as StringMatcherConfig));

/** A header-value format: its operators are checked now, rendered per request. */
const formatString = lazySchema(() =>
  z.string().min(1).transform((text, ctx) => {
    try {
      // %ENVIRONMENT(…)% becomes its value here (environment-command.ts).
      const format = resolveEnvironmentCommands(text);
      parseFormat(format);
      return format;
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message });
      return z.NEVER;
    }
  }));

/** An absolute http(s) URL, as Envoy's Http::Utility::Url::initialize takes authorization_endpoint. */
const authorizationEndpoint = lazySchema(() =>
  z.string().min(1).superRefine((url, ctx) => {
    if (!/^https?:\/\/[^/?#]+/i.test(url)) ctx.addIssue({ code: "custom", message: `OAuth2 filter: invalid authorization endpoint URL '${url}' in config.` });
  }));

/** OAuth2Config. */
const oauth2FilterConfig = lazySchema(() =>
  strictObject({
    token_endpoint: httpUri,
    authorization_endpoint: authorizationEndpoint,
    credentials,
    redirect_uri: formatString,
    redirect_path_matcher: pathMatcher,
    signout_path: pathMatcher,
    forward_bearer_token: boolFalse,
    preserve_authorization_header: boolFalse,
    pass_through_matcher: z.array(headerMatcher).default([]),
    auth_scopes: z.array(z.string()).default([]),
    resources: z.array(z.string()).default([]),
    auth_type: z.enum(["URL_ENCODED_BODY", "BASIC_AUTH"]).default("URL_ENCODED_BODY"),
    use_refresh_token: z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((v) => v.value)]).default(false),
    default_expires_in: durationMs.optional(),
    deny_redirect_matcher: z.array(headerMatcher).default([]),
    default_refresh_token_expires_in: durationMs.optional(),
    disable_id_token_set_cookie: boolFalse,
  })
  .transform((c, ctx): OAuth2FilterConfig => {
    // config.cc: the two options contradict each other.
    if (c.preserve_authorization_header && c.forward_bearer_token) {
      ctx.addIssue({ code: "custom", path: ["preserve_authorization_header"], message: "invalid combination of forward_bearer_token and preserve_authorization_header configuration. If forward_bearer_token is set to true, then preserve_authorization_header must be false" });
    }
    return {
      tokenEndpoint: { uri: c.token_endpoint.uri, cluster: c.token_endpoint.cluster, timeoutMs: c.token_endpoint.timeout },
      authorizationEndpoint: c.authorization_endpoint,
      clientId: c.credentials.client_id,
      tokenSecret: c.credentials.token_secret,
      hmacSecret: c.credentials.hmac_secret,
      cookieNames: c.credentials.cookie_names ?? DEFAULT_COOKIE_NAMES,
      redirectUri: c.redirect_uri,
      redirectPathMatcher: c.redirect_path_matcher,
      signoutPath: c.signout_path,
      forwardBearerToken: c.forward_bearer_token,
      preserveAuthorizationHeader: c.preserve_authorization_header,
      passThroughMatchers: c.pass_through_matcher,
      authScopes: c.auth_scopes.length > 0 ? c.auth_scopes : [DEFAULT_AUTH_SCOPE],
      resources: c.resources,
      authType: c.auth_type,
      // Whole seconds, as Envoy's PROTOBUF_GET_SECONDS_OR_DEFAULT.
      defaultExpiresIn: Math.floor((c.default_expires_in ?? 0) / 1000),
      denyRedirectMatchers: c.deny_redirect_matcher,
      disableIdTokenSetCookie: c.disable_id_token_set_cookie,
      useRefreshToken: c.use_refresh_token,
      defaultRefreshTokenExpiresIn: c.default_refresh_token_expires_in === undefined ? DEFAULT_REFRESH_TOKEN_EXPIRES_IN : Math.floor(c.default_refresh_token_expires_in / 1000),
    };
  }));

/** envoy.extensions.filters.http.oauth2.v3.OAuth2. */
export const oauth2Config = lazySchema(() =>
  strictObject({ config: oauth2FilterConfig.optional() }).transform((c): OAuth2Config => (c.config !== undefined ? { config: c.config } : {})));
