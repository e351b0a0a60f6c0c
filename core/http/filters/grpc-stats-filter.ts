/**
 * envoy.filters.http.grpc_stats (source/extensions/filters/http/grpc_stats/grpc_stats_filter.cc,
 * its counters by Grpc::ContextImpl, source/common/grpc/context_impl.cc): for each gRPC
 * request to a known cluster, under `cluster.<cluster>.grpc.` and — for methods that get
 * their own stats — `<service>.<method>.`: `<grpc-status>`, `success` or `failure`, and
 * `total` for each grpc-status seen (trailers, or a trailers-only answer's headers);
 * `request_message_count` and `response_message_count` as messages begin; with
 * enable_upstream_stats the `upstream_rq_time` histogram. Which methods get their own:
 * every one with stats_for_all_methods, those of individual_method_stats_allowlist, else
 * none (every request in the shared stats). With emit_filter_state the counts are kept in
 * the filter state `envoy.filters.http.grpc_stats`. Connect-protocol requests (Envoy counts
 * them too) are not recognised here: only gRPC's content type.
 */
import type { GrpcStatsConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import { PerConfig } from "../../util/per-config.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { isGrpcRequestHeaders, isGrpcResponseHeaders, resolveServiceAndMethod } from "../grpc-common.ts";
import { GrpcFrameInspector } from "../grpc-frame-inspector.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { SerializableFilterState } from "../../stream-info/serializable-filter-state.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

/** A grpc-status that gets a counter of its own: digits only (see chargeStat). */
const NUMERIC_STATUS = /^\d{1,10}$/;
/** The filter state's name (grpc_stats_filter.cc maybeWriteFilterState). */
export const GRPC_STATS_FILTER_STATE = "envoy.filters.http.grpc_stats";

/**
 * The filter state object (GrpcStatsObject, FilterObject in config.proto): the messages
 * begun each way so far. Its text form is "<request>,<response>" (serializeAsString); its
 * typed form the FilterObject as JSON (serializeAsProto).
 */
export class GrpcStatsObject implements SerializableFilterState {
  requestMessageCount = 0;
  responseMessageCount = 0;

  serializeAsString(): string {
    return `${this.requestMessageCount},${this.responseMessageCount}`;
  }

  /** MessageToJsonString of the FilterObject: uint64 fields as strings, a field at 0 left out. */
  serializeAsJson(): string {
    const fields: string[] = [];
    if (this.requestMessageCount !== 0) fields.push(`"requestMessageCount":"${this.requestMessageCount}"`);
    if (this.responseMessageCount !== 0) fields.push(`"responseMessageCount":"${this.responseMessageCount}"`);
    return `{${fields.join(",")}}`;
  }
}

/** The allowlist as service → methods, made once per config. */
const ALLOWLISTS = new PerConfig((config: GrpcStatsConfig) => {
  const map = new Map<string, Set<string>>();
  for (const { service, methods } of config.allowlist ?? []) {
    let set = map.get(service);
    if (set === undefined) map.set(service, (set = new Set()));
    for (const method of methods) set.add(method);
  }
  return map;
});

export class GrpcStatsFilter implements StreamFilter {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private grpcRequest = false;
  private grpcResponse = false;
  /** The stats' prefix ("cluster.<c>.grpc." and the method's part, if it has its own); undefined: nothing counted. */
  private prefix: string | undefined;
  private readonly requestCounter = new GrpcFrameInspector();
  private readonly responseCounter = new GrpcFrameInspector();
  private filterObject: GrpcStatsObject | undefined;

  constructor(
    private readonly config: GrpcStatsConfig,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    this.grpcRequest = isGrpcRequestHeaders(headers);
    if (!this.grpcRequest) return FilterHeadersStatus.Continue;
    // Envoy's decoder_callbacks_->clusterInfo(): the route's cluster, if the cluster manager has it.
    const cluster = routeCluster(this.decoder, this.server.runtime);
    if (cluster === "" || this.server.clusterManager.get(cluster) === undefined) return FilterHeadersStatus.Continue;
    // Read now: a route's prefix_rewrite must not change the names (context_impl.cc resolveDynamicServiceAndMethod).
    const names = resolveServiceAndMethod(headers.path);
    if (names === undefined) return FilterHeadersStatus.Continue;
    const base = sanitizeStatsPrefix(`cluster.${cluster}.grpc.`);
    if (this.config.statsForAllMethods) {
      const service = this.config.replaceDotsInGrpcServiceName ? names.service.replaceAll(".", "_") : names.service;
      this.prefix = `${base}${service}.${names.method}.`;
    } else {
      // A method not in the allowlist (or no allowlist: stats_for_all_methods false) is counted without its names.
      const listed = ALLOWLISTS.get(this.config, undefined, undefined).get(names.service)?.has(names.method) === true;
      this.prefix = listed ? `${base}${names.service}.${names.method}.` : base;
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    if (!this.grpcRequest) return FilterDataStatus.Continue;
    const begun = this.requestCounter.inspect(data);
    if (begun > 0) {
      this.writeFilterState();
      if (this.prefix !== undefined) this.server.stats.counter(`${this.prefix}request_message_count`).inc(begun);
    }
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    this.grpcResponse = isGrpcResponseHeaders(headers, endStream);
    if (this.prefix !== undefined) {
      this.chargeStat(headers.get("grpc-status"));
      if (endStream) this.chargeUpstreamStat();
    }
    return FilterHeadersStatus.Continue;
  }

  encodeData(data: Uint8Array, _endStream: boolean): FilterDataStatus {
    if (!this.grpcResponse) return FilterDataStatus.Continue;
    const begun = this.responseCounter.inspect(data);
    if (begun > 0) {
      this.writeFilterState();
      if (this.prefix !== undefined) this.server.stats.counter(`${this.prefix}response_message_count`).inc(begun);
    }
    return FilterDataStatus.Continue;
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.grpcRequest && this.prefix !== undefined) {
      this.chargeStat(trailers.get("grpc-status"));
      this.chargeUpstreamStat();
    }
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}

  /**
   * ContextImpl::chargeStat: the status's own counter (its text as it came: 0–16, or any
   * other number), then success (status "0") or failure, and total. Nothing without a status.
   * Unlike Envoy, a status that is not a number gets no counter of its own: the upstream
   * writes that text, and as a stat name it could be one of this prefix's other stats
   * (`upstream_rq_time`, a histogram, where Envoy keeps each kind apart) or carry `:` or `|`
   * into a statsd line.
   */
  private chargeStat(grpcStatus: string | undefined): void {
    if (grpcStatus === undefined) return;
    const stats = this.server.stats;
    if (NUMERIC_STATUS.test(grpcStatus)) stats.counter(this.prefix + grpcStatus).inc();
    stats.counter(this.prefix + (grpcStatus === "0" ? "success" : "failure")).inc();
    stats.counter(`${this.prefix}total`).inc();
  }

  /** maybeChargeUpstreamStat: the request's end sent upstream to the response's end received, in ms, when both happened. */
  private chargeUpstreamStat(): void {
    if (!this.config.enableUpstreamStats) return;
    const info = this.decoder.streamInfo;
    const sent = info.lastUpstreamTxByteSent;
    const received = info.lastUpstreamRxByteReceived;
    if (sent === undefined || received === undefined) return;
    this.server.stats.histogram(`${this.prefix}upstream_rq_time`, "milliseconds").record(Math.max(0, Math.floor(received - sent)));
  }

  /** maybeWriteFilterState: the object made at the first message (LifeSpan::FilterChain), then kept current. */
  private writeFilterState(): void {
    if (!this.config.emitFilterState) return;
    if (this.filterObject === undefined) {
      this.filterObject = new GrpcStatsObject();
      (this.decoder.streamInfo.filterState ??= new Map()).set(GRPC_STATS_FILTER_STATE, this.filterObject);
    }
    this.filterObject.requestMessageCount = this.requestCounter.frameCount;
    this.filterObject.responseMessageCount = this.responseCounter.frameCount;
  }
}
