import type { FilterMetadata, MetadataMatchCriteria } from "../config/bootstrap.ts";
import type { SocketAddress, TlsSession } from "../port.ts";
import type { DownstreamConnectionView } from "../upstream/load-balancer.ts";
import type { RouteMatch } from "./route/route-table.ts";
import type { ResponseFlag } from "../stream-info/response-flags.ts";
import type { TracingSpan } from "../tracing/span.ts";

const NO_FLAGS: readonly ResponseFlag[] = [];

/**
 * What happened to one request (Envoy's `StreamInfo`): timings, sizes, the route and
 * upstream chosen, the response code and flags. Access logs and stats read it.
 */
export class StreamInfo {
  /** Monotonic ms when the request began (a recreated stream keeps its first stream's). */
  startTime: number;
  /**
   * Wall-clock ms when the request began: worked out from the monotonic start when an
   * access log needs it (setStartWallClock), not read for every request.
   */
  startWallClock = 0;
  responseCode = 0;
  responseCodeDetails = "";
  /** Envoy's response flags, in the order they were set (most requests have none: no array of their own). */
  responseFlags: readonly ResponseFlag[] = NO_FLAGS;
  bytesReceived = 0;
  bytesSent = 0;
  routeName = "";
  /** The route's cluster, chosen when the route was resolved (core/http/route/route-cluster.ts); "" for none. */
  routeCluster = "";
  /** The route match routeCluster was chosen for. */
  routeClusterOf: RouteMatch | undefined = undefined;
  /** The stream's random value in [0, 1) for weighted_clusters (Envoy's stream_id_); -1 until drawn. */
  routeRandom = -1;
  /** The chosen route entry's metadata_match criteria (a weighted cluster's merged over the route's). */
  routeMetadataMatch: MetadataMatchCriteria | undefined = undefined;
  upstreamCluster = "";
  /** scheme_header_transformation.match_upstream: the router sets :scheme from its cluster's transport (Envoy's shouldSchemeMatchUpstream). */
  shouldSchemeMatchUpstream = false;
  upstreamHost = "";
  /** The HCM's span for this stream (Envoy's activeSpan()): the router injects its context upstream. */
  activeSpan: TracingSpan | undefined = undefined;
  /** The HCM's custom_tags for an upstream request's span (Envoy's ActiveStream::setCustomTags); set when the HCM has both. */
  setCustomTags: ((span: TracingSpan) => void) | undefined = undefined;
  /** The chosen host's endpoint metadata (%UPSTREAM_METADATA%); undefined until a host is chosen. */
  upstreamHostMetadata: FilterMetadata | undefined = undefined;
  /** The upstream connection's TLS (the last attempt's), when it had one. */
  upstreamTls: TlsSession | undefined = undefined;
  /** Why the upstream connection failed, as Envoy renders it ("delayed connect error: Connection refused"); "" if it did not. */
  upstreamTransportFailureReason = "";
  /** Monotonic ms the upstream request started and its response headers arrived. */
  upstreamRequestStart = 0;
  upstreamResponseHeadersAt = 0;
  /**
   * Monotonic ms of Envoy's DownstreamTiming / UpstreamTiming points the access log's
   * %REQUEST_DURATION%, %REQUEST_TX_DURATION% and %RESPONSE_TX_DURATION% read: the request's
   * end received, the request's end sent upstream (the last attempt's), the response's end
   * received from upstream (grpc_stats' upstream_rq_time), the response's end sent
   * downstream; undefined until it happened.
   */
  lastDownstreamRxByteReceived: number | undefined = undefined;
  lastUpstreamTxByteSent: number | undefined = undefined;
  lastUpstreamRxByteReceived: number | undefined = undefined;
  lastDownstreamTxByteSent: number | undefined = undefined;
  /** The upstream connection's local address (the last attempt's). %UPSTREAM_LOCAL_ADDRESS% */
  upstreamLocalAddress: SocketAddress | undefined = undefined;
  /**
   * The body given to sendLocalReply when the response the filters are encoding is a local
   * reply (a filter's, the router's 503, a direct_response); undefined for the upstream's.
   * custom_response reads it: HttpResponseLocalReplyMatchInput ("true" / "false"), and a
   * LocalResponsePolicy without `body` formats it as %LOCAL_REPLY_BODY%.
   */
  localReplyBody: string | undefined = undefined;
  /** Envoy's StreamInfo::healthCheck(): the health_check filter took this request for a health check. */
  healthCheck = false;
  /** Upstream attempts the router made (1 + retries); 0 when it forwarded nothing (%UPSTREAM_REQUEST_ATTEMPT_COUNT%). */
  attemptCount = 0;
  /**
   * The client's address when the HCM took it from x-forwarded-for (Envoy's
   * downstreamAddressProvider().remoteAddress(), without the port); "" when it is the
   * connection's peer. RBAC's remote_ip reads it.
   */
  downstreamRemoteIp = "";
  /** Dynamic metadata by namespace (e.g. "envoy.filters.http.rbac"); undefined until a filter sets some. */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined = undefined;
  /**
   * Envoy's FilterState: objects filters of one stream share by key (the compressor
   * filters of a chain agree on one encoding through it). Made by the first filter that
   * stores something; most streams have none.
   */
  filterState: Map<string, unknown> | undefined = undefined;
  /**
   * The filterState keys of request lifespan (Envoy's FilterState::LifeSpan::Request): the
   * only ones a recreated stream keeps. Every other key is the stream's own (FilterChain
   * lifespan), as the compressors' per-stream encoding choice is.
   */
  private requestLifespanKeys: Set<string> | undefined = undefined;
  /**
   * The downstream connection the stream came on, as an identity for state that lives as
   * long as the connection (Envoy's FilterState::LifeSpan::Connection), and its restored
   * local address and dynamic metadata for an ORIGINAL_DST cluster; undefined for a
   * stream without one (unit tests).
   */
  downstreamConnection: DownstreamConnectionView | undefined = undefined;

