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
// - `skywalking`: the SkyWalking tracer (envoy.tracers.skywalking) with every request
//   sampled (no child span: one ENTRY span per segment, nothing propagated upstream), each
//   segment a message on one collect stream to a local @grpc/grpc-js
//   TraceSegmentReportService in this process, unpinned, which counts them undecoded (its
//   cluster, HTTP/2, kept by `--keep-cluster`).
// - `otel_access_log`: an OpenTelemetry access log (envoy.access_loggers.open_telemetry, its
//   defaults: 16 KiB buffer, 1 s flush) with the opentelemetry sandbox's body and three
//   attributes, to a local @grpc/grpc-js LogsService in this process, unpinned, which counts
//   the Export calls undecoded (its cluster, HTTP/2, kept by `--keep-cluster`).
// - `checksum`: the checksum filter (envoy.filters.http.checksum) first, expecting on /64
//   the SHA-256 of the origin's 64-byte body: every response hashed as it passes, and found
//   matching.
// - `lua_cluster_specifier`: the route's cluster chosen by the Lua cluster specifier
//   (envoy.router.cluster_specifier_plugin.lua) running Envoy's lua-cluster-specifier
//   sandbox's script: a header read and a cluster name returned, per request, in fengari's VM.
// - `custom_tags`: the zipkin variant with four tracing custom_tags (literal, environment,
//   request_header, metadata of the route).
// - `access_log_filters`: a file access log to /dev/null behind an and_filter of
//   status_code_filter, grpc_status_filter and metadata_filter, each passing every request,
//   against the same file access log without a filter (not the router alone): the filters'
//   evaluation, the same lines written.
// - `upstream_filters`: the origin cluster's upstream HTTP filters (HttpProtocolOptions
//   http_filters): header_mutation adding a request and a response header, then
//   envoy.filters.http.upstream_codec — a filter manager per upstream attempt.
// - `router_upstream_filters`: the same list as the router's upstream_http_filters.
// The gRPC services run beside the origin are bench/lib/grpc-services.mjs's.
//
//   node bench/filter-chain-throughput.mjs [--with chain|zipkin|ext_proc|ext_proc_streamed|cache|lua|als|oauth2|oauth2_redirect|custom_response|custom_response_fires|otel|datadog|grpc_json|skywalking|otel_access_log|checksum|lua_cluster_specifier|custom_tags|access_log_filters|upstream_filters|router_upstream_filters] [--rounds 3] [--duration 5s] [--runtimes node,bun,deno]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { targetChain, withFilters } from "./lib/target-chain.mjs";
import { createRequire } from "node:module";
import { createHash, createHmac } from "node:crypto";
import { createServer } from "node:http";
import { polyvoyConfig } from "./lib/targets.mjs";
import { BODY_64, GRPC_PROTO } from "./lib/origin.mjs";
import { envoyApiService, protoService, serveGrpc, startCountingCollector } from "./lib/grpc-services.mjs";

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
function startProcessor() {
  const answers = ["request_headers", "response_headers", "request_body", "response_body"];
  return serveGrpc(envoyApiService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor"), {
    Process: (call) => {
      call.on("data", (req) => call.write(Object.fromEntries(answers.filter((kind) => req[kind]).map((kind) => [kind, {}]))));
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
}
/** A local AccessLogService that reads and discards every message; its port. */
function startAccessLogService() {
  return serveGrpc(envoyApiService("envoy/service/accesslog/v3/als.proto", "envoy.service.accesslog.v3.AccessLogService"), {
    StreamAccessLogs: (call, callback) => {
      call.on("data", () => {});
      call.on("end", () => callback(null, {}));
      call.on("error", () => {});
    },
  });
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
  copy.static_resources.clusters.push(grpcCluster("als", port));
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
  let calls = 0;
  const served = await serveGrpc(protoService(GRPC_PROTO, "bench.Echo", join(dir, "echo.proto")), { Unary: (call, callback) => (calls++, callback(null, { text: call.request.text })) });
  return {
    port: served.port,
    close: () => {
      // A transcoder that sent nothing upstream would make the run measure its refusals.
      console.log(`  the Echo server answered ${calls} calls`);
      served.close();
    },
  };
}
/** A cluster speaking HTTP/2 (a gRPC service's), as localCluster. */
const grpcCluster = (name, port) => localCluster(name, port, { http2_protocol_options: {} });
/** The bench config with the SkyWalking tracer on its HCM (every request sampled: the HCM's default), its collector's cluster (HTTP/2) on `port`. */
function withSkyWalking(config, port) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.tracing = {
    provider: {
      name: "envoy.tracers.skywalking",
      typed_config: {
        "@type": "type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig",
        grpc_service: { envoy_grpc: { cluster_name: "skywalking" } },
        client_config: { service_name: "bench", instance_name: "bench-1" },
      },
    },
  };
  copy.static_resources.clusters.push(grpcCluster("skywalking", port));
  return copy;
}
/**
 * The bench config with an OpenTelemetry access log on the HCM (its defaults: 16 KiB buffer,
 * 1 s flush), the body and three attributes of Envoy's opentelemetry sandbox (envoy-2.yaml),
 * to a LogsService whose cluster (HTTP/2) is on `port`.
 */
function withOpenTelemetryAccessLog(config, port) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const attribute = (key, format) => ({ key, value: { string_value: format } });
  hcm.access_log = [
    ...(hcm.access_log ?? []),
    {
      name: "envoy.access_loggers.open_telemetry",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
        common_config: { log_name: "bench", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "otel_logs" } } },
        body: { string_value: "%REQ(:METHOD)% %REQ(:PATH)%" },
        attributes: { values: [attribute("url.path", "%REQ(:PATH)%"), attribute("http.request.method", "%REQ(:METHOD)%"), attribute("http.response.status_code", "%RESPONSE_CODE%")] },
      },
    },
  ];
  copy.static_resources.clusters.push(grpcCluster("otel_logs", port));
  return copy;
}
/** The bench config whose origin cluster runs header_mutation as an upstream HTTP filter (a request and a response header), before the upstream codec. */
/** header_mutation adding a request and a response header, then the terminal upstream codec: an upstream HTTP filter list. */
function upstreamHeaderMutationFilters() {
  const add = (key, value) => ({ append: { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } });
  return [
    {
      name: "envoy.filters.http.header_mutation",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations: { request_mutations: [add("x-upstream-filter", "1")], response_mutations: [add("x-upstream-filter-response", "1")] },
      },
    },
    { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } },
  ];
}
function withUpstreamFilters(config) {
  const copy = structuredClone(config);
  const options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
  copy.static_resources.clusters[0].typed_extension_protocol_options = {
    [options]: {
      "@type": `type.googleapis.com/${options}`,
      explicit_http_config: { http_protocol_options: {} },
      http_filters: upstreamHeaderMutationFilters(),
    },
  };
  return copy;
}
/** The same list as the router's own upstream_http_filters (the cluster has none). */
function withRouterUpstreamFilters(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const router = hcm.http_filters.find((filter) => filter.name === "envoy.filters.http.router");
  router.typed_config.upstream_http_filters = upstreamHeaderMutationFilters();
  return copy;
}
/** The bench config with the checksum filter first, the SHA-256 of the origin's 64-byte body expected on /64: every response hashed and found matching. */
function withChecksum(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const checksum = {
    name: "envoy.filters.http.checksum",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig",
      checksums: [{ path_matcher: { exact: "/64" }, sha256: createHash("sha256").update(BODY_64).digest("hex") }],
    },
  };
  hcm.http_filters = [checksum, ...hcm.http_filters];
  return copy;
}
/**
 * The bench config whose one route's cluster is chosen by the Lua cluster specifier running
 * Envoy's lua-cluster-specifier sandbox's script (test/fixtures/envoy-examples): no
 * `header_key: fake` in the bench's requests, so `example_cluster`, a cluster that
 * `--origin builtin` points at the origin.
 */
