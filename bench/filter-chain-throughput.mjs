#!/usr/bin/env node
// One config against the bench's router-only config, by throughput, through `polyvoy compare`
// (each runtime pinned to one core, small GETs (/64) to the bench's origin; printed per
// runtime: req/s and CPU µs per request of both, and the difference's cost). The two configs
// run one after the other, so a machine whose load changes between them moves the figures:
// run it quiet. `--with`:
// - `chain` (default): the performance target's filter chain (issue #28: cors,
//   local_ratelimit, header_mutation, rbac and a TypeScript filter before the router cost at
//   most 15 % of small-GET throughput against the router alone, on every runtime;
//   bench/lib/target-chain.mjs);
// - `zipkin`: Envoy's Zipkin tracer with every request sampled (the HCM's default 100 %
//   random sampling): a span per request with its tags, B3 headers upstream, the spans POSTed
//   in batches of 5 to a collector cluster that `--origin builtin` points at the origin too
//   (which answers 200, so the tracer counts them as reports_dropped: the cost is the same);
// - `ext_proc`: the ext_proc filter with its default mode (request and response headers to
//   the processor) to a local @grpc/grpc-js ExternalProcessor in this process, unpinned,
//   which answers CONTINUE to every message: two messages and their answers per request on
//   one HTTP/2 stream (the processor's cluster is kept by `--keep-cluster`).
// - `ext_proc_streamed`: the same with `response_body_mode: STREAMED`: the origin's 64-byte
//   body goes to the processor as a chunk and passes on with its answer (three messages per
//   request; the response's content-length removed, so chunked).
// - `cache`: the HTTP cache (envoy.filters.http.cache, SimpleHttpCacheConfig) before the
//   router, the route adding `cache-control: max-age=3600` to the origin's answer: after the
//   first request every request is a hit, answered from memory without the upstream.
// - `lua`: the Lua filter (envoy.filters.http.lua) running Envoy's lua example's script with
//   its library inlined: a request header added, and on the response its body buffered for
//   its length, put in a header (two coroutines per request in fengari's VM).
// - `als`: an http_grpc access log (envoy.access_loggers.http_grpc, its defaults: 16 KiB
//   buffer, 1 s flush) to a local @grpc/grpc-js AccessLogService in this process, unpinned,
//   which discards the entries: one HTTPAccessLogEntry encoded per request, sent in batches
//   on one HTTP/2 stream (the service's cluster is kept by `--keep-cluster`).
// - `oauth2`: the OAuth2 filter (envoy.filters.http.oauth2) first, every request carrying
//   the cookies the filter signs (OauthHMAC over the Host, OauthExpires a day ahead and
//   BearerToken, minted here as the filter would): the HMAC checked, Authorization: Bearer
//   forwarded. Both configs get the same request (`--host`, the cookie `--header`).
// - `oauth2_redirect`: the same filter, requests without cookies: every one answered with the
//   302 to the authorization endpoint, without the upstream.
// - `custom_response`: the custom_response filter (envoy.filters.http.custom_response) first,
//   a local reply for 5xx the origin never answers: its cost when it does not fire.
// - `custom_response_fires`: the same filter, requests to the origin's /503 (64 bytes, as /64),
//   each answer replaced by the local reply (status 200, so that the load tool counts it).
// - `otel`: the OpenTelemetry tracer (envoy.tracers.opentelemetry) with every request sampled,
//   the spans exported as OTLP/HTTP protobuf POSTs of 5 spans to a node:http collector in
//   this process, unpinned, answering 200 (its cluster kept by `--keep-cluster`).
// - `datadog`: the Datadog tracer (envoy.tracers.datadog) with every request traced (a span per
//   request, x-datadog-* and W3C headers upstream), its segments POSTed as MessagePack to
//   /v0.4/traces every 2 s to a node:http Agent in this process, unpinned, answering 200
//   (its cluster kept by `--keep-cluster`).
// - `grpc_json`: the gRPC-JSON transcoder (envoy.filters.http.grpc_json_transcoder) first,
//   requests `GET /v1/echo/hello` mapped by a google.api.http rule to the bench's Echo.Unary
//   on a local @grpc/grpc-js server in this process, unpinned (HTTP/2, its cluster kept by
//   `--keep-cluster`), its answer printed as JSON; the descriptor set made by protoc. The
//   router alone proxies the origin's /64, so the difference is a transcoded gRPC call's
//   against a plain proxied GET, not the filter's alone.
//
//   node bench/filter-chain-throughput.mjs [--with chain|zipkin|ext_proc|ext_proc_streamed|cache|lua|als|oauth2|oauth2_redirect|custom_response|custom_response_fires|otel|datadog|grpc_json] [--rounds 3] [--duration 5s] [--runtimes node,bun,deno]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { targetChain, withFilters } from "./lib/target-chain.mjs";
import { createRequire } from "node:module";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { polyvoyConfig } from "./lib/targets.mjs";
import { GRPC_PROTO } from "./lib/origin.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5s" },
    runtimes: { type: "string", default: "node,bun,deno" },
    with: { type: "string", default: "chain" },
  },
});
const root = resolve(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "polyvoy-filter-chain-"));
// Ports are the compare tool's to rewrite: --origin builtin points every cluster at its origin.
const base = polyvoyConfig(10000, 10001);
/** The bench config with the zipkin tracer on its HCM and a collector cluster beside the origin. */
function withZipkin(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.tracing = {
    provider: {
      name: "envoy.tracers.zipkin",
      typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON" },
    },
  };
  const origin = copy.static_resources.clusters.find((c) => c.name === "origin");
  copy.static_resources.clusters.push({ ...structuredClone(origin), name: "zipkin", load_assignment: { ...structuredClone(origin.load_assignment), cluster_name: "zipkin" } });
  return copy;
}
/** A local ExternalProcessor answering CONTINUE (an empty HeadersResponse / BodyResponse) to each message; its port. */
async function startProcessor() {
  const require = createRequire(import.meta.url);
  const grpc = require("@grpc/grpc-js");
  const protoLoader = require("@grpc/proto-loader");
  const deps = join(require.resolve("@grpc/grpc-js-xds/package.json"), "..", "deps");
  const includeDirs = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
  const definition = protoLoader.loadSync("envoy/service/ext_proc/v3/external_processor.proto", { includeDirs, keepCase: true, oneofs: true });
  const service = grpc.loadPackageDefinition(definition).envoy.service.ext_proc.v3.ExternalProcessor.service;
  const server = new grpc.Server();
  server.addService(service, {
    Process: (call) => {
      const answers = ["request_headers", "response_headers", "request_body", "response_body"];
      call.on("data", (req) => call.write(Object.fromEntries(answers.filter((kind) => req[kind]).map((kind) => [kind, {}]))));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  const port = await new Promise((ok, fail) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return { port, close: () => server.forceShutdown() };
}
/** A local AccessLogService that reads and discards every message; its port. */
async function startAccessLogService() {
  const require = createRequire(import.meta.url);
  const grpc = require("@grpc/grpc-js");
  const protoLoader = require("@grpc/proto-loader");
  const deps = join(require.resolve("@grpc/grpc-js-xds/package.json"), "..", "deps");
  const includeDirs = ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
  const definition = protoLoader.loadSync("envoy/service/accesslog/v3/als.proto", { includeDirs, keepCase: true, oneofs: true });
  const service = grpc.loadPackageDefinition(definition).envoy.service.accesslog.v3.AccessLogService.service;
  const server = new grpc.Server();
  server.addService(service, {
    StreamAccessLogs: (call, callback) => {
      call.on("data", () => {});
      call.on("end", () => callback(null, {}));
      call.on("error", () => {});
    },
  });
  const port = await new Promise((ok, fail) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return { port, close: () => server.forceShutdown() };
}
/** The bench config with an http_grpc access log on the HCM, its service's cluster (HTTP/2) on `port`. */
function withAls(config, port) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.access_log = [
    ...(hcm.access_log ?? []),
    {
      name: "envoy.access_loggers.http_grpc",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
        common_config: { log_name: "bench", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "als" } } },
      },
    },
  ];
  copy.static_resources.clusters.push({
    name: "als",
    type: "STATIC",
    connect_timeout: "1s",
    http2_protocol_options: {},
    load_assignment: { cluster_name: "als", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  });
  return copy;
}
/** The bench config with ext_proc before the router, its processor cluster on `port`. */
function withExtProc(config, port, processingMode) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.unshift({
    name: "envoy.filters.http.ext_proc",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", grpc_service: { envoy_grpc: { cluster_name: "processor" } }, message_timeout: "5s", ...(processingMode && { processing_mode: processingMode }) },
  });
  copy.static_resources.clusters.push({
    name: "processor",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: "processor", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  });
  return copy;
}
/** The bench config with the cache filter first, and its one route's responses made cacheable for an hour. */
function withCache(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.virtual_hosts[0].routes[0].response_headers_to_add = [{ header: { key: "cache-control", value: "max-age=3600" } }];
  const cache = {
    name: "envoy.filters.http.cache",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig" },
    },
  };
  hcm.http_filters = [cache, ...hcm.http_filters];
  return copy;
}
/** The bench config with the Lua filter first, running Envoy's lua example's script (test/fixtures/envoy-examples/lua). */
function withLua(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const lua = {
    name: "envoy.filters.http.lua",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
      inline_code: [
        "local mylibrary = { foobar = function() return \"bar\" end }",
        "function envoy_on_request(request_handle)",
        "  request_handle:headers():add(\"foo\", mylibrary.foobar())",
        "end",
        "function envoy_on_response(response_handle)",
        "  body_size = response_handle:body():length()",
        "  response_handle:headers():add(\"response-body-size\", tostring(body_size))",
        "end",
      ].join("\n"),
    },
  };
  hcm.http_filters = [lua, ...hcm.http_filters];
  return copy;
}
/** A cluster named `name` on 127.0.0.1:`port`, which `--keep-cluster` leaves as written. */
function localCluster(name, port, extra = {}) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}
/** The Host every oauth2 request carries: the filter's HMAC signs it. */
const OAUTH2_HOST = "bench.example";
const OAUTH2_HMAC_SECRET = "bench-hmac-secret";
/**
 * The Cookie header of a signed-in browser: what the filter sets after the code exchange
 * (Envoy's oauth2 filter.cc: OauthHMAC = base64(HMAC-SHA256(hmac_secret, host \n expires
 * \n token \n id_token \n refresh_token)), here with no id or refresh token), valid for a day.
 */
