/**
 * ORIGINAL_DST clusters through the proxy on the memory runtime (Envoy's
 * original_dst_cluster.cc): the destination from the use_http_header header, the
 * metadata_key dynamic metadata, or the local address proxy_protocol restored;
 * upstream_port_override; hosts made on demand and removed after cleanup_interval unused;
 * no destination → 503 "no healthy upstream"; a request sent back to the proxy itself
 * ends on the cluster's circuit breakers.
 */
import { afterEach, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../core/port.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

const stat = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;

function originalDst(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "dst", type: "ORIGINAL_DST", lb_policy: "CLUSTER_PROVIDED", connect_timeout: "1s", original_dst_lb_config: { use_http_header: true }, ...extra };
}

/** Upstreams on 8081 ("a") and 8082 ("b"); the proxy's one route goes to the ORIGINAL_DST cluster `dst`. */
async function setup(cluster: Record<string, unknown>, options: { filters?: object[]; route?: Record<string, unknown>; clusters?: Record<string, unknown>[] } = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 7 });
  upstreams.push(await MemoryHttpServer.listen(runtime, 8081, (_req, res) => res.respond(200, "a")));
  upstreams.push(await MemoryHttpServer.listen(runtime, 8082, (_req, res) => res.respond(200, "b")));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: {},
    routes: [{ match: { prefix: "/" }, action: { route: { cluster: "dst", ...options.route } } }],
    ...(options.filters && {
      hcm: { http_filters: [...options.filters, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }] },
    }),
  }) as { static_resources: { clusters: Record<string, unknown>[] } };
  config.static_resources.clusters.push(cluster, ...(options.clusters ?? []));
  server = await startProxy(runtime, config);
}

async function get(headers: Record<string, string> = {}, settleMs = 1000): Promise<string> {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/", { headers });
  await runtime.settle(settleMs);
  const response = client.responses[0];
  client.socket.close();
  return response ? `${response.status} ${response.text()}` : "none";
}

test("use_http_header: x-envoy-original-dst-host picks the upstream; a host per destination, made on demand", async () => {
  await setup(originalDst());
  expect(stat("cluster.dst.membership_total")).toBe(0);
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8082" })).toBe("200 b");
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(stat("cluster.dst.membership_total")).toBe(2);
  expect(stat("cluster.dst.membership_change")).toBe(2);
  expect(stat("cluster.dst.upstream_rq_total")).toBe(3);
  expect(stat("cluster.dst.upstream_cx_total")).toBe(2);
});

test("a request mirror to an ORIGINAL_DST cluster goes to the destination in the shadow's own headers", async () => {
  await setup(originalDst(), { route: { request_mirror_policies: [{ cluster: "dst" }] } });
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  // The request and its shadow, both to 8081's one host.
  expect(stat("cluster.dst.upstream_rq_total")).toBe(2);
  expect(stat("cluster.dst.membership_total")).toBe(1);
});

test("ext_authz's http_service to an ORIGINAL_DST cluster: the check request's own headers name its destination", async () => {
  const extAuthz = {
    name: "envoy.filters.http.ext_authz",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
      http_service: {
        server_uri: { uri: "http://authz", cluster: "dst", timeout: "1s" },
        authorization_request: { headers_to_add: [{ key: "x-envoy-original-dst-host", value: "127.0.0.1:8082" }] },
      },
    },
  };
  await setup(originalDst(), { filters: [extAuthz] });
  // The check goes to 8082 (its 200 allows), the request to 8081.
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(server.clusterManager.get("dst")!.prioritySet.allHosts().map(String).sort()).toEqual(["127.0.0.1:8081", "127.0.0.1:8082"]);
});

test("a new host's hostname is the cluster's name followed by ip:port (Envoy's addHost)", async () => {
  await setup(originalDst());
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(server.clusterManager.get("dst")!.prioritySet.allHosts().map((host) => host.hostname)).toEqual(["dst127.0.0.1:8081"]);
});

test("original_dst_host_invalid exists, at 0, on a cluster of any type (Envoy's ALL_CLUSTER_TRAFFIC_STATS)", async () => {
  const plain = { name: "plain", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "plain", endpoints: [] } };
  await setup(originalDst(), { clusters: [plain] });
  expect(server.stats.get("cluster.plain.original_dst_host_invalid")).toBeDefined();
});

test("no destination (no header, and no restored local address): 503 no healthy upstream, as Envoy", async () => {
  await setup(originalDst());
  expect(await get()).toBe("503 no healthy upstream");
  expect(stat("cluster.dst.upstream_cx_none_healthy")).toBe(1);
  expect(stat("cluster.dst.original_dst_host_invalid")).toBe(0);
});

test("a header that is not ip:port: 503, original_dst_host_invalid counted", async () => {
  await setup(originalDst());
  for (const bad of ["localhost:8081", "127.0.0.1", "127.0.0.1:99999", "[::1]8081", "127.0.0.1:80x"]) {
    expect(await get({ "x-envoy-original-dst-host": bad })).toBe("503 no healthy upstream");
  }
  expect(stat("cluster.dst.original_dst_host_invalid")).toBe(5);
  expect(stat("cluster.dst.membership_total")).toBe(0);
});

test("use_http_header off: the header is not read", async () => {
  await setup(originalDst({ original_dst_lb_config: {} }));
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("503 no healthy upstream");
});

