/**
 * The state-of-the-world gRPC mux (core/config/xds/grpc-mux.ts, Envoy's GrpcMuxImpl) on
 * the memory runtime, against a memory management server (test/memory/support/
 * xds-server.ts) that answers only when told: the first request, ACK and NACK (version,
 * nonce, error_detail), connected_state, reconnect after the port's back-off with the
 * last versions, requests owed while the stream connects (one per type, none lost),
 * unsubscribing (empty names, never a wildcard on a new stream), the RDS/EDS cache
 * pruned, coalescing of responses not yet applied, and a server whose CDS is ACKed
 * before its clusters warm (Envoy's CdsApiImpl).
 */
import { afterEach, describe, expect, test } from "vitest";
import { ADS_METHOD, GrpcMux } from "../../../../core/config/xds/grpc-mux.ts";
import type { RawDiscoveryResponse } from "../../../../core/config/xds/raw-discovery-response.ts";
import type { WatchCallbacks } from "../../../../core/config/xds/subscription-types.ts";
import type { Server } from "../../../../core/server.ts";
import { ProtoWriter } from "../../../../core/util/protobuf-wire.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "../../../memory/support/proxy.ts";
import { MemoryXdsServer } from "../../../memory/support/xds-server.ts";
import { LISTENER, ROUTE, XdsControlPlane } from "../../../support/xds-control-plane.ts";

const CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const XDS_PORT = 18000;
const HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

let runtime: MemoryRuntime;
let cp: MemoryXdsServer;
let muxes: GrpcMux[] = [];

afterEach(() => {
  for (const mux of muxes) mux.stop();
  muxes = [];
  cp?.close();
});

const xdsCluster = {
  name: "xds",
  type: "STATIC",
  connect_timeout: "1s",
  typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } },
  load_assignment: { cluster_name: "xds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: XDS_PORT } } } }] }] },
};

async function setup(): Promise<Server> {
  runtime = new MemoryRuntime({ seed: 7 });
  cp = await MemoryXdsServer.listen(runtime, XDS_PORT);
  return startProxy(runtime, { node: { id: "n1", cluster: "c1" }, static_resources: { clusters: [xdsCluster] } });
}

function newMux(server: Server): GrpcMux {
  const mux = new GrpcMux(server, { clusterName: "xds", authority: "", initialMetadata: [] }, ADS_METHOD, { id: "n1", cluster: "c1" }, false);
  muxes.push(mux);
  return mux;
}

/** Let `ms` of virtual time pass, in steps, with promises settling between them. */
/** A proxy whose `dynamic` xDS comes over ADS from a fresh memory control plane; `started()` once it serves. */
async function startOverAds(dynamic: Record<string, unknown>): Promise<{ started: () => Server | undefined }> {
  runtime = new MemoryRuntime({ seed: 7 });
  cp = await MemoryXdsServer.listen(runtime, XDS_PORT);
  const starting = startProxy(runtime, {
    node: { id: "n1", cluster: "c1" },
    static_resources: { clusters: [xdsCluster] },
    dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] }, ...dynamic },
  });
  let started: Server | undefined;
  void starting.then((s) => (started = s));
  await settle();
  return { started: () => started };
}

