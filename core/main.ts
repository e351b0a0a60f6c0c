import { parseCommandLine, USAGE, UsageError, type CommandLine } from "./cli.ts";
import { formatFromPath, type ConfigFormat, type ValidConfig } from "./config/config-source.ts";
import { readsOnce } from "./config/reads-once.ts";
import { utf8ByteString } from "./access-log/byte-string.ts";
import { DEFAULT_LOG_FORMAT, EXCLUSIVE_LOG_FORMAT, Logger, type ComponentLogger, type LogComponent } from "./log.ts";
import { latin1Encode } from "./util/latin1.ts";
import type { AppendFile, CheckedConfigStore, LogSink, Runtime } from "./port.ts";
import { Server } from "./server.ts";
import { ConfigReloader } from "./config-reloader.ts";
import { VERSION } from "./version.ts";
import { hasUnresolvedUserFilters, resolveUserFilters } from "./http/user-filter/resolve-user-filters.ts";
import { readFailure, validateConfig } from "./config/validate-config.ts";
import { checkedConfigEntry, checkedConfigName, notKeptBecause, readCheckedConfig } from "./config/checked-config-cache.ts";
import { loadRegexEngine, regexEngineLoaded } from "./config/regex-engine.ts";
import { resolveConcurrency, sharedSocketRefusal } from "./concurrency.ts";
import { DEFAULT_STATS_FLUSH_INTERVAL_MS } from "./stats/stats-flusher.ts";
import { runtimeRefusals } from "./runtime-refusals.ts";
import { adminAbstractRefusal } from "./network/abstract-pipe.ts";
import type { Bootstrap } from "./config/bootstrap.ts";

/** What a runtime's command entry adds to the program. */
export interface MainOptions {
  /** Configs this build checked before (checked-config-cache.ts): a start with one of them skips the check. */
  checkedConfigs?: CheckedConfigStore;
}

/**
 * The program every runtime's `main.ts` runs: parse the command line, load and
 * validate the config, start the server, and stop cleanly on SIGTERM/SIGINT (SIGTERM
 * drains first when --drain-time-s is given). As Envoy's server: SIGUSR1 reopens the
 * access log files (logrotate's signal). SIGHUP reloads the config file
 * (core/config-reloader.ts), as does a change of it with --watch-config.
 * A config that fails exits 1 with one line per problem and starts nothing.
 */
