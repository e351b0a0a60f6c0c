/**
 * rtds_layers from a management server start together, black-box on every runtime: two
 * layers the server never sends, each with initial_fetch_timeout 5s, delay start-up by one
 * timeout, not two (Envoy's init manager waits for its RTDS targets together).
 */
import { afterAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const NEVER = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "5s" };

describe.each(RUNTIMES)("rtds layers from a management server on %s", (runtime) => {
  let proxy: ProxyProcess | undefined;
  let controlPlane: XdsControlPlane | undefined;

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
  });

  test("two layers never sent: start-up waits one initial_fetch_timeout", async () => {
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const adminPort = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      node: { id: "polyvoy-rtds-parallel", cluster: "test" },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
      layered_runtime: {
        layers: [
          { name: "a", rtds_layer: { name: "never_a", rtds_config: NEVER } },
          { name: "b", rtds_layer: { name: "never_b", rtds_config: NEVER } },
        ],
      },
      static_resources: { clusters: [xdsCluster(cpPort)] },
    });
    // The admin binds first, before the layers are asked for: timed from its first answer
    // (the process's own start-up, slow on a loaded machine, is not what is measured);
    // /ready answers LIVE once both layers gave up and start-up is done.
    const ready = () => fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.status, () => 0);
    await eventually(ready, (status) => status !== 0, 15_000);
    const started = Date.now();
    await eventually(ready, (status) => status === 200, 20_000);
    const elapsed = Date.now() - started;
    const stats = await adminStats(adminPort);
    expect(stats.get("runtime.never_a.init_fetch_timeout")).toBe(1);
    expect(stats.get("runtime.never_b.init_fetch_timeout")).toBe(1);
    // One 5 s wait (both together), where one after another takes 10 s.
    expect(elapsed).toBeLessThan(7_500);
  }, 30_000);
});
