/**
 * envoy.retry_priorities.previous_priorities (Envoy's PreviousPrioritiesRetryPriority):
 * the priority loads a retry picks by, once attempts have been made on some priorities.
 */
import { describe, expect, test } from "vitest";
import { HealthFlag, Host } from "../../../core/upstream/host.ts";
import { PrioritySet } from "../../../core/upstream/host-set.ts";
import { PreviousPrioritiesRetryPriority } from "../../../core/upstream/previous-priorities-retry-priority.ts";

function levels(...counts: number[]): { set: PrioritySet; hosts: Host[][] } {
  const set = new PrioritySet();
  const hosts = counts.map((count, priority) => Array.from({ length: count }, (_, i) => new Host("10.0.0.1", 1000 * (priority + 1) + i, { priority })));
  hosts.forEach((level, priority) => set.updateHosts(priority, level, level, []));
  return { set, hosts };
}

const ORIGINAL = { healthy: [100, 0, 0], degraded: [0, 0, 0] };

describe("previous_priorities", () => {
  test("update_frequency 1: each attempted priority loses its load to the next ones", () => {
    const { set, hosts } = levels(2, 2, 2);
    const retry = new PreviousPrioritiesRetryPriority(1);
    expect(retry.determinePriorityLoad(set, ORIGINAL)).toBe(ORIGINAL);
    retry.onHostAttempted(hosts[0]![0]!);
    expect(retry.determinePriorityLoad(set, ORIGINAL)).toEqual({ healthy: [0, 100, 0], degraded: [0, 0, 0] });
    retry.onHostAttempted(hosts[1]![1]!);
    expect(retry.determinePriorityLoad(set, ORIGINAL)).toEqual({ healthy: [0, 0, 100], degraded: [0, 0, 0] });
    // Every level tried: start over from all of them.
    retry.onHostAttempted(hosts[2]![0]!);
    expect(retry.determinePriorityLoad(set, ORIGINAL)).toEqual({ healthy: [100, 0, 0], degraded: [0, 0, 0] });
  });

  test("update_frequency 2: the loads change every second attempt", () => {
    const { set, hosts } = levels(2, 2);
    const original = { healthy: [100, 0], degraded: [0, 0] };
    const retry = new PreviousPrioritiesRetryPriority(2);
    retry.onHostAttempted(hosts[0]![0]!);
    expect(retry.determinePriorityLoad(set, original)).toBe(original);
    retry.onHostAttempted(hosts[0]![1]!);
    expect(retry.determinePriorityLoad(set, original)).toEqual({ healthy: [0, 100], degraded: [0, 0] });
    // A third attempt is not a multiple of 2: the last adjusted loads stand.
    retry.onHostAttempted(hosts[1]![0]!);
    expect(retry.determinePriorityLoad(set, original)).toEqual({ healthy: [0, 100], degraded: [0, 0] });
  });

  test("the remaining levels share the load by availability, degraded hosts after healthy ones", () => {
    const { set, hosts } = levels(1, 4, 4);
    // Priority 1: 1 healthy of 4 (35 %); priority 2: 1 degraded of 4 (35 %).
    hosts[1]!.slice(1).forEach((h) => h.healthFlagSet(HealthFlag.FailedActiveHc));
    hosts[2]![0]!.healthFlagSet(HealthFlag.DegradedActiveHc);
    hosts[2]!.slice(1).forEach((h) => h.healthFlagSet(HealthFlag.FailedActiveHc));
    set.refreshHealth();
    const retry = new PreviousPrioritiesRetryPriority(1);
    retry.onHostAttempted(hosts[0]![0]!);
    expect(retry.determinePriorityLoad(set, ORIGINAL)).toEqual({ healthy: [0, 50, 0], degraded: [0, 0, 50] });
  });

  test("nothing available anywhere else: the balancer's own loads", () => {
    const { set, hosts } = levels(1, 1);
    hosts[1]![0]!.healthFlagSet(HealthFlag.FailedActiveHc);
    hosts[0]![0]!.healthFlagSet(HealthFlag.FailedActiveHc);
    set.refreshHealth();
    const original = { healthy: [100, 0], degraded: [0, 0] };
    const retry = new PreviousPrioritiesRetryPriority(1);
    retry.onHostAttempted(hosts[0]![0]!);
    expect(retry.determinePriorityLoad(set, original)).toBe(original);
  });
});
