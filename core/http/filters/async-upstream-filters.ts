/**
 * A cluster's upstream HTTP filters on polyvoy's own requests: the async client's
 * (ext_authz's HTTP service, JWKS, OAuth2, Lua httpCall, tracers, REST xDS), the Envoy gRPC
 * clients' and the router's mirrors. In Envoy each of them is an Http::AsyncClient stream
 * whose Router::ProdFilter makes an UpstreamRequest (source/common/http/async_client_impl.cc),
 * and the UpstreamRequest builds the cluster's filter chain, else its router config's
 * upstream_http_filters — which an async client's router config never has — else the codec
 * alone (source/common/router/upstream_request.cc). So these requests run the cluster's
 * chain only; the route's router's upstream_http_filters never reach a mirror.
 *
 * tcp_proxy's tunneling_config is not one of them: its HttpUpstream writes to the pool's
 * stream itself, and runs the cluster's filters only under the restart feature
 * envoy.restart_features.upstream_http_filters_with_tcp_proxy, off by default
 * (source/common/tcp_proxy/upstream.cc) — polyvoy's tunnel goes without, as Envoy's does.
 *
 * withClusterUpstreamFilters answers the caller's own callbacks when the cluster has no
 * filters: the ordinary request allocates nothing more.
 */
import type { ServerContext } from "../../server-context.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { UpstreamCallbacks, UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import type { RouteConfiguration } from "../../config/bootstrap.ts";
import type { AccessLogContext } from "../../access-log/context.ts";
import type { ResponseFlag } from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import { ResponseHeaders, type RequestHeaders } from "../message.ts";
import type { RouteMatch } from "../route/route-table.ts";
import { emptyRouteConfiguration } from "../route/empty-route-config.ts";
import { StreamInfo } from "../stream-info.ts";
import { StreamResetReason } from "../stream-reset-reason.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import { StreamAccessLogContext } from "../conn-manager/stream-access-log-context.ts";
import { httpToGrpcStatus, isGrpcRequestHeaders, percentEncodeGrpcMessage } from "../grpc-common.ts";
import { latin1Encode } from "../../util/latin1.ts";
import { UpstreamFilterManager, type UpstreamFilterChainSink, type UpstreamFilterStream } from "./upstream-filter-manager.ts";
import { selectUpstreamHttpFilterChain, type UpstreamHttpFilterChain } from "./upstream-http-filter-factories.ts";

/** An async request's answer made by one of the cluster's filters (a buffer filter's 413, an ext_proc immediate response). */
export interface AsyncUpstreamFilterCallbacks extends UpstreamCallbacks {
  /**
   * Envoy's AsyncStreamImpl::sendLocalReply: the reply is the request's response, as if the
   * upstream had said it, but it never went upstream (no upstream_rq_<code>, no host charge).
   * The attempt's stream is already reset.
   */
  onUpstreamFilterLocalReply(headers: ResponseHeaders, body: Uint8Array, details: string): void;
}

/** An async stream has no route config (Envoy's AsyncStreamImpl::NullConfig). */
const NO_ROUTE_CONFIG: RouteConfiguration = emptyRouteConfiguration("");
/** Envoy's async client buffers up to its stream's limit; polyvoy's connection default. */
const ASYNC_BUFFER_LIMIT = 1024 * 1024;

/**
 * The pool callbacks for one async request to `cluster`: `callbacks` themselves when the
 * cluster has no upstream filters (or only the codec), else those callbacks behind the
 * cluster's chain, made anew for each stream the pool gives (each retry is a new attempt).
 */
export function withClusterUpstreamFilters<T extends AsyncUpstreamFilterCallbacks>(cluster: Cluster, server: ServerContext, headers: RequestHeaders, callbacks: T): T | AsyncUpstreamFilters {
  const chain = selectUpstreamHttpFilterChain(cluster.config, undefined);
  return chain === undefined ? callbacks : new AsyncUpstreamFilters(chain, server, headers, callbacks);
}

/** One async request's attempt through the cluster's upstream filters: the pool's callbacks, and the filters' stream. */
export class AsyncUpstreamFilters implements UpstreamCallbacks, UpstreamFilterChainSink, UpstreamFilterStream {
  private filters: UpstreamFilterManager | undefined = undefined;
  /** A filter answered: the attempt is over, nothing more reaches the caller from it. */
  private answered = false;
  readonly streamInfo: StreamInfo;
  readonly chargesHost: boolean | undefined;
  readonly tunneling: boolean | undefined;

  constructor(
    private readonly chain: UpstreamHttpFilterChain,
    private readonly server: ServerContext,
    readonly requestHeaders: RequestHeaders,
    private readonly callbacks: AsyncUpstreamFilterCallbacks,
  ) {
    this.streamInfo = new StreamInfo(approximateNow(server.runtime));
    this.chargesHost = callbacks.chargesHost;
    this.tunneling = callbacks.tunneling;
  }

  // ---- the pool ----

