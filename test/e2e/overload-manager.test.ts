/** overload_manager against the real proxy on every runtime: the global connection limit and stop_accepting_requests on a fixed_heap monitor. */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connection that has had one request answered (so the proxy holds it), kept open. */
async function heldConnection(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  socket.on("error", () => {});
  await new Promise((r) => socket.once("connect", r));
  let got = "";
  socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
  socket.write("GET /held HTTP/1.1\r\nHost: x\r\n\r\n");
  for (let i = 0; i < 100 && !got.includes("\r\n\r\n"); i++) await sleep(20);
  expect(got).toMatch(/^HTTP\/1\.1 \d{3}/);
  return socket;
}

describe.each(RUNTIMES)("overload_manager on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(req.url));
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: { echo: [echo.port] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }] });
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      ...config,
      overload_manager: {
        refresh_interval: "0.1s",
        resource_monitors: [
          {
            // A heap limit of 1 KiB: always over it.
            name: "envoy.resource_monitors.fixed_heap",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: 1024 },
          },
          {
            name: "envoy.resource_monitors.global_downstream_max_connections",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
              max_active_downstream_connections: 2,
            },
          },
        ],
        actions: [
          { name: "envoy.overload_actions.stop_accepting_requests", triggers: [{ name: "envoy.resource_monitors.fixed_heap", threshold: { value: 0.95 } }] },
          { name: "envoy.overload_actions.shrink_heap", triggers: [{ name: "envoy.resource_monitors.fixed_heap", threshold: { value: 0.95 } }] },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(filter)}`)).body.text();
  }

  test("stop_accepting_requests: with the heap over fixed_heap's max, a request gets 503 envoy overloaded", async () => {
    for (let i = 0; i < 50 && !/\.active: 1$/m.test(await stats("stop_accepting_requests")); i++) await sleep(50);
    expect(await stats("overload")).toMatch(/^overload\.envoy\.resource_monitors\.fixed_heap\.pressure: \d{3,}$/m);
    const reply = await rawExchange(port, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(reply.text).toMatch(/\r\n\r\nenvoy overloaded$/);
    expect(echo.requests).toEqual([]);
    expect(await stats("downstream_rq_overload_close")).toMatch(/^http\.ingress_http\.downstream_rq_overload_close: [1-9]/m);
    // The admin is never shed.
    expect((await request(`http://127.0.0.1:${adminPort}/ready`)).statusCode).toBe(200);
  });

  test("shrink_heap: active while the heap is over the max; every 10 s bun hands free memory back (shrink_count), node and deno say once they cannot", async () => {
    await expect.poll(() => stats("shrink_heap.active"), { timeout: 5000 }).toMatch(/^overload\.envoy\.overload_actions\.shrink_heap\.active: 1$/m);
    if (runtime === "bun") {
      // Envoy's HeapShrinker looks every 10 s.
      await expect.poll(() => stats("shrink_heap.shrink_count"), { timeout: 16_000, interval: 500 }).toMatch(/^overload\.envoy\.overload_actions\.shrink_heap\.shrink_count: [1-9]/m);
    } else {
      // No --expose-gc: the runtime has no call that releases free memory.
      expect(proxy.stderr).toContain("overload action envoy.overload_actions.shrink_heap: the");
      expect(proxy.stderr).toContain("offers no call that releases free memory");
      expect(await stats("shrink_heap.shrink_count")).toMatch(/^overload\.envoy\.overload_actions\.shrink_heap\.shrink_count: 0$/m);
    }
  }, 25_000);

  test("global_downstream_max_connections: the connection past the limit is closed at once", async () => {
    // Earlier connections (closed by their clients) leave the count a moment later.
    await sleep(200);
    const a = await heldConnection(port);
    const b = await heldConnection(port);
    // Closed unanswered; with the request unread the kernel may answer the close with a reset.
    const third = await rawExchange(port, "GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000).catch((err: NodeJS.ErrnoException) => {
      expect(err.code).toBe("ECONNRESET");
      return { text: "", closed: true };
    });
    expect(third).toEqual({ text: "", closed: true });
    expect(await stats("global_cx_overflow")).toMatch(new RegExp(`^listener\\.127\\.0\\.0\\.1_${port}\\.downstream_global_cx_overflow: [1-9]`, "m"));
    expect(await stats("global_downstream_max_connections")).toMatch(/^overload\.envoy\.resource_monitors\.global_downstream_max_connections\.failed_updates: [1-9]/m);
    a.destroy();
    let fourth = { text: "", closed: false };
    for (let i = 0; i < 20 && !fourth.text; i++) {
      await sleep(50);
      fourth = await rawExchange(port, "GET /fourth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000).catch(() => ({ text: "", closed: true }));
    }
    expect(fourth.text).toMatch(/^HTTP\/1\.1 503/);
    b.destroy();
  });
});

