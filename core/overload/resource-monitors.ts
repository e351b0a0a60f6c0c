import type { Runtime } from "../port.ts";

/** A sample of a reactive resource: its pressure (usage / limit), or why it could not be read. */
export type ResourceUsage = { ok: true; pressure: number } | { ok: false; error: string };

/** A resource sampled every refresh_interval (Envoy's ResourceMonitor). */
export interface ResourceMonitor {
  updateResourceUsage(): ResourceUsage;
}

/**
 * envoy.resource_monitors.fixed_heap (source/extensions/resource_monitors/fixed_heap/
 * fixed_heap_monitor.cc): heap in use over max_heap_size_bytes. Envoy asks tcmalloc for
 * the bytes it has handed out; here the port's `heapUsage` tells the bytes the engine
 * holds for live objects (its heap plus array buffers).
 */
export class FixedHeapMonitor implements ResourceMonitor {
  constructor(
    private readonly runtime: Runtime,
    private readonly maxHeapSizeBytes: number,
  ) {}

  updateResourceUsage(): ResourceUsage {
    const used = this.runtime.heapUsage?.();
    if (used === undefined) return { ok: false, error: "the runtime does not report its heap usage" };
    return { ok: true, pressure: used / this.maxHeapSizeBytes };
  }
}

/**
 * envoy.resource_monitors.global_downstream_max_connections, a proactive resource
 * (source/extensions/resource_monitors/downstream_connections/
 * downstream_connections_monitor.cc): a count that listeners take from as they accept
 * and give back as connections close, refused past max_active_downstream_connections.
 */
export class DownstreamConnectionsMonitor {
  private current = 0;

  constructor(readonly max: number) {}

  get currentResourceUsage(): number {
    return this.current;
  }

  tryAllocateResource(increment: number): boolean {
    const next = this.current + increment;
    if (next > this.max || next < 0) return false;
    this.current = next;
    return true;
  }

  tryDeallocateResource(decrement: number): boolean {
    if (decrement > this.current) return false;
    this.current -= decrement;
    return true;
  }
}
