import type { HeadersWithUnderscoresAction } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";
import type { ConnectionManagerStats } from "./connection-manager-stats.ts";

/**
 * common_http_protocol_options.headers_with_underscores_action: what a request header
 * whose name contains `_` gets. ALLOW (Envoy's default) costs nothing: the config
 * carries an action only when it is another.
 *
 * Envoy's HTTP/1 codec check (ConnectionImpl::checkHeaderNameForUnderscores in
 * source/common/http/http1/codec_impl.cc), run on the parsed head: DROP_HEADER removes
 * such fields (counting each), REJECT_REQUEST refuses the request (the caller answers it
 * as a protocol error: 400 `http1.unexpected_underscore`, then the connection closes).
 * Returns false when the request is refused.
 */
export function checkHeadersWithUnderscores(
  headers: RequestHeaders,
  action: HeadersWithUnderscoresAction,
  stats: ConnectionManagerStats,
): boolean {
  let dropped: string[] | undefined;
  for (let i = 0; i < headers.size; i++) {
    const name = headers.nameAt(i);
    if (!name.includes("_")) continue;
    if (action === "REJECT_REQUEST") {
      stats.http1RequestsRejectedWithUnderscoresInHeaders.inc();
      return false;
    }
    stats.http1DroppedHeadersWithUnderscores.inc();
    (dropped ??= []).push(name);
  }
  if (dropped !== undefined) for (const name of dropped) headers.remove(name);
  return true;
}

/** Envoy's response code details for a refused request (Http1ResponseCodeDetails::InvalidUnderscore). */
export const UNEXPECTED_UNDERSCORE = "http1.unexpected_underscore";
