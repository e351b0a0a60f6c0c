/**
 * The HCM's tracing custom_tags (envoy.type.tracing.v3.CustomTag): the config as Envoy's
 * CustomTagUtility takes it, each kind's value as custom_tag_impl.cc renders it (a `value` format as the access log's) (defaults,
 * missing and empty values), and the tags on zipkin spans on the memory runtime (the
 * environment read once, set after Envoy's own tags so a custom one of the same name wins).
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { RequestHeaders } from "../../../core/http/message.ts";
import { StreamInfo } from "../../../core/http/stream-info.ts";
import { applyCustomTags, compileCustomTags } from "../../../core/tracing/custom-tags.ts";
import { setCustomTags } from "../../../core/http/conn-manager/stream-span.ts";
import type { ServerContext } from "../../../core/server-context.ts";
import type { TracingSpan } from "../../../core/tracing/span.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { problems, tracingOf } from "../../support/hcm-tracing-config.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";

const ZIPKIN = { name: "envoy.tracers.zipkin", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON" } };
const OTEL = { name: "envoy.tracers.opentelemetry", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig" } };

const doc = (tracing: Record<string, unknown>) =>
  httpProxyConfig({ listenPort: 1, clusters: { b: [2], zipkin: [3] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm: { tracing } });
const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.custom_tags";

describe("custom_tags config", () => {
  test("each kind as CustomTagUtility::createCustomTag takes it; a header name lowercased; the first tag of a name kept (Envoy's CustomTagMap emplace)", () => {
    const tags = [
      { tag: "lit", literal: { value: "v" } },
      { tag: "env", environment: { name: "HOSTNAME", default_value: "none" } },
      { tag: "hdr", request_header: { name: "X-Tenant" } },
      { tag: "md", metadata: { kind: { route: {} }, metadata_key: { key: "ns", path: [{ key: "a" }, { key: "b" }] }, default_value: "d" } },
      { tag: "md2", metadata: { kind: { host: {} } } },
      { tag: "fmt", value: "%REQ(:METHOD)% é" },
      { tag: "lit", literal: { value: "second" } },
    ];
    for (const provider of [ZIPKIN, OTEL]) {
      expect(tracingOf(doc({ provider, custom_tags: tags })).customTags).toEqual([
        { tag: "lit", kind: "literal", value: "v" },
        { tag: "env", kind: "environment", name: "HOSTNAME", defaultValue: "none" },
        { tag: "hdr", kind: "request_header", name: "x-tenant", defaultValue: "" },
        { tag: "md", kind: "metadata", source: "route", key: "ns", path: ["a", "b"], defaultValue: "d" },
        { tag: "md2", kind: "metadata", source: "host", key: "", path: [], defaultValue: "" },
        // A format string is kept as its UTF-8 bytes, as the access log's.
        { tag: "fmt", kind: "value", format: "%REQ(:METHOD)% \u00c3\u00a9" },
      ]);
    }
    // Without a provider Envoy's tracer is the null tracer: nothing to tag.
    expect(tracingOf(doc({ custom_tags: tags })).customTags).toBeUndefined();
  });

  test("refused: a `value` format Envoy's formatter refuses, no kind or two, empty tag or literal, a metadata kind missing or two, an empty path", () => {
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", value: "%NOPE%" }] }))[0]).toMatch(/^static_resources.*custom_tags\[0\]\.value: .*NOPE/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t" }] }))[0]).toBe(`${AT}[0]: must set one of literal, environment, request_header, metadata, value`);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", literal: { value: "a" }, request_header: { name: "b" } }] }))[0]).toMatch(/must set only one of literal, environment, request_header, metadata, value \(got literal, request_header\)/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "", literal: { value: "a" } }] }))[0]).toMatch(/custom_tags\[0\]\.tag/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", literal: { value: "" } }] }))[0]).toMatch(/custom_tags\[0\]\.literal\.value/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", metadata: { metadata_key: { key: "a", path: [{ key: "b" }] } } }] }))[0]).toMatch(/custom_tags\[0\]\.metadata\.kind/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", metadata: { kind: { request: {}, route: {} } } }] }))[0]).toMatch(/must set only one of request, route, cluster, host/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", metadata: { kind: { request: {} }, metadata_key: { key: "a", path: [] } } }] }))[0]).toMatch(/metadata_key\.path: must have at least 1 item/);
    expect(problems(doc({ provider: ZIPKIN, custom_tags: [{ tag: "t", response_header: { name: "a" } }] }))[0]).toMatch(/response_header/);
  });
});

/** A span that records its tags in order (and drops none: the tracer's own rules are not under test). */
class RecordingSpan implements TracingSpan {
  constructor(readonly sampled = true) {}
  readonly tags: [string, string][] = [];
  readonly spawnsUpstreamSpans = false;
  setOperation(): void {}
  setTag(name: string, value: string): void {
    this.tags.push([name, value]);
  }
  injectContext(): void {}
  nowMicros(): number {
    return 0;
  }
  spawnChild(): TracingSpan {
    return this;
  }
  getTraceId(): string {
    return "";
  }
  getSpanId(): string {
    return "";
  }
  finish(): void {}
}

