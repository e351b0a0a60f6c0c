/**
 * The router filter (core/http/filters/router.ts) on the memory runtime: what it does
 * with the matched route (forward to a cluster, weighted clusters, direct response,
 * redirect, no route, a cluster that is gone, no healthy host), the route timeout, upstream
 * resets before and after the response headers, the replay on a reused connection,
 * x-envoy-upstream-service-time and the request body held while the connection opens.
 * The local replies, response flags and details are Envoy's (router.cc).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Bootstrap, ForwardAction } from "../../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../../core/config/load.ts";
import { loadRegexEngine } from "../../../../core/config/regex-engine.ts";
import { Logger } from "../../../../core/log.ts";
import { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions, type HttpRoute } from "../../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "../../../memory/support/http-peers.ts";
import { firstDifference, pattern } from "../../../memory/support/http-wire.ts";
import { activeDownstreamConnections, resourceCounters } from "../../../memory/support/proxy.ts";

const PROXY = 10000;
const A = 8080;
const B = 8081;
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";
const LOG_FORMAT = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_CLUSTER%\n";

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

interface Setup {
  seed?: number;
  /** Upstream handlers, by port; a port without one has nothing listening. */
  handlers?: Partial<Record<number, UpstreamHandler>>;
  routes?: HttpRoute[];
  /** Cluster name → ports (default: a → 8080, b → 8081). */
  clusters?: Record<string, number[]>;
  proxy?: Partial<HttpProxyOptions>;
  /** Change the loaded bootstrap before the server starts (what config validation would refuse). */
  edit?: (bootstrap: Bootstrap) => void;
}

const answerWithName = (name: string): UpstreamHandler => (req, res) => res.respond(200, `${name} ${req.path}`);

async function setup(options: Setup = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: options.seed ?? 1 });
  const handlers = options.handlers ?? { [A]: answerWithName("a"), [B]: answerWithName("b") };
  for (const [port, handler] of Object.entries(handlers)) if (handler) upstreams.push(await MemoryHttpServer.listen(runtime, Number(port), handler));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: options.clusters ?? { a: [A], b: [B] },
    routes: options.routes ?? [
      { match: { prefix: "/b/" }, cluster: "b" },
      { match: { prefix: "/" }, cluster: "a" },
    ],
    ...options.proxy,
    hcm: {
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: "/dev/stdout",
            log_format: { text_format_source: { inline_string: LOG_FORMAT } },
          },
        },
      ],
      ...options.proxy?.hcm,
    },
  });
  // Routes matched by safe_regex need the RE2 engine (loaded by the entry when a config names one).
  await loadRegexEngine();
  const bootstrap = loadBootstrap(JSON.stringify(config), "json");
  options.edit?.(bootstrap);
  server = new Server(runtime, bootstrap, new Logger(runtime, "warn"));
  await server.start();
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

/** The access log lines written so far (one per finished stream). */
function accessLog(): string[] {
  return runtime.stdoutText.split("\n").filter(Boolean);
}

/** One request on a new connection; the connection is closed after the virtual `ms`. */
function exchange(method: string, path: string, options: { headers?: Record<string, string>; body?: string; ms?: number } = {}): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request(method, path, options);
  if (options.ms === undefined) runtime.runDue();
  else runtime.advance(options.ms);
  return client;
}

function expectNoLeaks(): void {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  for (const cluster of ["a", "b"]) if (server.clusterManager.get(cluster)) expect(resourceCounters(server, cluster)).toEqual({ connections: 0, pendingRequests: 0, requests: 0 });
  expect([...runtime.openSockets].map((s) => `S${s.id} (${s.role})`)).toEqual([]);
  expect(runtime.pendingTimers).toBe(0);
}

function done(...clients: MemoryHttpClient[]): void {
  for (const client of clients) if (!client.closed) client.socket.close();
  expectNoLeaks();
}

