/**
 * Envoy's Grpc::AsyncClient for unary calls (source/common/grpc/async_client_impl.cc,
 * AsyncRequestImpl over AsyncStreamImpl), on the HTTP async client (async-client.ts), so
 * the call goes through the cluster's load balancer and connection pool — HTTP/2 for a
 * cluster with http2_protocol_options, as gRPC needs. The request is one framed message
 * (grpc-frame.ts) with gRPC's headers (PROTOCOL-HTTP2.md); the answer is the one message
 * when grpc-status is 0, else a failure with that status. What the HTTP client answers
 * itself (no healthy host, a reset, its timeout) is a failure with the status
 * httpToGrpcStatus gives it, as Envoy's AsyncStreamImpl sees the router's local replies.
 */
import type { GrpcServiceTarget } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import { AsyncClient, type AsyncFailureReason, type AsyncRequest, type AsyncRequestCallbacks, type AsyncResponse } from "./async-client.ts";
import { GrpcStatus, httpToGrpcStatus, isGrpcContentType, parseGrpcStatus, toGrpcTimeout } from "./grpc-common.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GrpcFrameDecoder, type GrpcFrame } from "./grpc-frame.ts";
import { RequestHeaders } from "./message.ts";
import { GoogleGrpcStats } from "./google-grpc-stats.ts";

export type { GrpcServiceTarget };

export interface GrpcUnaryCallbacks {
  /** The response message's bytes (grpc-status 0). */
  onSuccess(message: Uint8Array): void;
  /** Any other outcome: the gRPC status and grpc-message. */
  onFailure(status: number, message: string): void;
  /** Envoy's RawAsyncRequestCallbacks::onCreateInitialMetadata: the call's headers after initial_metadata, to add to or replace. */
  onCreateInitialMetadata?(headers: RequestHeaders): void;
}

/** The largest response message taken (Envoy's default max_receive_message_length is unlimited; a bound is ours). */
const MAX_RESPONSE_MESSAGE = 4 * 1024 * 1024;

/** Makes unary calls; one per server is enough (it holds nothing per call). */
export class GrpcAsyncClient {
  private readonly http: AsyncClient;

  constructor(private readonly server: ServerContext) {
    this.http = new AsyncClient(server);
  }

  /**
   * Call `method` ("/package.Service/Method") on `target` with `message`. Returns the call
   * to cancel, or undefined when the callbacks were already called.
   */
  send(target: GrpcServiceTarget, method: string, message: Uint8Array, callbacks: GrpcUnaryCallbacks, timeoutMs: number): GrpcUnaryRequest | undefined {
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = method;
    headers.scheme = "http";
    headers.authority = target.authority !== "" ? target.authority : target.clusterName;
    for (const [name, value] of target.initialMetadata) headers.add(name, value);
    callbacks.onCreateInitialMetadata?.(headers);
    headers.set("content-type", "application/grpc");
    headers.set("te", "trailers");
    if (timeoutMs > 0) headers.set("grpc-timeout", toGrpcTimeout(timeoutMs));
    const google = target.google;
    const stats = google === undefined ? undefined : GoogleGrpcStats.of(this.server.stats, google.statPrefix);
    // Envoy's GoogleAsyncStreamImpl::initialize counts the call; notifyRemoteClose its status.
    stats?.streamsTotal.inc();
    const request = new GrpcUnaryRequest(callbacks, stats);
    const body = encodeGrpcFrame(GRPC_FH_DEFAULT, message);
    const send = () => {
      request.http = this.http.send(target.clusterName, headers, body, request, { timeoutMs, maxResponseBytes: MAX_RESPONSE_MESSAGE + 5, internalCluster: google !== undefined, retryPolicy: target.retryPolicy });
    };
    // Envoy's AsyncStreamImpl::initialize (grpc/async_client_impl.cc): no such cluster (one CDS
    // has not added, or removed) closes the call Unavailable "Cluster not available" at once.
    if (google === undefined && this.server.clusterManager.get(target.clusterName) === undefined) {
      request.localFailure(GrpcStatus.Unavailable, "Cluster not available");
      return undefined;
    }
    const ready = google === undefined ? undefined : this.server.clusterManager.internalCluster(google.cluster);
    if (ready === undefined) send();
    else {
      ready.then(
        () => request.done || send(),
        (err: unknown) => request.localFailure(GrpcStatus.Unavailable, err instanceof Error ? err.message : String(err)),
      );
    }
    return request.done ? undefined : request;
  }
}

export class GrpcUnaryRequest implements AsyncRequestCallbacks {
  /** @internal */
  http: AsyncRequest | undefined;
  done = false;

  constructor(
    private readonly callbacks: GrpcUnaryCallbacks,
    /** A google_grpc target's grpc.<stat_prefix>.* counters. */
    private readonly googleStats?: GoogleGrpcStats,
  ) {}

  /** @internal The call failed before it was sent (no such cluster, or a google_grpc target's cluster could not be built). */
  localFailure(status: number, message: string): void {
    if (this.done) return;
    this.done = true;
    this.fail(status, message);
  }

  /** No callback is called after this (Envoy's AsyncRequest::cancel). */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.http?.cancel();
  }

  /** @internal */
  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    if (this.done) return;
    this.done = true;
    const headers = response.headers;
    // grpc's http-grpc-status-mapping.md: a non-200 answer says its status through grpc-status if it has one.
    if (headers.status !== 200) return this.fail(parseGrpcStatus(headers.get("grpc-status")) ?? httpToGrpcStatus(headers.status), headers.get("grpc-message") ?? "");
    // Trailers-only (no body, grpc-status among the headers) or trailers after the message.
    const trailers = response.trailers ?? (response.body.byteLength === 0 ? headers : undefined);
    const status = trailers === undefined ? undefined : parseGrpcStatus(trailers.get("grpc-status"));
    if (status === undefined) return this.fail(GrpcStatus.Internal, "no grpc-status");
    if (status !== GrpcStatus.Ok) return this.fail(status, trailers!.get("grpc-message") ?? "");
    if (!isGrpcContentType(headers.get("content-type"))) return this.fail(GrpcStatus.Internal, "not a gRPC content type");
    const frames: GrpcFrame[] | undefined = new GrpcFrameDecoder(MAX_RESPONSE_MESSAGE).decode(response.body);
    // Unary: exactly one uncompressed message (we sent no grpc-accept-encoding).
    if (frames === undefined || frames.length !== 1 || frames[0]!.flags !== GRPC_FH_DEFAULT) return this.fail(GrpcStatus.Internal, "gRPC wire protocol decode error");
    this.googleStats?.closed(GrpcStatus.Ok);
    this.callbacks.onSuccess(frames[0]!.data);
  }

  /** @internal A reset after the response began, or a response over the size limit. */
  onFailure(_request: AsyncRequest, _reason: AsyncFailureReason): void {
    if (this.done) return;
    this.done = true;
    this.fail(GrpcStatus.Internal, "stream reset");
  }

  private fail(status: number, message: string): void {
    this.googleStats?.closed(status);
    this.callbacks.onFailure(status, message);
  }
}
