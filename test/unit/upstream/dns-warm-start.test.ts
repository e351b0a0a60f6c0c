/**
 * Start-up waits for DNS (Envoy's ClusterManagerInitHelper and DnsClusterImpl /
 * LogicalDnsCluster::startPreInit), on the memory runtime with a slow resolver: the admin
 * listens at once and /ready says PRE_INITIALIZING while a STRICT_DNS or LOGICAL_DNS
 * cluster's first resolution is on its way; the listener binds once it completed, answered
 * or failed; `wait_for_warm_on_init: false` is not waited for.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
// Server.start() imports the admin's module when admin is configured; in the bundles that
// settles within microtasks, under vitest a first import takes real I/O turns, which
// `settle` (it stops when no virtual event is due) does not wait for. Loaded here first.
import "../../../core/admin/admin.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient } from "../../memory/support/http-peers.ts";
// The admin's /stats?filter= answers at once with the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

const IN = 10000;
const ADMIN = 9901;
const DNS_DELAY_MS = 3000;

function config(type: "STRICT_DNS" | "LOGICAL_DNS", names: string[], waitForWarm?: boolean): object {
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ADMIN } } },
    static_resources: {
      listeners: [
        {
          name: "in",
          address: { socket_address: { address: "127.0.0.1", port_value: IN } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "in",
                    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "in" } } }] }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "svc",
          type,
          dns_refresh_rate: "60s",
          ...(waitForWarm !== undefined ? { wait_for_warm_on_init: waitForWarm } : {}),
          load_assignment: { cluster_name: "svc", endpoints: [{ lb_endpoints: names.map((name) => ({ endpoint: { address: { socket_address: { address: name, port_value: 8080 } } } })) }] },
        },
      ],
    },
  };
}

/** One GET on a new connection: its status and body, or undefined when the connection was refused. */
function get(runtime: MemoryRuntime, port: number, path = "/"): { status: number; body: string } | undefined {
  const client = new MemoryHttpClient(runtime, port);
  client.request("GET", path);
  runtime.advance(1);
  const response = client.responses[0];
  if (!client.closed) client.socket.close();
  runtime.runDue();
  return response && { status: response.status, body: response.text() };
}

function start(cfg: object, prepare: (runtime: MemoryRuntime) => void): { runtime: MemoryRuntime; server: Server; started: () => boolean } {
  const runtime = new MemoryRuntime({ seed: 3, dnsDelayMs: DNS_DELAY_MS });
  prepare(runtime);
  const server = new Server(runtime, loadBootstrap(JSON.stringify(cfg), "json"), new Logger(runtime, "error"));
  let started = false;
  void server.start().then(() => (started = true));
  return { runtime, server, started: () => started };
}

describe("start-up waits for each DNS cluster's first resolution", () => {
  test.each(["STRICT_DNS", "LOGICAL_DNS"] as const)("%s: a slow first answer holds the listener back (admin: PRE_INITIALIZING); the answer releases it", async (type) => {
    const { runtime, server, started } = start(config(type, ["backend.test"]), (r) => r.setDnsAnswer("backend.test", ["10.0.0.7"]));
    await runtime.settle(DNS_DELAY_MS - 500);
    expect(started()).toBe(false);
    expect(server.state).toBe("PRE_INITIALIZING");
    expect(get(runtime, ADMIN, "/ready")).toEqual({ status: 503, body: "PRE_INITIALIZING\n" });
    expect(get(runtime, IN)).toBeUndefined();
    expect(get(runtime, ADMIN, "/stats?filter=^server\\.state$")?.body).toBe("server.state: 2\n");
    await runtime.settle(1000);
    expect(started()).toBe(true);
    expect(server.state).toBe("LIVE");
    expect(get(runtime, IN)).toEqual({ status: 200, body: "in" });
    expect(get(runtime, ADMIN, "/ready")).toEqual({ status: 200, body: "LIVE\n" });
    // The host is there before the first request can arrive.
    expect(get(runtime, ADMIN, "/clusters")?.body).toContain("svc::10.0.0.7:8080::hostname::backend.test\n");
    await server.stop("test");
  });

  test("STRICT_DNS: every name's first resolution is waited for; a failed one releases start-up too", async () => {
    const { runtime, server, started } = start(config("STRICT_DNS", ["a.test", "b.test"]), (r) => {
      r.setDnsAnswer("a.test", ["10.0.0.1"]);
      r.setDnsFailure("b.test", "EAI_AGAIN");
    });
    await runtime.settle(DNS_DELAY_MS - 500);
    expect(started()).toBe(false);
    await runtime.settle(1000);
    expect(started()).toBe(true);
    expect(get(runtime, IN)).toEqual({ status: 200, body: "in" });
    const stats = get(runtime, ADMIN, "/stats?filter=^cluster\\.svc\\.update_")?.body ?? "";
    expect(stats).toContain("cluster.svc.update_failure: 1\n");
    expect(stats).toContain("cluster.svc.update_success: 1\n");
    await server.stop("test");
  });

  test("wait_for_warm_on_init: false: the listener binds before the first answer", async () => {
    const { runtime, server, started } = start(config("STRICT_DNS", ["backend.test"], false), (r) => r.setDnsAnswer("backend.test", ["10.0.0.7"]));
    await runtime.settle(100);
    expect(started()).toBe(true);
    expect(get(runtime, IN)).toEqual({ status: 200, body: "in" });
    expect(get(runtime, ADMIN, "/clusters")?.body).not.toContain("svc::10.0.0.7");
    await server.stop("test");
  });
});
