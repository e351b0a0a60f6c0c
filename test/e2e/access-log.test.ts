/**
 * Access logs as an operator reads them, on every runtime: exact lines for a success,
 * a 404, a 503 UF and a 504 UT, Envoy's default format, JSON, tcp_proxy, and a log file
 * that cannot be opened.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, readAll, tcpServer } from "../support/net-helpers.ts";
import { httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { lines } from "../support/log-lines.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const FORMAT =
  '%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% "%REQ(USER-AGENT)%" %UPSTREAM_CLUSTER% %ROUTE_NAME% %RESP(X-TEST):5%\n';


describe.each(RUNTIMES)("access logs on %s", (runtime) => {
  let upstream: HttpUpstream;
  let silent: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let dir: string;
  const agent = new Agent();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-logs-"));
    upstream = await httpUpstream((_req, res) => {
      res.setHeader("x-test", "abcdefgh");
      res.end("hello");
    });
    silent = await httpUpstream(() => {});
    port = await freePort();
    const deadPort = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port], dead: [deadPort], silent: [silent.port] },
        routes: [
          { name: "ok_route", match: { prefix: "/ok" }, cluster: "up" },
          { name: "dead_route", match: { prefix: "/dead" }, cluster: "dead" },
          { name: "slow_route", match: { prefix: "/slow" }, action: { route: { cluster: "silent", timeout: "0.3s" } } },
        ],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "custom.log"),
                log_format: { text_format_source: { inline_string: FORMAT } },
              },
            },
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "default.log"),
              },
            },
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "json.log"),
                log_format: { json_format: { code: "%RESPONSE_CODE%", flags: "%RESPONSE_FLAGS%", pathAndMethod: "%REQ(:METHOD)% %REQ(:PATH)%" } },
              },
            },
          ],
        },
      }),
    );
    for (const path of ["/ok", "/nowhere", "/dead", "/slow", "/ok"]) {
      const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers: { "user-agent": "tester/1" } });
      await res.body.text();
    }
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await Promise.all([upstream?.close(), silent?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("one line per request with Envoy's operators: success, 404 NR, 503 UF, 504 UT", async () => {
    expect(await lines(join(dir, "custom.log"), 5)).toEqual([
      'GET /ok HTTP/1.1 200 - 0 5 "tester/1" up ok_route abcde',
      'GET /nowhere HTTP/1.1 404 NR 0 0 "tester/1" - - -',
      'GET /dead HTTP/1.1 503 UF 0 98 "tester/1" dead dead_route -',
      'GET /slow HTTP/1.1 504 UT 0 24 "tester/1" silent slow_route -',
      'GET /ok HTTP/1.1 200 - 0 5 "tester/1" up ok_route abcde',
    ]);
  });

  test("the default format is Envoy's", async () => {
    const [first] = await lines(join(dir, "default.log"), 5);
    expect(first).toMatch(
      new RegExp(
        `^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /ok HTTP/1\\.1" 200 - 0 5 \\d+ \\d+ "-" "tester/1" "[0-9a-f-]{36}" "127\\.0\\.0\\.1:${port}" "127\\.0\\.0\\.1:${upstream.port}"$`,
      ),
    );
  });

  test("json_format keeps its keys and types", async () => {
    const [first, second] = (await lines(join(dir, "json.log"), 2)).map((line) => JSON.parse(line));
    expect(first).toEqual({ code: 200, flags: "-", pathAndMethod: "GET /ok" });
    expect(second).toEqual({ code: 404, flags: "NR", pathAndMethod: "GET /nowhere" });
  });
});

describe.each(RUNTIMES)("tcp_proxy access log and bad log paths on %s", (runtime) => {
  test("a tcp_proxy connection is logged when it closes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-logs-"));
    const upstream = await tcpServer((s) => s.end("pong"));
    const port = await freePort();
    const config = tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port], accessLog: { path: join(dir, "tcp.log"), format: "%BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_CLUSTER% %UPSTREAM_HOST% %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\n" } });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const client = await connect(port);
      const reply = readAll(client);
      client.end("ping!");
      expect((await reply).toString()).toBe("pong");
      expect(await lines(join(dir, "tcp.log"), 1)).toEqual([`5 4 upstream 127.0.0.1:${upstream.port} 0 127.0.0.1`]);
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a log file that cannot be opened is a startup error: exit 1, nothing listens", async () => {
    const port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [1] },
      routes: [{ match: { prefix: "/" }, cluster: "up" }],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/nonexistent-dir/access.log" },
          },
        ],
      },
    });
    const result = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/access_log: cannot open access log file \/nonexistent-dir\/access\.log/);
    expect(result.stderr).not.toContain("listening on");
  });
});
