/**
 * A cluster's load balancing defaults, apart from the schema (lb-policy-schema.ts) so that
 * the upstream code that falls back on them does not load zod with the proxy: the config
 * loader is imported only when a config is validated (core/main.ts).
 */
import type { LoadBalancingConfig } from "./bootstrap.ts";

/** Envoy's defaults (ring_hash_lb.h, maglev_lb.h, least_request_lb.h, load_balancer_impl.cc). */
export const DEFAULT_LOAD_BALANCING: LoadBalancingConfig = {
  policy: "ROUND_ROBIN",
  healthyPanicThreshold: 50,
  localityWeighted: false,
  failTrafficOnPanic: false,
  choiceCount: 2,
  activeRequestBias: 1,
  activeRequestBiasSet: false,
  minimumRingSize: 1024,
  maximumRingSize: 8 * 1024 * 1024,
  hashFunction: "XX_HASH",
  tableSize: 65537,
  useHostnameForHashing: false,
  hashBalanceFactor: 0,
  zoneRoutingEnabled: 100,
  zoneMinClusterSize: 6,
};
