/**
 * Envoy's UpstreamFilterManager (source/common/router/upstream_request.h/.cc): one upstream
 * attempt's run of its cluster's http_filters (or, when the cluster has none, the router's
 * upstream_http_filters), between the router and the attempt's
 * connection. The router writes the request to it as to the connection (it is the
 * attempt's UpstreamStream): the request goes through the decoder filters in config order
 * to the upstream codec filter (upstream-codec.ts), which writes it to the connection; the
 * response comes back from the attempt (onResponse…) through the encoder filters in reverse
 * order to the router, as if the connection had said it.
 *
 * Built per attempt (a retry builds the chain again, as Envoy's UpstreamRequest does), when
 * the pool gave the attempt its connection. Envoy builds it when the attempt starts and its
 * codec filter holds the request until the connection is ready; polyvoy's router already
 * holds the request until then, so the filters see the same request, a little later.
 * An attempt without filters (neither list has one) never makes one: it writes to the connection.
 *
 * Upgrade bytes (websocket, CONNECT) and 1xx headers pass beside the filters. The client's
 * upgrade bytes reach this chain only once the upstream accepted the upgrade: the attempt
 * holds them before (upgrade-pause.ts, Envoy's paused_for_websocket_), so they never go
 * ahead of a head a filter still holds (the buffer filter waits for a body an upgrade never has).
 */
import type { RouteConfiguration } from "../../config/bootstrap.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import type { Host } from "../../upstream/host.ts";
import type { UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { AccessLogContext } from "../../access-log/context.ts";
import type { TraceEventKind } from "../../trace/tracer.ts";
import { FilterManager, type FilterManagerCallbacks } from "../conn-manager/filter-manager.ts";
import type { DecoderFilterCallbacks, ResponseFlag } from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { RouteMatch } from "../route/route-table.ts";
import type { StreamInfo } from "../stream-info.ts";
import { UpstreamCodecFilter, type UpstreamCodecCallbacks } from "./upstream-codec.ts";
import { addUpstreamHttpFilters, type UpstreamHttpFilterChain } from "./upstream-http-filter-factories.ts";
import type { ServerContext } from "../../server-context.ts";

/** Where the chain's response goes: the router, told which attempt it is (UpstreamRequest). */
export interface UpstreamFilterChainSink {
  onFilteredHeaders(headers: ResponseHeaders, endStream: boolean): void;
  onFilteredData(data: Uint8Array, endStream: boolean): void;
  onFilteredTrailers(trailers: HeaderMap): void;
  onFilteredUpgradeData(data: Uint8Array, endStream: boolean): void;
}

/** An upstream filter told of the attempt's host before the chain decodes the request (Envoy's onHostSelected). */
export interface UpstreamHostSelectedFilter {
  /** `headers`: the request as the router wrote it, before any upstream filter changed it. */
  onHostSelected(headers: RequestHeaders): void;
}

const UPSTREAM_CODEC_NAME = "envoy.filters.http.upstream_codec";

/**
 * The stream an attempt's filters run for: the router's callbacks for a downstream request,
 * or an async request's own stream (async-upstream-filters.ts: Envoy's AsyncStreamImpl is its
 * router's StreamDecoderFilterCallbacks), whose local reply becomes that request's response.
 */
export type UpstreamFilterStream = Pick<
  DecoderFilterCallbacks,
  | "streamInfo" | "requestHeaders" | "route" | "routeConfig" | "downstreamRemoteAddress" | "downstreamLocalAddress"
  | "downstreamDirectRemoteAddress" | "downstreamTls" | "traced" | "trace" | "logPrefix" | "headerFormatterContext"
  | "sendLocalReply" | "resetStream" | "readDisableDownstream" | "decoderBufferLimit"
>;

export class UpstreamFilterManager extends FilterManager implements UpstreamStream, UpstreamCodecCallbacks {
  private connectionReset = false;
  /** The connection's response ended (or the stream was reset): the connection is no longer this attempt's to pause. */
  private upstreamDone = false;
  constructor(
    /** The cluster's http_filters, or the router's upstream_http_filters (selectUpstreamHttpFilterChain). */
    upstream: UpstreamHttpFilterChain,
    server: ServerContext,
    /** The router's own callbacks (or an async request's stream): the stream the filters see (its info, route, local replies). */
    private readonly downstream: UpstreamFilterStream,
    /** The attempt's connection, written to by the codec filter. */
    private readonly connection: UpstreamStream,
    sink: UpstreamFilterChainSink,
  ) {
    // Envoy's UpstreamRequest gives its filter manager the router's decoderBufferLimit().
    super(new UpstreamFilterManagerCallbacks(downstream, sink), downstream.decoderBufferLimit);
    addUpstreamHttpFilters(upstream, server, this);
    this.addStreamDecoderFilter(new UpstreamCodecFilter(connection, this), UPSTREAM_CODEC_NAME);
  }

  // ---- UpstreamStream: the router writes the request here ----

  get host(): Host {
    return this.connection.host;
  }
  get reused(): boolean {
    return this.connection.reused;
  }
  get responseStarted(): boolean {
    return this.connection.responseStarted;
  }
  get tls(): TlsSession | undefined {
    return this.connection.tls;
  }
  get localAddress(): SocketAddress | undefined {
    return this.connection.localAddress;
  }

  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    (this.callbacks as UpstreamFilterManagerCallbacks).requestHeaders = headers;
    // Envoy's upstream filters hear of the chosen host before any of them decodes the request
    // (upstream RBAC judges there, upstream_rbac_filter.cc onHostSelected, on the request the
    // router wrote): polyvoy's chain is made with the connection, so that is now.
    for (const entry of this.decoderFilters) {
      (entry.handle as Partial<UpstreamHostSelectedFilter>).onHostSelected?.(headers);
      if (this.destroyed) return;
    }
    this.decodeHeaders(headers, endStream);
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.decodeData(data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.decodeTrailers(trailers);
  }
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.connection.encodeUpgradeData(data, endStream);
  }
  readDisable(disable: boolean): void {
    this.connection.readDisable(disable);
  }
  /** UpstreamCodecCallbacks: the connection, until its response ended or it was reset. */
  upstream(): UpstreamStream | undefined {
    return this.upstreamDone ? undefined : this.connection;
  }
  /** The attempt is abandoned: its connection's stream reset (once: a local reply resets it, then the router), the filters destroyed. */
  reset(): void {
    this.upstreamDone = true;
    this.destroy();
    if (this.connectionReset) return;
    this.connectionReset = true;
    this.connection.reset();
  }

  /**
   * The response past the filters ended: the filters are done. When it was not the
   * connection's — a filter answered itself with encodeHeaders, which upstream the router
   * takes for the upstream's response — the connection's stream, given
   * to this attempt and never finished, is reset rather than left in the pool's counts.
   */
  complete(): void {
    if (!this.upstreamDone && !this.connectionReset) {
      this.connectionReset = true;
      this.upstreamDone = true;
      this.connection.reset();
    }
    this.destroy();
  }

  // ---- the response, from the connection (Envoy's UpstreamCodecFilter::CodecBridge) ----

  onResponseHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (endStream) this.upstreamDone = true;
    // 1xx (other than 101) pass beside the filters, as the router treats them on its own.
    if (headers.status < 200 && headers.status !== 101) {
      (this.callbacks as UpstreamFilterManagerCallbacks).sink.onFilteredHeaders(headers, endStream);
      return;
    }
    this.encodeHeadersFromDecoder(headers, endStream);
  }
  onResponseData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.upstreamDone = true;
    this.encodeDataFrom(undefined, data, endStream, true);
  }
  onResponseTrailers(trailers: HeaderMap): void {
    this.upstreamDone = true;
    this.encodeTrailersFromDecoder(trailers);
  }
  onResponseUpgradeData(data: Uint8Array, endStream: boolean): void {
    (this.callbacks as UpstreamFilterManagerCallbacks).sink.onFilteredUpgradeData(data, endStream);
  }

  /**
   * A filter's local reply (the buffer filter's 413, say): Envoy's UpstreamFilterManager
   * ends both its chains and has the downstream stream send it
   * (upstream_request_.parent_.callbacks()->sendLocalReply); this attempt is over.
   */
  override sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void {
    if (this.destroyed) return;
    // Whatever filter call is running is the last of either chain.
    this.decoderChainAborted = true;
    this.encoderChainAborted = true;
    this.reset();
    this.downstream.sendLocalReply(status, body, details, flag, extraHeaders, grpcStatus);
  }
}

