/**
 * upstream_connection_options.tcp_keepalive: loaded with Envoy's field names (Linux's
 * ranges checked), refused on a runtime that cannot set a field it names (one line naming
 * the runtime) — also as a CDS update (NACKed: update_rejected) — and handed to every TCP
 * connection of the cluster (the memory runtime records it on the socket).
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import type { Runtime } from "../../../core/port.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import { tcpKeepaliveRefusal } from "../../../core/upstream/tcp-keepalive.ts";
import { Timers } from "../../../core/event/timers.ts";
import { idleTimeOnlyKeepalive } from "../../../runtimes/kit/tcp-keepalive.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "../../memory/support/proxy.ts";
import type { MemorySocket } from "../../../runtimes/memory/memory-socket.ts";

function cluster(options: object | undefined): ClusterConfig {
  const text = JSON.stringify({
    static_resources: {
      clusters: [{ name: "c", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] }, ...(options && { upstream_connection_options: options }) }],
    },
  });
  return loadBootstrap(text, "json").clusters[0]!;
}

describe("upstream_connection_options.tcp_keepalive", () => {
  test("loaded: {} is SO_KEEPALIVE alone, fields in seconds; Linux's ranges and the other fields refused by name", () => {
    expect(cluster({ tcp_keepalive: {} }).tcpKeepalive).toEqual({});
    expect(cluster({ tcp_keepalive: { keepalive_probes: 3, keepalive_time: 30, keepalive_interval: 5 } }).tcpKeepalive).toEqual({ probes: 3, timeSec: 30, intervalSec: 5 });
    expect(cluster({}).tcpKeepalive).toBeUndefined();
    expect(cluster(undefined).tcpKeepalive).toBeUndefined();
    expect(() => cluster({ tcp_keepalive: { keepalive_time: 0 } })).toThrow(/tcp_keepalive.keepalive_time: must be 1 to 32767 seconds/);
    expect(() => cluster({ tcp_keepalive: { keepalive_probes: 200 } })).toThrow(/tcp_keepalive.keepalive_probes: must be 1 to 127/);
    expect(() => cluster({ tcp_keepalive: { keepalive_idle: 3 } })).toThrow(/keepalive_idle/);
    expect(() => cluster({ happy_eyeballs_config: {} })).toThrow(/upstream_connection_options: `happy_eyeballs_config` is an Envoy field that polyvoy does not support yet/);
    expect(cluster({ set_local_interface_name_on_upstream_connections: false }).tcpKeepalive).toBeUndefined();
    // A pipe endpoint has no TCP timers: the timing fields are refused, SO_KEEPALIVE alone is not.
    const pipe = (keepalive: object) =>
      loadBootstrap(JSON.stringify({ static_resources: { clusters: [{ name: "p", load_assignment: { cluster_name: "p", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "/tmp/p.sock" } } } }] }] }, upstream_connection_options: { tcp_keepalive: keepalive } }] } }), "json").clusters[0]!;
    expect(() => pipe({ keepalive_time: 30 })).toThrow(/upstream_connection_options\.tcp_keepalive: keepalive_probes, keepalive_time and keepalive_interval are TCP's: they cannot apply to the cluster's pipe \(Unix socket\) endpoints/);
    expect(pipe({}).tcpKeepalive).toEqual({});
  });

  test("a field the runtime cannot set is refused naming the runtime; {} needs only SO_KEEPALIVE", () => {
    const node = { name: "node", tcpKeepalive: idleTimeOnlyKeepalive("node") } as unknown as Runtime;
    expect(tcpKeepaliveRefusal({}, node)).toBeUndefined();
    expect(tcpKeepaliveRefusal({ timeSec: 30 }, node)).toBeUndefined();
    expect(tcpKeepaliveRefusal({ timeSec: 30, probes: 3 }, node)).toBe(
      "upstream_connection_options.tcp_keepalive.keepalive_probes is not supported on node: node's socket.setKeepAlive sets only SO_KEEPALIVE and the idle time (keepalive_time), not the probe count or interval",
    );
    const none = { name: "other" } as unknown as Runtime;
    expect(tcpKeepaliveRefusal({}, none)).toBe("upstream_connection_options.tcp_keepalive is not supported on other: its sockets cannot set SO_KEEPALIVE");
  });

  test("the cluster refuses to start on such a runtime, and hands the settings to each TCP connection", async () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    const dispatcher = { runtime, timers: new Timers(runtime) };
    const config = cluster({ tcp_keepalive: { keepalive_time: 30 } });
    const refused = new Cluster(config, new StatsStore());
    const nodeLike = Object.assign(Object.create(runtime) as MemoryRuntime, { name: "node", tcpKeepalive: idleTimeOnlyKeepalive("node") });
    await expect(new Cluster(cluster({ tcp_keepalive: { keepalive_interval: 5 } }), new StatsStore()).initialize({ ...dispatcher, runtime: nodeLike })).rejects.toThrow(
      "cluster 'c': upstream_connection_options.tcp_keepalive.keepalive_interval is not supported on node",
    );
    await refused.initialize(dispatcher);
    const socket = refused.connect(runtime, "127.0.0.1", 9) as unknown as MemorySocket;
    expect(socket.keepalive).toEqual({ timeSec: 30 });
    const plain = new Cluster(cluster(undefined), new StatsStore());
    expect((plain.connect(runtime, "127.0.0.1", 9) as unknown as MemorySocket).keepalive).toBeUndefined();
  });

  test("a CDS update with a field the runtime cannot set is NACKed (update_rejected); the cluster in use serves on", async () => {
    const CDS = "/xds/cds.json";
    const cds = (version: string, keepalive: object | undefined) =>
      JSON.stringify({
        version_info: version,
        resources: [
          {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            name: "c",
            connect_timeout: "1s",
            load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] },
            ...(keepalive && { upstream_connection_options: { tcp_keepalive: keepalive } }),
          },
        ],
      });
    const runtime = new MemoryRuntime({ seed: 1, files: { [CDS]: cds("1", { keepalive_time: 30 }) }, directories: ["/xds"] });
    // A runtime whose sockets set only the idle time, as node's.
    Object.defineProperty(runtime, "tcpKeepalive", { value: idleTimeOnlyKeepalive("node") });
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 500 && !done(); i++) {
        runtime.advance(10);
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
    let server: Awaited<ReturnType<typeof startProxy>> | undefined;
    void startProxy(runtime, { dynamic_resources: { cds_config: { path_config_source: { path: CDS }, resource_api_version: "V3" } } }).then((s) => (server = s));
    await until(() => server !== undefined);
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    await until(() => stat("cluster_manager.cds.update_success") === 1);
    const serving = server!.clusterManager.get("c");
    expect(serving).toBeDefined();
    runtime.files.set(CDS, cds("2", { keepalive_time: 30, keepalive_probes: 3 }));
    await until(() => stat("cluster_manager.cds.update_rejected") + stat("cluster_manager.cds.update_success") > 1);
    expect(stat("cluster_manager.cds.update_rejected")).toBe(1);
    expect(stat("cluster_manager.cds.update_success")).toBe(1);
    expect(server!.clusterManager.get("c")).toBe(serving);
    server!.stop("test done");
  });
});
