/**
 * The bench's Kafka scenarios (bench/lib/scenarios.mjs "kafka", "kafka-filter"): the pair's
 * rows, the listeners polyvoy gets for them (bench/lib/targets.mjs), and the bytes of the load
 * client (bench/load/kafka-client.mjs) and origin (bench/peers/kafka-origin.mjs), read with
 * kafka_broker's own readers: a Produce the filter waits a response for (acks=1), and
 * responses carrying the requests' correlation ids. The scripts run under node, as the bench
 * runs them (on the load core).
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { THROUGHPUT } from "../../../bench/lib/scenarios.mjs";
import { polyvoyConfig, withKafkaListeners } from "../../../bench/lib/targets.mjs";
import { loadBootstrap } from "../../../core/config/load.ts";
import { kafkaApi } from "../../../core/network/kafka/kafka-api-keys.ts";
import { requestHeader, responseCorrelationId } from "../../../core/network/kafka/kafka-headers.ts";
import { produceAcks } from "../../../core/network/kafka/kafka-produce-acks.ts";

const BENCH = join(import.meta.dirname, "../../../bench");
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The frames (after their INT32 size) in `bytes`, and what is left over. */
function frames(bytes: Buffer): { frames: Buffer[]; rest: Buffer } {
  const out: Buffer[] = [];
  let at = 0;
  while (bytes.length - at >= 4 && bytes.length - at >= 4 + bytes.readInt32BE(at)) {
    out.push(bytes.subarray(at + 4, at + 4 + bytes.readInt32BE(at)));
    at += 4 + bytes.readInt32BE(at);
  }
  return { frames: out, rest: bytes.subarray(at) };
}

/** CRC-32C, written here apart from the client's (checked against the standard's "123456789"). */
function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function runNode(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", [join(BENCH, script), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("error", reject);
    child.on("close", () => resolve(out));
  });
}

test("the pair is listed: tcp_proxy alone first, then kafka_broker, each on its own listener, in requests/s", () => {
  const ids = THROUGHPUT.map((s) => s.id);
  expect(ids.indexOf("kafka")).toBeGreaterThanOrEqual(0);
  expect(ids.indexOf("kafka-filter")).toBe(ids.indexOf("kafka") + 1);
  for (const id of ["kafka", "kafka-filter"]) {
    const scenario = THROUGHPUT.find((s) => s.id === id)!;
    // The target's listener for the scenario is ports[protocol] (measureThroughput).
    expect(scenario.protocol).toBe(id);
    expect(scenario.unit).toBe("requests/s");
  }
});

test("polyvoy's config for them loads: tcp_proxy alone, and kafka_broker before it", () => {
  const config = withKafkaListeners(polyvoyConfig(18080, 18081), { kafka: 19092, "kafka-filter": 19093 }, 9092);
  const bootstrap = loadBootstrap(JSON.stringify(config), "json");
  const names = (name: string) => bootstrap.listeners.find((l) => l.name === name)!.filterChains[0]!.filters.map((f) => f.name);
  expect(names("kafka")).toEqual(["envoy.filters.network.tcp_proxy"]);
  expect(names("kafka-filter")).toEqual(["envoy.filters.network.kafka_broker", "envoy.filters.network.tcp_proxy"]);
});

test("the client pipelines Produce v9 requests with acks=1, distinct correlation ids and a valid record batch", async () => {
  expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      const got = frames(Buffer.concat([pending, chunk]));
      pending = Buffer.from(got.rest);
      for (const frame of got.frames) {
        received.push(Buffer.from(frame));
        const reply = Buffer.alloc(8);
        reply.writeInt32BE(4, 0);
        reply.writeInt32BE(frame.readInt32BE(4), 4);
        socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const out = await runNode("load/kafka-client.mjs", [JSON.stringify({ port, connections: 1, seconds: 0.3, inFlight: 3 })]);
  const result = JSON.parse(out.trim());
  expect(result.requests).toBeGreaterThan(0);
  expect(Object.values(result.errors).every((n) => n === 0)).toBe(true);

  // The first three went out before any answer: 3 in flight, ids 1, 2, 3; later ones are new ids.
  expect(received.slice(0, 3).map((f) => requestHeader(f.length, f)?.correlationId)).toEqual([1, 2, 3]);
  expect(new Set(received.map((f) => f.readInt32BE(4))).size).toBe(received.length);
  const frame = received[0]!;
  const header = requestHeader(frame.length, frame)!;
  expect([header.apiKey, header.apiVersion]).toEqual([0, 9]);
  const api = kafkaApi(0, 9)!;
  expect(api.name).toBe("produce");
  // acks=1: the filter keeps the request awaiting its response (acks=0 would get none).
  expect(produceAcks(9, api.maxVersion, frame.length, frame)).toBe(1);
  // The record batch: after the header (10 + "bench" + tagged fields), transactional_id, acks,
  // timeout, the topic array, its name, the partition array and index, the records' length
  // (an unsigned varint of two bytes: the batch is over 127 bytes).
  const batchAt = 10 + 5 + 1 + 1 + 2 + 4 + 1 + 1 + 5 + 1 + 4 + 2;
  const batchLength = frame.readInt32BE(batchAt + 8);
  const batch = frame.subarray(batchAt, batchAt + 12 + batchLength);
  expect(batch.length).toBe(12 + batchLength);
  expect((frame[batchAt - 2]! & 0x7f) | (frame[batchAt - 1]! << 7)).toBe(batch.length + 1); // COMPACT_RECORDS: length + 1
  expect(batch[16]).toBe(2); // magic
  expect(batch.readUInt32BE(17)).toBe(crc32c(batch.subarray(21)));
  expect(batch.readInt32BE(57)).toBe(1); // one record
  // The topic and the partition's tagged fields end the frame after the batch.
  expect(frame.length).toBe(batchAt + batch.length + 3);
});

test("the origin answers each pipelined request with a response of its correlation id", async () => {
  const origin = spawn("node", [join(BENCH, "peers/kafka-origin.mjs"), "0"], { stdio: ["ignore", "pipe", "ignore"] });
  cleanups.push(() => origin.kill());
  const port = await new Promise<number>((resolve) => origin.stdout.on("data", (d: Buffer) => resolve(Number(/listening (\d+)/.exec(String(d))![1]))));
  const request = (correlationId: number) => {
    const frame = Buffer.alloc(4 + 10 + 5);
    frame.writeInt32BE(15, 0);
    frame.writeInt16BE(3, 4); // Metadata
    frame.writeInt16BE(12, 6);
    frame.writeInt32BE(correlationId, 8);
    frame.writeInt16BE(5, 12);
    frame.write("bench", 14);
    return frame;
  };
  const socket = net.connect(port, "127.0.0.1");
  cleanups.push(() => socket.destroy());
  socket.write(Buffer.concat([request(7), request(-8), request(0x7fffffff)]));
  let bytes = Buffer.alloc(0);
  const responses = await new Promise<Buffer[]>((resolve) =>
    socket.on("data", (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const got = frames(bytes).frames;
      if (got.length === 3) resolve(got);
    }),
  );
  expect(responses.map((r) => responseCorrelationId(r.length, r))).toEqual([7, -8, 0x7fffffff]);
});
