/**
 * Local replies to gRPC requests (Envoy's Utility::prepareLocalReply with is_grpc), on the
 * memory runtime over HTTP/2 and HTTP/1.1: a trailers-only response, HTTP 200,
 * application/grpc, grpc-status mapped from the HTTP status (httpToGrpcStatus) and the
 * body as a percent-encoded grpc-message; local_reply_config rewrites first.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { httpToGrpcStatus, percentEncodeGrpcMessage } from "../../core/http/grpc-common.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { H2Client, type Exchange } from "./support/h2-client.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { activeDownstreamConnections, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const DEAD = 8081;
const GRPC = ["content-type", "application/grpc", "te", "trailers"];

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

async function setup(hcm: Record<string, unknown> = {}, extraFilters: unknown[] = []): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => res.respond(200, "upstream"));
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], dead: [DEAD], empty: [] },
      routes: [
        { match: { prefix: "/pkg.Svc/Direct" }, action: { direct_response: { status: 403, body: { inline_string: "go away: 100% ~ é\n" } } } },
        { match: { prefix: "/pkg.Svc/Dead" }, cluster: "dead" },
        { match: { prefix: "/pkg.Svc/Empty" }, cluster: "empty" },
        { match: { prefix: "/pkg.Svc/Up" }, cluster: "backend" },
      ],
      hcm: { ...hcm, ...(extraFilters.length > 0 && { http_filters: [...extraFilters, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }] }) },
    }),
  );
}

function headerOf(fields: string[] | undefined, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function grpcCall(path: string, contentType = "application/grpc"): Exchange {
  const client = new H2Client(runtime, PROXY);
  const ex = client.request([":path", path, "content-type", contentType, "te", "trailers"], "\0\0\0\0\0");
  runtime.advance(1000);
  client.socket.close();
  runtime.advance(1000);
  return ex;
}

/** A trailers-only response: one HEADERS block that ends the stream, no DATA. */
function expectTrailersOnly(ex: Exchange, grpcStatus: number, grpcMessage: string | undefined): void {
  expect(ex.headers).toHaveLength(1);
  expect(ex.ended).toBe(true);
  expect(ex.body).toBe(0);
  expect(ex.trailers).toBeUndefined();
  const head = ex.headers[0]!;
  expect(headerOf(head, ":status")).toBe("200");
  expect(headerOf(head, "content-type")).toBe("application/grpc");
  expect(headerOf(head, "grpc-status")).toBe(String(grpcStatus));
  expect(headerOf(head, "grpc-message")).toBe(grpcMessage);
  expect(headerOf(head, "content-length")).toBeUndefined();
}

afterEach(() => {
  if (!runtime) return; // the pure tests start none
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  upstream?.close();
});

describe("httpToGrpcStatus and grpc-message encoding", () => {
  test("Envoy's table (source/common/grpc/status.cc)", () => {
    const table: [number, number][] = [
      [400, 13],
      [401, 16],
      [403, 7],
      [404, 12],
      [429, 14],
      [502, 14],
      [503, 14],
      [504, 14],
      [500, 2],
      [413, 2],
      [200, 2],
    ];
    for (const [http, grpc] of table) expect([http, httpToGrpcStatus(http)]).toEqual([http, grpc]);
  });

  test("percent-encoding: bytes outside 0x20..0x7d and '%'", () => {
    expect(percentEncodeGrpcMessage("no healthy upstream")).toBe("no healthy upstream");
    expect(percentEncodeGrpcMessage("a%b~c\n\u00e9")).toBe("a%25b%7Ec%0A%E9");
  });
});

