/**
 * Envoy's HTTP health checker (source/extensions/health_checkers/http/health_checker_impl.cc):
 * per host, an HTTP/1 connection of its own (HTTP/2 with `codec_client_type: HTTP2`, a
 * stream per check) (not the cluster's pools: a check must not
 * count as traffic, nor wait behind requests) carrying `GET <path>` with
 * `host: <host or cluster name>` and `user-agent: Envoy/HC`. A status in
 * expected_statuses (default 200 only) passes; `x-envoy-degraded` passes degraded; a
 * status in retriable_statuses counts toward unhealthy_threshold; any other fails the
 * host at once, and with `x-envoy-immediate-health-check-fail` excludes it too.
 */
import type { HttpHealthCheckConfig, StatusRange } from "../config/bootstrap.ts";
import type { RequestEncoder, ResponseDecoder } from "../http/codec/codec.ts";
import { Http1ClientCodec } from "../http/codec/http1-client-codec.ts";
import { Http2ClientCodec } from "../http/codec/http2-client-codec.ts";
import { Http2CodecStats } from "../http2/codec-stats.ts";
import type { HeaderMap } from "../http/header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../http/message.ts";
import { applyHeaderValueOptions, type HeaderFormatterSource } from "../http/route/custom-headers.ts";
import type { Connection, ConnectionEvent } from "../network/connection.ts";
import { ActiveHealthCheckSession, connectForCheck, FailureType, HealthCheckerImplBase } from "./health-checker.ts";
import { HealthFlag, type Host } from "./host.ts";
import { hexToBytes, matchPayloads } from "./payload-matcher.ts";

/** Envoy's user-agent for health checks (Headers::UserAgentValues.EnvoyHealthChecker). */
const USER_AGENT = "Envoy/HC";

function inRanges(ranges: readonly StatusRange[], status: number): boolean {
  for (const range of ranges) if (status >= range.start && status < range.end) return true;
  return false;
}

/** Health check headers hold no %…% commands (refused at load: health-check-schema.ts), so nothing asks this. */
const NO_FORMATTING: HeaderFormatterSource = {
  headerFormatterContext(): never {
    throw new Error("a health check header has no stream to format from");
  },
};

export class HttpHealthCheckerImpl extends HealthCheckerImplBase {
  readonly type = "HTTP";
  /** The `receive` payloads as bytes. */
  readonly receive: Uint8Array[];

  get http(): HttpHealthCheckConfig {
    return this.config.checker as HttpHealthCheckConfig;
  }

  protected makeSession(host: Host): ActiveHealthCheckSession {
    return new HttpActiveHealthCheckSession(this, host);
  }

  constructor(...args: ConstructorParameters<typeof HealthCheckerImplBase>) {
    super(...args);
    this.receive = this.http.receive.map(hexToBytes);
  }

  private http2StatsValue: Http2CodecStats | undefined;

  /** The HTTP/2 codec's stats of its checks, the cluster's http2.* (Envoy's codec client counts there too). */
  get http2Stats(): Http2CodecStats {
    return (this.http2StatsValue ??= new Http2CodecStats(this.cluster.statsStore.scope(`cluster.${this.cluster.name}.`)));
  }
}

const enum HealthCheckResult {
  Succeeded,
  Degraded,
  Failed,
  Retriable,
}

class HttpActiveHealthCheckSession extends ActiveHealthCheckSession implements ResponseDecoder {
  private connection: Connection | undefined;
  private codec: Http1ClientCodec | Http2ClientCodec | undefined;
  private connected = false;
  /** A check waits for the connection to be made. */
  private requestPending = false;
  private requestInFlight = false;
  private responseHeaders: ResponseHeaders | undefined;
  private body: Uint8Array[] = [];
  private bodyBytes = 0;

  constructor(
    private readonly checker: HttpHealthCheckerImpl,
    host: Host,
  ) {
    super(checker, host);
  }

  protected onInterval(): void {
    if (!this.connection) this.connect();
    this.requestPending = true;
    if (this.connected) this.sendRequest();
  }

  /**
   * A connection of the session's own. Its events reach the session only while it is
   * the current one: a connection the session closed may still report its close later.
   */
  private connect(): void {
    const connection = connectForCheck(
      this.checker.dispatcher.runtime,
      this.checker.cluster,
      this.host,
      (c) => this.connection === c,
      (event) => this.onConnectionEvent(event),
      (data, endStream) => this.onUpstreamData(data, endStream),
    );
    this.connection = connection;
    this.connected = false;
    this.codec = this.checker.http.codecClientType === "HTTP2" ? new Http2ClientCodec(connection, this.checker.http2Stats, () => this.resetStream()) : new Http1ClientCodec(connection);
  }

