/**
 * A Kafka broker for tests that speaks the protocol's exact bytes over node:net — no real
 * Kafka needed (https://kafka.apache.org/protocol.html). It answers ApiVersions (v0–v2:
 * it supports ApiVersions 0–2 and Metadata 0 only, so a client settles on those) and
 * Metadata v0 (itself as the one broker, at the address it is told to advertise, and one
 * topic); any other request is recorded and not answered.
 */
import net from "node:net";

export interface KafkaBroker {
  port: number;
  /** [api key, api version] of every request received, in order. */
  requests: [number, number][];
  /** Where Metadata says the broker is (the proxy's listener: Kafka's advertised.listeners). */
  advertise: { host: string; port: number };
  close(): Promise<void>;
}

class Writer {
  private readonly bytes: number[] = [];
  int16(v: number): this {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
    return this;
  }
  int32(v: number): this {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  string(s: string): this {
    const utf8 = new TextEncoder().encode(s);
    this.int16(utf8.length);
    this.bytes.push(...utf8);
    return this;
  }
  /** The response frame: size, correlation id, then what was written. */
  frame(correlationId: number): Uint8Array {
    return new Writer().int32(this.bytes.length + 4).int32(correlationId).raw(this.bytes);
  }
  private raw(bytes: number[]): Uint8Array {
    return Uint8Array.from([...this.bytes, ...bytes]);
  }
}

export const TOPIC = "orders";

function apiVersions(version: number): Writer {
  const w = new Writer().int16(0).int32(2);
  w.int16(18).int16(0).int16(2); // ApiVersions 0–2
  w.int16(3).int16(0).int16(0); // Metadata 0
  if (version >= 1) w.int32(0); // throttle_time_ms
  return w;
}

function metadataV0(advertise: { host: string; port: number }): Writer {
  const w = new Writer().int32(1).int32(1).string(advertise.host).int32(advertise.port);
  // One topic, one partition led by broker 1.
  return w.int32(1).int16(0).string(TOPIC).int32(1).int16(0).int32(0).int32(1).int32(1).int32(1).int32(1).int32(1);
}

export async function kafkaBroker(): Promise<KafkaBroker> {
  const broker: Omit<KafkaBroker, "port" | "close"> = { requests: [], advertise: { host: "127.0.0.1", port: 0 } };
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const frame = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + frame.length);
        const apiKey = frame.readInt16BE(0);
        const apiVersion = frame.readInt16BE(2);
        const correlationId = frame.readInt32BE(4);
        broker.requests.push([apiKey, apiVersion]);
        if (apiKey === 18) socket.write(apiVersions(apiVersion).frame(correlationId));
        else if (apiKey === 3 && apiVersion === 0) socket.write(metadataV0(broker.advertise).frame(correlationId));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(broker, {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
