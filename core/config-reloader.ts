import type { CommandLine } from "./cli.ts";
import type { Bootstrap } from "./config/bootstrap.ts";
import { formatFromPath } from "./config/config-source.ts";
import { readsOnce } from "./config/reads-once.ts";
import { readFailure, validateConfig } from "./config/validate-config.ts";
import { hasUnresolvedUserFilters, resolveUserFilters } from "./http/user-filter/resolve-user-filters.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { Server } from "./server.ts";
import type { Counter } from "./stats/counter.ts";
import { configHash } from "./util/config-hash.ts";
import { FileWatch } from "./util/file-watch.ts";

const READ_ONCE = "is not a regular file (a FIFO, a pipe or a device): it is read once, at start";

/**
 * Hot reload of the bootstrap file (SIGHUP, or a change of the file with --watch-config).
 * Envoy has no such thing — it restarts (hot restart) for a new bootstrap — so polyvoy
 * defines it, with the same no-drop rules Envoy applies to LDS/CDS updates:
 *
 * 1. The file is read and validated as at start (zod schemas, user filters). An invalid
 *    one is refused whole: one log line per problem, the running config serves on.
 * 2. Only `static_resources.listeners` and `static_resources.clusters` change at run time,
 *    each by name, compared by content: clusters added or replaced first (a new one warms
 *    while the old serves), then listeners removed (they stop accepting and drain), added
 *    or updated (the new one takes the old one's socket; the old one's connections finish
 *    on its filter chains and drain), then clusters removed (requests in flight finish).
 * 3. Any other change (admin, node, overload_manager, layered_runtime, stats_config,
 *    secrets, cluster_manager, …) needs a restart: it is logged, one line per field, and
 *    not applied.
 *
 * A listener or cluster that fails to apply (a port already taken, a TLS file missing) is
 * logged and left as it was; the rest of the reload is applied. Stats:
 * config_reload.update_attempt / update_success / update_rejected (invalid, nothing
 * applied) / update_failure (unreadable, or some part failed to apply).
 * Reloads run one at a time; one asked for meanwhile runs after, once. A config that is
 * not a regular file (a FIFO, `-c <(…)`, /dev/stdin) is read once, at start: a reload of it
 * is refused (update_rejected) and --watch-config does not watch it.
 */
export class ConfigReloader {
  private running: Promise<void> | undefined;
  private again = false;
  private watch: FileWatch | undefined;
  private closed = false;
  /** The document of the config running (snake_case keys), compared with the next. */
  private document: Record<string, unknown>;
  /**
   * Clusters a reload dropped, removed once the listeners it drained are gone (their routes
   * may still name them): by name, the reload that dropped it last (a cluster dropped,
   * re-added and dropped again waits for the last drop's listeners, not the first's).
   */
  private readonly pendingRemovals = new Map<string, number>();
  /** Reloads applied so far (pendingRemovals' tokens). */
  private applied = 0;
  private readonly stats: { attempt: Counter; success: Counter; rejected: Counter; failure: Counter };

  constructor(
    private readonly runtime: Runtime,
    private readonly server: Server,
    private readonly commandLine: CommandLine,
    private readonly log: Logger,
    document: unknown,
    /** The config was read once, by the supervisor (a worker started from its text): its path may not even exist here. */
    private readonly handedOver = false,
  ) {
    this.document = asRecord(document);
    const scope = server.stats.scope("config_reload.");
    this.stats = {
      attempt: scope.counter("update_attempt"),
      success: scope.counter("update_success"),
      rejected: scope.counter("update_rejected"),
      failure: scope.counter("update_failure"),
    };
  }

  /** --watch-config: reload when the file changes (the port's watchDirectory, else polling). */
  async watchFile(): Promise<void> {
    const path = this.commandLine.configPath;
    if (path === undefined || this.watch) return;
    // Polling would read a FIFO's or a pipe's next writer away: such a config is not watched.
    if (this.handedOver || (await readsOnce(this.runtime, path))) return this.log.warn(`--watch-config: '${path}' ${READ_ONCE}: not watched`);
    if (this.closed) return;
    this.watch = new FileWatch(this.runtime, [path], undefined, () => void this.reload("config file changed"));
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
    this.watch = undefined;
  }