  private sendRequest(): void {
    this.requestPending = false;
    this.requestInFlight = true;
    this.responseHeaders = undefined;
    this.body = [];
    this.bodyBytes = 0;
    const http = this.checker.http;
    const headers = new RequestHeaders();
    headers.method = http.method;
    headers.path = http.path;
    // Envoy's HealthCheckerFactory::getHostname: the endpoint's health_check_config.hostname
    // (it overrides the cluster-level setting for that endpoint), the check's host, the cluster's name.
    headers.authority = this.host.hostnameForHealthChecks !== "" ? this.host.hostnameForHealthChecks : http.host !== "" ? http.host : this.checker.cluster.name;
    headers.add("user-agent", USER_AGENT);
    applyHeaderValueOptions(headers, http.requestHeadersToRemove, http.requestHeadersToAdd, NO_FORMATTING, undefined);
    const encoder: RequestEncoder = this.codec!.newStream(this);
    encoder.encodeHeaders(headers, true);
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    const codec = this.codec!;
    if (!codec.dispatch(data, endStream)) {
      // An answer we cannot parse: the stream is reset (Envoy's codec client), a network failure.
      this.resetStream();
      return;
    }
    // The upstream closed: a check still waiting lost its answer.
    if (endStream) this.resetStream();
  }

  /** The stream or connection ended without a complete response (Envoy's onResetStream). */
  private resetStream(): void {
    const checking = this.requestInFlight || this.requestPending;
    this.requestInFlight = false;
    this.requestPending = false;
    this.closeConnection();
    if (checking) this.handleFailure(FailureType.Network);
  }

  // ---- ResponseDecoder ----
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.responseHeaders = headers;
    if (endStream) this.onResponseComplete();
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    const limit = this.checker.http.responseBufferSize;
    if (this.checker.receive.length > 0 && this.bodyBytes < limit) {
      const take = data.subarray(0, limit - this.bodyBytes);
      this.body.push(take.slice());
      this.bodyBytes += take.byteLength;
    }
    if (endStream) this.onResponseComplete();
  }
  decodeTrailers(_trailers: HeaderMap): void {
    this.onResponseComplete();
  }
  decodeUpgradeData(): void {}

  private healthCheckResult(): HealthCheckResult {
    const headers = this.responseHeaders!;
    const http = this.checker.http;
    const status = headers.status;
    if (!inRanges(http.expectedStatuses, status)) {
      // A failing answer that asks to be excluded at once is (Envoy: only with a failing status).
      if (headers.get("x-envoy-immediate-health-check-fail") !== undefined) this.host.healthFlagSet(HealthFlag.ExcludedViaImmediateHcFail);
      return inRanges(http.retriableStatuses, status) ? HealthCheckResult.Retriable : HealthCheckResult.Failed;
    }
    if (this.checker.receive.length > 0 && !matchPayloads(this.checker.receive, concat(this.body, this.bodyBytes))) return HealthCheckResult.Failed;
    return headers.get("x-envoy-degraded") !== undefined ? HealthCheckResult.Degraded : HealthCheckResult.Succeeded;
  }

  private onResponseComplete(): void {
    if (!this.requestInFlight) return;
    this.requestInFlight = false;
    const result = this.healthCheckResult();
    // Envoy closes after the answer unless reuse_connection and the upstream keeps it alive.
    if (!this.checker.config.reuseConnection || !this.codec!.keepAlive) this.closeConnection();
    this.responseHeaders = undefined;
    this.body = [];
    switch (result) {
      case HealthCheckResult.Succeeded:
        return this.handleSuccess(false);
      case HealthCheckResult.Degraded:
        return this.handleSuccess(true);
      case HealthCheckResult.Failed:
        return this.handleFailure(FailureType.Active, false);
      case HealthCheckResult.Retriable:
        return this.handleFailure(FailureType.Active, true);
    }
  }

  private onConnectionEvent(event: ConnectionEvent): void {
    if (event === "Connected") {
      this.connected = true;
      if (this.requestPending) this.sendRequest();
      return;
    }
    // Closed between checks: forget it (the next check connects again). During one: it failed.
    this.resetStream();
  }

  protected onTimeout(): void {
    this.requestInFlight = false;
    this.requestPending = false;
    this.closeConnection();
  }

  protected onDestroy(): void {
    this.requestInFlight = false;
    this.requestPending = false;
    this.closeConnection();
  }

  private closeConnection(): void {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    this.codec?.destroy();
    this.codec = undefined;
    this.connected = false;
    connection.close("Abort");
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
