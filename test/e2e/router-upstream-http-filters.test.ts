/**
 * The router's upstream_http_filters on every runtime, over real sockets with a real
 * origin: header_mutation in the router's list adds a request header the origin sees (and a
 * response header the client sees) on the attempts to a cluster without http_filters; a
 * cluster's own http_filters win over the router's (Envoy's UpstreamRequest,
 * source/common/router/upstream_request.cc). Then the same router arriving over LDS from a
 * management server (an HCM from xDS).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as http from "node:http";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { LISTENER, XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const mutation = (request: string, response: string) => ({
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: {
      request_mutations: [{ append: { header: { key: request, value: "on" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }],
      response_mutations: [{ append: { header: { key: response, value: "seen" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }],
    },
  },
});
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", upstream_http_filters: [mutation("x-router-filter", "x-router-filter-response"), CODEC] },
};
const ROUTES = [
  { match: { prefix: "/own" }, route: { cluster: "own" } },
  { match: { prefix: "/" }, route: { cluster: "plain" } },
];

/** The origin says which filters' request headers it saw. */
const echo = (req: { headers: http.IncomingHttpHeaders }, res: http.ServerResponse) => {
  res.setHeader("x-origin-saw-router", String(req.headers["x-router-filter"]));
  res.setHeader("x-origin-saw-cluster", String(req.headers["x-cluster-filter"]));
  res.end("ok");
};

/** Two clusters on the origin: "plain" (no HttpProtocolOptions), "own" (a header_mutation of its own). */
function clusters(port: number): Record<string, unknown>[] {
  const cluster = (name: string, extra: object = {}) => ({
    name,
    type: "STATIC",
    connect_timeout: "1s",
    ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  });
  const own = { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: [mutation("x-cluster-filter", "x-cluster-filter-response"), CODEC] } };
  return [cluster("plain"), cluster("own", { typed_extension_protocol_options: own })];
}

async function expectFiltered(port: number, agent: Agent): Promise<void> {
  const plain = await request(`http://127.0.0.1:${port}/plain`, { dispatcher: agent });
  expect(plain.statusCode).toBe(200);
  expect(await plain.body.text()).toBe("ok");
  expect(plain.headers["x-origin-saw-router"]).toBe("on");
  expect(plain.headers["x-origin-saw-cluster"]).toBe("undefined");
  expect(plain.headers["x-router-filter-response"]).toBe("seen");
  // The cluster's own list wins: the router's never runs for it.
  const own = await request(`http://127.0.0.1:${port}/own`, { dispatcher: agent });
  expect(own.statusCode).toBe(200);
  await own.body.text();
  expect(own.headers["x-origin-saw-router"]).toBe("undefined");
  expect(own.headers["x-origin-saw-cluster"]).toBe("on");
  expect(own.headers["x-cluster-filter-response"]).toBe("seen");
  expect(own.headers["x-router-filter-response"]).toBeUndefined();
}

describe.each(RUNTIMES)("the router's upstream_http_filters on %s", (runtime) => {
  let origin: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const agent = new Agent({ connections: 2 });

  beforeAll(async () => {
    origin = await httpUpstream(echo);
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: {},
      routes: [],
      virtualHosts: [{ name: "all", domains: ["*"], routes: ROUTES }],
      hcm: { http_filters: [ROUTER] },
    }) as { static_resources: { clusters: unknown[] } };
    config.static_resources.clusters = clusters(origin.port);
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await origin?.close();
  });

  test("a cluster without http_filters runs the router's; one with its own runs those", async () => {
    await expectFiltered(port, agent);
  });
});

describe.each(RUNTIMES)("the router's upstream_http_filters over LDS on %s", (runtime) => {
  let origin: HttpUpstream;
  let controlPlane: XdsControlPlane;
  let proxy: ProxyProcess | undefined;
  let port: number;
  const agent = new Agent({ connections: 2 });

  beforeAll(async () => {
    origin = await httpUpstream(echo);
    [port] = [await freePort()];
    const adminPort = await freePort();
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const hcm = {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: "dyn",
      route_config: { name: "inline", virtual_hosts: [{ name: "all", domains: ["*"], routes: ROUTES }] },
      http_filters: [ROUTER],
    };
    const listener = { name: "dyn", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] };
    controlPlane.setSnapshot(LISTENER, "l1", [listener]);
    const ads = { ads: {}, resource_api_version: "V3" };
    proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] }, lds_config: ads },
        static_resources: { clusters: [xdsCluster(cpPort), ...clusters(origin.port)] },
      },
      2,
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await controlPlane?.stop();
    await agent.close();
    await origin?.close();
  });

  test("an HCM from LDS whose router has upstream_http_filters: ACKed, and its attempts run them", async () => {
    expect(await eventually(async () => controlPlane.requestsOf(LISTENER).some((r) => r.versionInfo === "l1" && r.errorDetail === undefined), (acked) => acked)).toBe(true);
    await expectFiltered(port, agent);
  });
});
