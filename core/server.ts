import "./extensions.ts";
import { SecretManager } from "./tls/secret-manager.ts";
import { hasUnresolvedUserFilters, resolveUserFilters } from "./http/user-filter/resolve-user-filters.ts";
import { ConfigError } from "./config/errors.ts";
import { Timers, type Timer } from "./event/timers.ts";
import { useSlabs } from "./util/byte-slab.ts";
import type { Bootstrap, FilterChainConfig } from "./config/bootstrap.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { ServerContext } from "./server-context.ts";
import { formatAddress } from "./network/address.ts";
import { ActiveListener } from "./network/listener.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";
import { StatsStore } from "./stats/stats-store.ts";
import { compileStatsMatcher } from "./stats/stats-matcher.ts";
import { Tracer } from "./trace/tracer.ts";
import { AccessLogManager, type AccessLogger } from "./access-log/logger.ts";
import { Admin, DEFAULT_DRAIN_TIME_S, type AdminServer } from "./admin/admin.ts";
import type { ServerState } from "./admin/server-stats.ts";
import type { ServerOptions } from "./server-options.ts";
import { InitManager } from "./init/init-manager.ts";
import { XdsManager } from "./config/xds/xds-manager.ts";
import { OverloadManager, type OverloadCallbacks } from "./overload/overload-manager.ts";
import { RuntimeLoader } from "./runtime/runtime-loader.ts";

const NO_LOGGERS: readonly AccessLogger[] = [];

/** How long shutdown waits for connections to flush and close before giving up. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * The proxy server built from a bootstrap (Envoy's `Server::InstanceImpl`): the
 * cluster manager, the admin interface and the listeners, started together and shut
 * down together; its state (live, draining) as the admin shows and changes it.
 */
export class Server implements ServerContext, AdminServer, OverloadCallbacks {
  readonly timers: Timers;
  /** overload_manager's monitors and actions (inactive when not configured). */
  readonly overload: OverloadManager;
  readonly initManager: InitManager = new InitManager();
  readonly stats: StatsStore;
  readonly layeredRuntime: RuntimeLoader;
  readonly tracer: Tracer;
  readonly clusterManager: ClusterManager;
  /** static_resources.secrets and the SDS files TLS contexts name (core/tls/secret-manager.ts). */
  readonly secretManager: SecretManager;
  /** RDS and EDS files (core/config/xds/). */
  readonly xdsManager: XdsManager = new XdsManager();
  /** Built by start(), once the access log files they write to are open. */
  readonly listeners: ActiveListener[] = [];
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
  private stopping = false;
  private failingHealthChecks = false;
  /** /drain_listeners was called (the server is no longer LIVE). */
  private drainStarted = false;
  /** A graceful drain is under way: HTTP/1 responses close their connections. */
  private draining = false;
  private drainTimer: Timer | undefined;
  /** When a graceful drain's time is over (runtime.now() ms). */
  private drainDeadline = 0;

  constructor(
    readonly runtime: Runtime,
    readonly bootstrap: Bootstrap,
    readonly log: Logger,
    readonly options: ServerOptions = {},
  ) {
    const statsMatcher = bootstrap.statsConfig?.statsMatcher;
    this.stats = new StatsStore(statsMatcher && compileStatsMatcher(statsMatcher));
    this.accessLogManager = new AccessLogManager(runtime);
    // How the runtime wants small byte arrays made (port.ts, ownSmallArrays): one
    // setting for the process, taken from the runtime that runs the server.
    useSlabs(runtime.ownSmallArrays !== true);
    this.layeredRuntime = new RuntimeLoader(runtime, bootstrap.layeredRuntime, this.stats);
    this.tracer = new Tracer(runtime);
    this.timers = new Timers(runtime);
    const nodeLocality = bootstrap.node?.locality;
    this.secretManager = new SecretManager(runtime, log, this.stats, bootstrap.secrets);
    this.clusterManager = new ClusterManager(bootstrap.clusters, this.stats, { runtime, timers: this.timers }, log, this.layeredRuntime, {
      ...(bootstrap.localClusterName !== undefined ? { clusterName: bootstrap.localClusterName } : {}),
      ...(nodeLocality ? { locality: { region: nodeLocality.region ?? "", zone: nodeLocality.zone ?? "", subZone: nodeLocality.sub_zone ?? "" } } : {}),
    });
    this.overload = new OverloadManager(bootstrap.overloadManager, this, this.stats, log);
    this.overload.callbacks = this;
    this.startedAt = runtime.now();
    this.configLoadedAt = runtime.wallClock();
  }