export async function runMain(runtime: Runtime, argv: readonly string[], options: MainOptions = {}): Promise<void> {
  let commandLine: CommandLine;
  try {
    commandLine = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    runtime.log.write(`polyvoy: ${err.message}\n${err.usage ? USAGE : ""}`);
    return runtime.exit(1);
  }
  // --help and --version answer on stdout, as Envoy's (TCLAP's) do: `polyvoy --version | …`
  // works; a bad command line's usage goes to stderr, as there.
  if (commandLine.help) {
    await writeStdout(runtime, USAGE);
    return runtime.exit(0);
  }
  if (commandLine.version) {
    await writeStdout(runtime, `polyvoy ${VERSION} (${runtime.name} ${runtime.version})\n`);
    return runtime.exit(0);
  }
  // --log-path: the log goes to the file; what is written before it opens, and a file that
  // cannot be opened, go to stderr. Exits wait for the file's queued lines.
  let logFile: LogPathFile | undefined;
  if (commandLine.logPath !== undefined && commandLine.mode !== "validate") {
    try {
      logFile = new LogPathFile(await runtime.openAppendFile(commandLine.logPath), runtime);
    } catch (err) {
      runtime.log.write(`polyvoy: --log-path: cannot open '${commandLine.logPath}': ${(err as { code?: string }).code ?? String(err)}\n`);
      return runtime.exit(1);
    }
  }
  const exit = async (code: number): Promise<never> => {
    await logFile?.flush();
    return runtime.exit(code);
  };
  const log = new Logger({ log: logFile ?? runtime.log, wallClock: () => runtime.wallClock() });
  // --log-level sets every component, --component-log-level overrides some (as Envoy's).
  log.level = commandLine.logLevel;
  for (const [name, level] of Object.entries(commandLine.componentLogLevels ?? {})) log.setComponentLevel(name as LogComponent, level);
  log.setFormat(commandLine.logFormat ?? DEFAULT_LOG_FORMAT, commandLine.logFormatEscaped === true);

  const loaded = await readConfig(runtime, commandLine, log.component("config"), options.checkedConfigs);
  if (!loaded) return exit(1);
  const { bootstrap, document } = loaded.config;
  // application_log_config: the bootstrap's --log-format (validate mode checks it too, as
  // Envoy's validation server: Server::Utility::assertExclusiveLogFormatMethod).
  if (bootstrap.applicationLogFormat !== undefined) {
    if (commandLine.logFormat !== undefined) {
      runtime.log.write(`config error: application_log_config.log_format: ${EXCLUSIVE_LOG_FORMAT}\n`);
      return exit(1);
    }
    log.setFormat(bootstrap.applicationLogFormat, commandLine.logFormatEscaped === true);
  }
  // User filters: their modules load and check their own configs (validate mode too).
  const filterProblems = hasUnresolvedUserFilters(bootstrap) ? await resolveUserFilters(bootstrap, runtime) : [];
  if (filterProblems.length > 0) {
    for (const problem of filterProblems) runtime.log.write(`config error: ${problem}\n`);
    return exit(1);
  }
  // --service-node, --service-cluster and --service-zone win over the config's node, as in
  // Envoy (local_info_impl.h, buildLocalNode: node.id, node.cluster, node.locality.zone; an
  // empty value changes nothing there): zone-aware routing and the node a control plane is
  // sent read it from here. Before validate, which checks the TCP statsd sink's need of them.
  const { serviceNode: id, serviceCluster: cluster, serviceZone: zone } = commandLine;
  if (id || cluster || zone) {
    bootstrap.node = {
      ...bootstrap.node,
      ...(id ? { id } : {}),
      ...(cluster ? { cluster } : {}),
      ...(zone ? { locality: { ...bootstrap.node?.locality, zone } } : {}),
    };
  }
  if (commandLine.mode === "validate") {
    // What this runtime cannot do, serving refuses when a listener or cluster starts: validate says so too.
    // Also what the workers a start would run refuse (the count it would choose, said quietly).
    const concurrency = resolveConcurrency(commandLine, runtime, () => {});
    const runtimeProblems = [...runtimeRefusals(bootstrap, runtime), ...(concurrency > 1 && runtime.workers ? supervisorRefusals(bootstrap, runtime) : [])];
    if (runtimeProblems.length > 0) {
      for (const problem of runtimeProblems) runtime.log.write(`config error: ${problem}\n`);
      return exit(1);
    }
    // On stdout, as Envoy's main_common.cc (std::cout << "configuration '…' OK").
    await writeStdout(runtime, `configuration '${commandLine.configPath ?? "--config-yaml"}' OK\n`);
    return runtime.exit(0);
  }
  // --concurrency N (unset: one per hardware thread, as Envoy): the supervisor of N workers
  // (docs/architecture.md, Workers), or one of them, or with 1 the single process. The count
  // chosen goes into the command line the admin shows (/server_info, server.concurrency).
  const concurrency = resolveConcurrency(commandLine, runtime, (message) => log.warn(message));
  commandLine = { ...commandLine, concurrency };
  const workers = concurrency > 1 ? runtime.workers : undefined;
  if (concurrency > 1 && !workers) {
    log.error(`--concurrency ${concurrency}: polyvoy on ${runtime.name} cannot run worker processes (use --concurrency 1)`);
    return exit(1);
  }
  if (workers && workers.worker === undefined) {
    // Said once, before any worker starts (each would refuse it: ActiveListener.start).
    const refusals = supervisorRefusals(bootstrap, runtime);
    if (refusals.length > 0) {
      for (const refusal of refusals) log.error(refusal);
      return exit(1);
    }
    // Kept before the workers start, so that each of them takes it as checked.
    loaded.keepChecked?.();
    // The supervisor's own --log-path file, reopened as each worker reopens its own.
    if (logFile) runtime.onSignal("SIGUSR1", () => void logFile.reopen());
    log.info(`polyvoy ${VERSION} starting ${concurrency} workers on ${runtime.name} ${runtime.version}`);
    const admin = bootstrap.admin?.address;
    return exit(
      await workers.supervise({
        count: concurrency,
        argv,
        admin: admin && { address: admin.address, port: admin.port, ...(admin.pipe && { pipe: admin.pipe }) },
        statsConfig: bootstrap.statsConfig,
        log,
        // One flush of all workers' stats through one worker's sinks (runtimes/kit/workers/sink-flush.ts).
        ...(bootstrap.statsSinks !== undefined &&
          bootstrap.statsSinks.length > 0 && { statsSinks: { intervalMs: bootstrap.statsFlushOnAdmin === true ? undefined : (bootstrap.statsFlushIntervalMs ?? DEFAULT_STATS_FLUSH_INTERVAL_MS) } }),
        // SIGHUP: each worker reloads its own config; SIGUSR1: each reopens its access logs.
        forwardSignals: ["SIGHUP", "SIGUSR1"],
        // A FIFO or a pipe (`-c <(…)`) gave its text to this read: the workers start from it.
        ...((await readsOnce(runtime, commandLine.configPath)) && { startConfig: loaded.text }),
      }),
    );
  }
  if (workers?.worker !== undefined && (bootstrap.admin || (bootstrap.statsSinks?.length ?? 0) > 0)) {
    // The supervisor serves the configured admin address; this worker's admin is its own, on
    // loopback. With stats_sinks and no admin configured, the worker has one all the same,
    // answering only the supervisor's stats flush (its snapshot, the merged flush: sink-flush.ts).
    bootstrap.admin = { ...(bootstrap.admin ?? { supervisorOnly: true }), address: { address: "127.0.0.1", port: 0 } };
  }

  log.info(`polyvoy ${VERSION} starting on ${runtime.name} ${runtime.version}${workers?.worker ? ` (worker ${workers.worker.index} of ${concurrency})` : ""}`);
  const server = new Server(runtime, bootstrap, log, { commandLine, configDocument: document });
  // SIGTERM, SIGINT and the admin's /quitquitquit all end here: Server.stop() shuts
  // down once and then calls this. Signals are handled from before the first listener
  // binds, so a SIGTERM that races startup still ends in a clean exit 0.
  const reloader = new ConfigReloader(runtime, server, commandLine, log, document, loaded.handedOver);
  server.onStopped = () => {
    reloader.close();
    void exit(0);
  };
  // Envoy's SIGTERM shuts down at once; with --drain-time-s given, polyvoy drains first.
  runtime.onSignal("SIGTERM", () => (commandLine.drainTimeS !== undefined ? server.drainAndStop("caught SIGTERM") : server.stop("caught SIGTERM")));
  runtime.onSignal("SIGINT", () => server.stop("caught SIGINT"));
  runtime.onSignal("SIGUSR1", () => {
    log.info("caught SIGUSR1. Reopening access logs.");
    void server.reopenAccessLogs();
    void logFile?.reopen();
  });
  // Before start() ends, a SIGHUP waits: the reload runs once the first config serves.
  let started = false;
  let reloadAsked = false;
  runtime.onSignal("SIGHUP", () => {
    if (started) void reloader.reload("caught SIGHUP");
    else reloadAsked = true;
  });
  try {
    await server.start();
  } catch (err) {
    log.error(err instanceof Error ? err.message : String(err));
    return exit(1);
  }
  started = true;
  // Once it serves: the next start with this text skips the check (checked-config-cache.ts).
  loaded.keepChecked?.();
  if (commandLine.watchConfig) void reloader.watchFile();
  if (reloadAsked) void reloader.reload("caught SIGHUP");
  if (workers?.worker !== undefined) await workers.announceStarted(server.admin?.listener.boundAddress);
}

