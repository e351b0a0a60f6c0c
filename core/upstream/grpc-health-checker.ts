/**
 * Envoy's gRPC health checker (source/extensions/health_checkers/grpc/health_checker_impl.cc,
 * GrpcHealthCheckerImpl): per host, one HTTP/2 connection of its own, kept across checks
 * (unless reuse_connection is false), each check a stream calling
 * grpc.health.v1.Health/Check with `service_name`. The host passes only on grpc-status 0
 * with a response whose status is SERVING; NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN, any
 * other grpc-status, a non-200 answer or a malformed one fail it (an active failure); a
 * reset stream or lost connection is a network failure.
 */
import type { GrpcHealthCheckConfig } from "../config/bootstrap.ts";
import { Http2CodecStats } from "../http2/codec-stats.ts";
import { Http2ConnectionImpl, type Http2ConnectionCallbacks, type Http2ConnectionError } from "../http2/connection.ts";
import { Http2ErrorCode } from "../http2/frame.ts";
import type { Http2Stream, Http2StreamCallbacks } from "../http2/stream.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GrpcFrameDecoder, type GrpcFrame } from "../http/grpc-frame.ts";
import { GrpcStatus, httpToGrpcStatus, isGrpcContentType, parseGrpcStatus, toGrpcTimeout } from "../http/grpc-common.ts";
import { RequestHeaders } from "../http/message.ts";
import { applyHeaderValueOptions, type HeaderFormatterSource } from "../http/route/custom-headers.ts";
import type { Connection, ConnectionEvent } from "../network/connection.ts";
import { decodeHealthCheckResponse, encodeHealthCheckRequest, ServingStatus } from "./grpc-health-proto.ts";
import { ActiveHealthCheckSession, connectForCheck, FailureType, HealthCheckerImplBase } from "./health-checker.ts";
import type { Host } from "./host.ts";

/** Envoy's user-agent for health checks (Headers::UserAgentValues.EnvoyHealthChecker). */
const USER_AGENT = "Envoy/HC";
const CHECK_PATH = "/grpc.health.v1.Health/Check";
/** A HealthCheckResponse is a few bytes: a longer message is refused rather than held. */
const MAX_RESPONSE_FRAME = 64 * 1024;

/** initial_metadata holds no %…% commands (refused at load: health-check-schema.ts), so nothing asks this. */
const NO_FORMATTING: HeaderFormatterSource = {
  headerFormatterContext(): never {
    throw new Error("a health check header has no stream to format from");
  },
};

export class GrpcHealthCheckerImpl extends HealthCheckerImplBase {
  readonly type = "GRPC";
  /** The request's gRPC frame: the same for every check. */
  readonly requestFrame: Uint8Array;
  /** The health-check connections' HTTP/2 stats (`cluster.<name>.http2.*`, as Envoy's codec clients count there). */
  readonly http2Stats: Http2CodecStats;

  get grpc(): GrpcHealthCheckConfig {
    return this.config.checker as GrpcHealthCheckConfig;
  }

  constructor(...args: ConstructorParameters<typeof HealthCheckerImplBase>) {
    super(...args);
    this.requestFrame = encodeGrpcFrame(GRPC_FH_DEFAULT, encodeHealthCheckRequest(this.grpc.serviceName));
    this.http2Stats = new Http2CodecStats(this.cluster.statsStore.scope(`cluster.${this.cluster.name}.`));
  }

  protected makeSession(host: Host): ActiveHealthCheckSession {
    return new GrpcActiveHealthCheckSession(this, host);
  }
}

class GrpcActiveHealthCheckSession extends ActiveHealthCheckSession implements Http2StreamCallbacks, Http2ConnectionCallbacks {
  private connection: Connection | undefined;
  private client: Http2ConnectionImpl | undefined;
  private connected = false;
  /** A check waits for the connection to be made. */
  private requestPending = false;
  private stream: Http2Stream | undefined;
  /** We reset the stream ourselves (timeout, bad answer): its reset is no failure of its own. */
  private expectReset = false;
  /** The host said GOAWAY NO_ERROR during a check: it may finish, then the connection goes. */
  private receivedNoErrorGoAway = false;
  private decoder = new GrpcFrameDecoder(MAX_RESPONSE_FRAME);
  /** The HealthCheckResponse's status; undefined until one arrived. */
  private servingStatus: number | undefined;

