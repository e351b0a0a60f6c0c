/**
 * A real load reporting server for the tests: @grpc/grpc-js serving Envoy's
 * envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats (lrs.proto from
 * @grpc/grpc-js-xds, loaded with @grpc/proto-loader). Every LoadStatsRequest is recorded
 * (proto-loader's objects: snake_case, 64-bit numbers as numbers, defaults left out) with
 * the time it came; `respond` sends a LoadStatsResponse on every open stream (and on each
 * new one). `codec` encodes and decodes the two messages for unit tests.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { envoyProtoDirs } from "./envoy-protos.ts";

/** A LoadStatsRequest as proto-loader decodes it. */
export interface LoadStatsRequestObject {
  node?: { id?: string; cluster?: string; client_features?: string[] };
  cluster_stats?: ClusterStatsObject[];
}

export interface ClusterStatsObject {
  cluster_name: string;
  cluster_service_name?: string;
  upstream_locality_stats?: {
    locality?: { region?: string; zone?: string; sub_zone?: string };
    total_successful_requests?: number;
    total_requests_in_progress?: number;
    total_error_requests?: number;
    total_issued_requests?: number;
    priority?: number;
    upstream_endpoint_stats?: { address?: { socket_address?: { address?: string; port_value?: number } }; total_successful_requests?: number; total_requests_in_progress?: number; total_error_requests?: number; total_issued_requests?: number }[];
  }[];
  total_dropped_requests?: number;
  load_report_interval?: { seconds?: number; nanos?: number };
}

/** A LoadStatsResponse as written for proto-loader (durations as {seconds, nanos}). */
export interface LoadStatsResponseObject {
  clusters?: string[];
  send_all_clusters?: boolean;
  load_reporting_interval?: { seconds?: number; nanos?: number };
  report_endpoint_granularity?: boolean;
}

type Method = { requestSerialize(o: object): Buffer; requestDeserialize(b: Buffer): object; responseSerialize(o: object): Buffer; responseDeserialize(b: Buffer): object };

function loadDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(["envoy/service/load_stats/v3/lrs.proto"], { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false, includeDirs: envoyProtoDirs() });
}

/** LoadStatsRequest / LoadStatsResponse to and from bytes, as proto-loader reads them. */
export function lrsCodec(): { decodeRequest(bytes: Uint8Array): LoadStatsRequestObject; encodeResponse(response: LoadStatsResponseObject): Uint8Array } {
  const definition = loadDefinition();
  const method = (definition["envoy.service.load_stats.v3.LoadReportingService"] as unknown as Record<string, Method>)["StreamLoadStats"]!;
  return {
    decodeRequest: (bytes) => JSON.parse(JSON.stringify(method.requestDeserialize(Buffer.from(bytes)))) as LoadStatsRequestObject,
    encodeResponse: (response) => new Uint8Array(method.responseSerialize(response)),
  };
}

type Stream = grpc.ServerDuplexStream<LoadStatsRequestObject, LoadStatsResponseObject>;

export class LrsServer {
  readonly requests: { at: number; stream: number; request: LoadStatsRequestObject }[] = [];
  private readonly streams = new Map<Stream, number>();
  private nextStream = 0;
  private response: LoadStatsResponseObject | undefined;
  private server: grpc.Server | undefined;
  port = 0;
  /** Streams opened so far. */
  opened = 0;

  async start(port = 0): Promise<number> {
    const services = grpc.loadPackageDefinition(loadDefinition()) as unknown as { envoy: { service: { load_stats: { v3: { LoadReportingService: { service: grpc.ServiceDefinition } } } } } };
    const server = new grpc.Server();
    server.addService(services.envoy.service.load_stats.v3.LoadReportingService.service, {
      StreamLoadStats: (stream: Stream) => {
        const id = ++this.nextStream;
        this.opened++;
        this.streams.set(stream, id);
        stream.on("data", (request: LoadStatsRequestObject) => {
          this.requests.push({ at: performance.now(), stream: id, request: JSON.parse(JSON.stringify(request)) as LoadStatsRequestObject });
        });
        stream.on("end", () => stream.end());
        stream.on("error", () => {});
        stream.on("close", () => this.streams.delete(stream));
        if (this.response !== undefined) stream.write(this.response);
      },
    });
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
    this.server = server;
    return this.port;
  }

  /** Send `response` on every open stream, and on each stream opened from now on. */
  respond(response: LoadStatsResponseObject): void {
    this.response = response;
    for (const stream of this.streams.keys()) stream.write(response);
  }

  /** The reports (requests after a stream's first) that name `cluster`: its ClusterStats, with the stream and time. */
  reportsOf(cluster: string): { at: number; stream: number; stats: ClusterStatsObject }[] {
    const out: { at: number; stream: number; stats: ClusterStatsObject }[] = [];
    for (const r of this.requests) for (const stats of r.request.cluster_stats ?? []) if (stats.cluster_name === cluster) out.push({ at: r.at, stream: r.stream, stats });
    return out;
  }

  /** End every open stream with status OK (Envoy's reporter retries after 5 s). */
  endStreams(): void {
    for (const stream of this.streams.keys()) stream.end();
  }

  async stop(): Promise<void> {
    for (const stream of this.streams.keys()) stream.destroy();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
  }
}
