/**
 * A cluster's max_connection_duration and a route's max_stream_duration against the real
 * proxy on every runtime — also on a route a Lua filter reroutes to (a header change clears
 * the route cache): the new route's max_stream_duration and idle_timeout apply (Envoy's
 * refreshDurationTimeout / refreshIdleTimeout).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(RUNTIMES)("durations on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    // /hang… never answers.
    echo = await httpUpstream((req, res) => {
      if (!req.url?.startsWith("/hang")) res.end(req.url);
    });
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [
        { match: { prefix: "/hang-idle" }, cluster: "echo", action: { route: { cluster: "echo", idle_timeout: "0.5s" } } },
        { match: { prefix: "/hang" }, cluster: "echo", action: { route: { cluster: "echo", max_stream_duration: { max_stream_duration: "0.5s" } } } },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
      hcm: {
        common_http_protocol_options: { max_stream_duration: "30s" },
        // x-reroute replaces the path: Lua clears the route cache on a header change.
        http_filters: [
          {
            name: "envoy.filters.http.lua",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
              default_source_code: { inline_string: 'function envoy_on_request(h) local to = h:headers():get("x-reroute") if to then h:headers():replace(":path", to) end end' },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
      clusterExtra: { common_http_protocol_options: { max_connection_duration: "1s" } },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("route max_stream_duration replaces the HCM's: 504 downstream duration timeout after 0.5 s", async () => {
    const started = Date.now();
    const reply = await rawExchange(port, "GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(reply.text).toMatch(/\r\n\r\ndownstream duration timeout$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  test("a route a filter reroutes to: its max_stream_duration (504 after 0.5 s) and its idle_timeout (504 stream timeout after 0.5 s), not the HCM's 30 s", async () => {
    const started = Date.now();
    const [duration, idle] = await Promise.all([
      rawExchange(port, "GET /wait HTTP/1.1\r\nHost: x\r\nX-Reroute: /hang\r\nConnection: close\r\n\r\n", 5000),
      rawExchange(port, "GET /wait HTTP/1.1\r\nHost: x\r\nX-Reroute: /hang-idle\r\nConnection: close\r\n\r\n", 5000),
    ]);
    expect(duration.text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n[^]*\r\n\r\ndownstream duration timeout$/);
    expect(idle.text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n[^]*\r\n\r\nstream timeout$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  test("cluster max_connection_duration: an upstream connection older than 1 s is closed and the next request opens another", async () => {
    const first = await rawExchange(port, "GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000);
    expect(first.text).toMatch(/^HTTP\/1\.1 200/);
    const before = echo.requests.length;
    await sleep(1500);
    const second = await rawExchange(port, "GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000);
    expect(second.text).toMatch(/^HTTP\/1\.1 200/);
    const [one, two] = echo.requests.slice(before - 1);
    expect(one!.url).toBe("/one");
    expect(two!.url).toBe("/two");
    expect(two!.connection).not.toBe(one!.connection);
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=max_duration_reached`)).body.text();
    expect(stats).toMatch(/^cluster\.echo\.upstream_cx_max_duration_reached: [1-9]/m);
  });
});
