/**
 * The HCM's request rules from issue #32's protections, on the memory runtime:
 * normalize_path, merge_slashes, path_with_escaped_slashes_action (routing and the
 * upstream see the normalized path) and headers_with_underscores_action.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { activeDownstreamConnections, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

/** /admin is refused by the proxy (a direct 403); everything else goes to the upstream, which echoes its path. */
async function setup(hcm: Record<string, unknown>, clusterExtra?: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (request, response) => {
    // /slow never answers; /half sends its head and part of its body, then stalls.
    if (request.path === "/slow") return;
    if (request.path === "/late") {
      runtime.setTimeout(() => response.respond(200, "late"), 2000);
      return;
    }
    if (request.path === "/half") {
      response.writeHead(200, { "content-length": "10" });
      response.write("12345");
      return;
    }
    response.respond(200, `${request.path}`);
  });
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [
        { match: { prefix: "/admin" }, action: { direct_response: { status: 403 } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
      hcm,
      clusterExtra,
    }),
  );
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

/** One request on a new connection; the response, and whether the proxy closed the connection. */
function exchange(path: string, headers: Record<string, string> = {}): { status: number; body: string; location?: string; grpcStatus?: string; closed: boolean } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, { headers });
  // Not runUntilIdle: that would run the connection's idle timeout too.
  runtime.runDue();
  const response = client.responses[0]!;
  const result = { status: response.status, body: response.text(), location: response.get("location"), grpcStatus: response.get("grpc-status"), closed: client.ended };
  client.socket.close();
  runtime.runUntilIdle();
  return result;
}

afterEach(() => {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  upstream?.close();
});

