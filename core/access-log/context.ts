/**
 * What an access log line is made from: one finished HTTP stream or TCP connection.
 *
 * The formatter only reads it, and only the fields its format names, so an adapter
 * over the stream's own objects (getters, no copying) is the cheap way to provide it;
 * it is read synchronously inside `AccessLogger.log` and never kept.
 *
 * Strings that came off the wire (header values, the path) are byte strings, one char
 * per byte, as the HTTP/1 codec produces them; they are logged byte for byte. Names from
 * the config (route, cluster, details) may be any string: non-ASCII ones are logged
 * as UTF-8.
 *
 * Adapting the HTTP connection manager's stream at its end (StreamInfo `si`,
 * RequestHeaders `req`, ResponseHeaders `resp`, the downstream socket `conn`):
 *
 * | field | from |
 * | --- | --- |
 * | startWallClock | `si.startWallClock` |
 * | durationMs | `now - si.startTime` (last byte sent downstream; undefined if the stream never finished) |
 * | requestDurationMs | `lastRequestByteAt - si.startTime`, undefined if the request never completed |
 * | responseDurationMs | `si.upstreamResponseHeadersAt - si.startTime` when an upstream answered, else undefined |
 * | responseTxDurationMs | `now - si.upstreamResponseHeadersAt` when an upstream answered, else undefined |
 * | requestHeader(name) | `req.header(name)` — but Envoy logs the *first* value of a repeated header: `req.get(name)` for ordinary names |
 * | responseHeader(name) | `resp?.header(name)`, ":status" included; undefined when no response was sent |
 * | responseTrailer(name) | trailers?.get(name) |
 * | protocol | `req.protocol` ("HTTP/1.1") |
 * | responseCode | `si.responseCode` (0: no response was sent) |
 * | responseCodeDetails | `si.responseCodeDetails \|\| undefined` |
 * | responseFlags | `si.responseFlags` (in the order they were set, as Envoy) |
 * | bytesReceived / bytesSent | `si.bytesReceived` / `si.bytesSent` (body bytes) |
 * | upstreamHost | `si.upstreamHost \|\| undefined` ("10.0.0.1:80", "[::1]:80") |
 * | upstreamCluster | `si.upstreamCluster \|\| undefined` |
 * | upstreamRequestAttemptCount | `si.attemptCount` (1 + the router's retries; 0 if it forwarded nothing) |
 * | routeName | `si.routeName \|\| undefined` |
 * | downstreamRemoteAddress | the client as the HCM sees it (x-forwarded-for with use_remote_address…); else `conn.remoteAddress` |
 * | downstreamDirectRemoteAddress | `conn.remoteAddress` |
 * | downstreamLocalAddress | `conn.localAddress` |
 *
 * tcp_proxy: the same fields for the connection; the HTTP ones are empty
 * (requestHeader/responseHeader/responseTrailer return undefined, protocol undefined,
 * responseCode 0), bytes are the downstream bytes received and sent, and durationMs is
 * the connection's lifetime.
 */
import type { SocketAddress, TlsSession } from "../port.ts";

export interface AccessLogContext {
  /** Wall-clock ms since the epoch when the request (TCP: the connection) started. %START_TIME% */
  readonly startWallClock: number;
  /** Start to last byte sent downstream (TCP: the connection's lifetime), ms; may be fractional. %DURATION% */
  readonly durationMs: number | undefined;
  /** Start to the last byte of the request received. %REQUEST_DURATION% */
  readonly requestDurationMs?: number | undefined;
  /** Start to the last byte of the request sent upstream. %REQUEST_TX_DURATION% */
  readonly requestTxDurationMs?: number | undefined;
  /** Start to the first byte of the upstream response. %RESPONSE_DURATION% */
  readonly responseDurationMs?: number | undefined;
  /** First byte of the upstream response to the last byte sent downstream. %RESPONSE_TX_DURATION% */
  readonly responseTxDurationMs?: number | undefined;

  /**
   * Envoy's HeaderMap::byteSize of the request headers, the response headers or the response
   * trailers: every name's and value's bytes, pseudo-headers included; 0 when there are none.
   * %REQUEST_HEADERS_BYTES%, %RESPONSE_HEADERS_BYTES%, %RESPONSE_TRAILERS_BYTES%. Absent: 0.
   */
  headersBytes?(which: "request" | "response" | "trailers"): number;
  /**
   * Every value of a request header, response header or trailer, joined with "," (Envoy's
   * getAllOfHeaderAsString), for the gRPC loggers' additional headers; absent: the first value.
   */
  headerValues?(which: "request" | "response" | "trailers", name: string): string | undefined;
  /** Why a network filter closed the connection (Envoy's connectionTerminationDetails), e.g. network RBAC's denial. %CONNECTION_TERMINATION_DETAILS% */
  readonly connectionTerminationDetails?: string | undefined;
  /** A request header by lowercase name, or a pseudo-header (":method", ":path", ":authority", ":scheme"). %REQ(X)% */
  requestHeader(name: string): string | undefined;
  /** A response header by lowercase name (":status" too). %RESP(X)% */
  responseHeader(name: string): string | undefined;
  /** A response trailer by lowercase name. %TRAILER(X)% */
  responseTrailer(name: string): string | undefined;