async function elapse(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    runtime.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** Settle promises and let the memory sockets carry what was written, without virtual time passing much. */
async function settle(): Promise<void> {
  await elapse(50);
}

/** A Cluster resource with only its name (field 1). */
const clusterResource = (name: string) => new ProtoWriter().string(1, name).finish();
/** A ClusterLoadAssignment with only its cluster_name (field 1). */
const assignment = (name: string) => new ProtoWriter().string(1, name).finish();

/** Watch callbacks recording each update; `refuse` makes them throw (NACK). */
function recorder(options: { refuse?: string; hold?: Promise<void> } = {}): WatchCallbacks & { updates: RawDiscoveryResponse[]; failures: string[] } {
  const updates: RawDiscoveryResponse[] = [];
  const failures: string[] = [];
  return {
    updates,
    failures,
    async onConfigUpdate(response) {
      updates.push(response);
      if (options.hold) await options.hold;
      if (options.refuse) throw new Error(options.refuse);
    },
    onConfigUpdateFailed(reason) {
      failures.push(reason);
    },
  };
}

const gauge = (server: Server, name: string) => (server.stats.get(name) as { value: number } | undefined)?.value;

describe("GrpcMux (state of the world)", () => {
  test("first request, ACK, NACK: version_info, nonce, node, error_detail", async () => {
    const server = await setup();
    const mux = newMux(server);
    let refuse: string | undefined;
    const updates: string[] = [];
    mux.watch(CDS, [], {
      async onConfigUpdate(response) {
        updates.push(response.versionInfo);
        if (refuse) throw new Error(refuse);
      },
      onConfigUpdateFailed() {},
    });
    await settle();
    const stream = cp.last;
    expect(stream.header(":path")).toEqual([ADS_METHOD]);
    expect(stream.requests).toEqual([{ versionInfo: "", nodeId: "n1", resourceNames: [], typeUrl: CDS, responseNonce: "", error: undefined }]);
    stream.respond(CDS, "v1", "n-1", [clusterResource("a")]);
    await settle();
    expect(updates).toEqual(["v1"]);
    expect(stream.requests[1]).toMatchObject({ versionInfo: "v1", responseNonce: "n-1", error: undefined });
    refuse = "bad cluster";
    stream.respond(CDS, "v2", "n-2", [clusterResource("a")]);
    await settle();
    // NACK: the version in use, the refused response's nonce, the reason (code 13 INTERNAL).
    expect(stream.requests[2]).toMatchObject({ versionInfo: "v1", responseNonce: "n-2", error: { code: 13, message: "bad cluster" } });
  });

  test("rate_limit_settings: a request waits for a token (control_plane.rate_limit_enforced, pending_requests), then goes when one comes (Envoy's GrpcStream token bucket)", async () => {
    const server = await setup();
    const mux = new GrpcMux(server, { clusterName: "xds", authority: "", initialMetadata: [] }, ADS_METHOD, { id: "n1", cluster: "c1" }, false, undefined, { maxTokens: 1, fillRate: 1 });
    muxes.push(mux);
    mux.watch(CDS, [], recorder());
    await settle();
    const stream = cp.last;
    expect(stream.requests).toHaveLength(1);
    stream.respond(CDS, "v1", "n-1", [clusterResource("a")]);
    await settle();
    // The ACK is owed, the bucket empty: held, counted.
    expect(stream.requests).toHaveLength(1);
    expect(gauge(server, "control_plane.rate_limit_enforced")).toBe(1);
    expect(gauge(server, "control_plane.pending_requests")).toBe(1);
    await elapse(1000);
    expect(stream.requests).toHaveLength(2);
    expect(stream.requests[1]).toMatchObject({ versionInfo: "v1", responseNonce: "n-1" });
    expect(gauge(server, "control_plane.pending_requests")).toBe(0);
  });

  test("rate_limit_settings in the config: Envoy's defaults (100 tokens, 10/s); fill_rate must be > 0; refused with DELTA_GRPC and REST", async () => {
    const { apiConfigSource } = await import("../../../../core/config/xds/config-source-schema.ts");
    const grpc = { api_type: "GRPC", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] };
    expect(apiConfigSource.parse({ ...grpc, rate_limit_settings: {} })).toMatchObject({ rateLimit: { maxTokens: 100, fillRate: 10 } });
    expect(apiConfigSource.parse({ ...grpc, rate_limit_settings: { max_tokens: 5, fill_rate: 0.5 } })).toMatchObject({ rateLimit: { maxTokens: 5, fillRate: 0.5 } });
    expect(apiConfigSource.parse(grpc)).not.toHaveProperty("rateLimit");
    expect(apiConfigSource.safeParse({ ...grpc, rate_limit_settings: { fill_rate: 0 } }).success).toBe(false);
    expect(apiConfigSource.safeParse({ ...grpc, api_type: "DELTA_GRPC", rate_limit_settings: {} }).success).toBe(false);
    expect(apiConfigSource.safeParse({ api_type: "REST", cluster_names: ["xds"], refresh_delay: "1s", rate_limit_settings: {} }).success).toBe(false);
  });

  test("connected_state is 1 once the stream is started, before any response (Envoy's establishNewStream); 0 when it ends", async () => {
    const server = await setup();
    const mux = newMux(server);
    mux.watch(CDS, [], recorder());
    await settle();
    expect(cp.streams).toHaveLength(1);
    expect(gauge(server, "control_plane.connected_state")).toBe(1);
    cp.last.close(14);
    await settle();
    expect(gauge(server, "control_plane.connected_state")).toBe(0);
  });

  test("a stream that ends is opened again after the back-off, asking again with the last accepted version and the node", async () => {
    const server = await setup();
    const mux = newMux(server);
    const callbacks = recorder();
    mux.watch(CDS, [], callbacks);
    await settle();
    cp.last.respond(CDS, "v1", "n-1", [clusterResource("a")]);
    await settle();
    cp.last.close(14);
    await settle();
    expect(callbacks.failures).toHaveLength(1);
    expect(cp.streams).toHaveLength(1);
    // Envoy's back-off: base 500 ms, jittered: the new stream comes within it, not at once.
    await elapse(600);
    expect(cp.streams).toHaveLength(2);
    expect(cp.last.requests[0]).toEqual({ versionInfo: "v1", nodeId: "n1", resourceNames: [], typeUrl: CDS, responseNonce: "", error: undefined });
  });

  test("requests asked for while the stream connects are owed per type: none is lost, one request carries every name", async () => {
    const server = await setup();
    const mux = newMux(server);
    const names = Array.from({ length: 1100 }, (_, i) => `c${String(i).padStart(4, "0")}`);
    // Synchronously, before the stream has a connection: more than the stream's pre-ready queue holds.
    for (const name of names) mux.watch(EDS, [name], recorder());
    await settle();
    const eds = cp.last.of(EDS);
    expect(eds.length).toBeGreaterThan(0);
    expect(eds.length).toBeLessThan(5);
    expect(eds.at(-1)!.resourceNames).toEqual(names);
  });

  test("the last named watch removed: an empty list (unsubscribe); a new stream does not ask for that type (it would be a wildcard); its cache is gone", async () => {
    const server = await setup();
    const mux = newMux(server);
    mux.watch(CDS, [], recorder());
    const first = recorder();
    const watch = mux.watch(EDS, ["a"], first);
    await settle();
    cp.last.respond(EDS, "e1", "n-1", [assignment("a")]);
    await settle();
    expect(first.updates).toHaveLength(1);
    watch.remove();
    await settle();
    expect(cp.last.of(EDS).at(-1)).toMatchObject({ resourceNames: [], versionInfo: "e1" });
    cp.last.close(14);
    await elapse(1000);
    expect(cp.streams).toHaveLength(2);
    expect(cp.last.requests.map((r) => r.typeUrl)).toEqual([CDS]);
    // Watched again: asked for by name, and not served from a cache of what nothing wanted.
    const again = recorder();
    mux.watch(EDS, ["a"], again);
    await settle();
    expect(cp.last.of(EDS).at(-1)!.resourceNames).toEqual(["a"]);
    expect(again.updates).toHaveLength(0);
  });

  test("a replaced EDS watch (same name added before the old one is removed) gets the cached resource at once", async () => {
    const server = await setup();
    const mux = newMux(server);
    const old = mux.watch(EDS, ["a"], recorder());
    await settle();
    cp.last.respond(EDS, "e1", "n-1", [assignment("a")]);
    await settle();
    const next = recorder();
    mux.watch(EDS, ["a"], next);
    old.remove();
    await settle();
    expect(next.updates.map((u) => u.versionInfo)).toEqual(["e1"]);
  });

  test("responses that come while one applies are coalesced: only the newest state applies and is ACKed; EDS ones merge by name", async () => {
    const server = await setup();
    const mux = newMux(server);
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const cds = recorder({ hold });
    mux.watch(CDS, [], cds);
    await settle();
    const stream = cp.last;
    stream.respond(CDS, "v1", "n-1", [clusterResource("a")]);
    await settle();
    stream.respond(CDS, "v2", "n-2", [clusterResource("b")]);
    stream.respond(CDS, "v3", "n-3", [clusterResource("c")]);
    await settle();
    release();
    await settle();
    expect(cds.updates.map((u) => u.versionInfo)).toEqual(["v1", "v3"]);
    expect(stream.of(CDS).slice(1).map((r) => [r.versionInfo, r.responseNonce])).toEqual([
      ["v1", "n-1"],
      ["v3", "n-3"],
    ]);

    // EDS: responses naming different clusters both apply.
    let releaseEds!: () => void;
    const holdEds = new Promise<void>((resolve) => (releaseEds = resolve));
    const x = recorder({ hold: holdEds });
    const a = recorder();
    const b = recorder();
    mux.watch(EDS, ["x"], x);
    mux.watch(EDS, ["a"], a);
    mux.watch(EDS, ["b"], b);
    await settle();
    stream.respond(EDS, "e1", "n-4", [assignment("x")]);
    await settle();
    stream.respond(EDS, "e2", "n-5", [assignment("a")]);
    stream.respond(EDS, "e3", "n-6", [assignment("b")]);
    await settle();
    releaseEds();
    await settle();
    expect([a.updates.map((u) => u.versionInfo), b.updates.map((u) => u.versionInfo)]).toEqual([["e3"], ["e3"]]);
    expect(stream.of(EDS).at(-1)).toMatchObject({ versionInfo: "e3", responseNonce: "n-6" });
  });
});

