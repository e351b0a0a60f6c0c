/**
 * Access log filters against the real proxy on every runtime: only the streams a log's
 * `filter` admits are written — on the HTTP connection manager (status_code_filter,
 * or_filter of header_filter and response_flag_filter, and_filter with duration_filter
 * and not_health_check_filter, runtime_filter at 100%) and on tcp_proxy
 * (response_flag_filter UF).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

const FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function fileLog(path: string, filter: unknown, format = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"): object {
  return { name: "envoy.access_loggers.file", filter, typed_config: { "@type": FILE_TYPE, path, log_format: { text_format: format } } };
}

const comparison = (op: string, value: number) => ({ op, value: { default_value: value, runtime_key: "unused.key" } });

/** A file's lines, after the proxy has flushed (it does so at least every second). */
async function linesAfterFlush(path: string, atLeast: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    if ((lines.length >= atLeast && Date.now() > deadline - 3500) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get(port: number, target: string, headers = ""): Promise<number> {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`, 2000);
  return parseResponses(text)[0]?.status ?? 0;
}

describe.each(RUNTIMES)("access log filters on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let dir: string;
  const ports = { http: 0, tcp: 0, closed: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-log-filters-"));
    echo = await httpUpstream((req, res) => {
      res.statusCode = req.url.startsWith("/fail") ? 500 : 200;
      res.end("ok");
    });
    ports.http = await freePort();
    ports.tcp = await freePort();
    // Nothing listens here: the tcp_proxy's connect fails (UF).
    ports.closed = await freePort();
    const config = httpProxyConfig({
      listenPort: ports.http,
      clusters: { echo: [echo.port], closed: [ports.closed] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      domains: ["x"],
      hcm: {
        access_log: [
          fileLog(join(dir, "errors.log"), { status_code_filter: { comparison: comparison("GE", 400) } }),
          fileLog(join(dir, "debug-or-noroute.log"), {
            or_filter: { filters: [{ header_filter: { header: { name: "x-debug", present_match: true } } }, { response_flag_filter: { flags: ["NR"] } }] },
          }),
          fileLog(join(dir, "all.log"), {
            and_filter: {
              filters: [
                { duration_filter: { comparison: comparison("GE", 0) } },
                { not_health_check_filter: {} },
                { runtime_filter: { runtime_key: "unused.key", percent_sampled: { numerator: 100 } } },
              ],
            },
          }),
        ],
      },
    }) as { static_resources: { listeners: object[] } };
    config.static_resources.listeners.push({
      name: "tcp",
      address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix: "tcp",
                cluster: "closed",
                access_log: [fileLog(join(dir, "tcp.log"), { response_flag_filter: { flags: ["UF"] } }, "%UPSTREAM_CLUSTER% %RESPONSE_FLAGS%\n")],
              },
            },
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("HTTP: each log gets only the streams its filter admits", async () => {
    expect(await get(ports.http, "/ok")).toBe(200);
    expect(await get(ports.http, "/fail")).toBe(500);
    expect(await get(ports.http, "/debug", "X-Debug: 1\r\n")).toBe(200);
    expect(await get(ports.http, "/ok", "Host: other\r\n")).toBe(400); // two Host fields: refused before routing
    const all = await linesAfterFlush(join(dir, "all.log"), 4);
    expect(all.length).toBe(4);
    // The refused request never became one: no path to log (Envoy prints "-").
    expect(await linesAfterFlush(join(dir, "errors.log"), 2)).toEqual(["/fail 500 -", "- 400 DPE"]);
    expect(await linesAfterFlush(join(dir, "debug-or-noroute.log"), 1)).toEqual(["/debug 200 -"]);
  });

  test("HTTP: a request without a route (NR) passes the or_filter", async () => {
    const { text } = await rawExchange(ports.http, "GET /nowhere HTTP/1.1\r\nHost: unknown.host\r\nConnection: close\r\n\r\n", 2000);
    expect(parseResponses(text)[0]?.status).toBe(404);
    const lines = await linesAfterFlush(join(dir, "debug-or-noroute.log"), 2);
    expect(lines.at(-1)).toBe("/nowhere 404 NR");
  });

  test("tcp_proxy: response_flag_filter logs the failed connection", async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port: ports.tcp, host: "127.0.0.1" });
      socket.on("close", () => resolve());
      socket.on("error", () => undefined);
    });
    expect(await linesAfterFlush(join(dir, "tcp.log"), 1)).toEqual(["closed UF,URX"]);
  });
});
