/**
 * One attempt's charge to its host's rq_success / rq_error, as Envoy's router filter makes it
 * (source/common/router/router.cc: onUpstreamHeaders → chargeUpstreamCode and
 * handleNon5xxResponseHeaders, onUpstreamData, onUpstreamTrailers, chargeUpstreamAbort,
 * maybeRetryReset). Shared by the router, the async client and the mirror: in Envoy each of
 * the latter runs its own router filter (AsyncStreamImpl's Router::ProdFilter), so the same
 * rules apply. The connection pools charge only callbacks that do not (UpstreamCallbacks.chargesHost).
 */
import type { Host } from "../upstream/host.ts";
import type { HeaderMap } from "./header-map.ts";
import type { ResponseHeaders } from "./message.ts";
import { grpcToHttpStatus, parseGrpcStatus } from "./grpc-common.ts";

export class HostResponseCharge {
  /**
   * A gRPC call answered below 500 whose verdict waits for its grpc-status in the trailers
   * (Envoy's grpcRqSuccessDeferred): a reset or a body end before them is an rq_error.
   */
  grpcRqSuccessDeferred = false;

  constructor(
    readonly host: Host,
    private readonly grpcRequest: boolean,
  ) {}

  /**
   * The response headers (chargeUpstreamCode, then handleNon5xxResponseHeaders): a 5xx is an
   * rq_error when the dynamic stats are charged; anything else an rq_success, then and there —
   * a reset after them changes nothing — but a gRPC call's waits for its grpc-status: in these
   * headers if they end the stream (trailers-only), else in the trailers. The grpc-status is
   * read only there: other responses pay no header lookup.
   */
  headers(headers: ResponseHeaders, endStream: boolean, dynamicStatsCharged: boolean): void {
    if (headers.status >= 500) {
      if (dynamicStatsCharged) this.host.stats.rqError++;
    } else if (!this.grpcRequest) {
      this.host.stats.rqSuccess++;
    } else if (endStream) {
      this.grpcStatus(headers.get("grpc-status"));
    } else {
      this.grpcRqSuccessDeferred = true;
    }
  }

  /** The body ended the response (onUpstreamData): a gRPC call still waiting had no trailers, an rq_error. */
  dataEnd(): void {
    if (this.grpcRqSuccessDeferred) this.host.stats.rqError++;
  }

  /** The trailers (onUpstreamTrailers): a deferred gRPC verdict by their grpc-status. */
  trailers(trailers: HeaderMap): void {
    if (this.grpcRqSuccessDeferred) this.grpcStatus(trailers.get("grpc-status"));
  }

  /** A gRPC call's verdict by its grpc-status: a success unless absent, unparsable or a 5xx by grpcToHttpStatus. */
  grpcStatus(raw: string | undefined): void {
    const grpcStatus = raw === undefined ? undefined : parseGrpcStatus(raw);
    if (grpcStatus !== undefined && grpcToHttpStatus(grpcStatus) < 500) this.host.stats.rqSuccess++;
    else this.host.stats.rqError++;
  }

  /**
   * The attempt ended before its response headers (chargeUpstreamAbort, via chargeUpstreamCode):
   * a 5xx is an rq_error with the dynamic stats, and a code below 500 (a timeout's 204) always —
   * "reset by backend or timeout before starting response".
   */
  abortBeforeResponse(code: number, dynamicStatsCharged: boolean): void {
    chargeHostAbort(this.host, code, dynamicStatsCharged);
  }

  /**
   * The attempt was cut after its response headers (chargeUpstreamAbort once the response
   * started): only a gRPC call still waiting for its verdict is charged. True when it was.
   */
  abortAfterResponseStarted(): boolean {
    if (!this.grpcRqSuccessDeferred) return false;
    this.host.stats.rqError++;
    return true;
  }

  /**
   * The attempt is retried or dropped for another: a reset or per-try timeout (maybeRetryReset),
   * a response the retry policy retries (a 409 too) or a hedge drops (onUpstreamHeaders) — an
   * rq_error of its host.
   */
  retried(): void {
    this.host.stats.rqError++;
  }
}

/** chargeUpstreamAbort's host part before the response headers (HostResponseCharge.abortBeforeResponse). */
export function chargeHostAbort(host: Host, code: number, dynamicStatsCharged: boolean): void {
  if (code < 500 || dynamicStatsCharged) host.stats.rqError++;
}
