/**
 * Stat names from config sanitized as Envoy's createScope does (Stats::Utility::sanitizeStatsName):
 * a cluster named `a:b` counts as `cluster.a_b.*`, and every stat under one config name, whether
 * made through a scope or by a filter that joins the prefix itself, lands under the same name.
 */
import { describe, expect, test } from "vitest";
import { ListenerStats } from "../../../core/network/listener-stats.ts";
import { sanitizeStatsName, sanitizeStatsPrefix } from "../../../core/stats/sanitize-stats-name.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { startProxy } from "../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

describe("sanitizeStatsName", () => {
  test("one leading and one trailing '.' dropped; '://', ':/', ':' and NUL each become '_'", () => {
    expect(sanitizeStatsName("a:b")).toBe("a_b");
    expect(sanitizeStatsName("http://x:/y:z\0w")).toBe("http_x_y_z_w");
    expect(sanitizeStatsName("..a..")).toBe(".a.");
    expect(sanitizeStatsName("")).toBe("");
    expect(sanitizeStatsPrefix("cluster.a:b.")).toBe("cluster.a_b.");
    expect(sanitizeStatsPrefix("cluster.a.b")).toBe("cluster.a.b");
    expect(sanitizeStatsPrefix(".")).toBe("");
  });

  test("a listener without stat_prefix is named by its address as Envoy writes it, sanitized", () => {
    expect(new ListenerStats(new StatsStore(), { address: "::1", port: 10000 }).prefix).toBe("listener.[__1]_10000.");
    expect(new ListenerStats(new StatsStore(), { address: "0.0.0.0", port: 80 }).prefix).toBe("listener.0.0.0.0_80.");
    expect(new ListenerStats(new StatsStore(), { address: "::", port: 80 }, "in:side").prefix).toBe("listener.in_side.");
  });
});

describe("stat names from config", () => {
  test("a cluster `a:b` and an HCM stat_prefix `in:gress` count under `a_b` and `in_gress`, scope-made and filter-made stats alike", async () => {
    const runtime = new MemoryRuntime();
    await MemoryHttpServer.listen(runtime, UPSTREAM, (_request, response) => response.respond(200, "ok"));
    const server = await startProxy(runtime, {
      static_resources: {
        listeners: [{
          name: "ingress",
          address: { socket_address: { address: "127.0.0.1", port_value: PROXY } },
          filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "in:gress",
            route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a:b" } }] }] },
            http_filters: [
              { name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } },
              { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
            ],
          } }] }],
        }],
        clusters: [{ name: "a:b", type: "STATIC", load_assignment: { cluster_name: "a:b", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: UPSTREAM } } } }] }] } }],
      },
    });
    await runtime.settle();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    await runtime.settle();
    expect(client.responses[0]?.status).toBe(200);

    const value = (name: string): number | undefined => {
      const stat = server.stats.get(name);
      return stat && "value" in stat ? Number(stat.value) : undefined;
    };
    expect(value("cluster.a_b.upstream_rq_total")).toBe(1);
    expect(value("cluster.a_b.membership_total")).toBe(1);
    expect(value("http.in_gress.downstream_rq_total")).toBe(1);
    // The fault filter joins its prefix itself (not through a scope): the same sanitized name.
    expect(value("http.in_gress.fault.aborts_injected")).toBe(0);
    expect(value("listener.127.0.0.1_10000.downstream_cx_total")).toBe(1);
    expect(server.stats.all().filter((s) => s.name.includes(":")).map((s) => s.name)).toEqual([]);
  });
});
