/**
 * Request mirroring (Envoy's `ShadowWriterImpl`, source/common/router/shadow_writer_impl.cc):
 * a copy of a complete request is sent to another cluster, fire and forget. Its
 * `:authority` gets a "-shadow" suffix (before any port) so the mirror's logs tell copies
 * from real traffic; its response is read and dropped, so it never delays or fails the
 * request it copies. It runs under the route's timeout, as Envoy's async client does.
 */
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { Host } from "../../upstream/host.ts";
import type { PoolHandle, UpstreamCallbacks, UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import type { HeaderMap } from "../header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../message.ts";
import { resetReasonToString, type StreamResetReason } from "../stream-reset-reason.ts";
import { isGrpcRequestHeaders } from "../grpc-common.ts";
import { HostResponseCharge } from "../host-response-charge.ts";
import { withClusterUpstreamFilters, type AsyncUpstreamFilterCallbacks } from "./async-upstream-filters.ts";

/** What a shadow request carries: the request as it went upstream, and its body and trailers. */
export interface ShadowMessage {
  headers: RequestHeaders;
  body: readonly Uint8Array[];
  trailers: HeaderMap | undefined;
}

/**
 * "host-shadow", or "host-shadow:port" (Envoy's shadowAppendedHost: the suffix goes
 * before the port, so the mirror still sees the port it was addressed on).
 */
export function shadowAppendedHost(host: string): string {
  const portStart = portStartOf(host);
  return portStart < 0 ? `${host}-shadow` : `${host.slice(0, portStart)}-shadow${host.slice(portStart)}`;
}

/** Where ":port" starts in an authority, or -1 (an IPv6 literal's colons are inside brackets). */
function portStartOf(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return -1;
  const bracket = host.lastIndexOf("]");
  if (bracket > colon) return -1;
  // A bare IPv6 address without brackets has no port.
  if (bracket < 0 && host.indexOf(":") !== colon) return -1;
  return colon;
}

/** A copy of request headers, for a mirror that outlives the original's changes. */
export function copyRequestHeaders(headers: RequestHeaders): RequestHeaders {
  const copy = new RequestHeaders();
  copy.method = headers.method;
  copy.path = headers.path;
  copy.authority = headers.authority;
  copy.scheme = headers.scheme;
  copy.protocol = headers.protocol;
  headers.forEach((name, value) => copy.add(name, value));
  return copy;
}

export class ShadowWriter {
  constructor(private readonly server: ServerContext) {}

  /** Send `message` to `clusterName` and forget it; a cluster that does not exist is skipped (Envoy logs it at debug). */
  shadow(clusterName: string, message: ShadowMessage, timeoutMs: number, disableHostSuffix: boolean): void {
    const cluster = this.server.clusterManager.get(clusterName);
    if (!cluster) {
      const log = this.server.log.component("router");
      if (log.debugOn) log.debug(`shadow cluster '${clusterName}' does not exist`);
      return;
    }
    if (!disableHostSuffix) message.headers.authority = shadowAppendedHost(message.headers.authority);
    // Envoy's shadow runs through the async client's router: its downstreamHeaders() are the
    // shadow's own (an ORIGINAL_DST cluster's use_http_header reads them).
    const host = cluster.loadBalancer.chooseHost({ downstreamHeaders: () => message.headers });
    if (!host) {
      const log = this.server.log.component("router");
      if (log.debugOn) log.debug(`shadow cluster '${clusterName}' has no healthy upstream`);
      return;
    }
    new ShadowRequest(this.server, cluster, host, message, timeoutMs).start(this.server.clusterManager.httpConnPool(cluster, host));
  }
}

/** One mirrored request in flight: it sends the message and drains the response. */
class ShadowRequest implements AsyncUpstreamFilterCallbacks, TimerTarget {
  private poolHandle: PoolHandle | undefined;
  private stream: UpstreamStream | undefined;
  private timer: Timer | undefined;
  private done = false;
  private responseStarted = false;
  /**
   * The host's rq_success / rq_error: Envoy's shadow runs through the async client's router
   * filter (with the dynamic stats), so the router's rules apply, not the pool's (chargesHost).
   */
  private readonly charge: HostResponseCharge;
  readonly chargesHost = true;

  constructor(
    private readonly server: ServerContext,
    private readonly cluster: Cluster,
    host: Host,
    private readonly message: ShadowMessage,
    private readonly timeoutMs: number,
  ) {
    this.charge = new HostResponseCharge(host, isGrpcRequestHeaders(message.headers));
  }

  start(pool: { newStream(callbacks: UpstreamCallbacks): PoolHandle | undefined }): void {
    if (this.timeoutMs > 0) {
      this.timer = this.server.timers.create(this);
      this.timer.enable(this.timeoutMs);
    }
    // Through the shadow cluster's upstream HTTP filters (not the route's router's): Envoy's
    // shadow is an async client request (async-upstream-filters.ts).
    this.poolHandle = pool.newStream(withClusterUpstreamFilters(this.cluster, this.server, this.message.headers, this));
  }

  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    if (this.done) {
      stream.reset();
      return;
    }
    this.stream = stream;
    const { headers, body, trailers } = this.message;
    const bodyless = body.length === 0 && !trailers;
    stream.encodeHeaders(headers, bodyless);
    if (bodyless) return;
    for (let i = 0; i < body.length; i++) stream.encodeData(body[i]!, !trailers && i === body.length - 1);
    if (trailers) stream.encodeTrailers(trailers);
  }

  onPoolFailure(_reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    this.chargeAbort(503);
    this.end(`connect failed ${transportFailureReason}`);
  }

  onUpstreamReset(reason: StreamResetReason): void {
    this.stream = undefined;
    this.chargeAbort(503);
    this.end(`reset: ${resetReasonToString(reason)}`);
  }

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.cluster.stats.countResponse(headers.status);
    if (!this.done) this.charge.headers(headers, endStream, true);
    this.responseStarted = true;
    if (endStream) this.end();
  }
  decodeData(_data: Uint8Array, endStream: boolean): void {
    if (!endStream) return;
    if (!this.done) this.charge.dataEnd();
    this.end();
  }
  decodeTrailers(trailers: HeaderMap): void {
    if (!this.done) this.charge.trailers(trailers);
    this.end();
  }
  decodeUpgradeData(): void {}
  onUpstreamAboveWriteBufferHighWatermark(): void {}
  onUpstreamBelowWriteBufferLowWatermark(): void {}

  /** One of the shadow cluster's upstream filters answered: the mirror is over, its answer dropped as any. */
  onUpstreamFilterLocalReply(headers: ResponseHeaders, _body: Uint8Array, details: string): void {
    this.stream = undefined;
    this.end(`upstream filter replied ${headers.status} (${details})`);
  }

  /** @internal The route timeout passed: the mirror is given up. */
  onTimer(): void {
    this.cluster.stats.upstreamRqTimeout.inc();
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.reset();
    // Envoy's onResponseTimeout charges only an attempt awaiting its headers.
    if (!this.responseStarted) this.chargeAbort(504);
    this.end("timeout");
  }

  /** The mirror ended without a complete answer (Envoy's chargeUpstreamAbort, by its router). */
  private chargeAbort(code: number): void {
    if (this.done) return;
    if (this.responseStarted) this.charge.abortAfterResponseStarted();
    else this.charge.abortBeforeResponse(code, true);
  }

  private end(failure?: string): void {
    if (this.done) return;
    this.done = true;
    this.timer?.disable();
    this.stream = undefined;
    if (!failure) return;
    // On the router's logger, as the writer's other lines, and built only when it is written.
    const log = this.server.log.component("router");
    if (log.debugOn) log.debug(`shadow request to '${this.cluster.name}' failed: ${failure}`);
  }
}
