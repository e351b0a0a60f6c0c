/**
 * The kafka_broker filter (core/network/kafka/kafka-broker-filter.ts) in front of tcp_proxy
 * on the memory runtime: requests and responses pass byte for byte, however they are cut,
 * and count as Envoy's kafka.<stat_prefix>.request.* / response.* with the response's
 * duration; an API or version Envoy has no parser for is `unknown`; a malformed request or
 * a response to no request is `failure` and that direction stops (Envoy's StopIteration);
 * the in-flight map is bounded, a Produce with acks=0 is not kept in it, and a response to a
 * request it forgot passes.
 */
import { describe, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../../../core/port.ts";
import type { Server } from "../../../../core/server.ts";
import type { Histogram } from "../../../../core/stats/histogram.ts";
import { IN_FLIGHT_LIMIT, KafkaInFlight } from "../../../../core/network/kafka/kafka-in-flight.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig } from "../../../support/configs.ts";
import { startProxy } from "../../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 9092;

/** A socket's peer that keeps every byte it receives. */
class Peer implements SocketHandler {
  private readonly chunks: Uint8Array[] = [];
  closed: CloseReason | undefined;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  get bytes(): number[] {
    return this.chunks.flatMap((c) => [...c]);
  }
  send(data: Uint8Array): void {
    this.socket.write(data);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.chunks.push(data.slice());
  }
  onEnd(): void {
    this.socket.close();
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
}

/** A request frame: size, api key, version, correlation id, client_id "polyvoy", then `body`. */
function request(apiKey: number, apiVersion: number, correlationId: number, body: number[] = []): Uint8Array {
  const clientId = [..."polyvoy"].map((c) => c.charCodeAt(0));
  const out = new Uint8Array(4 + 10 + clientId.length + body.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, out.length - 4);
  view.setInt16(4, apiKey);
  view.setInt16(6, apiVersion);
  view.setInt32(8, correlationId);
  view.setInt16(12, clientId.length);
  out.set(clientId, 14);
  out.set(body, 14 + clientId.length);
  return out;
}

/** A response frame: size, correlation id, then `body`. */
function response(correlationId: number, body: number[] = []): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, out.length - 4);
  view.setInt32(4, correlationId);
  out.set(body, 8);
  return out;
}

async function setup(bufferLimitBytes?: number): Promise<{ runtime: MemoryRuntime; server: Server; upstreams: Peer[]; client: Peer; stats: () => Record<string, number>; histogram: (name: string) => Histogram }> {
  const runtime = new MemoryRuntime({ seed: 3 });
  const upstreams: Peer[] = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM], bufferLimitBytes }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } };
  config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift({
    name: "envoy.filters.network.kafka_broker",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker", stat_prefix: "kafka_broker" },
  });
  const server = await startProxy(runtime, config);
  const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
  runtime.runDue();
  const stats = () => {
    const out: Record<string, number> = {};
    for (const stat of server.stats.all()) {
      if (stat.name.startsWith("kafka.kafka_broker.") && "value" in stat && stat.value !== 0) out[stat.name.slice("kafka.kafka_broker.".length)] = stat.value as number;
    }
    return out;
  };
  return { runtime, server, upstreams, client, stats, histogram: (name) => server.stats.get(`kafka.kafka_broker.${name}`) as Histogram };
}

