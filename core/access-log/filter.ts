/**
 * Access log filters evaluated against a finished stream (Envoy's access_log_impl.cc:
 * StatusCodeFilter, DurationFilter, NotHealthCheckFilter, ResponseFlagFilter,
 * HeaderFilter, RuntimeFilter, AndFilter, OrFilter; GrpcStatusFilter, MetadataFilter and
 * LogTypeFilter in their own files), compiled once per logger.
 */
import type { AccessLogFilterConfig, FractionalPercent } from "../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import { compileHeaderMatcher, type HeaderSource } from "../http/route/header-matcher.ts";
import type { AccessLogContext } from "./context.ts";
import { compileGrpcStatusFilter } from "./grpc-status-filter.ts";
import { compileLogTypeFilter } from "./log-type-filter.ts";
import { compileMetadataFilter } from "./metadata-filter.ts";

export type AccessLogFilter = (ctx: AccessLogContext) => boolean;

/** The runtime the filters read (runtime keys) and where runtime_filter draws when the stream has no request id. */
export type FilterRandom = Pick<RuntimeSnapshot, "random" | "fraction" | "getInteger">;

export function compileAccessLogFilter(config: AccessLogFilterConfig, random: FilterRandom): AccessLogFilter {
  switch (config.type) {
    case "status_code": {
      const { op, value, runtimeKey } = config;
      // Envoy: no response code compares as 0.
      return (ctx) => compare(op, ctx.responseCode, random.getInteger(runtimeKey, value));
    }
    case "duration": {
      const { op, value, runtimeKey } = config;
      return (ctx) => ctx.durationMs !== undefined && compare(op, Math.floor(ctx.durationMs), random.getInteger(runtimeKey, value));
    }
    case "not_health_check":
      // A health check request is one the health_check HTTP filter marked (Envoy's StreamInfo::healthCheck()).
      return (ctx) => ctx.healthCheck !== true;
    case "response_flag": {
      const flags = config.flags;
      if (flags.length === 0) return (ctx) => ctx.responseFlags.length > 0;
      return (ctx) => ctx.responseFlags.some((flag) => flags.includes(flag));
    }
    case "header": {
      const matches = compileHeaderMatcher(config.header);
      return (ctx) => matches(new RequestHeaderSource(ctx));
    }
    case "runtime":
      return runtimeFilter(config.percent, config.useIndependentRandomness, random);
    case "and": {
      const filters = config.filters.map((f) => compileAccessLogFilter(f, random));
      return (ctx) => filters.every((f) => f(ctx));
    }
    case "or": {
      const filters = config.filters.map((f) => compileAccessLogFilter(f, random));
      return (ctx) => filters.some((f) => f(ctx));
    }
    case "grpc_status":
      return compileGrpcStatusFilter(config.statuses, config.exclude);
    case "metadata":
      return compileMetadataFilter(config);
    case "log_type":
      return compileLogTypeFilter(config.types, config.exclude);
  }
}

/** ComparisonFilter::compareAgainstValue, the value read from the runtime each time (as Envoy's getInteger). */
function compare(op: "EQ" | "GE" | "LE" | "NE", n: number, value: number): boolean {
  switch (op) {
    case "EQ":
      return n === value;
    case "GE":
      return n >= value;
    case "LE":
      return n <= value;
    case "NE":
      return n !== value;
  }
}

/**
 * RuntimeFilter: `value % denominator < numerator`, the value being the request id's
 * first 8 hex digits (UUIDRequestIDExtension::toInteger), so every log of one request
 * decides alike and a traced request id samples consistently across proxies; with
 * use_independent_randomness, or without a usable id, a random draw. The fraction is
 * the runtime's value for runtime_key, else percent_sampled.
 */
function runtimeFilter(percent: FractionalPercent, independent: boolean, random: FilterRandom): AccessLogFilter {
  return (ctx) => {
    let value: number | undefined;
    if (!independent) {
      const id = ctx.requestHeader("x-request-id");
      if (id !== undefined && /^[0-9a-fA-F]{8}/.test(id)) value = parseInt(id.slice(0, 8), 16);
    }
    value ??= Math.floor(random.random() * 0x1_0000_0000);
    const { numerator, denominator } = random.fraction(percent);
    return value % denominator < numerator;
  };
}

/** The request headers as header matchers read them. */
class RequestHeaderSource implements HeaderSource {
  constructor(private readonly ctx: AccessLogContext) {}
  header(name: string): string | undefined {
    return this.ctx.requestHeader(name);
  }
}
