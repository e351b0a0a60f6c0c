/**
 * The Datadog Agent exporter (dd-trace-cpp's DatadogAgent, datadog_agent.cpp, over Envoy's
 * AgentHTTPClient, agent_http_client.cc): finished trace segments are held and, every
 * flush_interval (2 s, dd-trace-cpp's default), POSTed as one MessagePack array of chunks to
 * `/v0.4/traces` on the collector cluster, its Host the collector_hostname (default the
 * cluster's name), with dd-trace-cpp's headers; each request bounded by request_timeout
 * (2 s). What is held when the listener goes (a reload) or the server shuts down is sent
 * then, as DatadogAgent's destructor flushes.
 *
 * Stats tracing.datadog.* (tracer_stats.h): reports_sent (a 200), reports_dropped (any other
 * status), reports_failed (no answer), reports_skipped_no_cluster; and polyvoy's
 * spans_dropped: spans not sent because the buffer (MAX_BUFFERED_SPANS spans or
 * MAX_BUFFERED_BYTES of their strings) or the requests in flight were at their limit, or
 * because their payload could not be encoded (dd-trace-cpp's buffer has no bound).
 */
import type { DatadogConfig } from "../config/bootstrap.ts";
import { AsyncFailureReason, type AsyncClient, type AsyncRequest, type AsyncRequestCallbacks, type AsyncResponse } from "../http/async-client.ts";
import { RequestHeaders } from "../http/message.ts";
import type { Timer } from "../event/timers.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import { MsgpackOverflow, MsgpackWriter } from "../util/msgpack.ts";
import { utf8Decode, utf8Length } from "../util/utf8.ts";
import { VERSION } from "../version.ts";
import type { DatadogTraceSampler } from "./datadog-sampler.ts";
import { parseAgentTracesResponse } from "./datadog-sampler.ts";
import { type DatadogSpanData, writeTraces } from "./datadog-span-data.ts";

/** datadog_agent_config.h: flush_interval_milliseconds and request_timeout_milliseconds. */
export const FLUSH_INTERVAL_MS = 2000;
export const REQUEST_TIMEOUT_MS = 2000;
/** traces_api_path. */
export const TRACES_PATH = "/v0.4/traces";
/** Spans held at most between flushes: past it a segment is dropped (spans_dropped). */
export const MAX_BUFFERED_SPANS = 10_000;
/**
 * The held spans' strings (tags a client's headers may fill: a user agent, a path), in UTF-8
 * bytes, at most between flushes: past it a segment is dropped (spans_dropped).
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** One request's MessagePack at most: above MAX_BUFFERED_BYTES and its per-span overhead, a guard. */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** Requests to the Agent in flight at once: a slower Agent drops the excess. */
export const MAX_REPORTS_IN_FLIGHT = 16;
/**
 * The Agent's answer (its rate_by_service JSON: a few dozen bytes a service) at most. Envoy's
 * AgentHTTPClient and dd-trace-cpp read the whole answer; polyvoy keeps a bound far above any
 * Agent's: a 200 past it is a report sent (reports_sent) whose rates are skipped, logged.
 */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

class DatadogStats {
  readonly reportsSkippedNoCluster: Counter;
  readonly reportsSent: Counter;
  readonly reportsDropped: Counter;
  readonly reportsFailed: Counter;
  readonly spansDropped: Counter;
  constructor(server: ServerContext) {
    const scope = server.stats.scope("tracing.datadog.");
    this.reportsSkippedNoCluster = scope.counter("reports_skipped_no_cluster");
    this.reportsSent = scope.counter("reports_sent");
    this.reportsDropped = scope.counter("reports_dropped");
    this.reportsFailed = scope.counter("reports_failed");
    this.spansDropped = scope.counter("spans_dropped");
  }
}

export class DatadogAgent implements AsyncRequestCallbacks {
  private readonly stats: DatadogStats;
  private client: AsyncClient | undefined;
  private clientFailed = false;
  private chunks: DatadogSpanData[][] = [];
  private bufferedSpans = 0;
  private bufferedBytes = 0;
  private readonly timer: Timer;
  private stopped = false;
  private readonly active = new Set<AsyncRequest>();
  /** Waiting for the requests in flight to end (flushAndWait at shutdown). */
  private idle: (() => void)[] = [];

