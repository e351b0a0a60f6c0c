import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/**
 * Envoy's ClusterLbStats (upstream.h, ALL_CLUSTER_LB_STATS) under `cluster.<name>.`.
 * lb_healthy_panic and the zone routing counters move (zone aware routing with a local
 * cluster); subsets need lb_subset_config, which polyvoy has not, so theirs stay at 0
 * and /stats lists what Envoy's does.
 */
export class ClusterLbStats {
  readonly lbHealthyPanic: Counter;
  readonly lbLocalClusterNotOk: Counter;
  readonly lbRecalculateZoneStructures: Counter;
  readonly lbSubsetsCreated: Counter;
  readonly lbSubsetsFallback: Counter;
  readonly lbSubsetsFallbackPanic: Counter;
  readonly lbSubsetsRemoved: Counter;
  readonly lbSubsetsSelected: Counter;
  readonly lbZoneClusterTooSmall: Counter;
  readonly lbZoneNoCapacityLeft: Counter;
  readonly lbZoneNumberDiffers: Counter;
  readonly lbZoneRoutingAllDirectly: Counter;
  readonly lbZoneRoutingCrossZone: Counter;
  readonly lbZoneRoutingSampled: Counter;
  readonly lbSubsetsActive: Gauge;
  readonly lbSubsetsSingleHostPerSubsetDuplicate: Gauge;

  constructor(scope: StatsScope) {
    this.lbHealthyPanic = scope.counter("lb_healthy_panic");
    this.lbLocalClusterNotOk = scope.counter("lb_local_cluster_not_ok");
    this.lbRecalculateZoneStructures = scope.counter("lb_recalculate_zone_structures");
    this.lbSubsetsCreated = scope.counter("lb_subsets_created");
    this.lbSubsetsFallback = scope.counter("lb_subsets_fallback");
    this.lbSubsetsFallbackPanic = scope.counter("lb_subsets_fallback_panic");
    this.lbSubsetsRemoved = scope.counter("lb_subsets_removed");
    this.lbSubsetsSelected = scope.counter("lb_subsets_selected");
    this.lbZoneClusterTooSmall = scope.counter("lb_zone_cluster_too_small");
    this.lbZoneNoCapacityLeft = scope.counter("lb_zone_no_capacity_left");
    this.lbZoneNumberDiffers = scope.counter("lb_zone_number_differs");
    this.lbZoneRoutingAllDirectly = scope.counter("lb_zone_routing_all_directly");
    this.lbZoneRoutingCrossZone = scope.counter("lb_zone_routing_cross_zone");
    this.lbZoneRoutingSampled = scope.counter("lb_zone_routing_sampled");
    this.lbSubsetsActive = scope.gauge("lb_subsets_active");
    this.lbSubsetsSingleHostPerSubsetDuplicate = scope.gauge("lb_subsets_single_host_per_subset_duplicate");
  }
}