function oauth2Cookie() {
  const expires = Math.floor(Date.now() / 1000) + 86_400;
  const token = "bench-access-token";
  const hmac = createHmac("sha256", OAUTH2_HMAC_SECRET).update(`${OAUTH2_HOST}\n${expires}\n${token}\n\n`).digest("base64");
  return `cookie: OauthHMAC=${hmac}; OauthExpires=${expires}; BearerToken=${token}`;
}
/** The bench config with the oauth2 filter first (as Envoy's single-page-app example), its token endpoint's cluster beside the origin. */
function withOAuth2(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const oauth2 = {
    name: "envoy.filters.http.oauth2",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2",
      config: {
        token_endpoint: { cluster: "hub", uri: "http://hub.example/authenticate", timeout: "3s" },
        authorization_endpoint: "https://hub.example/authorize",
        redirect_uri: "%REQ(x-forwarded-proto)%://%REQ(:authority)%/authorize",
        redirect_path_matcher: { path: { exact: "/authorize" } },
        signout_path: { path: { exact: "/logout" } },
        forward_bearer_token: true,
        credentials: { client_id: "bench", token_secret: { name: "token" }, hmac_secret: { name: "hmac" } },
      },
    },
  };
  hcm.http_filters = [oauth2, ...hcm.http_filters];
  copy.static_resources.secrets = [
    { name: "token", generic_secret: { secret: { inline_string: "bench-client-secret" } } },
    { name: "hmac", generic_secret: { secret: { inline_string: OAUTH2_HMAC_SECRET } } },
  ];
  const origin = copy.static_resources.clusters.find((c) => c.name === "origin");
  copy.static_resources.clusters.push({ ...structuredClone(origin), name: "hub", load_assignment: { ...structuredClone(origin.load_assignment), cluster_name: "hub" } });
  return copy;
}
/** The bench config with custom_response first: a 5xx replaced by a local reply of status 200. */
function withCustomResponse(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const policy = {
    "@type": "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy",
    status_code: 200,
    body: { inline_string: "the service is down for maintenance" },
  };
  const customResponse = {
    name: "envoy.filters.http.custom_response",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse",
      custom_response_matcher: {
        matcher_list: {
          matchers: [
            {
              predicate: { single_predicate: { input: { name: "class", typed_config: { "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeClassMatchInput" } }, value_match: { exact: "5xx" } } },
              on_match: { action: { name: "maintenance", typed_config: policy } },
            },
          ],
        },
      },
    },
  };
  hcm.http_filters = [customResponse, ...hcm.http_filters];
  return copy;
}
/** The bench config with the OpenTelemetry tracer on its HCM (every request sampled: the HCM's default), exporting OTLP/HTTP to `port`. */
function withOpenTelemetry(config, port) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.tracing = {
    provider: {
      name: "envoy.tracers.opentelemetry",
      typed_config: {
        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
        http_service: { http_uri: { uri: "http://collector.example:4318/v1/traces", cluster: "otel_collector", timeout: "1s" } },
        service_name: "bench",
      },
    },
  };
  copy.static_resources.clusters.push(localCluster("otel_collector", port));
  return copy;
}
/** The bench config with the Datadog tracer on its HCM (every request traced: the HCM's default), its Agent on `port`. */
function withDatadog(config, port) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.tracing = {
    provider: {
      name: "envoy.tracers.datadog",
      typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig", collector_cluster: "datadog_agent", service_name: "bench" },
    },
  };
  copy.static_resources.clusters.push(localCluster("datadog_agent", port));
  return copy;
}
/**
 * The bench config with the gRPC-JSON transcoder first, its descriptor set (protoc, from the
 * Echo service with a google.api.http rule), and a route for the gRPC path to the Echo
 * server's cluster ahead of the origin's (the transcoder matches the route again after it
 * rewrites the path, as Envoy's does).
 */
