/**
 * The router's own upstream_http_filters (envoy.extensions.filters.http.router.v3.Router)
 * through a whole proxy on the memory runtime: an attempt to a cluster without http_filters
 * runs the router's chain (header_mutation's request header reaches the origin, its
 * response header the client); a cluster's own list wins over the router's — even a list of
 * only the codec — as Envoy's UpstreamRequest picks the cluster's chain first
 * (source/common/router/upstream_request.cc, ClusterInfoImpl's has_configured_http_filters_).
 */
import { afterEach, describe, expect, test } from "vitest";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const ORIGIN = 8081;
const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const overwrite = (key: string, value: string) => ({ append: { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } });
const mutation = (request: string, response: string) => ({
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [overwrite(request, "try %UPSTREAM_REQUEST_ATTEMPT_COUNT%")], response_mutations: [overwrite(response, "seen")] },
  },
});
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", upstream_http_filters: [mutation("x-router-filter", "x-router-filter-response"), CODEC] },
};

let runtime: MemoryRuntime;
let origin: { close(): void } | undefined;

afterEach(() => {
  origin?.close();
  origin = undefined;
});

const seen: Record<string, string>[] = [];
const recording: UpstreamHandler = (req, res) => {
  seen.push({ router: String(req.get("x-router-filter")), cluster: String(req.get("x-cluster-filter")) });
  res.respond(200, "ok");
};

/** Three clusters on one origin: "plain" (no HttpProtocolOptions), "own" (its own header_mutation), "codec" (only the codec). */
async function proxy(router: object = ROUTER, handler: UpstreamHandler = recording): Promise<MemoryHttpClient> {
  runtime = new MemoryRuntime({ seed: 9 });
  origin = await MemoryHttpServer.listen(runtime, ORIGIN, handler);
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { plain: [ORIGIN], own: [ORIGIN], codec: [ORIGIN] },
    routes: [
      { match: { prefix: "/own" }, cluster: "own" },
      { match: { prefix: "/codec" }, cluster: "codec" },
      { match: { prefix: "/agg" }, cluster: "agg" },
      { match: { prefix: "/retry" }, action: { route: { cluster: "plain", retry_policy: { retry_on: "5xx", num_retries: 1 } } } },
      { match: { prefix: "/" }, cluster: "plain" },
    ],
    hcm: { http_filters: [router] },
  }) as { static_resources: { clusters: Record<string, unknown>[] } };
  const options = (filters: unknown[]) => ({ [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: filters } });
  for (const cluster of config.static_resources.clusters) {
    if (cluster.name === "own") cluster.typed_extension_protocol_options = options([mutation("x-cluster-filter", "x-cluster-filter-response"), CODEC]);
    if (cluster.name === "codec") cluster.typed_extension_protocol_options = options([CODEC]);
  }
  // agg = [own]: an aggregate without http_filters of its own over the cluster that has a list.
  config.static_resources.clusters.push({
    name: "agg",
    connect_timeout: "1s",
    lb_policy: "CLUSTER_PROVIDED",
    cluster_type: { name: "envoy.clusters.aggregate", typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig", clusters: ["own"] } },
  });
  await startProxy(runtime, config);
  return new MemoryHttpClient(runtime, PROXY);
}

describe("the router's upstream_http_filters", () => {
  test("a cluster without http_filters runs the router's: the origin sees its request header, the client its response header", async () => {
    seen.length = 0;
    const client = await proxy();
    client.request("GET", "/plain");
    runtime.runUntilIdle();
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-router-filter-response")).toBe("seen");
    expect(seen).toEqual([{ router: "try 1", cluster: "undefined" }]);
  });

  test("a cluster's own http_filters win: the router's never run for it", async () => {
    seen.length = 0;
    const client = await proxy();
    client.request("GET", "/own");
    runtime.runUntilIdle();
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-cluster-filter-response")).toBe("seen");
    expect(response.get("x-router-filter-response")).toBeUndefined();
    expect(seen).toEqual([{ router: "undefined", cluster: "try 1" }]);
  });

  test("a cluster whose list is only the codec has a chain of its own: the router's do not run", async () => {
    seen.length = 0;
    const client = await proxy();
    client.request("GET", "/codec");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(client.responses[0]!.get("x-router-filter-response")).toBeUndefined();
    expect(seen).toEqual([{ router: "undefined", cluster: "undefined" }]);
  });

  test("a route to an aggregate cluster runs the aggregate's list — none here, so the router's — not the serving member's", async () => {
    // upstream_request.cc asks parent_.cluster(), the route's cluster (the aggregate), for its chain.
    seen.length = 0;
    const client = await proxy();
    client.request("GET", "/agg");
    runtime.runUntilIdle();
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-router-filter-response")).toBe("seen");
    expect(response.get("x-cluster-filter-response")).toBeUndefined();
    expect(seen).toEqual([{ router: "try 1", cluster: "undefined" }]);
  });

  test("each attempt runs the router's chain again", async () => {
    seen.length = 0;
    let calls = 0;
    const client = await proxy(ROUTER, (req, res) => {
      seen.push({ router: String(req.get("x-router-filter")), cluster: String(req.get("x-cluster-filter")) });
      res.respond(++calls === 1 ? 503 : 200, "x");
    });
    client.request("GET", "/retry");
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(seen.map((s) => s.router)).toEqual(["try 1", "try 2"]);
  });

  test("a router with only the codec, or an empty list: no filter runs", async () => {
    for (const list of [[CODEC], []]) {
      seen.length = 0;
      const client = await proxy({ ...ROUTER, typed_config: { ...ROUTER.typed_config, upstream_http_filters: list } });
      client.request("GET", "/plain");
      runtime.runUntilIdle();
      expect(client.responses[0]!.status).toBe(200);
      expect(seen).toEqual([{ router: "undefined", cluster: "undefined" }]);
      origin?.close();
    }
  });
});
