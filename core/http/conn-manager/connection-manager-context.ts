import type { AccessLogger } from "../../access-log/logger.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Connection } from "../../network/connection.ts";
import type { ServerContext } from "../../server-context.ts";
import type { CodecError, RequestDecoder, ResponseEncoder, ServerConnection } from "../codec/codec.ts";
import type { RouteTable } from "../route/route-table.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";
import type { StreamTimers } from "./stream-timers.ts";

/**
 * What an ActiveStream (and the header mutations it applies) uses of its connection
 * manager: the ConnectionManager implements it, the stream depends only on this
 * (Envoy's ActiveStream reaches its `ConnectionManagerImpl&` the same way, through the
 * parts it needs).
 */
export interface ConnectionManagerContext {
  readonly config: HttpConnectionManagerConfig;
  readonly server: ServerContext;
  readonly routeTable: RouteTable;
  readonly connection: Connection;
  readonly codec: ServerConnection;
  readonly stats: ConnectionManagerStats;
  /** This HCM's access_log loggers. */
  readonly accessLoggers: readonly AccessLogger[];
  /** When the current request's first byte arrived (its timers start there). */
  readonly requestBeganAt: number;
  /** downstream_rq_http1_total or downstream_rq_http2_total, as the connection's protocol. */
  readonly rqProtocolTotal: Counter;
  /** Stop (true) or resume reading `stream`'s request: the connection's reads (HTTP/1), the stream's window (HTTP/2). */
  readDisableStream(stream: object, disable: boolean): void;
  /** The timers its streams take turns arming. */
  streamTimers(): StreamTimers;
  /** Numbers the connection's streams (for traces). */
  nextStreamId(): number;
  /** `stream` (compared by identity) has its request in and not its response. */
  onRequestComplete(stream: object): void;
  /** A request refused as a protocol error (400 and close, as the codec's own errors). */
  onCodecError(error: CodecError): void;
  /**
   * `next` (an ActiveStream) takes the place of `stream` (destroyed) on the same downstream
   * stream, answering through `encoder` (Envoy's recreateStream: an internal redirect).
   */
  replaceStream(stream: object, next: RequestDecoder, encoder: ResponseEncoder): void;
  /** `stream` (compared by identity) was reset: the connection cannot continue. */
  /** `connectError`: a CONNECT (or upgrade) whose upstream connection failed or was lost (RST_STREAM CONNECT_ERROR on HTTP/2). */
  onStreamReset(stream: object, connectError: boolean): void;
}
