/**
 * The async HTTP client as user filters see it (Envoy's Lua `httpCall`,
 * source/extensions/filters/http/lua/lua_filter.cc): `stream.httpCall(cluster, request,
 * options)` sends a complete request to a cluster through the cluster manager (its load
 * balancer, pools and circuit breakers: core/http/async-client.ts) and resolves with the
 * complete response. As for Envoy's async client, what the router would answer itself
 * is a response: 503 (no healthy upstream, connection failure), 504 when `timeout`
 * passes. The promise rejects with an HttpCallError for an unknown cluster, a reset after
 * the response began, a body over `maxResponseBytes`, too many calls on one stream, or
 * the stream's end (every call still in flight is cancelled then).
 */
import type { ServerContext } from "../../server-context.ts";
import { utf8ByteString } from "../../access-log/byte-string.ts";
import { latin1Decode, latin1Encode } from "../../util/latin1.ts";
import type { AsyncClient, AsyncFailureReason, AsyncRequest, AsyncRequestCallbacks, AsyncResponse } from "../async-client.ts";
import type { HeaderMap } from "../header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../message.ts";

/** What to send: a path at least; GET, no body and the cluster's name as :authority by default. */
export interface HttpCallRequest {
  method?: string;
  path: string;
  /** :authority (Host); default: the cluster's name. */
  authority?: string;
  headers?: Record<string, string> | readonly (readonly [string, string])[];
  /** A string is sent as its UTF-8 bytes; content-length is set from the body. */
  body?: string | Uint8Array;
}

export interface HttpCallOptions {
  /** The whole exchange's limit in ms (default 5000); past it the answer is a 504. */
  timeout?: number;
  /** The most response body kept (default 1 MiB); more rejects with reason "exceed_response_buffer_limit". */
  maxResponseBytes?: number;
}

export interface HttpCallResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly body: Uint8Array;
  readonly trailers: HeaderMap | undefined;
  /** Why the client answered itself (e.g. "upstream_response_timeout"); "" for the upstream's own response. */
  readonly details: string;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON (throws on bad JSON). */
  json(): unknown;
}

export type HttpCallFailure = AsyncFailureReason | "unknown_cluster" | "cancelled" | "too_many_calls";

/** Why an httpCall rejected; `reason` says which case. */
export class HttpCallError extends Error {
  override readonly name = "HttpCallError";
  constructor(
    readonly reason: HttpCallFailure,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const DEFAULT_HTTP_CALL_TIMEOUT_MS = 5000;
/** Calls one stream may have in flight at once. */
export const MAX_HTTP_CALLS_PER_STREAM = 64;

const utf8 = (() => {
  const Decoder = (globalThis as unknown as { TextDecoder?: new () => { decode(bytes: Uint8Array): string } }).TextDecoder;
  return typeof Decoder === "function" ? new Decoder() : undefined;
})();

class CallResponse implements HttpCallResponse {
  constructor(private readonly response: AsyncResponse) {}
  get status(): number {
    return this.response.headers.status;
  }
  get headers(): ResponseHeaders {
    return this.response.headers;
  }
  get body(): Uint8Array {
    return this.response.body;
  }
  get trailers(): HeaderMap | undefined {
    return this.response.trailers;
  }
  get details(): string {
    return this.response.details;
  }
  text(): string {
    const body = this.response.body;
    return utf8 !== undefined ? utf8.decode(body) : latin1Decode(body, 0, body.byteLength);
  }
  json(): unknown {
    return JSON.parse(this.text());
  }
}

/** One call in flight: settles its promise once. */
class PendingCall implements AsyncRequestCallbacks {
  request: AsyncRequest | undefined;

  constructor(
    private readonly calls: HttpCalls,
    private readonly resolve: (response: HttpCallResponse) => void,
    private readonly reject: (err: HttpCallError) => void,
    private readonly cluster: string,
  ) {}

  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    this.calls.delete(this);
    this.resolve(new CallResponse(response));
  }

  onFailure(_request: AsyncRequest, reason: AsyncFailureReason): void {
    this.calls.delete(this);
    this.reject(new HttpCallError(reason, reason === "reset" ? `httpCall to '${this.cluster}': the stream was reset` : `httpCall to '${this.cluster}': the response body is over maxResponseBytes`));
  }

  cancel(): void {
    this.request?.cancel();
    this.reject(new HttpCallError("cancelled", `httpCall to '${this.cluster}': cancelled, the stream ended`));
  }
}

/** A stream's calls: made through the filter config's client, cancelled together when the stream ends. */
export class HttpCalls {
  private readonly pending = new Set<PendingCall>();

  constructor(
    private readonly server: ServerContext,
    private readonly client: AsyncClient,
  ) {}

  call(cluster: string, request: HttpCallRequest, options: HttpCallOptions | undefined): Promise<HttpCallResponse> {
    return new Promise((resolve, reject) => {
      if (typeof cluster !== "string" || this.server.clusterManager.get(cluster) === undefined) {
        throw new HttpCallError("unknown_cluster", `httpCall: no cluster named '${String(cluster)}'`);
      }
      if (this.pending.size >= MAX_HTTP_CALLS_PER_STREAM) {
        throw new HttpCallError("too_many_calls", `httpCall: a stream may have at most ${MAX_HTTP_CALLS_PER_STREAM} calls in flight`);
      }
      const timeoutMs = options?.timeout ?? DEFAULT_HTTP_CALL_TIMEOUT_MS;
      if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new TypeError(`httpCall: timeout must be a positive number of ms, not ${String(timeoutMs)}`);
      const headers = requestHeaders(cluster, request);
      const body = typeof request.body === "string" ? latin1Encode(utf8ByteString(request.body)) : request.body;
      const call = new PendingCall(this, resolve, reject, cluster);
      this.pending.add(call);
      call.request = this.client.send(cluster, headers, body, call, { timeoutMs, ...(options?.maxResponseBytes !== undefined && { maxResponseBytes: options.maxResponseBytes }) });
    });
  }

  delete(call: PendingCall): void {
    this.pending.delete(call);
  }

  /** The stream ended: every call still in flight is cancelled (its promise rejects with "cancelled"). */
  cancelAll(): void {
    if (this.pending.size === 0) return;
    const calls = [...this.pending];
    this.pending.clear();
    for (const call of calls) call.cancel();
  }
}

function requestHeaders(cluster: string, request: HttpCallRequest): RequestHeaders {
  if (typeof request?.path !== "string" || !request.path.startsWith("/")) throw new TypeError(`httpCall: request.path must start with "/", not ${JSON.stringify(request?.path)}`);
  const headers = new RequestHeaders();
  headers.method = request.method ?? "GET";
  headers.path = request.path;
  headers.authority = request.authority ?? cluster;
  const extra = request.headers;
  if (extra !== undefined) {
    for (const [name, value] of Array.isArray(extra) ? extra : Object.entries(extra)) {
      // RFC 9110 §5.1 / §5.5: a token, and a value without NUL, CR or LF (it is written on the wire as is).
      if (!TOKEN.test(name) || typeof value !== "string" || /[\0\r\n]/.test(value)) throw new TypeError(`httpCall: bad header ${JSON.stringify(name)}`);
      headers.add(name.toLowerCase(), value);
    }
  }
  for (const value of [headers.method, headers.path, headers.authority]) {
    if (/[\0\r\n]/.test(value)) throw new TypeError("httpCall: method, path and authority must not contain NUL, CR or LF");
  }
  return headers;
}