describe.each(RUNTIMES)("overload_manager reduce_timeouts on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    // /stall is never answered.
    echo = await httpUpstream((req, res) => {
      if (req.url !== "/stall") res.end(req.url);
    });
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: { stream_idle_timeout: "30s" },
    });
    proxy = await ProxyProcess.start(runtime, {
      ...config,
      overload_manager: {
        refresh_interval: "0.1s",
        resource_monitors: [
          {
            name: "envoy.resource_monitors.fixed_heap",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: 1024 },
          },
        ],
        actions: [
          {
            name: "envoy.overload_actions.reduce_timeouts",
            triggers: [{ name: "envoy.resource_monitors.fixed_heap", scaled: { scaling_threshold: 0.5, saturation_threshold: 0.9 } }],
            typed_config: {
              "@type": "type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig",
              timer_scale_factors: [{ timer: "HTTP_DOWNSTREAM_STREAM_IDLE", min_timeout: "0.5s" }],
            },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("with the heap over its max, a 30 s stream_idle_timeout is cut to min_timeout", async () => {
    // The first sample comes one refresh_interval after the start.
    await sleep(500);
    const started = Date.now();
    const reply = await rawExchange(port, "GET /stall HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10_000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(reply.text).toMatch(/\r\n\r\nstream timeout$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(Date.now() - started).toBeLessThan(8000);
  });
});

/**
 * The connection-level actions, each in a proxy of its own (each alone decides what a
 * connection gets), triggered by a fixed_heap monitor whose 1 KiB max the heap is always
 * over: stop_accepting_connections (polyvoy closes the listening socket while it holds, so a
 * connect is refused; Envoy leaves it in the kernel's backlog), reject_incoming_connections
 * (accepted, then closed at once) and disable_http_keepalive (each response closes its
 * connection).
 */
describe.each(RUNTIMES)("overload_manager connection actions on %s", (runtime) => {
  let echo: HttpUpstream;
  const proxies: Record<string, { proxy: ProxyProcess; port: number; admin: number }> = {};
  const ACTIONS = ["stop_accepting_connections", "reject_incoming_connections", "disable_http_keepalive"];

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(req.url));
    // One after the other: three starting at once on a loaded machine can take past the start timeout.
    for (const action of ACTIONS) {
      const [port, admin] = await Promise.all([freePort(), freePort()]);
      const config = httpProxyConfig({ listenPort: port, clusters: { echo: [echo.port] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }] });
      // A listener that would bind after the first sample starts paused and never says it listens: wait for the admin's only.
      const listeners = action === "stop_accepting_connections" ? 1 : undefined;
      const proxy = await ProxyProcess.start(runtime, {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
        ...config,
        overload_manager: {
          refresh_interval: "0.1s",
          resource_monitors: [
            {
              name: "envoy.resource_monitors.fixed_heap",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig", max_heap_size_bytes: 1024 },
            },
          ],
          actions: [{ name: `envoy.overload_actions.${action}`, triggers: [{ name: "envoy.resource_monitors.fixed_heap", threshold: { value: 0.9 } }] }],
        },
      }, listeners);
      proxies[action] = { proxy, port, admin };
    }
  });

  afterAll(async () => {
    await Promise.all(Object.values(proxies).map(({ proxy }) => proxy.stop("SIGKILL")));
    await echo?.close();
  });

  async function stats(action: string, filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${proxies[action]!.admin}/stats?filter=${encodeURIComponent(filter)}`)).body.text();
  }

  async function active(action: string): Promise<void> {
    await expect.poll(() => stats(action, `^overload\\.envoy\\.overload_actions\\.${action}\\.active$`), { timeout: 5000 }).toMatch(/: 1$/m);
  }

  /** What a connection gets for one request: "refused", "closed" (without an answer), or the response's head. */
  function attempt(port: number): Promise<string> {
    return rawExchange(port, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 2000).then(
      ({ text, closed }) => (text ? text.slice(0, text.indexOf("\r\n\r\n")) + (closed ? "\r\n[closed]" : "") : closed ? "closed" : "no answer"),
      (err: NodeJS.ErrnoException) => (err.code === "ECONNREFUSED" ? "refused" : err.code === "ECONNRESET" ? "closed" : `error ${err.code}`),
    );
  }

  test("stop_accepting_connections: new connections are not taken (refused), the admin still answers", async () => {
    await active("stop_accepting_connections");
    const { port, admin, proxy } = proxies["stop_accepting_connections"]!;
    await expect.poll(() => attempt(port), { timeout: 5000 }).toBe("refused");
    expect((await request(`http://127.0.0.1:${admin}/ready`)).statusCode).toBe(200);
    expect(proxy.stderr).toContain("stopped accepting connections (overload)");
    expect(echo.requests.filter((r) => r.url === "/x")).toHaveLength(0);
  });

  test("reject_incoming_connections: each connection is closed unanswered and counted", async () => {
    await active("reject_incoming_connections");
    const { port } = proxies["reject_incoming_connections"]!;
    expect(await attempt(port)).toBe("closed");
    expect(await stats("reject_incoming_connections", "downstream_cx_overload_reject")).toMatch(new RegExp(`^listener\\.127\\.0\\.0\\.1_${port}\\.downstream_cx_overload_reject: [1-9]`, "m"));
  });

  test("disable_http_keepalive: a keep-alive request is answered with connection: close and the connection closes", async () => {
    await active("disable_http_keepalive");
    const { port } = proxies["disable_http_keepalive"]!;
    const head = await attempt(port);
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head.toLowerCase()).toContain("\r\nconnection: close\r\n");
    expect(head).toMatch(/\[closed\]$/);
    expect(await stats("disable_http_keepalive", "overload_disable_keepalive")).toMatch(/^http\.ingress_http\.downstream_cx_overload_disable_keepalive: [1-9]/m);
  });
});
