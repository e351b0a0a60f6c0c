import type { Counter } from "../../stats/counter.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { KAFKA_APIS } from "./kafka-api-keys.ts";

/**
 * The broker filter's stats, as Envoy generates them (contrib/kafka/filters/network/source/
 * protocol/request_metrics_h.j2, response_metrics_h.j2): under `kafka.<stat_prefix>.request.`
 * a `<api>_request` counter per API, `unknown` and `failure`; under `…response.` a
 * `<api>_response` counter and a `<api>_response_duration` histogram (milliseconds between
 * the request and its response) per API, `unknown` and `failure`. Indexed by api key.
 */
export interface KafkaBrokerStats {
  readonly requests: readonly Counter[];
  readonly requestUnknown: Counter;
  readonly requestFailure: Counter;
  readonly responses: readonly Counter[];
  readonly responseDurations: readonly Histogram[];
  readonly responseUnknown: Counter;
  readonly responseFailure: Counter;
}

export function kafkaBrokerStats(stats: StatsStore, statPrefix: string): KafkaBrokerStats {
  // Not sanitized: Envoy names them in the server's scope with the prefix as written
  // (POOL_COUNTER_PREFIX(scope, "kafka.{}.request."), broker/config.cc giving context.scope()),
  // not through a scope of their own, which would sanitize it.
  const request = `kafka.${statPrefix}.request.`;
  const response = `kafka.${statPrefix}.response.`;
  return {
    requests: KAFKA_APIS.map((api) => stats.counter(`${request}${api.name}_request`)),
    requestUnknown: stats.counter(`${request}unknown`),
    requestFailure: stats.counter(`${request}failure`),
    responses: KAFKA_APIS.map((api) => stats.counter(`${response}${api.name}_response`)),
    responseDurations: KAFKA_APIS.map((api) => stats.histogram(`${response}${api.name}_response_duration`, "milliseconds")),
    responseUnknown: stats.counter(`${response}unknown`),
    responseFailure: stats.counter(`${response}failure`),
  };
}
