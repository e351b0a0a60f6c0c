/**
 * Access loggers and the files they write (Envoy's AccessLogManager and AccessLogFile).
 *
 * `AccessLogger.log(ctx)` formats one line and appends it to its file's buffer; nothing
 * else happens on the request path. The buffer is written (one port write) when it
 * passes 64 KiB or a second after its first line, whichever comes first — Envoy's
 * file_flush_interval (1 s) and file_flush_min_size (64 KiB) — and one write at a time.
 * If the file stops taking bytes (a stuck stdout reader, a hung disk), lines wait up to
 * `maxPendingBytes`, after which new lines are dropped and counted: memory stays bounded.
 *
 * Loggers with the same path share one file (and one buffer), as in Envoy, so two HTTP
 * connection managers logging to /dev/stdout never interleave within a line.
 *
 * `AccessLogManager.reopen()` (SIGUSR1, as Envoy's AccessLogManagerImpl::reopen) closes
 * every file and opens it again by its path, so after logrotate moves a file away new
 * lines go to a fresh file where the old one was.
 */
import type { AccessLogConfig, GrpcAccessLogConfig, OpenTelemetryAccessLogConfig } from "../config/bootstrap.ts";
import type { AppendFile, PortError, Runtime, TimerHandle } from "../port.ts";
import { latin1Encode } from "../util/latin1.ts";
import type { AccessLogContext } from "./context.ts";
import { compileFormat, type AccessLogFormatter } from "./format.ts";
import { compileAccessLogFilter, type AccessLogFilter, type FilterRandom } from "./filter.ts";
import { defaultsOnly } from "../runtime/runtime-loader.ts";

export interface AccessLogOptions {
  /** Write buffered lines at least this often (Envoy's file_flush_interval). Default 1000 ms. */
  flushIntervalMs?: number;
  /** Write as soon as this much is buffered (Envoy's file_flush_min_size). Default 64 KiB. */
  flushMinBytes?: number;
  /** Most bytes waiting per file (buffered and being written); past it lines are dropped. Default 16 MiB. */
  maxPendingBytes?: number;
}

const DEFAULTS: Required<AccessLogOptions> = {
  flushIntervalMs: 1000,
  flushMinBytes: 64 * 1024,
  maxPendingBytes: 16 * 1024 * 1024,
};

/** Counters per file, named after Envoy's access_log_file.* stats. */
export interface AccessLogFileStats {
  /** Lines accepted into the buffer. */
  writeBuffered: number;
  /** Port writes that succeeded. */
  writeCompleted: number;
  /** Port writes that failed (their lines are lost). */
  writeFailed: number;
  /** Writes started by the flush timer (rather than by size or an explicit flush). */
  flushedByTimer: number;
  /** Lines dropped because `maxPendingBytes` were already waiting. */
  linesDropped: number;
  /** Bytes waiting now: buffered plus being written (a gauge). */
  pendingBytes: number;
}

/** Thrown by `createAccessLoggers` when a log file cannot be opened: a config error, naming the path. */
export class AccessLogOpenError extends Error {
  constructor(
    readonly path: string,
    readonly error: PortError,
  ) {
    super(`cannot open access log file ${path}: ${error.code}${error.message ? ` (${error.message})` : ""}`);
    this.name = "AccessLogOpenError";
  }
}

