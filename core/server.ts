import "./extensions.ts";
import { prepareUpstreamHttpFilters } from "./http/filters/upstream-http-filter-factories.ts";
import { startRtdsSubscription } from "./runtime/rtds-subscription.ts";
import { SecretManager } from "./tls/secret-manager.ts";
import { hasUnresolvedUserFilters, resolveUserFilters } from "./http/user-filter/resolve-user-filters.ts";
import { ConfigError } from "./config/errors.ts";
import { Timers } from "./event/timers.ts";
import { useSlabs } from "./util/byte-slab.ts";
import type { AdsConfigSource, ApiConfigSource, Bootstrap, ClusterConfig, FilterChainConfig, ListenerConfig, XdsConfigSource } from "./config/bootstrap.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { ServerContext } from "./server-context.ts";
import { formatAddress } from "./network/address.ts";
import type { ActiveListener } from "./network/listener.ts";
import { ListenerManager, type ListenerManagerHost } from "./network/listener-manager.ts";
import { DrainManager, type DrainCloseTarget, type DrainSettings } from "./network/drain-manager.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";
import { StatsStore } from "./stats/stats-store.ts";
import { compileStatsMatcher } from "./stats/stats-matcher.ts";
import { DEFAULT_STATS_FLUSH_INTERVAL_MS, StatsFlusher } from "./stats/stats-flusher.ts";
import { MergedSnapshotMirror } from "./stats/merged-snapshot.ts";
import type { SinkFlushMessage } from "./stats/merged-flush.ts";
import { Tracer } from "./trace/tracer.ts";
import { AccessLogManager, type AccessLogger } from "./access-log/logger.ts";
import type { Admin, AdminServer } from "./admin/admin.ts";
import { DEFAULT_DRAIN_TIME_S } from "./network/drain-manager.ts";
import { ServerStats, type ServerState } from "./admin/server-stats.ts";
import type { ServerOptions } from "./server-options.ts";
import { InitManager } from "./init/init-manager.ts";
import { XdsManager } from "./config/xds/xds-manager.ts";
import { DynamicResourceApi } from "./config/xds/lds-cds-api.ts";
import type { GrpcMuxLike, Subscription, SubscriptionContext } from "./config/xds/subscription-types.ts";
import { decodeLoadAssignment } from "./config/xds/eds-resource.ts";
import { isPrimaryClusterType } from "./config/xds/backing-cluster.ts";
import { googleGrpcClusterNames } from "./config/google-grpc-cluster-names.ts";
import { OverloadManager, type OverloadCallbacks } from "./overload/overload-manager.ts";
import { RuntimeLoader } from "./runtime/runtime-loader.ts";

const NO_LOGGERS: readonly AccessLogger[] = [];

/** How long shutdown waits for connections to flush and close before giving up. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * SIGTERM's drain: once the drain time is over and the listeners closed, how long the
 * connections left (each told to close: after its response in flight, an idle one after
 * the HCM's drain_timeout, 5 s by default) get to end before they are closed.
 */
const DRAIN_END_GRACE_MS = 10_000;

/**
 * The proxy server built from a bootstrap (Envoy's `Server::InstanceImpl`): the
 * cluster manager, the admin interface and the listeners, started together and shut
 * down together; its state (live, draining) as the admin shows and changes it.
 */
