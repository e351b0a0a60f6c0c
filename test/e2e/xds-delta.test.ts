/**
 * Incremental xDS (api_type DELTA_GRPC) and REST polling from a real management server on
 * every runtime, black-box, as xds-grpc.test.ts does for state of the world. Delta over
 * ADS: clusters, endpoints, listeners and routes added, changed and removed while clients
 * keep sending — no request fails; an invalid route configuration NACKed (the nonce,
 * error_detail) while the old one serves; the control plane restarted: the new stream
 * says what it has (initial_resource_versions) and gets only what changed. REST: CDS and
 * LDS polled from a node:http endpoint (EDS and RDS by delta per-type services and REST),
 * a change picked up within the poll interval, a failing endpoint counted as
 * update_failure and a refused answer NACKed on the next poll, the config kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsControlPlane } from "../support/xds-control-plane.ts";
import { ADS_SOURCE, type AdsSetup, constantLoad, getText, startAdsSetup } from "../support/xds-e2e.ts";
import { edsCluster, endpoints, eventually, grpcSource, listener, namedUpstream, restSource, route, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const get = getText;

describe.each(RUNTIMES)("incremental xDS (DELTA_GRPC over ADS) on %s", (runtime) => {
  let setup: AdsSetup;
  const ads = ADS_SOURCE;

  beforeAll(async () => {
    setup = await startAdsSetup(runtime, "DELTA_GRPC", { id: "polyvoy-delta" });
  });

  afterAll(async () => {
    await setup?.stop();
  });

  test("added, changed and removed under constant load; a NACK keeps the old config; a reconnect sends initial_resource_versions", async () => {
    const { controlPlane, port, port2, adminPort, upstreams } = setup;
    expect(await get(port, "/direct")).toBe("200 v1");
    expect(await get(port, "/x")).toBe("200 a");
    expect(new Set(controlPlane.requests.map((r) => r.service))).toEqual(new Set(["delta-ads"]));
    expect(controlPlane.requests[0]!.nodeId).toBe("polyvoy-delta");
    // LDS and CDS: the wildcard (a first request without names); RDS and EDS subscribe by name.
    expect(controlPlane.requestsOf(CLUSTER)[0]!.subscribe).toEqual([]);
    expect(controlPlane.requestsOf(LISTENER)[0]!.subscribe).toEqual([]);
    expect(controlPlane.requestsOf(ROUTE)[0]!.subscribe).toEqual(["dyn_route"]);
    expect(controlPlane.requestsOf(ENDPOINT)[0]!.subscribe).toEqual(["backend"]);
    const acks = (type: string) => controlPlane.requestsOf(type).filter((r) => r.responseNonce !== "" && r.errorDetail === undefined).length;
    expect(acks(CLUSTER) >= 1 && acks(ENDPOINT) >= 1 && acks(LISTENER) >= 1 && acks(ROUTE) >= 1).toBe(true);

    const load = constantLoad([
      { port, path: "/direct", allowed: ["200 v1", "200 v2"] },
      { port, path: "/y", allowed: ["200 a", "200 b"] },
      { port, path: "/z", allowed: ["200 a", "200 b"] },
    ]);

    controlPlane.setSnapshot(ENDPOINT, "e2", [endpoints("backend", upstreams[1]!.port)]);
    expect(await eventually(() => get(port, "/x"), (a) => a === "200 b")).toBe("200 b");
    controlPlane.setSnapshot(ROUTE, "r2", [route("dyn_route", "v2")]);
    expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v2")).toBe("200 v2");
    // A changed cluster (its connect timeout), and a second one added: only they are sent.
    const clusterAcks = acks(CLUSTER);
    controlPlane.setSnapshot(CLUSTER, "c2", [edsCluster("backend", ads, 2), edsCluster("extra", ads)]);
    controlPlane.setSnapshot(ENDPOINT, "e3", [endpoints("backend", upstreams[1]!.port), endpoints("extra", upstreams[0]!.port)]);
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text(), (t) => t.includes(`extra::127.0.0.1:${upstreams[0]!.port}::`))).toContain("extra::");
    expect(acks(CLUSTER)).toBeGreaterThan(clusterAcks);
    // A second listener with its own route configuration, then removed by delta (removed_resources).
    controlPlane.setSnapshot(ROUTE, "r3", [route("dyn_route", "v2"), route("second_route", "second")]);
    controlPlane.setSnapshot(LISTENER, "l2", [listener("dyn", port, "dyn", "dyn_route", ads), listener("second", port2, "second", "second_route", ads)]);
    expect(await eventually(() => get(port2, "/direct"), (a) => a === "200 second")).toBe("200 second");
    expect(controlPlane.requestsOf(ROUTE).some((r) => r.subscribe?.includes("second_route"))).toBe(true);
    controlPlane.setSnapshot(LISTENER, "l3", [listener("dyn", port, "dyn", "dyn_route", ads)]);
    expect(await eventually(() => get(port2, "/direct").catch((err: unknown) => String(err)), (a) => a !== "200 second", 30_000)).not.toBe("200 second");
    // The removed listener's RDS is unsubscribed.
    expect(await eventually(async () => controlPlane.requestsOf(ROUTE).some((r) => r.unsubscribe?.includes("second_route")), (u) => u)).toBe(true);
    // The extra cluster removed.
    controlPlane.setSnapshot(CLUSTER, "c3", [edsCluster("backend", ads, 2)]);
    expect(await eventually(async () => (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text(), (t) => !t.includes("extra::"))).not.toContain("extra::");

    // Invalid: a direct_response status Envoy refuses. NACKed with the nonce and error_detail; v2 keeps serving.
    controlPlane.setSnapshot(ROUTE, "r4", [route("dyn_route", "bad", 99)]);
    const nack = await eventually(async () => controlPlane.requestsOf(ROUTE).find((r) => r.errorDetail !== undefined), (r) => r !== undefined);
    expect(nack!.responseNonce).not.toBe("");
    expect(nack!.errorDetail!.code).toBe(13);
    expect(nack!.errorDetail!.message).toContain("status");
    expect(await get(port, "/direct")).toBe("200 v2");

    const { failures, sent } = await load.stop();
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(10);

    const stats = await adminStats(adminPort);
    expect(stats.get("control_plane.connected_state")).toBe(1);
    expect(stats.get("cluster_manager.cds.update_success")).toBe(3);
    expect(stats.get("listener_manager.lds.update_success")).toBe(3);
    expect(stats.get("http.dyn.rds.dyn_route.update_rejected")).toBe(1);

    // Restart with the bad route fixed: the new stream says what it has; only the route comes again.
    const cpPort = controlPlane.port;
    const before = controlPlane.requests.length;
    await controlPlane.stop();
    expect(await eventually(async () => (await adminStats(adminPort)).get("control_plane.connected_state"), (s) => s === 0)).toBe(0);
    controlPlane.setSnapshot(ROUTE, "r5", [route("dyn_route", "v5")]);
    await controlPlane.start(cpPort);
    expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v5", 60_000)).toBe("200 v5");
    const again = controlPlane.requests.slice(before);
    const firstCds = again.find((r) => r.typeUrl === CLUSTER);
    expect(Object.keys(firstCds!.initialResourceVersions ?? {})).toEqual(["backend"]);
    expect(Object.keys(again.find((r) => r.typeUrl === LISTENER)!.initialResourceVersions ?? {})).toEqual(["dyn"]);
    expect(again.find((r) => r.typeUrl === ROUTE)!.subscribe).toEqual(["dyn_route"]);
    expect(await get(port, "/x")).toBe("200 b");
    // The unchanged cluster was not sent again: no CDS update after the restart.
    expect((await adminStats(adminPort)).get("cluster_manager.cds.update_success")).toBe(3);
  });
});

describe.each(RUNTIMES)("REST polling and per-type delta services on %s", (runtime) => {
  test("CDS and LDS polled over REST, EDS by DeltaEndpoints, RDS over REST: a change within the poll interval; failures and refusals keep the config", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const upstream = await namedUpstream("direct");
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const restPort = await controlPlane.startRest();
    const rest = restSource("rest_cluster", "0.5s");
    const delta = grpcSource("xds_cluster", {}, "DELTA_GRPC");
    controlPlane.setRestSnapshot(CLUSTER, "c1", [edsCluster("backend", delta)]);
    controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstream.port)]);
    controlPlane.setRestSnapshot(LISTENER, "l1", [listener("dyn", port, "dyn", "dyn_route", rest)]);
    controlPlane.setRestSnapshot(ROUTE, "r1", [route("dyn_route", "v1")]);
    const proxy = await ProxyProcess.start(
      runtime,
      {
        node: { id: "polyvoy-rest" },
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: { cds_config: rest, lds_config: rest },
        static_resources: { clusters: [xdsCluster(cpPort), xdsCluster(restPort, "rest_cluster", true)] },
      },
      1,
    );
    try {
      expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v1")).toBe("200 v1");
      expect(await get(port, "/x")).toBe("200 direct");
      const services = new Set(controlPlane.requests.map((r) => `${r.service} ${r.typeUrl.slice(r.typeUrl.lastIndexOf(".") + 1)}`));
      expect(services).toEqual(new Set(["rest Cluster", "rest Listener", "rest RouteConfiguration", "delta-eds ClusterLoadAssignment"]));
      const routePolls = controlPlane.requestsOf(ROUTE).filter((r) => r.service === "rest");
      expect(routePolls[0]!.resourceNames).toEqual(["dyn_route"]);
      expect(routePolls[0]!.nodeId).toBe("polyvoy-rest");
      // The ACK: the next poll carries the version taken.
      expect(await eventually(async () => controlPlane.requestsOf(ROUTE).some((r) => r.versionInfo === "r1"), (a) => a)).toBe(true);

      // A change is picked up by the next poll: within refresh_delay plus its jitter (≤ 2 × 0.5 s), with slack for a loaded machine.
      const changed = Date.now();
      controlPlane.setRestSnapshot(ROUTE, "r2", [route("dyn_route", "v2")]);
      expect(await eventually(() => get(port, "/direct"), (a) => a === "200 v2", 10_000)).toBe("200 v2");
      expect(Date.now() - changed).toBeLessThan(5_000);

      // The endpoint fails: update_failure counts, the config in use stays.
      controlPlane.restStatus = 503;
      const failed = await eventually(() => adminStats(adminPort), (s) => (s.get("http.dyn.rds.dyn_route.update_failure") ?? 0) >= 1);
      expect(failed.get("http.dyn.rds.dyn_route.update_failure")).toBeGreaterThanOrEqual(1);
      expect(await get(port, "/direct")).toBe("200 v2");
      controlPlane.restStatus = 200;

      // A route Envoy refuses: rejected, NACKed on the next poll (the last good version, error_detail), v2 serves.
      controlPlane.setRestSnapshot(ROUTE, "r3", [route("dyn_route", "bad", 99)]);
      const nack = await eventually(async () => controlPlane.requestsOf(ROUTE).find((r) => r.errorDetail !== undefined), (r) => r !== undefined);
      expect(nack!.versionInfo).toBe("r2");
      expect(nack!.errorDetail!.message).toContain("status");
      expect(await get(port, "/direct")).toBe("200 v2");
      const stats = await adminStats(adminPort);
      expect(stats.get("http.dyn.rds.dyn_route.update_rejected")).toBeGreaterThanOrEqual(1);
      expect(stats.get("cluster_manager.cds.update_success")).toBeGreaterThanOrEqual(1);
      expect(stats.get("cluster.backend.update_success")).toBe(1);
    } finally {
      await proxy.stop();
      await controlPlane.stop();
      upstream.close();
    }
  });
});