function tagsOf(config: Record<string, unknown>[], ctx: { request?: RequestHeaders; info?: StreamInfo; routeMetadata?: Record<string, Record<string, unknown>> }, env: Record<string, string> = {}): [string, string][] {
  const tracing = tracingOf(doc({ provider: ZIPKIN, custom_tags: config }));
  const span = new RecordingSpan();
  const stream = { routeMetadata: ctx.routeMetadata, formatterContext: () => expect.unreachable("no formatter tag here") as never };
  applyCustomTags(span, compileCustomTags(tracing.customTags!, { environmentVariable: (name) => env[name] }), { request: ctx.request, info: ctx.info ?? new StreamInfo(0), stream });
  return span.tags;
}

describe("custom tag values (custom_tag_impl.cc)", () => {
  test("literal; environment (its default when unset, nothing without one); request_header (the first value, a pseudo-header, the default, nothing)", () => {
    const request = new RequestHeaders();
    request.path = "/p?q";
    request.add("x-tenant", "acme");
    request.add("x-tenant", "other");
    const tags = [
      { tag: "lit", literal: { value: "literal value" } },
      { tag: "host", environment: { name: "HOSTNAME" } },
      { tag: "unset", environment: { name: "NOPE", default_value: "fallback" } },
      { tag: "unset-no-default", environment: { name: "NOPE" } },
      { tag: "empty-env", environment: { name: "EMPTY", default_value: "unused" } },
      { tag: "path", request_header: { name: ":path" } },
      { tag: "tenant", request_header: { name: "X-Tenant" } },
      { tag: "missing", request_header: { name: "x-missing", default_value: "dflt" } },
      { tag: "missing-no-default", request_header: { name: "x-missing" } },
    ];
    expect(tagsOf(tags, { request }, { HOSTNAME: "box-1", EMPTY: "" })).toEqual([
      ["lit", "literal value"],
      ["host", "box-1"],
      ["unset", "fallback"],
      ["path", "/p?q"],
      ["tenant", "acme"],
      ["missing", "dflt"],
    ]);
    // No request head parsed: only defaults.
    expect(tagsOf(tags.slice(5), {})).toEqual([["missing", "dflt"]]);
  });

  test("metadata: request (dynamic), route, host, cluster (none in polyvoy); strings, bools, numbers as %g, structs and lists as sorted JSON; null or missing give the default", () => {
    const info = new StreamInfo(0);
    info.setDynamicMetadata("ns", { s: "str", e: "", t: true, f: false, i: 42, big: 12345678, frac: 0.1, struct: { b: 1, a: [1, "x", null, { z: 2.5 }] }, list: [3, "y"], nil: null, deep: { er: { est: "found" } } });
    const md = (tag: string, source: string, path: string[], def?: string) => ({ tag, metadata: { kind: { [source]: {} }, metadata_key: { key: "ns", path: path.map((key) => ({ key })) }, ...(def !== undefined ? { default_value: def } : {}) } });
    const tags = [
      md("s", "request", ["s"]),
      md("e", "request", ["e"], "unused"),
      md("t", "request", ["t"]),
      md("f", "request", ["f"]),
      md("i", "request", ["i"]),
      md("big", "request", ["big"]),
      md("frac", "request", ["frac"]),
      md("struct", "request", ["struct"]),
      md("list", "request", ["list"]),
      md("nil", "request", ["nil"], "was null"),
      md("deep", "request", ["deep", "er", "est"]),
      md("not-struct", "request", ["s", "x"], "d1"),
      md("missing", "request", ["nope"], "d2"),
      md("missing-no-default", "request", ["nope"]),
      md("route", "route", ["r"]),
      md("host", "host", ["h"], "no host"),
      md("cluster", "cluster", ["c"], "no cluster metadata"),
    ];
    expect(tagsOf(tags, { info, routeMetadata: { ns: { r: "from route" } } })).toEqual([
      ["s", "str"],
      // A value found is set even when empty (MetadataCustomTag::applySpan); zipkin's setTag drops it.
      ["e", ""],
      ["t", "true"],
      ["f", "false"],
      ["i", "42"],
      ["big", "1.23457e+07"],
      ["frac", "0.1"],
      ["struct", '{"a":[1,"x",null,{"z":2.5}],"b":1}'],
      ["list", '[3,"y"]'],
      ["nil", "was null"],
      ["deep", "found"],
      ["not-struct", "d1"],
      ["missing", "d2"],
      ["route", "from route"],
      ["host", "no host"],
      ["cluster", "no cluster metadata"],
    ]);
    info.upstreamHost = "127.0.0.1:1";
    info.upstreamHostMetadata = { ns: { h: "from host" } };
    expect(tagsOf([md("host", "host", ["h"], "no host")], { info })).toEqual([["host", "from host"]]);
  });
});

