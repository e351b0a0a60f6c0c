import type { RequestHeaders } from "../message.ts";

/**
 * strip_any_host_port / strip_matching_host_port (Envoy's
 * ConnectionManagerUtility::maybeNormalizeHost and HeaderUtility::stripPortFromHost):
 * the port goes from the authority before routing, so the virtual host, the route and
 * the upstream see the host alone. `listenerPort` given: only that port is stripped.
 * A CONNECT keeps its port (RFC 9110 §9.3.6: its target is host:port).
 */
export function stripPortFromHost(headers: RequestHeaders, listenerPort: number | undefined): void {
  if (headers.method === "CONNECT") return;
  const host = headers.authority;
  const start = portStart(host);
  if (start < 0) return;
  const digits = host.slice(start + 1);
  // absl::SimpleAtoi into a uint32: digits only (a sign or blank is no port).
  if (!/^\d{1,10}$/.test(digits)) return;
  const port = Number(digits);
  if (port > 0xffff_ffff) return;
  if (listenerPort !== undefined && port !== listenerPort) return;
  headers.authority = host.slice(0, start);
}

/** HeaderUtility::getPortStart: the last ":" unless inside an IPv6 literal's brackets (RFC 3986 §3.2.2). */
function portStart(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return -1;
  const bracket = host.lastIndexOf("]");
  return bracket < 0 || bracket < colon ? colon : -1;
}
