import type { ListenerConfig } from "../config/bootstrap.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { ServerContext } from "../server-context.ts";
import { configHash } from "../util/config-hash.ts";
import { InitManager } from "../init/init-manager.ts";
import { formatAddress } from "./address.ts";
import { DrainManager, type DrainSettings } from "./drain-manager.ts";
import { ActiveListener, loadListenerFilters } from "./listener.ts";
import { ListenerFactoryContext } from "./listener-factory-context.ts";

/** What the listener manager needs of the server. */
export interface ListenerManagerHost {
  /** The server as listeners see it. */
  readonly context: ServerContext;
  /** --drain-time-s and --drain-strategy: how a removed or replaced listener drains. */
  readonly drainSettings: DrainSettings;
  /** Open the listener's access logs and its filters' (context.accessLoggers finds them then); rejects naming the field under `at`. */
  openListenerAccessLogs(config: ListenerConfig, at: string): Promise<void>;
  /** The listener is gone (drained, or never started): forget its access loggers. */
  closeListenerAccessLogs(config: ListenerConfig): void;
}

/** How a listener is added or updated. */
export interface ListenerUpdateOptions {
  /**
   * What identifies the config's content: an unchanged hash is no update (Envoy's
   * ListenerImpl hash). Default: configHash(config). Callers holding the raw document
   * (a reload, xDS) pass a hash of it.
   */
  hash?: string;
  /** Where the config came from, prefixed to error messages ("static_resources.listeners[0]"). */
  at?: string;
  /** xDS version_info (the admin's config dump). */
  versionInfo?: string;
  /**
   * Added by LDS (Envoy's added_via_api): it cannot update or remove a listener that was
   * not (a static one, or a reload's): Envoy's ListenerImpl::blockUpdate/blockRemove,
   * "duplicate/locked listener '…'. no add/update" — the update is skipped.
   */
  addedViaApi?: boolean;
}

/** What updateListener did: whether anything changes, and when the new listener serves (false: it never does). */
export interface ListenerUpdate {
  readonly changed: boolean;
  readonly warmed: Promise<boolean>;
}

/** A listener built and waiting for its init targets (RDS, a JWKS fetch) before it binds: Envoy's warming_listeners_. */
interface WarmingEntry {
  listener: ActiveListener;
  hash: string;
  context: ListenerFactoryContext;
  /** Replaced by a newer update of its name, removed, or the server stops: it never binds. */
  cancelled: boolean;
  warmed: Promise<boolean>;
}

/** What a listener waits for before it binds (its RDS, JWKS fetches, SDS secrets). */
type InitTargets = readonly { name: string; ready: Promise<void> }[];

/** A listener built (access logs, filter chains, TLS), not yet warmed. */
interface BuiltListener {
  config: ListenerConfig;
  options: ListenerUpdateOptions;
  listener: ActiveListener;
  hash: string;
  drain: DrainManager;
  context: ListenerFactoryContext;
  /** The init targets its build added: it waits for these and for no other listener's (Envoy gives each listener its own init manager). */
  targets: InitTargets;
}

interface ActiveEntry {
  listener: ActiveListener;
  hash: string;
  versionInfo: string | undefined;
  drain: DrainManager;
  context: ListenerFactoryContext;
  addedViaApi: boolean;
}

/**
 * Listeners by name, added, updated and removed while the server runs (Envoy's
 * `ListenerManagerImpl`, source/server/listener_manager_impl.cc, without workers):
 *
 * - **add**: the listener is built (access logs, filter chains, TLS), its init targets
 *   awaited, then it binds. Any failure rejects and leaves everything as it was.
 * - **update** (same name, other config): the new listener is built beside the old; on
 *   the same address it takes the old one's bound socket over (no moment without a
 *   listening socket), on another it binds its own. New connections land on the new
 *   filter chains; the old listener's connections run on on the old ones while it drains.
 * - **remove**: the listener stops accepting at once and drains.
 *
 * A draining listener's connections are told to close by its own DrainManager
 * (--drain-strategy over --drain-time-s: HTTP/1 `Connection: close`, HTTP/2 GOAWAY); when
 * the drain time is over, what is left is closed. It is gone as soon as its last
 * connection is (Envoy waits out the drain time either way).
 *
 * Updates run one at a time, in the order asked. LDS (updateListener) does not wait for
 * warming: the update is answered once its listeners are built, and each warms on its own
 * (Envoy's warming_listeners_; lds_api.cc ACKs what addOrUpdateListener took) — a newer
 * update or a removal of its name replaces a warming listener. One that then cannot bind
 * is reported as Envoy's worker failure (listener_manager_impl.cc addListenerToWorker: a
 * critical log "failed to listen on address", listener_create_failure) and dropped.
 * Stats as Envoy's: listener_manager.listener_added / listener_modified / listener_removed /
 * listener_create_success / listener_create_failure, total_listeners_active /
 * total_listeners_draining / total_listeners_warming.
 */
