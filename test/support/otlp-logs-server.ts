/**
 * A real OTLP logs collector for the tests: @grpc/grpc-js serving
 * opentelemetry.proto.collector.logs.v1.LogsService/Export (a hand-written subset of
 * opentelemetry-proto in test/support/protos, its common.proto the generators' in scripts/protos,
 * loaded with @grpc/proto-loader). Every request
 * is recorded as proto-loader decodes it (snake_case, 64-bit numbers as strings so nanosecond
 * times stay exact, bytes as Buffers, oneofs as set, defaults left out). `otlpLogsCodec`
 * decodes a request for unit tests. `answer` says what the next calls get (OK, or a gRPC
 * status); `rejected` sets partial_success.rejected_log_records in OK answers.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { join } from "node:path";

export interface AnyValueObject {
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  array_value?: { values?: AnyValueObject[] };
  kvlist_value?: { values?: KeyValueObject[] };
}

export interface KeyValueObject {
  key?: string;
  value?: AnyValueObject;
}

export interface LogRecordObject {
  time_unix_nano?: string;
  body?: AnyValueObject;
  attributes?: KeyValueObject[];
  trace_id?: Buffer;
  span_id?: Buffer;
}

export interface ExportLogsRequestObject {
  resource_logs?: { resource?: { attributes?: KeyValueObject[] }; scope_logs?: { scope?: object; log_records?: LogRecordObject[] }[] }[];
}

type Method = { requestDeserialize(b: Buffer): object };

function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(["opentelemetry/proto/collector/logs/v1/logs_service.proto"], { keepCase: true, longs: String, enums: String, defaults: false, oneofs: false, includeDirs: [join(import.meta.dirname, "protos"), join(import.meta.dirname, "../../scripts/protos")] });
}

/** An ExportLogsServiceRequest from bytes, as proto-loader reads it. */
export function otlpLogsCodec(): { decode(bytes: Uint8Array): ExportLogsRequestObject } {
  const definition = loadDefinition();
  const method = (definition["opentelemetry.proto.collector.logs.v1.LogsService"] as unknown as Record<string, Method>)["Export"]!;
  return { decode: (bytes) => method.requestDeserialize(Buffer.from(bytes)) as ExportLogsRequestObject };
}

/** Every LogRecord of a request, in order. */
export function logRecordsOf(request: ExportLogsRequestObject): LogRecordObject[] {
  return (request.resource_logs ?? []).flatMap((r) => (r.scope_logs ?? []).flatMap((s) => s.log_records ?? []));
}

/** A KeyValue list as a plain object: strings as they are, other values as proto-loader gives them. */
export function attributesOf(list: KeyValueObject[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key ?? "", plain(kv.value)]));
}

/** An AnyValue as plain JSON: a string, a list, an object, or the scalar. */
export function plain(value: AnyValueObject | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.string_value !== undefined) return value.string_value;
  if (value.array_value !== undefined) return (value.array_value.values ?? []).map(plain);
  if (value.kvlist_value !== undefined) return attributesOf(value.kvlist_value.values);
  if (value.bool_value !== undefined) return value.bool_value;
  if (value.int_value !== undefined) return Number(value.int_value);
  if (value.double_value !== undefined) return value.double_value;
  // A string_value of "" is left out by proto-loader with defaults off: an empty AnyValue reads as "".
  return "";
}

export class OtlpLogsServer {
  readonly requests: ExportLogsRequestObject[] = [];
  /** What the next calls are answered: OK, or this status. */
  answer: { code: grpc.status; details: string } | undefined;
  /** partial_success.rejected_log_records in the OK answers (0: no partial_success). */
  rejected = 0;
  private server: grpc.Server | undefined;
  port = 0;

  async start(port = 0): Promise<number> {
    const services = grpc.loadPackageDefinition(loadDefinition()) as unknown as { opentelemetry: { proto: { collector: { logs: { v1: { LogsService: { service: grpc.ServiceDefinition } } } } } } };
    const server = new grpc.Server();
    server.addService(services.opentelemetry.proto.collector.logs.v1.LogsService.service, {
      Export: (call: grpc.ServerUnaryCall<ExportLogsRequestObject, object>, callback: grpc.sendUnaryData<object>) => {
        this.requests.push(call.request);
        const answer = this.answer;
        if (answer !== undefined) callback({ code: answer.code, details: answer.details });
        else callback(null, this.rejected > 0 ? { partial_success: { rejected_log_records: this.rejected, error_message: "rejected" } } : {});
      },
    });
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    this.server = server;
    return this.port;
  }

  /** Every record received so far, in order. */
  records(): LogRecordObject[] {
    return this.requests.flatMap(logRecordsOf);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
  }
}