/** One open log file: a buffer of lines (a byte string) and the port's append-only file. */
export class AccessLogFile {
  readonly stats: AccessLogFileStats = { writeBuffered: 0, writeCompleted: 0, writeFailed: 0, flushedByTimer: 0, linesDropped: 0, pendingBytes: 0 };
  private buffer = "";
  private writing: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private closed = false;
  /** The last write failed: the next failure is not reported again until one succeeds. */
  private failing = false;
  /** A reopen is under way (the new file is being opened). */
  private reopening: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private file: AppendFile,
    private readonly runtime: Runtime,
    private readonly options: Required<AccessLogOptions>,
  ) {}

  /** Buffer one line (a byte string). Never blocks, never throws. */
  append(line: string): void {
    if (this.closed || line.length === 0) return;
    if (this.stats.pendingBytes + line.length > this.options.maxPendingBytes) {
      this.stats.linesDropped++;
      return;
    }
    this.buffer += line;
    this.stats.pendingBytes += line.length;
    this.stats.writeBuffered++;
    if (this.buffer.length >= this.options.flushMinBytes) this.startWrite();
    else if (this.timer === undefined && this.writing === undefined) this.armTimer();
  }

  /**
   * Write everything buffered and wait until it is written (or failed). A file that
   * takes no bytes (a stuck stdout reader) keeps this waiting: bound it with a timeout
   * where waiting matters (shutdown).
   */
  async flush(): Promise<void> {
    this.cancelTimer();
    while (this.writing !== undefined || this.buffer.length > 0) {
      if (this.writing === undefined) this.startWrite();
      await this.writing;
    }
  }

  /** Flush, then close the file. Later lines are ignored. */
  async close(): Promise<void> {
    await this.reopening;
    await this.flush();
    this.closed = true;
    await this.file.close();
  }

  /**
   * Open the path again and write there from now on; the old file is closed once the
   * write in flight on it (if any) is done. Lines still buffered go to the new file, as
   * in Envoy (its flush thread reopens before writing what it holds). If the path
   * cannot be opened, the old file stays in use and the failure is logged. The
   * process's stdout and stderr are never reopened (port.ts, openAppendFile).
   */
  reopen(): Promise<void> {
    if (this.closed || this.path === "/dev/stdout" || this.path === "/dev/stderr") return Promise.resolve();
    return (this.reopening ??= this.runtime.openAppendFile(this.path).then(
      (next) => {
        this.reopening = undefined;
        const old = this.file;
        if (this.closed) return void next.close();
        this.file = next;
        // Closed after the writes queued on it: the write in flight finishes there.
        void old.close();
      },
      (err: PortError) => {
        this.reopening = undefined;
        this.runtime.log.write(`access log ${this.path}: cannot reopen, still writing to the file opened before: ${err?.code ?? err}\n`);
      },
    ));
  }

  private armTimer(): void {
    this.timer = this.runtime.setTimeout(() => {
      this.timer = undefined;
      if (this.writing !== undefined || this.buffer.length === 0) return;
      this.stats.flushedByTimer++;
      this.startWrite();
    }, this.options.flushIntervalMs);
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.runtime.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One write at a time: while one is in flight, lines gather for the next. */
  private startWrite(): void {
    if (this.writing !== undefined || this.buffer.length === 0) return;
    this.cancelTimer();
    const chunk = this.buffer;
    this.buffer = "";
    this.writing = this.file.write(latin1Encode(chunk)).then(
      () => {
        this.stats.writeCompleted++;
        this.failing = false;
      },
      (err: PortError) => {
        this.stats.writeFailed++;
        if (!this.failing) {
          this.failing = true;
          this.runtime.log.write(`access log ${this.path}: write failed, ${chunk.length} bytes lost: ${err?.code ?? err}\n`);
        }
      },
    ).then(() => {
      this.writing = undefined;
      this.stats.pendingBytes -= chunk.length;
      if (this.buffer.length >= this.options.flushMinBytes) this.startWrite();
      else if (this.buffer.length > 0 && this.timer === undefined) this.armTimer();
    });
  }
}

/** Where a logger's entries go instead of a file: the gRPC access loggers (grpc-access-log.ts, open-telemetry-access-log.ts). */
export interface AccessLogSink {
  log(ctx: AccessLogContext): void;
  flush(): Promise<void>;
}

/** One configured access log: its compiled format and its file (or, for http_grpc / tcp_grpc, its sink). */
export class AccessLogger {
  constructor(
    readonly name: string,
    readonly formatter: AccessLogFormatter,
    readonly file: AccessLogFile,
    /** The access log's `filter`: a stream it refuses is not logged. */
    private readonly filter?: AccessLogFilter,
    private readonly sink?: AccessLogSink,
  ) {}

  /** Log one finished stream or connection. Synchronous and cheap: formats and buffers one line. */
  log(ctx: AccessLogContext): void {
    if (this.filter !== undefined && !this.filter(ctx)) return;
    if (this.sink !== undefined) return this.sink.log(ctx);
    this.file.append(this.formatter.format(ctx));
  }

  /** Write what this logger's file has buffered. */
  flush(): Promise<void> {
    return this.sink !== undefined ? this.sink.flush() : this.file.flush();
  }
}

/** Thrown by `createAccessLoggers` for a gRPC access log where there is no server to stream from (a unit test's manager). */
export class GrpcAccessLogUnavailableError extends Error {}

/**
 * The gRPC loggers' shared streams (grpc-access-log.ts, Envoy's GrpcAccessLoggerCache): the
 * server provides it, loaded on first use so that a config without one never imports it.
 */
export interface GrpcAccessLoggerCache {
  /** A logger over the stream of `config`'s kind and common_config, made on first use. */
  sink(config: GrpcAccessLogConfig): AccessLogSink;
  /** An open_telemetry logger over the exporter of `config`, made on first use. */
  openTelemetrySink(config: OpenTelemetryAccessLogConfig): AccessLogSink;
  /** Send what every stream holds. */
  flush(): void;
  /** Send what they hold and reset the streams (shutdown). */
  close(): void;
}

