// `polyvoy compare`: what to measure in the user's own config. Reads the bootstrap (YAML or
// JSON) only as far as the comparison needs: the HTTP listeners, the routes that answer
// without an upstream (direct responses: the default targets), and, for `--origin builtin`,
// the clusters to point at the bench's origin. Whether the config is valid is for polyvoy
// itself to say, on each runtime: a runtime that refuses it is reported with its reason.
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const HCM = "envoy.filters.network.http_connection_manager";
const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
/** Default targets taken from the config: enough to see a difference, few enough to stay short. */
const MAX_DEFAULT_TARGETS = 4;

/** The parsed bootstrap, or an Error whose message says what is wrong with the file. */
export function readBootstrap(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return new Error(`cannot read ${path}: ${error.code ?? error.message}`);
  }
  try {
    const doc = parse(text);
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return new Error(`${path} holds no Envoy bootstrap (not a mapping)`);
    return doc;
  } catch (error) {
    return new Error(`${path} is not YAML or JSON: ${error.message.split("\n")[0]}`);
  }
}

const isHcm = (filter) => filter?.name === HCM || String(filter?.typed_config?.["@type"] ?? "").endsWith(HCM_TYPE);

/** 0.0.0.0 and :: accept on loopback too; the load generator connects there. */
function connectAddress(address) {
  if (address === undefined || address === "0.0.0.0" || address === "") return "127.0.0.1";
  if (address === "::") return "::1";
  return address;
}

/** A Host header a virtual host accepts: its first domain without wildcards, or a made-up name for `*.x` / `x.*`. */
function hostFor(domains) {
  const list = Array.isArray(domains) ? domains : [];
  const exact = list.find((d) => typeof d === "string" && !d.includes("*"));
  if (exact) return exact;
  const wild = list.find((d) => typeof d === "string" && d !== "*");
  if (wild) return wild.startsWith("*") ? `www${wild.slice(1)}` : `${wild.slice(0, -1)}com`;
  return undefined;
}

/**
 * The HTTP listeners: [{name, host, port, tls, hcms: [hcm typed_config]}]. A listener's
 * chains are all looked at; `tls` when the chain that holds the HCM has a transport socket.
 */
export function httpListeners(bootstrap) {
  const out = [];
  for (const listener of bootstrap?.static_resources?.listeners ?? []) {
    const socket = listener?.address?.socket_address;
    if (!socket || typeof socket.port_value !== "number") continue;
    const chains = [...(listener.filter_chains ?? []), ...(listener.default_filter_chain ? [listener.default_filter_chain] : [])];
    for (const chain of chains) {
      const hcm = (chain?.filters ?? []).find(isHcm);
      if (!hcm) continue;
      out.push({
        name: listener.name ?? `${socket.address}:${socket.port_value}`,
        host: connectAddress(socket.address),
        port: socket.port_value,
        tls: chain.transport_socket !== undefined,
        // codec_type HTTP2 only speaks HTTP/2 (h2load); AUTO serves wrk's HTTP/1.1 too
        http2: String(hcm.typed_config?.codec_type ?? "").toUpperCase() === "HTTP2",
        hcm: hcm.typed_config ?? {},
      });
      break;
    }
  }
  return out;
}

/**
 * Targets: the config's direct responses (first few), its routes to clusters when
 * `withUpstreams` (the builtin origin serves them), plus `--target` paths, each
 * {id, listener, host, path, source: "direct_response" | "route" | "target"}; and the
 * routes left out (they need an upstream), for the report.
 */
export function planTargets(bootstrap, { targets: extraPaths = [], host: hostFlag, withUpstreams = false } = {}) {
  const listeners = httpListeners(bootstrap);
  const targets = [];
  const upstreamRoutes = [];
  for (const listener of listeners) {
    const vhosts = listener.hcm.route_config?.virtual_hosts ?? [];
    for (const vhost of vhosts) {
      const host = hostFlag ?? hostFor(vhost.domains);
      for (const route of vhost.routes ?? []) {
        const match = route?.match ?? {};
        const path = match.path ?? match.prefix;
        // headers, query parameters, gRPC or TLS-context matchers: a plain GET may not reach it
        const plain = typeof path === "string" && path.startsWith("/") && !match.headers && !match.query_parameters && !match.grpc && !match.tls_context;
        if (!plain) continue;
        const source = route.direct_response ? "direct_response" : route.route && withUpstreams ? "route" : undefined;
        if (source && targets.filter((t) => t.source === source).length < MAX_DEFAULT_TARGETS) targets.push({ listener, host, path, source });
        else if (route.route && !withUpstreams) upstreamRoutes.push({ listener, host, path });
      }
    }
  }
  const first = listeners[0];
  for (const path of extraPaths) {
    if (!first) break;
    const host = hostFlag ?? hostFor(first.hcm.route_config?.virtual_hosts?.[0]?.domains);
    targets.push({ listener: first, host, path, source: "target" });
  }
  for (const [i, t] of targets.entries()) t.id = `t${i + 1}`;
  return { listeners, targets, upstreamRoutes };
}

/**
 * `--origin builtin`: every cluster becomes a STATIC cluster of one host, the bench's origin
 * (plain HTTP/1.1 on loopback), keeping its name and connect timeout, and its upstream HTTP
 * filters (HttpProtocolOptions `http_filters`: the user's filters, measured as the HCM's
 * are); what the user's cluster would have added otherwise (TLS, HTTP/2, health checks, DNS)
 * is left out of both runs alike. The clusters named in `keep` (`--keep-cluster`: a service
 * the bench runs itself, such as an ext_proc processor) stay as written.
 */
export function pointClustersAt(bootstrap, originPort, keep = []) {
  const copy = structuredClone(bootstrap);
  const clusters = copy.static_resources?.clusters;
  if (!Array.isArray(clusters)) return copy;
  copy.static_resources.clusters = clusters.map((cluster) => {
    if (keep.includes(cluster.name)) return cluster;
    const httpFilters = cluster.typed_extension_protocol_options?.[HTTP_OPTIONS]?.http_filters;
    return {
      name: cluster.name,
      type: "STATIC",
      connect_timeout: cluster.connect_timeout ?? "5s",
      ...(httpFilters === undefined
        ? {}
        : { typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: httpFilters } } }),
      load_assignment: {
        cluster_name: cluster.name,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: originPort } } } }] }],
      },
    };
  });
  return copy;
}

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
