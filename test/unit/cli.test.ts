import { describe, expect, test } from "vitest";
import { parseCommandLine, USAGE, UsageError } from "../../core/cli.ts";

/** The UsageError message `argv` is rejected with (fails the test if it parses). */
function usageError(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).message;
  }
  throw new Error(`parsed ${JSON.stringify(argv)} but should have been rejected`);
}

describe("parseCommandLine", () => {
  test("defaults: serve, info, no help, no version", () => {
    expect(parseCommandLine(["-c", "envoy.yaml"])).toEqual({
      configPath: "envoy.yaml",
      mode: "serve",
      logLevel: "info",
      help: false,
      version: false,
    });
  });

  test("-c, --config-path FILE and --config-path=FILE", () => {
    expect(parseCommandLine(["-c", "a.yaml"]).configPath).toBe("a.yaml");
    expect(parseCommandLine(["--config-path", "b.json"]).configPath).toBe("b.json");
    expect(parseCommandLine(["--config-path=c.yml"]).configPath).toBe("c.yml");
  });

  test("--config-path=FILE keeps any further '=' in the value", () => {
    expect(parseCommandLine(["--config-path=dir/a=b.yaml"]).configPath).toBe("dir/a=b.yaml");
  });

  test("--config-yaml YAML and --config-yaml=YAML", () => {
    const yaml = "static_resources: {}";
    const line = parseCommandLine(["--config-yaml", yaml]);
    expect(line.configYaml).toBe(yaml);
    expect(line.configPath).toBeUndefined();
    expect(parseCommandLine([`--config-yaml=${yaml}`]).configYaml).toBe(yaml);
  });

  test("a value that looks like a flag is taken as the value", () => {
    expect(parseCommandLine(["-c", "--weird-name.yaml"]).configPath).toBe("--weird-name.yaml");
  });

  test("--mode validate and serve", () => {
    expect(parseCommandLine(["-c", "x", "--mode", "validate"]).mode).toBe("validate");
    expect(parseCommandLine(["--mode=validate", "-c", "x"]).mode).toBe("validate");
    expect(parseCommandLine(["-c", "x", "--mode", "serve"]).mode).toBe("serve");
  });

  test("--mode rejects other modes", () => {
    expect(usageError(["-c", "x", "--mode", "init_only"])).toBe('--mode: "init_only" is not supported: polyvoy initializes its server only by starting to serve (use --mode validate)');
    expect(usageError(["-c", "x", "--mode", "bogus"])).toBe('--mode: unsupported mode "bogus" (supported: serve, validate)');
  });

  test("-l / --log-level accept every level", () => {
    expect(parseCommandLine(["-c", "x", "-l", "debug"]).logLevel).toBe("debug");
    expect(parseCommandLine(["-c", "x", "--log-level", "off"]).logLevel).toBe("off");
    expect(parseCommandLine(["-c", "x", "--log-level=trace"]).logLevel).toBe("trace");
    for (const level of ["trace", "debug", "info", "warn", "error", "critical", "off"]) {
      expect(parseCommandLine(["-c", "x", "-l", level]).logLevel).toBe(level);
    }
    // spdlog's name, the one Envoy's help lists first ("[warning|warn]").
    expect(parseCommandLine(["-c", "x", "-l", "warning"]).logLevel).toBe("warn");
    expect(parseCommandLine(["-c", "x", "--component-log-level", "upstream:warning"]).componentLogLevels).toEqual({ upstream: "warn" });
  });

  test("-l rejects an unknown level", () => {
    expect(usageError(["-c", "x", "-l", "verbose"])).toBe(
      '--log-level: unknown level "verbose" (one of trace, debug, info, warning|warn, error, critical, off)',
    );
    expect(usageError(["-c", "x", "-l", "INFO"])).toContain('unknown level "INFO"');
  });

  test("spdlog's short names are refused, as Envoy's parseAndValidateLogLevel refuses them (spdlog's full names and \"warn\" only)", () => {
    for (const short of ["err", "crit", "dbg", "trc", "E", "W"]) {
      expect(usageError(["-c", "x", "-l", short])).toContain(`unknown level "${short}"`);
      expect(usageError(["-c", "x", "--component-log-level", `upstream:${short}`])).toContain(`unknown level "${short}"`);
    }
  });

  test("--drain-time-s takes whole seconds (the admin's graceful drain)", () => {
    expect(parseCommandLine(["-c", "e.yaml"]).drainTimeS).toBeUndefined();
    expect(parseCommandLine(["-c", "e.yaml", "--drain-time-s", "30"]).drainTimeS).toBe(30);
    expect(parseCommandLine(["-c", "e.yaml", "--drain-time-s=0"]).drainTimeS).toBe(0);
    expect(usageError(["-c", "e.yaml", "--drain-time-s", "1.5"])).toBe('--drain-time-s: expected a whole number of seconds, got "1.5"');
    expect(usageError(["-c", "e.yaml", "--drain-time-s", "-1"])).toBe('--drain-time-s: expected a whole number of seconds, got "-1"');
    expect(USAGE).toContain("--drain-time-s");
  });

  test("--help and -h need no config", () => {
    expect(parseCommandLine(["--help"])).toMatchObject({ help: true, version: false });
    expect(parseCommandLine(["-h"]).help).toBe(true);
  });

  test("--version needs no config", () => {
    expect(parseCommandLine(["--version"])).toMatchObject({ help: false, version: true });
  });

  test("no config is an error", () => {
    const message = "no configuration: give -c/--config-path FILE or --config-yaml YAML";
    expect(usageError([])).toBe(message);
    expect(usageError(["--mode", "validate", "-l", "debug"])).toBe(message);
  });

  test("both config flags: the inline one is merged over the file's (Envoy's), both kept", () => {
    expect(parseCommandLine(["-c", "a.yaml", "--config-yaml", "{}"])).toMatchObject({ configPath: "a.yaml", configYaml: "{}" });
  });

  test("unknown options are rejected, quoted as given", () => {
    expect(usageError(["-c", "x", "--hot-restart-version"])).toBe('unknown option "--hot-restart-version"');
    expect(usageError(["-c", "x", "--no-such-flag=1"])).toBe('unknown option "--no-such-flag=1"');
    expect(usageError(["envoy.yaml"])).toBe('unknown option "envoy.yaml"');
    expect(usageError(["-c", "x", "-l=debug"])).toBe('unknown option "-l=debug"'); // '=' form is for long flags only
  });

  test("a flag missing its value", () => {
    expect(usageError(["-c"])).toBe("-c needs a value");
    expect(usageError(["--config-path"])).toBe("--config-path needs a value");
    expect(usageError(["--config-yaml"])).toBe("--config-yaml needs a value");
    expect(usageError(["-c", "x", "--mode"])).toBe("--mode needs a value");
    expect(usageError(["-c", "x", "-l"])).toBe("-l needs a value");
    expect(usageError(["-c", "x", "--log-level"])).toBe("--log-level needs a value");
  });

  test("the usage text lists every flag and level", () => {
    for (const flag of ["--config-path", "--config-yaml", "--mode", "--log-level", "--version", "--help"]) expect(USAGE).toContain(flag);
    expect(USAGE).toContain("trace, debug, info, warning|warn, error, critical, off");
  });

  test("the usage text is plain lines: escapes are shown as written, never as control characters", () => {
    expect(USAGE).toMatch(/^[^\x00-\x09\x0b-\x1f\x7f]*$/);
    expect(USAGE).toContain("--log-format-escaped escape control characters in log messages (\\n, \\t, \\x1b …)");
  });

  test("--concurrency: a whole number of workers from 0 to 256; 0 is one worker, as Envoy's", () => {
    expect(parseCommandLine(["-c", "x"]).concurrency).toBeUndefined();
    expect(parseCommandLine(["-c", "x", "--concurrency", "0"]).concurrency).toBe(1);
    expect(parseCommandLine(["-c", "x", "--concurrency", "1"]).concurrency).toBe(1);
    expect(parseCommandLine(["-c", "x", "--concurrency=4"]).concurrency).toBe(4);
    expect(parseCommandLine(["-c", "x", "--concurrency", "256"]).concurrency).toBe(256);
    for (const bad of ["-2", "2.5", "x", "", "257", "1e3"]) {
      expect(usageError(["-c", "x", "--concurrency", bad])).toBe(`--concurrency: expected a whole number of workers from 0 to 256, got "${bad}"`);
    }
  });

  test("--cpuset-threads: a switch", () => {
    expect(parseCommandLine(["-c", "x"]).cpusetThreads).toBeUndefined();
    expect(parseCommandLine(["-c", "x", "--cpuset-threads"]).cpusetThreads).toBe(true);
    expect(USAGE).toContain("--cpuset-threads");
  });

  test("--base-id 0 and --restart-epoch 0 (Envoy's defaults) are accepted", () => {
    expect(parseCommandLine(["-c", "x", "--base-id", "0", "--restart-epoch=0"])).toEqual(parseCommandLine(["-c", "x"]));
    expect(parseCommandLine(["-c", "x", "--restart-epoch", "00", "--base-id=0"])).toEqual(parseCommandLine(["-c", "x"]));
  });

  test("--base-id and --restart-epoch other than 0 are refused by name, without the usage", () => {
    for (const [argv, why] of [
      [["--base-id", "1"], "--base-id 1 is not supported: polyvoy has no hot restart (no shared memory region to name); only 0, the default, is accepted"],
      [["--restart-epoch=1"], "--restart-epoch 1 is not supported: polyvoy has no hot restart; only 0, the default, is accepted"],
      [["--restart-epoch", "x"], "--restart-epoch x is not supported: polyvoy has no hot restart; only 0, the default, is accepted"],
    ] as const) {
      expect(usageError(["-c", "x", ...argv])).toBe(why);
      try {
        parseCommandLine(["-c", "x", ...argv]);
      } catch (err) {
        expect((err as UsageError).usage).toBe(false);
      }
    }
    try {
      parseCommandLine(["-c", "x", "--bogus"]);
    } catch (err) {
      expect((err as UsageError).usage).toBe(true);
    }
  });

  test("--log-path FILE", () => {
    expect(parseCommandLine(["-c", "x", "--log-path", "/var/log/polyvoy.log"]).logPath).toBe("/var/log/polyvoy.log");
    expect(parseCommandLine(["-c", "x", "--log-path=l.log"]).logPath).toBe("l.log");
    expect(usageError(["-c", "x", "--log-path"])).toBe("--log-path needs a value");
  });

  test("--log-format is checked when parsed: an unsupported flag is named", () => {
    expect(parseCommandLine(["-c", "x", "--log-format", "%Y-%m-%d %T.%e %t [%l][%n] %v %%"]).logFormat).toBe("%Y-%m-%d %T.%e %t [%l][%n] %v %%");
    expect(parseCommandLine(["-c", "x", "--log-format", "[%g:%#] %v"]).logFormat).toBe("[%g:%#] %v");
    expect(usageError(["-c", "x", "--log-format", "[%P] %v"])).toBe(
      '--log-format: unsupported flag "%P" (supported: %Y %C %m %d %D %x %H %M %S %T %X %R %e %z %l %L %n %t %v %_ %j %+ %* %g %s %# %@ %! %%)',
    );
    // What no spdlog flag is prints as written (pattern_formatter's "Unknown flag appears as is").
    expect(parseCommandLine(["-c", "x", "--log-format", "%v 50% %Q %"]).logFormat).toBe("%v 50% %Q %");
  });

  test("--log-format-escaped and --disable-hot-restart take no value", () => {
    const line = parseCommandLine(["-c", "x", "--log-format-escaped", "--disable-hot-restart"]);
    expect(line).toMatchObject({ logFormatEscaped: true, disableHotRestart: true, configPath: "x" });
    expect(parseCommandLine(["-c", "x"]).logFormatEscaped).toBeUndefined();
    // `=value` on a switch would read "false" as set: refused by name.
    for (const flag of ["--log-format-escaped", "--disable-hot-restart", "--cpuset-threads", "--watch-config", "--help", "--version"]) {
      expect(usageError(["-c", "x", `${flag}=false`])).toBe(`${flag} takes no value, got "${flag}=false"`);
    }
  });

  test("--component-log-level COMPONENT:LEVEL,… (Envoy's component names), repeatable", () => {
    expect(parseCommandLine(["-c", "x", "--component-log-level", "upstream:debug,http:trace"]).componentLogLevels).toEqual({ upstream: "debug", http: "trace" });
    expect(parseCommandLine(["-c", "x", "--component-log-level", "main:debug", "--component-log-level=main:warn,pool:off"]).componentLogLevels).toEqual({
      main: "warn",
      pool: "off",
    });
    expect(usageError(["-c", "x", "--component-log-level", "nosuch:debug"])).toBe('--component-log-level: unknown component "nosuch"');
    expect(usageError(["-c", "x", "--component-log-level", "http:loud"])).toBe(
      '--component-log-level: unknown level "loud" for "http" (one of trace, debug, info, warning|warn, error, critical, off)',
    );
    expect(usageError(["-c", "x", "--component-log-level", "http"])).toBe('--component-log-level: expected COMPONENT:LEVEL[,COMPONENT:LEVEL...], got "http"');
  });

  test("--service-cluster, --service-node, --service-zone", () => {
    expect(parseCommandLine(["-c", "x", "--service-cluster", "front", "--service-node=n1", "--service-zone", "z-a"])).toMatchObject({
      serviceCluster: "front",
      serviceNode: "n1",
      serviceZone: "z-a",
    });
  });

  test("--drain-strategy: gradual (Envoy's default) or immediate", () => {
    expect(parseCommandLine(["-c", "x", "--drain-strategy", "immediate"]).drainStrategy).toBe("immediate");
    expect(parseCommandLine(["-c", "x", "--drain-strategy", "gradual"]).drainStrategy).toBe("gradual");
    expect(parseCommandLine(["-c", "x"]).drainStrategy).toBeUndefined();
    expect(usageError(["-c", "x", "--drain-strategy", "slow"])).toBe('--drain-strategy: unknown strategy "slow" (supported: gradual, immediate)');
  });

  test("--parent-shutdown-time-s takes whole seconds", () => {
    expect(parseCommandLine(["-c", "x", "--parent-shutdown-time-s", "60"]).parentShutdownTimeS).toBe(60);
    expect(usageError(["-c", "x", "--parent-shutdown-time-s", "1m"])).toBe('--parent-shutdown-time-s: expected a whole number of seconds, got "1m"');
  });

  test("the usage lists the Envoy flags polyvoy takes", () => {
    for (const flag of ["--log-path", "--log-format", "--log-format-escaped", "--component-log-level", "--service-cluster", "--service-node", "--service-zone", "--drain-strategy", "--parent-shutdown-time-s", "--disable-hot-restart"]) {
      expect(USAGE).toContain(flag);
    }
  });
});
