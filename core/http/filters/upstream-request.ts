import type { Timer, TimerTarget, Timers } from "../../event/timers.ts";
import { HostResponseCharge } from "../host-response-charge.ts";
import type { Host } from "../../upstream/host.ts";
import type { PoolHandle, UpstreamCallbacks, UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import type { HeaderMap } from "../header-map.ts";
import type { ResponseHeaders } from "../message.ts";
import { resetReasonToString, type StreamResetReason } from "../stream-reset-reason.ts";
import type { TracingSpan } from "../../tracing/span.ts";
import type { DecoderFilterCallbacks } from "../filter.ts";
import type { ServerContext } from "../../server-context.ts";
import { UpstreamFilterManager, type UpstreamFilterChainSink } from "./upstream-filter-manager.ts";
import type { UpstreamHttpFilterChain } from "./upstream-http-filter-factories.ts";
import { HeldUpgradeBytes, stripUpgradeFields, UpgradeAnswer, UpgradePause, upgradeAnswerOf } from "./upgrade-pause.ts";
import { WebSocketKeyStream } from "./websocket-key-stream.ts";
import { acceptsWebSocketKey } from "../websocket-handshake.ts";

/** What an attempt reports to (the router): each event names the attempt it is about. */
export interface UpstreamRequestCallbacks {
  onPoolReady(request: UpstreamRequest, stream: UpstreamStream): void;
  onPoolFailure(request: UpstreamRequest, reason: PoolFailureReason, transportFailureReason: string): void;
  onUpstreamReset(request: UpstreamRequest, stream: UpstreamStream | undefined, reason: StreamResetReason, details: string): void;
  onUpstreamAboveWriteBufferHighWatermark(request: UpstreamRequest): void;
  onUpstreamBelowWriteBufferLowWatermark(request: UpstreamRequest): void;
  onUpstreamHeaders(request: UpstreamRequest, headers: ResponseHeaders, endStream: boolean): void;
  onUpstreamData(request: UpstreamRequest, data: Uint8Array, endStream: boolean): void;
  onUpstreamTrailers(request: UpstreamRequest, trailers: HeaderMap): void;
  onUpstreamUpgradeData(request: UpstreamRequest, data: Uint8Array, endStream: boolean): void;
  /** A WebSocket upgrade answered below 400 without a 101: Envoy's websocket_handshake_unsuccessful local reply. */
  onUpstreamWebSocketRefused(request: UpstreamRequest, headers: ResponseHeaders): void;
  /** A 101 whose Sec-WebSocket-Accept does not match the key this attempt made up: Envoy's websocket_handshake_invalid_accept 502. */
  onUpstreamWebSocketInvalidAccept(request: UpstreamRequest): void;
  /** The upstream accepted a WebSocket upgrade: the route timeout stops (Envoy's disableRouteTimeoutForWebsocketUpgrade). */
  disableRouteTimeoutForWebsocketUpgrade(request: UpstreamRequest): void;
  onPerTryTimeout(request: UpstreamRequest): void;
  onPerTryIdleTimeout(request: UpstreamRequest): void;
}

/**
 * One attempt at the upstream (Envoy's `UpstreamRequest`, source/common/router/upstream_request.cc):
 * the host it went to, its place in the pool's queue or its stream, and its per-try
 * timers. It hands the pool's and the response's events to the router with itself as
 * the attempt, so the router can tell the current attempt's events from an abandoned
 * one's (a retry replaces it).
 */
export class UpstreamRequest implements UpstreamCallbacks, TimerTarget, UpstreamFilterChainSink {
  /** Waiting for a connection from the pool. */
  poolHandle: PoolHandle | undefined;
  /** The stream, once the pool gave one. */
  stream: UpstreamStream | undefined;
  /** Bytes went upstream for this attempt (Envoy's first_upstream_tx_byte_sent): reset-before-request no longer applies. */
  requestStarted = false;
  /**
   * The host's rq_success / rq_error for this attempt, as Envoy's router charges them; a gRPC
   * call's deferred verdict (grpcRqSuccessDeferred) is also why a reset after its headers is
   * counted in rq_reset_after_downstream_response_started.
   */
  readonly charge: HostResponseCharge;
  /** The router charges the host's rq_success / rq_error itself, as Envoy's router.cc does: the pool does not. */
  readonly chargesHost = true;
  /**
   * A per-try timeout hedged this attempt (hedge_on_per_try_timeout): a retry went out beside
   * it and it goes on, never retried again (Envoy's UpstreamRequest::retried() as
   * onSoftPerTryTimeout sets it). Its host is not charged an error for it (Envoy charges one only when it is answered badly or times out).
   */
  hedged = false;
  /** Outlier detection already heard of this attempt's per-try timeout (Envoy's outlierDetectionTimeoutRecorded). */
  outlierTimeoutRecorded = false;
  /** Monotonic ms the attempt started (its host was chosen): the stream's upstream timing if it wins a hedge. */
  startedAt = 0;
  /** Monotonic ms this attempt's request end went to the codec (the stream's last_upstream_tx_byte_sent if it wins a hedge). */
  lastUpstreamTxByteSent: number | undefined = undefined;
  /** Why this attempt's connect failed ("" for none): the stream's %UPSTREAM_TRANSPORT_FAILURE_REASON% if it wins a hedge. */
  transportFailureReason = "";
  /** The pool gave a stream before the downstream request was complete: the per-try timers start when it is. */
  createPerTryTimeoutOnRequestComplete = false;
  private perTryTimer: Timer | undefined;
  private perTryIdleTimer: Timer | undefined;
  private perTryIdleTimeoutMs = 0;
  /**
   * This attempt's own CLIENT span (spawn_upstream_span, split_spans_for_request: Envoy's
   * UpstreamRequest span_), finished with the attempt.
   */
  span: TracingSpan | undefined;
  /** The HCM's custom_tags, set on the span when it is finished (TracerUtility::finalizeSpan sets them on upstream spans too). */
  setSpanCustomTags: ((span: TracingSpan) => void) | undefined;
  /** The upstream's response status, for the span. */
  private status = 0;
  /**
   * The attempt's upstream HTTP filters (the cluster's HttpProtocolOptions.http_filters, or
   * the router's upstream_http_filters) and the router's callbacks they see the stream
   * through: set by the router when there are some, the chain built when the connection is
   * ready (onPoolReady). Undefined otherwise, and the attempt then talks to its connection
   * directly.
   */
  upstreamFilters: UpstreamHttpFilterChain | undefined = undefined;
  downstream: DecoderFilterCallbacks | undefined = undefined;
  server: ServerContext | undefined = undefined;
  /** This attempt's chain of those filters: the router's `stream` is then this. */
  private filters: UpstreamFilterManager | undefined = undefined;
  /**
   * An upgrade's or CONNECT's client bytes, held until the upstream accepts it (upgrade-pause.ts);
   * undefined for every other request, and once accepted.
   */
  private upgradeHeld: HeldUpgradeBytes | undefined = undefined;
  /** The held bytes passed their limit: the client's reads are paused (released once with the hold). */
  private upgradeHeldAboveLimit = false;
  /** The stream the pool gave is HTTP/2 (before any upstream filters wrap it). */
  private upstreamHttp2 = false;
  /**
   * Makes a Sec-WebSocket-Key: set for an HTTP/2 client's WebSocket, which has none (RFC 8441),
   * used if the pool's stream is HTTP/1.1 (Envoy's maybeGenerateWebsocketKey).
   */
  private makeWebSocketKey: (() => string) | undefined = undefined;
  /** The stream that put the made-up key on the request, whose 101 must then carry its accept. */
  private keyStream: WebSocketKeyStream | undefined = undefined;

  constructor(
    private readonly router: UpstreamRequestCallbacks,
    readonly host: Host,
    grpcRequest: boolean,
  ) {
    this.charge = new HostResponseCharge(host, grpcRequest);
  }

  /**
   * Start per_try_timeout and per_try_idle_timeout (Envoy's setupPerTryTimeout): once the
   * request is complete and the attempt has its stream — a WebSocket upgrade's as the attempt
   * starts, its request never completing while it waits (acceptHeadersFromRouter).
   */
  setupPerTryTimeout(timers: Timers, perTryTimeoutMs: number, perTryIdleTimeoutMs: number): void {
    this.createPerTryTimeoutOnRequestComplete = false;
    if (perTryTimeoutMs > 0) {
      this.perTryTimer = timers.create(this);
      this.perTryTimer.enable(perTryTimeoutMs);
    }
    if (perTryIdleTimeoutMs > 0) {
      this.perTryIdleTimeoutMs = perTryIdleTimeoutMs;
      this.perTryIdleTimer = timers.create(this);
      this.perTryIdleTimer.enable(perTryIdleTimeoutMs);
    }
  }

  /**
   * Hold the client's upgrade bytes until the upstream accepts the upgrade (Envoy's
   * acceptHeadersFromRouter sets paused_for_*); `limit` is the downstream connection's
   * buffer limit (the upstream filter manager's, Envoy's callbacks()->bufferLimit()).
   */
  pauseUpgrade(pause: UpgradePause, limit: number, makeWebSocketKey?: () => string): void {
    this.upgradeHeld = new HeldUpgradeBytes(pause, limit);
    if (pause === UpgradePause.WebSocket) this.makeWebSocketKey = makeWebSocketKey;
  }

  /**
   * A WebSocket upgrade was accepted: no per-try timeout nor per-try idle timeout from now on
   * (Envoy's disablePerTryTimeoutForWebsocketUpgrade): the tunnel lives as long as its ends do.
   */
  private disablePerTryTimeoutForWebsocketUpgrade(): void {
    this.perTryTimer?.disable();
    this.perTryTimer = undefined;
    // Dropped, not only disabled: the response's bytes would restart it (resetPerTryIdleTimer).
    this.perTryIdleTimer?.disable();
    this.perTryIdleTimer = undefined;
  }

  /** The client's upgrade bytes for this attempt's stream: held while the upgrade is paused. */
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    const held = this.upgradeHeld;
    if (held === undefined) {
      this.stream?.encodeUpgradeData(data, endStream);
      return;
    }
    if (held.push(data, endStream) && !this.upgradeHeldAboveLimit) {
      // Envoy's onDecoderFilterAboveWriteBufferHighWatermark: stop reading the client.
      this.upgradeHeldAboveLimit = true;
      this.router.onUpstreamAboveWriteBufferHighWatermark(this);
    }
  }

  /** The held upgrade bytes go (accepted) or are dropped; a client paused for them reads again. */
  private releaseUpgradeHold(accepted: boolean): void {
    const held = this.upgradeHeld;
    if (held === undefined) return;
    this.upgradeHeld = undefined;
    if (accepted && this.stream !== undefined) held.flushTo(this.stream);
    else held.drop();
    if (this.upgradeHeldAboveLimit) {
      this.upgradeHeldAboveLimit = false;
      this.router.onUpstreamBelowWriteBufferLowWatermark(this);
    }
  }

  /** Abandon the attempt: out of the pool's queue, its stream reset (the connection closes), timers off. */
  resetStream(): void {
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.reset();
    this.cleanup();
  }

  /** The attempt is over: its timers stop, its span is finished. */
  cleanup(): void {
    this.releaseUpgradeHold(false);
    this.perTryTimer?.disable();
    this.perTryIdleTimer?.disable();
    if (this.span !== undefined) this.finishSpan(this.span);
  }

  /** HttpTracerUtility::finalizeUpstreamSpan (http_tracer_impl.cc), for what the attempt knows (the cluster and address were tagged at its start). */
  private finishSpan(span: TracingSpan): void {
    this.span = undefined;
    span.setTag("component", "proxy");
    if (this.status === 0 || (this.status >= 500 && this.status < 600)) span.setTag("error", "true");
    span.setTag("http.status_code", String(this.status));
    // Only a sampled span is sent: its custom tags (a format rendered) are not built for nothing.
    if (span.sampled) this.setSpanCustomTags?.(span);
    span.finish();
  }

  /** @internal A per-try timer fired. */
  onTimer(timer: Timer): void {
    if (timer === this.perTryTimer) this.router.onPerTryTimeout(this);
    else this.router.onPerTryIdleTimeout(this);
  }

  /** Activity on the stream restarts the per-try idle timer. */
  private resetPerTryIdleTimer(): void {
    this.perTryIdleTimer?.enable(this.perTryIdleTimeoutMs);
  }

  // ---- the pool and the response ----

  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    // Only a paused upgrade asks (its answer is judged by the upstream's protocol).
    if (this.upgradeHeld !== undefined) {
      this.upstreamHttp2 = stream.http2 === true;
      // Beneath the upstream filters: the key goes on at the codec, after them (Envoy's codec filter).
      if (this.makeWebSocketKey !== undefined && !this.upstreamHttp2) stream = this.keyStream = new WebSocketKeyStream(stream, this.makeWebSocketKey());
    }
    // Per attempt, as Envoy's UpstreamRequest makes its filter manager: a retry's is a new chain.
    if (this.upstreamFilters !== undefined) stream = this.filters = new UpstreamFilterManager(this.upstreamFilters, this.server!, this.downstream!, stream, this);
    this.stream = stream;
    this.requestStarted = true;
    this.router.onPoolReady(this, stream);
  }
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    if (this.span !== undefined) {
      this.span.setTag("error.reason", transportFailureReason || "connection failure");
      this.finishSpan(this.span);
    }
    // Its timers stop too: a WebSocket attempt armed its per-try timers when it started, and
    // left armed they would hold the attempt, the router and the stream info until they fired
    // (Envoy's per-try timers are the UpstreamRequest's own, gone when the router drops the
    // failed attempt, upstream_request.cc onPoolFailure -> router.cc onUpstreamReset). Before
    // the router hears of it, so a retry or the local reply starts from a finished attempt.
    this.cleanup();
    this.router.onPoolFailure(this, reason, transportFailureReason);
  }
  onUpstreamReset(reason: StreamResetReason, details: string): void {
    // UpstreamRequest::onResetStream: the span says why.
    this.span?.setTag("error", "true");
    this.span?.setTag("error.reason", resetReasonToString(reason));
    const stream = this.stream;
    this.stream = undefined;
    this.cleanup();
    this.filters?.destroy();
    this.router.onUpstreamReset(this, stream, reason, details);
  }
  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.router.onUpstreamAboveWriteBufferHighWatermark(this);
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.router.onUpstreamBelowWriteBufferLowWatermark(this);
  }
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.status = headers.status;
    // Before the cluster's upstream filters, as Envoy's codec filter decides it (CodecBridge::decodeHeaders).
    if (this.upgradeHeld !== undefined && !this.onUpgradeAnswer(this.upgradeHeld, headers)) return;
    this.resetPerTryIdleTimer();
    if (endStream) this.cleanup();
    const filters = this.filters;
    if (filters !== undefined) filters.onResponseHeaders(headers, endStream);
    else this.router.onUpstreamHeaders(this, headers, endStream);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.resetPerTryIdleTimer();
    if (endStream) this.cleanup();
    const filters = this.filters;
    if (filters !== undefined) filters.onResponseData(data, endStream);
    else this.router.onUpstreamData(this, data, endStream);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.cleanup();
    const filters = this.filters;
    if (filters !== undefined) filters.onResponseTrailers(trailers);
    else this.router.onUpstreamTrailers(this, trailers);
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.resetPerTryIdleTimer();
    const filters = this.filters;
    if (filters !== undefined) filters.onResponseUpgradeData(data, endStream);
    else this.router.onUpstreamUpgradeData(this, data, endStream);
  }

  /**
   * The upstream answered a paused upgrade (Envoy's UpstreamCodecFilter::CodecBridge::decodeHeaders):
   * accepted, the held bytes go before the response does; refused, they never go and the
   * response goes on (a 4xx/5xx to a WebSocket without its Upgrade field and Connection's
   * upgrade token: strip_upgrade_header_on_failed_websocket_upgrades). An accepted WebSocket
   * has no per-try or route timeout from then on (they ran while it waited: Envoy's
   * websocket_enable_timeout_on_upgrade_response). False: the router took it as a local
   * reply instead.
   */
  private onUpgradeAnswer(held: HeldUpgradeBytes, headers: ResponseHeaders): boolean {
    const answer = upgradeAnswerOf(held.pause, headers.status, this.upstreamHttp2);
    if (answer === undefined) return true;
    // A key this attempt made up: its accept is checked on a 101 and never goes downstream
    // (the HTTP/2 client sent no key); a 101 without the right one is a 502, UPE.
    const injectedKey = this.keyStream?.injectedKey;
    if (injectedKey !== undefined) {
      const validAccept = acceptsWebSocketKey(headers, injectedKey);
      headers.remove("sec-websocket-accept");
      if (headers.status === 101 && !validAccept) {
        this.router.onUpstreamWebSocketInvalidAccept(this);
        return false;
      }
    }
    if (answer === UpgradeAnswer.Accepted) {
      this.releaseUpgradeHold(true);
      if (held.pause === UpgradePause.WebSocket) {
        this.disablePerTryTimeoutForWebsocketUpgrade();
        this.router.disableRouteTimeoutForWebsocketUpgrade(this);
      }
      return true;
    }
    // Refused: the bytes stay held (bounded) until the attempt ends, then are dropped.
    if (answer === UpgradeAnswer.RefusedLocalReply) {
      this.router.onUpstreamWebSocketRefused(this, headers);
      return false;
    }
    if (held.pause === UpgradePause.WebSocket) stripUpgradeFields(headers);
    return true;
  }

  // ---- the response past the cluster's upstream filters (UpstreamFilterChainSink) ----

  onFilteredHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.router.onUpstreamHeaders(this, headers, endStream);
    if (endStream) this.filters?.complete();
  }
  onFilteredData(data: Uint8Array, endStream: boolean): void {
    this.router.onUpstreamData(this, data, endStream);
    if (endStream) this.filters?.complete();
  }
  onFilteredTrailers(trailers: HeaderMap): void {
    this.router.onUpstreamTrailers(this, trailers);
    this.filters?.complete();
  }
  onFilteredUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.router.onUpstreamUpgradeData(this, data, endStream);
  }
}
