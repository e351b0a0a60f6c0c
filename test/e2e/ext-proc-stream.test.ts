/**
 * ext_proc's STREAMED and BUFFERED_PARTIAL bodies and trailers SEND on every runtime,
 * against a real @grpc/grpc-js ExternalProcessor and a node:http upstream:
 * - STREAMED both ways: a 1 MiB request sent chunked, each chunk upper-cased by the
 *   processor on the way in, the upstream's lower-case echo upper-cased chunk by chunk on
 *   the way out, with a 64 KiB buffer limit (the chunk queue pauses the sender over it);
 * - BUFFERED_PARTIAL over the limit: the processor gets the first 64 KiB and more, with
 *   end_of_stream false, and replaces it; the rest passes unprocessed;
 * - trailers SEND: an HTTP/1 chunked request's trailers and the upstream's response
 *   trailers mutated by the processor (enable_trailers on both sides); a gRPC upstream's
 *   HTTP/2 trailers, its response body STREAMED;
 * - a processor that stalls on a body chunk: message_timeout's 504;
 * - a processor that ends the stream mid-body (the rest goes on unprocessed) or fails it (500);
 * - a spurious message while chunks wait (a 500; with failure_mode_allow they go on unprocessed); CONTINUE_AND_REPLACE on the
 *   headers while the body comes (nothing of the original goes upstream); content-length
 *   removed when mode_override makes the body STREAMED, and not set by the processor then.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import { Readable } from "node:stream";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { chunkedResponse, rawExchange } from "../support/raw-http.ts";
import { adminStats } from "../support/admin-stats.ts";
import { startEchoGrpcServer, type EchoGrpcServer } from "../support/grpc-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const LIMIT = 64 * 1024;
const MIB = 1024 * 1024;

interface HeaderValue {
  key: string;
  raw_value?: Buffer;
}
interface HeaderMap {
  headers?: HeaderValue[];
}
interface ProcessingRequest {
  request_headers?: { headers?: HeaderMap };
  response_headers?: { headers?: HeaderMap };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer; end_of_stream?: boolean };
  request_trailers?: { trailers?: HeaderMap };
  response_trailers?: { trailers?: HeaderMap };
}

const header = (map: HeaderMap | undefined, name: string) => map?.headers?.find((h) => h.key === name)?.raw_value?.toString("latin1");
const set = (key: string, value: string) => ({ header: { key, raw_value: Buffer.from(value) } });

/** What the processor saw of one request. */
interface Seen {
  bodies: { size: number; end: boolean }[];
  responseBodies: number;
}

