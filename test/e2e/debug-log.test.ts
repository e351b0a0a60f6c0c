/**
 * Envoy's debug lines (`-l debug`, `--component-log-level`): the `[C12][S3] ` connection and
 * stream prefixes of ENVOY_CONN_LOG / ENVOY_STREAM_LOG, the component as %n, and the lines
 * an operator reads when a request fails — a route miss answered 404 and a failed upstream
 * connect answered 503, each with "Sending local reply with details …".
 */
import { describe, expect, test } from "vitest";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";

/** A listener with one route, /up, to a cluster whose only endpoint refuses connections. */
async function refusedUpstreamConfig(): Promise<{ port: number; config: object }> {
  const [port, closed] = [await freePort(), await freePort()];
  return { port, config: httpProxyConfig({ listenPort: port, clusters: { dead: [closed] }, routes: [{ match: { prefix: "/up" }, cluster: "dead" }] }) };
}

const FORMAT = ["--log-format", "[%l][%n] %v"];

describe.each(RUNTIMES)("debug and trace logs on %s", (runtime) => {
  test("-l debug --component-log-level http:trace: a route miss and a failed upstream connect, with [C][S] ids and components", async () => {
    const { port, config } = await refusedUpstreamConfig();
    const proxy = await ProxyProcess.start(runtime, config, 1, ["-l", "debug", "--component-log-level", "http:trace", ...FORMAT]);
    try {
      expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/up`)).status).toBe(503);
      await proxy.waitForLog(/Sending local reply with details upstream_reset_before_response_started/g);
      const log = proxy.stderr;
      expect(log).toMatch(/\[debug\]\[config\] loading 1 listener\(s\)/);
      // http at trace: the HTTP/1 codec's bytes; the other components stay at debug.
      expect(log).toMatch(/\[trace\]\[http\] \[C\d+\] parsing \d+ bytes/);
      expect(log).not.toMatch(/\[trace\]\[(router|pool|config)\]/);
      expect(log).toMatch(/\[debug\]\[router\] \[C\d+\]\[S\d+\] no route match for URL '\/nowhere'/);
      expect(log).toMatch(/\[debug\]\[http\] \[C\d+\]\[S\d+\] Sending local reply with details route_not_found/);
      expect(log).toMatch(/\[debug\]\[pool\] \[C\d+\] creating a new connection to 127\.0\.0\.1:\d+/);
      expect(log).toMatch(/\[debug\]\[pool\] \[C\d+\] client disconnected before it connected, failure reason: delayed connect error: Connection refused/);
      expect(log).toMatch(/\[debug\]\[router\] \[C\d+\]\[S\d+\] upstream reset: reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused/);
      expect(log).toMatch(/\[debug\]\[http\] \[C\d+\]\[S\d+\] Sending local reply with details upstream_reset_before_response_started\{remote_connection_failure\|delayed_connect_error:_Connection_refused\}/);
      // The route miss's lines name the same downstream connection and stream.
      const miss = /\[router\] (\[C\d+\]\[S\d+\]) no route match/.exec(log)![1]!;
      expect(log).toContain(`[http] ${miss} Sending local reply with details route_not_found`);
    } finally {
      await proxy.stop();
    }
  });

  test("--component-log-level router:debug: the router's lines only", async () => {
    const { port, config } = await refusedUpstreamConfig();
    const proxy = await ProxyProcess.start(runtime, config, 1, ["--component-log-level", "router:debug", ...FORMAT]);
    try {
      expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/up`)).status).toBe(503);
      await proxy.waitForLog(/upstream reset: reset reason: remote connection failure/g);
      const log = proxy.stderr;
      expect(log).toMatch(/\[debug\]\[router\] \[C\d+\]\[S\d+\] no route match for URL '\/nowhere'/);
      // Components left at the default level (info) write no debug line.
      expect(log).not.toMatch(/\[debug\]\[(http|pool|config|main)\]/);
    } finally {
      await proxy.stop();
    }
  });
});
