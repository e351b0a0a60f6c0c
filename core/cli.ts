import { compileLogFormat, LOG_COMPONENTS, LOG_FORMAT_FLAGS, LOG_LEVELS, parseLogLevel, type LogLevel } from "./log.ts";

/** The command line, with Envoy's flag names so Envoy users' scripts carry over. */
export interface CommandLine {
  configPath?: string;
  configYaml?: string;
  /**
   * serve, or validate (check and exit). Envoy's init_only (initialize the server, then exit
   * before its event loop runs) is refused: polyvoy's initialization is its start — it waits
   * for xDS, DNS and first health checks and binds — so it would serve while it checked.
   */
  mode: "serve" | "validate";
  logLevel: LogLevel;
  /** --drain-time-s: how long /drain_listeners?graceful, a removed or replaced listener, and (when given) SIGTERM drain (Envoy's default 600). */
  drainTimeS?: number;
  /** --log-path: the application log goes to this file (appended) instead of stderr. */
  logPath?: string;
  /** --log-format: the application log line's shape (log.ts, LOG_FORMAT_FLAGS). */
  logFormat?: string;
  /** --log-format-escaped: C-style escapes for control characters in messages (%v). */
  logFormatEscaped?: boolean;
  /** --component-log-level: per-component levels, `upstream:debug,http:trace`. */
  componentLogLevels?: Record<string, LogLevel>;
  /** --component-log-level as written (repeated flags joined by ","): /server_info shows it so, as Envoy's. */
  componentLogLevelText?: string;
  /** --service-cluster, --service-node, --service-zone: the bootstrap's node.cluster, node.id and node.locality.zone (they win over the config's, as in Envoy). */
  serviceCluster?: string;
  serviceNode?: string;
  serviceZone?: string;
  /** --drain-strategy: "gradual" (Envoy's default: the share of connections told to close grows over the drain time) or "immediate". */
  drainStrategy?: "gradual" | "immediate";
  /** --parent-shutdown-time-s: accepted for Envoy's scripts; with no hot restart there is no parent to shut down. */
  parentShutdownTimeS?: number;
  /** --disable-hot-restart: accepted; polyvoy has no hot restart. */
  disableHotRestart?: boolean;
  /**
   * --concurrency: how many worker processes share the listeners (Envoy's worker threads);
   * 0 is 1, as Envoy's. Unset: one per hardware thread, Envoy's default (core/concurrency.ts);
   * runMain puts the count it chose here.
   */
  concurrency?: number;
  /** --cpuset-threads: unset --concurrency counts the CPUs this process may run on (its affinity), not the machine's. */
  cpusetThreads?: boolean;
  /** --watch-config: reload the config file when it changes (as on SIGHUP; core/config-reloader.ts). */
  watchConfig?: boolean;
  help: boolean;
  version: boolean;
}

/** The levels -l takes, as Envoy's help lists them ("[warning|warn]"). */
const LEVELS_USAGE = LOG_LEVELS.map((level) => (level === "warn" ? "warning|warn" : level)).join(", ");

export const USAGE = `Usage: polyvoy [options]
  -c, --config-path FILE   Envoy v3 bootstrap config (.yaml, .yml or .json)
      --config-yaml YAML   bootstrap config given inline as YAML (or JSON); with -c, merged
                           over the file's (as Envoy's: messages merged, lists appended)
      --mode MODE          serve (default); validate: check the config and exit 0/1
  -l, --log-level LEVEL    ${LEVELS_USAGE} (default info)
      --drain-time-s SECONDS  graceful drain period of the admin's /drain_listeners?graceful and of
                           listeners removed or changed by a reload (default 600); when given,
                           SIGTERM drains (up to that long) before exiting
      --drain-strategy gradual|immediate  how connections drain: gradual (default) tells a share
                           growing to all over the drain time to close, immediate all at once
      --log-path FILE      append the log to FILE instead of stderr
      --log-format FORMAT  log line format (default "[%Y-%m-%d %T.%e][%l] %v"; flags ${LOG_FORMAT_FLAGS.map((f) => `%${f}`).join(" ")})
      --log-format-escaped escape control characters in log messages (\\n, \\t, \\x1b …)
      --component-log-level COMPONENT:LEVEL,...  a level per component (e.g. upstream:debug,http:trace)
      --service-cluster NAME, --service-node ID, --service-zone ZONE
                           the node's cluster, id and zone (over the config's node)
      --concurrency N      N worker processes sharing every listener, one admin for all
                           (default: one per hardware thread, as Envoy; 0 or 1: one process)
      --cpuset-threads     without --concurrency, one worker per CPU this process may run
                           on (its affinity mask) instead of per hardware thread
      --parent-shutdown-time-s SECONDS, --disable-hot-restart, --base-id 0, --restart-epoch 0
                           accepted for Envoy's command lines (no hot restart here)
      --watch-config       reload the config file when it changes, as SIGHUP does
      --version            print the version and exit
  -h, --help               print this help and exit
From the package's \`polyvoy\` command also:
  polyvoy compare -c FILE [options]  this config under each runtime, side by side
                           (polyvoy compare --help)
`;

/** Thrown for a bad command line; the message is one line for stderr, followed by the usage unless `usage` is false. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: boolean = true,
  ) {
    super(message);
  }
}

/**
 * Envoy flags refused by name but for their default, with why: one line, no usage
 * (main.ts). Both are uint32s Envoy uses for hot restart only (options_impl.cc; its
 * HotRestartNopImpl ignores them): 0, the default, asks for nothing hot restart does.
 */