  /** "HTTP/1.1", "HTTP/1.0"; undefined for TCP. %PROTOCOL% */
  readonly protocol: string | undefined;
  /** 0 when no response was sent (and for TCP). %RESPONSE_CODE% */
  readonly responseCode: number;
  /** %RESPONSE_CODE_DETAILS% */
  readonly responseCodeDetails: string | undefined;
  /** Envoy's short names ("UF", "URX", …), in the order they were set. %RESPONSE_FLAGS% */
  readonly responseFlags: readonly string[];
  /** The health_check filter took the request for a health check (not_health_check_filter); absent for TCP. */
  readonly healthCheck?: boolean;
  /** Body bytes (TCP: downstream bytes). %BYTES_RECEIVED% %BYTES_SENT% */
  readonly bytesReceived: number;
  readonly bytesSent: number;

  /** The upstream host as "ip:port" ("[v6]:port"). %UPSTREAM_HOST% %UPSTREAM_REMOTE_ADDRESS% */
  readonly upstreamHost: string | undefined;
  /** %UPSTREAM_REQUEST_ATTEMPT_COUNT%: the router's attempts (1 + retries); absent (0) where there are none (tcp_proxy). */
  readonly upstreamRequestAttemptCount?: number;
  /** %UPSTREAM_CLUSTER% */
  readonly upstreamCluster: string | undefined;
  /** The upstream connection's local address. %UPSTREAM_LOCAL_ADDRESS% */
  readonly upstreamLocalAddress?: SocketAddress | undefined;
  /** Why the upstream connection failed (spaces become "_" in the log). %UPSTREAM_TRANSPORT_FAILURE_REASON% */
  readonly upstreamTransportFailureReason?: string | undefined;

  /** The client, possibly from x-forwarded-for. %DOWNSTREAM_REMOTE_ADDRESS% */
  readonly downstreamRemoteAddress: SocketAddress | undefined;
  /** The peer of the socket; defaults to downstreamRemoteAddress. %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% */
  readonly downstreamDirectRemoteAddress?: SocketAddress | undefined;
  /** %DOWNSTREAM_LOCAL_ADDRESS% */
  readonly downstreamLocalAddress: SocketAddress | undefined;
  /**
   * The downstream connection's TLS, when it has one. %DOWNSTREAM_TLS_VERSION%
   * %DOWNSTREAM_TLS_CIPHER% %DOWNSTREAM_PEER_SUBJECT% %REQUESTED_SERVER_NAME% …
   */
  readonly downstreamTls?: TlsSession | undefined;
  /** The upstream connection's TLS, when it had one. %UPSTREAM_TLS_VERSION% %UPSTREAM_PEER_SUBJECT% … */
  readonly upstreamTls?: TlsSession | undefined;
  /** The SNI tls_inspector read ("" or absent: none); %REQUESTED_SERVER_NAME% prefers it to the TLS session's. */
  readonly requestedServerName?: string | undefined;
  /** The tls_inspector's JA3 hash ("" or absent: none). %TLS_JA3_FINGERPRINT% */
  readonly ja3Hash?: string | undefined;
  /** The downstream connection's id. %CONNECTION_ID% */
  readonly connectionId?: number | undefined;

  /**
   * Why this line is written (Envoy's AccessLogType name): "DownstreamEnd" for an HTTP
   * stream's end, "TcpConnectionEnd" for tcp_proxy's; absent: "NotSet" (listener logs,
   * header values, local reply bodies). %ACCESS_LOG_TYPE%
   */
  readonly accessLogType?: string | undefined;

  /** The active span's trace id and span id in hex (Envoy's activeSpan()), when the stream is traced: the open_telemetry access logger's trace_id and span_id. */
  readonly traceId?: string | undefined;
  readonly spanId?: string | undefined;

  /** %ROUTE_NAME% */
  readonly routeName: string | undefined;
  /** A local reply's body, while local_reply_config formats it. %LOCAL_REPLY_BODY% */
  readonly localReplyBody?: string | undefined;
  /** The route's metadata.filter_metadata, by namespace. %METADATA(ROUTE:NAMESPACE:KEY)% */
  readonly routeMetadata?: Readonly<Record<string, Record<string, unknown>>> | undefined;
  /** The chosen upstream host's endpoint metadata, by namespace. %UPSTREAM_METADATA(NAMESPACE:KEY)%, %METADATA(UPSTREAM_HOST:NAMESPACE:KEY)% */
  readonly upstreamHostMetadata?: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;
  /** The stream's dynamic metadata, by namespace (filters such as rbac set it). %METADATA(DYNAMIC:NAMESPACE:KEY)%, %DYNAMIC_METADATA(NAMESPACE:KEY)% */
  readonly dynamicMetadata?: Readonly<Record<string, Record<string, unknown>>> | undefined;
  /** The stream's filter state objects, by name. %FILTER_STATE(KEY:PLAIN|TYPED)% */
  readonly filterState?: ReadonlyMap<string, unknown> | undefined;
}
