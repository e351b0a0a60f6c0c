/**
 * The Router's start_child_span (envoy.extensions.filters.http.router.v3.Router): with
 * tracing on the HCM, each upstream request gets a CLIENT span "router <cluster> egress", a
 * child of the request's, whose context goes upstream — as the HCM's spawn_upstream_span
 * does, either one turning it on (Envoy's UpstreamRequest constructor, upstream_request.cc:
 * `spawnUpstreamSpan() || start_child_span_`). Seen with the OpenTelemetry tracer on the
 * memory runtime, its spans exported over OTLP/HTTP to an in-memory collector.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { SpanKind } from "../../../core/tracing/otlp.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { decodeFields, hex, one, sub, subs, text } from "../../support/protobuf-fields.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const COLLECTOR = 4318;

let runtime: MemoryRuntime;
let peers: MemoryHttpServer[] = [];

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
});

/** A proxy whose router has `router` as its typed_config fields; the HCM's tracing (none when undefined). */
async function setup(router: Record<string, unknown>, tracing: Record<string, unknown> | undefined): Promise<{ upstream: MemoryHttpServer; collector: MemoryHttpServer }> {
  runtime = new MemoryRuntime({ seed: 11 });
  const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_, res) => res.respond(200, "ok"));
  const collector = await MemoryHttpServer.listen(runtime, COLLECTOR, (_, res) => res.respond(200));
  peers.push(upstream, collector);
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: [UPSTREAM], otlp: [COLLECTOR] },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    hcm: {
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ...router } }],
      ...(tracing !== undefined
        ? {
            tracing: {
              ...tracing,
              provider: {
                name: "envoy.tracers.opentelemetry",
                typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", http_service: { http_uri: { uri: "http://collector/v1/traces", cluster: "otlp", timeout: "1s" } } },
              },
            },
          }
        : {}),
    },
  }) as object;
  // One flush per span: what the test reads is there at once.
  const withRuntime = { ...config, layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.opentelemetry.min_flush_spans": 1 } }] } };
  const server = new Server(runtime, loadBootstrap(JSON.stringify(withRuntime), "json"), new Logger(runtime, "warn"));
  await server.start();
  return { upstream, collector };
}

const settle = (): Promise<void> => settleAsyncClient(runtime);

/** Every exported span: [span id, parent span id, name, kind]. */
const exported = (collector: MemoryHttpServer) =>
  collector.requests.flatMap((post) =>
    subs(sub(subs(decodeFields(post.body), 1)[0]!, 2), 2).map((span) => [hex(one(span, 2)), one(span, 4) === undefined ? "" : hex(one(span, 4)), text(one(span, 5)), Number(one(span, 6))] as const),
  );

describe("router start_child_span", () => {
  test("a CLIENT child per upstream request, named by the cluster; its context is the one the upstream sees", async () => {
    const { upstream, collector } = await setup({ start_child_span: true }, {});
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.advance(1);
    await settle();
    expect(client.responses[0]?.status).toBe(200);
    const spans = exported(collector);
    const server = spans.find(([, , , kind]) => kind === SpanKind.Server)!;
    const child = spans.find(([, , , kind]) => kind === SpanKind.Client)!;
    expect(spans).toHaveLength(2);
    expect(child[2]).toBe("router backend egress");
    expect(child[1]).toBe(server[0]);
    const traceparent = upstream.requests[0]!.get("traceparent") ?? "";
    expect(traceparent.split("-")[2]).toBe(child[0]);
  });

  test("the HCM's custom_tags go on the child span too (Envoy's UpstreamRequest finalizes every upstream span)", async () => {
    const { collector } = await setup({ start_child_span: true }, { custom_tags: [{ tag: "lit", literal: { value: "v1" } }] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.advance(1);
    await settle();
    const spans = collector.requests.flatMap((post) => subs(sub(subs(decodeFields(post.body), 1)[0]!, 2), 2));
    const attributes = (span: (typeof spans)[number]) => subs(span, 9).map((kv) => [text(one(kv, 1)), text(one(sub(kv, 2), 1))]);
    const child = spans.find((span) => Number(one(span, 6)) === SpanKind.Client)!;
    const server = spans.find((span) => Number(one(span, 6)) === SpanKind.Server)!;
    expect(attributes(server)).toContainEqual(["lit", "v1"]);
    expect(attributes(child)).toContainEqual(["lit", "v1"]);
  });

  test("without it (nor spawn_upstream_span) the request's span alone, its context upstream", async () => {
    const { upstream, collector } = await setup({}, {});
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.advance(1);
    await settle();
    const spans = exported(collector);
    expect(spans.map(([, , name]) => name)).toEqual(["ingress"]);
    expect((upstream.requests[0]!.get("traceparent") ?? "").split("-")[2]).toBe(spans[0]![0]);
  });

  test("without tracing on the HCM it makes no span and sends no context", async () => {
    const { upstream, collector } = await setup({ start_child_span: true }, undefined);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/a");
    runtime.advance(1);
    await settle();
    expect(client.responses[0]?.status).toBe(200);
    expect(collector.requests).toHaveLength(0);
    expect(upstream.requests[0]!.get("traceparent")).toBeUndefined();
  });
});