describe("CDS from a management server", () => {
  test("a CDS update is ACKed before its EDS cluster warms; a server that sends EDS only after that ACK is served", async () => {
    const proxy = await startOverAds({ cds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" } });
    // Cluster "e": EDS over ADS (Cluster fields: name 1, type 2 = EDS 3, eds_cluster_config 3 {eds_config 1 {ads 3, resource_api_version 6 = V3 2}}, connect_timeout 4).
    const edsCluster = new ProtoWriter()
      .string(1, "e")
      .uint(2, 3)
      .message(3, (eds) => eds.message(1, (source) => source.message(3, () => {}).uint(6, 2)))
      .message(4, (d) => d.uint(1, 1))
      .finish();
    cp.onRequest = (stream, request) => {
      // The EDS answer only once the CDS update was ACKed.
      if (request.typeUrl === CDS && request.responseNonce === "n-1" && request.error === undefined) {
        runtime.setTimeout(() => {
          const cla = new ProtoWriter()
            .string(1, "e")
            .message(2, (l) => l.message(2, (lb) => lb.message(1, (ep) => ep.message(1, (addr) => addr.message(1, (sa) => sa.string(2, "127.0.0.1").uint(3, 8080))))))
            .finish();
          stream.respond(EDS, "e1", "n-2", [cla]);
        }, 100);
      }
    };
    cp.last.respond(CDS, "v1", "n-1", [edsCluster]);
    await elapse(1000);
    const stream = cp.last;
    const ack = stream.requests.findIndex((r) => r.typeUrl === CDS && r.responseNonce === "n-1");
    expect(ack).toBeGreaterThan(-1);
    expect(stream.of(CDS)[1]).toMatchObject({ versionInfo: "v1", error: undefined });
    expect(proxy.started()).toBeDefined();
    expect(proxy.started()!.clusterManager.get("e")!.hosts.map((h) => h.port)).toEqual([8080]);
    expect(gauge(proxy.started()!, "cluster_manager.warming_clusters")).toBe(0);
    proxy.started()!.xdsManager.stop();
  });
});

describe("LDS ACKed before its listeners warm (Envoy's LdsApiImpl)", () => {
  test("an LDS update is ACKed while its listener waits for RDS; a server that sends RDS only after that ACK is served; an invalid listener is NACKed", async () => {
    const plane = new XdsControlPlane();
    const any = (resource: Record<string, unknown>) => new Uint8Array(plane.encodeAny(resource).value);
    // RDS over ADS, waiting for its first answer forever: only the route configuration lets the listener serve.
    const forever = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: {} };
    const listener = (name: string, port: number, statPrefix = "l") => ({
      "@type": LISTENER,
      name,
      address: { socket_address: { address: "127.0.0.1", port_value: port } },
      filter_chains: [{ filters: [{ name: "hcm", typed_config: { "@type": HCM, stat_prefix: statPrefix, rds: { route_config_name: "r", config_source: forever }, http_filters: [{ name: "router", typed_config: { "@type": ROUTER } }] } }] }],
    });
    const proxy = await startOverAds({ lds_config: { ads: {}, resource_api_version: "V3" } });
    let rdsSent = false;
    cp.onRequest = (stream, request) => {
      // The RDS answer only once the LDS update was ACKed.
      if (request.typeUrl === LISTENER && request.responseNonce === "n-1" && request.error === undefined && !rdsSent) {
        rdsSent = true;
        runtime.setTimeout(() => stream.respond(ROUTE, "r1", "n-2", [any({ "@type": ROUTE, name: "r", virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] })]), 100);
      }
    };
    cp.last.respond(LISTENER, "v1", "n-1", [any(listener("l", 10080))]);
    await elapse(1000);
    const stream = cp.last;
    expect(stream.of(LISTENER)[1]).toMatchObject({ versionInfo: "v1", responseNonce: "n-1", error: undefined });
    expect(rdsSent).toBe(true);
    expect(proxy.started()).toBeDefined();
    expect(proxy.started()!.listenerManager.get("l")?.boundAddress?.port).toBe(10080);
    expect(gauge(proxy.started()!, "listener_manager.total_listeners_warming")).toBe(0);

    // Two more listeners: "w" warms (its own RDS name is never answered) without holding back "x" (RDS "r", held);
    // both ACKed at once; then "w" is dropped by a newer update before it serves.
    const waiting = { ...listener("w", 10081, "w") };
    (waiting.filter_chains[0]!.filters[0]!.typed_config.rds as { route_config_name: string }).route_config_name = "never";
    stream.respond(LISTENER, "v2", "n-3", [any(listener("l", 10080)), any(waiting), any(listener("x", 10082, "x"))]);
    await elapse(500);
    expect(stream.of(LISTENER).find((r) => r.responseNonce === "n-3")).toMatchObject({ versionInfo: "v2", error: undefined });
    expect(gauge(proxy.started()!, "listener_manager.total_listeners_warming")).toBe(1);
    expect(proxy.started()!.listenerManager.get("w")).toBeUndefined();
    expect(proxy.started()!.listenerManager.get("x")?.boundAddress?.port).toBe(10082);
    expect(stream.of(ROUTE).at(-1)!.resourceNames).toEqual(["never", "r"]);
    // An update of "w" that cannot be built (its access log cannot be opened) is NACKed; the
    // warming "w", already ACKed, warms on (Envoy builds the new listener before replacing it).
    const unbuildable = { ...listener("w", 10081, "w2"), access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: "/no/such/dir/access.log" } }] };
    stream.respond(LISTENER, "v2b", "n-3b", [any(listener("l", 10080)), any(unbuildable), any(listener("x", 10082, "x"))]);
    await elapse(500);
    expect(stream.of(LISTENER).find((r) => r.responseNonce === "n-3b")).toMatchObject({ versionInfo: "v2" });
    expect(stream.of(LISTENER).find((r) => r.responseNonce === "n-3b")!.error).toBeDefined();
    expect(gauge(proxy.started()!, "listener_manager.total_listeners_warming")).toBe(1);
    expect(stream.of(ROUTE).at(-1)!.resourceNames).toEqual(["never", "r"]);
    stream.respond(LISTENER, "v3", "n-4", [any(listener("l", 10080)), any(listener("x", 10082, "x"))]);
    await elapse(500);
    expect(stream.of(LISTENER).find((r) => r.responseNonce === "n-4")).toMatchObject({ versionInfo: "v3", error: undefined });
    expect(gauge(proxy.started()!, "listener_manager.total_listeners_warming")).toBe(0);
    expect(proxy.started()!.listenerManager.get("w")).toBeUndefined();
    // The dropped listener's RDS name is no longer asked for.
    expect(stream.of(ROUTE).at(-1)!.resourceNames).toEqual(["r"]);

    // Invalid (no address): NACKed with the last good version and error_detail; "l" serves on.
    stream.respond(LISTENER, "v4", "n-5", [any({ "@type": LISTENER, name: "bad" })]);
    await elapse(500);
    const nack = stream.of(LISTENER).find((r) => r.responseNonce === "n-5");
    expect(nack).toMatchObject({ versionInfo: "v3" });
    expect(nack!.error).toBeDefined();
    expect(proxy.started()!.listenerManager.get("l")?.boundAddress?.port).toBe(10080);
    proxy.started()!.xdsManager.stop();
  });
});

