import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { httpDate, isInternalAddress, sanitizeTe, stripHopByHop, uuid4 } from "../headers-util.ts";
import type { ConnectionManagerContext } from "./connection-manager-context.ts";
import type { HttpConnectionManagerConfig } from "../../config/bootstrap.ts";
import { IpList, parseIp } from "../../network/cidr-range.ts";
import { mutateXfccRequestHeader } from "./xfcc.ts";
import type { Runtime } from "../../port.ts";

/**
 * The HCM's request header rules (Envoy's `ConnectionManagerUtility::mutateRequestHeaders`):
 * hop-by-hop fields go; with use_remote_address the downstream address is appended
 * to x-forwarded-for, and the trusted client address (xff_num_trusted_hops from the
 * right) decides x-envoy-internal — external requests lose the x-envoy-* headers that
 * steer Envoy (cleanInternalHeaders' list; any other x-envoy-* goes on), and at the edge get
 * x-envoy-external-address; x-forwarded-proto is set at the edge
 * or when absent (scheme_header_transformation overrides it); add_user_agent and via
 * add theirs; x-request-id is generated when absent, or at the edge for external
 * requests unless preserve_external_request_id; x-forwarded-client-cert (xfcc.ts).
 * Returns the client address x-forwarded-for gave (Envoy's downstream remote address),
 * or "" when it is the connection's peer.
 */
