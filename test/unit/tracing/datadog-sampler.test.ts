/**
 * The Datadog tracer's sampler (core/tracing/datadog-sampler.ts): dd-trace-cpp's knuth_hash and
 * max_id_from_rate, the Agent's answer parsed as datadog_agent.cpp parses it, and on the memory
 * runtime the rates a local Agent answers applied to the traces the tracer decides (AUTO_KEEP /
 * AUTO_DROP by the trace id's hash, `_dd.agent_psr` the rate, `_dd.p.dm` -1 when kept).
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { MAX_RESPONSE_BYTES } from "../../../core/tracing/datadog-agent.ts";
import { DatadogTraceSampler, knuthHash, maxIdFromRate, parseAgentTracesResponse } from "../../../core/tracing/datadog-sampler.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { decodeTraces } from "../../support/msgpack-decode.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const AGENT = 8126;
const U64 = 1n << 64n;

describe("sampling_util.h", () => {
  test("knuth_hash: the id times 1111111111111111111, mod 2^64", () => {
    expect(knuthHash(1n)).toBe(1111111111111111111n);
    expect(knuthHash(17n)).toBe((17n * 1111111111111111111n) % U64);
    expect(knuthHash(U64 - 1n)).toBe(U64 - 1111111111111111111n);
  });

  test("max_id_from_rate: 1.0 is UINT64_MAX; below it, the rate times 2^64, truncated", () => {
    expect(maxIdFromRate(1)).toBe(U64 - 1n);
    expect(maxIdFromRate(0.5)).toBe(1n << 63n);
    expect(maxIdFromRate(0)).toBe(0n);
    expect(maxIdFromRate(0.1)).toBe(BigInt(Math.floor(0.1 * 2 ** 64)));
  });
});

describe("TraceSampler", () => {
  test("rate 1.0 (DEFAULT) until the Agent names one; then the service's rate, else the default (AGENT_RATE), kept by the hash", () => {
    const sampler = new DatadogTraceSampler();
    expect(sampler.decide(5n, "envoy", "")).toEqual({ priority: 1, mechanism: 0, rate: 1 });
    sampler.handleCollectorResponse(new Map([["service:,env:", 0], ["service:envoy,env:prod", 1]]));
    expect(sampler.decide(5n, "envoy", "prod")).toEqual({ priority: 1, mechanism: 1, rate: 1 });
    expect(sampler.decide(5n, "envoy", "")).toEqual({ priority: 0, mechanism: 1, rate: 0 });
    // A later answer without the default keeps it; its rates replace the others.
    sampler.handleCollectorResponse(new Map([["service:envoy,env:", 0.5]]));
    expect(sampler.decide(5n, "envoy", "prod")).toEqual({ priority: 0, mechanism: 1, rate: 0 });
    for (const id of [1n, 2n, 3n, 1n << 62n, (1n << 64n) - 7n]) {
      expect(sampler.decide(id, "envoy", "")).toEqual({ priority: knuthHash(id) <= 1n << 63n ? 1 : 0, mechanism: 1, rate: 0.5 });
    }
  });
});

describe("parse_agent_traces_response", () => {
  test("rates by key; no rate_by_service is none", () => {
    expect(parseAgentTracesResponse('{"rate_by_service":{"service:,env:":0.25,"service:a,env:b":1}}')).toEqual(new Map([["service:,env:", 0.25], ["service:a,env:b", 1]]));
    expect(parseAgentTracesResponse("{}")).toEqual(new Map());
  });

  test.each([
    ["not JSON", "OK", /failed with a JSON error/],
    ["not an object", "[1]", /expected to be a JSON object, but instead it's a JSON value with type "array"/],
    ["rate_by_service not an object", '{"rate_by_service":3}', /"rate_by_service" property of the response is expected to be a JSON object/],
    ["a rate not a number", '{"rate_by_service":{"service:,env:":"1"}}', /invalid sample rate for the key "service:,env:". Rate should be a number, but it's a "string"/],
    ["a rate above 1", '{"rate_by_service":{"service:,env:":1.5}}', /invalid sample rate for the key "service:,env:"/],
    ["a negative rate", '{"rate_by_service":{"service:,env:":-0.1}}', /invalid sample rate/],
  ])("refused: %s", (_name, body, message) => {
    const result = parseAgentTracesResponse(body);
    expect(typeof result).toBe("string");
    expect(result).toMatch(message);
    expect(result).toMatch(/Error occurred for response body \(begins on next line\):\n/);
  });
});

describe("the Agent's rates applied (memory runtime)", () => {
  let runtime: MemoryRuntime;
  let peers: MemoryHttpServer[] = [];
  afterEach(() => {
    for (const peer of peers) peer.close();
    peers = [];
  });

  let server: Server;

  async function setup(answers: string[]): Promise<{ upstream: MemoryHttpServer; agent: MemoryHttpServer }> {
    runtime = new MemoryRuntime({ seed: 11 });
    let n = 0;
    const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_, res) => res.respond(200, "ok"));
    const agent = await MemoryHttpServer.listen(runtime, AGENT, (_, res) => res.respond(200, answers[Math.min(n++, answers.length - 1)]!, { "content-type": "application/json" }));
    peers.push(upstream, agent);
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM], datadog_agent: [AGENT] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: { tracing: { provider: { name: "envoy.tracers.datadog", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig", collector_cluster: "datadog_agent" } } } },
    }) as object;
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "error"));
    await server.start();
    return { upstream, agent };
  }

  const settle = (): Promise<void> => settleAsyncClient(runtime);

  /** `count` requests, then the flush: each root span's trace id (low 64 bits), priority, agent_psr and decision maker. */
  async function roots(agent: MemoryHttpServer, count: number): Promise<{ id: bigint; priority: unknown; psr: unknown; dm: unknown }[]> {
    for (let i = 0; i < count; i++) {
      new MemoryHttpClient(runtime, PROXY).request("GET", `/r${i}`);
      runtime.advance(1);
    }
    await settle();
    runtime.advance(2000);
    await settle();
    const spans = decodeTraces(agent.requests.at(-1)!.body).flat();
    return spans.map((s) => ({ id: s.trace_id as bigint, priority: s.metrics._sampling_priority_v1, psr: s.metrics["_dd.agent_psr"], dm: s.meta["_dd.p.dm"] }));
  }

  test("before the Agent's first answer every trace is kept at rate 1 (DEFAULT); after it, the service's rate decides each by its trace id's hash", async () => {
    const { upstream, agent } = await setup(['{"rate_by_service":{"service:,env:":1,"service:envoy,env:":0.5}}']);
    expect(await roots(agent, 1)).toEqual([{ id: expect.any(BigInt), priority: 1, psr: 1, dm: "-0" }]);
    const after = await roots(agent, 24);
    expect(after).toHaveLength(24);
    for (const root of after) {
      const keep = knuthHash(root.id) <= maxIdFromRate(0.5);
      expect(root).toEqual({ id: root.id, priority: keep ? 1 : 0, psr: 0.5, dm: keep ? "-1" : undefined });
    }
    // A fair draw: both outcomes among them, and the upstream told the same.
    expect(new Set(after.map((r) => r.priority))).toEqual(new Set([0, 1]));
    const priorities = upstream.requests.slice(1).map((r) => Number(r.get("x-datadog-sampling-priority")));
    expect(priorities).toEqual(after.map((r) => r.priority));
  });

  test("the default rate applies to a service the Agent does not name; 0 drops every trace (AUTO_DROP, still sent)", async () => {
    const { agent } = await setup(['{"rate_by_service":{"service:,env:":0}}']);
    await roots(agent, 1);
    const after = await roots(agent, 5);
    expect(after.map((r) => [r.priority, r.psr, r.dm])).toEqual(Array(5).fill([0, 0, undefined]));
  });

  const counter = (name: string): number => (server.stats.get(`tracing.datadog.${name}`) as { value: number } | undefined)?.value ?? 0;

  /** A valid answer of at least `bytes`: the default rate, then numeric rates for made-up services. */
  function padded(defaultRate: number, bytes: number): string {
    const pad: string[] = [];
    for (let i = 0, size = 0; size < bytes; i++) {
      const entry = `"service:s${i},env:":0.5`;
      pad.push(entry);
      size += entry.length + 1;
    }
    return `{"rate_by_service":{"service:,env:":${defaultRate},${pad.join(",")}}}`;
  }

  test("an answer refused (malformed, a rate out of range, empty) changes nothing", async () => {
    const { agent } = await setup(['{"rate_by_service":{"service:,env:":0}}', "not json", '{"rate_by_service":{"service:,env:":2}}', "", '{"rate_by_service":{"service:,env:":1}}']);
    await roots(agent, 1);
    for (let i = 0; i < 3; i++) {
      const after = await roots(agent, 2);
      expect(after.map((r) => [r.priority, r.psr])).toEqual([
        [0, 0],
        [0, 0],
      ]);
    }
    // The flush of the last of those brings a valid answer, applied to the next decisions.
    await roots(agent, 1);
    expect((await roots(agent, 1)).map((r) => [r.priority, r.psr])).toEqual([[1, 1]]);
  });

  test("a valid answer over 64 KiB is read whole and applied (Envoy reads the whole answer)", async () => {
    const { agent } = await setup([padded(0, 100 * 1024)]);
    await roots(agent, 1);
    expect((await roots(agent, 2)).map((r) => [r.priority, r.psr])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect([counter("reports_sent"), counter("reports_failed")]).toEqual([2, 0]);
  });

  test("a 200 past MAX_RESPONSE_BYTES: a report sent (reports_sent), its rates skipped", async () => {
    const { agent } = await setup(['{"rate_by_service":{"service:,env:":0}}', padded(1, MAX_RESPONSE_BYTES), '{"rate_by_service":{"service:,env:":1}}']);
    await roots(agent, 1);
    await roots(agent, 1);
    // Decided after the oversized answer: still the first answer's rate 0.
    expect((await roots(agent, 2)).map((r) => [r.priority, r.psr])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect([counter("reports_sent"), counter("reports_failed")]).toEqual([3, 0]);
  });
});