/** `text` on the process's stdout (port.ts, openAppendFile), written before this resolves; stderr if stdout cannot be had. */
async function writeStdout(runtime: Runtime, text: string): Promise<void> {
  try {
    const stdout = await runtime.openAppendFile("/dev/stdout");
    await stdout.write(latin1Encode(utf8ByteString(text)));
    await stdout.close();
  } catch {
    runtime.log.write(text);
  }
}

/**
 * The --log-path file: log lines appended to it, a failed write reported once on stderr.
 * Envoy opens it through its access log manager, so the SIGUSR1 that reopens the access
 * logs reopens it too (docs, "Command line options": "This file will be re-opened when
 * SIGUSR1 is handled"): after logrotate moves it away, lines go to a new file at the path.
 */
class LogPathFile implements LogSink {
  private failed = false;
  private reopening: Promise<void> | undefined;
  /** The file replaced by the last reopen, closing once its queued lines are written. */
  private closingOld: Promise<void> | undefined;

  constructor(
    private file: AppendFile,
    private readonly runtime: Pick<Runtime, "openAppendFile" | "log">,
  ) {}

  write(line: string): void {
    this.file.write(latin1Encode(utf8ByteString(line))).catch(this.onError);
  }

  /** Every line written so far on disk (or failed), the replaced file's too. */
  async flush(): Promise<void> {
    await this.reopening;
    await this.closingOld;
    await this.file.flush();
  }

  /** Open the path again; on failure the file opened before stays in use (as an access log's reopen). */
  reopen(): Promise<void> {
    return (this.reopening ??= this.runtime.openAppendFile(this.file.path).then(
      (next) => {
        this.reopening = undefined;
        const old = this.file;
        this.file = next;
        this.failed = false;
        this.closingOld = old.close();
      },
      (err: unknown) => {
        this.reopening = undefined;
        this.runtime.log.write(`polyvoy: --log-path ${this.file.path}: cannot reopen, still writing to the file opened before: ${(err as { code?: string }).code ?? String(err)}\n`);
      },
    ));
  }

