import { LOG_LEVELS, type LogLevel } from "./log.ts";

/** The command line, with Envoy's flag names so Envoy users' scripts carry over. */
export interface CommandLine {
  configPath?: string;
  configYaml?: string;
  mode: "serve" | "validate";
  logLevel: LogLevel;
  /** --drain-time-s: how long /drain_listeners?graceful drains before listeners stop (Envoy's default 600). */
  drainTimeS?: number;
  help: boolean;
  version: boolean;
}

export const USAGE = `Usage: polyvoy [options]
  -c, --config-path FILE   Envoy v3 bootstrap config (.yaml, .yml or .json)
      --config-yaml YAML   bootstrap config given inline as YAML (or JSON)
      --mode MODE          serve (default) or validate: check the config and exit 0/1
  -l, --log-level LEVEL    ${LOG_LEVELS.join(", ")} (default info)
      --drain-time-s SECONDS  graceful drain period of the admin's /drain_listeners?graceful (default 600)
      --version            print the version and exit
  -h, --help               print this help and exit
`;

/** Thrown for a bad command line; the message is one line for stderr. */
export class UsageError extends Error {}

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
        if (mode !== "serve" && mode !== "validate") throw new UsageError(`--mode: unsupported mode "${mode}" (supported: serve, validate)`);
        line.mode = mode;
        break;
      }
      case "-l":
      case "--log-level": {
        const level = value();
        if (!(LOG_LEVELS as readonly string[]).includes(level)) {
          throw new UsageError(`--log-level: unknown level "${level}" (one of ${LOG_LEVELS.join(", ")})`);
        }
        line.logLevel = level as LogLevel;
        break;
      }
      case "--drain-time-s": {
        const text = value();
        const seconds = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(seconds)) throw new UsageError(`--drain-time-s: expected a whole number of seconds, got "${text}"`);
        line.drainTimeS = seconds;
        break;
      }
      case "-h":
      case "--help":
        line.help = true;
        break;
      case "--version":
        line.version = true;
        break;
      default:
        throw new UsageError(`unknown option "${arg}"`);
    }
  }
  if (!line.help && !line.version && line.configPath === undefined && line.configYaml === undefined) {
    throw new UsageError("no configuration: give -c/--config-path FILE or --config-yaml YAML");
  }
  if (line.configPath !== undefined && line.configYaml !== undefined) {
    throw new UsageError("give either --config-path or --config-yaml, not both (merging them is not supported)");
  }
  return line;
}