export class ListenerManager {
  private readonly active = new Map<string, ActiveEntry>();
  private readonly drainingListeners = new Set<ActiveListener>();
  private readonly warming = new Map<string, WarmingEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stats: {
    listenerAdded: Counter;
    listenerModified: Counter;
    listenerRemoved: Counter;
    listenerCreateSuccess: Counter;
    listenerCreateFailure: Counter;
    totalListenersActive: Gauge;
    totalListenersDraining: Gauge;
    totalListenersWarming: Gauge;
  };

  constructor(private readonly host: ListenerManagerHost) {
    const scope = host.context.stats.scope("listener_manager.");
    this.stats = {
      listenerAdded: scope.counter("listener_added"),
      listenerModified: scope.counter("listener_modified"),
      listenerRemoved: scope.counter("listener_removed"),
      listenerCreateSuccess: scope.counter("listener_create_success"),
      listenerCreateFailure: scope.counter("listener_create_failure"),
      totalListenersActive: scope.gauge("total_listeners_active"),
      totalListenersDraining: scope.gauge("total_listeners_draining"),
      totalListenersWarming: scope.gauge("total_listeners_warming"),
    };
  }

  /** The active listeners, in the order they were added. */
  listeners(): ActiveListener[] {
    return [...this.active.values()].map((entry) => entry.listener);
  }

  /** Configs being built or warmed by addOrUpdateListener / updateListener, not yet in `warming` or `active`. */
  private readonly building = new Set<ListenerConfig>();

  /** The configs of the listeners serving, warming, draining and being built: what their filters may still call. */
  configs(): ListenerConfig[] {
    return [...this.active.values(), ...this.warming.values()].map((entry) => entry.listener.config).concat([...this.drainingListeners].map((listener) => listener.config), [...this.building]);
  }

  get(name: string): ActiveListener | undefined {
    return this.active.get(name)?.listener;
  }

  /** The xDS version_info a listener was last added or updated with. */
  versionInfo(name: string): string | undefined {
    return this.active.get(name)?.versionInfo;
  }

  /** Listeners removed or replaced whose connections are still draining. */
  get drainingCount(): number {
    return this.drainingListeners.size;
  }

  /**
   * Envoy's ListenerManagerImpl::addOrUpdateListener: resolves true once the listener is
   * added or updated (serving), false when its config is unchanged (nothing done);
   * rejects with an Error naming the problem when it cannot be built or bound, the
   * listener of that name (if any) serving on unchanged.
   */
  addOrUpdateListener(config: ListenerConfig, options: ListenerUpdateOptions = {}): Promise<boolean> {
    const name = config.name;
    this.pendingNames.set(name, (this.pendingNames.get(name) ?? 0) + 1);
    this.building.add(config);
    const done = (): void => {
      this.building.delete(config);
      const left = (this.pendingNames.get(name) ?? 1) - 1;
      if (left > 0) this.pendingNames.set(name, left);
      else this.pendingNames.delete(name);
    };
    return this.serialized(async () => {
      const built = await this.build(config, options);
      return built === undefined ? false : this.warm(built);
    }).finally(done);
  }

  /**
   * The static listeners at start: all built first — each asking for what it waits on
   * (SDS secrets, RDS, JWKS) — then each binds in turn once its own init targets are done,
   * so N listeners waiting on their secrets take one wait, not N (Envoy's server init
   * manager waits for every listener's targets together). Rejects with the first that
   * cannot be built or bound; the ones built and not bound are gone then.
   */
  addListeners(listeners: readonly { config: ListenerConfig; options: ListenerUpdateOptions }[]): Promise<void> {
    for (const { config } of listeners) this.building.add(config);
    return this.serialized(async () => {
      const built: BuiltListener[] = [];
      try {
        for (const { config, options } of listeners) {
          const one = await this.build(config, options);
          if (one !== undefined) built.push(one);
        }
      } catch (err) {
        for (const one of built) this.destroy(one.config, one.context);
        throw err;
      }
      for (const [i, one] of built.entries()) {
        try {
          await this.warm(one);
        } catch (err) {
          for (const rest of built.slice(i + 1)) this.destroy(rest.config, rest.context);
          throw err;
        }
      }
    }).finally(() => {
      for (const { config } of listeners) this.building.delete(config);
    });
  }

