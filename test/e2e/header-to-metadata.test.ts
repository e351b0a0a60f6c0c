/**
 * The header_to_metadata HTTP filter on every runtime: request and response rules write the
 * stream's dynamic metadata, which an access log shows (%DYNAMIC_METADATA(…)%); a removed
 * header does not reach the upstream; a route's Config replaces the filter's.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config";
const NS = "envoy.filters.http.header_to_metadata";

describe.each(RUNTIMES)("header_to_metadata on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let logPath: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => {
      res.setHeader("x-upstream-version", "v7");
      res.end(`version=${req.headers["x-version"] ?? "-"}`);
    });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-h2m-")), "access.log");
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [
        {
          match: { prefix: "/route" },
          action: {
            route: { cluster: "echo" },
            typed_per_filter_config: {
              "envoy.filters.http.header_to_metadata": { "@type": TYPE, request_rules: [{ header: "x-version", on_header_present: { key: "route_version" } }] },
            },
          },
        },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: logPath,
              log_format: { text_format_source: { inline_string: `%REQ(:PATH)% %DYNAMIC_METADATA(${NS})% %DYNAMIC_METADATA(custom.ns)%\n` } },
            },
          },
        ],
        http_filters: [
          {
            name: "envoy.filters.http.header_to_metadata",
            typed_config: {
              "@type": TYPE,
              request_rules: [
                { header: "x-version", on_header_present: { key: "version" }, on_header_missing: { key: "version", value: "none" }, remove: true },
                { header: "x-count", on_header_present: { metadata_namespace: "custom.ns", key: "count", type: "NUMBER" } },
                { header: "x-b64", on_header_present: { key: "decoded", encode: "BASE64" } },
                { cookie: "session", on_header_present: { key: "session", regex_value_rewrite: { pattern: { regex: "^s-(.*)$" }, substitution: "\\1" } } },
                // Pseudo-headers are read as Envoy's header map holds them (and never removed).
                { header: ":path", on_header_present: { key: "path" }, remove: true },
              ],
              response_rules: [
                { header: "x-upstream-version", on_header_present: { key: "upstream_version" } },
                { header: ":status", on_header_present: { key: "status" } },
              ],
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
  });

  async function logLines(last: string): Promise<Map<string, string>> {
    let log = "";
    for (let i = 0; i < 50 && !log.includes(last + " "); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(logPath, "utf8").catch(() => "");
    }
    return new Map(log.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]));
  }

  test("request and response rules write dynamic metadata; remove keeps the header from the upstream; a route's Config replaces the filter's", async () => {
    const full = await request(`${base}/full`, { headers: { "x-version": "v2", "x-count": " 42 ", "x-b64": "aGVsbG8", cookie: "a=1; session=s-abc" } });
    expect(await full.body.text()).toBe("version=-");
    const missing = await request(`${base}/missing`, { headers: { "x-count": "not-a-number", "x-b64": "!!" } });
    expect(await missing.body.text()).toBe("version=-");
    // "hi\r\nx-forged: 1" in base64: a decoded control character is not written (it would forge access log lines).
    const control = await request(`${base}/control`, { headers: { "x-b64": "aGkNCngtZm9yZ2VkOiAx" } });
    expect(control.statusCode).toBe(200);
    await control.body.text();
    const routed = await request(`${base}/route`, { headers: { "x-version": "v3" } });
    // The route's rule does not remove the header.
    expect(await routed.body.text()).toBe("version=v3");
    const lines = await logLines("/route");
    const [fullMeta, fullCustom] = lines.get("/full")!.split(" ");
    expect(JSON.parse(fullMeta!)).toEqual({ version: "v2", decoded: "hello", session: "abc", path: "/full", upstream_version: "v7", status: "200" });
    expect(JSON.parse(fullCustom!)).toEqual({ count: 42 });
    // Missing: on_header_missing's value; a value that is no number or no base64 writes nothing.
    // Keys sorted, as Envoy prints a Struct (json_utility.cc structValueToJson).
    expect(lines.get("/missing")).toBe(`${JSON.stringify({ path: "/missing", status: "200", upstream_version: "v7", version: "none" })} -`);
    expect(lines.get("/control")).toBe(`${JSON.stringify({ path: "/control", status: "200", upstream_version: "v7", version: "none" })} -`);
    expect([...lines.keys()]).not.toContain("x-forged:");
    expect(lines.get("/route")).toBe(`${JSON.stringify({ route_version: "v3" })} -`);
  });
});