/** The processor: what it does depends on the request's path. */
async function startProcessor(): Promise<{ port: number; seen: Map<string, Seen>; trailers: string[]; close(): void }> {
  const seen = new Map<string, Seen>();
  // Trailers as they came (with headers SKIP, no path is known).
  const trailers: string[] = [];
  const service = await startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, object>) => {
      let path = "";
      let record: Seen = { bodies: [], responseBodies: 0 };
      call.on("data", (req: ProcessingRequest) => {
        if (req.request_headers) {
          path = header(req.request_headers.headers, ":path") ?? "";
          record = { bodies: [], responseBodies: 0 };
          seen.set(path, record);
          // CONTINUE_AND_REPLACE, answered once the body's first part has come (held meanwhile).
          // The body mode made STREAMED by mode_override (on the "override" listener); a content-length set by the processor.
          if (path === "/override") return void call.write({ request_headers: {}, mode_override: { request_body_mode: "STREAMED" } });
          if (path === "/set-length") return void call.write({ request_headers: { response: { header_mutation: { set_headers: [set("content-length", "3")] } } } });
          if (path === "/replace") return void setTimeout(() => call.write({ request_headers: { response: { status: "CONTINUE_AND_REPLACE", body_mutation: { body: Buffer.from("REPLACED") } } } }), 200);
          call.write({ request_headers: {} });
        } else if (req.request_body) {
          const body = req.request_body.body ?? Buffer.alloc(0);
          record.bodies.push({ size: body.length, end: req.request_body.end_of_stream === true });
          // The stalled request: its chunk is never answered.
          if (path === "/stall") return;
          // A processor that leaves its chunks unanswered and, at the third, sends a message out of turn.
          if (path === "/spurious") return void (record.bodies.length === 3 && call.write({ request_trailers: {} }));
          // A processor that fails the stream at the first chunk.
          if (path === "/fail-mid") return call.emit("error", Object.assign(new Error("processor failed"), { code: 13 }));
          let replaced = path === "/partial" ? Buffer.from(`PARTIAL(${body.length},${req.request_body.end_of_stream === true})`) : Buffer.from(body.toString("latin1").toUpperCase(), "latin1");
          // Each chunk made longer: a content-length left in place would cut it short (or wait for more).
          if ((path === "/override" || path === "/set-length") && body.length > 0) replaced = Buffer.concat([replaced, Buffer.from("+MORE")]);
          // A processor done after the first chunk: at the third (or the last), it answers the
          // first and ends the stream (OK) mid-body, the ones after it unanswered.
          if (path === "/close-mid") {
            if (record.bodies.length !== 3 && req.request_body.end_of_stream !== true) return;
            call.write({ request_body: { response: { body_mutation: { body: Buffer.from("X".repeat(record.bodies[0]!.size)) } } } });
            return call.end();
          }
          call.write({ request_body: { response: { body_mutation: { body: replaced } } } });
        } else if (req.response_headers) {
          call.write({ response_headers: {} });
        } else if (req.response_body) {
          record.responseBodies++;
          const body = req.response_body.body ?? Buffer.alloc(0);
          call.write({ response_body: { response: { body_mutation: { body: Buffer.from(body.toString("latin1").toUpperCase(), "latin1") } } } });
        } else if (req.request_trailers) {
          trailers.push(`request:${header(req.request_trailers.trailers, "x-checksum")}`);
          call.write({ request_trailers: { header_mutation: { set_headers: [set("x-checksum", "checked"), set("x-ext-trailer", "in")] } } });
        } else if (req.response_trailers) {
          const t = req.response_trailers.trailers;
          trailers.push(`response:${header(t, "x-resp") ?? `grpc-status=${header(t, "grpc-status")}`}`);
          call.write({ response_trailers: { header_mutation: { set_headers: [set("x-ext-trailer", "out")], remove_headers: ["x-resp"] } } });
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  return { ...service, seen, trailers };
}

function extProc(mode: object, extra: object = {}): object {
  return {
    name: "envoy.filters.http.ext_proc",
    typed_config: { "@type": EXT_PROC, grpc_service: { envoy_grpc: { cluster_name: "processor" } }, message_timeout: "1s", processing_mode: mode, ...extra },
  };
}

/** 1 MiB of lowercase letters, sent as 16 KiB chunks (chunked: no content-length). */
async function* lowercaseBody(): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(16 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = 97 + (i % 26);
  for (let sent = 0; sent < MIB; sent += chunk.length) yield chunk;
}


describe.each(RUNTIMES)("ext_proc streamed bodies and trailers on %s", (runtime) => {
  let upstream: http.Server;
  let grpcEcho: EchoGrpcServer;
  let processor: Awaited<ReturnType<typeof startProcessor>>;
  let proxy: ProxyProcess;
  let adminPort: number;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    // The body read whole; answered with a summary (x-*), its echo lower-cased, and a trailer.
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("latin1");
        res.setHeader("x-len", String(body.length));
        res.setHeader("x-upper", String(body.length > 0 && body === body.toUpperCase()));
        res.setHeader("x-head", body.slice(0, 24));
        res.setHeader("x-trailers", JSON.stringify(req.trailers));
        if (req.url === "/trailers") {
          res.write("ok");
          res.addTrailers({ "x-resp": "done" });
          res.end();
          return;
        }
        res.end(body.toLowerCase());
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    processor = await startProcessor();
    grpcEcho = await startEchoGrpcServer();
    adminPort = await freePort();
    for (const name of ["streamed", "partial", "trailers", "grpc", "override", "streamed_allow"]) ports[name] = await freePort();
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = httpProxyConfig({
      listenPort: ports.streamed!,
      clusters: { echo: [upstreamPort], processor: [processor.port], grpc_echo: [grpcEcho.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      listenerExtra: { per_connection_buffer_limit_bytes: LIMIT },
      hcm: { http_filters: [extProc({ request_body_mode: "STREAMED", response_body_mode: "STREAMED" }), router] },
    }) as { static_resources: { listeners: Record<string, any>[]; clusters: Record<string, any>[] } };
    const listener = config.static_resources.listeners[0]!;
    const variant = (name: string, filter: object, hcm: object = {}) => {
      const copy = structuredClone(listener);
      copy.name = name;
      copy.address = { socket_address: { address: "127.0.0.1", port_value: ports[name] } };
      const typed = copy.filter_chains[0].filters[0].typed_config;
      Object.assign(typed, { stat_prefix: name, http_filters: [filter, router], ...hcm });
      return copy;
    };
    config.static_resources.listeners.push(variant("partial", extProc({ request_body_mode: "BUFFERED_PARTIAL" })));
    config.static_resources.listeners.push(variant("streamed_allow", extProc({ request_body_mode: "STREAMED", response_body_mode: "STREAMED" }, { failure_mode_allow: true })));
    config.static_resources.listeners.push(variant("override", extProc({ response_header_mode: "SKIP" }, { allow_mode_override: true })));
    config.static_resources.listeners.push(
      variant("trailers", extProc({ request_header_mode: "SKIP", response_header_mode: "SKIP", request_trailer_mode: "SEND", response_trailer_mode: "SEND" }), { http_protocol_options: { enable_trailers: true } }),
    );
    // A gRPC upstream (HTTP/2): its response body streamed through the processor, its trailers sent to it.
    const grpcListener = variant("grpc", extProc({ request_header_mode: "SKIP", response_header_mode: "SKIP", response_body_mode: "STREAMED", response_trailer_mode: "SEND" }));
    grpcListener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster = "grpc_echo";
    config.static_resources.listeners.push(grpcListener);
    config.static_resources.clusters.find((c) => c.name === "grpc_echo")!.http2_protocol_options = {};
    // HTTP/1 trailers pass the upstream side only with the cluster's enable_trailers (the processor's cluster stays as it is).
    config.static_resources.clusters.find((c) => c.name === "echo")!.typed_extension_protocol_options = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http_protocol_options: { enable_trailers: true } },
      },
    };
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((r) => upstream?.close(r));
    processor?.close();
    grpcEcho?.server.forceShutdown();
  });

  test("STREAMED both ways: a 1 MiB chunked request upper-cased chunk by chunk on the way in, its echo on the way out", async () => {
    const response = await request(`http://127.0.0.1:${ports.streamed}/upper`, { method: "POST", body: Readable.from(lowercaseBody()) });
    const body = await response.body.text();
    expect(response.statusCode).toBe(200);
    // The upstream got all of it, every chunk upper-cased, without a content-length.
    expect([response.headers["x-len"], response.headers["x-upper"]]).toEqual([String(MIB), "true"]);
    // Its lower-case echo came back upper-cased.
    expect(body.length).toBe(MIB);
    expect(body).toBe(body.toUpperCase());
    expect(body.slice(0, 26)).toBe("ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    const seen = processor.seen.get("/upper")!;
    // Many chunks, each under the limit, only the last with end_of_stream.
    expect(seen.bodies.length).toBeGreaterThan(4);
    expect(seen.bodies.reduce((n, b) => n + b.size, 0)).toBe(MIB);
    expect(seen.bodies.filter((b) => b.end).length).toBe(1);
    expect(seen.bodies.at(-1)!.end).toBe(true);
    expect(seen.responseBodies).toBeGreaterThan(1);
  });

  test("BUFFERED_PARTIAL over the buffer limit: the processor gets the first part (end_of_stream false) and replaces it; the rest passes unprocessed", async () => {
    const response = await request(`http://127.0.0.1:${ports.partial}/partial`, { method: "POST", body: Readable.from(lowercaseBody()) });
    await response.body.text();
    expect(response.statusCode).toBe(200);
    const seen = processor.seen.get("/partial")!;
    expect(seen.bodies.length).toBe(1);
    const part = seen.bodies[0]!;
    expect(part.end).toBe(false);
    expect(part.size).toBeGreaterThan(LIMIT);
    expect(part.size).toBeLessThan(MIB);
    const replaced = `PARTIAL(${part.size},false)`;
    // The replacement, then the body from where the part ended (lowercaseBody's letters).
    let expected = replaced;
    for (let i = part.size; expected.length < 24; i++) expected += String.fromCharCode(97 + ((i % (16 * 1024)) % 26));
    expect(response.headers["x-head"]).toBe(expected);
    expect(response.headers["x-len"]).toBe(String(replaced.length + MIB - part.size));
  });

  test("BUFFERED_PARTIAL under the limit: the whole body, with end_of_stream", async () => {
    const response = await request(`http://127.0.0.1:${ports.partial}/partial`, { method: "POST", body: "short body" });
    await response.body.text();
    expect(processor.seen.get("/partial")!.bodies).toEqual([{ size: 10, end: true }]);
    expect(response.headers["x-head"]).toBe("PARTIAL(10,true)");
  });

  test("trailers SEND: HTTP/1 chunked request trailers and the upstream's response trailers mutated by the processor", async () => {
    const POST = "POST /trailers HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc123\r\n\r\n";
    const { text } = await rawExchange(ports.trailers!, POST, 5000);
    const response = chunkedResponse(text);
    expect(response.status).toBe(200);
    expect(text).toMatch(/\r\nx-trailers: \{"x-checksum":"checked","x-ext-trailer":"in"\}\r\n/);
    expect(response.body).toBe("ok");
    expect(response.trailers).toBe("x-ext-trailer: out\r\n\r\n");
    expect(processor.trailers).toEqual(["request:abc123", "response:done"]);
  });

  test("a processor that stalls on a streamed chunk: message_timeout's 504, counted", async () => {
    const response = await request(`http://127.0.0.1:${ports.streamed}/stall`, { method: "POST", body: "will stall" });
    expect(response.statusCode).toBe(504);
    await response.body.text();
    expect(processor.seen.get("/stall")!.bodies).toEqual([{ size: 10, end: true }]);
    const stats = await adminStats(adminPort);
    expect(stats.get("http.ingress_http.ext_proc.message_timeouts")).toBeGreaterThanOrEqual(1);
  });

  test("a processor that ends its stream (OK) after the first chunk: the chunks it did not answer, and the rest, go on unprocessed, in order", async () => {
    // Five 1 KiB chunks 100 ms apart: each its own message, the queue far under the limit.
    async function* slowBody(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 5; i++) {
        yield Buffer.alloc(1024, 97 + i);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const response = await request(`http://127.0.0.1:${ports.streamed}/close-mid`, { method: "POST", body: Readable.from(slowBody()) });
    const body = await response.body.text();
    expect(response.statusCode).toBe(200);
    // Three messages (the first may hold what came during the headers' answer), at least one never answered.
    const sizes = processor.seen.get("/close-mid")!.bodies.map((b) => b.size);
    expect(sizes.length).toBeGreaterThanOrEqual(2);
    // The upstream got the whole body: the first message's replaced, the second's and third's (sent, never answered) and the rest as sent.
    const sent = ["a", "b", "c", "d", "e"].map((c) => c.repeat(1024)).join("");
    const expected = "X".repeat(sizes[0]!) + sent.slice(sizes[0]!);
    expect(response.headers["x-len"]).toBe(String(expected.length));
    expect(body).toBe(expected.toLowerCase());
  });

  test("a spurious message while streamed chunks await their answers: a 500; with failure_mode_allow they go on unprocessed, in order (no hole)", async () => {
    async function* slowBody(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 4; i++) {
        yield Buffer.alloc(1024, 97 + i);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const failed = await request(`http://127.0.0.1:${ports.streamed}/spurious`, { method: "POST", body: Readable.from(slowBody()) });
    await failed.body.text();
    expect(failed.statusCode).toBe(500);
    const response = await request(`http://127.0.0.1:${ports.streamed_allow}/spurious`, { method: "POST", body: Readable.from(slowBody()) });
    const body = await response.body.text();
    expect(response.statusCode).toBe(200);
    const sent = ["a", "b", "c", "d"].map((c) => c.repeat(1024)).join("");
    expect(response.headers["x-len"]).toBe(String(sent.length));
    expect(body).toBe(sent);
    const stats = await adminStats(adminPort);
    expect(stats.get("http.ingress_http.ext_proc.spurious_msgs_received")).toBeGreaterThanOrEqual(1);
    expect(stats.get("http.streamed_allow.ext_proc.spurious_msgs_received")).toBeGreaterThanOrEqual(1);
    expect(stats.get("http.streamed_allow.ext_proc.failure_mode_allowed")).toBeGreaterThanOrEqual(1);
  });

  test("CONTINUE_AND_REPLACE on the headers while the body comes: only the replacement goes upstream, nothing of the original", async () => {
    async function* secretBody(): AsyncGenerator<Buffer> {
      yield Buffer.from("SECRET-1;");
      await new Promise((r) => setTimeout(r, 400));
      yield Buffer.from("SECRET-2");
    }
    const response = await request(`http://127.0.0.1:${ports.streamed}/replace`, { method: "POST", body: Readable.from(secretBody()) });
    await response.body.text();
    expect(response.statusCode).toBe(200);
    expect([response.headers["x-head"], response.headers["x-len"]]).toEqual(["REPLACED", "8"]);
    expect(processor.seen.get("/replace")!.bodies).toEqual([]);
  });

  test("content-length goes when mode_override makes the body STREAMED, and a processor's is not set then: longer chunks arrive whole", async () => {
    for (const [port, path] of [
      [ports.override!, "/override"],
      [ports.streamed!, "/set-length"],
    ] as const) {
      // Sent after the headers' answer, in two chunks, with a content-length.
      async function* slowHello(): AsyncGenerator<Buffer> {
        await new Promise((r) => setTimeout(r, 200));
        yield Buffer.from("hel");
        await new Promise((r) => setTimeout(r, 100));
        yield Buffer.from("lo");
      }
      const response = await request(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "content-length": "5" }, body: Readable.from(slowHello()), headersTimeout: 3000 });
      await response.body.text();
      expect([path, response.statusCode, response.headers["x-head"]]).toEqual([path, 200, "HEL+MORELO+MORE"]);
    }
  });

  test("a processor that fails its stream mid-body: a 500 with the gRPC status in the details", async () => {
    async function* twoChunks(): AsyncGenerator<Buffer> {
      yield Buffer.from("first");
      await new Promise((r) => setTimeout(r, 300));
      yield Buffer.from("second");
    }
    const response = await request(`http://127.0.0.1:${ports.streamed}/fail-mid`, { method: "POST", body: Readable.from(twoChunks()) });
    expect(response.statusCode).toBe(500);
    await response.body.text().catch(() => "");
    const stats = await adminStats(adminPort);
    expect(stats.get("http.ingress_http.ext_proc.streams_failed")).toBeGreaterThanOrEqual(1);
  });

  test("a gRPC upstream: its response message streamed through the processor, its HTTP/2 trailers mutated", async () => {
    const client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    const raw = (b: Buffer) => b;
    let trailing: grpc.Metadata | undefined;
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const call = client.makeUnaryRequest("/pkg.Echo/Say", raw, raw, Buffer.from("hello"), (e, r) => (e ? reject(e) : resolve(r!)));
      call.on("status", (status) => (trailing = status.metadata));
    });
    client.close();
    // The upstream upper-cased it; the processor's upper-casing of the framed chunk keeps it.
    expect(reply.toString()).toBe("HELLO");
    expect(trailing?.get("x-ext-trailer")).toEqual(["out"]);
    expect(processor.trailers).toContain("response:grpc-status=0");
  });
});
