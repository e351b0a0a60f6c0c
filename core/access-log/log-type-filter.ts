/**
 * envoy.config.accesslog.v3.LogTypeFilter (Envoy's access_log_impl.cc, LogTypeFilter): logs
 * a record whose access log type is one of `types` (or, with `exclude`, none of them).
 *
 * polyvoy writes DownstreamEnd (an HTTP stream's end) and TcpConnectionEnd (a tcp_proxy
 * connection's end); listener access logs and local_reply_config mappers see NotSet, as
 * in Envoy. The other types are accepted and never match: polyvoy writes no such records.
 */
import type { AccessLogContext } from "./context.ts";

/** envoy.data.accesslog.v3.AccessLogType, by number. */
export const ACCESS_LOG_TYPE_NAMES = [
  "NotSet",
  "TcpUpstreamConnected",
  "TcpPeriodic",
  "TcpConnectionEnd",
  "DownstreamStart",
  "DownstreamPeriodic",
  "DownstreamEnd",
  "UpstreamPoolReady",
  "UpstreamPeriodic",
  "UpstreamEnd",
  "DownstreamTunnelSuccessfullyEstablished",
  "UdpTunnelUpstreamConnected",
  "UdpPeriodic",
  "UdpSessionEnd",
] as const;

export function compileLogTypeFilter(types: readonly string[], exclude: boolean): (ctx: AccessLogContext) => boolean {
  const wanted = new Set(types);
  return (ctx) => {
    const found = wanted.has(ctx.accessLogType ?? "NotSet");
    return exclude ? !found : found;
  };
}
