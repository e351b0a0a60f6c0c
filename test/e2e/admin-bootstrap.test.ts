/**
 * Bootstrap fields around the admin, on every runtime (the details are in
 * test/memory/admin-bootstrap.test.ts): admin.access_log_path writes each admin request
 * to its file in Envoy's default format, as does the typed admin.access_log list (with its
 * own format and filters), admin.profile_path is accepted with an info line, and node
 * metadata and locality show in /server_info. An admin on :: with ipv4_compat: true (as
 * users' bootstraps set it) answers IPv4 and IPv6 clients alike.
 */
import { describe, expect, inject, test } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("admin bootstrap fields on %s", (runtime) => {
  test("access_log_path logs admin requests; profile_path is said to be unused; node metadata and locality in /server_info", async () => {
    const port = await freePort();
    const logPath = join(mkdtempSync(join(inject("tempRoot"), "admin-log-")), "admin.log");
    const proxy = await ProxyProcess.start(runtime, {
      node: { id: "edge-1", metadata: { team: "web" }, locality: { region: "eu", zone: "eu-1a" } },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: port } }, access_log_path: logPath, profile_path: "/tmp/envoy.prof" },
    });
    try {
      const response = await request(`http://127.0.0.1:${port}/server_info`, { headers: { "user-agent": "e2e" } });
      const node = ((await response.body.json()) as { node: object }).node;
      expect(node).toMatchObject({ id: "edge-1", metadata: { team: "web" }, locality: { region: "eu", zone: "eu-1a" } });
      expect(proxy.stderr).toContain("admin.profile_path '/tmp/envoy.prof' is accepted, but polyvoy has no CPU profiler");
      // Envoy's file_flush_interval (1 s) passes before the line is written.
      const deadline = Date.now() + 5000;
      let log = "";
      while (!log.includes("\n") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        log = readFileSync(logPath, "utf8");
      }
      expect(log).toMatch(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] "GET \/server_info HTTP\/1\.1" 200 - 0 \d+ \d+ - "-" "e2e" "-" "127\.0\.0\.1:\d+" "-"\n$/);
    } finally {
      await proxy.stop();
    }
  });
});

describe.each(RUNTIMES)("typed admin.access_log on %s", (runtime) => {
  test("each admin request logged by the access_log list's file logger, in its format and through its filter", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(inject("tempRoot"), "admin-typed-log-"));
    const file = (name: string, extra: object) => ({
      name: "envoy.access_loggers.file",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: join(dir, name), ...extra },
    });
    const proxy = await ProxyProcess.start(runtime, {
      admin: {
        address: { socket_address: { address: "127.0.0.1", port_value: port } },
        access_log: [
          file("all.log", { log_format: { text_format_source: { inline_string: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %REQ(USER-AGENT)%\n" } } }),
          // Only the failed ones.
          { ...file("errors.log", { log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE%\n" } } }), filter: { status_code_filter: { comparison: { op: "GE", value: { default_value: 400, runtime_key: "admin.log.min" } } } } },
        ],
      },
    });
    try {
      expect((await request(`http://127.0.0.1:${port}/ready`, { headers: { "user-agent": "e2e-typed" } })).statusCode).toBe(200);
      expect((await request(`http://127.0.0.1:${port}/no-such-page`, { headers: { "user-agent": "e2e-typed" } })).statusCode).toBe(404);
      const read = (name: string) => {
        try {
          return readFileSync(join(dir, name), "utf8");
        } catch {
          return "";
        }
      };
      await expect.poll(() => read("all.log"), { timeout: 5000 }).toBe("GET /ready 200 e2e-typed\nGET /no-such-page 404 e2e-typed\n");
      await expect.poll(() => read("errors.log"), { timeout: 5000 }).toBe("/no-such-page 404\n");
    } finally {
      await proxy.stop();
    }
  });
});

describe.each(RUNTIMES)("admin on :: with ipv4_compat on %s", (runtime) => {
  test("ipv4_compat: true is accepted on the admin's address, which answers IPv4 and IPv6 clients", async () => {
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "::", port_value: port, ipv4_compat: true } } },
    });
    try {
      expect((await request(`http://127.0.0.1:${port}/ready`)).statusCode).toBe(200);
      expect((await request(`http://[::1]:${port}/ready`)).statusCode).toBe(200);
    } finally {
      await proxy.stop();
    }
  });
});