describe("RouterFilter: what the route says", () => {
  test("the matched route picks the cluster; the access log names it", async () => {
    await setup();
    const one = exchange("GET", "/b/x");
    const two = exchange("GET", "/other");
    expect(one.responses.map((r) => r.text())).toEqual(["b /b/x"]);
    expect(two.responses.map((r) => r.text())).toEqual(["a /other"]);
    done(one, two);
    expect(accessLog()).toEqual(["200 - via_upstream b", "200 - via_upstream a"]);
    expect(stat("cluster.a.upstream_rq_200")).toBe(1);
    expect(stat("cluster.b.upstream_rq_2xx")).toBe(1);
    expect(stat("cluster.a.upstream_rq_completed")).toBe(1);
  });

  test("no route: 404 with an empty body, flag NR, no_route counted, nothing sent upstream", async () => {
    await setup({ routes: [{ match: { prefix: "/only" }, cluster: "a" }] });
    const client = exchange("GET", "/elsewhere");
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[404, ""]]);
    done(client);
    expect(accessLog()).toEqual(["404 NR route_not_found -"]);
    expect(stat("http.ingress_http.no_route")).toBe(1);
    expect(upstreams.map((u) => u.requests.length)).toEqual([0, 0]);
  });

  test("a route to a cluster that is not there: 503 with an empty body, flag NC", async () => {
    // Config validation refuses an unknown cluster (validate_clusters), so the loaded
    // config is changed behind it, as a cluster removed at run time would be.
    await setup({
      edit: (bootstrap) => {
        const hcm = bootstrap.listeners[0]!.filterChains[0]!.filters[0]! as unknown as {
          config: { routeConfig: { virtualHosts: { routes: { action: { route: ForwardAction } }[] }[] } };
        };
        hcm.config.routeConfig.virtualHosts[0]!.routes[1]!.action.route.cluster = "gone";
      },
    });
    const client = exchange("GET", "/x");
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[503, ""]]);
    done(client);
    expect(accessLog()).toEqual(["503 NC cluster_not_found gone"]);
  });

  test("a cluster without hosts: 503 'no healthy upstream', flag UH", async () => {
    await setup({ clusters: { a: [], b: [B] } });
    const client = exchange("GET", "/x");
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[503, "no healthy upstream"]]);
    done(client);
    expect(accessLog()).toEqual(["503 UH no_healthy_upstream a"]);
  });

  test("direct_response: the route's status and body, with the route's response headers; nothing upstream", async () => {
    await setup({
      routes: [
        {
          match: { prefix: "/" },
          action: {
            direct_response: { status: 418, body: { inline_string: "teapot" } },
            response_headers_to_add: [{ header: { key: "x-route", value: "direct" } }],
          },
        },
      ],
    });
    const client = exchange("GET", "/tea");
    expect(client.responses.map((r) => [r.status, r.text(), r.get("x-route")])).toEqual([[418, "teapot", "direct"]]);
    done(client);
    expect(accessLog()).toEqual(["418 - direct_response -"]);
    expect(upstreams.map((u) => u.requests.length)).toEqual([0, 0]);
  });

  test("redirect: the configured code and a Location built from the request", async () => {
    await setup({
      routes: [
        { match: { prefix: "/old/" }, action: { redirect: { prefix_rewrite: "/new/", response_code: "FOUND" } } },
        { match: { prefix: "/" }, action: { redirect: { https_redirect: true } } },
      ],
    });
    const moved = exchange("GET", "/old/page?q=1");
    const secure = exchange("GET", "/x");
    expect(moved.responses.map((r) => [r.status, r.get("location"), r.text()])).toEqual([[302, "http://example.com/new/page?q=1", ""]]);
    expect(secure.responses.map((r) => [r.status, r.get("location")])).toEqual([[301, "https://example.com/x"]]);
    done(moved, secure);
  });

  test("redirect: Location as Envoy's newUri — ports with host_redirect, https_redirect and port_redirect; path_redirect's own query; IPv6", async () => {
    await setup({
      routes: [
        { match: { prefix: "/https" }, action: { redirect: { https_redirect: true } } },
        { match: { prefix: "/host" }, action: { redirect: { host_redirect: "b.example" } } },
        { match: { prefix: "/pq" }, action: { redirect: { path_redirect: "/new?a=1", strip_query: true } } },
        { match: { prefix: "/strip" }, action: { redirect: { path_redirect: "/new", strip_query: true } } },
        { match: { prefix: "/keep" }, action: { redirect: { path_redirect: "/new" } } },
        { match: { prefix: "/port" }, action: { redirect: { port_redirect: 8443 } } },
        { match: { path: "/exact" }, action: { redirect: { prefix_rewrite: "/moved" } } },
        { match: { safe_regex: { regex: "/re/[a-z]+" } }, action: { redirect: { prefix_rewrite: "/moved" } } },
      ],
    });
    const location = (path: string, host: string): string | undefined => {
      const client = exchange("GET", path, { headers: { host } });
      const response = client.responses[0];
      done(client);
      return response?.get("location");
    };
    // A non-default port stays with the request's host when only the scheme changes.
    expect(location("/https/x?q=1", "a.example:8080")).toBe("https://a.example:8080/https/x?q=1");
    // The default port of the scheme the request came with goes when the scheme changes.
    expect(location("/https/x", "a.example:80")).toBe("https://a.example/https/x");
    expect(location("/https/x", "[::1]:8080")).toBe("https://[::1]:8080/https/x");
    // host_redirect is the host as written: the request's port is not carried over.
    expect(location("/host/x?q=1", "a.example:8080")).toBe("http://b.example/host/x?q=1");
    // path_redirect's own query wins and is not stripped; otherwise the request's follows it.
    expect(location("/pq?q=1", "a.example")).toBe("http://a.example/new?a=1");
    expect(location("/strip?q=1", "a.example")).toBe("http://a.example/new");
    expect(location("/keep?q=1", "a.example:80")).toBe("http://a.example:80/new?q=1");
    expect(location("/port/x", "a.example:8080")).toBe("http://a.example:8443/port/x");
    // prefix_rewrite on a route matched by path replaces the whole matched path.
    expect(location("/exact?z=2", "a.example")).toBe("http://a.example/moved?z=2");
    // On a safe_regex match it replaces the whole path before the query (Envoy's RegexRouteEntryImpl).
    expect(location("/re/abc?x=1", "a.example")).toBe("http://a.example/moved?x=1");
  });

  test("prefix_rewrite on a safe_regex route replaces the whole path before the query; an empty one rewrites nothing", async () => {
    await setup({
      routes: [
        { match: { safe_regex: { regex: "/re/[a-z]+" } }, action: { route: { cluster: "a", prefix_rewrite: "/new" } } },
        { match: { prefix: "/api" }, action: { route: { cluster: "a", prefix_rewrite: "" } } },
      ],
    });
    const regex = exchange("GET", "/re/abc?x=1");
    const empty = exchange("GET", "/api/users?x=1");
    expect([regex.responses[0]?.text(), empty.responses[0]?.text()]).toEqual(["a /new?x=1", "a /api/users?x=1"]);
    done(regex, empty);
  });

  test("weighted clusters: picks follow the weights, drawn from the runtime's seeded random (a seed replays the same picks)", async () => {
    const picks = async (seed: number, weights: [number, number]): Promise<string> => {
      await setup({
        seed,
        routes: [{ match: { prefix: "/" }, action: { route: { weighted_clusters: { clusters: [{ name: "a", weight: weights[0] }, { name: "b", weight: weights[1] }] } } } }],
      });
      const client = new MemoryHttpClient(runtime, PROXY);
      for (let i = 0; i < 40; i++) {
        client.request("GET", "/");
        runtime.runDue();
      }
      done(client);
      for (const u of upstreams) u.close();
      upstreams = [];
      return client.responses.map((r) => r.text()[0]).join("");
    };
    expect(await picks(1, [100, 0])).toBe("a".repeat(40));
    expect(await picks(1, [0, 100])).toBe("b".repeat(40));
    const first = await picks(5, [75, 25]);
    expect(await picks(5, [75, 25])).toBe(first);
    expect(await picks(6, [75, 25])).not.toBe(first);
    const toA = first.split("").filter((c) => c === "a").length;
    expect(toA).toBeGreaterThan(20);
    expect(toA).toBeLessThan(40);
  });
});