describe("streams per grpc_service", () => {
  test("two EDS sources on one cluster with different initial_metadata get a stream each, each with its own headers", async () => {
    runtime = new MemoryRuntime({ seed: 7 });
    cp = await MemoryXdsServer.listen(runtime, XDS_PORT);
    const source = (value: string) => ({
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" }, initial_metadata: [{ key: "x-tenant", value }] }] },
      resource_api_version: "V3",
      initial_fetch_timeout: "1s",
    });
    const eds = (name: string, tenant: string) => ({ name, type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: source(tenant) } });
    const starting = startProxy(runtime, { node: { id: "n1" }, static_resources: { clusters: [xdsCluster, eds("a", "one"), eds("b", "two"), eds("c", "one")] } });
    await elapse(1500);
    const server = await starting;
    const streams = cp.streams.filter((s) => s.header(":path")[0] === "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints");
    expect(streams.map((s) => s.header("x-tenant")).sort()).toEqual([["one"], ["two"]]);
    const names = (tenant: string) => streams.find((s) => s.header("x-tenant")[0] === tenant)!.of(EDS).at(-1)!.resourceNames;
    expect(names("one")).toEqual(["a", "c"]);
    expect(names("two")).toEqual(["b"]);
    server.xdsManager.stop();
  });
});