function withLuaClusterSpecifier(config) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const script = [
    "function envoy_on_route(route_handle)",
    '  local header_value = route_handle:headers():get("header_key")',
    '  if header_value == "fake" then',
    '    return "fake_cluster"',
    "  end",
    '  return "example_cluster"',
    "end",
  ].join("\n");
  hcm.route_config.virtual_hosts[0].routes[0].route = {
    inline_cluster_specifier_plugin: {
      extension: {
        name: "envoy.router.cluster_specifier_plugin.lua",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig", source_code: { inline_string: script }, default_cluster: "example_cluster" },
      },
    },
  };
  const origin = copy.static_resources.clusters.find((c) => c.name === "origin");
  copy.static_resources.clusters.push({ ...structuredClone(origin), name: "example_cluster", load_assignment: { ...structuredClone(origin.load_assignment), cluster_name: "example_cluster" } });
  return copy;
}
/**
 * The zipkin variant with four custom tags, one of each source polyvoy takes but `value`: a
 * literal, an environment variable, a request header (the load tool's User-Agent) and the
 * route's metadata.
 */
function withCustomTags(config) {
  const copy = withZipkin(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.virtual_hosts[0].routes[0].metadata = { filter_metadata: { bench: { tier: "gold" } } };
  hcm.tracing.custom_tags = [
    { tag: "bench.literal", literal: { value: "bench" } },
    { tag: "bench.environment", environment: { name: "HOME", default_value: "unset" } },
    { tag: "bench.user_agent", request_header: { name: "user-agent", default_value: "none" } },
    { tag: "bench.tier", metadata: { kind: { route: {} }, metadata_key: { key: "bench", path: [{ key: "tier" }] }, default_value: "none" } },
  ];
  return copy;
}
/** The bench config with a file access log (Envoy's default format) to /dev/null, behind `filter` if given. */
function withFileAccessLog(config, filter) {
  const copy = structuredClone(config);
  const hcm = copy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const log = { name: "envoy.access_loggers.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/null" } };
  hcm.access_log = [...(hcm.access_log ?? []), filter ? { ...log, filter } : log];
  return copy;
}
/**
 * An and_filter every bench request passes, so that both runs write the same lines: a
 * status ≥ 200; a gRPC status other than OK (a plain 200 without grpc-status is UNKNOWN, as
 * Envoy's httpToGrpcStatus maps it); dynamic metadata `bench.log` true, or not set (the
 * default match_if_key_not_found: nothing here sets it).
 */
