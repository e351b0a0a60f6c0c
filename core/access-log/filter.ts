/**
 * Access log filters evaluated against a finished stream (Envoy's access_log_impl.cc:
 * StatusCodeFilter, DurationFilter, NotHealthCheckFilter, ResponseFlagFilter,
 * HeaderFilter, RuntimeFilter, AndFilter, OrFilter), compiled once per logger.
 */
import type { AccessLogFilterConfig } from "../config/bootstrap.ts";
import { compileHeaderMatcher, type HeaderSource } from "../http/route/header-matcher.ts";
import type { AccessLogContext } from "./context.ts";

export type AccessLogFilter = (ctx: AccessLogContext) => boolean;

/** Where runtime_filter draws when the stream has no request id (the port's Runtime). */
export interface FilterRandom {
  /** A float in [0, 1). */
  random(): number;
}

export function compileAccessLogFilter(config: AccessLogFilterConfig, random: FilterRandom): AccessLogFilter {
  switch (config.type) {
    case "status_code": {
      const compare = comparison(config.op, config.value);
      // Envoy: no response code compares as 0.
      return (ctx) => compare(ctx.responseCode);
    }
    case "duration": {
      const compare = comparison(config.op, config.value);
      return (ctx) => ctx.durationMs !== undefined && compare(Math.floor(ctx.durationMs));
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
      return runtimeFilter(config.numerator, config.denominator, config.useIndependentRandomness, random);
    case "and": {
      const filters = config.filters.map((f) => compileAccessLogFilter(f, random));
      return (ctx) => filters.every((f) => f(ctx));
    }
    case "or": {
      const filters = config.filters.map((f) => compileAccessLogFilter(f, random));
      return (ctx) => filters.some((f) => f(ctx));
    }
  }
}

/** ComparisonFilter::compareAgainstValue. */
function comparison(op: "EQ" | "GE" | "LE" | "NE", value: number): (n: number) => boolean {
  switch (op) {
    case "EQ":
      return (n) => n === value;
    case "GE":
      return (n) => n >= value;
    case "LE":
      return (n) => n <= value;
    case "NE":
      return (n) => n !== value;
  }
}

/**
 * RuntimeFilter: `value % denominator < numerator`, the value being the request id's
 * first 8 hex digits (UUIDRequestIDExtension::toInteger), so every log of one request
 * decides alike and a traced request id samples consistently across proxies; with
 * use_independent_randomness, or without a usable id, a random draw.
 */
function runtimeFilter(numerator: number, denominator: number, independent: boolean, random: FilterRandom): AccessLogFilter {
  return (ctx) => {
    let value: number | undefined;
    if (!independent) {
      const id = ctx.requestHeader("x-request-id");
      if (id !== undefined && /^[0-9a-fA-F]{8}/.test(id)) value = parseInt(id.slice(0, 8), 16);
    }
    value ??= Math.floor(random.random() * 0x1_0000_0000);
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
