/**
 * ext_proc's per-route config (ExtProcPerRoute) and FULL_DUPLEX_STREAMED bodies on every
 * runtime, against two real @grpc/grpc-js ExternalProcessors and a node:http upstream:
 * - a route with `disabled: true` reaches the upstream untouched (no processor sees it)
 *   while the others are processed;
 * - overrides.processing_mode: one route's request body BUFFERED and response headers SKIP;
 * - overrides.grpc_service (+ grpc_initial_metadata): another route goes to a second processor;
 * - overrides.processing_mode FULL_DUPLEX_STREAMED both ways: the processor answers the
 *   request body with its own grouping (held whole, sent back in three pieces) and each
 *   response chunk with two pieces, via streamed_response;
 * - a full duplex route with failure_mode_allow whose processor answers with a plain
 *   body_mutation: a 500, not the request upstream without the body the processor took.
 * The processors encode their answers by hand: the proto @grpc/grpc-js-xds ships predates
 * StreamedBodyResponse.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { loadEnvoyService } from "../support/envoy-grpc-service.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute";

// ---- ProcessingResponse by hand (external_processor.proto's field numbers) ----

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
const len = (field: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
};
const flag = (field: number, value: boolean) => (value ? Buffer.from([field << 3, 1]) : Buffer.alloc(0));
/** CommonResponse.header_mutation setting `name: value` (HeaderValueOption.header: key 1, raw_value 3). */
const setHeader = (name: string, value: string) => len(2, len(1, len(1, len(1, Buffer.from(name)), len(3, Buffer.from(value)))));
/** ProcessingResponse.request_headers (1) / response_headers (2): HeadersResponse { CommonResponse response = 1 }. */
const headersResponse = (field: 1 | 2, common: Buffer = Buffer.alloc(0)) => len(field, len(1, common));
/** request_body (3) / response_body (4) with CommonResponse.body_mutation (3) = BodyMutation.streamed_response (3). */
const streamed = (field: 3 | 4, body: Buffer, end: boolean) => len(field, len(1, len(3, len(3, len(1, body), flag(2, end)))));
/** request_body (3) with BodyMutation.body (1). */
const bodyReplaced = (body: Buffer) => len(3, len(1, len(3, len(1, body))));
/** request_trailers (5) / response_trailers (6): TrailersResponse {}. */
const trailersResponse = (field: 5 | 6) => len(field);

interface HeaderMap {
  headers?: { key: string; raw_value?: Buffer }[];
}
interface ProcessingRequest {
  request_headers?: { headers?: HeaderMap };
  response_headers?: { headers?: HeaderMap };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer; end_of_stream?: boolean };
  request_trailers?: object;
  response_trailers?: object;
}
const header = (map: HeaderMap | undefined, name: string) => map?.headers?.find((h) => h.key === name)?.raw_value?.toString("latin1");

/** What a processor saw of one path. */
interface Seen {
  messages: string[];
  metadata: string | undefined;
  requestChunks: number;
  responseChunks: number;
}

