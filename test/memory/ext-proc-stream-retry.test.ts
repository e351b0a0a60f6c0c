/**
 * ext_proc's processor stream with GrpcService.retry_policy over the memory runtime: every
 * attempt, the retries included, runs the processor cluster's upstream HTTP filters (Envoy's
 * async stream makes each attempt an UpstreamRequest, which builds the cluster's chain:
 * source/common/router/upstream_request.cc); a filter's answer (Lua's 503, no grpc-status) is the
 * call's end, not retried under retry_on unavailable; and
 * failure_mode_allow lets the request on once the retries run out.
 */
import { afterEach, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { MemoryH2Server, type H2Exchange } from "./support/h2-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const BACKEND = 8081;
const PROCESSOR = 8083;
const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
/** Numbers the attempts its chain runs on (a global kept in the script's state across calls): a retry left out of the chain would carry the first number again, the headers being the stream's own. */
const LUA_COUNTER = {
  name: "envoy.filters.http.lua",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
    default_source_code: { inline_string: "attempt = 0\nfunction envoy_on_request(h) attempt = attempt + 1 h:headers():replace('x-upstream-filter', 'chain ' .. attempt) end" },
  },
};
const LUA_503 = {
  name: "envoy.filters.http.lua",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
    default_source_code: { inline_string: "function envoy_on_request(h) h:respond({[':status'] = '503'}, 'denied') end" },
  },
};
/** A ProcessingResponse answering request_headers with nothing to change (field 1, empty HeadersResponse), gRPC-framed. */
const CONTINUE_FRAME = new Uint8Array([0, 0, 0, 0, 2, 0x0a, 0x00]);

let runtime: MemoryRuntime;
let server: Server;
let peers: { close(): void }[] = [];
let processor: MemoryH2Server;
const backend: string[] = [];

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
  backend.length = 0;
});

async function start(filters: unknown[] | undefined, extra: Record<string, unknown> = {}, numRetries = 2): Promise<void> {
  runtime = new MemoryRuntime({ seed: 5 });
  peers.push(await MemoryHttpServer.listen(runtime, BACKEND, (req, res) => (backend.push(req.get("x-upstream-filter") ?? "-"), res.respond(200, "backend"))));
  processor = await MemoryH2Server.listen(runtime, PROCESSOR, {});
  peers.push(processor);
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [BACKEND], proc: [PROCESSOR] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: unknown[] } }[] }[] }[]; clusters: { name: string }[] };
  };
  Object.assign(config.static_resources.clusters.find((c) => c.name === "proc")!, {
    typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http2_protocol_options: {} }, ...(filters ? { http_filters: filters } : {}) } },
  });
  const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  hcm.http_filters = [
    {
      name: "envoy.filters.http.ext_proc",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
        grpc_service: { envoy_grpc: { cluster_name: "proc" }, retry_policy: { retry_on: "unavailable", num_retries: numRetries, retry_back_off: { base_interval: "0.1s" } } },
        processing_mode: { request_header_mode: "SEND", response_header_mode: "SKIP" },
        message_timeout: "5s",
        ...extra,
      },
    },
    ...hcm.http_filters,
  ];
  server = await startProxy(runtime, config);
}

const counter = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
const unavailable = (ex: H2Exchange) => ex.stream.sendHeaders([":status", "200", "content-type", "application/grpc", "grpc-status", "14", "grpc-message", "warming up"], true);

test("the retried stream runs the processor cluster's upstream filters too: each attempt's headers went through the chain (a Lua script numbering its runs)", async () => {
  await start([LUA_COUNTER, CODEC]);
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/r");
  runtime.advance(10);
  expect(processor.exchanges).toHaveLength(1);
  unavailable(processor.exchanges[0]!);
  runtime.advance(1000);
  expect(processor.exchanges).toHaveLength(2);
  const retried = processor.exchanges[1]!;
  retried.stream.sendHeaders([":status", "200", "content-type", "application/grpc"], false);
  retried.stream.sendData(CONTINUE_FRAME, false);
  runtime.advance(100);
  expect(client.responses[0]!.status).toBe(200);
  expect(processor.exchanges.map((ex) => [ex.header(":path"), ex.header("x-upstream-filter")])).toEqual([
    ["/envoy.service.ext_proc.v3.ExternalProcessor/Process", "chain 1"],
    ["/envoy.service.ext_proc.v3.ExternalProcessor/Process", "chain 2"],
  ]);
  expect(counter("cluster.proc.upstream_rq_retry")).toBe(1);
});

// Lua's respond() on an upstream filter is the attempt's response (the upstream filter manager
// encodes it back to the router as the upstream's), a 503 with no grpc-status: retry_on's
// gRPC conditions read grpc-status only, so nothing is retried, and the call ends UNAVAILABLE.
test("an upstream filter's answer (Lua's 503) ends the call without a retry, though retry_on names unavailable; nothing reaches the processor", async () => {
  await start([LUA_503, CODEC]);
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/l");
  runtime.advance(5000);
  expect(processor.exchanges).toEqual([]);
  expect(counter("cluster.proc.upstream_rq_retry")).toBe(0);
  expect(client.responses[0]!.status).toBe(500);
  expect(backend).toEqual([]);
});

test("failure_mode_allow: once the retries run out the request goes on unprocessed", async () => {
  await start(undefined, { failure_mode_allow: true }, 1);
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/f");
  runtime.advance(10);
  unavailable(processor.exchanges[0]!);
  runtime.advance(1000);
  expect(processor.exchanges).toHaveLength(2);
  unavailable(processor.exchanges[1]!);
  runtime.advance(1000);
  expect(processor.exchanges).toHaveLength(2);
  expect(client.responses[0]!.status).toBe(200);
  expect(backend).toEqual(["-"]);
  expect(counter("cluster.proc.upstream_rq_retry")).toBe(1);
  expect(counter("cluster.proc.upstream_rq_retry_limit_exceeded")).toBe(1);
});