describe("conformance with Envoy's GrpcMuxImpl (audit-xds)", () => {
  const RESOURCE = "type.googleapis.com/envoy.service.discovery.v3.Resource";
  /** A DiscoveryResponse whose resources are given as (type URL, bytes) Anys. */
  const response = (typeUrl: string, version: string, nonce: string, anys: [string, Uint8Array][]) => {
    const writer = new ProtoWriter().string(1, version);
    for (const [type, bytes] of anys) writer.message(2, (any) => any.string(1, type).bytesField(2, bytes));
    return writer.string(4, typeUrl).string(5, nonce).finish();
  };
  /** envoy.service.discovery.v3.Resource: version 1, resource 2 (Any), name 3. */
  const wrapped = (typeUrl: string, name: string, version: string, bytes: Uint8Array | undefined) => {
    const writer = new ProtoWriter().string(1, version);
    if (bytes !== undefined) writer.message(2, (any) => any.string(1, typeUrl).bytesField(2, bytes));
    return writer.string(3, name).finish();
  };

  test("resources wrapped in envoy.service.discovery.v3.Resource are taken (Envoy's DecodedResourceImpl::fromResource); a wrapper without its resource for the version in use (a TTL heartbeat) is skipped", async () => {
    const server = await setup();
    const mux = newMux(server);
    const cds = recorder();
    mux.watch(CDS, [], cds);
    await settle();
    const stream = cp.last;
    stream.send(response(CDS, "v1", "n-1", [[RESOURCE, wrapped(CDS, "a", "v1", clusterResource("a"))], [CDS, clusterResource("b")]]));
    await settle();
    expect(stream.of(CDS)[1]).toMatchObject({ versionInfo: "v1", responseNonce: "n-1", error: undefined });
    expect(cds.updates.map((u) => (u.resources as Record<string, unknown>[]).map((r) => [r["@type"], r["name"]]))).toEqual([
      [
        [CDS, "a"],
        [CDS, "b"],
      ],
    ]);
    // A heartbeat (no resource) for the version in use: skipped, as Envoy's isHeartbeatResource.
    stream.send(response(CDS, "v1", "n-2", [[RESOURCE, wrapped(CDS, "a", "v1", undefined)], [CDS, clusterResource("b")]]));
    await settle();
    expect(stream.of(CDS)[2]).toMatchObject({ versionInfo: "v1", responseNonce: "n-2", error: undefined });
    expect((cds.updates[1]!.resources as Record<string, unknown>[]).map((r) => r["name"])).toEqual(["b"]);
    // A wrapper whose resource is of another type is refused, as any resource of another type.
    stream.send(response(CDS, "v2", "n-3", [[RESOURCE, wrapped(EDS, "a", "v2", assignment("a"))]]));
    await settle();
    expect(stream.of(CDS)[3]).toMatchObject({ versionInfo: "v1", responseNonce: "n-3" });
    expect(stream.of(CDS)[3]!.error?.message).toContain("does not match the message-wide type URL");
  });

  test("a CDS update naming several EDS clusters sends one EDS request with every name, before the CDS ACK (Envoy's CdsApiHelper pauses EDS)", async () => {
    const proxy = await startOverAds({ cds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" } });
    // Cluster fields: name 1, type 2 = EDS 3, eds_cluster_config 3 {eds_config 1 {ads 3, resource_api_version 6 = V3 2}}, connect_timeout 4.
    const edsCluster = (name: string) =>
      new ProtoWriter()
        .string(1, name)
        .uint(2, 3)
        .message(3, (eds) => eds.message(1, (source) => source.message(3, () => {}).uint(6, 2)))
        .message(4, (d) => d.uint(1, 1))
        .finish();
    const stream = cp.last;
    stream.respond(CDS, "v1", "n-1", ["a", "b", "c", "d"].map(edsCluster));
    // The clusters' code loads on first use (real I/O under virtual time): wait for the ACK.
    for (let i = 0; i < 100 && !stream.requests.some((r) => r.typeUrl === CDS && r.responseNonce === "n-1"); i++) await elapse(100);
    const afterCds = stream.requests.slice(stream.requests.findIndex((r) => r.typeUrl === CDS && r.responseNonce === "n-1") - 1);
    expect(stream.of(EDS).map((r) => r.resourceNames)).toEqual([["a", "b", "c", "d"]]);
    expect(afterCds.map((r) => r.typeUrl)).toEqual([EDS, CDS]);
    stream.respond(EDS, "e1", "n-2", ["a", "b", "c", "d"].map(assignment));
    await elapse(500);
    expect(proxy.started()).toBeDefined();
    // Envoy's GrpcSubscriptionImpl: an attempt at start() and one per update; update_duration per accepted update.
    expect(proxy.started()!.stats.get("cluster_manager.cds.update_attempt")).toMatchObject({ value: 2 });
    expect(proxy.started()!.stats.get("cluster_manager.cds.update_success")).toMatchObject({ value: 1 });
    expect(proxy.started()!.stats.get("cluster.a.update_attempt")).toMatchObject({ value: 2 });
    expect(proxy.started()!.stats.get("cluster_manager.cds.update_duration")).toMatchObject({ count: 1 });
    expect(proxy.started()!.stats.get("cluster.a.update_duration")).toMatchObject({ count: 1 });
    // Two clusters go, one comes: one EDS request with the new names.
    stream.respond(CDS, "v2", "n-3", ["a", "b", "e"].map(edsCluster));
    await elapse(500);
    expect(stream.of(EDS).slice(2).map((r) => r.resourceNames)).toEqual([["a", "b", "e"]]);
    proxy.started()!.xdsManager.stop();
  });
});

describe("LDS pauses RDS (audit-xds)", () => {
  test("an LDS update naming several route configurations sends one RDS request with every name, before the LDS ACK (Envoy's LdsApiImpl pauses RDS)", async () => {
    runtime = new MemoryRuntime({ seed: 7 });
    cp = await MemoryXdsServer.listen(runtime, XDS_PORT);
    const plane = new XdsControlPlane();
    const any = (resource: Record<string, unknown>) => new Uint8Array(plane.encodeAny(resource).value);
    const forever = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: {} };
    const listener = (name: string, port: number) => ({
      "@type": LISTENER,
      name,
      address: { socket_address: { address: "127.0.0.1", port_value: port } },
      filter_chains: [{ filters: [{ name: "hcm", typed_config: { "@type": HCM, stat_prefix: name, rds: { route_config_name: `r-${name}`, config_source: forever }, http_filters: [{ name: "router", typed_config: { "@type": ROUTER } }] } }] }],
    });
    const starting = startProxy(runtime, {
      node: { id: "n1", cluster: "c1" },
      static_resources: { clusters: [xdsCluster] },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] }, lds_config: { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0.5s" } },
    });
    let started: Server | undefined;
    void starting.then((s) => (started = s));
    await settle();
    const stream = cp.last;
    stream.respond(LISTENER, "v1", "n-1", [any(listener("a", 10080)), any(listener("b", 10081)), any(listener("c", 10082))]);
    // The listeners' code loads on first use (real I/O under virtual time): wait for the ACK.
    for (let i = 0; i < 100 && !stream.requests.some((r) => r.typeUrl === LISTENER && r.responseNonce === "n-1"); i++) await elapse(100);
    expect(stream.of(ROUTE).map((r) => r.resourceNames)).toEqual([["r-a", "r-b", "r-c"]]);
    const ack = stream.requests.findIndex((r) => r.typeUrl === LISTENER && r.responseNonce === "n-1");
    expect(stream.requests[ack - 1]!.typeUrl).toBe(ROUTE);
    await elapse(1000);
    started?.xdsManager.stop();
  });
});