function withGrpcJson(config, port) {
  const require = createRequire(import.meta.url);
  const googleapis = join(require.resolve("@grpc/grpc-js-xds/package.json"), "..", "deps", "googleapis");
  const proto = join(dir, "echo-http.proto");
  writeFileSync(proto, 'syntax = "proto3"; package bench; import "google/api/annotations.proto";\nservice Echo { rpc Unary (Msg) returns (Msg) { option (google.api.http) = { get: "/v1/echo/{text}" }; } }\nmessage Msg { string text = 1; }\n');
  const descriptor = join(dir, "echo.pb");
  const protoc = spawnSync("protoc", ["-I", dir, "-I", googleapis, "--include_imports", `--descriptor_set_out=${descriptor}`, proto], { encoding: "utf8" });
  if (protoc.error || protoc.status !== 0) throw new Error(`protoc could not make the descriptor set (apt-get install protobuf-compiler libprotobuf-dev): ${protoc.error?.message ?? protoc.stderr}`);
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const transcoder = {
    name: "envoy.filters.http.grpc_json_transcoder",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
      proto_descriptor: descriptor,
      services: ["bench.Echo"],
    },
  };
  hcm.http_filters = [transcoder, ...hcm.http_filters];
  hcm.route_config.virtual_hosts[0].routes.unshift({ match: { prefix: "/bench.Echo/", grpc: {} }, route: { cluster: "grpc_echo" } });
  copy.static_resources.clusters.push(
    localCluster("grpc_echo", port, { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } } }),
  );
  return copy;
}
/** The bench's Echo service (bench/lib/origin.mjs's proto) on @grpc/grpc-js in this process; its port. */
async function startGrpcEcho() {
  const require = createRequire(import.meta.url);
  const grpc = require("@grpc/grpc-js");
  const protoLoader = require("@grpc/proto-loader");
  const proto = join(dir, "echo.proto");
  writeFileSync(proto, GRPC_PROTO);
  const service = grpc.loadPackageDefinition(protoLoader.loadSync(proto)).bench.Echo.service;
  const server = new grpc.Server();
  let calls = 0;
  server.addService(service, { Unary: (call, callback) => (calls++, callback(null, { text: call.request.text })) });
  const port = await new Promise((ok, fail) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  return {
    port,
    close: () => {
      // A transcoder that sent nothing upstream would make the run measure its refusals.
      console.log(`  the Echo server answered ${calls} calls`);
      server.forceShutdown();
    },
  };
}
/** A local OTLP/HTTP collector (or Datadog Agent): reads each POST and answers 200 with an empty body; its port. */
async function startCollector() {
  let exports = 0;
  const server = createServer((req, res) => {
    exports++;
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": "0" }).end());
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const close = () => {
    // A tracer that exported nothing would make the run measure spans built and dropped.
    console.log(`  the collector received ${exports} ${values.with === "datadog" ? "/v0.4/traces reports" : "OTLP/HTTP exports"}`);
    server.close();
    server.closeAllConnections();
  };
  return { port: server.address().port, close };
}
const processor =
  values.with === "ext_proc" || values.with === "ext_proc_streamed"
    ? await startProcessor()
    : values.with === "als"
      ? await startAccessLogService()
      : values.with === "otel" || values.with === "datadog"
        ? await startCollector()
        : values.with === "grpc_json"
          ? await startGrpcEcho()
          : undefined;
const keptCluster = { als: "als", otel: "otel_collector", datadog: "datadog_agent", grpc_json: "grpc_echo" }[values.with] ?? "processor";
const variants = {
  chain: ["the chain + router", () => withFilters(base, targetChain(join(root, "examples/filters/add-header.ts"))), " (target ≤ 15 %)"],
  zipkin: ["zipkin tracer, all sampled", () => withZipkin(base), ""],
  ext_proc: ["ext_proc, headers both ways", () => withExtProc(base, processor.port), ""],
  ext_proc_streamed: ["ext_proc, headers both ways, the response body STREAMED", () => withExtProc(base, processor.port, { response_body_mode: "STREAMED" }), ""],
  cache: ["cache, every request a hit", () => withCache(base), ""],
  lua: ["lua, the lua example's script", () => withLua(base), ""],
  als: ["http_grpc access log", () => withAls(base, processor.port), ""],
  oauth2: ["oauth2, signed-in requests", () => withOAuth2(base), "", { args: ["--host", OAUTH2_HOST, "--header", oauth2Cookie()] }],
  oauth2_redirect: ["oauth2, every request redirected", () => withOAuth2(base), "", { args: ["--host", OAUTH2_HOST] }],
  custom_response: ["custom_response, not firing", () => withCustomResponse(base), ""],
  custom_response_fires: ["custom_response on the origin's 503s", () => withCustomResponse(base), "", { target: "/503" }],
  otel: ["opentelemetry tracer, all sampled", () => withOpenTelemetry(base, processor.port), ""],
  datadog: ["datadog tracer, all traced", () => withDatadog(base, processor.port), ""],
  grpc_json: ["grpc_json_transcoder, a gRPC call per GET", () => withGrpcJson(base, processor.port), "", { target: "/v1/echo/hello" }],
};
const variant = variants[values.with];
if (!variant) throw new Error(`--with: ${Object.keys(variants).join(", ")}, not ${values.with}`);
// The baseline gets the variant's request (its Host and headers) but always the origin's /64.
const request = variant[3] ?? {};
const configs = { "router alone": [base, "/64", request.args ?? []], [variant[0]]: [variant[1](), request.target ?? "/64", request.args ?? []] };

const results = {};
for (const [label, [config, targetPath, requestArgs]] of Object.entries(configs)) {
  const path = join(dir, `${label.replace(/\W+/g, "-")}.json`);
  const out = `${path}.out`;
  writeFileSync(path, JSON.stringify(config));
  console.error(`== ${label}`);
  const args = [join(root, "bench/compare.mjs"), "-c", path, "--origin", "builtin", "--target", targetPath, ...requestArgs, "--rounds", values.rounds, "--duration", values.duration, "--runtimes", values.runtimes, "--out", out, ...(processor ? ["--keep-cluster", keptCluster] : [])];
  // Not spawnSync: the ext_proc variant's processor answers from this process's event loop.
  const status = await new Promise((done) => spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] }).on("exit", (code) => done(code)));
  if (status !== 0) {
    processor?.close();
    console.error(`polyvoy compare failed for ${label} (exit ${status})`);
    process.exit(1);
  }
  const summary = JSON.parse(readFileSync(join(out, "results.json"), "utf8")).summary;
  const target = JSON.parse(readFileSync(join(out, "results.json"), "utf8")).targets.find((t) => t.path === targetPath).id;
  results[label] = Object.fromEntries(
    Object.entries(summary.runtimes)
      .filter(([runtime]) => runtime !== "direct")
      .map(([runtime, r]) => [runtime, { rps: r.targets?.[target]?.rps?.median, cpu: r.targets?.[target]?.cpuUsPerRequest, statuses: r.targets?.[target]?.statuses ?? [] }]),
  );
}

const [alone, chained] = Object.values(results);
console.log(`small GETs (${configs[variant[0]][1]}), 64 connections, ${values.rounds} rounds of ${values.duration}, each runtime pinned to one core`);
for (const runtime of Object.keys(alone)) {
  const a = alone[runtime];
  const b = chained[runtime];
  if (!a?.rps || !b?.rps) {
    console.log(`  ${runtime}: not measured`);
    continue;
  }
  const cost = (1 - b.rps / a.rps) * 100;
  const cpu = a.cpu && b.cpu ? `; CPU ${a.cpu.toFixed(1)} → ${b.cpu.toFixed(1)} µs/request` : "";
  const effect = cost >= 0 ? `costs ${cost.toFixed(1)} %` : `gains ${(-cost).toFixed(1)} %`;
  // What one request answered before each run (polyvoy compare's probe): a filter that
  // redirected or refused every request would otherwise pass for one that let them through.
  const answered = `; answered ${a.statuses.join("/") || "?"} → ${b.statuses.join("/") || "?"}`;
  console.log(`  ${runtime}: ${Math.round(a.rps)} → ${Math.round(b.rps)} req/s, ${variant[0]} ${effect}${variant[2]}${cpu}${answered}`);
}
processor?.close();