  constructor(now: number) {
    this.startTime = now;
  }

  /** Fill in startWallClock from the clocks' readings now. */
  setStartWallClock(wallClockNow: number, monotonicNow: number): void {
    this.startWallClock = wallClockNow - (monotonicNow - this.startTime);
  }

  /** Envoy's setDynamicMetadata: the fields are merged into the namespace's, replacing those of the same name. */
  setDynamicMetadata(namespace: string, fields: Record<string, unknown>): void {
    const all = (this.dynamicMetadata ??= {});
    all[namespace] = { ...all[namespace], ...fields };
  }

  /**
   * setDynamicMetadata for `fields` made for this call and never changed after: a namespace
   * with nothing yet takes the object itself rather than a copy (one object less per request
   * for the filters that set metadata on every request, as rbac does).
   */
  adoptDynamicMetadata(namespace: string, fields: Record<string, unknown>): void {
    const all = (this.dynamicMetadata ??= {});
    const existing = all[namespace];
    all[namespace] = existing === undefined ? fields : { ...existing, ...fields };
  }

  /** Envoy's FilterState::setData(…, LifeSpan::Request): state a recreated stream keeps. */
  setRequestLifespanFilterState(key: string, value: unknown): void {
    (this.filterState ??= new Map()).set(key, value);
    (this.requestLifespanKeys ??= new Set()).add(key);
  }

  /**
   * Envoy's StreamInfoImpl::setFromForRecreateStream: a stream an internal redirect made
   * keeps what belongs to the downstream request — its start, and the filter state of
   * request lifespan (the redirect count) — not what the first pass did upstream nor the
   * first chain's filter-chain-lifespan state (stream_info_impl.h: FilterStateImpl with
   * the parent's Request-lifespan objects only).
   */
  setFromForRecreateStream(first: StreamInfo): void {
    this.startTime = first.startTime;
    this.startWallClock = first.startWallClock;
    this.downstreamRemoteIp = first.downstreamRemoteIp;
    const keys = first.requestLifespanKeys;
    if (keys === undefined || first.filterState === undefined) return;
    for (const key of keys) {
      if (!first.filterState.has(key)) continue;
      this.setRequestLifespanFilterState(key, first.filterState.get(key));
    }
  }

  setResponseFlag(flag: ResponseFlag): void {
    if (!this.responseFlags.includes(flag)) this.responseFlags = [...this.responseFlags, flag];
  }
}
