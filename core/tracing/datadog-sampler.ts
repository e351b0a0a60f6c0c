/**
 * dd-trace-cpp's TraceSampler (src/datadog/trace_sampler.cpp) as Envoy's Datadog tracer has it:
 * no sampling rules (Envoy's DatadogConfig has none), so a trace the tracer decides itself is
 * kept or dropped by the Agent's rates — the `rate_by_service` of its answers to
 * `/v0.4/traces` (datadog_agent.cpp) — and at rate 1.0 until the Agent first names a default.
 * The draw is deterministic: the trace id's low 64 bits times Knuth's factor, mod 2^64,
 * against the rate's share of 2^64 (sampling_util.h knuth_hash, max_id_from_rate), so every
 * tracer that sees a trace decides it alike.
 */

/** dd-trace-cpp's SamplingMechanism: DEFAULT (no Agent rate yet) and AGENT_RATE. */
export const MECHANISM_DEFAULT = 0;
export const MECHANISM_AGENT_RATE = 1;

/** sampling_util.h: knuth_hash's factor. */
const KNUTH_FACTOR = 1111111111111111111n;
const UINT64_MAX = (1n << 64n) - 1n;
/** static_cast<double>(UINT64_MAX): 2^64 once rounded to a double. */
const UINT64_MAX_AS_DOUBLE = 2 ** 64;

/** sampling_util.h knuth_hash: `value * 1111111111111111111` in 64-bit unsigned arithmetic. */
export function knuthHash(value: bigint): bigint {
  return (value * KNUTH_FACTOR) & UINT64_MAX;
}

/** sampling_util.h max_id_from_rate: the largest hash a trace kept at `rate` may have. */
export function maxIdFromRate(rate: number): bigint {
  if (rate === 1) return UINT64_MAX;
  // static_cast<uint64_t> truncates; a rate below 1 keeps the product below 2^64.
  return BigInt(Math.floor(rate * UINT64_MAX_AS_DOUBLE));
}

/** CollectorResponse::key: the Agent's name for a service's rate in an environment. */
export function collectorKey(service: string, env: string): string {
  return `service:${service},env:${env}`;
}

/** CollectorResponse::key_of_default_rate. */
const DEFAULT_RATE_KEY = collectorKey("", "");

/** The sampler's verdict on a trace it decides (TraceSampler::decide, with no rule matching). */
export interface SamplerDecision {
  /** AUTO_KEEP (1) or AUTO_DROP (0). */
  priority: number;
  mechanism: number;
  /** The rate applied: the root span's `_dd.agent_psr`. */
  rate: number;
}

export class DatadogTraceSampler {
  /** The Agent's rates by CollectorResponse key, as its latest answer gave them. */
  private rates = new Map<string, number>();
  /** The Agent's default rate ("service:,env:"), once an answer named one: kept while later ones do not. */
  private defaultRate: number | undefined;

  /** TraceSampler::decide: the rate of the root span's service and env, else the Agent's default, else 1.0. */
  decide(traceIdLow: bigint, service: string, env: string): SamplerDecision {
    let rate = this.rates.get(collectorKey(service, env));
    let mechanism = MECHANISM_AGENT_RATE;
    if (rate === undefined) rate = this.defaultRate;
    if (rate === undefined) {
      rate = 1;
      mechanism = MECHANISM_DEFAULT;
    }
    const keep = knuthHash(traceIdLow) <= maxIdFromRate(rate);
    return { priority: keep ? 1 : 0, mechanism, rate };
  }

  /** TraceSampler::handle_collector_response: the rates replace the last ones; the default only when named. */
  handleCollectorResponse(rates: Map<string, number>): void {
    const fallback = rates.get(DEFAULT_RATE_KEY);
    if (fallback !== undefined) this.defaultRate = fallback;
    this.rates = rates;
  }
}

/**
 * datadog_agent.cpp parse_agent_traces_response: the Agent's JSON answer as rates by key, or
 * why it is refused (the whole answer then changes nothing). No `rate_by_service` is an empty
 * set of rates; every rate must be a number from 0 to 1 (Rate::from).
 */
export function parseAgentTracesResponse(body: string): Map<string, number> | string {
  const suffix = `\nError occurred for response body (begins on next line):\n${body}`;
  let response: unknown;
  try {
    response = JSON.parse(body);
  } catch (e) {
    return `Parsing the Datadog Agent's response to traces we sent it failed with a JSON error: ${e instanceof Error ? e.message : String(e)}${suffix}`;
  }
  if (!isObject(response)) {
    return `Parsing the Datadog Agent's response to traces we sent it failed.  The response is expected to be a JSON object, but instead it's a JSON value with type "${jsonType(response)}"${suffix}`;
  }
  const rates = new Map<string, number>();
  if (!Object.hasOwn(response, "rate_by_service")) return rates;
  const byService = response["rate_by_service"];
  if (!isObject(byService)) {
    return `Parsing the Datadog Agent's response to traces we sent it failed.  The "rate_by_service" property of the response is expected to be a JSON object, but instead it's a JSON value with type "${jsonType(byService)}"${suffix}`;
  }
  for (const [key, value] of Object.entries(byService)) {
    if (typeof value !== "number") {
      return `Datadog Agent response to traces included an invalid sample rate for the key "${key}". Rate should be a number, but it's a "${jsonType(value)}" instead.${suffix}`;
    }
    if (!(value >= 0 && value <= 1)) {
      return `Datadog Agent response trace traces included an invalid sample rate for the key "${key}": Rate must be in [0, 1]: ${value}${suffix}`;
    }
    rates.set(key, value);
  }
  return rates;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** nlohmann::json::type_name. */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "boolean") return "boolean";
  return typeof value;
}