describe("a response refused before it reaches the owners (audit-xds)", () => {
  test("a CDS response with a resource of another type is NACKed and counted in cluster_manager.cds.update_rejected (Envoy's onConfigUpdateFailed(UpdateRejected) on every watch)", async () => {
    runtime = new MemoryRuntime({ seed: 7 });
    cp = await MemoryXdsServer.listen(runtime, XDS_PORT);
    const starting = startProxy(runtime, {
      node: { id: "n1", cluster: "c1" },
      static_resources: { clusters: [xdsCluster] },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] }, cds_config: { ads: {}, resource_api_version: "V3" } },
    });
    await settle();
    const stream = cp.last;
    // A ClusterLoadAssignment in a CDS response.
    const writer = new ProtoWriter().string(1, "v1");
    writer.message(2, (any) => any.string(1, EDS).bytesField(2, assignment("a")));
    stream.send(writer.string(4, CDS).string(5, "n-1").finish());
    let server: Server | undefined;
    void starting.then((s) => (server = s));
    // Well within initial_fetch_timeout (15 s): the refused first update ends the wait.
    await elapse(1000);
    expect(server).toBeDefined();
    const nack = stream.of(CDS).find((r) => r.responseNonce === "n-1");
    expect(nack?.error?.message).toContain("does not match the message-wide type URL");
    expect(server!.stats.get("cluster_manager.cds.update_rejected")).toMatchObject({ value: 1 });
    expect(server!.stats.get("cluster_manager.cds.init_fetch_timeout")).toMatchObject({ value: 0 });
    server!.xdsManager.stop();
  });
});

