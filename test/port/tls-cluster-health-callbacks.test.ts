/**
 * The cluster manager drains a failed host's pools (Envoy's onHostHealthFailure) through
 * callbacks it puts on each cluster's outlier detector and health checker. A cluster with
 * TLS makes those once its transport socket exists, after initialize() has returned: the
 * callbacks must reach them there too (Cluster.onChecksCreated). Runs on the adapter of the
 * runtime the tests run on, which makes the TLS context.
 */
import { expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { currentRuntime } from "./current-runtime.ts";

const cluster = (name: string, tls: boolean) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  outlier_detection: { consecutive_5xx: 1 },
  ...(tls && { transport_socket: { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext" } } }),
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] },
});

test("a cluster with TLS gets the cluster manager's outlier callback, as one without", async () => {
  const runtime = await currentRuntime();
  const server = new Server(runtime, loadBootstrap(JSON.stringify({ static_resources: { clusters: [cluster("plain", false), cluster("tls", true)] } }), "json"), new Logger(runtime, "error"));
  await server.start();
  try {
    // The detector's own callback (the cluster's health refresh) and the manager's.
    const callbacks = (name: string) => (server.clusterManager.get(name)!.outlierDetector as unknown as { callbacks: unknown[] }).callbacks.length;
    expect(callbacks("plain")).toBe(2);
    expect(callbacks("tls")).toBe(2);
  } finally {
    await server.shutdown();
  }
});
