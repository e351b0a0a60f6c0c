/**
 * Envoy's debug lines (`-l debug`, `--component-log-level`): the `[C12][S3] ` connection and
 * stream prefixes of ENVOY_CONN_LOG / ENVOY_STREAM_LOG, the component as %n, and the lines
 * an operator reads when a request fails — a route miss answered 404 and a failed upstream
 * connect answered 503, each with "Sending local reply with details …".
 */
import { describe, expect, test } from "vitest";
import { connect, freePort, readAll, tcpServer } from "../support/net-helpers.ts";
import { httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { rawExchange } from "../support/raw-http.ts";
import { httpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** A listener with routes /up and /retry (one retry on connect-failure) to a cluster whose only endpoint refuses connections. */
async function refusedUpstreamConfig(): Promise<{ port: number; config: object }> {
  const [port, closed] = [await freePort(), await freePort()];
  const retry = { route: { cluster: "dead", retry_policy: { retry_on: "connect-failure", num_retries: 1 } } };
  return {
    port,
    config: httpProxyConfig({
      listenPort: port,
      clusters: { dead: [closed] },
      routes: [
        { match: { prefix: "/up" }, cluster: "dead" },
        { match: { prefix: "/retry" }, cluster: "dead", action: retry },
      ],
    }),
  };
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
      // A request the codec cannot parse: the http component's dispatch error, on its connection.
      const garbage = await rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n");
      expect(garbage.text).toMatch(/^HTTP\/1\.1 400 /);
      await proxy.waitForLog(/\[debug\]\[http\] \[C\d+\] dispatch error: /g);
      expect(proxy.stderr).toMatch(/\[debug\]\[conn_handler\] \[C\d+\] new connection from 127\.0\.0\.1:\d+ on 'http'/);
      // The route miss's lines name the same downstream connection and stream.
      const miss = /\[router\] (\[C\d+\]\[S\d+\]) no route match/.exec(log)![1]!;
      expect(log).toContain(`[http] ${miss} Sending local reply with details route_not_found`);
    } finally {
      await proxy.stop();
    }
  });

  test("http:trace and router:debug: the upstream HTTP/1 codec's bytes on the pool's connection, a route timeout's line", async () => {
    const upstream = await httpUpstream((req, res) => {
      if (req.url !== "/slow") res.end("ok");
      // /slow: no answer; the route's 300 ms timeout ends it (the upstream is closed after).
    });
    const port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { live: [upstream.port] },
      routes: [
        { match: { prefix: "/slow" }, cluster: "live", action: { route: { cluster: "live", timeout: "0.3s" } } },
        { match: { prefix: "/" }, cluster: "live" },
      ],
    });
    const proxy = await ProxyProcess.start(runtime, config, 1, ["--component-log-level", "http:trace,router:debug,pool:debug", ...FORMAT]);
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe("ok");
      expect((await fetch(`http://127.0.0.1:${port}/slow`)).status).toBe(504);
      await proxy.waitForLog(/upstream timeout/g);
      const log = proxy.stderr;
      const pooled = new RegExp(`\\[pool\\] (\\[C\\d+\\]) creating a new connection to 127\\.0\\.0\\.1:${upstream.port}`).exec(log)?.[1];
      expect(pooled).toBeDefined();
      // The response's bytes, parsed by the client codec, on the upstream connection's id.
      expect(log).toContain(`[trace][http] ${pooled} parsing `);
      const timedOut = /\[debug\]\[router\] (\[C\d+\]\[S\d+\]) upstream timeout\n/.exec(log)?.[1];
      expect(timedOut).toBeDefined();
      expect(log).toContain(`[http] ${timedOut} Sending local reply with details upstream_response_timeout`);
    } finally {
      await proxy.stop();
      await upstream.close();
    }
  });

  test("--component-log-level filter:debug: tcp_proxy's lines, as Envoy's filter component, with the connection's id", async () => {
    const upstream = await tcpServer((socket) => socket.end("hi"));
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port] }), 1, ["--component-log-level", "filter:debug", ...FORMAT]);
    try {
      const client = await connect(port);
      expect((await readAll(client)).toString()).toBe("hi");
      client.destroy();
      await proxy.waitForLog(/tcp_proxy tcp: upstream connected/g);
      const log = proxy.stderr;
      const id = new RegExp(`\\[debug\\]\\[filter\\] (\\[C\\d+\\]) tcp_proxy tcp: connecting to 127\\.0\\.0\\.1:${upstream.port} \\(cluster `).exec(log)?.[1];
      expect(id).toBeDefined();
      expect(log).toContain(`[debug][filter] ${id} tcp_proxy tcp: upstream connected`);
      expect(log).not.toMatch(/\[debug\]\[main\]/);
    } finally {
      await proxy.stop();
      await upstream.close();
    }
  });

  test("--component-log-level conn_handler:debug: a connection no filter chain takes is closed with Envoy's line", async () => {
    const port = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: {}, routes: [] }) as {
      static_resources: { listeners: { filter_chains: Record<string, unknown>[] }[] };
    };
    // The only chain wants another destination port: no connection here matches it.
    config.static_resources.listeners[0]!.filter_chains[0]!["filter_chain_match"] = { destination_port: 1 };
    const proxy = await ProxyProcess.start(runtime, config, 1, ["--component-log-level", "conn_handler:debug", ...FORMAT]);
    try {
      const client = await connect(port);
      await readAll(client);
      await proxy.waitForLog(/\[debug\]\[conn_handler\] closing connection from 127\.0\.0\.1:\d+: no matching filter chain found\n/g);
    } finally {
      await proxy.stop();
    }
  });

  test("--component-log-level router:debug: the router's lines only, a retry's among them", async () => {
    const { port, config } = await refusedUpstreamConfig();
    const proxy = await ProxyProcess.start(runtime, config, 1, ["--component-log-level", "router:debug", ...FORMAT]);
    try {
      expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/up`)).status).toBe(503);
      expect((await fetch(`http://127.0.0.1:${port}/retry`)).status).toBe(503);
      await proxy.waitForLog(/performing retry/g);
      const log = proxy.stderr;
      expect(log).toMatch(/\[debug\]\[router\] \[C\d+\]\[S\d+\] no route match for URL '\/nowhere'/);
      // Envoy's Filter::doRetry line, with the stream's ids as the reset before it.
      const retried = /\[router\] (\[C\d+\]\[S\d+\]) performing retry 1\n/.exec(log)?.[1];
      expect(retried).toBeDefined();
      expect(log).toContain(`[router] ${retried} upstream reset: reset reason: remote connection failure`);
      // Components left at the default level (info) write no debug line.
      expect(log).not.toMatch(/\[debug\]\[(http|pool|config|main)\]/);
    } finally {
      await proxy.stop();
    }
  });
});