export function mutateRequestHeaders(headers: RequestHeaders, cm: ConnectionManagerContext, upgrade: boolean): string {
  const config = cm.config;
  stripHopByHop(headers, upgrade);
  // Envoy sanitizes te with connection and upgrade, so an upgrade keeps its own
  // (mutateRequestHeaders: Utility::isUpgrade, which a CONNECT is not).
  if (!upgrade || headers.method === "CONNECT") sanitizeTe(headers);
  // A client's own x-envoy-internal is never believed: set below only when the request is.
  headers.remove("x-envoy-internal");
  let internal = false;
  let remoteIp = "";
  // x-forwarded-proto, when this hop sets it, is the connection's encryption (Envoy's
  // connection.ssl()), whatever scheme the request names.
  const connectionScheme = cm.connection.socket.tls !== undefined ? "https" : "http";
  /** The request's own x-forwarded-proto stands (not overwritten here): it may name the scheme below. */
  let clientProto = false;
  if (config.useRemoteAddress) {
    const remote = cm.connection.remoteAddress?.address ?? "";
    const xff = headers.getJoined("x-forwarded-for");
    // The trusted client address: xff_num_trusted_hops entries from the right of what came,
    // the peer when none is trusted (Envoy's "original IP detection" with use_remote_address).
    const trusted = config.xffNumTrustedHops;
    const hops = trusted > 0 && xff ? xff.split(",").map((a) => a.trim()) : undefined;
    // getLastAddressFromXFF: an entry that is no IP address names no client (the peer then).
    const named = hops !== undefined ? hops[hops.length - trusted] : undefined;
    const client = named !== undefined && parseIp(named) !== undefined ? named : remote;
    // A Unix socket peer is not appended (Envoy's Utility::appendXff returns for an address
    // that is not IP, source/common/http/utility.cc), nor named in x-envoy-external-address.
    const pipePeer = cm.connection.remoteAddress?.family === "unix";
    if (!config.skipXffAppend && !pipePeer) {
      // A loopback peer is named by this host's own address (mutateRequestHeaders appends
      // config.localAddress() for it), so the upstream sees an address it can reach.
      const appended = isLoopback(remote) ? localAddress(cm.server.runtime) : remote;
      headers.set("x-forwarded-for", xff ? `${xff}, ${appended}` : appended);
    }
    // Envoy's allow_trusted_address_checks: only a request that came with no x-forwarded-for
    // may be internal, whatever the trusted hops name as its client (mutateRequestHeaders'
    // "after appending, XFF must contain a single address").
    // (An empty x-forwarded-for came too: Envoy's test is whether the header is there.)
    // A pipe peer is internal only with internal_address_config.unix_sockets (Envoy's
    // InternalAddressConfig::isInternalAddress: Address::Type::Pipe → unix_sockets_).
    internal = xff === undefined && (pipePeer && client === remote ? config.internalUnixSockets === true : isInternal(config, client));
    if (client !== remote) remoteIp = client;
    // A trusted hop's x-forwarded-proto stands; with none trusted it is overwritten.
    if (config.xffNumTrustedHops === 0 || !headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", connectionScheme);
    else clientProto = true;
    if (config.appendXForwardedPort && (config.xffNumTrustedHops === 0 || !headers.has("x-forwarded-port"))) setForwardedPort(headers, cm);
    if (internal) {
      headers.set("x-envoy-internal", "true");
    } else {
      cleanInternalHeaders(headers, true);
      if (!(pipePeer && client === remote)) headers.set("x-envoy-external-address", client);
    }
  } else {
    // Not the edge: Envoy does not append to XFF, and the request is internal only when
    // XFF holds one address and it is an internal one (mutateRequestHeaders: a client's
    // own x-envoy-internal is never believed). An external request loses the x-envoy-*
    // headers that steer retries and timeouts (cleanInternalHeaders, not at the edge).
    if (!headers.has("x-forwarded-proto")) headers.set("x-forwarded-proto", connectionScheme);
    else clientProto = true;
    if (config.appendXForwardedPort && !headers.has("x-forwarded-port")) setForwardedPort(headers, cm);
    const xff = headers.getJoined("x-forwarded-for");
    const hops = xff ? xff.split(",").map((a) => a.trim()) : [];
    // getLastAddressFromXFF(xff_num_trusted_hops): the detected client may decide "internal"
    // only when it is the leftmost entry (Envoy's single_address_), i.e. XFF holds exactly
    // xff_num_trusted_hops + 1 addresses.
    internal = hops.length === config.xffNumTrustedHops + 1 && isInternal(config, hops[0]!);
    // Envoy's default original-IP detection without use_remote_address: the x-forwarded-for
    // entry xff_num_trusted_hops from the right (getLastAddressFromXFF).
    if (hops.length > config.xffNumTrustedHops) {
      const named = hops[hops.length - 1 - config.xffNumTrustedHops]!;
      if (parseIp(named) !== undefined) remoteIp = named;
    }
    if (internal) headers.set("x-envoy-internal", "true");
    else cleanInternalHeaders(headers, false);
  }
  // scheme_header_transformation.scheme_to_overwrite: both the scheme and what the upstream is told of it.
  const scheme = config.schemeToOverwrite;
  if (scheme !== undefined) {
    headers.scheme = scheme;
    headers.set("x-forwarded-proto", scheme);
  } else if (headers.protocol !== "HTTP/2" && !headers.schemeFromTarget) {
    // An HTTP/1 request names no :scheme (but in an absolute-form target): Envoy's
    // mutateRequestHeaders gives it x-forwarded-proto's when that is http or https (any
    // case; getScheme), else the connection's — so a trusted hop's x-forwarded-proto, or
    // any when use_remote_address is off, is the scheme routes, logs and an HTTP/2
    // upstream see (conn_manager_utility.cc).
    const proto = clientProto ? headers.get("x-forwarded-proto") : undefined;
    headers.scheme = proto !== undefined && isHttpScheme(proto) ? proto : connectionScheme;
  }
  if (config.addUserAgent) {
    // The server's LocalInfo (conn_manager_utility.cc: local_info.clusterName(), nodeName()).
    const cluster = cm.server.localClusterName;
    const nodeId = cm.server.localNodeId;
    headers.set("x-envoy-downstream-service-cluster", cluster);
    if (!headers.get("user-agent")) headers.set("user-agent", cluster);
    if (nodeId) headers.set("x-envoy-downstream-service-node", nodeId);
  }
  if (config.via) appendVia(headers, config.via);
  // Envoy generates an id for every edge request (unless preserve_external_request_id), and for any without one.
  const edge = config.useRemoteAddress && !internal;
  if (config.generateRequestId && (!headers.has("x-request-id") || (edge && !config.preserveExternalRequestId))) {
    headers.set("x-request-id", uuid4(cm.server.runtime));
  }
  mutateXfccRequestHeader(headers, cm.connection.socket.tls, config);
  return remoteIp;
}

/** Envoy's Utility::schemeIsValid: http or https, in any case. */
function isHttpScheme(value: string): boolean {
  return value.length === 4 ? value.toLowerCase() === "http" : value.length === 5 && value.toLowerCase() === "https";
}

/** append_x_forwarded_port: the port the request came in on (the downstream local address's). */
function setForwardedPort(headers: RequestHeaders, cm: ConnectionManagerContext): void {
  const local = cm.connection.localAddress;
  // A Unix socket has no port to name.
  if (local !== undefined && local.family !== "unix") headers.set("x-forwarded-port", String(local.port));
}

/** Network::Utility::isLoopbackAddress: 127.0.0.0/8 and ::1 (and 127/8 as a v4-mapped address). */
function isLoopback(address: string): boolean {
  if (address.startsWith("::ffff:")) address = address.slice(7);
  return address.startsWith("127.") || address === "::1";
}

/** Each runtime's local address, found once (Envoy's LocalInfo takes it at start). */
const LOCAL_ADDRESSES = new WeakMap<Runtime, string>();

/**
 * Envoy's local address (Network::Utility::getLocalAddress for IPv4, the default
 * --local-address-ip-version): the first non-loopback IPv4 interface address, else 127.0.0.1.
 */
export function localAddress(runtime: Runtime): string {
  let address = LOCAL_ADDRESSES.get(runtime);
  if (address === undefined) {
    address = "127.0.0.1";
    let list: readonly string[] = [];
    try {
      list = runtime.interfaceAddresses?.() ?? [];
    } catch {
      // Envoy logs getifaddrs' error and falls back to loopback.
    }
    for (const candidate of list) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(candidate) && !isLoopback(candidate)) {
        address = candidate;
        break;
      }
    }
    LOCAL_ADDRESSES.set(runtime, address);
  }
  return address;
}

