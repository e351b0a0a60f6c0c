/**
 * The Datadog Agent exporter's limits (core/tracing/datadog-agent.ts) on the memory runtime,
 * against an Agent that answers, hangs or is down: the held spans (count and bytes), the
 * payload, the requests in flight, the request timeout; none of them may throw out of the
 * flush timer (which would end the process).
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { DatadogAgent, FLUSH_INTERVAL_MS, MAX_BUFFERED_BYTES, MAX_BUFFERED_SPANS, MAX_PAYLOAD_BYTES, MAX_REPORTS_IN_FLIGHT, REQUEST_TIMEOUT_MS } from "../../../core/tracing/datadog-agent.ts";
import type { DatadogSpanData } from "../../../core/tracing/datadog-span-data.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { decodeTraces } from "../../support/msgpack-decode.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const AGENT = 8126;

let runtime: MemoryRuntime;
let server: Server;
let peers: MemoryHttpServer[] = [];

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
});

/** A server whose cluster datadog_agent is the Agent: one answering 200, one never answering, or none listening. */
async function setup(agentMode: "answers" | "hangs" | "down"): Promise<{ agent: DatadogAgent; peer: MemoryHttpServer | undefined }> {
  runtime = new MemoryRuntime({ seed: 7 });
  let peer: MemoryHttpServer | undefined;
  if (agentMode !== "down") {
    peer = await MemoryHttpServer.listen(runtime, AGENT, (_, res) => {
      if (agentMode === "answers") res.respond(200, "{}");
    });
    peers.push(peer);
  }
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { datadog_agent: [AGENT] }, routes: [{ match: { prefix: "/" }, cluster: "datadog_agent" }] }) as object;
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "off"));
  await server.start();
  const agent = new DatadogAgent(server, { collectorCluster: "datadog_agent", collectorHostname: "agent.example", serviceName: "envoy" });
  await settle();
  return { agent, peer };
}

const settle = (): Promise<void> => settleAsyncClient(runtime);

let nextId = 1n;
function span(meta: Record<string, string> = {}): DatadogSpanData {
  return { service: "envoy", name: "envoy.proxy", resource: "r", traceIdLow: 1n, spanId: nextId++, parentId: 0n, startNs: 0n, durationNs: 1n, error: false, type: "web", meta: new Map(Object.entries(meta)), metrics: new Map() };
}

const counter = (name: string) => server.stats.counter(`tracing.datadog.${name}`).value;

async function flushTick(): Promise<void> {
  runtime.advance(FLUSH_INTERVAL_MS);
  await settle();
}

describe("Datadog Agent exporter limits", () => {
  test("spans with huge tags (a client's large headers): past MAX_BUFFERED_BYTES a segment is dropped, counted; the rest are sent", async () => {
    const { agent, peer } = await setup("answers");
    const third = "a".repeat(Math.floor(MAX_BUFFERED_BYTES / 3));
    agent.send([span({ "user_agent": third })]);
    agent.send([span({ "user_agent": third }), span()]);
    expect(counter("spans_dropped")).toBe(0);
    // The third would pass the limit: dropped, both its spans counted.
    agent.send([span({ "user_agent": third }), span()]);
    expect(counter("spans_dropped")).toBe(2);
    expect(agent.pendingSpans).toBe(3);
    await flushTick();
    expect(counter("reports_sent")).toBe(1);
    expect(decodeTraces(peer!.requests[0]!.body)).toHaveLength(2);
    // The bytes are counted from zero again after a flush.
    agent.send([span({ "user_agent": third })]);
    expect(counter("spans_dropped")).toBe(2);
  });

  test("bytes are UTF-8's: a tag of 3-byte characters counts three per character", async () => {
    const { agent } = await setup("answers");
    agent.send([span({ k: "€".repeat(Math.floor(MAX_BUFFERED_BYTES / 3) - 100) })]);
    agent.send([span({ k: "a".repeat(1000) })]);
    expect(counter("spans_dropped")).toBe(1);
  });

  test("a payload that cannot be encoded (past MAX_PAYLOAD_BYTES) does not throw from the flush timer: its spans are counted dropped, the next flush sends", async () => {
    const { agent, peer } = await setup("answers");
    const grown = span();
    agent.send([grown, span()]);
    // Held by reference: grown after it was counted, past the payload's limit.
    grown.meta.set("big", "b".repeat(MAX_PAYLOAD_BYTES));
    await flushTick();
    expect(counter("spans_dropped")).toBe(2);
    expect(peer!.requests).toHaveLength(0);
    agent.send([span()]);
    await flushTick();
    expect(peer!.requests).toHaveLength(1);
    expect(counter("reports_sent")).toBe(1);
  });

  test("MAX_BUFFERED_SPANS spans are held; one more is dropped", async () => {
    const { agent } = await setup("answers");
    for (let i = 0; i < MAX_BUFFERED_SPANS / 10; i++) agent.send(Array.from({ length: 10 }, () => span()));
    expect(agent.pendingSpans).toBe(MAX_BUFFERED_SPANS);
    expect(counter("spans_dropped")).toBe(0);
    agent.send([span()]);
    expect(counter("spans_dropped")).toBe(1);
    expect(agent.pendingSpans).toBe(MAX_BUFFERED_SPANS);
  });

  test("an Agent that hangs: MAX_REPORTS_IN_FLIGHT requests at once, the next flush's spans dropped; each request ends at REQUEST_TIMEOUT_MS", async () => {
    const { agent, peer } = await setup("hangs");
    for (let i = 0; i < MAX_REPORTS_IN_FLIGHT; i++) {
      agent.send([span()]);
      agent.flush();
    }
    await settle();
    expect(peer!.requests).toHaveLength(MAX_REPORTS_IN_FLIGHT);
    expect(counter("spans_dropped")).toBe(0);
    agent.send([span(), span()]);
    agent.flush();
    expect(counter("spans_dropped")).toBe(2);
    // The timeout, not a moment before: the async client's 504 (as Envoy's router answers), a report dropped.
    runtime.advance(REQUEST_TIMEOUT_MS - 10);
    await settle();
    expect(counter("reports_dropped")).toBe(0);
    runtime.advance(10);
    await settle();
    expect(counter("reports_dropped")).toBe(MAX_REPORTS_IN_FLIGHT);
    // Room again.
    agent.send([span()]);
    agent.flush();
    await settle();
    expect(peer!.requests).toHaveLength(MAX_REPORTS_IN_FLIGHT + 1);
    expect(counter("spans_dropped")).toBe(2);
  });

  test("an Agent that is down: the async client's 503, reports_dropped, and the next flushes go on", async () => {
    const { agent } = await setup("down");
    agent.send([span()]);
    await flushTick();
    expect(counter("reports_dropped")).toBe(1);
    agent.send([span()]);
    await flushTick();
    expect(counter("reports_dropped")).toBe(2);
    expect(counter("reports_sent")).toBe(0);
  });
});
