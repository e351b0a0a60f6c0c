/**
 * The runtime keys polyvoy reads, where Envoy reads them. Envoy accepts any key in a
 * layer, so a key not listed here is kept (and shown by GET /runtime) but changes nothing.
 *
 * Keys named by the config (each read per request, as Envoy's snapshot is):
 * - a RuntimeFractionalPercent's `runtime_key`: route `match.runtime_fraction`, route
 *   `request_mirror_policies[].runtime_fraction`, local_ratelimit `filter_enabled` and
 *   `filter_enforced`, csrf and cors `filter_enabled` / `shadow_enabled`;
 * - access log filters: `runtime_filter.runtime_key` (the sampled fraction) and the
 *   RuntimeUInt32 `runtime_key` of `status_code_filter` / `duration_filter` comparisons.
 * - a RuntimeFeatureFlag's `runtime_key` (a boolean): compressor and decompressor
 *   `enabled` (each direction's common_config, the compressor's legacy `runtime_enabled`);
 * - slow start's `aggression` (a RuntimeDouble), read at each pick.
 *
 * Keys with fixed names (HCM tracing, conn_manager_utility.cc): tracing.client_enabled,
 * tracing.random_sampling, tracing.global_enabled (fractions over the `tracing` samplings).
 *
 * Keys with fixed names (fault filter, fault_filter.cc; the `*_runtime` fields rename them):
 * - fault.http.delay.fixed_delay_percent, fault.http.abort.abort_percent (fractions);
 * - fault.http.delay.fixed_duration_ms, fault.http.abort.http_status,
 *   fault.http.max_active_faults (integers);
 * - with x-envoy-downstream-service-cluster: fault.http.<cluster>.delay.fixed_delay_percent,
 *   .abort.abort_percent, .delay.fixed_duration_ms, .abort.http_status in their place.
 *
 * Keys with fixed names (listeners): envoy.resource_limits.listener.<listener name>.connection_limit
 * (ListenerImpl; no limit unless set), read on each accept; overload.global_downstream_max_connections
 * (TcpListenerImpl::rejectCxOverGlobalLimit, Envoy's deprecated form of the global limit),
 * read on each accept when the overload manager has no global_downstream_max_connections
 * monitor (with one, the monitor wins, as in Envoy).
 *
 * Keys with fixed names (clusters):
 * - circuit_breakers.<cluster>.<default|high>.max_connections, .max_pending_requests,
 *   .max_requests, .max_retries (ResourceManagerImpl), read at every check;
 * - upstream.healthy_panic_threshold (load_balancer_impl.cc), read when the hosts change;
 * - upstream.zone_routing.enabled (a percentage, read per pick) and
 *   upstream.zone_routing.min_cluster_size (read when the hosts change), load_balancer_impl.cc;
 * - health_check.min_interval / health_check.max_interval (ms, health_checker_impl.cc),
 *   bounding every health check interval;
 * - a LEAST_REQUEST active_request_bias's RuntimeDouble runtime_key, read when the hosts change;
 * - outlier_detection.* (outlier_detection_impl.h), each numeric outlier_detection setting
 *   under its field name (consecutive_5xx, enforcing_consecutive_5xx, interval_ms,
 *   base_ejection_time_ms, max_ejection_percent, success_rate_stdev_factor, …), read when used.
 *
 * Values are read as Envoy reads them (runtime-entry.ts): an integer is a percentage for
 * a fraction (over 100: always), a `{numerator, denominator}` is a FractionalPercent.
 */
export const FAULT_RUNTIME_KEYS = {
  delayPercent: "fault.http.delay.fixed_delay_percent",
  abortPercent: "fault.http.abort.abort_percent",
  delayDuration: "fault.http.delay.fixed_duration_ms",
  abortHttpStatus: "fault.http.abort.http_status",
  abortGrpcStatus: "fault.http.abort.grpc_status",
  maxActiveFaults: "fault.http.max_active_faults",
} as const;