test("http_header_name and upstream_port_override", async () => {
  await setup(originalDst({ original_dst_lb_config: { use_http_header: true, http_header_name: "X-Dest", upstream_port_override: 8082 } }));
  expect(await get({ "x-dest": "127.0.0.1:1" })).toBe("200 b");
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("503 no healthy upstream");
});

test("metadata_key: the stream's dynamic metadata (header_to_metadata) before the header", async () => {
  const headerToMetadata = {
    name: "envoy.filters.http.header_to_metadata",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
      request_rules: [{ header: "x-meta-dst", on_header_present: { metadata_namespace: "dst.ns", key: "host" } }],
    },
  };
  await setup(originalDst({ original_dst_lb_config: { use_http_header: true, metadata_key: { key: "dst.ns", path: [{ key: "host" }] } } }), { filters: [headerToMetadata] });
  expect(await get({ "x-meta-dst": "127.0.0.1:8082", "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 b");
  // No metadata: the header.
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  // Metadata that is not ip:port: counted, then the header.
  expect(await get({ "x-meta-dst": "nope", "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(stat("cluster.dst.original_dst_host_invalid")).toBe(1);
});

test("cleanup_interval: a host stays while picked or connected, and goes once unused for a whole interval", async () => {
  // The upstream connection closes 1 s after its request (idle_timeout), so the host is unused then.
  const idle = { common_http_protocol_options: { idle_timeout: "1s" } };
  await setup(originalDst({ cleanup_interval: "2s", ...idle }));
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" }, 10)).toBe("200 a");
  expect(stat("cluster.dst.membership_total")).toBe(1);
  // First cleanup (2 s): it was picked since the last one — kept, marked unpicked.
  await runtime.settle(2000);
  expect(stat("cluster.dst.membership_total")).toBe(1);
  expect(stat("cluster.dst.upstream_cx_active")).toBe(0);
  // Second (4 s): unpicked and with no connection left — removed.
  await runtime.settle(2000);
  expect(stat("cluster.dst.membership_total")).toBe(0);
  expect(stat("cluster.dst.membership_change")).toBe(2);
  // A new request makes it again.
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" })).toBe("200 a");
  expect(stat("cluster.dst.membership_total")).toBe(1);
});

test("a host with an open connection is kept past the cleanup (Envoy's original_dst_rely_on_idle_timeout)", async () => {
  await setup(originalDst({ cleanup_interval: "1s" }));
  expect(await get({ "x-envoy-original-dst-host": "127.0.0.1:8081" }, 10)).toBe("200 a");
  // The pooled connection stays open (the default idle_timeout is an hour).
  await runtime.settle(5000);
  expect(stat("cluster.dst.upstream_cx_active")).toBe(1);
  expect(stat("cluster.dst.membership_total")).toBe(1);
});

test("a request whose destination is the proxy itself comes back to it until the circuit breakers end the chain (no loop guard, as Envoy)", async () => {
  await setup(originalDst({ circuit_breakers: { thresholds: [{ max_requests: 3 }] } }), { route: { timeout: "2s" } });
  expect(await get({ "x-envoy-original-dst-host": `127.0.0.1:${PROXY}` }, 3000)).toMatch(/^503 /);
  expect(stat("cluster.dst.upstream_rq_total")).toBe(3);
  expect(stat("cluster.dst.upstream_rq_pending_overflow")).toBe(1);
});

class Peer implements SocketHandler {
  received = "";
  closed: CloseReason | undefined;
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.received += new TextDecoder("latin1").decode(data);
  }
  onEnd(): void {
    this.ended = true;
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
}

/** tcp_proxy to `dst` behind proxy_protocol (requests without a header let through); raw upstreams on 8081 and 8082. */
async function tcpSetup(): Promise<Map<number, Peer[]>> {
  runtime = new MemoryRuntime({ seed: 7 });
  const accepted = new Map<number, Peer[]>([[8081, []], [8082, []]]);
  for (const port of accepted.keys()) await runtime.listen({ address: "127.0.0.1", port }, (socket) => accepted.get(port)!.push(new Peer(socket)));
  server = await startProxy(runtime, {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: PROXY } },
          listener_filters: [
            {
              name: "envoy.filters.listener.proxy_protocol",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol", allow_requests_without_proxy_protocol: true },
            },
          ],
          filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "dst" } }] }],
        },
      ],
      clusters: [originalDst({ original_dst_lb_config: {} })],
    },
  });
  return accepted;
}

test("tcp_proxy: the local address proxy_protocol restored is the destination", async () => {
  const accepted = await tcpSetup();
  new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY })).socket.write(new TextEncoder().encode("PROXY TCP4 192.0.2.1 127.0.0.1 5555 8082\r\nhello"));
  await runtime.settle(100);
  expect(accepted.get(8082)!.map((peer) => peer.received)).toEqual(["hello"]);
  expect(accepted.get(8081)).toEqual([]);
  expect(stat("cluster.dst.membership_total")).toBe(1);
});

test("tcp_proxy: without a restored local address (no PROXY header) there is no host, and the connection closes", async () => {
  const accepted = await tcpSetup();
  const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
  client.socket.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  await runtime.settle(100);
  expect(client.ended || client.closed !== undefined).toBe(true);
  expect([...accepted.values()].flat()).toEqual([]);
  expect(stat("cluster.dst.upstream_cx_none_healthy")).toBe(1);
});
