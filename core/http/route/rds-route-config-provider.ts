import type { RdsConfig, RouteConfiguration } from "../../config/bootstrap.ts";
import { createSubscription, type Subscription } from "../../config/xds/subscription.ts";
import { withDataSources } from "../../config/data-source-files.ts";
import type { RawDiscoveryResponse } from "../../config/xds/raw-discovery-response.ts";
import type { DynamicResource, XdsResourceOwner } from "../../config/xds/xds-manager.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import { emptyRouteConfiguration } from "./empty-route-config.ts";
import type { RouteConfigProvider } from "./route-config-provider.ts";
import { RouteTable } from "./route-table.ts";
import { loadClusterSpecifierPlugins } from "./cluster-specifier-plugin.ts";

const ROUTE_CONFIGURATION_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

/**
 * Envoy's RdsRouteConfigProviderImpl over an RdsRouteConfigSubscription
 * (source/common/router/rds_impl.cc): the route configuration `route_config_name` read
 * from a file (a DiscoveryResponse of RouteConfigurations, filesystem-subscription.ts),
 * checked with the static route_config's schema and compiled; the new table serves the
 * streams that begin after it, streams in flight finish on theirs. Until the first
 * update the table is empty (404 NR, Envoy's NullConfigImpl); a refused update keeps the
 * table in use. Stats under `http.<stat_prefix>.rds.<route_config_name>.`: the
 * subscription's (update_attempt, update_success, update_failure, update_rejected,
 * update_time, version), update_empty, config_reload and config_reload_time_ms.
 * Unlike Envoy, a route configuration named by several connection managers is read by
 * each of them (Envoy shares one subscription per name and source).
 */
export class RdsRouteConfigProvider implements RouteConfigProvider, XdsResourceOwner {
  readonly kind = "route";
  routeTable: RouteTable;
  private readonly subscription: Subscription;
  private readonly name: string;
  private accepted: DynamicResource | undefined;
  /** The accepted resource's text: an unchanged one is not compiled again (Envoy compares hashes). */
  private acceptedKey = "";
  private readonly updateEmpty: Counter;
  private readonly configReload: Counter;
  private readonly configReloadTimeMs: Gauge;

  constructor(
    rds: RdsConfig,
    statPrefix: string,
    private readonly context: ServerContext,
    /** Builds the per-route filter configs and cluster specifier plugins of each accepted route configuration (extensions.ts). */
    private readonly prepareRoutes: (routes: RouteConfiguration) => void = () => {},
  ) {
    this.name = rds.routeConfigName;
    this.routeTable = new RouteTable(emptyRouteConfiguration(this.name), context.layeredRuntime);
    const scope = context.stats.scope(`http.${statPrefix}.rds.${this.name}.`);
    this.updateEmpty = scope.counter("update_empty");
    this.configReload = scope.counter("config_reload");
    this.configReloadTimeMs = scope.gauge("config_reload_time_ms");
    const subscriptionContext = { runtime: context.runtime, log: context.log, openMux: context.xdsManager?.openMux, restFetch: context.xdsManager?.restFetch, node: context.xdsManager?.node };
    this.subscription = createSubscription(subscriptionContext, `rds '${this.name}'`, rds.configSource, ROUTE_CONFIGURATION_TYPE, [this.name], scope, (response, path) => this.onConfigUpdate(response, path));
    // The listener binds once the first read is done, applied or not (Envoy's RDS init target).
    context.initManager.add(`RDS '${this.name}'`, this.subscription.start().then(() => undefined));
    context.xdsManager?.add(this);
    // Its listener gone (removed, or replaced by an update): it stops watching and leaves /config_dump.
    context.onListenerDestroyed?.(() => {
      this.stop();
      context.xdsManager?.remove(this);
    });
  }

  dump(): readonly DynamicResource[] {
    return this.accepted ? [this.accepted] : [];
  }

  stop(): void {
    this.subscription.stop();
  }

  /** RdsRouteConfigSubscription::onConfigUpdate: one RouteConfiguration, of the expected name. */
  private async onConfigUpdate(response: RawDiscoveryResponse, path: string): Promise<void> {
    const { resources } = response;
    if (resources.length === 0) {
      this.updateEmpty.inc();
      this.context.log.debug(`Missing RouteConfiguration for ${this.name} in onConfigUpdate()`);
      return;
    }
    const { decodeResource, XdsUpdateError } = await import("../../config/xds/discovery-response.ts");
    if (resources.length !== 1) throw new XdsUpdateError("rejected", `Unexpected RDS resource length: ${resources.length}`);
    const { routeConfiguration } = await import("../../config/route-config-schema.ts");
    const { releaseSchemas } = await import("../../config/lazy-schema.ts");
    let decoded;
    try {
      // Routes may hold regexes: the RE2 engine is loaded if the check meets one (regex-engine.ts);
      // a direct_response body's file is read (data-source-files.ts).
      decoded = (await withDataSources(this.context.runtime, () => decodeResource(resources[0], ROUTE_CONFIGURATION_TYPE, routeConfiguration, path, 0))).result;
    } finally {
      // As validateConfig: the schemas this check built are not kept until the next one (lazy-schema.ts).
      releaseSchemas();
    }
    const { value, document } = decoded;
    if (value.name !== this.name) throw new XdsUpdateError("rejected", `Unexpected RDS configuration (expecting ${this.name}): ${value.name}`);
    const key = JSON.stringify(document);
    const now = this.context.runtime.wallClock();
    if (key !== this.acceptedKey) {
      // The modules of its cluster specifier plugins (the Lua one's), then its per-route filter
      // configs and plugins: a failure there leaves the running table in place.
      await loadClusterSpecifierPlugins(value);
      this.prepareRoutes(value);
      this.routeTable = new RouteTable(value, this.context.layeredRuntime);
      this.acceptedKey = key;
      this.configReload.inc();
      this.configReloadTimeMs.set(now);
      this.context.log.info(`rds: loading new configuration: config_name=${this.name} version=${response.versionInfo}`);
    }
    this.accepted = { name: this.name, versionInfo: response.versionInfo, lastUpdated: now, document };
  }
}
