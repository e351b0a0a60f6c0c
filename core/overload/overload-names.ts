/**
 * The resource monitor and overload action names polyvoy implements (Envoy's
 * well_known_names), apart from the schema (config/overload-schema.ts) so that the overload
 * manager does not load zod with the proxy: the config loader is imported only when a
 * config is validated (core/main.ts).
 */
export const FIXED_HEAP = "envoy.resource_monitors.fixed_heap";
export const GLOBAL_DOWNSTREAM_MAX_CONNECTIONS = "envoy.resource_monitors.global_downstream_max_connections";
export const STOP_ACCEPTING_REQUESTS = "envoy.overload_actions.stop_accepting_requests";
export const DISABLE_HTTP_KEEPALIVE = "envoy.overload_actions.disable_http_keepalive";
export const STOP_ACCEPTING_CONNECTIONS = "envoy.overload_actions.stop_accepting_connections";
export const REJECT_INCOMING_CONNECTIONS = "envoy.overload_actions.reject_incoming_connections";
export const REDUCE_TIMEOUTS = "envoy.overload_actions.reduce_timeouts";
export const SHRINK_HEAP = "envoy.overload_actions.shrink_heap";