export class Server implements ServerContext, AdminServer, OverloadCallbacks, ListenerManagerHost {
  readonly timers: Timers;
  /** overload_manager's monitors and actions (inactive when not configured). */
  readonly overload: OverloadManager;
  readonly initManager: InitManager = new InitManager();
  readonly stats: StatsStore;
  readonly layeredRuntime: RuntimeLoader;
  /** rtds_layer subscriptions (core/runtime/rtds-subscription.ts). */
  private readonly rtdsSubscriptions: Subscription[] = [];
  readonly tracer: Tracer;
  readonly clusterManager: ClusterManager;
  /** static_resources.secrets and the SDS files TLS contexts name (core/tls/secret-manager.ts). */
  readonly secretManager: SecretManager;
  /** RDS and EDS files (core/config/xds/). */
  readonly xdsManager: XdsManager = new XdsManager();
  /** Management servers' streams, by source (see openMux). */
  private readonly muxes = new Map<string, Promise<GrpcMuxLike>>();
  /** The listeners by name (added by start(), changed by a reload or xDS). */
  readonly listenerManager: ListenerManager;
  /** The admin interface, when `admin.address` is configured (started by start()). */
  admin: Admin | undefined;
  /** Called once stop() has shut the server down (main.ts exits 0). */
  onStopped: (() => void) | undefined;
  readonly configLoadedAt: number;
  private readonly startedAt: number;
  private readonly accessLogManager: AccessLogManager;
  /** Each filter config's access loggers (opened at startup, shared by its connections). */
  private readonly accessLogs = new Map<object, AccessLogger[]>();
  private initialized = false;
  /** cluster_manager.load_stats_config's reporter (core/upstream/load-stats-reporter.ts), once started. */
  private loadStatsReporter: { stop(): void } | undefined;
  /** The stats flush and stats_sinks (core/stats/stats-flusher.ts), from start(). */
  private statsFlusher: StatsFlusher | undefined;
  /** What runs at shutdown once the connections are closed (onShutdown: the tracers' buffers). */
  private readonly shutdownFlushes = new Set<() => Promise<void>>();
  /** The flushing worker's copies of the merged stats (--concurrency), made at its first merged flush. */
  private mergedSnapshots: MergedSnapshotMirror | undefined;
  /** The cluster manager's initialization (and CDS's first update) is done: listeners come next. */
  private clustersInitialized = false;
  private stopping = false;
  /** SIGTERM's drain is under way (drainAndStop). */
  private drainingToStop = false;
  private failingHealthChecks = false;
  /** /drain_listeners was called (the server is no longer LIVE). */
  private drainStarted = false;
  /** The server's drain of the listeners not INBOUND (/drain_listeners?graceful, SIGTERM): HTTP/1 responses close their connections, HTTP/2 ones GOAWAY. */
  private readonly drainManager: DrainManager;
  /** The same for listeners whose traffic_direction is INBOUND (/drain_listeners?inboundonly drains only these). */
  private readonly inboundDrainManager: DrainManager;

  constructor(
    readonly runtime: Runtime,
    /** The config running: a reload (core/config-reloader.ts) replaces its listeners and clusters. */
    public bootstrap: Bootstrap,
    readonly log: Logger,
    readonly options: ServerOptions = {},
  ) {
    const statsMatcher = bootstrap.statsConfig?.statsMatcher;
    this.stats = new StatsStore(statsMatcher && compileStatsMatcher(statsMatcher));
    this.accessLogManager = new AccessLogManager(runtime);
    this.accessLogManager.loadGrpcCache = async () => {
      const { GrpcAccessLoggerCacheImpl } = await import("./access-log/grpc-access-log.ts");
      const server = this;
      return new GrpcAccessLoggerCacheImpl({
        server,
        get node() {
          return server.bootstrap.node;
        },
      });
    };
    // How the runtime wants small byte arrays made (port.ts, ownSmallArrays): one
    // setting for the process, taken from the runtime that runs the server.
    useSlabs(runtime.ownSmallArrays !== true);
    this.layeredRuntime = new RuntimeLoader(runtime, bootstrap.layeredRuntime, this.stats);
    this.tracer = new Tracer(runtime);
    this.timers = new Timers(runtime);
    const nodeLocality = bootstrap.node?.locality;
    this.secretManager = new SecretManager(runtime, log, this.stats, bootstrap.secrets);
    // Management servers' streams open only when a subscription names one (grpc-mux.ts is loaded then).
    this.xdsManager.openMux = (source, typeUrl) => this.openMux(source, typeUrl);
    // REST sources poll through the proxy's own HTTP client (rest-fetch.ts, loaded when first used).
    this.xdsManager.restFetch = (clusterName, path, body, timeoutMs, maxResponseBytes) =>
      import("./config/xds/rest-fetch.ts").then(({ restFetch }) => restFetch(this, clusterName, path, body, timeoutMs, maxResponseBytes));
    this.xdsManager.node = bootstrap.node;
    // SDS from a management server: the same streams (ADS's, or one per source) and REST polls.
    // Its streams' clusters: primary ones, static and not EDS from a server (load.ts checks the bootstrap's; this, an LDS listener's or CDS cluster's).
    const isPrimaryCluster = (name: string) => this.bootstrap.clusters.some((c) => c.name === name && isPrimaryClusterType(c.type, c.eds !== undefined && "path" in c.eds.configSource));
    this.secretManager.subscriptionContext = { runtime, log, openMux: this.xdsManager.openMux, restFetch: this.xdsManager.restFetch, node: bootstrap.node, isPrimaryCluster };
    this.clusterManager = new ClusterManager(bootstrap.clusters, this.stats, { runtime, timers: this.timers, log }, log, this.layeredRuntime, {
      ...(bootstrap.localClusterName !== undefined ? { clusterName: bootstrap.localClusterName } : {}),
      ...(nodeLocality ? { locality: { region: nodeLocality.region ?? "", zone: nodeLocality.zone ?? "", subZone: nodeLocality.sub_zone ?? "" } } : {}),
    }, Object.assign((resource: unknown, path: string) => decodeLoadAssignment(resource, path), { mux: this.xdsManager }));
    this.clusterManager.isPrimaryCluster = isPrimaryCluster;
    this.clusterManager.prepareClusterCode = (config) => prepareUpstreamHttpFilters(config, this);
    this.overload = new OverloadManager(bootstrap.overloadManager, this, this.stats, log, this.layeredRuntime);
    this.overload.callbacks = this;
    this.drainManager = new DrainManager(runtime, this.timers, this.drainSettings);
    this.inboundDrainManager = new DrainManager(runtime, this.timers, this.drainSettings);
    this.listenerManager = new ListenerManager(this);
    // A cluster gone may have named a google_grpc target (its EDS source): its internal cluster may go too.
    this.clusterManager.addClusterRemovalCallback(() => this.scheduleInternalClusterSweep());
    this.startedAt = runtime.now();
    this.configLoadedAt = runtime.wallClock();
  }