  constructor(
    private readonly checker: GrpcHealthCheckerImpl,
    host: Host,
  ) {
    super(checker, host);
  }

  protected onInterval(): void {
    if (this.client === undefined) this.connect();
    this.requestPending = true;
    if (this.connected) this.sendRequest();
  }

  private connect(): void {
    const runtime = this.checker.dispatcher.runtime;
    const connection = connectForCheck(
      runtime,
      this.checker.cluster,
      this.host,
      (c) => this.connection === c,
      (event) => this.onConnectionEvent(event),
      (data) => this.client?.dispatch(data),
    );
    this.connection = connection;
    this.connected = false;
    const sink = {
      write: (data: Uint8Array, endStream: boolean) => {
        // Everything written before has left: the outbound flood counts restart (as the server codec does).
        if (connection.writeBufferedBytes === 0) this.client?.onWriteDrained();
        connection.write(data, endStream);
      },
    };
    this.client = new Http2ConnectionImpl("client", sink, this, this.checker.http2Stats, {}, () => runtime.now());
  }

  private onConnectionEvent(event: ConnectionEvent): void {
    if (event === "Connected") {
      this.connected = true;
      this.client!.start();
      if (this.requestPending) this.sendRequest();
      return;
    }
    // Closed: a check in flight is reset (a network failure); between checks the next one connects again.
    this.dropConnection(false);
  }

  private sendRequest(): void {
    this.requestPending = false;
    this.resetState();
    const stream = this.client!.newStream(this);
    if (stream === undefined) {
      // The connection is going away: the check fails, the next one connects anew.
      this.dropConnection(true);
      this.handleFailure(FailureType.Network);
      return;
    }
    this.stream = stream;
    const grpc = this.checker.grpc;
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = CHECK_PATH;
    // Envoy's getHostname: the endpoint's health_check_config.hostname, the configured authority, the cluster's name.
    const hostname = this.host.hostnameForHealthChecks;
    headers.authority = hostname !== "" ? hostname : grpc.authority !== "" ? grpc.authority : this.checker.cluster.name;
    headers.add("content-type", "application/grpc");
    headers.add("te", "trailers");
    headers.add("user-agent", USER_AGENT);
    applyHeaderValueOptions(headers, NO_REMOVALS, grpc.initialMetadata, NO_FORMATTING, undefined);
    headers.set("grpc-timeout", toGrpcTimeout(this.checker.config.timeoutMs));
    const fields = [":method", "POST", ":scheme", "http", ":path", CHECK_PATH, ":authority", headers.authority];
    for (const [name, value] of headers.entries()) fields.push(name, value);
    stream.sendHeaders(fields, false);
    stream.sendData(this.checker.requestFrame, true);
  }

  // ---- Http2StreamCallbacks: the answer ----

  onHeaders(fields: string[], endStream: boolean): void {
    const status = Number(field(fields, ":status"));
    if (status >= 100 && status < 200) return; // interim
    if (status !== 200) {
      // grpc's http-grpc-status-mapping.md: a grpc-status, when there is one, says it.
      const grpcStatus = endStream ? parseGrpcStatus(field(fields, "grpc-status")) : undefined;
      return this.onRpcComplete(grpcStatus ?? httpToGrpcStatus(status), endStream);
    }
    // Envoy's isGrpcResponseHeaders: a gRPC content type, or for a trailers-only answer (grpc-go's
    // for a service it does not know) a grpc-status.
    if (!endStream) {
      if (!isGrpcContentType(field(fields, "content-type"))) this.onRpcComplete(GrpcStatus.Internal, false);
      return;
    }
    this.onRpcComplete(parseGrpcStatus(field(fields, "grpc-status")) ?? GrpcStatus.Internal, true);
  }

