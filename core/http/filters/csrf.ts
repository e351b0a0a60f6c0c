/**
 * Envoy's csrf HTTP filter (source/extensions/filters/http/csrf/csrf_filter.cc): a
 * request that modifies (POST, PUT, DELETE, PATCH) must come from its own origin — the
 * host and port of its Origin (else Referer) equal to those of its Host — or from one of
 * additional_origins; otherwise 403 "Invalid origin" (details csrf_origin_mismatch).
 * shadow_enabled counts without refusing. A route's CsrfPolicy replaces the filter's.
 * Stats: http.<stat_prefix>.csrf.{missing_source_origin,request_invalid,request_valid}.
 */
import type { CsrfPolicyConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import type { RequestHeaders } from "../message.ts";
import { compileStringMatch } from "../route/header-matcher.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { PerConfig } from "../../util/per-config.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

const INVALID_ORIGIN = "Invalid origin";
const ORIGIN_MISMATCH = "csrf_origin_mismatch";

/** scheme "://" authority: what Envoy's Http::Utility::Url takes the host and port from. */
const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/;

/** Envoy's hostAndPort(): the authority of an absolute URL; a value that does not parse is compared as it is. */
function hostAndPort(url: string | undefined): string {
  if (url === undefined || url === "") return "";
  const match = ABSOLUTE_URL.exec(url);
  if (match === null || match[1] === "") return url;
  const authority = match[1]!;
  const at = authority.lastIndexOf("@");
  return at < 0 ? authority : authority.slice(at + 1);
}

function isModifyMethod(method: string): boolean {
  return method === "POST" || method === "PUT" || method === "DELETE" || method === "PATCH";
}

/** One policy with its matchers compiled (Envoy's CsrfPolicy). */
class CsrfPolicy {
  readonly additionalOrigins: ((value: string) => boolean)[];

  constructor(readonly config: CsrfPolicyConfig) {
    this.additionalOrigins = config.additionalOrigins.map(compileStringMatch);
  }
}

const POLICIES = new PerConfig((config: CsrfPolicyConfig) => new CsrfPolicy(config));

function csrfPolicy(config: CsrfPolicyConfig): CsrfPolicy {
  return POLICIES.get(config);
}

/** What one csrf filter's streams share (Envoy's CsrfFilterConfig). */
export class CsrfFilterConfig {
  readonly policy: CsrfPolicy;
  readonly missingSourceOrigin: Counter;
  readonly requestInvalid: Counter;
  readonly requestValid: Counter;

  constructor(config: CsrfPolicyConfig, server: ServerContext, chain: HttpFilterChainContext) {
    this.policy = csrfPolicy(config);
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.csrf.`);
    this.missingSourceOrigin = server.stats.counter(prefix + "missing_source_origin");
    this.requestInvalid = server.stats.counter(prefix + "request_invalid");
    this.requestValid = server.stats.counter(prefix + "request_valid");
  }
}

const CONFIGS = new PerConfig((config: CsrfPolicyConfig, server: ServerContext, chain: HttpFilterChainContext) => new CsrfFilterConfig(config, server, chain));

export function csrfFilterConfig(config: CsrfPolicyConfig, server: ServerContext, chain: HttpFilterChainContext): CsrfFilterConfig {
  return CONFIGS.get(config, server, chain);
}

export class CsrfFilter implements StreamDecoderFilter {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;

  constructor(
    private readonly config: CsrfFilterConfig,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const perRoute = this.callbacks.mostSpecificPerFilterConfig<CsrfPolicyConfig>();
    const policy = perRoute !== undefined ? csrfPolicy(perRoute) : this.config.policy;
    const enabled = this.server.layeredRuntime.featureEnabled(policy.config.filterEnabled);
    const shadow = policy.config.shadowEnabled !== undefined && this.server.layeredRuntime.featureEnabled(policy.config.shadowEnabled);
    if (!enabled && !shadow) return FilterHeadersStatus.Continue;
    if (!isModifyMethod(headers.method)) return FilterHeadersStatus.Continue;
    const config = this.config;
    let valid = true;
    const sourceOrigin = hostAndPort(headers.get("origin")) || hostAndPort(headers.get("referer"));
    if (sourceOrigin === "") {
      valid = false;
      config.missingSourceOrigin.inc();
    }
    if (!this.isValid(policy, sourceOrigin, headers)) {
      valid = false;
      config.requestInvalid.inc();
    }
    if (valid) {
      config.requestValid.inc();
      return FilterHeadersStatus.Continue;
    }
    if (!enabled) return FilterHeadersStatus.Continue;
    this.callbacks.sendLocalReply(403, INVALID_ORIGIN, ORIGIN_MISMATCH);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}

  private isValid(policy: CsrfPolicy, sourceOrigin: string, headers: RequestHeaders): boolean {
    // Envoy's targetOriginValue: no Host, no target (and "" never equals a source).
    const target = headers.authority === "" ? "" : hostAndPort(`${headers.scheme}://${headers.authority}`);
    if (sourceOrigin === target) return true;
    for (const matches of policy.additionalOrigins) if (matches(sourceOrigin)) return true;
    return false;
  }
}