  private readonly onError = (err: unknown): void => {
    if (this.failed) return;
    this.failed = true;
    this.runtime.log.write(`polyvoy: --log-path ${this.file.path}: write failed, log lines lost: ${(err as { code?: string }).code ?? String(err)}\n`);
  };
}

/** A config read and valid, its text, and how to keep it as checked (absent when it came from the store or is not kept). */
interface ReadConfig {
  config: ValidConfig;
  text: string;
  handedOver: boolean;
  keepChecked?: () => void;
}

/** Read and validate the config (its text with it); on failure print one line per problem and return undefined. */
async function readConfig(runtime: Runtime, commandLine: CommandLine, log: ComponentLogger, store: CheckedConfigStore | undefined): Promise<ReadConfig | undefined> {
  let text: string;
  let handed: string | undefined;
  let format: ConfigFormat = "yaml";
  if (commandLine.configPath !== undefined) {
    try {
      // A worker whose supervisor read a FIFO or a pipe starts from the text the supervisor
      // read (the pipe is empty now, a FIFO would wait for another writer).
      handed = runtime.workers?.worker !== undefined ? await runtime.workers.startConfig?.() : undefined;
      text = handed ?? (await runtime.readTextFile(commandLine.configPath));
    } catch (err) {
      runtime.log.write(`config error: cannot read '${commandLine.configPath}': ${readFailure(err)}\n`);
      return undefined;
    }
    format = formatFromPath(commandLine.configPath);
  } else {
    text = commandLine.configYaml!; // YAML is a superset of JSON, as Envoy's --config-yaml accepts both
  }
  // --config-yaml beside -c: merged over the file's document (config/merge-override.ts).
  const overrideYaml = commandLine.configPath !== undefined ? commandLine.configYaml : undefined;
  const source = commandLine.configPath !== undefined ? `'${commandLine.configPath}'${overrideYaml !== undefined ? " with --config-yaml" : ""}` : "--config-yaml";
  const handedOver = handed !== undefined;
  // --mode validate runs the check itself, always; a merged config is not kept (the store knows one text).
  if (overrideYaml !== undefined) store = undefined;
  const checked = store && commandLine.mode !== "validate" ? readCheckedConfig(store, format, text) : undefined;
  if (checked) {
    // The check loaded the RE2 engine for the config's regexes; the route table compiles them with it.
    if (checked.regexEngine) await loadRegexEngine();
    if (log.debugOn) log.debug(`${source} (${format}, ${text.length} characters) was checked before by this build: valid (${store!.location})`);
    return { config: checked.config, text, handedOver };
  }
  if (log.debugOn) log.debug(`validating ${source} (${format}, ${text.length} characters)`);
  const loaded = await validateConfig(text, format, overrideYaml, runtime);
  if ("bootstrap" in loaded) {
    if (log.debugOn) log.debug(`${source} is valid: ${loaded.bootstrap.listeners.length} listener(s), ${loaded.bootstrap.clusters.length} cluster(s)`);
    // Encoded now, before anything else holds (and may change) the config; written once it serves.
    const notKept = commandLine.mode === "validate" ? "--mode validate" : notKeptBecause(text, loaded);
    const entry = store && notKept === undefined ? checkedConfigEntry(format, text, loaded, regexEngineLoaded()) : undefined;
    if (store && entry === undefined && log.debugOn) log.debug(`${source}: not kept as checked (${notKept ?? "it holds values that are not plain data"})`);
    const keepChecked = entry === undefined ? undefined : (): void => {
      try {
        store!.write(checkedConfigName(format, text), entry);
      } catch (err) {
        if (log.debugOn) log.debug(`${source}: not kept as checked: ${(err as { code?: string }).code ?? String(err)}`);
      }
    };
    return { config: loaded, text, handedOver, ...(keepChecked && { keepChecked }) };
  }
  for (const problem of loaded.problems) runtime.log.write(`config error: ${problem}\n`);
  return undefined;
}

/**
 * What a supervisor of worker processes refuses before any worker starts: listeners with
 * enable_reuse_port: false where workers cannot share one socket, an admin on an
 * abstract socket the runtime cannot bind (the supervisor binds the admin itself,
 * runtimes/kit/workers/admin-front.ts, so no worker's ActiveListener.start would say it).
 */
function supervisorRefusals(bootstrap: Bootstrap, runtime: Runtime): string[] {
  const problems: string[] = [];
  const shared = sharedSocketRefusal(runtime);
  if (shared !== undefined) {
    for (const listener of bootstrap.listeners) if (listener.reusePort === false) problems.push(`listener '${listener.name}': ${shared}`);
  }
  const admin = bootstrap.admin && adminAbstractRefusal(runtime, bootstrap.admin.address);
  if (admin) problems.push(admin);
  return problems;
}
