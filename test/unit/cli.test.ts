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
    expect(usageError(["-c", "x", "--mode", "init_only"])).toBe('--mode: unsupported mode "init_only" (supported: serve, validate)');
  });

  test("-l / --log-level accept every level", () => {
    expect(parseCommandLine(["-c", "x", "-l", "debug"]).logLevel).toBe("debug");
    expect(parseCommandLine(["-c", "x", "--log-level", "off"]).logLevel).toBe("off");
    expect(parseCommandLine(["-c", "x", "--log-level=trace"]).logLevel).toBe("trace");
    for (const level of ["trace", "debug", "info", "warn", "error", "critical", "off"]) {
      expect(parseCommandLine(["-c", "x", "-l", level]).logLevel).toBe(level);
    }
  });

  test("-l rejects an unknown level", () => {
    expect(usageError(["-c", "x", "-l", "verbose"])).toBe(
      '--log-level: unknown level "verbose" (one of trace, debug, info, warn, error, critical, off)',
    );
    expect(usageError(["-c", "x", "-l", "INFO"])).toContain('unknown level "INFO"');
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

  test("both config flags is an error", () => {
    expect(usageError(["-c", "a.yaml", "--config-yaml", "{}"])).toBe(
      "give either --config-path or --config-yaml, not both (merging them is not supported)",
    );
  });

  test("unknown options are rejected, quoted as given", () => {
    expect(usageError(["-c", "x", "--concurrency", "2"])).toBe('unknown option "--concurrency"');
    expect(usageError(["-c", "x", "--base-id=1"])).toBe('unknown option "--base-id=1"');
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
    expect(USAGE).toContain("trace, debug, info, warn, error, critical, off");
  });
});