describe("a named resource twice in one response (audit-xds)", () => {
  test("an EDS watch gets the first of two resources of its name, as Envoy's GrpcMuxImpl (its name map keeps the first)", async () => {
    const server = await setup();
    const mux = newMux(server);
    const eds = recorder();
    mux.watch(EDS, ["a"], eds);
    await settle();
    // ClusterLoadAssignment: cluster_name 1, endpoints 2 (LocalityLbEndpoints: priority 5).
    const first = new ProtoWriter().string(1, "a").message(2, (l) => l.uint(5, 1)).finish();
    cp.last.respond(EDS, "e1", "n-1", [first, assignment("a")]);
    await settle();
    expect(eds.updates.map((u) => u.resources)).toEqual([[{ "@type": EDS, cluster_name: "a", endpoints: [{ priority: 1 }] }]]);
    expect(cp.last.of(EDS).at(-1)).toMatchObject({ versionInfo: "e1", responseNonce: "n-1", error: undefined });
  });

  test("a named SDS watch whose secret the response lacks is not called (Envoy: `if (!found_resources.empty())`): a watch added while an older request's answer arrives does not NACK it", async () => {
    const server = await setup();
    const mux = newMux(server);
    const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    const first = recorder();
    mux.watch(SECRET, ["a"], first);
    await settle();
    const second = recorder({ refuse: "Missing SDS resources for b in onConfigUpdate()" });
    mux.watch(SECRET, ["b"], second);
    // The answer to the request naming only "a".
    cp.last.respond(SECRET, "s1", "n-1", [new ProtoWriter().string(1, "a").finish()]);
    await settle();
    expect(first.updates.map((u) => u.resources)).toEqual([[{ "@type": SECRET, name: "a" }]]);
    expect(second.updates).toEqual([]);
    expect(cp.last.of(SECRET).at(-1)).toMatchObject({ versionInfo: "s1", responseNonce: "n-1", error: undefined });
  });
});
