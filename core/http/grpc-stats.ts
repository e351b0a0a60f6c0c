/**
 * The per-method gRPC stats the grpc_web and grpc_http1_bridge filters keep (Envoy's
 * Grpc::Context::chargeStat, source/common/grpc/context_impl.cc):
 * `cluster.<cluster>.<protocol>.<service>.<method>.<grpc-status>` (0–16, else `other`),
 * `.success` or `.failure`, and `.total`, once per stream.
 */
import type { StatsStore } from "../stats/stats-store.ts";
import { sanitizeStatsPrefix } from "../stats/sanitize-stats-name.ts";

const MAX_KNOWN_STATUS = 16;

export class GrpcRequestStats {
  private charged = false;

  private constructor(
    private readonly stats: StatsStore,
    private readonly prefix: string,
  ) {}

  /**
   * Envoy's resolveDynamicServiceAndMethod on `path` ("/<service>/<method>", query ignored),
   * for a route to one named cluster; undefined otherwise (nothing is counted).
   */
  static forRequest(stats: StatsStore, cluster: string, path: string, protocol: "grpc" | "grpc-web"): GrpcRequestStats | undefined {
    if (cluster === "") return undefined;
    const query = path.indexOf("?");
    const parts = (query < 0 ? path : path.slice(0, query)).split("/");
    if (parts.length !== 3 || parts[0] !== "" || parts[1] === "" || parts[2] === "") return undefined;
    return new GrpcRequestStats(stats, `${sanitizeStatsPrefix(`cluster.${cluster}.`)}${protocol}.${parts[1]}.${parts[2]}.`);
  }

  /** The grpc-status of a trailers-only answer's headers, or of the trailers; nothing without one. */
  charge(grpcStatus: string | undefined): void {
    if (this.charged || grpcStatus === undefined) return;
    this.charged = true;
    const n = /^\d+$/.test(grpcStatus) ? Number(grpcStatus) : -1;
    this.stats.counter(this.prefix + (n >= 0 && n <= MAX_KNOWN_STATUS ? String(n) : "other")).inc();
    this.stats.counter(this.prefix + (grpcStatus === "0" ? "success" : "failure")).inc();
    this.stats.counter(this.prefix + "total").inc();
  }
}
