/**
 * Bootstrap application_log_config on every runtime: the application log's lines in the
 * bootstrap's json_format (a users' config, CelsoSantos/envoy-jwt-claim-extraction, sets
 * one), and Envoy's error when --log-format is given too.
 */
import { describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, runToExit, startNodeFrom, writeConfig } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const JSON_LOG = { log_format: { json_format: { level: "%l", logger: "%n", message: "%j", time: "%Y-%m-%dT%T.%e" } } };

describe.each(RUNTIMES)("application_log_config on %s", (runtime) => {
  test("json_format: every application log line is that JSON object, keys sorted, the message escaped", async () => {
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, { ...httpProxyConfig({ listenPort: port, clusters: {}, routes: [] }), application_log_config: JSON_LOG });
    try {
      const lines = proxy.stderr.split("\n").filter((line) => line !== "");
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        expect(line).toMatch(/^\{"level":"[a-z]+","logger":"[a-z_]+","message":".*","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"\}$/);
        expect(() => JSON.parse(line)).not.toThrow();
      }
      expect(lines.map((line) => JSON.parse(line) as { message: string }).some((entry) => entry.message.includes("listening on"))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  test("with --log-format as well: Envoy's error, exit 1", async () => {
    const config = writeConfig({ static_resources: {}, application_log_config: JSON_LOG });
    const exited = await runToExit(runtime, ["-c", config, "--log-format", "%v"]);
    expect(exited.code).toBe(1);
    expect(exited.stderr).toContain("config error: application_log_config.log_format: Only one of ApplicationLogConfig.log_format or CLI option --log-format can be specified.");
  });
});
