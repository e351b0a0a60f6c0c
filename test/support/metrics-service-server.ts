/**
 * A real metrics service for the tests: @grpc/grpc-js serving Envoy's client-streaming
 * envoy.service.metrics.v3.MetricsService/StreamMetrics (metrics_service.proto from
 * @grpc/grpc-js-xds, io.prometheus.client's messages from test/support/protos), loaded with
 * @grpc/proto-loader. Every StreamMetricsMessage is recorded with its stream's number
 * (proto-loader's objects: snake_case, 64-bit numbers as numbers, enums as names, defaults
 * left out). `metricsCodec` decodes a message for unit tests.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";
import { envoyProtoDirs } from "./envoy-protos.ts";

export interface MetricObject {
  label?: { name?: string; value?: string }[];
  counter?: { value?: number };
  gauge?: { value?: number };
  summary?: { sample_count?: number; sample_sum?: number; quantile?: { quantile?: number; value?: number }[] };
  histogram?: { sample_count?: number; sample_sum?: number; bucket?: { cumulative_count?: number; upper_bound?: number }[] };
  timestamp_ms?: number;
}

export interface MetricFamilyObject {
  name?: string;
  type?: "COUNTER" | "GAUGE" | "SUMMARY" | "UNTYPED" | "HISTOGRAM";
  metric?: MetricObject[];
}

export interface StreamMetricsMessageObject {
  identifier?: { node?: { id?: string; cluster?: string; user_agent_name?: string } };
  envoy_metrics?: MetricFamilyObject[];
}

type Method = { requestDeserialize(b: Buffer): object };

function loadDefinition(): protoLoader.PackageDefinition {
  const own = join(import.meta.dirname, "protos");
  return protoLoader.loadSync(["envoy/service/metrics/v3/metrics_service.proto"], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false, includeDirs: [own, ...envoyProtoDirs()] });
}

/** A StreamMetricsMessage from bytes, as proto-loader reads it (NaN kept: JSON would turn it to null). */
export function metricsCodec(): { decode(bytes: Uint8Array): StreamMetricsMessageObject } {
  const definition = loadDefinition();
  const method = (definition["envoy.service.metrics.v3.MetricsService"] as unknown as Record<string, Method>)["StreamMetrics"]!;
  return { decode: (bytes) => structuredClone(method.requestDeserialize(Buffer.from(bytes))) as StreamMetricsMessageObject };
}

/** The value of family `name` in `message` (a counter's or a gauge's), or undefined. */
export function metricValue(message: StreamMetricsMessageObject, name: string): number | undefined {
  const family = message.envoy_metrics?.find((f) => f.name === name);
  const metric = family?.metric?.[0];
  return metric?.counter?.value ?? metric?.gauge?.value ?? (metric?.counter || metric?.gauge ? 0 : undefined);
}

type Stream = grpc.ServerReadableStream<StreamMetricsMessageObject, object>;

export class MetricsServiceServer {
  readonly messages: { stream: number; message: StreamMetricsMessageObject }[] = [];
  private readonly streams = new Set<Stream>();
  private server: grpc.Server | undefined;
  port = 0;
  /** Streams opened so far (each one's number). */
  opened = 0;
  /** The streams the client ended (grpc-js's 'end': a half-close, or a reset after the last message). */
  readonly ended = new Set<number>();

  async start(port = 0): Promise<number> {
    const services = grpc.loadPackageDefinition(loadDefinition()) as unknown as { envoy: { service: { metrics: { v3: { MetricsService: { service: grpc.ServiceDefinition } } } } } };
    const server = new grpc.Server();
    server.addService(services.envoy.service.metrics.v3.MetricsService.service, {
      StreamMetrics: (stream: Stream, callback: grpc.sendUnaryData<object>) => {
        const id = ++this.opened;
        this.streams.add(stream);
        stream.on("data", (message: StreamMetricsMessageObject) => this.messages.push({ stream: id, message: structuredClone(message) }));
        stream.on("end", () => {
          this.ended.add(id);
          callback(null, {});
        });
        stream.on("error", () => {});
        stream.on("close", () => this.streams.delete(stream));
      },
    });
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    this.server = server;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) stream.destroy();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
  }
}