const ACCESS_LOG_FILTERS = {
  and_filter: {
    filters: [
      { status_code_filter: { comparison: { op: "GE", value: { default_value: 200, runtime_key: "bench.access_log.min_status" } } } },
      { grpc_status_filter: { statuses: ["OK"], exclude: true } },
      { metadata_filter: { matcher: { filter: "bench", path: [{ key: "log" }], value: { bool_match: true } } } },
    ],
  },
};
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
// The service a variant runs in this process, and its cluster, which `--keep-cluster` leaves as written.
const services = {
  ext_proc: [startProcessor, "processor"],
  ext_proc_streamed: [startProcessor, "processor"],
  als: [startAccessLogService, "als"],
  otel: [startCollector, "otel_collector"],
  datadog: [startCollector, "datadog_agent"],
  grpc_json: [startGrpcEcho, "grpc_echo"],
  skywalking: [() => startCountingCollector("/skywalking.v3.TraceSegmentReportService/collect", true, "segments"), "skywalking"],
  otel_access_log: [() => startCountingCollector("/opentelemetry.proto.collector.logs.v1.LogsService/Export", false, "OTLP log exports"), "otel_logs"],
};
const [startService, keptCluster] = services[values.with] ?? [];
const processor = await startService?.();
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
  skywalking: ["skywalking tracer, all sampled", () => withSkyWalking(base, processor.port), ""],
  otel_access_log: ["opentelemetry access log", () => withOpenTelemetryAccessLog(base, processor.port), ""],
  checksum: ["checksum, the body's sha256 matched", () => withChecksum(base), ""],
  lua_cluster_specifier: ["lua cluster specifier, the sandbox's script", () => withLuaClusterSpecifier(base), ""],
  custom_tags: ["zipkin tracer, all sampled, 4 custom tags", () => withCustomTags(base), ""],
  upstream_filters: ["header_mutation as an upstream HTTP filter", () => withUpstreamFilters(base), ""],
  router_upstream_filters: ["header_mutation in the router's upstream_http_filters", () => withRouterUpstreamFilters(base), ""],
  access_log_filters: ["the file access log behind 3 filters", () => withFileAccessLog(base, ACCESS_LOG_FILTERS), "", { baseline: ["file access log", () => withFileAccessLog(base)] }],
};
const variant = variants[values.with];
if (!variant) {
  processor?.close();
  throw new Error(`--with: ${Object.keys(variants).join(", ")}, not ${values.with}`);
}
// The baseline (the router alone unless the variant names another) gets the variant's
// request (its Host and headers) but always the origin's /64.
const request = variant[3] ?? {};
const [baselineLabel, baseline] = request.baseline ?? ["router alone", () => base];
const configs = { [baselineLabel]: [baseline(), "/64", request.args ?? []], [variant[0]]: [variant[1](), request.target ?? "/64", request.args ?? []] };

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
console.log(`${variant[0]} against ${baselineLabel}: small GETs (${configs[variant[0]][1]}), 64 connections, ${values.rounds} rounds of ${values.duration}, each runtime pinned to one core`);
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