const REFUSED: Record<string, string> = {
  "--base-id": "polyvoy has no hot restart (no shared memory region to name); only 0, the default, is accepted",
  "--restart-epoch": "polyvoy has no hot restart; only 0, the default, is accepted",
};

/** Each worker is a process with its own heap: more than this is a typo, not a machine. */
export const MAX_CONCURRENCY = 256;

function wholeSeconds(flag: string, text: string): number {
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(seconds)) throw new UsageError(`${flag}: expected a whole number of seconds, got "${text}"`);
  return seconds;
}

function parseComponentLevels(text: string): Record<string, LogLevel> {
  const levels: Record<string, LogLevel> = {};
  for (const item of text.split(",")) {
    const colon = item.indexOf(":");
    const [component, level] = colon < 0 ? [item, ""] : [item.slice(0, colon), item.slice(colon + 1)];
    if (colon < 0 || component === "") throw new UsageError(`--component-log-level: expected COMPONENT:LEVEL[,COMPONENT:LEVEL...], got "${item}"`);
    if (!(LOG_COMPONENTS as readonly string[]).includes(component)) throw new UsageError(`--component-log-level: unknown component "${component}"`);
    const parsed = parseLogLevel(level);
    if (parsed === undefined) throw new UsageError(`--component-log-level: unknown level "${level}" for "${component}" (one of ${LEVELS_USAGE})`);
    levels[component] = parsed;
  }
  return levels;
}

export function parseCommandLine(argv: readonly string[]): CommandLine {
  const line: CommandLine = { mode: "serve", logLevel: "info", help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    // A switch given `=value` (`--log-format-escaped=false`) would be read as set: refused.
    const noValue = (): true => {
      if (eq > 0) throw new UsageError(`${flag} takes no value, got "${arg}"`);
      return true;
    };
    switch (flag) {
      case "-c":
      case "--config-path":
        line.configPath = value();
        break;
      case "--config-yaml":
        line.configYaml = value();
        break;
      case "--mode": {
        const mode = value();
        if (mode === "init_only") throw new UsageError('--mode: "init_only" is not supported: polyvoy initializes its server only by starting to serve (use --mode validate)');
        if (mode !== "serve" && mode !== "validate") throw new UsageError(`--mode: unsupported mode "${mode}" (supported: serve, validate)`);
        line.mode = mode;
        break;
      }
      case "-l":
      case "--log-level": {
        const level = value();
        const parsed = parseLogLevel(level);
        if (parsed === undefined) throw new UsageError(`--log-level: unknown level "${level}" (one of ${LEVELS_USAGE})`);
        line.logLevel = parsed;
        break;
      }
      case "--drain-time-s":
        line.drainTimeS = wholeSeconds(flag, value());
        break;
      case "--parent-shutdown-time-s":
        line.parentShutdownTimeS = wholeSeconds(flag, value());
        break;
      case "--drain-strategy": {
        const strategy = value();
        if (strategy !== "immediate" && strategy !== "gradual") throw new UsageError(`--drain-strategy: unknown strategy "${strategy}" (supported: gradual, immediate)`);
        line.drainStrategy = strategy;
        break;
      }
      case "--log-path":
        line.logPath = value();
        break;
      case "--log-format": {
        const format = value();
        try {
          compileLogFormat(format);
        } catch (err) {
          throw new UsageError(`--log-format: ${(err as Error).message}`);
        }
        line.logFormat = format;
        break;
      }
      case "--log-format-escaped":
        line.logFormatEscaped = noValue();
        break;
      case "--component-log-level": {
        const text = value();
        line.componentLogLevels = { ...line.componentLogLevels, ...parseComponentLevels(text) };
        line.componentLogLevelText = line.componentLogLevelText === undefined ? text : `${line.componentLogLevelText},${text}`;
        break;
      }
      case "--service-cluster":
        line.serviceCluster = value();
        break;
      case "--service-node":
        line.serviceNode = value();
        break;
      case "--service-zone":
        line.serviceZone = value();
        break;
      case "--disable-hot-restart":
        line.disableHotRestart = noValue();
        break;
      case "--concurrency": {
        const text = value();
        const count = Number(text);
        // 0 is one worker: Envoy runs at least one (options_impl.cc, std::max(1U, concurrency)).
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(count) || count > MAX_CONCURRENCY) {
          throw new UsageError(`--concurrency: expected a whole number of workers from 0 to ${MAX_CONCURRENCY}, got "${text}"`);
        }
        line.concurrency = Math.max(1, count);
        break;
      }
      case "--cpuset-threads":
        line.cpusetThreads = noValue();
        break;
      case "--watch-config":
        line.watchConfig = noValue();
        break;
      case "--base-id":
      case "--restart-epoch": {
        // Envoy reads them as uint32 (TCLAP): "0", "00" are its default.
        const text = value();
        if (!/^\d+$/.test(text) || Number(text) !== 0) throw new UsageError(`${flag} ${text} is not supported: ${REFUSED[flag]}`, false);
        break;
      }
      case "-h":
      case "--help":
        line.help = noValue();
        break;
      case "--version":
        line.version = noValue();
        break;
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  if (!line.help && !line.version && line.configPath === undefined && line.configYaml === undefined) {
    throw new UsageError("no configuration: give -c/--config-path FILE or --config-yaml YAML");
  }
  return line;
}