describe("kafka_broker filter", () => {
  test("requests and responses pass unchanged, cut anywhere, and count per API with the response's duration", async () => {
    const { runtime, upstreams, client, stats, histogram } = await setup();
    // ApiVersions v3, Metadata v12, Produce v9 with a body, in one stream cut into 5-byte pieces.
    const requests = [request(18, 3, 1), request(3, 12, 2, [0, 0, 0, 0, 1]), request(0, 9, 3, Array.from({ length: 300 }, (_, i) => i & 0xff))];
    const sent = requests.flatMap((r) => [...r]);
    for (let at = 0; at < sent.length; at += 5) {
      client.send(Uint8Array.from(sent.slice(at, at + 5)));
      runtime.runDue();
    }
    expect(upstreams[0]!.bytes).toEqual(sent);
    expect(stats()).toEqual({ "request.api_versions_request": 1, "request.metadata_request": 1, "request.produce_request": 1 });

    runtime.advance(7);
    const responses = [response(1, [0, 0]), response(2, [1, 2, 3]), response(3, Array.from({ length: 50 }, () => 9))];
    const answered = responses.flatMap((r) => [...r]);
    upstreams[0]!.send(Uint8Array.from(answered.slice(0, 11)));
    runtime.runDue();
    upstreams[0]!.send(Uint8Array.from(answered.slice(11)));
    runtime.runDue();
    expect(client.bytes).toEqual(answered);
    expect(stats()).toEqual({
      "request.api_versions_request": 1, "request.metadata_request": 1, "request.produce_request": 1,
      "response.api_versions_response": 1, "response.metadata_response": 1, "response.produce_response": 1,
    });
    const duration = histogram("response.metadata_response_duration");
    expect([duration.count, duration.sum]).toEqual([1, 7]);
    expect(histogram("response.fetch_response_duration").count).toBe(0);
  });

  test("an API key or version Envoy has no parser for: request and response unknown, bytes unchanged", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    // ConsumerGroupHeartbeat (68, left out by Envoy), ApiVersions v4 (3.5.1 ends at 3), a negative key.
    const sent = [request(68, 0, 1), request(18, 4, 2), request(-1, 0, 3)];
    client.send(Uint8Array.from(sent.flatMap((r) => [...r])));
    runtime.runDue();
    expect(upstreams[0]!.bytes).toEqual(sent.flatMap((r) => [...r]));
    upstreams[0]!.send(Uint8Array.from([...response(2), ...response(1)]));
    runtime.runDue();
    expect(client.bytes).toEqual([...response(2), ...response(1)]);
    expect(stats()).toEqual({ "request.unknown": 3, "response.unknown": 2 });
  });

  test("a response to no request is a failure: the write holding it and what follows do not reach the client", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    client.send(request(18, 0, 5));
    runtime.runDue();
    upstreams[0]!.send(Uint8Array.from([...response(5), ...response(6)]));
    runtime.runDue();
    upstreams[0]!.send(response(7));
    runtime.runDue();
    expect(client.bytes).toEqual([]);
    // Response 5 was decoded (and counted) before 6 failed in the same write, which the
    // client then does not get (Envoy's StopIteration); a failure per write, as Envoy's
    // re-decoding of the buffer it did not send.
    expect(stats()).toEqual({ "request.api_versions_request": 1, "response.api_versions_response": 1, "response.failure": 2 });
  });

  test("a malformed request (client_id length -2) is a failure: it and what follows do not reach the broker", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    const good = request(3, 1, 1);
    const bad = request(3, 1, 2);
    new DataView(bad.buffer).setInt16(12, -2);
    client.send(Uint8Array.from([...good, ...bad]));
    runtime.runDue();
    client.send(request(3, 1, 3));
    runtime.runDue();
    expect(upstreams[0]!.bytes).toEqual([]);
    // The later read counts the failure again, as Envoy's re-decoding of the held buffer.
    expect(stats()).toEqual({ "request.metadata_request": 1, "request.failure": 2 });
  });

  test("after a failed request each later read counts request.failure again, the end of stream too, until the buffer limit's worth has come", async () => {
    const { runtime, upstreams, client, stats } = await setup(100);
    const bad = request(3, 1, 1);
    new DataView(bad.buffer).setInt16(12, -2);
    client.send(bad);
    runtime.runDue();
    expect(stats()).toEqual({ "request.failure": 1 });
    // 21 + 40 + 39 = 100 bytes: reading goes on; the end of stream is one more read.
    client.send(new Uint8Array(40));
    runtime.runDue();
    client.send(new Uint8Array(39));
    runtime.runDue();
    client.socket.end();
    runtime.runDue();
    expect(stats()).toEqual({ "request.failure": 4 });
    expect(upstreams[0]!.bytes).toEqual([]);
  });

  test("after a failed request reading stops once more than the buffer limit has come since", async () => {
    const { runtime, upstreams, client, stats } = await setup(100);
    const bad = request(3, 1, 1);
    new DataView(bad.buffer).setInt16(12, -2);
    client.send(bad);
    runtime.runDue();
    client.send(new Uint8Array(40));
    runtime.runDue();
    client.send(new Uint8Array(40));
    runtime.runDue();
    // 101 bytes in: not read any more.
    client.send(new Uint8Array(40));
    runtime.runDue();
    client.send(new Uint8Array(40));
    runtime.runDue();
    expect(stats()).toEqual({ "request.failure": 3 });
    expect(upstreams[0]!.bytes).toEqual([]);
  });

  test("a malformed request sent before the broker is connected: still nothing reaches it, and later bytes neither", async () => {
    const runtime = new MemoryRuntime({ seed: 4 });
    const upstreams: Peer[] = [];
    await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
    const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM] }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } };
    config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift({
      name: "kafka",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker", stat_prefix: "k" },
    });
    const server = await startProxy(runtime, config);
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.send(Uint8Array.of(0xff, 0xff, 0xff, 0xf0, 1, 2, 3));
    runtime.runDue();
    // tcp_proxy enables reading once its upstream is connected; the filter stops it again.
    client.send(request(18, 0, 1));
    runtime.runDue();
    client.send(request(18, 0, 2));
    runtime.runDue();
    expect(upstreams[0]!.bytes).toEqual([]);
    // The malformed read and each of the two later ones (Envoy re-decodes its held buffer).
    expect((server.stats.get("kafka.k.request.failure") as { value: number }).value).toBe(3);
    expect((server.stats.get("kafka.k.request.api_versions_request") as { value: number }).value).toBe(0);
  });

  test("a negative request size is a failure", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    client.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3));
    runtime.runDue();
    expect(upstreams[0]!.bytes).toEqual([]);
    expect(stats()).toEqual({ "request.failure": 1 });
  });

  test("the in-flight requests are bounded: past the limit the oldest goes", () => {
    const inFlight = new KafkaInFlight(3);
    for (let id = 1; id <= 5; id++) inFlight.add(id, { apiKey: 0, apiVersion: 0, arrivedAt: id });
    expect(inFlight.size).toBe(3);
    expect(inFlight.take(1)).toBeUndefined();
    expect(inFlight.take(2)).toBeUndefined();
    expect(inFlight.take(4)?.arrivedAt).toBe(4);
    // A reused id replaces its request and becomes the newest.
    inFlight.add(3, { apiKey: 1, apiVersion: 0, arrivedAt: 9 });
    inFlight.add(6, { apiKey: 0, apiVersion: 0, arrivedAt: 6 });
    inFlight.add(7, { apiKey: 0, apiVersion: 0, arrivedAt: 7 });
    expect(inFlight.take(5)).toBeUndefined();
    expect(inFlight.take(3)?.arrivedAt).toBe(9);
    expect(inFlight.size).toBe(2);
  });

  test("one request, then IN_FLIGHT_LIMIT more awaiting an answer: its response, its request forgotten, passes as a failure and nothing stalls", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    client.send(request(3, 12, 1));
    for (let id = 2; id <= IN_FLIGHT_LIMIT + 1; id++) client.send(request(18, 3, id));
    runtime.runDue();
    const answers = [...response(1), ...response(2), ...response(IN_FLIGHT_LIMIT + 1)];
    upstreams[0]!.send(Uint8Array.from(answers));
    runtime.runDue();
    upstreams[0]!.send(response(3));
    runtime.runDue();
    expect(client.bytes).toEqual([...answers, ...response(3)]);
    expect(stats()).toEqual({
      "request.metadata_request": 1, "request.api_versions_request": IN_FLIGHT_LIMIT,
      "response.failure": 1, "response.api_versions_response": 3,
    });
  });

  test("a Produce with acks=0 is not kept awaiting a response: IN_FLIGHT_LIMIT of them do not push out a waiting request", async () => {
    const { runtime, upstreams, client, stats } = await setup();
    client.send(request(3, 12, 1));
    // acks=0 at v2 (right after the header), v7 (after a transactional_id), v9 (after the
    // header's tagged fields and a compact transactional_id), then timeout_ms.
    const produces = [
      (id: number) => request(0, 2, id, [0, 0, 0, 0, 0x75, 0x30]),
      (id: number) => request(0, 7, id, [0, 2, 0x74, 0x78, 0, 0, 0, 0, 0x75, 0x30]),
      (id: number) => request(0, 9, id, [1, 5, 2, 0xaa, 0xbb, 3, 0x74, 0x78, 0, 0, 0, 0, 0x75, 0x30]),
    ];
    for (let id = 2; id <= IN_FLIGHT_LIMIT + 1; id++) client.send(produces[id % 3]!(id));
    runtime.runDue();
    upstreams[0]!.send(response(1));
    runtime.runDue();
    expect(client.bytes).toEqual([...response(1)]);
    expect(stats()).toEqual({ "request.metadata_request": 1, "request.produce_request": IN_FLIGHT_LIMIT, "response.metadata_response": 1 });
  });

  // Rows of the API table (core/network/kafka/kafka-api-keys.ts, Kafka 3.5.1's validVersions):
  // a request at the key's highest version counts as its API, one version above as unknown.
  test.each([
    [0, "produce", 9],
    [1, "fetch", 15],
    [3, "metadata", 12],
    [18, "api_versions", 3],
    [32, "describe_configs", 4],
    [56, "alter_partition", 3],
    [57, "update_features", 1],
    [62, "broker_registration", 1],
    [67, "allocate_producer_ids", 0],
  ])("api key %i (%s): version %i counts as its API, the next as unknown", async (apiKey, name, maxVersion) => {
    const { runtime, upstreams, client, stats } = await setup();
    client.send(Uint8Array.from([...request(apiKey, maxVersion, 1), ...request(apiKey, maxVersion + 1, 2)]));
    runtime.runDue();
    upstreams[0]!.send(Uint8Array.from([...response(1), ...response(2)]));
    runtime.runDue();
    expect(stats()).toEqual({ [`request.${name}_request`]: 1, "request.unknown": 1, [`response.${name}_response`]: 1, "response.unknown": 1 });
  });
});