  /**
   * Envoy's ServerInfo.State: PRE_INITIALIZING until every listener is bound, then LIVE;
   * DRAINING once health checks were failed (/healthcheck/fail), listeners drained
   * (/drain_listeners) or shutdown began.
   */
  get state(): ServerState {
    if (!this.initialized) return "PRE_INITIALIZING";
    return this.failingHealthChecks || this.drainStarted || this.stopping ? "DRAINING" : "LIVE";
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

  /**
   * Envoy's DrainManagerImpl::drainClose: always while health checks fail; while draining,
   * always with --drain-strategy immediate, and with gradual (Envoy's default) with
   * probability elapsed / drain time, in whole seconds as Envoy counts them, so connections
   * are told to close spread over the drain time rather than all in its first second.
   */
  drainClose(): boolean {
    if (this.failingHealthChecks) return true;
    if (!this.draining) return false;
    const drainTimeS = this.options.commandLine?.drainTimeS ?? DEFAULT_DRAIN_TIME_S;
    if ((this.options.commandLine?.drainStrategy ?? "gradual") === "immediate" || drainTimeS === 0) return true;
    const remainingMs = this.drainDeadline - this.runtime.now();
    if (remainingMs <= 0) return true;
    const elapsedS = drainTimeS - Math.floor(remainingMs / 1000);
    return elapsedS > Math.floor(this.runtime.random() * drainTimeS);
  }

  failHealthcheck(fail: boolean): void {
    if (fail !== this.failingHealthChecks) this.log.info(fail ? "admin: health checks failed (draining)" : "admin: health checks pass again");
    this.failingHealthChecks = fail;
  }

  /**
   * /drain_listeners: stop accepting on every configured listener (not the admin's) —
   * at once, or with `graceful` after --drain-time-s, meanwhile still accepting and
   * telling connections to close after a response as drainClose() decides.
   * Open connections are not cut either way, as in Envoy.
   */
  drainListeners(graceful: boolean): void {
    if (this.stopping) return;
    this.drainStarted = true;
    if (!graceful) {
      this.log.info("admin: draining listeners: listeners stopped");
      this.clearDrainTimer();
      for (const listener of this.listeners) listener.stopListening();
      return;
    }
    if (this.draining) return;
    this.draining = true;
    const seconds = this.options.commandLine?.drainTimeS ?? DEFAULT_DRAIN_TIME_S;
    this.drainDeadline = this.runtime.now() + seconds * 1000;
    this.log.info(`admin: draining listeners gracefully for ${seconds} s (${this.options.commandLine?.drainStrategy ?? "gradual"})`);
    this.drainTimer = this.timers.create(() => {
      this.drainTimer = undefined;
      this.log.info("admin: drain time over: listeners stopped");
      for (const listener of this.listeners) listener.stopListening();
    });
    this.drainTimer.enable(seconds * 1000);
  }

  /** @internal stop_accepting_connections saturated or cleared: every configured listener (not the admin's) pauses or resumes. */
  onStopAcceptingConnections(stop: boolean): void {
    if (this.stopping) return;
    for (const listener of this.listeners) {
      if (stop) listener.pauseAccepting();
      else listener.resumeAccepting();
    }
  }

  private clearDrainTimer(): void {
    this.drainTimer?.disable();
    this.drainTimer = undefined;
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
    const adminConfig = this.bootstrap.admin;
    if (adminConfig) this.admin = new Admin(this, adminConfig);
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
    // DNS clusters start resolving (nothing waits for them); health-checked hosts get their
    // first check before listeners start (Envoy's cluster warming).
    await this.clusterManager.initialize((path) => this.accessLogManager.file(path), this.secretManager);
    for (const config of this.bootstrap.listeners) this.listeners.push(new ActiveListener(config, this));
    for (const [i, listener] of this.listeners.entries()) {
      try {
        await listener.prepareTransportSockets();
      } catch (err) {
        this.admin?.stop();
        throw new Error(`static_resources.listeners[${i}] ('${listener.name}'): ${describeError(err)}`);
      }
    }
    // What the listeners' filters started (jwt_authn's first JWKS fetch) finishes before they bind.
    if (this.initManager.pending.length > 0) {
      this.log.info(`waiting for ${this.initManager.pending.join(", ")} before listening`);
      await this.initManager.wait();
    }
    for (const [i, listener] of this.listeners.entries()) {
      try {
        await listener.start();
      } catch (err) {
        for (const started of this.listeners.slice(0, i)) started.stopListening();
        this.admin?.stop();
        const address = formatAddress(this.bootstrap.listeners[i]!.address);
        throw new Error(`listener '${listener.name}' cannot bind to ${address}: ${describeError(err)}`);
      }
    }
    this.initialized = true;
    this.overload.start();
    // Stopped while starting (a signal): what was bound since must not stay open.
    if (this.stopping) {
      this.admin?.stop();
      for (const listener of this.listeners) listener.stopListening();
    }
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
    for (const [i, listener] of this.bootstrap.listeners.entries()) {
      if (listener.accessLog?.length) {
        try {
          this.accessLogs.set(listener, await this.accessLogManager.createAccessLoggers(listener.accessLog, this.layeredRuntime));
        } catch (err) {
          throw new Error(`static_resources.listeners[${i}].access_log: ${err instanceof Error ? err.message : String(err)}`);
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
            throw new Error(`static_resources.listeners[${i}].${chainAt}.filters[${f}].typed_config.access_log: ${message}`);
          }
        }
      }
    }
  }

  /** Stop accepting, close live connections after flushing, write out access logs; resolve when done (or after a grace period). */
  async shutdown(): Promise<void> {
    this.clearDrainTimer();
    this.overload.stop();
    this.secretManager.stop();
    this.xdsManager.stop();
    this.clusterManager.shutdown();
    this.admin?.stop();
    for (const listener of this.listeners) listener.stopListening();
    const all = this.admin ? [...this.listeners, this.admin.listener] : this.listeners;
    const closed = Promise.all(all.map((listener) => listener.closeConnections()));
    await this.within(SHUTDOWN_GRACE_MS, closed);
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
