/**
 * One provider's remote_jwks: the keys fetched through its cluster and cached for
 * cache_duration (Envoy's JwksCache / JwksData, source/extensions/filters/http/jwt_authn/
 * jwks_cache.cc), and, with async_fetch, fetched ahead (Envoy's JwksAsyncFetcher,
 * jwks_async_fetcher.cc): at start-up — the listener waits for that first fetch unless
 * fast_listener — then again 5 s before the keys expire, or failed_refetch_duration after
 * a failed fetch.
 *
 * A request whose keys are missing or expired waits for a fetch, as Envoy's authenticator
 * does (bounded by the fetch's timeout and retries). Unlike Envoy, where each waiting
 * request starts its own fetch, requests that arrive while a fetch is in flight wait for
 * that one: one fetch, one count in jwks_fetch_success / jwks_fetch_failed.
 */
import type { JwtJwk, RemoteJwksConfig } from "../../../config/bootstrap.ts";
import type { Timer } from "../../../event/timers.ts";
import type { ServerContext } from "../../../server-context.ts";
import type { Counter } from "../../../stats/counter.ts";
import type { AsyncClient } from "../../async-client.ts";
import { JwksFetcher, type JwksReceiver } from "./jwks-fetcher.ts";

/** Envoy's RefetchBeforeExpiredSec: an async fetch comes this long before the keys expire. */
const REFETCH_BEFORE_EXPIRED_MS = 5000;
/** The most requests that wait for one fetch; more are answered as a failed fetch. */
export const MAX_JWKS_WAITERS = 4096;

export interface JwksFetchStats {
  readonly success: Counter;
  readonly failed: Counter;
}

type Waiter = (keys: JwtJwk[] | undefined) => void;

export class RemoteJwks implements JwksReceiver {
  private keys: JwtJwk[] | undefined;
  private expiresAt = 0;
  private fetching = false;
  private waiters: Waiter[] = [];
  private readonly fetcher: JwksFetcher;
  private refetchTimer: Timer | undefined;
  /** stop() was called: a fetch in flight settles its waiters but arms no refetch. */
  private stopped = false;
  /** Resolves after the first async fetch (for the listener to wait on). */
  private firstFetch: (() => void) | undefined;

  constructor(
    private readonly server: ServerContext,
    client: AsyncClient,
    private readonly config: RemoteJwksConfig,
    private readonly stats: JwksFetchStats,
  ) {
    this.fetcher = new JwksFetcher(server, client, config);
  }

  /** The cached keys, if there are some that have not expired. */
  cached(): JwtJwk[] | undefined {
    if (this.keys === undefined || this.server.runtime.now() >= this.expiresAt) return undefined;
    return this.keys;
  }

  /** Fetch now (or join the fetch in flight): the keys, or undefined when the fetch failed. */
  fetch(): Promise<JwtJwk[] | undefined> {
    if (this.waiters.length >= MAX_JWKS_WAITERS) return Promise.resolve(undefined);
    const waiting = new Promise<JwtJwk[] | undefined>((resolve) => this.waiters.push(resolve));
    this.start();
    return waiting;
  }

  /**
   * async_fetch: the first fetch now, the next ones on a timer. Returns what the listener
   * waits for (the first fetch, success or failure), or undefined for a fast_listener.
   */
  startAsyncFetch(): Promise<void> | undefined {
    const async = this.config.asyncFetch;
    if (async === undefined || this.stopped) return undefined;
    this.refetchTimer = this.server.timers.create(() => this.start());
    const waiting = async.fastListener ? undefined : new Promise<void>((resolve) => (this.firstFetch = resolve));
    this.start();
    return waiting;
  }

  /** async_fetch ends (its listener is gone): no refetch from now on. */
  stop(): void {
    this.stopped = true;
    this.refetchTimer?.disable();
    this.refetchTimer = undefined;
  }

  onJwksSuccess(keys: JwtJwk[]): void {
    this.fetching = false;
    this.stats.success.inc();
    this.keys = keys;
    this.expiresAt = this.server.runtime.now() + this.config.cacheDurationMs;
    const duration = this.config.cacheDurationMs;
    if (!this.stopped) this.refetchTimer?.enable(duration > REFETCH_BEFORE_EXPIRED_MS ? duration - REFETCH_BEFORE_EXPIRED_MS : duration);
    this.settle(keys);
  }

  onJwksError(): void {
    this.fetching = false;
    this.stats.failed.inc();
    this.server.log.warn(`jwt_authn: Jwks fetching url=${this.config.uri}: failed`);
    if (!this.stopped) this.refetchTimer?.enable(this.config.asyncFetch!.failedRefetchDurationMs);
    this.settle(undefined);
  }

  private start(): void {
    if (this.fetching) return;
    this.fetching = true;
    this.fetcher.fetch(this);
  }

  private settle(keys: JwtJwk[] | undefined): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve(keys);
    const first = this.firstFetch;
    this.firstFetch = undefined;
    first?.();
  }
}