/**
 * Opens access log files, once per path, and builds loggers over them. One per server:
 * `flush()` / `close()` on shutdown write out what is buffered.
 */
export class AccessLogManager {
  private readonly files = new Map<string, Promise<AccessLogFile>>();
  private readonly options: Required<AccessLogOptions>;
  /** Loads the gRPC loggers' cache; set by the server (absent: gRPC loggers are refused). */
  loadGrpcCache: (() => Promise<GrpcAccessLoggerCache>) | undefined;
  private grpcCache: Promise<GrpcAccessLoggerCache> | undefined;
  private grpcCacheLoaded: GrpcAccessLoggerCache | undefined;

  constructor(
    private readonly runtime: Runtime,
    options: AccessLogOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** The file for `path`, opened on first use. Rejects with AccessLogOpenError. */
  file(path: string): Promise<AccessLogFile> {
    let file = this.files.get(path);
    if (file === undefined) {
      file = this.runtime.openAppendFile(path).then(
        (opened) => new AccessLogFile(path, opened, this.runtime, this.options),
        (err: PortError) => {
          this.files.delete(path);
          throw new AccessLogOpenError(path, err);
        },
      );
      this.files.set(path, file);
    }
    return file;
  }

  /** Loggers for one `access_log` list, in order. Rejects with AccessLogOpenError naming the first path that cannot be opened. */
  async createAccessLoggers(configs: readonly AccessLogConfig[], runtimeValues: FilterRandom = defaultsOnly(this.runtime)): Promise<AccessLogger[]> {
    // Compile first: a bad format fails before any file is created.
    const formatters = configs.map((config) => compileFormat(config.format));
    const cache = configs.some((config) => config.grpc !== undefined || config.openTelemetry !== undefined) ? await this.grpcLoggers() : undefined;
    const sinks = configs.map((config) => (config.grpc !== undefined ? cache!.sink(config.grpc) : config.openTelemetry !== undefined ? cache!.openTelemetrySink(config.openTelemetry) : undefined));
    const files = await Promise.allSettled(configs.map((config, i) => (sinks[i] === undefined ? this.file(config.path) : Promise.resolve(undefined))));
    const failed = files.find((result) => result.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return configs.map((config, i) => {
      const filter = config.filter === undefined ? undefined : compileAccessLogFilter(config.filter, runtimeValues);
      return new AccessLogger(config.name, formatters[i]!, (files[i] as PromiseFulfilledResult<AccessLogFile>).value!, filter, sinks[i]);
    });
  }

  private grpcLoggers(): Promise<GrpcAccessLoggerCache> {
    const load = this.loadGrpcCache;
    if (load === undefined) return Promise.reject(new GrpcAccessLogUnavailableError("gRPC access loggers need a server"));
    return (this.grpcCache ??= load().then((cache) => (this.grpcCacheLoaded = cache)));
  }

  /** Every open file's counters, by path. */
  async stats(): Promise<Map<string, AccessLogFileStats>> {
    const out = new Map<string, AccessLogFileStats>();
    for (const file of await this.openFiles()) out.set(file.path, file.stats);
    return out;
  }

  /** Close and reopen every file by its path (SIGUSR1; see AccessLogFile.reopen). */
  async reopen(): Promise<void> {
    await Promise.all((await this.openFiles()).map((file) => file.reopen()));
  }

  /** Write out everything buffered, in every file (and send what the gRPC loggers hold). */
  async flush(): Promise<void> {
    this.grpcCacheLoaded?.flush();
    await Promise.all((await this.openFiles()).map((file) => file.flush()));
  }

  /**
   * Flush and close every file (shutdown; see AccessLogFile.flush about a stuck file). The gRPC
   * loggers hand what they hold to their stream, then reset it: what the stream had not
   * written yet is lost, as when Envoy exits.
   */
  async close(): Promise<void> {
    this.grpcCacheLoaded?.close();
    await Promise.all((await this.openFiles()).map((file) => file.close()));
    this.files.clear();
  }

  private async openFiles(): Promise<AccessLogFile[]> {
    const settled = await Promise.allSettled(this.files.values());
    return settled.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  }
}

/**
 * Loggers for one `access_log` list. Pass the server's AccessLogManager so that loggers
 * of several filters share files (and one flush on shutdown); without one, a manager of
 * their own is made and only `AccessLogger.flush()` reaches their files.
 */
export function createAccessLoggers(
  configs: readonly AccessLogConfig[],
  runtime: Runtime,
  manager: AccessLogManager = new AccessLogManager(runtime),
): Promise<AccessLogger[]> {
  return manager.createAccessLoggers(configs);
}