  onPoolReady(stream: UpstreamStream): void {
    if (this.answered) return stream.reset();
    // The chain's own stream stands for the connection: the caller writes its request to it.
    this.filters?.destroy();
    const filters = (this.filters = new UpstreamFilterManager(this.chain, this.server, this, stream, this));
    this.callbacks.onPoolReady(filters);
  }
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    if (!this.answered) this.callbacks.onPoolFailure(reason, transportFailureReason);
  }
  onUpstreamReset(reason: StreamResetReason, details: string): void {
    this.filters?.destroy();
    if (!this.answered) this.callbacks.onUpstreamReset(reason, details);
  }
  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.callbacks.onUpstreamAboveWriteBufferHighWatermark();
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.callbacks.onUpstreamBelowWriteBufferLowWatermark();
  }

  // ---- the response from the connection, into the encoder filters ----

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.filters?.onResponseHeaders(headers, endStream);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.filters?.onResponseData(data, endStream);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.filters?.onResponseTrailers(trailers);
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.filters?.onResponseUpgradeData(data, endStream);
  }

  // ---- the response past the filters, to the caller (UpstreamFilterChainSink) ----

  onFilteredHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.answered) return;
    this.callbacks.decodeHeaders(headers, endStream);
    if (endStream) this.filters?.complete();
  }
  onFilteredData(data: Uint8Array, endStream: boolean): void {
    if (this.answered) return;
    this.callbacks.decodeData(data, endStream);
    if (endStream) this.filters?.complete();
  }
  onFilteredTrailers(trailers: HeaderMap): void {
    if (this.answered) return;
    this.callbacks.decodeTrailers(trailers);
    this.filters?.complete();
  }
  onFilteredUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (!this.answered) this.callbacks.decodeUpgradeData(data, endStream);
  }

  // ---- the stream the filters see (Envoy's AsyncStreamImpl as StreamDecoderFilterCallbacks) ----

  get route(): RouteMatch | undefined {
    return undefined;
  }
  get routeConfig(): RouteConfiguration {
    return NO_ROUTE_CONFIG;
  }
  // No downstream connection (AsyncStreamImpl::connection() is empty).
  get downstreamRemoteAddress(): SocketAddress | undefined {
    return undefined;
  }
  get downstreamLocalAddress(): SocketAddress | undefined {
    return undefined;
  }
  get downstreamDirectRemoteAddress(): SocketAddress | undefined {
    return undefined;
  }
  get downstreamTls(): TlsSession | undefined {
    return undefined;
  }
  get traced(): boolean {
    return false;
  }
  trace(): void {}
  logPrefix(): string {
    return "";
  }
  get decoderBufferLimit(): number {
    return ASYNC_BUFFER_LIMIT;
  }
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext {
    return new StreamAccessLogContext(this.streamInfo, this.requestHeaders, "HTTP/1.1", response, undefined, undefined, undefined, 0, 0, undefined);
  }
  readDisableDownstream(): void {}
  /** A filter resets the stream: the attempt's connection stream goes, and the caller hears a local reset. */
  resetStream(): void {
    const filters = this.filters;
    if (filters === undefined || this.answered) return;
    filters.reset();
    this.filters = undefined;
    this.callbacks.onUpstreamReset(StreamResetReason.LocalReset, "filter_reset");
  }

  /**
   * Envoy's AsyncStreamImpl::sendLocalReply (Utility::sendLocalReply, source/common/http/utility.cc): the filter's own headers
   * (modify_headers) go on first, then the defaults only where they are absent — a gRPC call's
   * reply is trailers-only (200, application/grpc forced, grpc-status unless the filter gave one,
   * grpc-message the body); any other's is the status with the body, text/plain unless the
   * filter set a content-type (as filter-manager.ts's makeLocalReply).
   */
  sendLocalReply(status: number, body: string, details: string, _flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void {
    if (this.answered) return;
    this.answered = true;
    this.filters = undefined;
    const grpc = isGrpcRequestHeaders(this.requestHeaders);
    const headers = new ResponseHeaders(grpc ? 200 : status);
    for (const [name, value] of extraHeaders ?? []) headers.add(name, value);
    let bytes: Uint8Array;
    if (grpc) {
      headers.set("content-type", "application/grpc");
      if (!headers.get("grpc-status")) headers.set("grpc-status", String(grpcStatus ?? httpToGrpcStatus(status)));
      // The gRPC wire's percent-encoding (Utility::sendLocalReply, as filter-manager.ts's local reply).
      if (body !== "") headers.set("grpc-message", percentEncodeGrpcMessage(body));
      headers.remove("content-length");
      bytes = new Uint8Array(0);
    } else {
      bytes = latin1Encode(body);
      headers.set("content-length", String(bytes.byteLength));
      if (bytes.byteLength > 0 && !headers.has("content-type")) headers.set("content-type", "text/plain");
    }
    this.callbacks.onUpstreamFilterLocalReply(headers, bytes, details);
  }
}
