/**
 * Envoy's kafka_broker network filter in front of tcp_proxy, on every runtime: a real Kafka
 * client (kafkajs) talks through the proxy to a broker speaking the protocol's exact bytes
 * (test/support/kafka-broker.ts). The client's ApiVersions and Metadata exchanges pass
 * unchanged (it lists the broker's topic) and count as Envoy's kafka.<stat_prefix>.request.*
 * and response.* counters in /stats; a raw client's request of an API Envoy has no parser
 * for counts as unknown, a malformed one as failure.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Kafka, logLevel } from "kafkajs";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { adminStats } from "../support/tls-probe.ts";
import { kafkaBroker, TOPIC, type KafkaBroker } from "../support/kafka-broker.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

type Config = { static_resources: { listeners: { filter_chains: { filters: { name: string; typed_config: Record<string, unknown> }[] }[] }[] } };

function kafkaConfig(listenPort: number, upstreamPort: number, adminPort: number): object {
  const config = tcpProxyConfig({ listenPort, upstreamPorts: [upstreamPort], connectTimeout: "5s" }) as Config;
  config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift({
    name: "envoy.filters.network.kafka_broker",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker", stat_prefix: "kafka_broker" },
  });
  return { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } };
}

/** Send `bytes` on a new connection and close it after `ms`. */
async function rawClient(port: number, bytes: Uint8Array, ms = 300): Promise<void> {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(bytes);
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.destroy();
}

function request(apiKey: number, apiVersion: number, correlationId: number, clientIdLength = 0): Uint8Array {
  const out = Buffer.alloc(14 + Math.max(0, clientIdLength));
  out.writeInt32BE(out.length - 4, 0);
  out.writeInt16BE(apiKey, 4);
  out.writeInt16BE(apiVersion, 6);
  out.writeInt32BE(correlationId, 8);
  out.writeInt16BE(clientIdLength, 12);
  return out;
}

describe.each(RUNTIMES)("kafka_broker on %s", (runtime) => {
  let broker: KafkaBroker;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    broker = await kafkaBroker();
    port = await freePort();
    adminPort = await freePort();
    broker.advertise = { host: "127.0.0.1", port };
    proxy = await ProxyProcess.start(runtime, kafkaConfig(port, broker.port, adminPort));
  });

  afterAll(async () => {
    await proxy?.stop();
    await broker?.close();
  });

  const kafkaStats = async () => {
    const all = await adminStats(adminPort);
    return Object.fromEntries([...all].filter(([name, value]) => name.startsWith("kafka.kafka_broker.") && Number.isFinite(value) && value !== 0).map(([name, value]) => [name.slice("kafka.kafka_broker.".length), value]));
  };

  test("kafkajs lists the topics through the proxy; its requests and the responses count per API", async () => {
    const kafka = new Kafka({ clientId: "polyvoy-test", brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toEqual([TOPIC]);
    } finally {
      await admin.disconnect();
    }
    // kafkajs: ApiVersions v2 on connecting (the broker's highest), Metadata v0 on connecting and for listTopics.
    expect(broker.requests).toEqual([[18, 2], [3, 0], [3, 0]]);
    await expect.poll(kafkaStats).toEqual({
      "request.api_versions_request": 1, "response.api_versions_response": 1,
      "request.metadata_request": 2, "response.metadata_response": 2,
    });
  });

  test("a raw client: an API Envoy has no parser for is unknown, a client_id length of -2 a failure", async () => {
    const before = await kafkaStats();
    // ConsumerGroupHeartbeat (68), which Envoy leaves out; the broker does not answer it.
    await rawClient(port, request(68, 0, 1));
    const bad = request(3, 0, 2);
    Buffer.from(bad.buffer).writeInt16BE(-2, 12);
    await rawClient(port, bad);
    await expect.poll(async () => {
      const after = await kafkaStats();
      return { unknown: (after["request.unknown"] ?? 0) - (before["request.unknown"] ?? 0), failure: (after["request.failure"] ?? 0) - (before["request.failure"] ?? 0) };
    // Two failures: the malformed request's read, and the client's end of stream 300 ms
    // later, a later read on which Envoy decodes its held buffer again (broker/filter.cc).
    }).toEqual({ unknown: 1, failure: 2 });
    // The malformed request never reached the broker (Envoy's StopIteration).
    expect(broker.requests.at(-1)).toEqual([68, 0]);
  });
});
