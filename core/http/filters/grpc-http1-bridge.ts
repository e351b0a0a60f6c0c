/**
 * envoy.filters.http.grpc_http1_bridge (Envoy's extensions/filters/http/grpc_http1_bridge/
 * http1_bridge_filter.cc): lets an HTTP/1.1 client that cannot read trailers call a gRPC
 * service. For a gRPC request over HTTP/1.x the response is held whole; its trailers'
 * grpc-status and grpc-message move to the headers (a non-zero status makes it a 503) and
 * the body gets a content-length. `upgrade_protobuf_to_grpc`: an application/x-protobuf
 * request is framed as one gRPC message (and its answer unframed). `ignore_query_parameters`:
 * the query is dropped from the path. Stats: `cluster.<cluster>.grpc.<service>.<method>.*`.
 */
import type { GrpcHttp1BridgeConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GRPC_FRAME_HEADER_SIZE } from "../grpc-frame.ts";
import { isGrpcRequestHeaders } from "../grpc-common.ts";
import { GrpcRequestStats } from "../grpc-stats.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";


const PROTOBUF = "application/x-protobuf";

export class GrpcHttp1BridgeFilter implements StreamFilter {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoder: EncoderFilterCallbacks | undefined;
  /** A gRPC request over HTTP/1.x: the response is held until its trailers. */
  private bridging = false;
  /** An x-protobuf request made gRPC: its body framed, its answer unframed. */
  private framing = false;
  private responseHeaders: ResponseHeaders | undefined;
  private stats: GrpcRequestStats | undefined;

  constructor(
    private readonly config: GrpcHttp1BridgeConfig,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoder = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const protobuf = headers.get("content-type") === PROTOBUF;
    if (this.config.upgradeProtobufToGrpc && protobuf) {
      this.framing = true;
      headers.set("content-type", "application/grpc");
      headers.remove("content-length");
      headers.set("te", "trailers");
      // A bodiless request is one empty message.
      if (endStream) this.decoder.addDecodedData(encodeGrpcFrame(GRPC_FH_DEFAULT, new Uint8Array(0)), false);
    }
    const grpc = isGrpcRequestHeaders(headers);
    if (grpc || protobuf) this.stats = GrpcRequestStats.forRequest(this.server.stats, routeCluster(this.decoder, this.server.runtime), headers.path, "grpc");
    if (grpc && headers.protocol !== "HTTP/2") this.bridging = true;
    if (this.config.ignoreQueryParameters) {
      const query = headers.path.indexOf("?");
      if (query >= 0) headers.path = headers.path.slice(0, query);
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.framing) return FilterDataStatus.Continue;
    // The whole body is one message: held (within the buffer limit) until its length is known.
    if (!endStream) return FilterDataStatus.StopIterationAndBuffer;
    const held = this.decoder.decodingBuffer()?.take();
    const body = held === undefined ? data : concat(held, data);
    this.decoder.replaceDecodedData(encodeGrpcFrame(GRPC_FH_DEFAULT, body));
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    this.stats?.charge(headers.get("grpc-status"));
    if (!this.bridging || endStream) return FilterHeadersStatus.Continue;
    this.responseHeaders = headers;
    return FilterHeadersStatus.StopIteration;
  }

  encodeData(_data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.bridging || endStream) return FilterDataStatus.Continue;
    return FilterDataStatus.StopIterationAndBuffer;
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    const grpcStatus = trailers.get("grpc-status");
    this.stats?.charge(grpcStatus);
    const headers = this.responseHeaders;
    if (!this.bridging || headers === undefined) return FilterTrailersStatus.Continue;
    if (grpcStatus !== undefined) {
      // Grpc::Common: a status that is not a number, or not 0, failed.
      if (!/^\d+$/.test(grpcStatus) || Number(grpcStatus) !== 0) headers.status = 503;
      headers.set("grpc-status", grpcStatus);
    }
    const message = trailers.get("grpc-message");
    if (message !== undefined) headers.set("grpc-message", message);
    const buffer = this.encoder!.encodingBuffer();
    let body = buffer?.toBytes() ?? new Uint8Array(0);
    if (this.framing && body.length >= GRPC_FRAME_HEADER_SIZE) {
      // The answer to an x-protobuf request is its one message, unframed.
      body = body.slice(GRPC_FRAME_HEADER_SIZE);
      buffer!.replace(body);
      headers.set("content-type", PROTOBUF);
    }
    // Buffered whole: a length tells an HTTP/1.1 client the response is complete.
    headers.set("content-length", String(body.length));
    headers.remove("transfer-encoding");
    // HTTP/1.1 with a content-length carries no trailers.
    for (const [name] of [...trailers.entries()]) trailers.remove(name);
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.responseHeaders = undefined;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