  onData(data: Uint8Array, endStream: boolean): void {
    if (this.stream === undefined) return;
    if (endStream) return this.onRpcComplete(GrpcStatus.Internal, true); // "unexpected stream end": no trailers
    const frames: GrpcFrame[] | undefined = this.decoder.decode(data);
    if (frames === undefined) return this.onRpcComplete(GrpcStatus.Internal, false); // "gRPC wire protocol decode error"
    for (const frame of frames) {
      if (frame.data.byteLength === 0) continue;
      // Check is unary: one message only.
      if (this.servingStatus !== undefined) return this.onRpcComplete(GrpcStatus.Internal, false);
      const status = frame.flags === GRPC_FH_DEFAULT ? decodeHealthCheckResponse(frame.data) : undefined;
      if (status === undefined) return this.onRpcComplete(GrpcStatus.Internal, false); // "invalid grpc.health.v1 RPC payload"
      this.servingStatus = status;
    }
  }

  onTrailers(fields: string[]): void {
    if (this.stream === undefined) return;
    this.onRpcComplete(parseGrpcStatus(field(fields, "grpc-status")) ?? GrpcStatus.Internal, true);
  }

  onReset(): void {
    const expected = this.expectReset;
    const goAway = this.receivedNoErrorGoAway;
    const checking = this.stream !== undefined;
    this.resetState();
    if (expected || !checking) return;
    if (goAway || !this.checker.config.reuseConnection) this.dropConnection(true);
    this.handleFailure(FailureType.Network);
  }

  // ---- Http2ConnectionCallbacks ----

  onGoAway(_lastStreamId: number, code: number): void {
    if (this.stream !== undefined && code === Http2ErrorCode.NO_ERROR) {
      this.receivedNoErrorGoAway = true;
      return;
    }
    if (this.stream !== undefined) {
      this.expectReset = true;
      this.stream.reset(Http2ErrorCode.CANCEL);
      this.resetState();
      this.handleFailure(FailureType.Network);
    }
    this.dropConnection(true);
  }

  onConnectionError(_error: Http2ConnectionError): void {
    // Every stream was reset already (onReset counted a check in flight): the connection is done.
    this.dropConnection(true);
  }

  /** Envoy's onRpcComplete: the verdict, then the stream and connection tidied. */
  private onRpcComplete(grpcStatus: number, endStream: boolean): void {
    const passed = grpcStatus === GrpcStatus.Ok && this.servingStatus === ServingStatus.Serving;
    const goAway = this.receivedNoErrorGoAway;
    const stream = this.stream;
    if (endStream) {
      this.resetState();
    } else if (stream !== undefined) {
      // Given up before the stream ended (bad content type, payload, too many messages).
      this.expectReset = true;
      stream.reset(Http2ErrorCode.CANCEL);
      this.resetState();
    }
    if (!this.checker.config.reuseConnection || goAway) this.dropConnection(true);
    if (passed) this.handleSuccess(false);
    else this.handleFailure(FailureType.Active);
  }

  private resetState(): void {
    this.expectReset = false;
    this.stream = undefined;
    this.decoder = new GrpcFrameDecoder(MAX_RESPONSE_FRAME);
    this.servingStatus = undefined;
    this.receivedNoErrorGoAway = false;
  }

  protected onTimeout(): void {
    this.requestPending = false;
    this.expectReset = true;
    const stream = this.stream;
    if (this.receivedNoErrorGoAway || !this.checker.config.reuseConnection || stream === undefined) this.dropConnection(true);
    else stream.reset(Http2ErrorCode.CANCEL);
    this.resetState();
  }

  protected onDestroy(): void {
    this.requestPending = false;
    this.expectReset = true;
    this.dropConnection(true);
    this.resetState();
  }

  /**
   * Forget the connection (`close`: and close it). A stream still open is reset by the
   * codec's destroy, which reaches onReset: a failure unless expectReset says we chose it.
   */
  private dropConnection(close: boolean): void {
    const connection = this.connection;
    const client = this.client;
    if (connection === undefined) return;
    this.connection = undefined;
    this.client = undefined;
    this.connected = false;
    const pending = this.requestPending;
    this.requestPending = false;
    client?.destroy();
    if (close) connection.close("Abort");
    // The connection never came up for a check that waited on it.
    if (pending && this.stream === undefined && !this.expectReset) this.handleFailure(FailureType.Network);
  }
}

const NO_REMOVALS: readonly string[] = [];

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}