/** Each HCM config's internal_address_config ranges, compiled on first use. */
const INTERNAL_RANGES = new WeakMap<HttpConnectionManagerConfig, IpList>();

/** InternalAddressConfig::isInternalAddress: the configured cidr_ranges, else the default test. */
function isInternal(config: HttpConnectionManagerConfig, address: string): boolean {
  const ranges = config.internalCidrRanges;
  if (ranges === undefined) return isInternalAddress(address);
  let list = INTERNAL_RANGES.get(config);
  if (list === undefined) INTERNAL_RANGES.set(config, (list = new IpList(ranges)));
  return list.contains(address);
}

/** Envoy's Utility::appendVia: `value` added to the via header, after ", " when there is one. */
function appendVia(headers: RequestHeaders | ResponseHeaders, value: string): void {
  const existing = headers.getJoined("via");
  headers.set("via", existing ? `${existing}, ${value}` : value);
}

/**
 * What Envoy removes from every external request, at the edge or not
 * (ConnectionManagerUtility::cleanInternalHeaders): only a trusted hop may steer
 * retries, timeouts and tracing. Any other x-envoy-* header a client sends goes on.
 */
const INTERNAL_ONLY_HEADERS = [
  "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names",
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-upstream-rq-timeout-alt-response",
  "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace",
  "x-envoy-ip-tags",
  "x-envoy-original-url",
  "x-envoy-hedge-on-per-try-timeout",
];

/**
 * Envoy's cleanInternalHeaders for a request that is not internal: at the edge
 * (use_remote_address) the headers a trusted hop describes itself with go too —
 * x-envoy-decorator-operation, x-envoy-downstream-service-cluster/-node — and are kept
 * from an external request behind another proxy. (x-envoy-internal is removed from every
 * request first, x-envoy-external-address overwritten at the edge: mutateRequestHeaders.
 * The route configuration's internal_only_headers, also removed there, is not supported.)
 */
function cleanInternalHeaders(headers: RequestHeaders, edge: boolean): void {
  if (edge) {
    headers.remove("x-envoy-decorator-operation");
    headers.remove("x-envoy-downstream-service-cluster");
    headers.remove("x-envoy-downstream-service-node");
  }
  for (const name of INTERNAL_ONLY_HEADERS) headers.remove(name);
}

/**
 * The HCM's response header rules: hop-by-hop fields go (a 101 keeps its upgrade
 * fields); `server` per server_header_transformation; `date` when the upstream sent none;
 * x-request-id with always_set_request_id_in_response; `via`.
 */
export function mutateResponseHeaders(headers: ResponseHeaders, cm: ConnectionManagerContext, request: RequestHeaders, upgrade: boolean): void {
  stripHopByHop(headers, upgrade);
  const te = headers.get("te");
  if (te !== undefined && te.trim().toLowerCase() !== "trailers") headers.remove("te");
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
  // Envoy's RequestIDExtension::setInResponse: the request's id, if it has one, replaces any the
  // upstream sent — with always_set_request_id_in_response, or for a request with x-envoy-force-trace.
  if (config.alwaysSetRequestIdInResponse || request.has("x-envoy-force-trace")) {
    const id = request.get("x-request-id");
    if (id !== undefined) headers.set("x-request-id", id);
  }
  if (config.via) appendVia(headers, config.via);
}