  /**
   * Envoy's ServerInfo.State (InstanceImpl::serverState): PRE_INITIALIZING while the
   * clusters warm (DNS clusters' first resolutions, EDS's first update, first health
   * checks), INITIALIZING while the listeners are built and bound, then LIVE;
   * DRAINING once health checks were failed (/healthcheck/fail), listeners drained
   * (/drain_listeners) or shutdown began.
   */
  get state(): ServerState {
    if (!this.initialized) return this.clustersInitialized ? "INITIALIZING" : "PRE_INITIALIZING";
    return this.failingHealthChecks || this.drainStarted || this.stopping ? "DRAINING" : "LIVE";
  }

  /** The configured listeners being served (not the admin's, nor those draining after a removal). */
  get listeners(): readonly ActiveListener[] {
    return this.listenerManager.listeners();
  }

  /** @internal ListenerManagerHost: listeners see the server as their context. */
  get context(): ServerContext {
    return this;
  }

  /** --drain-time-s and --drain-strategy (Envoy's defaults: 600 s, gradual). */
  get drainSettings(): DrainSettings {
    return { drainTimeS: this.options.commandLine?.drainTimeS ?? DEFAULT_DRAIN_TIME_S, strategy: this.options.commandLine?.drainStrategy ?? "gradual" };
  }

  get uptimeSeconds(): number {
    return (this.runtime.now() - this.startedAt) / 1000;
  }

  healthCheckFailed(): boolean {
    return this.failingHealthChecks;
  }

  get localClusterName(): string {
    return this.bootstrap.node?.cluster ?? "";
  }

  get localNodeId(): string {
    return this.bootstrap.node?.id ?? "";
  }

  get localZone(): string {
    return this.bootstrap.node?.locality?.zone ?? "";
  }

  /**
   * Envoy's DrainManagerImpl::drainClose: always while health checks fail; while draining,
   * always with --drain-strategy immediate, and with gradual (Envoy's default) with
   * probability elapsed / drain time, in whole seconds as Envoy counts them, so connections
   * are told to close spread over the drain time rather than all in its first second.
   */
  drainClose(): boolean {
    return this.drainCloseFor(false);
  }

  drainCloseFor(inbound: boolean): boolean {
    return this.failingHealthChecks || this.drainOf(inbound).drainClose();
  }

  addDrainCloseTarget(target: DrainCloseTarget, inbound = false): void {
    this.drainOf(inbound).add(target);
  }

  removeDrainCloseTarget(target: DrainCloseTarget, inbound = false): void {
    this.drainOf(inbound).remove(target);
  }

  private drainOf(inbound: boolean): DrainManager {
    return inbound ? this.inboundDrainManager : this.drainManager;
  }

  failHealthcheck(fail: boolean): void {
    if (fail !== this.failingHealthChecks) this.log.info(fail ? "admin: health checks failed (draining)" : "admin: health checks pass again");
    this.failingHealthChecks = fail;
  }

