/**
 * Envoy's GoogleAsyncClientStats (source/common/grpc/google_async_client_impl.h): a
 * google_grpc service's calls under `grpc.<stat_prefix>.` — `streams_total`, and
 * `streams_closed_<status>` (0–16) for each call the server or the channel closed (an
 * invalid status counts as Unknown, 2). A call its caller cancels is not closed remotely:
 * nothing is counted for it.
 */
import type { Counter } from "../stats/counter.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { sanitizeStatsPrefix } from "../stats/sanitize-stats-name.ts";

/** gRPC's last status code (Status::GrpcStatus::MaximumValid, Unauthenticated). */
const MAX_STATUS = 16;
const UNKNOWN = 2;

export class GoogleGrpcStats {
  readonly streamsTotal: Counter;
  private readonly streamsClosed: Counter[] = [];

  private constructor(stats: StatsStore, prefix: string) {
    this.streamsTotal = stats.counter(`${prefix}streams_total`);
    // All seventeen exist from the start, as Envoy's constructor makes them.
    for (let i = 0; i <= MAX_STATUS; i++) this.streamsClosed.push(stats.counter(`${prefix}streams_closed_${i}`));
  }

  /** One object per stat prefix and store: the counters are held, not looked up per call. */
  static of(stats: StatsStore, statPrefix: string): GoogleGrpcStats {
    let byPrefix = CACHE.get(stats);
    if (byPrefix === undefined) CACHE.set(stats, (byPrefix = new Map()));
    let found = byPrefix.get(statPrefix);
    if (found === undefined) byPrefix.set(statPrefix, (found = new GoogleGrpcStats(stats, sanitizeStatsPrefix(`grpc.${statPrefix}.`))));
    return found;
  }

  closed(status: number): void {
    this.streamsClosed[Number.isInteger(status) && status >= 0 && status <= MAX_STATUS ? status : UNKNOWN]!.inc();
  }
}

const CACHE = new WeakMap<StatsStore, Map<string, GoogleGrpcStats>>();
