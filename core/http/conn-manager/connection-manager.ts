import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import type { TimerHandle } from "../../port.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "../../network/connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../../network/filter.ts";
import type { ReadBuffer } from "../../network/read-buffer.ts";
import type { CodecError, ResponseEncoder } from "../codec/codec.ts";
import { Http1ServerCodec, type ServerCodecCallbacks } from "../codec/http1-server-codec.ts";
import type { RouteTable } from "../router/route-table.ts";
import { ActiveStream } from "./active-stream.ts";

/** What an ActiveStream needs from its connection manager. */
export interface ConnectionManagerContext {
  readonly config: HttpConnectionManagerConfig;
  readonly server: ServerContext;
  readonly routeTable: RouteTable;
  readonly connection: Connection;
  readonly codec: Http1ServerCodec;
}

/**
 * Envoy's HTTP connection manager (`envoy.filters.network.http_connection_manager`):
 * a terminal network read filter that feeds downstream bytes to the HTTP/1 codec and
 * runs one ActiveStream per request. HTTP/1 carries one request at a time: when a
 * request is complete and its response is not, reading is disabled so pipelined
 * requests wait in the kernel (Envoy's readDisable), and resumes after the response.
 */
export class ConnectionManager implements ReadFilter, ServerCodecCallbacks, ConnectionCallbacks, ConnectionManagerContext {
  private callbacks!: ReadFilterCallbacks;
  codec!: Http1ServerCodec;
  private stream: ActiveStream | undefined;
  /** We disabled reading while a response is outstanding. */
  private readDisabledForResponse = false;
  private closing = false;
  private idleTimer: TimerHandle | undefined;
  private headersTimer: TimerHandle | undefined;
  private lastActivity = 0;

  constructor(
    readonly config: HttpConnectionManagerConfig,
    readonly routeTable: RouteTable,
    readonly server: ServerContext,
  ) {}

  get connection(): Connection {
    return this.callbacks.connection;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
    callbacks.connection.addConnectionCallbacks(this);
    this.codec = new Http1ServerCodec(callbacks.connection, this, {
      maxRequestHeadersBytes: this.config.maxRequestHeadersKb * 1024,
      maxHeadersCount: this.config.maxHeadersCount,
    });
  }

  onNewConnection(): FilterStatus {
    this.armIdleTimer();
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    this.lastActivity = this.server.runtime.now();
    const slices = buffer.slices();
    if (this.closing) {
      buffer.drainAll();
      return FilterStatus.StopIteration;
    }
    if (slices.length === 0) this.codec.dispatch(new Uint8Array(0), endStream);
    for (let i = 0; i < slices.length && !this.closing; i++) this.codec.dispatch(slices[i]!, endStream && i === slices.length - 1);
    buffer.drainAll();
    if (endStream && !this.stream && !this.codec.isUpgraded) this.close();
    return FilterStatus.StopIteration;
  }

  // ---- ServerCodecCallbacks ----

  /**
   * request_headers_timeout: the headers must be complete this long after the
   * request's first byte, or Envoy answers 408 and closes.
   */
  onRequestBegin(): void {
    this.clearIdleTimer();
    const timeout = this.config.requestHeadersTimeoutMs;
    if (timeout <= 0) return;
    this.headersTimer = this.server.runtime.setTimeout(() => {
      this.headersTimer = undefined;
      if (this.stream || this.connection.isClosed) return;
      this.codec.keepAlive = false;
      this.newStream(this.codec).sendLocalReply(408, "request header timeout", "request_header_timeout");
    }, timeout);
  }

  newStream(encoder: ResponseEncoder): ActiveStream {
    this.clearIdleTimer();
    this.clearHeadersTimer();
    const stream = new ActiveStream(this, encoder);
    this.stream = stream;
    return stream;
  }

  onCodecError(error: CodecError): void {
    this.server.log.debug(`[C${this.connection.id}] codec error: ${error.reason} (${error.details})`);
    const stream = this.stream ?? this.newStream(this.codec);
    // Envoy answers a request it cannot parse (400) or whose head is too large (431),
    // then closes the connection: the rest of the bytes cannot be trusted.
    this.codec.keepAlive = false;
    if (this.codec.responseInProgress) {
      stream.resetDownstream();
      return;
    }
    stream.sendLocalReply(error.status, statusBody(error.status), error.details, "DPE");
  }

  /** The current response was fully written: finish the stream, then keep alive or close. */
  onResponseComplete(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.onResponseComplete();
    if (this.codec.isUpgraded) return;
    if (!this.codec.keepAlive || this.closing) {
      this.close();
      return;
    }
    if (this.readDisabledForResponse) {
      this.readDisabledForResponse = false;
      this.connection.readDisable(false);
    }
    this.armIdleTimer();
    this.codec.resume();
  }

  /** @internal The request is in; its response is not: hold pipelined bytes in the kernel. */
  onRequestComplete(stream: ActiveStream): void {
    if (stream === this.stream && !this.readDisabledForResponse && !this.codec.isUpgraded) {
      this.readDisabledForResponse = true;
      this.connection.readDisable(true);
    }
  }

  /** @internal A stream was reset (upstream failure after headers, timeouts): the connection cannot continue. */
  onStreamReset(stream: ActiveStream): void {
    if (stream === this.stream) this.stream = undefined;
    this.closing = true;
    this.connection.close("Abort");
  }

  private close(): void {
    if (this.closing && this.connection.isClosed) return;
    this.closing = true;
    this.connection.close("FlushWrite");
  }

  // ---- ConnectionCallbacks ----

  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.clearIdleTimer();
    this.clearHeadersTimer();
    const stream = this.stream;
    this.stream = undefined;
    // The client went away mid-stream: Envoy resets the stream (response flag DC).
    stream?.onDownstreamClosed();
    this.codec.destroy();
  }

  onAboveWriteBufferHighWatermark(): void {
    this.stream?.onDownstreamAboveHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.stream?.onDownstreamBelowLowWatermark();
  }

  /**
   * common_http_protocol_options.idle_timeout: a connection with no active stream for
   * that long is closed. Re-armed lazily from `lastActivity`.
   */
  private armIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0 || this.idleTimer !== undefined) return;
    const runtime = this.server.runtime;
    this.lastActivity = runtime.now();
    const check = (): void => {
      this.idleTimer = undefined;
      if (this.stream || this.connection.isClosed) return;
      const idle = runtime.now() - this.lastActivity;
      if (idle < timeout) {
        this.idleTimer = runtime.setTimeout(check, timeout - idle);
        return;
      }
      this.server.log.debug(`[C${this.connection.id}] idle timeout`);
      this.close();
    };
    this.idleTimer = runtime.setTimeout(check, timeout);
  }

  private clearHeadersTimer(): void {
    if (this.headersTimer === undefined) return;
    this.server.runtime.clearTimeout(this.headersTimer);
    this.headersTimer = undefined;
  }

  private clearIdleTimer(): void {
    if (this.idleTimer === undefined) return;
    this.server.runtime.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** Envoy's local reply bodies for codec errors are the status text. */
function statusBody(status: number): string {
  return status === 431 ? "Request Header Fields Too Large" : "Bad Request";
}
