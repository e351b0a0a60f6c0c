/**
 * ext_authz with an HTTP service whose cluster comes from CDS, not static_resources (a
 * users' gateway, hail-is/hail, takes all its clusters from a CDS file). Envoy loads such
 * a bootstrap: its HTTP client looks the cluster up at each check and answers an error
 * when there is none (ext_authz_http_impl.cc, "ext_authz cluster '…' does not exist"):
 * 403, or status_on_error. polyvoy the same, on the memory runtime. An envoy_grpc service's
 * cluster too: ext_authz's config.cc makes its client with skip_cluster_check, and a call
 * while the cluster is absent closes Unavailable "Cluster not available" (grpc/async_client_impl.cc):
 * an error like any other (status_on_error, failure_mode_allow).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { startProxy } from "./support/proxy.ts";
import { MemoryH2Server } from "./support/h2-peers.ts";
import { GrpcAsyncClient } from "../../core/http/grpc-async-client.ts";

const PROXY_PORT = 10000;
const UPSTREAM_PORT = 8080;
const AUTHZ_PORT = 9001;
const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

let server: Server | undefined;
afterEach(() => {
  server?.stop("test done");
  server = undefined;
});

function authzCluster(): object {
  return {
    "@type": CLUSTER,
    name: "authz",
    type: "STATIC",
    load_assignment: { cluster_name: "authz", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: AUTHZ_PORT } } } }] }] },
  };
}

/** The proxy: ext_authz to cluster "authz", which only the CDS file (`cdsClusters`) may define. */
async function setUp(cdsClusters: object[], extra: Record<string, unknown> = {}): Promise<{ runtime: MemoryRuntime; checks: HttpMessage[]; request: (auth: string) => Promise<HttpMessage> }> {
  const runtime = new MemoryRuntime({ seed: 1 });
  runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: cdsClusters }));
  await MemoryHttpServer.listen(runtime, UPSTREAM_PORT, (_req, res) => res.respond(200, "from upstream"));
  const checks: HttpMessage[] = [];
  await MemoryHttpServer.listen(runtime, AUTHZ_PORT, (check, res) => {
    checks.push(check);
    if (check.get("authorization") === "Bearer good") res.respond(200, "");
    else res.respond(401, "who are you?");
  });
  const config = httpProxyConfig({
    listenPort: PROXY_PORT,
    clusters: { backend: [UPSTREAM_PORT] },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    hcm: {
      http_filters: [
        {
          name: "envoy.filters.http.ext_authz",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", http_service: { server_uri: { uri: "http://authz", cluster: "authz", timeout: "0.5s" } }, ...extra },
        },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  });
  server = await startProxy(runtime, { ...config, dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } });
  return {
    runtime,
    checks,
    async request(auth) {
      const client = new MemoryHttpClient(runtime, PROXY_PORT);
      client.request("GET", "/", { headers: { authorization: auth } });
      await runtime.settle();
      const response = client.responses[0];
      if (!response) throw new Error("no response");
      return response;
    },
  };
}

describe("ext_authz http_service cluster from CDS", () => {
  test("the cluster the CDS file adds takes the checks: allowed goes on, denied is the service's answer", async () => {
    const proxy = await setUp([authzCluster()]);
    const allowed = await proxy.request("Bearer good");
    expect(allowed.status).toBe(200);
    expect(allowed.text()).toBe("from upstream");
    const denied = await proxy.request("Bearer bad");
    expect(denied.status).toBe(401);
    expect(denied.text()).toBe("who are you?");
    expect(proxy.checks).toHaveLength(2);
  });

  test("no such cluster (yet): each check is an error, 403 with an empty body (status_on_error changes it), counted ext_authz.error", async () => {
    const proxy = await setUp([]);
    const response = await proxy.request("Bearer good");
    expect(response.status).toBe(403);
    expect(response.text()).toBe("");
    expect((server!.stats.get("http.ingress_http.ext_authz.error") as { value: number }).value).toBe(1);
    expect(proxy.checks).toHaveLength(0);

    server!.stop("next");
    const unavailable = await setUp([], { status_on_error: { code: "ServiceUnavailable" } });
    expect((await unavailable.request("Bearer good")).status).toBe(503);
  });
});

describe("ext_authz grpc_service (envoy_grpc) cluster from CDS", () => {
  const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
  async function setUpGrpc(cdsClusters: object[], extra: Record<string, unknown> = {}): Promise<{ h2: MemoryH2Server; request: () => Promise<HttpMessage> }> {
    const runtime = new MemoryRuntime({ seed: 1 });
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: cdsClusters }));
    await MemoryHttpServer.listen(runtime, UPSTREAM_PORT, (_req, res) => res.respond(200, "from upstream"));
    const h2 = await MemoryH2Server.listen(runtime, AUTHZ_PORT, {});
    // An empty CheckResponse: its status is OK (allowed).
    h2.onRequest = (ex) => {
      ex.stream.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
      ex.stream.sendData(new Uint8Array(5), false);
      ex.stream.sendTrailers(["grpc-status", "0"]);
    };
    const config = httpProxyConfig({
      listenPort: PROXY_PORT,
      clusters: { backend: [UPSTREAM_PORT] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: {
        http_filters: [
          { name: "envoy.filters.http.ext_authz", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", grpc_service: { envoy_grpc: { cluster_name: "authz" }, timeout: "0.5s" }, ...extra } },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    server = await startProxy(runtime, { ...config, dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } });
    return {
      h2,
      async request() {
        const client = new MemoryHttpClient(runtime, PROXY_PORT);
        client.request("GET", "/");
        await runtime.settle();
        const response = client.responses[0];
        if (!response) throw new Error("no response");
        return response;
      },
    };
  }

  test("the cluster the CDS file adds takes the Check calls", async () => {
    const h2Cluster = { ...authzCluster(), typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } } } };
    const proxy = await setUpGrpc([h2Cluster]);
    const response = await proxy.request();
    expect(response.status).toBe(200);
    expect(response.text()).toBe("from upstream");
    expect(proxy.h2.exchanges.map((ex) => ex.header(":path"))).toEqual(["/envoy.service.auth.v3.Authorization/Check"]);
  });

  test("no such cluster (yet): the call closes Unavailable — 403 (status_on_error changes it), ext_authz.error; failure_mode_allow lets it on", async () => {
    const proxy = await setUpGrpc([]);
    const response = await proxy.request();
    expect(response.status).toBe(403);
    expect((server!.stats.get("http.ingress_http.ext_authz.error") as { value: number }).value).toBe(1);
    expect(proxy.h2.exchanges).toHaveLength(0);
    // The gRPC client's answer, as Envoy's: Unavailable (14) "Cluster not available", before send() returns.
    const failures: [number, string][] = [];
    const call = new GrpcAsyncClient(server!).send({ clusterName: "authz", authority: "", initialMetadata: [] }, "/a.B/C", new Uint8Array(0), { onSuccess: () => failures.push([0, "success"]), onFailure: (status, message) => failures.push([status, message]) }, 1000);
    expect(call).toBeUndefined();
    expect(failures).toEqual([[14, "Cluster not available"]]);

    server!.stop("next");
    expect((await (await setUpGrpc([], { status_on_error: { code: "ServiceUnavailable" } })).request()).status).toBe(503);
    server!.stop("next");
    const allowed = await (await setUpGrpc([], { failure_mode_allow: true })).request();
    expect(allowed.status).toBe(200);
    expect((server!.stats.get("http.ingress_http.ext_authz.failure_mode_allowed") as { value: number }).value).toBe(1);
  });
});
