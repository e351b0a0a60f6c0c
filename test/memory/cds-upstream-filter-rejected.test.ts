/**
 * A CDS update whose cluster's upstream HTTP filters cannot be made — a Lua script that does
 * not compile — is rejected (update_rejected, NACK), as Envoy builds a cluster's filter
 * factories when it makes the cluster; the cluster in use serves on.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { POLL_MS } from "../../core/util/file-watch.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };

let server: Server | undefined;
afterEach(() => {
  server?.stop("test done");
  server = undefined;
});

/** A CDS cluster with an upstream Lua filter running `script`. */
function luaCluster(script: string, name = "backend"): unknown {
  const lua = { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: script } } };
  return {
    "@type": CLUSTER,
    name,
    type: "STATIC",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18300 } } } }] }] },
    typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: [lua, CODEC] } },
  };
}

describe("CDS: a cluster's upstream HTTP filters", () => {
  test("v1 with a valid Lua script is taken; v2 whose script does not compile is NACKed before it is taken (nothing warms), v1 serves on", async () => {
    const runtime = new MemoryRuntime();
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: [luaCluster("function envoy_on_request(h) end")] }));
    const config = { dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } };
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    await server.start();
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    expect(stat("cluster_manager.cds.update_success")).toBe(1);
    const v1 = server.clusterManager.get("backend");
    expect(v1).toBeDefined();

    runtime.files.set("/cds.json", JSON.stringify({ version_info: "2", resources: [luaCluster("function envoy_on_request(h) this is not lua")] }));
    await runtime.settle(2 * POLL_MS);
    expect(stat("cluster_manager.cds.update_rejected")).toBe(1);
    expect(stat("cluster_manager.cds.update_success")).toBe(1);
    expect(stat("cluster_manager.cluster_modified")).toBe(0);
    expect(stat("cluster_manager.warming_clusters")).toBe(0);
    expect(server.clusterManager.get("backend")).toBe(v1);
    // The cluster named once (lds-cds-api.ts's prefix), then the Lua load error.
    expect(runtime.logLines.map((line) => line.replace(/^\[[^\]]*\]/, ""))).toContain(
      "[warning] cds: filesystem config update rejected: Error adding/updating cluster(s) cluster 'backend': script load error: [string \"function envoy_on_request(h) this is not lua\"]:1: syntax error near 'is' (the config in use is kept)",
    );
  });

  test("an unchanged cluster is not built again (Envoy's addOrUpdateCluster skips it first): its Lua file, now broken, is not re-read, and the push with a new cluster is ACKed", async () => {
    const runtime = new MemoryRuntime();
    runtime.files.set("/s.lua", "function envoy_on_request(h) end");
    const backend = luaCluster("unused") as { typed_extension_protocol_options: Record<string, { http_filters: { typed_config: Record<string, unknown> }[] }> };
    backend.typed_extension_protocol_options[OPTIONS]!.http_filters[0]!.typed_config.default_source_code = { filename: "/s.lua" };
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: [backend] }));
    const config = { dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } };
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    await server.start();
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    const v1 = server.clusterManager.get("backend");

    runtime.files.set("/s.lua", "this is not lua");
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "2", resources: [backend, luaCluster("function envoy_on_request(h) end", "other")] }));
    await runtime.settle(2 * POLL_MS);
    expect(stat("cluster_manager.cds.update_rejected")).toBe(0);
    expect(stat("cluster_manager.cds.update_success")).toBe(2);
    expect(server.clusterManager.get("backend")).toBe(v1);
    expect(server.clusterManager.get("other")).toBeDefined();
  });

  test("a new cluster whose Lua script does not compile leaves no stats of its own behind (no cluster.other.lua.errors)", async () => {
    const runtime = new MemoryRuntime();
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "1", resources: [luaCluster("function envoy_on_request(h) end")] }));
    const config = { dynamic_resources: { cds_config: { path_config_source: { path: "/cds.json" }, resource_api_version: "V3" } } };
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    await server.start();
    runtime.files.set("/cds.json", JSON.stringify({ version_info: "2", resources: [luaCluster("function envoy_on_request(h) end"), luaCluster("function envoy_on_request(h) this is not lua", "other")] }));
    await runtime.settle(2 * POLL_MS);
    expect((server.stats.get("cluster_manager.cds.update_rejected") as { value: number } | undefined)?.value).toBe(1);
    expect(server.clusterManager.get("other")).toBeUndefined();
    expect(server.stats.all().map((stat) => stat.name).filter((name) => name.startsWith("cluster.other."))).toEqual([]);
  });
});
