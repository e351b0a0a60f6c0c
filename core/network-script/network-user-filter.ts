/**
 * A user's network filter in a listener's chain (network-filter-api.ts): the ReadFilter
 * that drives its callbacks, and its write filter on the connection. A throw or a
 * rejection closes that connection, is logged and counted (network_script.<name>.errors).
 */
import type { Logger } from "../log.ts";
import type { SocketAddress } from "../port.ts";
import type { Counter } from "../stats/counter.ts";
import { utf8ByteString } from "../access-log/byte-string.ts";
import { latin1Encode } from "../util/latin1.ts";
import type { HttpFilterLog } from "../http/user-filter/http-filter-api.ts";
import type { HttpFilterStats } from "../http/user-filter/user-filter-stats.ts";
import type { Connection } from "../network/connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../network/filter.ts";
import type { ReadBuffer } from "../network/read-buffer.ts";
import type { NetworkFilterConnection, NetworkFilterDefinition, NetworkFilterHandlers } from "./network-filter-api.ts";

/** What one network Script config shares across its connections. */
export class NetworkUserFilterConfig {
  readonly log: HttpFilterLog;

  constructor(
    readonly name: string,
    readonly definition: NetworkFilterDefinition,
    readonly config: unknown,
    readonly errors: Counter,
    readonly serverLog: Logger,
    readonly stats: HttpFilterStats,
  ) {
    const prefix = `${name}: `;
    this.log = {
      debug: (message) => serverLog.debug(prefix + message),
      info: (message) => serverLog.info(prefix + message),
      warn: (message) => serverLog.warn(prefix + message),
      error: (message) => serverLog.error(prefix + message),
    };
  }
}

const NO_HANDLERS: NetworkFilterHandlers = {};

export class NetworkUserFilter implements ReadFilter, NetworkFilterConnection {
  private callbacks: ReadFilterCallbacks | undefined;
  private handlers: NetworkFilterHandlers = NO_HANDLERS;
  private pending = false;
  private failed = false;
  /** The read buffer, when bytes came while a promise was pending: given to onData after it. */
  private held: ReadBuffer | undefined;

  constructor(
    private readonly shared: NetworkUserFilterConfig,
    private readonly connection: Connection,
  ) {
    try {
      const handlers = shared.definition.create(shared.config, this);
      if (typeof handlers !== "object" || handlers === null) throw new TypeError("create() did not return an object of callbacks");
      this.handlers = handlers;
    } catch (err) {
      // The connection is not running yet: it closes at onNewConnection.
      this.failed = true;
      this.logFailure(err, "create");
    }
    if (this.handlers.onWrite !== undefined) connection.addWriteFilter((data, endStream) => this.onWrite(data, endStream));
    if (this.handlers.onClose !== undefined) {
      connection.addConnectionCallbacks({
        onEvent: (event) => {
          if (event !== "Connected") this.call("onClose", () => this.handlers.onClose!(this));
        },
        onAboveWriteBufferHighWatermark() {},
        onBelowWriteBufferLowWatermark() {},
      });
    }
  }

  // ---- ReadFilter ----

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  onNewConnection(): FilterStatus {
    if (this.failed) {
      this.shared.errors.inc();
      this.close();
      return FilterStatus.StopIteration;
    }
    const handler = this.handlers.onNewConnection;
    if (handler === undefined) return FilterStatus.Continue;
    return this.status(() => handler.call(this.handlers, this), "onNewConnection");
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    // While a promise is pending the bytes wait in the buffer; onData gets them after it.
    if (this.pending || this.failed) {
      if (this.pending) this.held = buffer;
      return FilterStatus.StopIteration;
    }
    const handler = this.handlers.onData;
    if (handler === undefined) return FilterStatus.Continue;
    return this.status(() => handler.call(this.handlers, buffer.toBytes(), endStream, this), "onData");
  }

  private onWrite(data: Uint8Array, endStream: boolean): boolean {
    if (this.failed) return false;
    let result: unknown;
    try {
      result = this.handlers.onWrite!.call(this.handlers, data, endStream, this);
    } catch (err) {
      this.fail(err, "onWrite");
      return false;
    }
    if (result === undefined || result === FilterStatus.Continue) return true;
    if (result === FilterStatus.StopIteration) return false;
    this.fail(new TypeError(`returned ${String(result)}, not 0 (Continue) or 1 (StopIteration)`), "onWrite");
    return false;
  }

  // ---- NetworkFilterConnection ----

  get filterName(): string {
    return this.shared.name;
  }
  get remoteAddress(): SocketAddress | undefined {
    return this.connection.remoteAddress;
  }
  get localAddress(): SocketAddress | undefined {
    return this.connection.localAddress;
  }
  get requestedServerName(): string {
    return this.connection.requestedServerName;
  }
  get log(): HttpFilterLog {
    return this.shared.log;
  }
  get stats(): HttpFilterStats {
    return this.shared.stats;
  }

  write(data: Uint8Array | string, endStream = false): void {
    const bytes = typeof data === "string" ? latin1Encode(utf8ByteString(data)) : data;
    this.connection.writeFromFilter(bytes, endStream);
  }

  close(): void {
    this.connection.close("FlushWrite");
  }

  continueReading(): void {
    if (!this.pending && !this.failed && !this.connection.isClosed) this.callbacks?.continueReading();
  }

  // ---- driving the script ----

  private status(run: () => unknown, where: string): FilterStatus {
    let result: unknown;
    try {
      result = run();
    } catch (err) {
      this.fail(err, where);
      return FilterStatus.StopIteration;
    }
    if (typeof result === "object" && result !== null && typeof (result as PromiseLike<unknown>).then === "function") {
      this.pending = true;
      (result as PromiseLike<unknown>).then(
        (status) => {
          this.pending = false;
          if (this.connection.isClosed || this.failed) return;
          if (status === undefined || status === FilterStatus.Continue) this.resume();
          else if (status !== FilterStatus.StopIteration) this.fail(new TypeError(`resolved to ${String(status)}, not 0 (Continue) or 1 (StopIteration)`), where);
        },
        (err: unknown) => {
          this.pending = false;
          this.fail(err, where);
        },
      );
      return FilterStatus.StopIteration;
    }
    if (result === undefined || result === FilterStatus.Continue) return FilterStatus.Continue;
    if (result === FilterStatus.StopIteration) return FilterStatus.StopIteration;
    this.fail(new TypeError(`returned ${String(result)}, not 0 (Continue) or 1 (StopIteration)`), where);
    return FilterStatus.StopIteration;
  }

  /** A promise resolved to Continue: bytes held meanwhile go to onData first, then the chain goes on. */
  private resume(): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined && held.length > 0 && this.handlers.onData !== undefined) {
      const status = this.onData(held, false);
      if (status === FilterStatus.StopIteration) return;
    }
    this.callbacks?.continueReading();
  }

  private call(where: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.logFailure(err, where);
    }
  }

  /** The script failed: the connection closes, logged and counted once. */
  private fail(err: unknown, where: string): void {
    if (this.failed) return;
    this.failed = true;
    this.shared.errors.inc();
    this.logFailure(err, where);
    this.connection.close("FlushWrite");
  }

  private logFailure(err: unknown, where: string): void {
    const log = this.shared.serverLog;
    log.error(`${this.shared.name}: ${where} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    if (err instanceof Error && err.stack !== undefined) log.debug(`${this.shared.name}: ${err.stack}`);
  }
}
