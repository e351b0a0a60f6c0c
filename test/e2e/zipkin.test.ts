/**
 * The zipkin tracer (envoy.tracers.zipkin) on every runtime: a real node:http collector
 * and upstream. Spans arrive as Zipkin JSON v2 with the request's ids, parent, kind and
 * Envoy's tags; the upstream gets the B3 headers; a request's own B3 context is joined;
 * a request not sampled sends x-b3-sampled: 0 on and no span; tracing.zipkin.* stats.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind: string;
  timestamp: number;
  duration: number;
  shared?: boolean;
  localEndpoint: { serviceName?: string; ipv4?: string; port?: number };
  tags?: Record<string, string>;
}

const ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig";

function hcm(statPrefix: string, zipkin: Record<string, unknown>, routes: object[]): object {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: statPrefix,
      tracing: { provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": ZIPKIN_TYPE, collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON", ...zipkin } } },
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

const cluster = (name: string, port: number) => ({
  name,
  type: "STATIC",
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});

describe.each(RUNTIMES)("zipkin tracer on %s", (runtime) => {
  let upstream: HttpUpstream;
  let collector: HttpUpstream;
  let proxy: ProxyProcess;
  let plainPort: number;
  let wideport: number;
  let adminPort: number;
  let splitPort: number;
  const spans = (): ZipkinSpan[] => collector.requests.flatMap((r) => JSON.parse(r.body.toString()) as ZipkinSpan[]);
  const spanOf = async (id: string): Promise<ZipkinSpan> => {
    for (let i = 0; i < 200; i++) {
      const found = spans().find((s) => s.id === id);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no span ${id} among ${JSON.stringify(spans())}\n${proxy.stderr.slice(-2000)}`);
  };

  beforeAll(async () => {
    upstream = await httpUpstream();
    // A Zipkin collector answers 202 Accepted.
    collector = await httpUpstream((_, res) => {
      res.statusCode = 202;
      res.end();
    });
    [plainPort, wideport, adminPort, splitPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const config = {
      node: { id: "proxy-1", cluster: "front-proxy", locality: { zone: "zone-a" } },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      // Every span is sent as it is finished.
      layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.zipkin.min_flush_spans": 1 } }] },
      static_resources: {
        listeners: [
          { name: "plain", address: { socket_address: { address: "127.0.0.1", port_value: plainPort } }, filter_chains: [{ filters: [hcm("plain", {}, [{ match: { prefix: "/" }, route: { cluster: "backend" } }])] }] },
          {
            name: "wide",
            address: { socket_address: { address: "127.0.0.1", port_value: wideport } },
            filter_chains: [{ filters: [hcm("wide", { trace_id_128bit: true, shared_span_context: false, collector_hostname: "collector.example" }, [{ match: { prefix: "/" }, route: { cluster: "backend" }, decorator: { operation: "checkout" } }])] }],
          },
          { name: "split", address: { socket_address: { address: "127.0.0.1", port_value: splitPort } }, filter_chains: [{ filters: [hcm("split", { split_spans_for_request: true }, [{ match: { prefix: "/" }, route: { cluster: "backend" } }])] }] },
        ],
        clusters: [cluster("backend", upstream.port), cluster("zipkin", collector.port)],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([upstream?.close(), collector?.close()]);
  });

  test("a new trace: B3 headers upstream, a SERVER span with the same ids and Envoy's tags, POSTed as JSON to the collector", async () => {
    const res = await fetch(`http://127.0.0.1:${plainPort}/items?x=1`, { headers: { "user-agent": "zipkin-test" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-b3-traceid"]).toMatch(/^[0-9a-f]{16}$/);
    expect(seen["x-b3-spanid"]).toBe(seen["x-b3-traceid"]);
    expect(seen["x-b3-sampled"]).toBe("1");
    expect(seen["x-b3-parentspanid"]).toBeUndefined();
    const span = await spanOf(seen["x-b3-spanid"] as string);
    expect(span).toMatchObject({ traceId: seen["x-b3-traceid"], kind: "SERVER", shared: true, name: `127.0.0.1:${plainPort}`, localEndpoint: { serviceName: "front-proxy", ipv4: "127.0.0.1" } });
    expect(span.parentId).toBeUndefined();
    expect(span.tags).toMatchObject({
      "guid:x-request-id": seen["x-request-id"],
      "http.url": `http://127.0.0.1:${plainPort}/items?x=1`,
      "http.method": "GET",
      "http.protocol": "HTTP/1.1",
      "http.status_code": "200",
      "peer.address": "127.0.0.1",
      component: "proxy",
      downstream_cluster: "-",
      user_agent: "zipkin-test",
      node_id: "proxy-1",
      zone: "zone-a",
      request_size: "0",
      response_flags: "-",
      upstream_cluster: "backend",
      "upstream_cluster.name": "backend",
      upstream_address: `127.0.0.1:${upstream.port}`,
    });
    expect(Number(span.tags!.response_size)).toBeGreaterThan(0);
    expect(span.tags!.error).toBeUndefined();
    // µs since the epoch, within this test's minute.
    expect(Math.abs(span.timestamp / 1000 - Date.now())).toBeLessThan(60_000);
    expect(span.duration).toBeGreaterThanOrEqual(0);
    const post = collector.requests.find((r) => r.body.toString().includes(span.id))!;
    expect(post.method).toBe("POST");
    expect(post.url).toBe("/api/v2/spans");
    expect(post.headers["content-type"]).toBe("application/json");
    // collector_hostname's default: the cluster's name.
    expect(post.headers.host).toBe("zipkin");
  });

  test("a request's B3 context is joined: the shared span takes its ids; x-b3-sampled: 0 goes on and sends no span", async () => {
    const traceId = "463ac35c9f6413ad";
    const spanId = "a2fb4a1d1a96d312";
    const parent = "0020000000000001";
    await (await fetch(`http://127.0.0.1:${plainPort}/join`, { headers: { "x-b3-traceid": traceId, "x-b3-spanid": spanId, "x-b3-parentspanid": parent, "x-b3-sampled": "1" } })).text();
    const seen = upstream.requests.at(-1)!.headers;
    expect([seen["x-b3-traceid"], seen["x-b3-spanid"], seen["x-b3-parentspanid"], seen["x-b3-sampled"]]).toEqual([traceId, spanId, parent, "1"]);
    expect(await spanOf(spanId)).toMatchObject({ traceId, id: spanId, parentId: parent, kind: "SERVER", shared: true });

    const before = (await adminStats(adminPort)).get("tracing.zipkin.spans_sent") ?? 0;
    const quiet = "2222222222222222";
    await (await fetch(`http://127.0.0.1:${plainPort}/quiet`, { headers: { "x-b3-traceid": traceId, "x-b3-spanid": quiet, "x-b3-sampled": "0" } })).text();
    expect(upstream.requests.at(-1)!.headers["x-b3-sampled"]).toBe("0");
    expect(upstream.requests.at(-1)!.headers["x-b3-spanid"]).toBe(quiet);
    // One more sampled request after it: its span comes, the quiet one never did.
    const after = "3333333333333333";
    await (await fetch(`http://127.0.0.1:${plainPort}/after`, { headers: { b3: `${traceId}-${after}-1` } })).text();
    await spanOf(after);
    expect(spans().some((s) => s.id === quiet)).toBe(false);
    const stats = await adminStats(adminPort);
    expect(stats.get("tracing.zipkin.spans_sent")).toBe(before + 1);
    expect(stats.get("tracing.zipkin.reports_sent")).toBe(stats.get("tracing.zipkin.spans_sent"));
    expect(stats.get("tracing.zipkin.reports_dropped")).toBe(0);
  });

  test("trace_id_128bit, shared_span_context false, a decorator, collector_hostname; a b3 header's 128-bit trace id is kept", async () => {
    await (await fetch(`http://127.0.0.1:${wideport}/wide`)).text();
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-b3-traceid"]).toMatch(/^[0-9a-f]{32}$/);
    const span = await spanOf(seen["x-b3-spanid"] as string);
    expect(span).toMatchObject({ traceId: seen["x-b3-traceid"], kind: "SERVER", name: "checkout" });
    // Not shared: no `shared` flag.
    expect(span.shared).toBeUndefined();
    expect(collector.requests.find((r) => r.body.toString().includes(span.id))!.headers.host).toBe("collector.example");

    const traceId = "48485a3953bb6124463ac35c9f6413ad";
    const clientSpan = "a2fb4a1d1a96d399";
    await (await fetch(`http://127.0.0.1:${wideport}/joined`, { headers: { b3: `${traceId}-${clientSpan}-1` } })).text();
    const joined = upstream.requests.at(-1)!.headers;
    expect(joined["x-b3-traceid"]).toBe(traceId);
    // Its own span, a child of the client's.
    expect(joined["x-b3-parentspanid"]).toBe(clientSpan);
    expect(joined["x-b3-spanid"]).not.toBe(clientSpan);
    expect(await spanOf(joined["x-b3-spanid"] as string)).toMatchObject({ traceId, parentId: clientSpan, kind: "SERVER" });
  });

  test("split_spans_for_request: a SERVER span for the request and a CLIENT child for the upstream request, whose ids go upstream", async () => {
    const traceId = "463ac35c9f6413ad";
    const clientSpan = "a2fb4a1d1a96d377";
    await (await fetch(`http://127.0.0.1:${splitPort}/split`, { headers: { "x-b3-traceid": traceId, "x-b3-spanid": clientSpan, "x-b3-sampled": "1" } })).text();
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-b3-traceid"]).toBe(traceId);
    const child = await spanOf(seen["x-b3-spanid"] as string);
    expect(child).toMatchObject({ traceId, kind: "CLIENT", name: "router backend egress", parentId: seen["x-b3-parentspanid"] });
    expect(child.tags).toMatchObject({ upstream_cluster: "backend", "http.status_code": "200", component: "proxy" });
    // The downstream span: shared with the client's (its id), the child's parent.
    const server = await spanOf(clientSpan);
    expect(server).toMatchObject({ traceId, kind: "SERVER", shared: true });
    expect(seen["x-b3-parentspanid"]).toBe(clientSpan);
  });

  test("--concurrency 2: each worker reports its own spans; every request's span arrives, spans_sent summed in /stats", async () => {
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    collector.requests.length = 0;
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.zipkin.min_flush_spans": 1 } }] },
      static_resources: {
        listeners: [{ name: "workers", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [hcm("workers", {}, [{ match: { prefix: "/" }, route: { cluster: "backend" } }])] }] }],
        clusters: [cluster("backend", upstream.port), cluster("zipkin", collector.port)],
      },
    };
    const workers = await ProxyProcess.start(runtime, config, 3, ["--concurrency", "2"]);
    try {
      // A new connection each: the kernel spreads them over the workers' sockets.
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        await new Promise<void>((resolve, reject) => {
          http.get({ host: "127.0.0.1", port, path: `/w${i}`, agent: false }, (res) => {
            res.resume();
            res.on("end", resolve);
          }).on("error", reject);
        });
        ids.push(upstream.requests.at(-1)!.headers["x-b3-spanid"] as string);
      }
      for (const id of ids) await spanOf(id);
      expect((await adminStats(admin)).get("tracing.zipkin.spans_sent")).toBe(12);
    } finally {
      await workers.stop();
    }
  });
});
