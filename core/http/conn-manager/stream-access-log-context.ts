import type { AccessLogContext } from "../../access-log/context.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { HeaderMap } from "../header-map.ts";

/**
 * A finished HTTP stream as its access log lines see it: getters over the stream's
 * own objects, built only when the HCM has access logs, read synchronously, not kept.
 */
export class StreamAccessLogContext implements AccessLogContext {
  /** "DownstreamEnd" when the stream's end is logged; else unset (NotSet), as Envoy's header and local reply formatting. */
  accessLogType: string | undefined;
  /** Set while local_reply_config formats a local reply. */
  localReplyBody: string | undefined;
  /** The downstream connection's TLS, when it has one. */
  downstreamTls: TlsSession | undefined;
  /** The SNI the tls_inspector read, "" when none. */
  requestedServerName: string | undefined;
  /** The tls_inspector's JA3 hash, "" when none. */
  ja3Hash: string | undefined;

  constructor(
    private readonly info: StreamInfo,
    /** Undefined when no request head was parsed. */
    private readonly request: RequestHeaders | undefined,
    readonly protocol: string,
    private readonly response: ResponseHeaders | undefined,
    private readonly trailers: HeaderMap | undefined,
    readonly downstreamRemoteAddress: SocketAddress | undefined,
    readonly downstreamLocalAddress: SocketAddress | undefined,
    readonly connectionId: number,
    readonly durationMs: number,
    readonly routeMetadata: Readonly<Record<string, Record<string, unknown>>> | undefined,
    /** The socket's peer when a PROXY header named another client. */
    readonly downstreamDirectRemoteAddress?: SocketAddress | undefined,
  ) {}

  get traceId(): string | undefined {
    return this.info.activeSpan?.getTraceId();
  }
  get spanId(): string | undefined {
    return this.info.activeSpan?.getSpanId();
  }
  get startWallClock(): number {
    return this.info.startWallClock;
  }
  get responseDurationMs(): number | undefined {
    return this.info.upstreamResponseHeadersAt ? this.info.upstreamResponseHeadersAt - this.info.startTime : undefined;
  }
  // Envoy's TimingUtility points (stream_info_formatter.cc): "-" until the point was reached.
  get requestDurationMs(): number | undefined {
    const at = this.info.lastDownstreamRxByteReceived;
    return at === undefined ? undefined : at - this.info.startTime;
  }
  get requestTxDurationMs(): number | undefined {
    const at = this.info.lastUpstreamTxByteSent;
    return at === undefined ? undefined : at - this.info.startTime;
  }
  /** RESPONSE_TX_DURATION: the response's last byte sent downstream less its first from upstream. */
  get responseTxDurationMs(): number | undefined {
    const sent = this.info.lastDownstreamTxByteSent;
    const first = this.info.upstreamResponseHeadersAt;
    return sent === undefined || !first ? undefined : sent - first;
  }
  get upstreamLocalAddress(): SocketAddress | undefined {
    return this.info.upstreamLocalAddress;
  }
  requestHeader(name: string): string | undefined {
    // Envoy logs the first value of a repeated field.
    const request = this.request;
    if (request === undefined) return undefined;
    if (!name.startsWith(":") && name !== "host") return request.get(name);
    const value = request.header(name);
    // An HTTP/1.0 request without Host has no :authority (Envoy prints "-"); polyvoy keeps it as "".
    if (value === "" && (name === ":authority" || name === "host" || name === ":path")) return undefined;
    // A CONNECT's authority-form target is its :authority, and it has no :path (Envoy's
    // HTTP/1 codec sets only Host; RFC 9113 §8.5): polyvoy keeps the target as its path.
    if (name === ":path" && request.method === "CONNECT" && value !== undefined && !value.startsWith("/")) return undefined;
    return value;
  }
  responseHeader(name: string): string | undefined {
    if (!this.response) return undefined;
    return name === ":status" ? String(this.response.status) : this.response.get(name);
  }
  responseTrailer(name: string): string | undefined {
    return this.trailers?.get(name);
  }
  /** Every value of a header, joined with "," (Envoy's HeaderUtility::getAllOfHeaderAsString); pseudo-headers as requestHeader. */
  headerValues(which: "request" | "response" | "trailers", name: string): string | undefined {
    if (name.startsWith(":") || (which === "request" && name === "host")) return which === "request" ? this.requestHeader(name) : this.responseHeader(name);
    const map = which === "request" ? this.request : which === "response" ? this.response : this.trailers;
    return map?.getJoined(name, ",");
  }
  /** Envoy's byteSize: the fields' names and values, and the pseudo-headers Envoy's map holds (header text is one char a byte). */
  headersBytes(which: "request" | "response" | "trailers"): number {
    if (which === "trailers") return this.trailers === undefined ? 0 : fieldBytes(this.trailers);
    if (which === "response") return this.response === undefined ? 0 : ":status".length + String(this.response.status).length + fieldBytes(this.response);
    const r = this.request;
    if (r === undefined) return 0;
    let size = fieldBytes(r) + ":method".length + r.method.length + ":path".length + r.path.length + ":scheme".length + r.scheme.length;
    if (r.authority !== "") size += ":authority".length + r.authority.length;
    return size;
  }
  get responseCode(): number {
    return this.info.responseCode;
  }
  get responseCodeDetails(): string | undefined {
    return this.info.responseCodeDetails || undefined;
  }
  get responseFlags(): readonly string[] {
    return this.info.responseFlags;
  }
  get healthCheck(): boolean {
    return this.info.healthCheck;
  }
  get bytesReceived(): number {
    return this.info.bytesReceived;
  }
  get bytesSent(): number {
    return this.info.bytesSent;
  }
  get upstreamTls(): TlsSession | undefined {
    return this.info.upstreamTls;
  }

  get upstreamHost(): string | undefined {
    return this.info.upstreamHost || undefined;
  }
  get upstreamHostMetadata(): StreamInfo["upstreamHostMetadata"] {
    return this.info.upstreamHostMetadata;
  }
  get upstreamTransportFailureReason(): string | undefined {
    return this.info.upstreamTransportFailureReason || undefined;
  }
  get upstreamCluster(): string | undefined {
    return this.info.upstreamCluster || undefined;
  }
  get upstreamRequestAttemptCount(): number {
    return this.info.attemptCount;
  }
  get dynamicMetadata(): Readonly<Record<string, Record<string, unknown>>> | undefined {
    return this.info.dynamicMetadata;
  }

  get filterState(): ReadonlyMap<string, unknown> | undefined {
    return this.info.filterState;
  }
  get routeName(): string | undefined {
    return this.info.routeName || undefined;
  }
}

function fieldBytes(map: HeaderMap): number {
  let size = 0;
  for (let i = 0; i < map.size; i++) size += map.nameAt(i).length + map.valueAt(i).length;
  return size;
}
