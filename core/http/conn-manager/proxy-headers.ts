import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { httpDate, isInternalAddress, stripHopByHop, uuid4 } from "../headers-util.ts";
import type { ConnectionManagerContext } from "./connection-manager-context.ts";

/**
 * The HCM's request header rules (Envoy's `ConnectionManagerUtility::mutateRequestHeaders`):
 * hop-by-hop fields go; with use_remote_address the downstream address is appended
 * to x-forwarded-for, and the trusted client address (xff_num_trusted_hops from the
 * right) decides x-envoy-internal — external requests lose x-envoy-* headers, which
 * only trusted callers may set, and get x-envoy-external-address; x-forwarded-proto is set at the edge
 * or when absent; x-request-id is generated when absent, or at the edge for
 * external requests.
 */
export function mutateRequestHeaders(headers: RequestHeaders, cm: ConnectionManagerContext, upgrade: boolean): void {
  const config = cm.config;
  stripHopByHop(headers, upgrade);
  let internal = false;
  if (config.useRemoteAddress) {
    const remote = cm.connection.remoteAddress?.address ?? "";
    const xff = headers.getJoined("x-forwarded-for");
    const forwarded = xff ? `${xff}, ${remote}` : remote;
    headers.set("x-forwarded-for", forwarded);
    // The trusted client address: skip xff_num_trusted_hops entries from the right
    // (Envoy's "original IP detection" with use_remote_address).
    const hops = forwarded.split(",").map((a) => a.trim());
    const client = hops[Math.max(0, hops.length - 1 - config.xffNumTrustedHops)] ?? remote;
    internal = isInternalAddress(client);
    headers.set("x-forwarded-proto", headers.scheme);
    if (internal) {
      headers.set("x-envoy-internal", "true");
    } else {
      sanitizeEnvoyHeaders(headers);
      headers.set("x-envoy-external-address", client);
    }
  } else {
    // Not the edge: trust what the previous hop said; Envoy does not append to XFF then.
    if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", headers.scheme);
    internal = headers.get("x-envoy-internal") === "true";
  }
  if (config.generateRequestId && (!headers.has("x-request-id") || (config.useRemoteAddress && !internal))) {
    headers.set("x-request-id", uuid4(cm.server.runtime));
  }
}

/** x-envoy-* request headers an external client may not set (Envoy strips them at the edge). */
function sanitizeEnvoyHeaders(headers: RequestHeaders): void {
  const names: string[] = [];
  headers.forEach((name) => {
    if (name.startsWith("x-envoy-")) names.push(name);
  });
  for (const name of names) headers.remove(name);
}

/**
 * The HCM's response header rules: hop-by-hop fields go (a 101 keeps its upgrade
 * fields); `server` per server_header_transformation; `date` when the upstream sent none.
 */
export function mutateResponseHeaders(
  headers: ResponseHeaders,
  cm: ConnectionManagerContext,
  _request: RequestHeaders,
  upgrade: boolean,
): void {
  stripHopByHop(headers, upgrade);
  const config = cm.config;
  switch (config.serverHeaderTransformation) {
    case "OVERWRITE":
      headers.set("server", config.serverName);
      break;
    case "APPEND_IF_ABSENT":
      if (!headers.has("server")) headers.set("server", config.serverName);
      break;
    case "PASS_THROUGH":
      break;
  }
  if (!headers.has("date")) headers.set("date", httpDate(cm.server.runtime.wallClock()));
}