  /**
   * LDS's add or update (Envoy's addOrUpdateListener as lds_api.cc calls it): resolves
   * once the listener is built — rejects when it cannot be, as the NACK's reason — with
   * `warmed`, which resolves true once it serves, false when it never does (replaced or
   * removed while warming, or it cannot bind: logged and counted, the update was taken).
   */
  updateListener(config: ListenerConfig, options: ListenerUpdateOptions = {}): Promise<ListenerUpdate> {
    const name = config.name;
    this.pendingNames.set(name, (this.pendingNames.get(name) ?? 0) + 1);
    this.building.add(config);
    return this.serialized(async (): Promise<ListenerUpdate> => {
      const hash = options.hash ?? configHash(config);
      const warming = this.warming.get(name);
      if (warming !== undefined) {
        if (warming.hash === hash) return { changed: false, warmed: warming.warmed };
        if (this.active.get(name)?.hash === hash) {
          // Back to the config that serves (Envoy's blockLdsUpdate on the active one): counted as a modification.
          this.cancelWarming(name);
          this.stats.listenerModified.inc();
          return { changed: true, warmed: Promise.resolve(true) };
        }
      }
      // Built before the warming listener it replaces is cancelled (Envoy's
      // addOrUpdateListenerInternal): an update that cannot be built is NACKed and the
      // warming one, already ACKed, warms on.
      const built = await this.build(config, options);
      // A newer update replaces the warming listener (Envoy: a warming listener is updated in place).
      this.cancelWarming(name);
      if (built === undefined) return { changed: false, warmed: Promise.resolve(false) };
      const entry: WarmingEntry = { listener: built.listener, hash: built.hash, context: built.context, cancelled: false, warmed: Promise.resolve(false) };
      this.warming.set(name, entry);
      this.updateGauges();
      entry.warmed = this.warm(built, entry).then(
        (ok) => ok,
        (err: unknown) => {
          // Envoy's addListenerToWorker failure: "listener '…' failed to listen on address '…' on worker".
          this.context.log.error(`listener '${name}' failed to listen on address '${formatAddress(config.address)}': ${describe(err)}`);
          return false;
        },
      );
      return { changed: true, warmed: entry.warmed };
    }).finally(() => {
      this.building.delete(config);
      const left = (this.pendingNames.get(name) ?? 1) - 1;
      if (left > 0) this.pendingNames.set(name, left);
      else this.pendingNames.delete(name);
    });
  }

  /** Resolves once the listeners warming now serve or are gone (LDS's first update: the server's init waits for them). */
  async whenWarm(): Promise<void> {
    await this.queue;
    await Promise.all([...this.warming.values()].map((entry) => entry.warmed));
  }

  /**
   * Envoy's ListenerManagerImpl::removeListener: the listener stops accepting and drains,
   * after the updates asked for before (an update of that name under way finishes first,
   * then its listener is removed). False when there is no listener of that name (nor one
   * being added), or `viaApi` (LDS) names one it did not add ("unknown/locked listener").
   */
  removeListener(name: string, options: { viaApi?: boolean } = {}): boolean {
    const entry = this.active.get(name);
    if (entry ? options.viaApi === true && !entry.addedViaApi : !this.pendingNames.has(name) && !this.warming.has(name)) {
      if (entry) this.context.log.debug(`unknown/locked listener '${name}'. no remove`);
      return false;
    }
    void this.serialized(async () => {
      this.removeNow(name, options.viaApi === true);
    });
    return true;
  }

  private removeNow(name: string, viaApi: boolean): void {
    // A warming listener of that name never binds (only LDS adds warming ones).
    if (viaApi) this.cancelWarming(name);
    const entry = this.active.get(name);
    if (!entry || (viaApi && !entry.addedViaApi)) return;
    this.active.delete(name);
    entry.listener.stopListening();
    if (!entry.listener.servedElsewhere) this.stats.listenerRemoved.inc();
    this.context.log.info(`listener '${name}' removed: draining its connections`);
    this.drainListener(entry);
    this.updateGauges();
  }

  /** Resolves once the updates and removals asked for so far are done. */
  settled(): Promise<void> {
    return this.queue.then(() => {});
  }

