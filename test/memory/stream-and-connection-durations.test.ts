/**
 * Durations from issue #32's protections on the memory runtime: a cluster's
 * max_connection_duration (upstream connections drain when they reach it) and a route's
 * max_stream_duration (replacing the HCM's, with its gRPC timeout header rules).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { pooledConnections, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

/** The upstream answers at once, except /slow (never) and /late (after 2 s). */
async function setup(options: { hcm?: Record<string, unknown>; clusterExtra?: Record<string, unknown>; route?: Record<string, unknown> }): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (request, response) => {
    if (request.path === "/slow") return;
    if (request.path === "/late") {
      runtime.setTimeout(() => response.respond(200, "late"), 2000);
      return;
    }
    response.respond(200, request.path);
  });
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [{ match: { prefix: "/" }, cluster: "backend", action: { route: { cluster: "backend", ...options.route } } }],
      hcm: options.hcm,
      clusterExtra: options.clusterExtra,
    }),
  );
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

afterEach(() => upstream?.close());

describe("cluster max_connection_duration", () => {
  const typed = {
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        common_http_protocol_options: { max_connection_duration: "10s" },
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  };
  const legacy = { common_http_protocol_options: { max_connection_duration: "10s" } };

  for (const [how, clusterExtra] of [
    ["typed_extension_protocol_options", typed],
    ["the legacy cluster field", legacy],
  ] as const) {
    test(`${how}: an idle connection that reaches it closes; the next request opens another`, async () => {
      await setup({ clusterExtra });
      const client = new MemoryHttpClient(runtime, PROXY);
      client.request("GET", "/a");
      runtime.runDue();
      expect(pooledConnections(server, "backend")).toBe(1);
      runtime.advance(9999);
      expect(pooledConnections(server, "backend")).toBe(1);
      runtime.advance(1);
      expect(pooledConnections(server, "backend")).toBe(0);
      expect(stat("cluster.backend.upstream_cx_max_duration_reached")).toBe(1);
      client.request("GET", "/b");
      runtime.runDue();
      expect(client.responses.map((r) => r.text())).toEqual(["/a", "/b"]);
      expect(stat("cluster.backend.upstream_cx_total")).toBe(2);
      client.socket.close();
    });
  }

  test("a busy connection drains: its request finishes, it takes no other, then closes", async () => {
    await setup({ clusterExtra: typed });
    const first = new MemoryHttpClient(runtime, PROXY);
    first.request("GET", "/a");
    runtime.runDue();
    runtime.advance(9000);
    first.request("GET", "/late");
    runtime.runDue();
    runtime.advance(1000);
    expect(stat("cluster.backend.upstream_cx_max_duration_reached")).toBe(1);
    // Draining: a new request needs a new connection.
    const second = new MemoryHttpClient(runtime, PROXY);
    second.request("GET", "/c");
    runtime.runDue();
    expect(second.responses.map((r) => r.text())).toEqual(["/c"]);
    expect(stat("cluster.backend.upstream_cx_total")).toBe(2);
    runtime.advance(1000);
    expect(first.responses.map((r) => r.text())).toEqual(["/a", "late"]);
    runtime.runDue();
    // The drained one closed after its response; the other is idle in the pool.
    expect(pooledConnections(server, "backend")).toBe(1);
    expect(stat("cluster.backend.upstream_cx_destroy")).toBe(1);
    first.socket.close();
    second.socket.close();
  });

  test("both the legacy field and the typed options: a config error naming the field", async () => {
    await expect(setup({ clusterExtra: { ...typed, ...legacy } })).rejects.toThrow(/clusters\[0\]\.common_http_protocol_options: cannot be set with typed_extension_protocol_options/);
  });
});

describe("route max_stream_duration", () => {
  test("replaces the HCM's", async () => {
    await setup({ hcm: { common_http_protocol_options: { max_stream_duration: "10s" } }, route: { max_stream_duration: { max_stream_duration: "2s" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    runtime.runDue();
    runtime.advance(1999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "downstream duration timeout"]]);
    expect(stat("http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
    client.socket.close();
  });

  test("an explicit 0 lifts the HCM's; without max_stream_duration the message falls back to it", async () => {
    await setup({ hcm: { common_http_protocol_options: { max_stream_duration: "2s" } }, route: { max_stream_duration: { max_stream_duration: "0s" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/late");
    runtime.runDue();
    runtime.advance(2000);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "late"]]);
    client.socket.close();
    upstream.close();
    await setup({ hcm: { common_http_protocol_options: { max_stream_duration: "1s" } }, route: { max_stream_duration: { grpc_timeout_header_max: "0s" } } });
    const other = new MemoryHttpClient(runtime, PROXY);
    other.request("GET", "/slow");
    runtime.runDue();
    runtime.advance(1000);
    expect(other.responses.map((r) => r.status)).toEqual([504]);
    other.socket.close();
  });

  test("a route with max_stream_duration has no overall route timeout (Envoy's new timeouts)", async () => {
    await setup({ route: { timeout: "1s", max_stream_duration: { max_stream_duration: "3s" } } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/slow");
    runtime.runDue();
    runtime.advance(2999);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[504, "downstream duration timeout"]]);
    expect(upstream.requests[0]!.get("x-envoy-expected-rq-timeout-ms")).toBeUndefined();
    client.socket.close();
  });

  test("grpc-timeout: capped by grpc_timeout_header_max, less grpc_timeout_header_offset, and rewritten for the upstream", async () => {
    await setup({ route: { max_stream_duration: { max_stream_duration: "30s", grpc_timeout_header_max: "5s", grpc_timeout_header_offset: "0.2s" } } });
    const grpc = { "content-type": "application/grpc" };
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/slow", { headers: { ...grpc, "grpc-timeout": "1S" }, body: "" });
    runtime.runDue();
    expect(upstream.requests[0]!.get("grpc-timeout")).toBe("800m");
    runtime.advance(799);
    expect(client.responses).toHaveLength(0);
    runtime.advance(1);
    // The 504 as a gRPC local reply: DEADLINE_EXCEEDED, as Envoy's onStreamMaxDurationReached says.
    expect(client.responses.map((r) => [r.status, r.get("grpc-status"), r.get("grpc-message")])).toEqual([[200, "4", "downstream duration timeout"]]);
    client.socket.close();
    // Over the max: capped at 5 s.
    const capped = new MemoryHttpClient(runtime, PROXY);
    capped.request("POST", "/slow", { headers: { ...grpc, "grpc-timeout": "10S" }, body: "" });
    runtime.runDue();
    expect(upstream.requests[1]!.get("grpc-timeout")).toBe("4800m");
    runtime.advance(4800);
    expect(capped.responses.map((r) => r.get("grpc-status"))).toEqual(["4"]);
    capped.socket.close();
    // No grpc-timeout: max_stream_duration, which the upstream is told.
    const plain = new MemoryHttpClient(runtime, PROXY);
    plain.request("POST", "/slow", { headers: grpc, body: "" });
    runtime.runDue();
    expect(upstream.requests[2]!.get("grpc-timeout")).toBe("30000m");
    plain.socket.close();
  });
});
