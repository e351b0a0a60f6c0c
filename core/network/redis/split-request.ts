import type { Runtime } from "../../port.ts";
import type { RedisPoolRequest, RedisRequestCallbacks } from "./redis-client.ts";
import type { RedisCommandStats } from "./redis-proxy-stats.ts";
import type { RedisTransaction } from "./redis-transaction.ts";
import { respError, type RespValue } from "./resp-value.ts";

/**
 * Envoy's error replies (redis_proxy/command_splitter_impl.h, Response) and the filter's
 * (proxy_filter.cc), word for word.
 */
export const RedisResponse = {
  OK: "OK",
  InvalidRequest: "invalid request",
  NoUpstreamHost: "no upstream host",
  UpstreamFailure: "upstream failure",
  UpstreamProtocolError: "upstream protocol error",
  AuthRequiredError: "NOAUTH Authentication required.",
} as const;

/** What a request tells the downstream connection (Envoy's SplitCallbacks). */
export interface SplitCallbacks {
  onResponse(value: RespValue): void;
  connectionAllowed(): boolean;
  onAuth(password: string, username?: string): void;
  onQuit(): void;
  /** The connection's transaction (Envoy's SplitCallbacks::transaction). */
  transaction(): RedisTransaction;
}

/** A request still waiting for upstream replies (Envoy's SplitRequest). */
export interface SplitRequest {
  cancel(): void;
}

export function wrongNumberOfArguments(commandName: string, stats: RedisCommandStats, callbacks: SplitCallbacks): undefined {
  stats.error.inc();
  callbacks.onResponse(respError(`wrong number of arguments for '${commandName}' command`));
  return undefined;
}

/** A command's success/error and latency, counted once it is answered (Envoy's SplitRequestBase::updateStats). */
export class CommandTiming {
  private readonly started: number;
  constructor(
    readonly stats: RedisCommandStats,
    private readonly runtime: Runtime,
    private readonly micros: boolean,
  ) {
    this.started = runtime.now();
  }

  complete(success: boolean): void {
    (success ? this.stats.success : this.stats.error).inc();
    const elapsed = this.runtime.now() - this.started;
    this.stats.latency.record(this.micros ? Math.round(elapsed * 1000) : Math.round(elapsed));
  }
}

/** One request, one host (Envoy's SingleServerRequest): its reply, whatever it is, is a success. */
export class SingleServerRequest implements SplitRequest, RedisRequestCallbacks {
  handle: RedisPoolRequest | undefined;
  constructor(
    private readonly timing: CommandTiming,
    private readonly callbacks: SplitCallbacks,
  ) {}

  onResponse(value: RespValue): void {
    this.handle = undefined;
    this.timing.complete(true);
    this.callbacks.onResponse(value);
  }

  onFailure(): void {
    this.handle = undefined;
    this.timing.complete(false);
    this.callbacks.onResponse(respError(RedisResponse.UpstreamFailure));
  }

  cancel(): void {
    this.handle?.cancel();
    this.handle = undefined;
  }
}