  /**
   * /drain_listeners (Envoy's ListenersHandler::handlerDrainListeners): stop accepting on
   * every configured listener (not the admin's), or with `inboundOnly` on those whose
   * traffic_direction is INBOUND — at once, or with `graceful` after --drain-time-s,
   * meanwhile still accepting and telling connections to close (drainClose(), and the
   * drain-close callbacks spread over the drain time by --drain-strategy); `skipExit`
   * (graceful only) leaves the listeners accepting when the drain time is over. A graceful
   * drain already under way (of those listeners) is not started again. Open connections
   * are not cut either way, as in Envoy.
   */
  drainListeners(graceful: boolean, inboundOnly = false, skipExit = false): void {
    if (this.stopping) return;
    this.drainStarted = true;
    const which = inboundOnly ? "inbound listeners" : "listeners";
    const stopListening = (): void => this.listenerManager.stopListening(inboundOnly ? (l) => l.config.trafficDirection === "INBOUND" : undefined);
    if (!graceful) {
      this.log.info(`admin: draining ${which}: listeners stopped`);
      this.inboundDrainManager.stop();
      if (!inboundOnly) this.drainManager.stop();
      stopListening();
      return;
    }
    const managers = inboundOnly ? [this.inboundDrainManager] : [this.inboundDrainManager, this.drainManager];
    const starting = managers.filter((m) => !m.draining);
    if (starting.length === 0) return;
    const { drainTimeS, strategy } = this.drainSettings;
    this.log.info(`admin: draining ${which} gracefully for ${drainTimeS} s (${strategy})`);
    for (const [i, manager] of starting.entries()) {
      const last = i === starting.length - 1;
      manager.startDrainSequence(
        last && !skipExit
          ? () => {
              this.log.info(`admin: drain time over: ${which} stopped`);
              stopListening();
            }
          : undefined,
      );
    }
  }