describe("local replies to gRPC requests over HTTP/2", () => {
  test("no route: grpc-status 12 UNIMPLEMENTED, no message (the 404 has no body)", async () => {
    await setup();
    expectTrailersOnly(grpcCall("/other.Svc/M"), 12, undefined);
    expect((server.stats.get("http.ingress_http.downstream_rq_2xx") as { value: number }).value).toBe(1);
  });

  test("no healthy upstream: 14 UNAVAILABLE with Envoy's text", async () => {
    await setup();
    expectTrailersOnly(grpcCall("/pkg.Svc/Empty"), 14, "no healthy upstream");
  });

  test("connection refused: 14 UNAVAILABLE, the reset reason as message", async () => {
    await setup();
    const ex = grpcCall("/pkg.Svc/Dead");
    expectTrailersOnly(ex, 14, headerOf(ex.headers[0], "grpc-message"));
    expect(headerOf(ex.headers[0], "grpc-message")).toMatch(/^upstream connect error/);
  });

  test("a direct response: its status mapped, its body (UTF-8 bytes) percent-encoded", async () => {
    await setup();
    expectTrailersOnly(grpcCall("/pkg.Svc/Direct"), 7, "go away: 100%25 %7E %C3%A9%0A");
  });

  test("application/grpc+proto is gRPC; application/grpc-web is not", async () => {
    await setup();
    expectTrailersOnly(grpcCall("/pkg.Svc/Empty", "application/grpc+proto"), 14, "no healthy upstream");
    const web = grpcCall("/pkg.Svc/Empty", "application/grpc-web");
    expect(headerOf(web.headers[0], ":status")).toBe("503");
    expect(headerOf(web.headers[0], "grpc-status")).toBeUndefined();
    expect(web.text).toBe("no healthy upstream");
  });

  test("a proxied gRPC response is not touched", async () => {
    await setup();
    const ex = grpcCall("/pkg.Svc/Up");
    expect(headerOf(ex.headers[0], ":status")).toBe("200");
    expect(ex.text).toBe("upstream");
  });

  test("local_reply_config rewrites first: its status is the one mapped, its body the message", async () => {
    await setup({
      local_reply_config: {
        mappers: [
          {
            filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 503, runtime_key: "k" } } } },
            status_code: 401,
            body: { inline_string: "mapped" },
          },
        ],
      },
    });
    expectTrailersOnly(grpcCall("/pkg.Svc/Empty"), 16, "mapped");
  });

  test("a grpc-status added by local_reply_config stays; a JSON body loses its final newline", async () => {
    await setup({
      local_reply_config: {
        mappers: [
          {
            filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 503, runtime_key: "k" } } } },
            headers_to_add: [{ header: { key: "grpc-status", value: "4" } }],
          },
        ],
        body_format: { json_format: { m: "%LOCAL_REPLY_BODY%" } },
      },
    });
    expectTrailersOnly(grpcCall("/pkg.Svc/Empty"), 4, '{"m":"no healthy upstream"}');
  });

  test("local_ratelimit rate_limited_as_resource_exhausted: 8 RESOURCE_EXHAUSTED; without it the 429 maps to 14", async () => {
    const limit = (asExhausted: boolean) => ({
      name: "envoy.filters.http.local_ratelimit",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        stat_prefix: "rl",
        token_bucket: { max_tokens: 1, fill_interval: "100s" },
        filter_enabled: { default_value: { numerator: 100 } },
        filter_enforced: { default_value: { numerator: 100 } },
        rate_limited_as_resource_exhausted: asExhausted,
      },
    });
    await setup({}, [limit(true)]);
    expect(headerOf(grpcCall("/pkg.Svc/Up").headers[0], ":status")).toBe("200");
    expectTrailersOnly(grpcCall("/pkg.Svc/Up"), 8, "local_rate_limited");
    runtime.runUntilIdle();
    upstream.close();
    await setup({}, [limit(false)]);
    grpcCall("/pkg.Svc/Up");
    expectTrailersOnly(grpcCall("/pkg.Svc/Up"), 14, "local_rate_limited");
  });
});

describe("local replies to gRPC requests over HTTP/1.1", () => {
  test("the same head, no body", async () => {
    await setup();
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/pkg.Svc/Empty", { headers: { "content-type": "application/grpc" }, body: "\0\0\0\0\0" });
    runtime.advance(1000);
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("grpc-status")).toBe("14");
    expect(response.get("grpc-message")).toBe("no healthy upstream");
    expect(response.get("content-type")).toBe("application/grpc");
    expect(response.text()).toBe("");
    client.socket.close();
  });
});