describe("a span not sampled", () => {
  test("gets no custom tags and renders no format (setCustomTags, for the stream's span and an upstream request's): it is never sent", () => {
    const tracing = tracingOf(doc({ provider: ZIPKIN, custom_tags: [{ tag: "fmt", value: "%REQ(:PATH)%" }, { tag: "lit", literal: { value: "v" } }] }));
    const server = { runtime: { environmentVariable: () => undefined } } as unknown as ServerContext;
    let rendered = 0;
    const stream = { routeMetadata: undefined, formatterContext: () => (rendered++, expect.unreachable("no format rendered for an unsampled span") as never) };
    const span = new RecordingSpan(false);
    setCustomTags(span, new RequestHeaders(), new StreamInfo(0), tracing, server, stream);
    expect(rendered).toBe(0);
    expect(span.tags).toEqual([]);
  });
});

describe("metadata lists and structs as protobuf's JSON writer writes them (json/internal/writer.cc)", () => {
  test("strings and keys escaped as MustEscape escapes them: < > as \\u003c \\u003e, 0x7f-0x9f, U+200B-200F, U+2028-202E, U+FEFF, a supplementary one as a surrogate pair; & / é as they are", () => {
    const info = new StreamInfo(0);
    info.setDynamicMetadata("ns", { s: { "<k>": "a<b>&c/d é", ctl: "\x7f\x85\u200b\u2028\u202e\ufeff\u{e0021}", q: 'q"\\\n' }, l: ["<", "\u00ad"] });
    const md = (tag: string, key: string) => ({ tag, metadata: { kind: { request: {} }, metadata_key: { key: "ns", path: [{ key }] } } });
    expect(tagsOf([md("s", "s"), md("l", "l")], { info })).toEqual([
      ["s", '{"\\u003ck\\u003e":"a\\u003cb\\u003e&c/d é","ctl":"\\u007f\\u0085\\u200b\\u2028\\u202e\\ufeff\\udb40\\udc21","q":"q\\"\\\\\\n"}'],
      ["l", '["\\u003c","\\u00ad"]'],
    ]);
  });
});