  /** Every active listener (or those `which` picks) stops accepting (the server drains or stops); they stay listed. */
  stopListening(which?: (listener: ActiveListener) => boolean): void {
    for (const [name, warming] of [...this.warming]) if (!which || which(warming.listener)) this.cancelWarming(name);
    for (const entry of this.active.values()) if (!which || which(entry.listener)) entry.listener.stopListening();
  }

  /** Resolves once every listener's connections are gone, draining ones included. */
  whenClosed(): Promise<void> {
    return Promise.all([...this.listeners(), ...this.drainingListeners].map((l) => l.whenClosed())).then(() => {});
  }

  /** Resolves once the listeners draining now are gone. */
  whenDrained(): Promise<void> {
    return Promise.all([...this.drainingListeners].map((l) => l.whenClosed())).then(() => {});
  }

  /** Close every connection, active and draining listeners' (shutdown); resolves when all are gone. */
  closeConnections(): Promise<void> {
    for (const entry of this.active.values()) entry.drain.stop();
    return Promise.all([...this.listeners(), ...this.drainingListeners].map((l) => l.closeConnections())).then(() => {});
  }

  private get context(): ServerContext {
    return this.host.context;
  }

  /** Names of the listeners whose add or update is queued or under way. */
  private readonly pendingNames = new Map<string, number>();

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => {});
    return next;
  }

  /** The name of another listener, serving or warming, on `config`'s pipe path; undefined when there is none (or `config` is no pipe). */
  private pipeHolder(config: ListenerConfig): string | undefined {
    if (config.address.pipe === undefined) return undefined;
    for (const [name, entry] of [...this.active, ...this.warming]) {
      const address = entry.listener.config.address;
      if (name !== config.name && address.pipe !== undefined && address.address === config.address.address) return name;
    }
    return undefined;
  }

  /** A warming listener of `name` is dropped: it never binds; what it started stops. */
  private cancelWarming(name: string): void {
    const warming = this.warming.get(name);
    if (warming === undefined) return;
    this.warming.delete(name);
    warming.cancelled = true;
    // What it started (its RDS subscription) stops now: its init targets settle, nothing it asked for stays watched.
    warming.context.destroy();
    this.updateGauges();
  }

  /** Build the listener (access logs, filter chains, TLS); undefined when nothing changes. Rejects naming the problem, nothing changed. */
  private async build(config: ListenerConfig, options: ListenerUpdateOptions): Promise<BuiltListener | undefined> {
    const hash = options.hash ?? configHash(config);
    const existing = this.active.get(config.name);
    if (existing && existing.hash === hash) return undefined;
    if (existing && options.addedViaApi === true && !existing.addedViaApi) {
      this.context.log.debug(`duplicate/locked listener '${config.name}'. no add/update`);
      return undefined;
    }
    // Envoy's ListenerManagerImpl::setupSocketFactoryForListener: the socket(s) an update
    // takes over were bound one way; a listener must be removed and added again to change it.
    if (existing && (existing.listener.config.reusePort ?? true) !== (config.reusePort ?? true)) {
      this.stats.listenerCreateFailure.inc();
      throw new Error(`Listener ${config.name}: reuse port cannot be changed during an update`);
    }
    const pipeHolder = this.pipeHolder(config);
    // As the static config's check (core/config/load.ts): a second bind on a path would
    // unlink the first listener's socket, taking its connections over without a word.
    if (pipeHolder !== undefined) throw new Error(`duplicate listener address ${config.address.address} (already used by listener "${pipeHolder}")`);
    const at = options.at ?? `listener '${config.name}'`;
    const drain = new DrainManager(this.context.runtime, this.context.timers, this.host.drainSettings);
    const context = new ListenerFactoryContext(this.context, drain, config.trafficDirection === "INBOUND");
    try {
      await this.host.openListenerAccessLogs(config, at);
      const loading = loadListenerFilters(config, context);
      if (loading !== undefined) {
        try {
          await loading;
        } catch (err) {
          // Named as every other build error is (the module's path alone says nothing of the config).
          throw new Error(`${at} ('${config.name}'): ${describe(err)}`);
        }
      }
      const listener = new ActiveListener(config, context);
      try {
        await listener.prepareTransportSockets();
      } catch (err) {
        throw new Error(`${at} ('${config.name}'): ${describe(err)}`);
      }
      // Builds run one at a time: what the init manager holds now, this build added.
      return { config, options, listener, hash, drain, context, targets: this.context.initManager.take() };
    } catch (err) {
      this.stats.listenerCreateFailure.inc();
      // What it opened or started (access loggers, RDS, JWKS fetches, SDS leases) goes with
      // it, and so do the init targets it added: no later listener waits on them (they may
      // never settle: a secret with no initial_fetch_timeout).
      this.context.initManager.take();
      this.destroy(config, context);
      throw err;
    }
  }

  /**
   * Its init targets awaited, then it binds (or takes the old one's socket over) and
   * serves; false when `warming` was cancelled meanwhile. Rejects when it cannot bind.
   */
  private async warm(built: BuiltListener, warming?: WarmingEntry): Promise<boolean> {
    const { config, options, listener, hash, drain, context, targets } = built;
    const cancelled = (): boolean => {
      if (warming === undefined || !warming.cancelled) return false;
      this.destroy(config, context);
      return true;
    };
    try {
      // What its filters started (RDS, jwt_authn's first JWKS fetch) finishes before it serves.
      if (targets.length > 0) {
        this.context.log.info(`listener '${config.name}': waiting for ${targets.map((t) => t.name).join(", ")} before listening`);
        await InitManager.waitFor(targets);
      }
      if (cancelled()) return false;
      const existing = this.active.get(config.name);
      // A UDP and a TCP socket on one address are two sockets: only one of the same protocol is taken over.
      const sameAddress = existing && formatAddress(existing.listener.config.address) === formatAddress(config.address) && existing.listener.boundAddress !== undefined && (existing.listener.udp === undefined) === (listener.udp === undefined);
      if (sameAddress) {
        listener.takeOver(existing.listener);
      } else {
        try {
          await listener.start();
        } catch (err) {
          throw new Error(`listener '${config.name}' cannot bind to ${formatAddress(config.address)}: ${describe(err)}`);
        }
        if (warming?.cancelled) {
          listener.stopListening();
          cancelled();
          return false;
        }
      }
    } catch (err) {
      this.stats.listenerCreateFailure.inc();
      if (warming !== undefined && this.warming.get(config.name) === warming) this.warming.delete(config.name);
      this.destroy(config, context);
      this.updateGauges();
      throw err;
    }
    if (warming !== undefined) this.warming.delete(config.name);
    const existing = this.active.get(config.name);
    // Left to worker 0 (a pipe, an unshareable UDP socket): this worker added it to no socket,
    // so it counts nothing of it — worker 0's counts (a success or its bind failure) are the
    // truth, where Envoy counts listener_create_success once per worker it is added to
    // (listener_manager_impl.cc addListenerToWorker).
    const counted = !listener.servedElsewhere;
    if (counted) this.stats.listenerCreateSuccess.inc();
    this.active.set(config.name, { listener, hash, versionInfo: options.versionInfo, drain, context, addedViaApi: options.addedViaApi === true });
    if (existing) {
      // Replaced: the old one no longer accepts (its socket is the new one's, or closed) and drains.
      existing.listener.stopListening();
      if (counted) this.stats.listenerModified.inc();
      this.context.log.info(`listener '${config.name}' updated: new connections use the new config, the old one's drain`);
      this.drainListener(existing);
    } else if (counted) {
      this.stats.listenerAdded.inc();
    }
    this.updateGauges();
    return true;
  }

  /** The listener drains: told to close over the drain time, closed at its end, gone with its last connection. */
  private drainListener(entry: ActiveEntry): void {
    const listener = entry.listener;
    this.drainingListeners.add(listener);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      entry.drain.stop();
      this.drainingListeners.delete(listener);
      this.destroy(listener.config, entry.context);
      this.updateGauges();
    };
    entry.drain.startDrainSequence(() => void listener.closeConnections().then(finish));
    void listener.whenClosed().then(finish);
  }

  /** A listener gone: its filters' subscriptions and timers stop, its access loggers are forgotten. */
  private destroy(config: ListenerConfig, context: ListenerFactoryContext): void {
    context.destroy();
    this.host.closeListenerAccessLogs(config);
  }

  private updateGauges(): void {
    let active = 0;
    for (const entry of this.active.values()) if (!entry.listener.servedElsewhere) active++;
    this.stats.totalListenersActive.set(active);
    this.stats.totalListenersDraining.set(this.drainingListeners.size);
    this.stats.totalListenersWarming.set(this.warming.size);
  }
}

function describe(err: unknown): string {
  const reason = err && typeof err === "object" && "message" in err ? String((err as { message: unknown }).message) : String(err);
  const code = err && typeof err === "object" && "code" in err ? ` (${(err as { code: string }).code})` : "";
  return `${reason}${code}`;
}