describe("normalize_path", () => {
  test("off (the default): dot segments reach routing and the upstream as sent", async () => {
    await setup({});
    expect(exchange("/public/../admin")).toMatchObject({ status: 200, body: "/public/../admin" });
  });

  test("on: the route is chosen on the normalized path, and the upstream gets it", async () => {
    await setup({ normalize_path: true });
    expect(exchange("/public/../admin").status).toBe(403);
    expect(exchange("/public/%2E%2E/admin").status).toBe(403);
    expect(exchange("/a/./b/../%63?q=/../x")).toMatchObject({ status: 200, body: "/a/c?q=/../x" });
    expect(upstream.requests.map((r) => r.path)).toEqual(["/a/c?q=/../x"]);
  });

  test("a path that cannot be normalized: 400 path_normalization_failed", async () => {
    await setup({ normalize_path: true });
    expect(exchange("/a/%00/b")).toMatchObject({ status: 400, body: "" });
    expect(stat("http.ingress_http.downstream_rq_failed_path_normalization")).toBe(1);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe("merge_slashes", () => {
  test("runs of slashes become one before routing", async () => {
    await setup({ merge_slashes: true });
    expect(exchange("//admin").status).toBe(403);
    expect(exchange("/a//b///c/?x=//")).toMatchObject({ status: 200, body: "/a/b/c/?x=//" });
  });
});

describe("path_with_escaped_slashes_action", () => {
  test("KEEP_UNCHANGED (the default): %2F stays", async () => {
    await setup({ path_with_escaped_slashes_action: "KEEP_UNCHANGED", normalize_path: true });
    expect(exchange("/a%2F..%2Fadmin")).toMatchObject({ status: 200, body: "/a%2F..%2Fadmin" });
  });

  test("REJECT_REQUEST: 400", async () => {
    await setup({ path_with_escaped_slashes_action: "REJECT_REQUEST" });
    expect(exchange("/a%2fb").status).toBe(400);
    expect(exchange("/a/b?c=%2f").status).toBe(200);
    expect(stat("http.ingress_http.downstream_rq_failed_path_normalization")).toBe(1);
  });

  test("UNESCAPE_AND_REDIRECT: 307 to the unescaped (and normalized) path; gRPC gets 400, as a gRPC local reply (grpc-status 13)", async () => {
    await setup({ path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT", normalize_path: true });
    expect(exchange("/a%2F..%2Fadmin?x=1")).toMatchObject({ status: 307, location: "/admin?x=1", closed: false });
    expect(stat("http.ingress_http.downstream_rq_redirected_with_normalized_path")).toBe(1);
    expect(exchange("/a%2Fb", { "content-type": "application/grpc" })).toMatchObject({ status: 200, grpcStatus: "13" });
    expect(stat("http.ingress_http.downstream_rq_failed_path_normalization")).toBe(1);
    expect(upstream.requests).toHaveLength(0);
  });

  test("UNESCAPE_AND_FORWARD: the unescaped path is routed and forwarded", async () => {
    await setup({ path_with_escaped_slashes_action: "UNESCAPE_AND_FORWARD", normalize_path: true });
    expect(exchange("/a%2F..%2Fadmin").status).toBe(403);
    expect(exchange("/a%5Cb")).toMatchObject({ status: 200, body: "/a/b" });
  });
});

describe("common_http_protocol_options.headers_with_underscores_action", () => {
  test("ALLOW (the default): forwarded", async () => {
    await setup({});
    exchange("/x", { my_header: "1" });
    expect(upstream.requests[0]!.get("my_header")).toBe("1");
  });

  test("DROP_HEADER: removed before the upstream, and counted", async () => {
    await setup({ common_http_protocol_options: { headers_with_underscores_action: "DROP_HEADER" } });
    expect(exchange("/x", { my_header: "1", "other-header": "2", x_y: "3" }).status).toBe(200);
    const seen = upstream.requests[0]!;
    expect(seen.get("my_header")).toBeUndefined();
    expect(seen.get("x_y")).toBeUndefined();
    expect(seen.get("other-header")).toBe("2");
    expect(stat("http1.dropped_headers_with_underscores")).toBe(2);
  });

  test("REJECT_REQUEST: 400 and the connection closes", async () => {
    await setup({ common_http_protocol_options: { headers_with_underscores_action: "REJECT_REQUEST" } });
    expect(exchange("/x", { my_header: "1" })).toMatchObject({ status: 400, body: "Bad Request", closed: true });
    expect(stat("http1.requests_rejected_with_underscores_in_headers")).toBe(1);
    expect(stat("http.ingress_http.downstream_cx_protocol_error")).toBe(1);
    expect(upstream.requests).toHaveLength(0);
    expect(exchange("/x", { "my-header": "1" }).status).toBe(200);
  });
});

describe("common_http_protocol_options.max_requests_per_connection", () => {
  test("the Nth response says connection: close and the connection closes after it", async () => {
    await setup({ common_http_protocol_options: { max_requests_per_connection: 3 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 3; i++) {
      client.request("GET", `/${i}`);
      runtime.runDue();
    }
    expect(client.responses.map((r) => [r.status, r.get("connection")])).toEqual([
      [200, undefined],
      [200, undefined],
      [200, "close"],
    ]);
    expect(client.ended).toBe(true);
    expect(stat("http.ingress_http.downstream_cx_max_requests_reached")).toBe(1);
    client.socket.close();
  });

  test("pipelined past the limit: the rest are not answered", async () => {
    await setup({ common_http_protocol_options: { max_requests_per_connection: 2 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.send("GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n");
    for (let i = 0; i < 3; i++) client.parser.expectResponseTo("GET");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["/a", "/b"]);
    expect(client.ended).toBe(true);
    expect(upstream.requests).toHaveLength(2);
    client.socket.close();
  });

  test("unset: no limit", async () => {
    await setup({});
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 5; i++) {
      client.request("GET", `/${i}`);
      runtime.runDue();
    }
    expect(client.responses.every((r) => r.get("connection") === undefined)).toBe(true);
    expect(client.ended).toBe(false);
    client.socket.close();
  });
});

describe("upstream max_requests_per_connection", () => {
  for (const [how, clusterExtra] of [
    [
      "typed_extension_protocol_options",
      {
        typed_extension_protocol_options: {
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            common_http_protocol_options: { max_requests_per_connection: 2 },
            explicit_http_config: { http_protocol_options: {} },
          },
        },
      },
    ],
    ["the legacy cluster field", { max_requests_per_connection: 2 }],
  ] as const) {
    test(`${how}: the pool retires a connection after N requests`, async () => {
      await setup({}, clusterExtra);
      const client = new MemoryHttpClient(runtime, PROXY);
      for (let i = 0; i < 5; i++) {
        client.request("GET", `/${i}`);
        runtime.runDue();
      }
      expect(client.responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(upstream.requests.map((r) => r.path)).toEqual(["/0", "/1", "/2", "/3", "/4"]);
      // Connections 0 and 1 carried two requests each and were closed; the third carries the fifth.
      expect(stat("cluster.backend.upstream_cx_total")).toBe(3);
      expect(stat("cluster.backend.upstream_cx_max_requests")).toBe(2);
      expect(stat("cluster.backend.upstream_cx_destroy")).toBeGreaterThanOrEqual(2);
      client.socket.close();
    });
  }
});

describe("common_http_protocol_options.max_stream_duration", () => {
  const hcm = { common_http_protocol_options: { max_stream_duration: "2s" } };

  test("a complete request with no response in time: 504 downstream duration timeout", async () => {
    await setup(hcm);
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

  test("counted from the request's first byte: a body that keeps coming is cut with 408", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("POST");
    client.send("POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n");
    for (let i = 0; i < 5 && client.responses.length === 0; i++) {
      client.send("x");
      runtime.advance(500);
    }
    expect(client.responses.map((r) => r.status)).toEqual([408]);
    expect(runtime.now()).toBe(2000);
    client.socket.close();
  });

  test("a head that trickles in is cut with 408", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("GET");
    client.send("GET /slow HTTP/1.1\r\n");
    runtime.advance(2000);
    expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[408, "downstream duration timeout"]]);
    expect(stat("http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
    client.socket.close();
  });

  test("a response already started is reset", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/half");
    runtime.runDue();
    runtime.advance(2000);
    expect(client.closed).toBe(true);
    expect(client.responses).toHaveLength(0);
    expect(stat("http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
  });

  test("streams that finish in time are not affected, and each stream gets its own duration", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 3; i++) {
      client.request("GET", `/${i}`);
      runtime.runDue();
      runtime.advance(1500);
    }
    expect(client.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(stat("http.ingress_http.downstream_rq_max_duration_reached")).toBe(0);
    client.socket.close();
  });
});

describe("common_http_protocol_options.max_connection_duration", () => {
  const hcm = { common_http_protocol_options: { max_connection_duration: "10s" } };

  test("an idle connection drains: closed drain_timeout (5 s) later", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.runDue();
    runtime.advance(10_000);
    expect(stat("http.ingress_http.downstream_cx_max_duration_reached")).toBe(1);
    expect(client.ended).toBe(false);
    runtime.advance(5000);
    expect(client.ended).toBe(true);
    client.socket.close();
  });

  test("a request in progress is the last: its response says connection: close", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.runDue();
    runtime.advance(9000);
    client.request("GET", "/late");
    runtime.runDue();
    runtime.advance(1000);
    expect(stat("http.ingress_http.downstream_cx_max_duration_reached")).toBe(1);
    expect(client.responses).toHaveLength(1);
    runtime.advance(1000);
    expect(client.responses.map((r) => [r.text(), r.get("connection")])).toEqual([
      ["/a", undefined],
      ["late", "close"],
    ]);
    expect(client.ended).toBe(true);
    client.socket.close();
  });

  test("a request that comes while draining gets connection: close", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.runDue();
    runtime.advance(11_000);
    client.request("GET", "/b");
    runtime.runDue();
    expect(client.responses.map((r) => [r.text(), r.get("connection")])).toEqual([
      ["/a", undefined],
      ["/b", "close"],
    ]);
    expect(client.ended).toBe(true);
    client.socket.close();
  });

  test("a connection that never sent a byte closes at once", async () => {
    await setup(hcm);
    const client = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    runtime.advance(10_000);
    expect(client.ended).toBe(true);
    expect(stat("http.ingress_http.downstream_cx_max_duration_reached")).toBe(1);
    client.socket.close();
  });
});
