/**
 * A real OTLP metrics collector for the tests: @grpc/grpc-js serving
 * opentelemetry.proto.collector.metrics.v1.MetricsService/Export (a hand-written subset of
 * opentelemetry-proto in test/support/protos, its common.proto the generators' in scripts/protos,
 * loaded with @grpc/proto-loader). Every request
 * is recorded as proto-loader decodes it (snake_case, 64-bit numbers as strings so nanosecond
 * times stay exact, enums as names, defaults left out). `otlpMetricsCodec` decodes a request
 * for unit tests. `answer` says what the next calls get (OK, or a gRPC status).
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";

export interface KeyValueObject {
  key?: string;
  value?: { string_value?: string };
}

export interface NumberDataPointObject {
  attributes?: KeyValueObject[];
  start_time_unix_nano?: string;
  time_unix_nano?: string;
  as_int?: string;
}

export interface HistogramDataPointObject {
  attributes?: KeyValueObject[];
  start_time_unix_nano?: string;
  time_unix_nano?: string;
  count?: string;
  sum?: number;
  bucket_counts?: string[];
  explicit_bounds?: number[];
}

export interface MetricObject {
  name?: string;
  gauge?: { data_points?: NumberDataPointObject[] };
  sum?: { data_points?: NumberDataPointObject[]; aggregation_temporality?: string; is_monotonic?: boolean };
  histogram?: { data_points?: HistogramDataPointObject[]; aggregation_temporality?: string };
}

export interface ExportRequestObject {
  resource_metrics?: { resource?: { attributes?: KeyValueObject[] }; scope_metrics?: { metrics?: MetricObject[] }[] }[];
}

type Method = { requestDeserialize(b: Buffer): object };

function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(["opentelemetry/proto/collector/metrics/v1/metrics_service.proto"], { keepCase: true, longs: String, enums: String, defaults: false, oneofs: false, includeDirs: [join(import.meta.dirname, "protos"), join(import.meta.dirname, "../../scripts/protos")] });
}

/** An ExportMetricsServiceRequest from bytes, as proto-loader reads it. */
export function otlpMetricsCodec(): { decode(bytes: Uint8Array): ExportRequestObject } {
  const definition = loadDefinition();
  const method = (definition["opentelemetry.proto.collector.metrics.v1.MetricsService"] as unknown as Record<string, Method>)["Export"]!;
  return { decode: (bytes) => structuredClone(method.requestDeserialize(Buffer.from(bytes))) as ExportRequestObject };
}

/** Every metric of a request (its one ResourceMetrics' one ScopeMetrics). */
export function metricsOf(request: ExportRequestObject): MetricObject[] {
  return (request.resource_metrics ?? []).flatMap((r) => (r.scope_metrics ?? []).flatMap((s) => s.metrics ?? []));
}

/** The metric named `name` whose first point has attribute `key` = `value` (or any, when no key). */
export function findMetric(request: ExportRequestObject, name: string, key?: string, value?: string): MetricObject | undefined {
  return metricsOf(request).find((m) => {
    if (m.name !== name) return false;
    if (key === undefined) return true;
    const point = m.sum?.data_points?.[0] ?? m.gauge?.data_points?.[0] ?? m.histogram?.data_points?.[0];
    return point?.attributes?.some((a) => a.key === key && a.value?.string_value === value) === true;
  });
}

/** A Sum's or Gauge's first point's as_int as a number (0 when left out: proto3's default). */
export function intValue(metric: MetricObject | undefined): number | undefined {
  if (metric === undefined) return undefined;
  const point = metric.sum?.data_points?.[0] ?? metric.gauge?.data_points?.[0];
  return point === undefined ? undefined : Number(point.as_int ?? 0);
}

export class OtlpMetricsServer {
  readonly requests: ExportRequestObject[] = [];
  /** The metadata of each call, in order. */
  readonly metadata: grpc.Metadata[] = [];
  /** What the next calls are answered: OK with an empty response, or this status. */
  answer: { code: grpc.status; details: string } | undefined;
  private server: grpc.Server | undefined;
  port = 0;

  async start(port = 0): Promise<number> {
    const services = grpc.loadPackageDefinition(loadDefinition()) as unknown as { opentelemetry: { proto: { collector: { metrics: { v1: { MetricsService: { service: grpc.ServiceDefinition } } } } } } };
    const server = new grpc.Server();
    server.addService(services.opentelemetry.proto.collector.metrics.v1.MetricsService.service, {
      Export: (call: grpc.ServerUnaryCall<ExportRequestObject, object>, callback: grpc.sendUnaryData<object>) => {
        this.requests.push(structuredClone(call.request));
        this.metadata.push(call.metadata);
        const answer = this.answer;
        if (answer !== undefined) callback({ code: answer.code, details: answer.details });
        else callback(null, {});
      },
    });
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    this.server = server;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
  }
}