describe("custom tags on zipkin spans (memory runtime)", () => {
  const PROXY = 10000;
  const UPSTREAM = 8080;
  const COLLECTOR = 9411;
  let runtime: MemoryRuntime;
  let peers: MemoryHttpServer[] = [];
  let collector: MemoryHttpServer;

  afterEach(() => {
    for (const peer of peers) peer.close();
    peers = [];
  });

  async function start(customTags: Record<string, unknown>[], tracing: Record<string, unknown> = {}): Promise<void> {
    runtime = new MemoryRuntime({ seed: 7, env: { HOSTNAME: "memory-host" } });
    peers.push(await MemoryHttpServer.listen(runtime, UPSTREAM, (_, res) => res.respond(200, "ok")));
    peers.push((collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => res.respond(202))));
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], zipkin: [COLLECTOR] },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, metadata: { filter_metadata: { app: { team: "edge" } } } } }],
      hcm: {
        tracing: { provider: ZIPKIN, custom_tags: customTags, ...tracing },
        http_filters: [
          {
            name: "envoy.filters.http.lua",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
              default_source_code: { inline_string: 'function envoy_on_request(h)\n  h:streamInfo():dynamicMetadata():set("custom_tag", "tag_metadata", "hello from lua")\nend\n' },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    }) as { static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: Record<string, unknown>[] }[] } }[] } };
    config.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.metadata = { filter_metadata: { app: { zone: "z9" } } };
    const server = new Server(runtime, loadBootstrap(JSON.stringify({ ...config, layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.zipkin.min_flush_spans": 1 } }] } }), "json"), new Logger(runtime, "warn"));
    await server.start();
  }

  /** `headers` as bytes, one char per byte (UTF-8 text spelled out as its bytes). */
  async function spans(path: string, count = 1, headers: Record<string, string> = {}): Promise<{ kind: string; tags: Record<string, string> }[]> {
    const before = collector.requests.length;
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", path, { headers: { "x-tenant": "acme", ...headers } });
    runtime.advance(1);
    await import("../../../core/http/async-client.ts");
    for (let i = 0; i < 10 && collector.requests.length < before + count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      runtime.runDue();
    }
    expect(client.responses[0]?.status).toBe(200);
    // The collector's body is UTF-8 JSON.
    return collector.requests.slice(before).flatMap((r) => JSON.parse(new TextDecoder().decode(r.body)) as { kind: string; tags: Record<string, string> }[]);
  }
  const spanTags = async (path: string) => (await spans(path))[0]!.tags;

  test("the jaeger-tracing example's four tags, route and host metadata, a format; the environment is read once; a custom tag named as Envoy's own replaces it", async () => {
    await start([
      { tag: "tag_literal", literal: { value: "literal value" } },
      { tag: "tag_request_header", request_header: { name: ":path" } },
      { tag: "tag_env_hostname", environment: { name: "HOSTNAME" } },
      { tag: "tag_metadata", metadata: { kind: { request: {} }, metadata_key: { key: "custom_tag", path: [{ key: "tag_metadata" }] } } },
      { tag: "team", metadata: { kind: { route: {} }, metadata_key: { key: "app", path: [{ key: "team" }] } } },
      { tag: "zone", metadata: { kind: { host: {} }, metadata_key: { key: "app", path: [{ key: "zone" }] } } },
      { tag: "tenant", request_header: { name: "x-tenant" } },
      { tag: "component", literal: { value: "mine" } },
      { tag: "absent", request_header: { name: "x-absent" } },
      // FormatterCustomTag: an unset operator prints "" (omit_empty_values), and an empty result sets nothing.
      { tag: "fmt", value: "%REQ(:METHOD)% %RESPONSE_CODE% %UPSTREAM_CLUSTER% [%REQ(X-ABSENT)%]" },
      { tag: "fmt-empty", value: "%REQ(X-ABSENT)%" },
    ]);
    const tags = await spanTags("/first");
    expect(tags).toMatchObject({
      tag_literal: "literal value",
      tag_request_header: "/first",
      tag_env_hostname: "memory-host",
      tag_metadata: "hello from lua",
      team: "edge",
      zone: "z9",
      tenant: "acme",
      // TracerUtility::finalizeSpan sets the custom tags after "component: proxy".
      component: "mine",
      "http.status_code": "200",
      fmt: "GET 200 backend []",
    });
    expect(tags).not.toHaveProperty("absent");
    expect(tags).not.toHaveProperty("fmt-empty");
    // EnvironmentCustomTag reads getenv once, when the config is built.
    runtime.env.HOSTNAME = "changed";
    expect((await spanTags("/second")).tag_env_hostname).toBe("memory-host");
  });

  test("spawn_upstream_span: the upstream request's CLIENT span gets the HCM's custom tags too (TracerUtility::finalizeSpan), from the downstream request", async () => {
    await start(
      [
        { tag: "tenant", request_header: { name: "x-tenant" } },
        { tag: "tag_metadata", metadata: { kind: { request: {} }, metadata_key: { key: "custom_tag", path: [{ key: "tag_metadata" }] } } },
        { tag: "fmt", value: "%REQ(:PATH)%" },
      ],
      { spawn_upstream_span: true },
    );
    const reported = await spans("/up", 2);
    expect(reported.map((s) => s.kind).sort()).toEqual(["CLIENT", "SERVER"]);
    for (const span of reported) expect(span.tags).toMatchObject({ tenant: "acme", tag_metadata: "hello from lua", fmt: "/up" });
  });

  test("non-ASCII text is tagged once as UTF-8: a header's bytes, a format's text and output, Envoy's own user_agent and http.url (Envoy hands its bytes to the tracer as they are)", async () => {
    await start([
      { tag: "fmt", value: "café %REQ(x-name)%" },
      { tag: "hdr", request_header: { name: "x-name" } },
    ]);
    // "José", "agent/é" and "/café" as the UTF-8 bytes a client sends (the path in
    // x-envoy-original-path, which http.url prefers: a request line's path is ASCII).
    const tags = (await spans("/cafe", 1, { "x-name": "Jos\u00c3\u00a9", "user-agent": "agent/\u00c3\u00a9", "x-envoy-original-path": "/caf\u00c3\u00a9" }))[0]!.tags;
    expect(tags).toMatchObject({ fmt: "café José", hdr: "José", user_agent: "agent/é" });
    expect(tags["http.url"]).toMatch(/\/café$/);
  });
});