  /**
   * SIGTERM with --drain-time-s: Envoy's graceful drain (`/drain_listeners?graceful`, as
   * a hot restart's parent drains), then exit. During the drain time the listeners keep
   * accepting (the admin keeps answering, /ready says DRAINING): new connections are
   * served and, like the open ones, told to close — HTTP/1 `Connection: close` on a
   * response, HTTP/2 GOAWAY — with `gradual` (the default) with a probability rising from
   * 0 to 1 over the drain time, with `immediate` at once. When the drain time is over the
   * listeners close, every connection left is told to close now, and the server stops
   * once they are gone (DRAIN_END_GRACE_MS at most; what is left then is closed).
   * A graceful /drain_listeners already under way: its drain time ends this one.
   */
  drainAndStop(reason: string): void {
    if (this.stopping || this.drainingToStop) return;
    this.drainingToStop = true;
    this.drainStarted = true;
    const { drainTimeS, strategy } = this.drainSettings;
    this.log.info(`${reason}, draining for ${drainTimeS} s (${strategy}) before shutting down: the listeners accept until then`);
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.log.info("drain time over: listeners stopped");
      this.listenerManager.stopListening();
      for (const manager of [this.inboundDrainManager, this.drainManager]) manager.startDrainSequence(undefined, true);
      void this.within(DRAIN_END_GRACE_MS, this.listenerManager.whenClosed()).then(() => this.stop("drain over"));
    };
    for (const manager of [this.inboundDrainManager, this.drainManager]) manager.startDrainSequence(end);
  }

  /** @internal stop_accepting_connections saturated or cleared: every configured listener (not the admin's) pauses or resumes. */
  onStopAcceptingConnections(stop: boolean): void {
    if (this.stopping) return;
    for (const listener of this.listeners) {
      if (stop) listener.pauseAccepting();
      else listener.resumeAccepting();
    }
  }


  /**
   * Shut down once, whoever asks (SIGTERM, SIGINT, the admin's /quitquitquit): stop
   * listening, close connections after flushing, write out access logs, then
   * `onStopped` (main.ts exits 0).
   */
  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info(`${reason}, shutting down`);
    void this.shutdown().then(() => {
      this.log.info("exiting");
      this.onStopped?.();
    });
  }

  /**
   * Close and reopen every access log file by its path (SIGUSR1, as Envoy), so a file
   * logrotate moved away is followed by a fresh one at the path.
   */
  reopenAccessLogs(): Promise<void> {
    return this.accessLogManager.reopen();
  }

  accessLoggers(filterConfig: object): readonly AccessLogger[] {
    return this.accessLogs.get(filterConfig) ?? NO_LOGGERS;
  }

  /**
   * Bind every listener. If one cannot bind, the ones already bound are closed and
   * the error names the listener and its address, as Envoy's startup does.
   */
  async start(): Promise<void> {
    // User filters' modules and configs, before anything binds (main.ts resolved them already for its error lines).
    if (hasUnresolvedUserFilters(this.bootstrap)) {
      const problems = await resolveUserFilters(this.bootstrap, this.runtime);
      if (problems.length > 0) throw new ConfigError(problems);
    }
    // layered_runtime disk layers, read once before anything binds (runtime/disk-layer.ts).
    await this.layeredRuntime.loadDiskLayers(this.runtime, this.bootstrap.node?.cluster ?? "", (layer, message) =>
      this.log.warn(`runtime disk layer '${layer}' not loaded: ${message}`),
    );
    // rtds_layer: each Runtime resource's file read before anything binds, then watched
    // (a management server's, once the static clusters are up: startRtdsLayers).
    await this.startRtdsLayers("file");
    const adminConfig = this.bootstrap.admin;
    // The admin's code (handlers, stats rendering, config dump) loads only when one is configured.
    if (adminConfig) {
      const { Admin } = await import("./admin/admin.ts");
      // Stopped while its code loaded (a signal): shutdown() ran without an admin; none binds now.
      if (this.stopping) return;
      this.admin = new Admin(this, adminConfig);
    }
    await this.openAccessLogs();
    if (adminConfig?.profilePath !== undefined) {
      this.log.info(`admin.profile_path '${adminConfig.profilePath}' is accepted, but polyvoy has no CPU profiler: nothing is written there`);
    }
    // The admin first, as Envoy's: it answers /ready (PRE_INITIALIZING) while listeners bind.
    if (adminConfig && this.admin) {
      try {
        await this.admin.start();
      } catch (err) {
        throw new Error(`admin listener cannot bind to ${formatAddress(adminConfig.address)}: ${describeError(err)}`);
      }
    }
    // The flush timer and the sinks (Envoy's InstanceImpl::initialize creates them before the clusters warm).
    const sinkConfigs = this.bootstrap.statsSinks;
    const sinks = sinkConfigs ? (await import("./stats/stats-sinks.ts")).createStatsSinks(sinkConfigs, this, this.bootstrap.statsConfig, { server: this, node: () => this.bootstrap.node }) : [];
    // With --concurrency the supervisor flushes all workers' stats as one (core/stats/merged-flush.ts):
    // no worker flushes on its own; each keeps its sinks for the histogram values it records.
    const bySupervisor = sinks.length > 0 && this.runtime.workers?.worker !== undefined;
    // Envoy's flushStats always calls updateServerStats(), admin or not.
    const flusher = new StatsFlusher(this.stats, sinks, this.log, () => {
      this.refreshServerStats();
      this.admin?.onStatsFlush();
    });
    // No timer with neither a sink nor an admin: nothing would read what it flushes.
    await flusher.start(
      this.timers,
      bySupervisor ? "supervisor" : this.bootstrap.statsFlushOnAdmin === true || (sinks.length === 0 && !this.admin) ? undefined : (this.bootstrap.statsFlushIntervalMs ?? DEFAULT_STATS_FLUSH_INTERVAL_MS),
    );
    this.statsFlusher = flusher;
    if (this.stopping) flusher.stop();
    try {
      await this.startClustersAndListeners();
    } catch (err) {
      // A start that fails leaves no flush timer or sink socket behind.
      flusher.stop();
      throw err;
    }
  }

  /** After the admin and the stats sinks: clusters warmed, then the listeners bound (start()'s second half). */
  private async startClustersAndListeners(): Promise<void> {
    // Envoy's MainImpl::initialize logs these steps ("loading N cluster(s)") at info; here at debug.
    const configLog = this.log.component("config");
    if (configLog.debugOn) configLog.debug(`loading ${this.bootstrap.secrets?.length ?? 0} static secret(s), ${this.bootstrap.clusters.length} cluster(s)`);
    // Clusters warm before any listener starts (Envoy's ClusterManagerInitHelper): each DNS
    // cluster's first resolution of every name, answered or failed, and health-checked
    // hosts' first check; the admin answers /ready with PRE_INITIALIZING meanwhile.
    // CDS first (Envoy's order: clusters, then the listeners that name them), read before the clusters start.
    const dynamic = this.bootstrap.dynamicResources;
    const subscriptionContext = { runtime: this.runtime, log: this.log, openMux: this.xdsManager.openMux, restFetch: this.xdsManager.restFetch, node: this.bootstrap.node };
    // A management server is reached through a static cluster: those are initialized
    // first, then CDS (and the EDS of its clusters) warms, then LDS (Envoy's init order).
    const cdsFromServer = dynamic?.cds !== undefined && !("path" in dynamic.cds);
    if (!cdsFromServer) await this.startCds(dynamic?.cds, subscriptionContext);
    await this.clusterManager.initialize((path) => this.accessLogManager.file(path), this.secretManager);
    // RTDS from a management server: its stream's cluster is a static one, now up (Envoy's
    // onClusterManagerPrimaryInitializationComplete starts the RTDS subscriptions, before CDS).
    await this.startRtdsLayers("server");
    // Envoy's ClusterManagerImpl starts its LoadStatsReporter once the static clusters are
    // up (initializeSecondaryClusters), before CDS: its stream's cluster is one of them.
    const lrs = this.bootstrap.loadStatsConfig;
    if (lrs !== undefined) {
      const { LoadStatsReporter } = await import("./upstream/load-stats-reporter.ts");
      if (!this.stopping) {
        const reporter = new LoadStatsReporter(this, lrs.target, this.bootstrap.node);
        this.loadStatsReporter = reporter;
        reporter.start();
      }
    }
    if (cdsFromServer) await this.startCds(dynamic?.cds, subscriptionContext);
    this.clustersInitialized = true;
    if (configLog.debugOn) configLog.debug(`loading ${this.bootstrap.listeners.length} listener(s)`);
    // Every listener built (each asking for its SDS secrets, RDS, jwt_authn's first JWKS
    // fetch), then each bound once its init targets are done; if one fails, those already
    // bound close and start-up fails naming it.
    try {
      await this.listenerManager.addListeners(this.bootstrap.listeners.map((config, i) => ({ config, options: { at: `static_resources.listeners[${i}]` } })));
    } catch (err) {
      this.listenerManager.stopListening();
      this.admin?.stop();
      throw err;
    }
    if (dynamic?.lds) {
      const lds = new DynamicResourceApi<ListenerConfig>("listener", dynamic.lds, subscriptionContext, this.stats, {
        // Built and taken now; it warms (its RDS, then it binds) on its own: Envoy's LdsApiImpl ACKs before warming.
        addOrUpdate: (config, options) => this.listenerManager.updateListener(config, { ...options, addedViaApi: true }),
        remove: (name) => this.listenerManager.removeListener(name, { viaApi: true }),
        whenWarm: () => this.listenerManager.whenWarm(),
      });
      this.xdsManager.add(lds);
      await lds.start();
    }
    this.initialized = true;
    // Envoy's server.initialization_time_ms: from the server's construction to its init
    // manager done and workers started (InstanceImpl::startWorkers completes the timer).
    this.stats.histogram("server.initialization_time_ms").record(this.runtime.now() - this.startedAt);
    if (configLog.debugOn) configLog.debug("all listeners bound: the server is live");
    this.overload.start();
    // Here, not in an entry: a program embedding the server is told as runMain is.
    this.runtime.serving?.();
    // Stopped while starting (a signal): what was bound since must not stay open.
    if (this.stopping) {
      this.admin?.stop();
      this.listenerManager.stopListening();
    }
  }

  /**
   * The rtds_layers whose source is a file, or a management server: all started, then
   * waited for together (each its first update or initial_fetch_timeout), as Envoy's init
   * manager waits for its RTDS targets: N layers take one timeout, not N.
   */
  private async startRtdsLayers(which: "file" | "server"): Promise<void> {
    const context = { runtime: this.runtime, log: this.log, openMux: this.xdsManager.openMux, restFetch: this.xdsManager.restFetch, node: this.bootstrap.node };
    const started: Promise<unknown>[] = [];
    for (const layer of this.bootstrap.layeredRuntime?.layers ?? []) {
      if (layer.kind !== "rtds" || ("path" in layer.source) !== (which === "file")) continue;
      const subscription = await startRtdsSubscription(context, this.layeredRuntime, layer.resourceName, layer.source, this.stats.scope(`runtime.${layer.resourceName}.`));
      this.rtdsSubscriptions.push(subscription);
      started.push(subscription.start());
    }
    await Promise.all(started);
  }

  /** CDS's first update (clusters warmed), from a file or a management server. */
  private async startCds(source: XdsConfigSource | undefined, context: SubscriptionContext): Promise<void> {
    if (source === undefined) return;
    const cds = new DynamicResourceApi<ClusterConfig>("cluster", source, context, this.stats, {
      // Validated and taken now; it warms on its own (Envoy's CdsApiImpl ACKs before warming).
      addOrUpdate: async (config, options) => {
        // A cluster whose upstream filters cannot be made (a Lua script that does not compile) is rejected, not ACKed.
        await this.clusterManager.prepareUpdateCode(config, { ...options, addedViaApi: true });
        const update = this.clusterManager.updateCluster(config, { ...options, addedViaApi: true });
        update.warmed.catch((err: unknown) => this.log.warn(`cds: cluster '${config.name}' cannot be initialized: ${describeError(err)} (the one in use, if any, serves on)`));
        // Its EDS watch is on the stream before this update is ACKed (ClusterUpdate.started).
        await update.started;
        return update;
      },
      remove: (name) => this.clusterManager.removeCluster(name, { viaApi: true }),
      whenWarm: () => this.clusterManager.whenWarm(),
    });
    this.xdsManager.add(cds);
    await cds.start();
  }

  /** The stream to a management server: ADS's, or one per type and grpc_service config (grpc-mux.ts, loaded when first used). */
  private openMux(source: ApiConfigSource | AdsConfigSource, typeUrl: string): Promise<GrpcMuxLike> {
    const ads = this.bootstrap.dynamicResources?.ads;
    if (source.kind === "ads" && ads === undefined) return Promise.reject(new Error("ADS must be configured to support an ADS config source (dynamic_resources.ads_config)"));
    const api = source.kind === "ads" ? ads! : source;
    // Per type, one stream per distinct grpc_service (cluster, authority, initial_metadata)
    // and node setting: two sources that differ in those never share a stream's headers or
    // node (Envoy opens a stream per subscription's config source).
    const key = source.kind === "ads" ? "ads" : JSON.stringify([api.delta ? "delta" : "sotw", typeUrl, api.target.clusterName, api.target.authority, api.target.initialMetadata, api.nodeOnFirstMessageOnly, api.rateLimit]);
    let mux = this.muxes.get(key);
    if (mux === undefined) {
      mux = api.delta
        ? import("./config/xds/delta-grpc-mux.ts").then(({ DeltaGrpcMux, DELTA_ADS_METHOD, DELTA_TYPE_METHODS }) => {
            const method = source.kind === "ads" ? DELTA_ADS_METHOD : DELTA_TYPE_METHODS[typeUrl];
            if (method === undefined) throw new Error(`no discovery service for ${typeUrl}`);
            const created = new DeltaGrpcMux(this, api.target, method, this.bootstrap.node, api.nodeOnFirstMessageOnly);
            this.xdsManager.onStop(() => created.stop());
            return created;
          })
        : import("./config/xds/grpc-mux.ts").then(({ GrpcMux, ADS_METHOD, TYPE_METHODS }) => {
            const method = source.kind === "ads" ? ADS_METHOD : TYPE_METHODS[typeUrl];
            if (method === undefined) throw new Error(`no discovery service for ${typeUrl}`);
            const created = new GrpcMux(this, api.target, method, this.bootstrap.node, api.nodeOnFirstMessageOnly, undefined, api.rateLimit);
            this.xdsManager.onStop(() => created.stop());
            return created;
          });
      this.muxes.set(key, mux);
    }
    return mux;
  }

  /**
   * Open every access log file before anything listens: a file that cannot be opened
   * is a startup error naming it, as in Envoy.
   */
  private async openAccessLogs(): Promise<void> {
    const adminLogs = this.admin?.httpConnectionManager;
    if (adminLogs?.accessLog?.length) {
      try {
        this.accessLogs.set(adminLogs, await this.accessLogManager.createAccessLoggers(adminLogs.accessLog, this.layeredRuntime));
      } catch (err) {
        throw new Error(`admin.access_log: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** @internal ListenerManagerHost: a listener's access logs and its filters', opened before it is built; errors name the field under `at`. */
  async openListenerAccessLogs(listener: ListenerConfig, at: string): Promise<void> {
    if (listener.accessLog?.length) {
      try {
        this.accessLogs.set(listener, await this.accessLogManager.createAccessLoggers(listener.accessLog, this.layeredRuntime));
      } catch (err) {
        throw new Error(`${at}.access_log: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const chains: [FilterChainConfig, string][] = listener.filterChains.map((chain, c) => [chain, `filter_chains[${c}]`]);
    if (listener.defaultFilterChain) chains.push([listener.defaultFilterChain, "default_filter_chain"]);
    for (const [chain, chainAt] of chains) {
      for (const [f, filter] of chain.filters.entries()) {
        const configs = "accessLog" in filter.config ? filter.config.accessLog : undefined;
        if (!configs?.length) continue;
        try {
          this.accessLogs.set(filter.config, await this.accessLogManager.createAccessLoggers(configs, this.layeredRuntime));
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          throw new Error(`${at}.${chainAt}.filters[${f}].typed_config.access_log: ${message}`);
        }
      }
    }
  }

  /** @internal ListenerManagerHost: a listener gone: its access loggers and its filters' leave the map (the files stay open, shared by path). */
  closeListenerAccessLogs(listener: ListenerConfig): void {
    this.accessLogs.delete(listener);
    const chains = listener.defaultFilterChain ? [...listener.filterChains, listener.defaultFilterChain] : listener.filterChains;
    for (const chain of chains) for (const filter of chain.filters) this.accessLogs.delete(filter.config);
    // The listener is gone (drained, replaced while warming, never started): a google_grpc target only its filters named goes with it.
    this.scheduleInternalClusterSweep();
  }

  private internalClusterSweepScheduled = false;

  /**
   * Once the config changes now under way are done (one sweep for many listeners gone at
   * once), the google_grpc internal clusters no config names any more are removed: the
   * bootstrap (xDS and RTDS sources, load stats), the listeners serving, warming and
   * draining, the clusters serving and warming. Without it a reload or an xDS update that
   * changes a target kept the old cluster and its connections until exit.
   */
  private scheduleInternalClusterSweep(): void {
    if (this.internalClusterSweepScheduled || this.stopping) return;
    this.internalClusterSweepScheduled = true;
    this.runtime.defer(() => {
      this.internalClusterSweepScheduled = false;
      // The walk below reads every config: not made while there is nothing to sweep.
      if (this.stopping || !this.clusterManager.hasInternalClusters) return;
      const named = googleGrpcClusterNames([this.bootstrap, this.listenerManager.configs(), this.clusterManager.configs()]);
      for (const name of this.clusterManager.removeInternalClustersExcept(named)) this.log.debug(`google_grpc: internal cluster '${name}' removed: no config names it`);
    });
  }

  /** The server.* gauges (Envoy's InstanceImpl::updateServerStats), made at their first refresh. */
  private serverStats: ServerStats | undefined;

  /** Bring the server.* gauges up to date: at each stats flush, and before the admin shows stats. */
  refreshServerStats(): void {
    this.serverStats ??= new ServerStats(this.stats);
    this.serverStats.update({
      state: this.state,
      uptimeSeconds: this.uptimeSeconds,
      totalConnections: this.listeners.reduce((n, listener) => n + listener.activeConnections, 0),
      memoryBytes: this.runtime.memoryUsage(),
      concurrency: this.options.commandLine?.concurrency ?? 1,
    });
  }

  /**
   * A worker's part of its supervisor's merged stats flush (--concurrency): close this
   * worker's interval now (the snapshot it answers with), or send the merged stats through
   * its sinks (the one worker that flushes for all).
   */
  closeStatsInterval(): void {
    this.statsFlusher?.closeInterval();
  }

  flushMergedStats(message: SinkFlushMessage): void {
    this.mergedSnapshots ??= new MergedSnapshotMirror();
    this.statsFlusher?.flushSnapshot(this.mergedSnapshots.snapshot(message));
  }

  /**
   * ServerContext: `flush` runs at shutdown, once the connections are closed (within the
   * shutdown grace); the function returned takes it back (a tracer that stopped first).
   */
  onShutdown(flush: () => Promise<void>): () => void {
    this.shutdownFlushes.add(flush);
    return () => this.shutdownFlushes.delete(flush);
  }

  /** StatsHandler: with stats_flush_on_admin (as the server started), reading /stats flushes. */
  onAdminStatsRead(): void {
    if (this.statsFlusher?.onAdmin === true) this.statsFlusher.flush();
  }

  /** Stop accepting, close live connections after flushing, write out access logs; resolve when done (or after a grace period). */
  async shutdown(): Promise<void> {
    this.drainManager.stop();
    this.inboundDrainManager.stop();
    this.overload.stop();
    this.secretManager.stop();
    this.xdsManager.stop();
    this.loadStatsReporter?.stop();
    for (const subscription of this.rtdsSubscriptions) subscription.stop();
    this.clusterManager.shutdown();
    this.admin?.stop();
    this.listenerManager.stopListening();
    const closed = Promise.all([this.listenerManager.closeConnections(), this.admin?.listener.closeConnections()]);
    await this.within(SHUTDOWN_GRACE_MS, closed);
    // The streams are over, their spans finished: what the tracers hold goes out, on clusters still up.
    if (this.shutdownFlushes.size > 0) await this.within(SHUTDOWN_GRACE_MS, Promise.all([...this.shutdownFlushes].map((flush) => flush())));
    // Envoy's terminate() flushes after the workers stopped, so the connections' last stats
    // are in it; the sinks then get the grace period to send what they hold.
    const flusher = this.statsFlusher;
    if (flusher !== undefined) {
      flusher.finalFlush();
      await this.within(SHUTDOWN_GRACE_MS, flusher.drained());
      flusher.stop();
    }
    this.clusterManager.drainConnections();
    // Disabled timers leave their lists' runtime timers armed (see timers.ts): cancel them,
    // so an embedder's event loop can end.
    this.timers.close();
    // A stuck stdout reader must not hold the exit: the logs get a bounded time too.
    await this.within(SHUTDOWN_GRACE_MS, this.accessLogManager.close());
  }

  private async within(ms: number, work: Promise<unknown>): Promise<void> {
    let timer: unknown;
    const grace = new Promise<void>((resolve) => (timer = this.runtime.setTimeout(resolve, ms)));
    await Promise.race([work.catch(() => {}), grace]);
    this.runtime.clearTimeout(timer);
  }
}

function describeError(err: unknown): string {
  const reason = err && typeof err === "object" && "message" in err ? (err as { message: string }).message : String(err);
  const code = err && typeof err === "object" && "code" in err ? ` (${(err as { code: string }).code})` : "";
  return `${reason}${code}`;
}