/** The attempt as its filters' stream (Envoy's UpstreamRequestFilterManagerCallbacks). */
class UpstreamFilterManagerCallbacks implements FilterManagerCallbacks {
  /** The upstream request's headers, once the router wrote them. */
  requestHeaders: RequestHeaders;

  constructor(
    private readonly downstream: UpstreamFilterStream,
    readonly sink: UpstreamFilterChainSink,
  ) {
    this.requestHeaders = downstream.requestHeaders;
  }

  get streamInfo(): StreamInfo {
    return this.downstream.streamInfo;
  }
  get route(): RouteMatch | undefined {
    return this.downstream.route;
  }
  get routeConfig(): RouteConfiguration {
    return this.downstream.routeConfig;
  }
  get downstreamRemoteAddress(): SocketAddress | undefined {
    return this.downstream.downstreamRemoteAddress;
  }
  get downstreamLocalAddress(): SocketAddress | undefined {
    return this.downstream.downstreamLocalAddress;
  }
  get downstreamDirectRemoteAddress(): SocketAddress | undefined {
    return this.downstream.downstreamDirectRemoteAddress;
  }
  get downstreamTls(): TlsSession | undefined {
    return this.downstream.downstreamTls;
  }
  get traced(): boolean {
    return this.downstream.traced;
  }
  trace(kind: TraceEventKind, detail?: string): void {
    this.downstream.trace(kind, detail);
  }
  logPrefix(): string {
    return this.downstream.logPrefix();
  }
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext {
    return this.downstream.headerFormatterContext(response);
  }

  // The response, past the encoder filters: to the router, as from the connection.
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.sink.onFilteredHeaders(headers, endStream);
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.sink.onFilteredData(data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.sink.onFilteredTrailers(trailers);
  }
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.sink.onFilteredUpgradeData(data, endStream);
  }

  /** A filter resets the stream: Envoy's UpstreamRequestFilterManagerCallbacks resets the downstream one. */
  resetStream(): void {
    this.downstream.resetStream();
  }
  readDisableDownstream(disable: boolean): void {
    this.downstream.readDisableDownstream(disable);
  }
  // The downstream's rq_too_large / rs_too_large are the HCM's counts; the upstream chain's local reply says it.
  onRequestDataTooLarge(): void {}
  onResponseDataTooLarge(): void {}
}