  /** Reload now (or after the reload under way). Resolves when done; never rejects. */
  reload(trigger: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        try {
          await this.reloadOnce(trigger);
        } catch (err) {
          this.stats.failure.inc();
          this.log.error(`config reload failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      } while (this.again);
      this.running = undefined;
    };
    this.running = run();
    return this.running;
  }

  private async reloadOnce(trigger: string): Promise<void> {
    const path = this.commandLine.configPath;
    this.stats.attempt.inc();
    if (path === undefined) {
      this.stats.rejected.inc();
      this.log.warn(`${trigger}: no config file to reload (--config-yaml only): nothing changed`);
      return;
    }
    // A second read of a FIFO would wait for a writer (holding every later reload behind
    // it), of a pipe give nothing: the config read at start is the only one.
    if (this.handedOver || (await readsOnce(this.runtime, path))) {
      this.stats.rejected.inc();
      this.log.warn(`${trigger}: '${path}' ${READ_ONCE}: nothing changed (restart polyvoy for another config)`);
      return;
    }
    this.log.info(`${trigger}: reloading '${path}'`);
    let text: string;
    try {
      text = await this.runtime.readTextFile(path);
    } catch (err) {
      this.stats.failure.inc();
      this.log.error(`config reload: cannot read '${path}': ${readFailure(err)}; the running config serves on`);
      return;
    }
    // --config-yaml is merged over the file again, as at start.
    const loaded = await validateConfig(text, formatFromPath(path), this.commandLine.configYaml, this.runtime);
    const problems = "bootstrap" in loaded ? (hasUnresolvedUserFilters(loaded.bootstrap) ? await resolveUserFilters(loaded.bootstrap, this.runtime) : []) : loaded.problems;
    if (!("bootstrap" in loaded) || problems.length > 0) {
      this.stats.rejected.inc();
      for (const problem of problems) this.log.error(`config reload refused: ${problem}`);
      this.log.error(`config reload refused: ${problems.length} problem(s) in '${path}'; the running config serves on`);
      return;
    }
    const next = asRecord(loaded.document);
    this.logRestartNeeded(next);
    const failed = await this.apply(loaded.bootstrap, next);
    // What runs now: the new listeners and clusters (those that failed stay as they were), the rest as started.
    const running = this.server.bootstrap;
    const applied: Bootstrap = { ...running, listeners: this.server.listeners.map((l) => l.config), clusters: this.server.clusterManager.all().map((c) => c.config) };
    this.server.bootstrap = applied;
    const staticResources = { ...asRecord(this.document["static_resources"]) };
    const nextStatic = asRecord(next["static_resources"]);
    const names = (list: unknown): Set<string> => new Set(asList(list).map((r) => String(asRecord(r)["name"])));
    const liveListeners = new Set(applied.listeners.map((l) => l.name));
    const liveClusters = new Set(applied.clusters.map((c) => c.name));
    staticResources["listeners"] = pickByName(nextStatic["listeners"], staticResources["listeners"], liveListeners, failed, names);
    staticResources["clusters"] = pickByName(nextStatic["clusters"], staticResources["clusters"], liveClusters, failed, names);
    this.document = { ...this.document, static_resources: staticResources };
    this.server.options.configDocument = this.document;
    if (failed.size > 0) {
      this.stats.failure.inc();
      this.log.error(`config reload: ${failed.size} resource(s) not applied (${[...failed].join(", ")}); the rest is applied`);
    } else {
      this.stats.success.inc();
      this.log.info("config reload: done");
    }
  }

  /** Apply the listeners and clusters; the names of those that failed. */
  private async apply(bootstrap: Bootstrap, next: Record<string, unknown>): Promise<Set<string>> {
    const failed = new Set<string>();
    const nextStatic = asRecord(next["static_resources"]);
    const rawListeners = byName(nextStatic["listeners"]);
    const rawClusters = byName(nextStatic["clusters"]);
    // What runs now, as written: an entry written the same is no change (Envoy compares the
    // resource's hash). The managers' own hashes cannot tell on the first reload: the
    // listeners and clusters of the start were added from the parsed config.
    const runningStatic = asRecord(this.document["static_resources"]);
    const runningListeners = byName(runningStatic["listeners"]);
    const runningClusters = byName(runningStatic["clusters"]);
    const unchanged = (running: Map<string, unknown>, next: Map<string, unknown>, name: string) => running.has(name) && configHash(running.get(name)) === configHash(next.get(name));
    const clusterManager = this.server.clusterManager;
    const listenerManager = this.server.listenerManager;
    for (const config of bootstrap.clusters) {
      if (clusterManager.get(config.name) !== undefined && unchanged(runningClusters, rawClusters, config.name)) continue;
      try {
        const changed = await clusterManager.addOrUpdateCluster(config, { hash: configHash(rawClusters.get(config.name)) });
        if (changed) this.log.info(`config reload: cluster '${config.name}' added or replaced`);
      } catch (err) {
        failed.add(`cluster '${config.name}'`);
        this.log.error(`config reload: cluster '${config.name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Only what the file had: listeners and clusters from LDS and CDS are theirs to remove.
    const keep = new Set(bootstrap.listeners.map((l) => l.name));
    for (const listener of listenerManager.listeners()) if (!keep.has(listener.name) && runningListeners.has(listener.name)) listenerManager.removeListener(listener.name);
    for (const [i, config] of bootstrap.listeners.entries()) {
      if (listenerManager.get(config.name) !== undefined && unchanged(runningListeners, rawListeners, config.name)) continue;
      try {
        await listenerManager.addOrUpdateListener(config, { hash: configHash(rawListeners.get(config.name)), at: `static_resources.listeners[${i}]` });
      } catch (err) {
        failed.add(`listener '${config.name}'`);
        this.log.error(`config reload: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Clusters dropped go once the listeners drained now are gone: the old listeners'
    // routes may name them until their last connection ends (else those requests get 503 NC).
    const keepClusters = new Set(bootstrap.clusters.map((c) => c.name));
    for (const name of [...this.pendingRemovals.keys()]) if (keepClusters.has(name)) this.pendingRemovals.delete(name);
    const dropped = clusterManager.all().filter((c) => !keepClusters.has(c.name) && runningClusters.has(c.name)).map((c) => c.name);
    const token = ++this.applied;
    for (const name of dropped) this.pendingRemovals.set(name, token);
    // The listeners this reload removes or replaces are draining once the queued changes are done.
    await listenerManager.settled();
    if (dropped.length > 0) {
      void listenerManager.whenDrained().then(() => {
        for (const name of dropped) {
          if (this.pendingRemovals.get(name) !== token) continue;
          this.pendingRemovals.delete(name);
          if (clusterManager.removeCluster(name)) this.log.info(`config reload: cluster '${name}' removed`);
        }
      });
    }
    return failed;
  }

  /** Changes outside static_resources.listeners/clusters: logged as needing a restart, not applied. */
  private logRestartNeeded(next: Record<string, unknown>): void {
    const fields = new Set([...Object.keys(this.document), ...Object.keys(next)]);
    for (const field of [...fields].sort()) {
      if (field === "static_resources") continue;
      if (configHash(this.document[field]) !== configHash(next[field])) this.log.warn(`config reload: '${field}' changed: it takes a restart to apply (not applied)`);
    }
    const was = asRecord(this.document["static_resources"]);
    const now = asRecord(next["static_resources"]);
    for (const field of [...new Set([...Object.keys(was), ...Object.keys(now)])].sort()) {
      if (field === "listeners" || field === "clusters") continue;
      if (configHash(was[field]) !== configHash(now[field])) this.log.warn(`config reload: 'static_resources.${field}' changed: it takes a restart to apply (not applied)`);
    }
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function byName(list: unknown): Map<string, unknown> {
  return new Map(asList(list).map((r) => [String(asRecord(r)["name"]), r]));
}

/** The documents of the resources running: the new one where it applied, the old one where it failed. */
function pickByName(nextList: unknown, oldList: unknown, live: Set<string>, failed: Set<string>, _names: (l: unknown) => Set<string>): unknown[] {
  const old = byName(oldList);
  const out: unknown[] = [];
  for (const [name, doc] of byName(nextList)) {
    if (!live.has(name)) continue;
    const kept = failed.has(`listener '${name}'`) || failed.has(`cluster '${name}'`);
    out.push(kept ? (old.get(name) ?? doc) : doc);
  }
  for (const [name, doc] of old) if (live.has(name) && !out.some((d) => asRecord(d)["name"] === name)) out.push(doc);
  return out;
}
