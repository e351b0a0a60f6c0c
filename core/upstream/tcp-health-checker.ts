/**
 * Envoy's TCP health checker (source/extensions/health_checkers/tcp/health_checker_impl.cc):
 * connect, write `send` (if any), and pass when the bytes read contain every `receive`
 * payload in order — or, with no `receive`, as soon as the connection is made. A
 * connection closed by the host before that is a network failure; so is one the host
 * closes between checks when it is kept (reuse_connection), as in Envoy.
 */
import type { TcpHealthCheckConfig } from "../config/bootstrap.ts";
import type { Connection, ConnectionEvent } from "../network/connection.ts";
import { ActiveHealthCheckSession, connectForCheck, FailureType, HealthCheckerImplBase } from "./health-checker.ts";
import type { Host } from "./host.ts";
import { hexToBytes, matchPayloads } from "./payload-matcher.ts";

/** What a host may send before a check gives up matching it: bounded, unlike Envoy's buffer. */
const MAX_RECEIVE_BUFFER_BYTES = 64 * 1024;

export class TcpHealthCheckerImpl extends HealthCheckerImplBase {
  readonly type = "TCP";
  readonly send: Uint8Array;
  readonly receive: Uint8Array[];

  constructor(...args: ConstructorParameters<typeof HealthCheckerImplBase>) {
    super(...args);
    const tcp = this.config.checker as TcpHealthCheckConfig;
    this.send = hexToBytes(tcp.send);
    this.receive = tcp.receive.map(hexToBytes);
  }

  protected makeSession(host: Host): ActiveHealthCheckSession {
    return new TcpActiveHealthCheckSession(this, host);
  }
}

class TcpActiveHealthCheckSession extends ActiveHealthCheckSession {
  private connection: Connection | undefined;
  private connected = false;
  /** A check is running (from its interval until its result). */
  private checking = false;
  private received = new Uint8Array(0);

  constructor(
    private readonly checker: TcpHealthCheckerImpl,
    host: Host,
  ) {
    super(checker, host);
  }

  protected onInterval(): void {
    this.checking = true;
    this.received = new Uint8Array(0);
    if (!this.connection) {
      this.connect();
      return;
    }
    // A kept connection: check it again by sending again.
    if (this.checker.send.byteLength > 0) this.connection.write(this.checker.send.slice(), false);
  }

  private connect(): void {
    const connection = connectForCheck(
      this.checker.dispatcher.runtime,
      this.checker.cluster,
      this.host,
      (c) => this.connection === c,
      (event) => this.onConnectionEvent(event),
      (data, endStream) => this.onData(data, endStream),
    );
    this.connection = connection;
    this.connected = false;
  }

  private onConnectionEvent(event: ConnectionEvent): void {
    if (event === "Connected") {
      this.connected = true;
      // Nothing to wait for: connecting was the check, and the connection is closed once made,
      // `send` unwritten (Envoy's TcpActiveHealthCheckSession::onEvent closes with NoFlush,
      // whatever reuse_connection says): the next check connects again. Kept open, the next
      // check would wait for nothing and time out.
      if (this.checker.receive.length === 0) {
        this.closeConnection("FlushWrite");
        if (this.checking) {
          this.checking = false;
          this.handleSuccess(false);
        }
        return;
      }
      if (this.checker.send.byteLength > 0) this.connection!.write(this.checker.send.slice(), false);
      return;
    }
    this.connection = undefined;
    this.connected = false;
    this.checking = false;
    // Envoy counts every close it did not make itself, even between checks.
    this.handleFailure(FailureType.Network);
  }

  private onData(data: Uint8Array, endStream: boolean): void {
    if (this.checking && this.checker.receive.length > 0 && this.received.byteLength < MAX_RECEIVE_BUFFER_BYTES) {
      const joined = new Uint8Array(this.received.byteLength + data.byteLength);
      joined.set(this.received);
      joined.set(data, this.received.byteLength);
      this.received = joined;
      if (matchPayloads(this.checker.receive, this.received)) {
        this.received = new Uint8Array(0);
        this.succeed();
      }
    }
    if (endStream && this.connection) {
      // The host half-closed: it will say no more on this connection.
      const wasChecking = this.checking;
      this.checking = false;
      this.closeConnection();
      if (wasChecking) this.handleFailure(FailureType.Network);
    }
  }

  private succeed(): void {
    this.checking = false;
    if (!this.checker.config.reuseConnection) this.closeConnection();
    this.handleSuccess(false);
  }

  protected onTimeout(): void {
    this.checking = false;
    this.closeConnection();
  }

  protected onDestroy(): void {
    this.checking = false;
    this.closeConnection();
  }

  private closeConnection(type: "Abort" | "FlushWrite" = "Abort"): void {
    const connection = this.connection;
    if (!connection) return;
    this.connection = undefined;
    this.connected = false;
    connection.close(type);
  }
}