/** A processor named `name`: marks the headers it sees with x-proc: <name>; full duplex on /duplex. */
async function startProcessor(name: string): Promise<{ port: number; seen: Map<string, Seen>; close(): void }> {
  const seen = new Map<string, Seen>();
  const Process = loadEnvoyService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor").service["Process"]!;
  const server = new grpc.Server();
  // The answers are raw bytes (hand-encoded above); the requests as proto-loader reads them.
  const definition = { Process: { ...Process, responseSerialize: (b: Buffer) => b } };
  server.addService(definition as unknown as grpc.ServiceDefinition, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, Buffer>) => {
      let record: Seen = { messages: [], metadata: undefined, requestChunks: 0, responseChunks: 0 };
      let path = "";
      const held: Buffer[] = [];
      call.on("data", (req: ProcessingRequest) => {
        if (req.request_headers) {
          path = header(req.request_headers.headers, ":path") ?? "";
          record = { messages: [], metadata: call.metadata.get("x-tenant")[0]?.toString(), requestChunks: 0, responseChunks: 0 };
          seen.set(path, record);
        }
        record.messages.push(Object.keys(req).find((k) => k.endsWith("headers") || k.endsWith("body") || k.endsWith("trailers")) ?? "?");
        if (req.request_headers) return void call.write(headersResponse(1, setHeader("x-proc", name)));
        if (req.response_headers) return void call.write(headersResponse(2, setHeader("x-proc-resp", name)));
        if (req.request_body) {
          const body = req.request_body.body ?? Buffer.alloc(0);
          const end = req.request_body.end_of_stream === true;
          record.requestChunks++;
          if (path !== "/duplex") return void call.write(bodyReplaced(Buffer.from(body.toString("latin1").toUpperCase(), "latin1")));
          // Full duplex: held until the end, then sent back upper-cased in three pieces.
          held.push(body);
          if (!end) return;
          const all = Buffer.from(Buffer.concat(held).toString("latin1").toUpperCase(), "latin1");
          const third = Math.ceil(all.length / 3);
          for (let i = 0; i < 3; i++) call.write(streamed(3, all.subarray(i * third, (i + 1) * third), i === 2));
          return;
        }
        if (req.response_body) {
          // Full duplex: each chunk answered with two pieces, upper-cased; the end on the last.
          const body = Buffer.from((req.response_body.body ?? Buffer.alloc(0)).toString("latin1").toUpperCase(), "latin1");
          record.responseChunks++;
          const half = body.length >> 1;
          call.write(streamed(4, body.subarray(0, half), false));
          call.write(streamed(4, body.subarray(half), req.response_body.end_of_stream === true));
          return;
        }
        if (req.request_trailers) return void call.write(trailersResponse(5));
        if (req.response_trailers) return void call.write(trailersResponse(6));
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, seen, close: () => server.forceShutdown() };
}

const perRoute = (config: object) => ({ typed_per_filter_config: { "envoy.filters.http.ext_proc": { "@type": PER_ROUTE, ...config } } });

describe.each(RUNTIMES)("ext_proc per-route overrides and full duplex bodies on %s", (runtime) => {
  let upstream: http.Server;
  let procA: Awaited<ReturnType<typeof startProcessor>>;
  let procB: Awaited<ReturnType<typeof startProcessor>>;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    // The body read whole; answered with a summary (x-*) and its echo lower-cased.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("latin1");
        res.setHeader("x-saw-proc", String(req.headers["x-proc"]));
        res.setHeader("x-len", String(body.length));
        res.setHeader("x-upper", String(body.length > 0 && body === body.toUpperCase()));
        res.setHeader("x-chunked", String(req.headers["transfer-encoding"] === "chunked"));
        res.end(body.toLowerCase());
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    procA = await startProcessor("a");
    procB = await startProcessor("b");
    port = await freePort();
    const adminPort = await freePort();
    const route = (prefix: string, extra: object = {}) => ({ match: { prefix }, route: { cluster: "echo" }, ...extra });
    const duplex = { request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND", response_body_mode: "FULL_DUPLEX_STREAMED", response_trailer_mode: "SEND" };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [upstreamPort], proc_a: [procA.port], proc_b: [procB.port] },
      routes: [],
      virtualHosts: [
        {
          name: "backend",
          domains: ["*"],
          routes: [
            route("/disabled", perRoute({ disabled: true })),
            route("/mode", perRoute({ overrides: { processing_mode: { request_body_mode: "BUFFERED", response_header_mode: "SKIP" } } })),
            route("/other", perRoute({ overrides: { grpc_service: { envoy_grpc: { cluster_name: "proc_b" } }, grpc_initial_metadata: [{ key: "x-tenant", value: "t1" }] } })),
            route("/duplex-wrong", perRoute({ overrides: { processing_mode: duplex, failure_mode_allow: true } })),
            route("/duplex", perRoute({ overrides: { processing_mode: duplex } })),
            route("/"),
          ],
        },
      ],
      hcm: {
        http_filters: [
          { name: "envoy.filters.http.ext_proc", typed_config: { "@type": EXT_PROC, grpc_service: { envoy_grpc: { cluster_name: "proc_a" } }, message_timeout: "2s" } },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...(config as object) });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
    procA?.close();
    procB?.close();
  });

  test("disabled: true reaches the upstream untouched while another route is processed", async () => {
    const plain = await request(`http://127.0.0.1:${port}/plain`, { method: "POST", body: "hello" });
    expect(await plain.body.text()).toBe("hello");
    expect([plain.headers["x-saw-proc"], plain.headers["x-proc-resp"]]).toEqual(["a", "a"]);
    expect(procA.seen.get("/plain")!.messages).toEqual(["request_headers", "response_headers"]);
    const disabled = await request(`http://127.0.0.1:${port}/disabled`, { method: "POST", body: "hello" });
    expect(await disabled.body.text()).toBe("hello");
    expect([disabled.headers["x-saw-proc"], disabled.headers["x-proc-resp"]]).toEqual(["undefined", undefined]);
    expect(procA.seen.has("/disabled") || procB.seen.has("/disabled")).toBe(false);
  });

  test("overrides.processing_mode: that route's request body BUFFERED (replaced), its response headers SKIP", async () => {
    const response = await request(`http://127.0.0.1:${port}/mode`, { method: "POST", body: "make me loud" });
    expect(await response.body.text()).toBe("make me loud");
    expect([response.headers["x-upper"], response.headers["x-saw-proc"], response.headers["x-proc-resp"]]).toEqual(["true", "a", undefined]);
    expect(procA.seen.get("/mode")!.messages).toEqual(["request_headers", "request_body"]);
  });

  test("overrides.grpc_service with grpc_initial_metadata: the route's requests go to the second processor", async () => {
    const response = await request(`http://127.0.0.1:${port}/other`);
    await response.body.text();
    expect([response.statusCode, response.headers["x-saw-proc"], response.headers["x-proc-resp"]]).toEqual([200, "b", "b"]);
    expect(procB.seen.get("/other")).toMatchObject({ messages: ["request_headers", "response_headers"], metadata: "t1" });
    expect(procA.seen.has("/other")).toBe(false);
  });

  test("FULL_DUPLEX_STREAMED both ways: the processor answers with its own grouping of the body (streamed_response)", async () => {
    const size = 200 * 1024;
    const original = Buffer.alloc(size);
    for (let i = 0; i < size; i++) original[i] = 97 + (i % 26);
    const response = await request(`http://127.0.0.1:${port}/duplex`, { method: "POST", body: original });
    const body = await response.body.text();
    expect(response.statusCode).toBe(200);
    // The upstream got the processor's three pieces as the body, upper-cased, whole; the content-length went (chunked).
    expect([response.headers["x-len"], response.headers["x-upper"], response.headers["x-chunked"], response.headers["x-saw-proc"]]).toEqual([String(size), "true", "true", "a"]);
    // Its lower-case echo came back upper-cased, every response chunk answered with two pieces.
    expect(body.length).toBe(size);
    expect(body).toBe(original.toString("latin1").toUpperCase());
    expect(response.headers["content-length"]).toBeUndefined();
    const seen = procA.seen.get("/duplex")!;
    expect(seen.requestChunks).toBeGreaterThan(0);
    expect(seen.responseChunks).toBeGreaterThan(0);
    expect(seen.messages[0]).toBe("request_headers");
    expect(seen.messages).toContain("response_headers");
  });

  test("full duplex with failure_mode_allow: a plain body answer after the body went is a 500 (Envoy's failureModeAllow is false then), never the request without its body", async () => {
    const response = await request(`http://127.0.0.1:${port}/duplex-wrong`, { method: "POST", body: "taken by the processor" });
    await response.body.text();
    expect(response.statusCode).toBe(500);
    expect(response.headers["x-len"]).toBeUndefined();
    expect(procA.seen.get("/duplex-wrong")!.requestChunks).toBeGreaterThan(0);
  });
});