describe("RouterFilter: the cluster chosen once per stream (route-cluster.ts)", () => {
  test("weighted clusters: a filter before the router sees the pick the router forwards to (fault upstream_cluster aborts exactly the streams picked for b)", async () => {
    await setup({
      seed: 7,
      routes: [{ match: { prefix: "/" }, action: { route: { weighted_clusters: { clusters: [{ name: "a", weight: 50 }, { name: "b", weight: 50 }] } } } }],
      proxy: {
        hcm: {
          http_filters: [
            {
              name: "envoy.filters.http.fault",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                abort: { http_status: 418, percentage: { numerator: 100 } },
                upstream_cluster: "b",
              },
            },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 40; i++) {
      client.request("GET", "/");
      runtime.runDue();
    }
    done(client);
    const statuses = client.responses.map((r) => r.status);
    const toA = statuses.filter((s) => s === 200).length;
    const aborted = statuses.filter((s) => s === 418).length;
    // Both happen (the split still follows the weights), and nothing else.
    expect(toA + aborted).toBe(40);
    expect(toA).toBeGreaterThan(5);
    expect(aborted).toBeGreaterThan(5);
    // Had the fault filter and the router drawn apart, b would have seen some requests.
    expect(upstreams[1]!.requests).toHaveLength(0);
    expect(upstreams[0]!.requests).toHaveLength(toA);
    expect(stat("http.ingress_http.fault.aborts_injected")).toBe(aborted);
  });

  test("cluster_header: read once when the route is resolved; the filters and the router agree", async () => {
    await setup({ routes: [{ match: { prefix: "/" }, action: { route: { cluster_header: "x-cluster" } } }] });
    const client = exchange("GET", "/p", { headers: { "x-cluster": "b" } });
    expect(client.responses.map((r) => r.text())).toEqual(["b /p"]);
    done(client);
    expect(accessLog()).toEqual(["200 - via_upstream b"]);
  });
});

describe("RouterFilter: the route timeout", () => {
  test("no response within the route's timeout: 504 'upstream request timeout', flag UT, upstream_rq_timeout; the upstream connection is dropped", async () => {
    await setup({
      handlers: { [A]: () => {} },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", timeout: "2s" } } }],
    });
    const client = exchange("GET", "/slow", { ms: 1999 });
    expect(client.responses).toHaveLength(0);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBe("2000");
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "upstream request timeout"]]);
    runtime.runDue();
    expect(upstreams[0]!.connections.size).toBe(0);
    done(client);
    expect(accessLog()).toEqual(["504 UT upstream_response_timeout a"]);
    expect(stat("cluster.a.upstream_rq_timeout")).toBe(1);
    // Envoy's chargeUpstreamAbort: the local reply's code is the cluster's response.
    expect([stat("cluster.a.upstream_rq_504"), stat("cluster.a.upstream_rq_5xx"), stat("cluster.a.upstream_rq_completed")]).toEqual([1, 1, 1]);
  });

  test("the timeout starts when the request is complete, not at its headers", async () => {
    await setup({
      handlers: { [A]: () => {} },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", timeout: "1s" } } }],
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.send("POST / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 2\r\n\r\nx");
    runtime.advance(3000);
    expect(client.responses).toHaveLength(0);
    client.parser.expectResponseTo("POST");
    client.send("y");
    runtime.advance(999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => r.status)).toEqual([504]);
    done(client);
  });

  test("timeout 0 disables it: a response after a minute still arrives", async () => {
    await setup({
      handlers: { [A]: (_req, res) => runtime.setTimeout(() => res.respond(200, "late"), 60_000) },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", timeout: "0s" } } }],
    });
    const client = exchange("GET", "/", { ms: 60_000 });
    expect(client.responses.map((r) => r.text())).toEqual(["late"]);
    expect(upstreams[0]!.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBeUndefined();
    done(client);
  });

  test("the timeout after the response headers went out resets the stream: the connection closes behind the head (Envoy's FlushWriteAndDelay), the body left short", async () => {
    await setup({
      handlers: { [A]: (_req, res) => (res.writeHead(200, { "content-length": "100" }), res.write("part")) },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", timeout: "1s" } } }],
    });
    const client = exchange("GET", "/", { ms: 1000 });
    expect(client.responses).toHaveLength(0);
    expect(client.parser.current?.status).toBe(200);
    expect(client.wasReset).toBe(false);
    expect(client.ended).toBe(true);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 UT upstream_response_timeout a"]);
  });
});

describe("RouterFilter: upstream resets", () => {
  test("a reset before the response headers: 503 'connection termination', flag UC", async () => {
    await setup({ handlers: { [A]: (_req, res) => res.reset() } });
    const client = exchange("POST", "/", { body: "x" });
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[503, `${RESET_BEFORE_HEADERS}connection termination`]]);
    done(client);
    expect(accessLog()).toEqual(["503 UC upstream_reset_before_response_started{connection_termination|ECONNRESET} a"]);
    expect([stat("cluster.a.upstream_rq_503"), stat("cluster.a.upstream_rq_5xx"), stat("cluster.a.upstream_rq_completed")]).toEqual([1, 1, 1]);
  });

  test("a connect failure: 503 UF, counted as the cluster's 503 as Envoy's router charges it", async () => {
    await setup({ handlers: {} });
    const client = exchange("GET", "/", { ms: 5000 });
    expect(client.responses.map((r) => r.status)).toEqual([503]);
    done(client);
    expect(accessLog()[0]).toMatch(/^503 UF /);
    expect([stat("cluster.a.upstream_rq_503"), stat("cluster.a.upstream_rq_5xx"), stat("cluster.a.upstream_rq_completed")]).toEqual([1, 1, 1]);
  });

  test("charged responses also count by category: external. or internal. (x-envoy-internal), and canary. (x-envoy-upstream-canary)", async () => {
    await setup({ handlers: { [A]: (req, res) => res.respond(200, "a", req.path === "/canary" ? { "x-envoy-upstream-canary": "true" } : {}) } });
    const external = exchange("GET", "/plain");
    // A single RFC 1918 x-forwarded-for: the HCM marks the request internal.
    const internal = exchange("GET", "/canary", { headers: { "x-forwarded-for": "10.0.0.1" } });
    expect([...external.responses, ...internal.responses].map((r) => r.status)).toEqual([200, 200]);
    done(external, internal);
    const counts = (category: string) => ["upstream_rq_completed", "upstream_rq_2xx", "upstream_rq_200"].map((name) => stat(`cluster.a.${category}.${name}`));
    expect(counts("external")).toEqual([1, 1, 1]);
    expect(counts("internal")).toEqual([1, 1, 1]);
    expect(counts("canary")).toEqual([1, 1, 1]);
    expect(stat("cluster.a.upstream_rq_200")).toBe(2);
    const recorded = (name: string) => (server.stats.get(name) as { counts: Float64Array } | undefined)?.counts.reduce((a, b) => a + b, 0);
    // Timing's canary is the host's alone (Envoy's onUpstreamComplete): the header does not make it one.
    expect([recorded("cluster.a.external.upstream_rq_time"), recorded("cluster.a.internal.upstream_rq_time"), recorded("cluster.a.canary.upstream_rq_time")]).toEqual([1, 1, 0]);
  });

  test("a reset after the response headers: the downstream stream is reset (the connection closed behind what was written), flag UC as Envoy's for connection_termination", async () => {
    await setup({
      handlers: {
        [A]: (_req, res) => {
          res.writeHead(200, { "content-length": "10" });
          res.write("abc");
          runtime.setTimeout(() => res.reset(), 1);
        },
      },
    });
    const client = exchange("GET", "/", { ms: 5 });
    expect(client.responses).toHaveLength(0);
    expect(client.parser.bodyReceived).toBe(3);
    expect(client.wasReset).toBe(false);
    expect(client.ended).toBe(true);
    expectNoLeaks();
    expect(accessLog()).toEqual(["200 UC upstream_reset_after_response_started{connection_termination|ECONNRESET} a"]);
  });

  test.each([
    ["in the read that brought the head", 0],
    ["in a later read", 5],
  ])("a chunked body the upstream breaks %s: the head (and the body so far) reach the client, then FIN; UPE, upstream_cx_protocol_error", async (_name, laterMs) => {
    await setup({
      handlers: {
        [A]: (_req, res) => {
          const head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n";
          if (laterMs === 0) return res.writeRaw(head + "zz\r\n");
          res.writeRaw(head);
          runtime.setTimeout(() => res.writeRaw("zz\r\n"), laterMs);
        },
      },
    });
    const client = exchange("GET", "/", { ms: 20 });
    expect(client.responses).toHaveLength(0);
    expect(client.parser.current?.status).toBe(200);
    // Envoy's codec holds the body of the read that fails (dispatchBufferedBody is never reached).
    expect(client.parser.bodyReceived).toBe(laterMs === 0 ? 0 : 3);
    expect(client.ended).toBe(true);
    expect(client.wasReset).toBe(false);
    expectNoLeaks();
    expect(stat("cluster.a.upstream_cx_protocol_error")).toBe(1);
    expect(accessLog()).toEqual(["200 UPE upstream_reset_after_response_started{protocol_error} a"]);
  });

  test("a GET on a reused connection the upstream closed before any byte is sent again, once: upstream_rq_retry, _retry_success", async () => {
    let n = 0;
    await setup({
      handlers: {
        [A]: (req, res) => {
          n++;
          // The second request on the first connection: closed without a byte.
          if (n === 2) res.connection.socket.close();
          else res.respond(200, `answer ${n} ${req.path}`);
        },
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/one");
    runtime.runDue();
    client.request("GET", "/two");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["answer 1 /one", "answer 3 /two"]);
    expect(upstreams[0]!.accepted).toBe(2);
    done(client);
    expect(stat("cluster.a.upstream_rq_retry")).toBe(1);
    expect(stat("cluster.a.upstream_rq_retry_success")).toBe(1);
  });

  test.each([
    ["PUT", "data"],
    ["POST", undefined],
  ])("a %s (body %s) on such a connection is not sent again (a body, or not idempotent): 503 connection termination", async (method, body) => {
    let n = 0;
    await setup({
      handlers: {
        [A]: (_req, res) => {
          n++;
          if (n === 2) res.connection.socket.close();
          else res.respond(200, "ok");
        },
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/one");
    runtime.runDue();
    client.request(method, "/two", { body });
    runtime.runDue();
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([
      [200, "ok"],
      [503, `${RESET_BEFORE_HEADERS}connection termination`],
    ]);
    expect(n).toBe(2);
    done(client);
    expect(stat("cluster.a.upstream_rq_retry")).toBe(0);
  });
});

describe("RouterFilter: a client that leaves while its request waits for a connection", () => {
  test("the pool's pending request is cancelled; the connection opened for it is kept for the next request (Envoy's CancelPolicy::Default); nothing is sent", async () => {
    await setup();
    runtime.setFaults({ port: A }, { connectDelayMs: 100 });
    const client = exchange("GET", "/", { ms: 50 });
    expect(resourceCounters(server, "a")).toEqual({ connections: 1, pendingRequests: 1, requests: 0 });
    client.socket.reset();
    runtime.runDue();
    expect(resourceCounters(server, "a")).toEqual({ connections: 1, pendingRequests: 0, requests: 0 });
    runtime.advance(50);
    expect(upstreams[0]!.accepted).toBe(1);
    expect(upstreams[0]!.requests).toHaveLength(0);
    const next = exchange("GET", "/next");
    expect(next.responses.map((r) => r.text())).toEqual(["a /next"]);
    expect(upstreams[0]!.accepted).toBe(1);
    done(next);
    expect(accessLog()).toEqual(["0 DC downstream_remote_disconnect a", "200 - via_upstream a"]);
  });
});

describe("RouterFilter: timing and the request body", () => {
  test("x-envoy-upstream-service-time is the ms from the upstream request's start to its response headers", async () => {
    await setup({ handlers: { [A]: (_req, res) => runtime.setTimeout(() => res.respond(200, "ok"), 37) } });
    runtime.setFaults({ port: A }, { connectDelayMs: 5 });
    const client = exchange("GET", "/", { ms: 100 });
    // The connect counts: the upstream request starts when the router asks the pool.
    expect(client.responses[0]!.get("x-envoy-upstream-service-time")).toBe("42");
    done(client);
  });

  test("a body sent while the upstream connection opens is held, then forwarded intact with its trailers", async () => {
    const body = pattern(20_000, 3);
    await setup({
      handlers: {
        [A]: (req, res) =>
          res.respond(200, "ok", { "x-intact": String(firstDifference(req.body, body) === -1 && req.body.length === body.length), "x-trailer": req.trailers.map(([n, v]) => `${n}=${v}`).join() }),
      },
      // Trailers pass an HTTP/1 proxy only with enable_trailers on both sides (Envoy's codec drops them otherwise).
      proxy: {
        hcm: { http_protocol_options: { enable_trailers: true } },
        clusterExtra: { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http_protocol_options: { enable_trailers: true } } } } },
      },
    });
    runtime.setFaults({ port: A }, { connectDelayMs: 50 });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("POST");
    client.send("POST /up HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n");
    client.send(`${body.length.toString(16)}\r\n`);
    client.send(body);
    client.send("\r\n0\r\nx-sum: 7\r\n\r\n");
    runtime.advance(49);
    expect(upstreams[0]!.accepted).toBe(0);
    runtime.advance(10);
    expect(client.responses.map((r) => [r.status, r.get("x-intact"), r.get("x-trailer")])).toEqual([[200, "true", "x-sum=7"]]);
    done(client);
  });

  test("past the cluster's buffer limit the held body stops the client's reading, which resumes once connected", async () => {
    const body = pattern(1024 * 1024, 4);
    await setup({
      handlers: { [A]: (req, res) => res.respond(200, String(req.body.length)) },
      proxy: { clusterExtra: { connect_timeout: "5s", per_connection_buffer_limit_bytes: 4096 } },
    });
    runtime.setFaults({ port: A }, { connectDelayMs: 1000 });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/big", { body });
    runtime.advance(500);
    // Reading stopped: the rest of the body waits in the client's own queue, not in the proxy.
    expect(client.socket.peer!.readDisabled).toBe(true);
    expect(client.socket.bufferedAmount).toBeGreaterThan(512 * 1024);
    runtime.advance(1000);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, String(body.length)]]);
    done(client);
  });
});
