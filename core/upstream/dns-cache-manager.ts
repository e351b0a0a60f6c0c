/**
 * The DNS caches by name (Envoy's DnsCacheManagerImpl,
 * source/extensions/common/dynamic_forward_proxy/dns_cache_manager_impl.cc): the
 * dynamic_forward_proxy filter and cluster that name one cache share it. Two configs of
 * one name must have the same settings (dns_cache.proto, `name`); the schema checks a
 * bootstrap's, and getCache refuses one that differs from the cache made first (a reload
 * or CDS bringing other settings under the name), with Envoy's message.
 */
import type { DnsCacheSettings } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../port.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { DnsCache } from "./dns-cache.ts";

export class DnsCacheManager {
  private readonly caches = new Map<string, { cache: DnsCache; settings: string }>();

  constructor(
    private readonly runtime: Runtime,
    private readonly statsStore: StatsStore,
    private readonly log?: Logger,
  ) {}

  /** The cache of `settings.name`, made on first use. Throws when the name's cache has other settings. */
  getCache(settings: DnsCacheSettings): DnsCache {
    const text = JSON.stringify(settings);
    const existing = this.caches.get(settings.name);
    if (existing) {
      if (existing.settings !== text) throw new Error(`config specified DNS cache '${settings.name}' with different settings`);
      return existing.cache;
    }
    const cache = new DnsCache(settings, this.runtime, this.statsStore.scope(`dns_cache.${settings.name}.`), this.log?.component("forward_proxy"));
    this.caches.set(settings.name, { cache, settings: text });
    return cache;
  }

  /** Every cache's queries and timers end (shutdown). */
  stop(): void {
    for (const { cache } of this.caches.values()) cache.stop();
  }
}