  constructor(
    private readonly server: ServerContext,
    private readonly config: DatadogConfig,
    /** The tracer's sampler, which takes the Agent's rates (datadog_agent.cpp's response handler). */
    private readonly sampler?: DatadogTraceSampler,
  ) {
    this.stats = new DatadogStats(server);
    // The async client is loaded with the exporter (out of start-up's imports, as the zipkin reporter's).
    void import("../http/async-client.ts").then(
      ({ AsyncClient }) => {
        this.client = new AsyncClient(server);
      },
      (err: unknown) => {
        this.clientFailed = true;
        server.log.warn(`envoy.tracers.datadog: the HTTP client could not be loaded, spans are dropped: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    // schedule_recurring_event(flush_interval, flush).
    // Re-armed before flushing: a flush that failed does not stop the next ones.
    this.timer = server.timers.create(() => {
      this.timer.enable(FLUSH_INTERVAL_MS);
      this.flush();
    });
    this.timer.enable(FLUSH_INTERVAL_MS);
  }

  /** DatadogAgent::send: a finished segment, held until the next flush. */
  send(spans: DatadogSpanData[]): void {
    if (this.stopped || this.bufferedSpans + spans.length > MAX_BUFFERED_SPANS) {
      this.stats.spansDropped.inc(spans.length);
      return;
    }
    const bytes = segmentBytes(spans);
    if (this.bufferedBytes + bytes > MAX_BUFFERED_BYTES) {
      this.stats.spansDropped.inc(spans.length);
      return;
    }
    this.chunks.push(spans);
    this.bufferedSpans += spans.length;
    this.bufferedBytes += bytes;
  }

  /** Spans waiting for a flush (tests). */
  get pendingSpans(): number {
    return this.bufferedSpans;
  }

  /** The listener is gone: what is held goes now, the timer stops. */
  stop(): void {
    if (this.stopped) return;
    this.timer.disable();
    this.flush();
    this.stopped = true;
  }

  /** Shutdown: what is held goes now; resolves once the Agent answered (or the requests failed). */
  async flushAndWait(): Promise<void> {
    // The client may still be loading: the constructor's handler on the same import runs first, so it is set after this.
    if (this.client === undefined && !this.clientFailed) await import("../http/async-client.ts").catch(() => {});
    this.stop();
    if (this.active.size === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private settled(request: AsyncRequest): void {
    this.active.delete(request);
    if (this.active.size > 0) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  /** DatadogAgent::flush: one request with every chunk held. */
  flush(): void {
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    const spans = this.bufferedSpans;
    // The client loads in one dynamic import: until then the chunks stay for the next flush.
    if (this.client === undefined && !this.clientFailed) return;
    this.chunks = [];
    this.bufferedSpans = 0;
    this.bufferedBytes = 0;
    if (this.clientFailed || this.active.size >= MAX_REPORTS_IN_FLIGHT) {
      this.stats.spansDropped.inc(spans);
      return;
    }
    if (this.server.clusterManager.get(this.config.collectorCluster) === undefined) {
      const log = this.server.log.component("tracing");
      if (log.debugOn) log.debug(`collector cluster '${this.config.collectorCluster}' does not exist`);
      this.stats.reportsSkippedNoCluster.inc();
      return;
    }
    const writer = new MsgpackWriter(Math.min(64 * 1024, 512 * spans), MAX_PAYLOAD_BYTES);
    try {
      writeTraces(writer, chunks);
    } catch (e) {
      // Runs from the flush timer: a throw would end the process. The spans are lost, counted.
      if (!(e instanceof MsgpackOverflow)) throw e;
      this.server.log.component("tracing").warn(`envoy.tracers.datadog: ${spans} spans dropped: ${e.message}`);
      this.stats.spansDropped.inc(spans);
      return;
    }
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = TRACES_PATH;
    headers.authority = this.config.collectorHostname;
    // datadog_agent.cpp's set_request_headers.
    headers.set("content-type", "application/msgpack");
    headers.set("datadog-meta-lang", "cpp");
    headers.set("datadog-meta-lang-version", "polyvoy");
    headers.set("datadog-meta-tracer-version", `polyvoy-${VERSION}`);
    headers.set("x-datadog-trace-count", String(chunks.length));
    const request = this.client!.send(this.config.collectorCluster, headers, writer.finish(), this, { timeoutMs: REQUEST_TIMEOUT_MS, maxResponseBytes: MAX_RESPONSE_BYTES });
    if (request !== undefined) this.active.add(request);
  }

  /**
   * AgentHTTPClient::onSuccess: a 200 is a report sent, any other status one dropped. A 200's
   * body carries the Agent's sampling rates for the sampler (datadog_agent.cpp on_response):
   * an empty or malformed one is logged at error and changes nothing.
   */
  onSuccess(request: AsyncRequest, response: AsyncResponse): void {
    this.settled(request);
    if (response.headers.status !== 200) {
      this.stats.reportsDropped.inc();
      return;
    }
    this.stats.reportsSent.inc();
    if (this.sampler === undefined) return;
    const log = this.server.log.component("tracing");
    if (response.body.length === 0) {
      log.error("Datadog Agent returned response without a body. This tracer might be sending batches of traces too frequently");
      return;
    }
    const rates = parseAgentTracesResponse(utf8Decode(response.body));
    if (typeof rates === "string") log.error(rates);
    else this.sampler.handleCollectorResponse(rates);
  }

  onFailure(request: AsyncRequest, reason: AsyncFailureReason): void {
    this.settled(request);
    // A 200 whose body outgrew MAX_RESPONSE_BYTES: the Agent took the traces (Envoy counts a
    // 200 reports_sent, datadog_agent.cc onSuccess); only its rates are lost.
    if (reason === AsyncFailureReason.ExceedResponseBufferLimit && request.responseStatus === 200) {
      this.stats.reportsSent.inc();
      this.server.log.component("tracing").error(`Datadog Agent's response body is over ${MAX_RESPONSE_BYTES} bytes: its sampling rates were skipped`);
      return;
    }
    this.stats.reportsFailed.inc();
  }
}

/** The UTF-8 bytes of a segment's strings: what may grow without bound with a request's headers. */
function segmentBytes(spans: readonly DatadogSpanData[]): number {
  let bytes = 0;
  for (const span of spans) {
    bytes += utf8Length(span.service) + utf8Length(span.name) + utf8Length(span.resource) + utf8Length(span.type);
    for (const [key, value] of span.meta) bytes += utf8Length(key) + utf8Length(value);
    for (const key of span.metrics.keys()) bytes += utf8Length(key) + 9;
  }
  return bytes;
}
