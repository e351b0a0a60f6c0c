/**
 * A CDS cluster whose TLS secret comes from an SDS source naming a cluster that is not
 * static (Envoy's checkApiConfigSourceSubscriptionBackingCluster): the CDS update is
 * NACKed before it is taken — at start-up (a CDS file) the server starts without it.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { POLL_MS } from "../../core/util/file-watch.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

let server: Server | undefined;
afterEach(() => {
  server?.stop("test done");
  server = undefined;
});

function staticCluster(name: string, port: number): unknown {
  return { name, type: "STATIC", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] } };
}

/** A CDS cluster speaking TLS upstream, its client certificate from SDS through `sdsCluster`. */
function tlsCluster(name: string, sdsCluster: string): unknown {
  const sdsConfig = {
    api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: sdsCluster } }] },
    resource_api_version: "V3",
    initial_fetch_timeout: "1s",
  };
  return {
    "@type": CLUSTER,
    ...(staticCluster(name, 18100) as object),
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "client", sds_config: sdsConfig }] },
      },
    },
  };
}

function make(runtime: MemoryRuntime, clusters: unknown[]): Server {
  runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: clusters }));
  const config = {
    static_resources: { clusters: [staticCluster("xds", 18000)] },
    dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } },
  };
  return new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
}

const REASON =
  "Error adding/updating cluster(s) cluster 'bad': transport_socket: tls_certificate_sds_secret_configs[0] ('client'): sds_config of secret 'client': envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: 'from_cds' does not exist, was added via api, or is an EDS cluster";

describe("SDS secrets of CDS clusters", () => {
  test("a CDS file at start-up naming such a cluster: the update is NACKed, the server starts without it", async () => {
    const runtime = new MemoryRuntime();
    // The memory runtime has no TLS: a stand-in lets the cluster reach its secrets.
    Object.assign(runtime, { tls: {} });
    server = make(runtime, [tlsCluster("bad", "from_cds")]);
    await server.start();
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    expect(stat("cluster_manager.cds.update_rejected")).toBe(1);
    expect(stat("cluster_manager.cds.update_success")).toBe(0);
    expect(server.clusterManager.get("bad")).toBeUndefined();
    expect(runtime.logLines.join("\n")).toContain(REASON);
  });

  test("a CDS update after start-up naming such a cluster: NACKed before it is taken (nothing warms), the clusters in use stay", async () => {
    const runtime = new MemoryRuntime();
    Object.assign(runtime, { tls: {} });
    server = make(runtime, [{ "@type": CLUSTER, ...(staticCluster("good", 18200) as object) }]);
    await server.start();
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    expect(stat("cluster_manager.cds.update_success")).toBe(1);

    runtime.files.set("/cds.json", JSON.stringify({ version_info: "2", resources: [{ "@type": CLUSTER, ...(staticCluster("good", 18200) as object) }, tlsCluster("bad", "from_cds")] }));
    await runtime.settle(2 * POLL_MS);
    expect(stat("cluster_manager.cds.update_rejected")).toBe(1);
    expect(stat("cluster_manager.cds.update_success")).toBe(1);
    expect(stat("cluster_manager.warming_clusters")).toBe(0);
    expect(server.clusterManager.get("bad")).toBeUndefined();
    expect(server.clusterManager.get("good")).toBeDefined();
    expect(runtime.logLines.join("\n")).toContain(REASON);
  });
});
