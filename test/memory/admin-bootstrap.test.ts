/**
 * Bootstrap fields around the admin, on the memory runtime through runMain: admin
 * access logs (access_log_path in Envoy's default format, access_log as configured),
 * profile_path (accepted, said to be unused), node metadata and locality in /server_info,
 * and stats_flush_interval as the period of the histograms' interval statistics.
 */
import { describe, expect, test } from "vitest";
import { runMain } from "../../core/main.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";
// The admin's /stats?filter= answers at once with the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../core/config/regex-engine-static.ts";

const CONFIG_PATH = "/etc/polyvoy/envoy.json";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

async function start(bootstrap: object, args: string[] = []): Promise<MemoryRuntime> {
  const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(bootstrap) }, directories: ["/var/log"] });
  await runMain(runtime, ["-c", CONFIG_PATH, ...args]);
  await runtime.settle();
  expect(runtime.exitCode).toBeUndefined();
  return runtime;
}

async function get(runtime: MemoryRuntime, path: string): Promise<{ status: number; body: string }> {
  const client = new MemoryHttpClient(runtime, 9901);
  client.request("GET", path, { headers: { "user-agent": "test" } });
  await runtime.settle();
  const response = client.responses[0]!;
  return { status: response.status, body: response.text() };
}

const adminAt = { socket_address: { address: "127.0.0.1", port_value: 9901 } };

describe("admin and node bootstrap fields", () => {
  test("admin.access_log_path logs admin requests in Envoy's default format, then admin.access_log as configured", async () => {
    const runtime = await start({
      admin: {
        address: adminAt,
        access_log_path: "/var/log/admin.log",
        access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: "/var/log/admin-short.log", log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE%\n" } } } }],
      },
    });
    expect((await get(runtime, "/ready")).status).toBe(200);
    await runtime.settle(1000); // Envoy's file_flush_interval
    expect(runtime.files.get("/var/log/admin.log")).toMatch(/^\[2026-01-01T00:00:00\.\d{3}Z\] "GET \/ready HTTP\/1\.1" 200 - 0 5 \d+ - "-" "test" "-" "example\.com" "-"\n$/);
    expect(runtime.files.get("/var/log/admin-short.log")).toBe("/ready 200\n");
  });

  test("admin.access_log with envoy.access_loggers.stdout and stderr logs admin requests there (Envoy's dynamic-config-fs example has one)", async () => {
    const runtime = await start({
      admin: {
        address: adminAt,
        access_log: [
          { name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format_source: { inline_string: "out %REQ(:PATH)% %RESPONSE_CODE%\n" } } } },
          { name: "envoy.access_loggers.stderr", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog", log_format: { text_format_source: { inline_string: "err %REQ(:PATH)% %RESPONSE_CODE%\n" } } } },
        ],
      },
    });
    expect((await get(runtime, "/ready")).status).toBe(200);
    expect((await get(runtime, "/nothing-here")).status).toBe(404);
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("out /ready 200\nout /nothing-here 404\n");
    expect(runtime.stderrText).toContain("err /ready 200\nerr /nothing-here 404\n");
  });

  test("an admin access log that cannot be opened is a startup error naming admin.access_log", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify({ admin: { address: adminAt, access_log_path: "/nowhere/admin.log" } }) } });
    await runMain(runtime, ["-c", CONFIG_PATH]);
    expect(runtime.exitCode).toBe(1);
    expect(runtime.logText).toContain("admin.access_log: ");
    expect(runtime.logText).toContain("/nowhere/admin.log");
  });

  test("admin.profile_path is accepted and said to be unused", async () => {
    const runtime = await start({ admin: { address: adminAt, profile_path: "/tmp/envoy.prof" } });
    expect(runtime.logText).toContain("[info] admin.profile_path '/tmp/envoy.prof' is accepted, but polyvoy has no CPU profiler: nothing is written there");
  });

  test("node id, cluster, metadata and locality show in /server_info", async () => {
    const runtime = await start({
      node: { id: "edge-1", cluster: "edge", metadata: { team: "web", "shard-id": 3, tags: ["a", "b"] }, locality: { region: "eu", zone: "eu-1a", subZone: "rack-7" } },
      admin: { address: adminAt },
    });
    const node = JSON.parse((await get(runtime, "/server_info")).body).node;
    expect(node).toMatchObject({
      id: "edge-1",
      cluster: "edge",
      // Struct keys are the user's own, not field names: "shard-id" stays as written.
      metadata: { team: "web", "shard-id": 3, tags: ["a", "b"] },
      locality: { region: "eu", zone: "eu-1a", sub_zone: "rack-7" },
    });
  });

  test("/server_info's log levels read as Envoy's: -l through spdlog's names (warn → warning), --component-log-level as given", async () => {
    for (const [flag, shown] of [["warn", "warning"], ["warning", "warning"], ["error", "error"], ["critical", "critical"]]) {
      const runtime = await start({ admin: { address: adminAt } }, ["-l", flag!, "--component-log-level", "upstream:warn,http:warning"]);
      const options = JSON.parse((await get(runtime, "/server_info")).body).command_line_options;
      expect(options.log_level).toBe(shown);
      expect(options.component_log_level).toBe("upstream:warn,http:warning");
    }
  });

  test("stats_flush_interval sets how often the histograms' interval statistics are taken", async () => {
    const intervalP0 = async (runtime: MemoryRuntime): Promise<string> => {
      const stats = (await get(runtime, "/stats?filter=^http\\.admin\\.downstream_rq_time$")).body;
      return /P0\(([^,]+),/.exec(stats)?.[1] ?? "none";
    };
    for (const [flush, expected] of [["1s", "not nan"], [undefined, "nan"]] as const) {
      const runtime = await start({ admin: { address: adminAt }, ...(flush ? { stats_flush_interval: flush } : {}) });
      await get(runtime, "/ready"); // one sample in downstream_rq_time
      await runtime.settle(1500);
      const p0 = await intervalP0(runtime);
      expect(p0 === "nan" ? "nan" : "not nan", `stats_flush_interval ${flush ?? "default (5s)"}: P0 interval ${p0}`).toBe(expected);
    }
  });

  test("stats_flush_interval out of Envoy's range is refused", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify({ stats_flush_interval: "301s" }) } });
    await runMain(runtime, ["-c", CONFIG_PATH]);
    expect(runtime.logLines).toEqual(["config error: stats_flush_interval: must be at least 1ms and less than 300s"]);
  });
});
