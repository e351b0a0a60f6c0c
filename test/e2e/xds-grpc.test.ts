/**
 * xDS from a real management server on every runtime, black-box: test/support's control
 * plane (@grpc/grpc-js with Envoy's own protos) serves ADS; polyvoy takes its clusters
 * (CDS), their endpoints (EDS), a listener (LDS) and its routes (RDS) from it. While
 * clients keep sending, the server pushes new endpoints, routes, clusters and a second
 * listener: no request fails. An invalid route configuration is NACKed (the previous
 * version, the nonce, error_detail naming the problem) and the old one keeps serving.
 * The control plane restarts: polyvoy reconnects and asks again with the versions it
 * has. Then the per-type services (api_config_source GRPC) and initial_fetch_timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsControlPlane } from "../support/xds-control-plane.ts";
import { ADS_SOURCE, type AdsSetup, constantLoad, getText, startAdsSetup } from "../support/xds-e2e.ts";
import { edsCluster, endpoints, eventually, grpcSource, listener, namedUpstream, route, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("xDS from a management server (ADS) on %s", (runtime) => {
  let setup: AdsSetup;
  const ads = ADS_SOURCE;
  const get = getText;

  beforeAll(async () => {
    setup = await startAdsSetup(runtime, "GRPC", { id: "polyvoy-test", cluster: "test", metadata: { team: "edge", weight: 0, tags: ["a", true, null] } });
  });

  afterAll(async () => {
    await setup?.stop();
  });

  test("clusters, endpoints, listeners and routes pushed under constant load; a NACK keeps the old config; a restarted control plane is reconnected", async () => {
    const { controlPlane, port, port2, adminPort, upstreams } = setup;
    expect(await get(port, "/direct")).toBe("200 v1");
    expect(await get(port, "/x")).toBe("200 a");
    // One stream, every type ACKed with its version, the node sent.
    const acked = (type: string, version: string) => controlPlane.requestsOf(type).some((r) => r.versionInfo === version && r.responseNonce !== "" && r.errorDetail === undefined);
    expect(acked(CLUSTER, "c1") && acked(ENDPOINT, "e1") && acked(LISTENER, "l1") && acked(ROUTE, "r1")).toBe(true);
    expect(new Set(controlPlane.requests.map((r) => r.service))).toEqual(new Set(["ads"]));
    expect(controlPlane.requests[0]!.nodeId).toBe("polyvoy-test");
    expect(controlPlane.requests[0]!.nodeMetadata).toMatchObject({
      fields: {
        // proto-loader names the well-known Value's fields in camelCase.
        team: { stringValue: "edge" },
        weight: { numberValue: 0 },
        tags: { listValue: { values: [{ stringValue: "a" }, { boolValue: true }, { nullValue: "NULL_VALUE" }] } },
      },
    });
    expect(controlPlane.requestsOf(ROUTE)[0]!.resourceNames).toEqual(["dyn_route"]);

    const load = constantLoad([
      { port, path: "/direct", allowed: ["200 v1", "200 v2"] },
      { port, path: "/y", allowed: ["200 a", "200 b"] },
      { port, path: "/z", allowed: ["200 a", "200 b"] },
    ]);

    controlPlane.setSnapshot(ENDPOINT, "e2", [endpoints("backend", upstreams[1]!.port)]);
    expect(await eventually(() => get(port, "/x"), (a) => a === "200 b")).toBe("200 b");
    controlPlane.setSnapshot(ROUTE, "r2", [route("dyn_route", "v2")]);
    expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v2")).toBe("200 v2");
    // A changed cluster (its connect timeout): replaced without failing a request.
    controlPlane.setSnapshot(CLUSTER, "c2", [edsCluster("backend", ads, 2)]);
    expect(await eventually(async () => acked(CLUSTER, "c2"), (a) => a)).toBe(true);
    // A second listener, with its own route configuration.
    controlPlane.setSnapshot(ROUTE, "r3", [route("dyn_route", "v2"), route("second_route", "second")]);
    controlPlane.setSnapshot(LISTENER, "l2", [listener("dyn", port, "dyn", "dyn_route", ads), listener("second", port2, "second", "second_route", ads)]);
    expect(await eventually(() => get(port2, "/direct"), (a) => a === "200 second")).toBe("200 second");

    // Invalid: a direct_response status Envoy refuses (below 200). NACKed; v2 keeps serving.
    controlPlane.setSnapshot(ROUTE, "r4", [route("dyn_route", "bad", 99), route("second_route", "second")]);
    const nack = await eventually(async () => controlPlane.requestsOf(ROUTE).find((r) => r.errorDetail !== undefined), (r) => r !== undefined);
    expect(nack).toBeDefined();
    expect(nack!.versionInfo).toBe("r3");
    expect(nack!.responseNonce).not.toBe("");
    expect(nack!.errorDetail!.code).toBe(13);
    expect(nack!.errorDetail!.message).toContain("status");
    expect(await get(port, "/direct")).toBe("200 v2");

    const { failures, sent } = await load.stop();
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(10);

    const stats = await adminStats(adminPort);
    expect(stats.get("control_plane.connected_state")).toBe(1);
    expect(stats.get("cluster_manager.cds.update_success")).toBe(2);
    expect(stats.get("listener_manager.lds.update_success")).toBe(2);
    expect(stats.get("http.dyn.rds.dyn_route.update_rejected")).toBe(1);
    expect(stats.get("cluster.backend.update_success")).toBeGreaterThanOrEqual(2);

    // /config_dump: the route configuration as the last good version gave it.
    const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_route_configs`)).json()) as { configs: { version_info: string; route_config: { name: string } }[] };
    expect(dump.configs.find((c) => c.route_config.name === "dyn_route")).toMatchObject({ version_info: "r3" });

    // The control plane restarts (same port, same snapshots but a fixed route): polyvoy reconnects and asks with what it has.
    const cpPort = controlPlane.port;
    const before = controlPlane.requests.length;
    await controlPlane.stop();
    expect(await eventually(async () => (await adminStats(adminPort)).get("control_plane.connected_state"), (s) => s === 0)).toBe(0);
    controlPlane.setSnapshot(ROUTE, "r5", [route("dyn_route", "v5"), route("second_route", "second")]);
    await controlPlane.start(cpPort);
    expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v5", 60_000)).toBe("200 v5");
    const again = controlPlane.requests.slice(before);
    expect(again.find((r) => r.typeUrl === CLUSTER && r.responseNonce === "")?.versionInfo).toBe("c2");
    expect(await get(port2, "/direct")).toBe("200 second");
  });
});

describe.each(RUNTIMES)("xDS per-type services and initial_fetch_timeout on %s", (runtime) => {
  test("CDS and EDS from their own services; LDS the server never answers: initial_fetch_timeout lets the server start", async () => {
    const [adminPort] = [await freePort()];
    const upstream = await namedUpstream("direct");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const source = grpcSource("xds_cluster");
    controlPlane.setSnapshot(CLUSTER, "c1", [edsCluster("backend", source)]);
    controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstream.port)]);
    const proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: { cds_config: source, lds_config: grpcSource("xds_cluster", { initial_fetch_timeout: "1s" }) },
        static_resources: { clusters: [xdsCluster(cpPort)] },
      },
      1,
    );
    try {
      const stats = await eventually(() => adminStats(adminPort), (s) => s.get("listener_manager.lds.init_fetch_timeout") === 1 && s.get("cluster.backend.update_success") === 1);
      expect(stats.get("listener_manager.lds.init_fetch_timeout")).toBe(1);
      expect(stats.get("cluster_manager.cds.update_success")).toBe(1);
      expect(stats.get("cluster.backend.update_success")).toBe(1);
      expect(new Set(controlPlane.requests.map((r) => r.service))).toEqual(new Set(["cds", "eds", "lds"]));
      const ready = await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/ready`)).status, (s) => s === 200);
      expect(ready).toBe(200);
      const clusters = await (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text();
      expect(clusters).toContain(`backend::127.0.0.1:${upstream.port}::`);
    } finally {
      await proxy.stop();
      await controlPlane.stop();
      upstream.close();
    }
  });
});

describe.each(RUNTIMES)("a static EDS cluster over gRPC on %s", (runtime) => {
  // Its EDS stream opens through the xDS cluster's HTTP/2 pool as discovery starts, which
  // must not come before that pool's code is loaded (a lazily loaded module).
  test.each([
    ["ADS", ADS_SOURCE],
    ["api_config_source GRPC", grpcSource("xds_cluster")],
  ])("endpoints over %s: the proxy starts and routes to them", async (_kind, source) => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const upstream = await namedUpstream("eds");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstream.port)]);
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await ProxyProcess.start(
        runtime,
        {
          admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
          ...(source === ADS_SOURCE && {
            dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
          }),
          static_resources: {
            // configs.ts's listener, routing everything to "backend"; the clusters are this test's.
            ...(httpProxyConfig({ listenPort: port, clusters: {}, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: object }).static_resources,
            clusters: [xdsCluster(cpPort), edsCluster("backend", source)],
          },
        },
        2,
      );
      expect(await getText(port, "/")).toBe("200 eds");
    } finally {
      await proxy?.stop();
      await controlPlane.stop();
      upstream.close();
    }
  });
});

describe.each(RUNTIMES)("ADS through google_grpc on %s", (runtime) => {
  // The management server named by target_uri, no cluster: the stream goes through the
  // internal HTTP/2 cluster google_grpc builds (core/config/google-grpc-target.ts).
  test("a static EDS cluster's endpoints over an ADS stream to a google_grpc target; grpc.<stat_prefix>.streams_total counts it", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const upstream = await namedUpstream("google");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstream.port)]);
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await ProxyProcess.start(
        runtime,
        {
          admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
          dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ google_grpc: { target_uri: `127.0.0.1:${cpPort}`, stat_prefix: "ads" } }] } },
          static_resources: {
            ...(httpProxyConfig({ listenPort: port, clusters: {}, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: object }).static_resources,
            clusters: [edsCluster("backend", ADS_SOURCE)],
          },
        },
        2,
      );
      expect(await getText(port, "/")).toBe("200 google");
      expect((await adminStats(adminPort)).get("grpc.ads.streams_total")).toBe(1);
    } finally {
      await proxy?.stop();
      await controlPlane.stop();
      upstream.close();
    }
  });
});

describe.each(RUNTIMES)("CDS ACKed before its clusters warm on %s", (runtime) => {
  test("a server that sends EDS only after the CDS ACK is served; a cluster whose EDS never comes holds back no later CDS update", async () => {
    const [adminPort] = [await freePort()];
    const upstream = await namedUpstream("x");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    // EDS over ADS, waiting for its first answer forever.
    const forever = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: {} };
    const staticCluster = (name: string) => ({ name, type: "STATIC", connect_timeout: { seconds: 1 }, load_assignment: endpoints(name, upstream.port) });
    controlPlane.setSnapshot(CLUSTER, "c1", [edsCluster("backend", forever)]);
    const proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: {
          ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] },
          cds_config: { ads: {}, resource_api_version: "V3" },
        },
        static_resources: { clusters: [xdsCluster(cpPort)] },
      },
      1,
    );
    const acked = (version: string) => controlPlane.requestsOf(CLUSTER).some((r) => r.versionInfo === version && r.responseNonce !== "" && r.errorDetail === undefined);
    const clusters = async () => (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text();
    try {
      // The ACK comes while "backend" warms (no EDS sent yet); EDS follows it.
      expect(await eventually(async () => acked("c1"), (v) => v === true)).toBe(true);
      expect(controlPlane.requestsOf(ENDPOINT).some((r) => r.resourceNames.includes("backend"))).toBe(true);
      controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstream.port)]);
      expect(await eventually(clusters, (t) => typeof t === "string" && t.includes(`backend::127.0.0.1:${upstream.port}::`))).toContain(`backend::127.0.0.1:${upstream.port}::`);
      // "stuck" never gets endpoints: the update is ACKed anyway, and the next one applies.
      controlPlane.setSnapshot(CLUSTER, "c2", [edsCluster("backend", forever), edsCluster("stuck", forever)]);
      expect(await eventually(async () => acked("c2"), (v) => v === true)).toBe(true);
      const warming = await eventually(() => adminStats(adminPort), (s) => s.get("cluster_manager.warming_clusters") === 1);
      expect(warming.get("cluster_manager.warming_clusters")).toBe(1);
      // /config_dump: "stuck" under dynamic_warming_clusters, not among the active ones (Envoy's dumpClusterConfigs).
      type Dump = { configs: Record<string, { version_info: string; cluster: { name: string } }[] | string>[] };
      const cdsDump = ((await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as Dump).configs.find((c) => String(c["@type"]).endsWith("ClustersConfigDump"))!;
      const names = (field: string) => ((cdsDump[field] ?? []) as { version_info: string; cluster: { name: string } }[]).map((c) => `${c.cluster.name}@${c.version_info}`);
      expect(names("dynamic_active_clusters")).toEqual(["backend@c1"]);
      expect(names("dynamic_warming_clusters")).toEqual(["stuck@c2"]);
      controlPlane.setSnapshot(CLUSTER, "c3", [edsCluster("backend", forever), staticCluster("fine")]);
      expect(await eventually(async () => acked("c3"), (v) => v === true)).toBe(true);
      expect(await eventually(clusters, (t) => typeof t === "string" && t.includes("fine::"))).toContain(`fine::127.0.0.1:${upstream.port}::`);
      const stats = await eventually(() => adminStats(adminPort), (s) => s.get("cluster_manager.warming_clusters") === 0);
      expect(stats.get("cluster_manager.warming_clusters")).toBe(0);
      expect(await clusters()).not.toContain("stuck::");
    } finally {
      await proxy.stop();
      await controlPlane.stop();
      upstream.close();
    }
  });
});

describe.each(RUNTIMES)("LDS ACKed before its listeners warm on %s", (runtime) => {
  test("a server that sends RDS only after the LDS ACK is served; a listener that cannot bind is counted in listener_create_failure after the ACK", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const taken = await namedUpstream("taken");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    // RDS over ADS, waiting for its first answer forever: only the route configuration lets the listener bind.
    const forever = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: {} };
    controlPlane.setSnapshot(LISTENER, "l1", [listener("dyn", port, "dyn", "dyn_route", forever)]);
    const proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: {
          ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] },
          lds_config: { ads: {}, resource_api_version: "V3" },
        },
        static_resources: { clusters: [xdsCluster(cpPort)] },
      },
      1,
    );
    const acked = (version: string) => controlPlane.requestsOf(LISTENER).some((r) => r.versionInfo === version && r.responseNonce !== "" && r.errorDetail === undefined);
    try {
      // The ACK comes while "dyn" waits for its routes; RDS follows it, then it serves.
      expect(await eventually(async () => acked("l1"), (v) => v === true)).toBe(true);
      expect((await adminStats(adminPort)).get("listener_manager.total_listeners_warming")).toBe(1);
      // /config_dump: "dyn" has a warming_state and no active_state yet (Envoy's DynamicListener).
      const dynamicListeners = async () => (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_listeners`)).json()) as { configs: Record<string, unknown>[] };
      expect((await dynamicListeners()).configs).toEqual([{ "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump.DynamicListener", name: "dyn", warming_state: expect.objectContaining({ version_info: "l1" }) }]);
      controlPlane.setSnapshot(ROUTE, "r1", [route("dyn_route", "v1")]);
      expect(await eventually(() => getText(port, "/direct"), (a) => a === "200 v1")).toBe("200 v1");
      // A second listener on an address in use: ACKed (it was valid), then it cannot bind: counted and dropped; "dyn" serves on.
      controlPlane.setSnapshot(LISTENER, "l2", [listener("dyn", port, "dyn", "dyn_route", forever), listener("clash", taken.port, "clash", "dyn_route", forever)]);
      expect(await eventually(async () => acked("l2"), (v) => v === true)).toBe(true);
      const stats = await eventually(() => adminStats(adminPort), (s) => s.get("listener_manager.listener_create_failure") === 1);
      expect(stats.get("listener_manager.listener_create_failure")).toBe(1);
      expect(stats.get("listener_manager.total_listeners_warming")).toBe(0);
      expect(stats.get("listener_manager.total_listeners_active")).toBe(1);
      expect(await getText(port, "/direct")).toBe("200 v1");
      // The listener that could not bind is not dumped as serving.
      expect((await dynamicListeners()).configs.map((l) => [l["name"], Object.keys(l).filter((k) => k.endsWith("_state"))])).toEqual([["dyn", ["active_state"]]]);
    } finally {
      await proxy.stop();
      await controlPlane.stop();
      taken.close();
    }
  });
});
