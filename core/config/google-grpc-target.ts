/**
 * GrpcService.GoogleGrpc as polyvoy runs it. Envoy hands target_uri and the channel
 * credentials to the C++ gRPC library (source/common/grpc/google_async_client_impl.cc,
 * CreateChannel(target_uri, creds)); polyvoy's gRPC client speaks HTTP/2 through a cluster,
 * so the target becomes an internal cluster: STATIC for an IP literal, STRICT_DNS for a name
 * (gRPC's dns resolver uses every address), HTTP/2, plaintext without channel_credentials
 * (Envoy's getGoogleGrpcChannelCredentials: grpc::InsecureChannelCredentials), TLS with
 * ssl_credentials' root certs and client certificate, the server's certificate checked
 * against the target's host as gRPC does. Services naming the same target and credentials
 * share the cluster (its name says both).
 */
import type { GoogleGrpcTargetConfig } from "./bootstrap.ts";
import { configHash } from "../util/config-hash.ts";
import { xxHash64Text } from "../util/hash.ts";
import { encodeBase64 } from "../util/base64.ts";
import { latin1Encode } from "../util/latin1.ts";
import type { ClusterConfig } from "./bootstrap.ts";

type ClusterParse = (raw: unknown) => { success: true; data: ClusterConfig } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };

/**
 * The cluster schema's safeParse, handed over by schema.ts when it loads: importing it here
 * would close an import cycle (schema.ts → the filters' schemas → grpc-service-schema.ts → here).
 */
let parseCluster: ClusterParse | undefined;

export function setGoogleGrpcClusterParser(parse: ClusterParse): void {
  parseCluster = parse;
}

interface GoogleGrpcFields {
  target_uri: string;
  stat_prefix: string;
  /** ssl_credentials' DataSources, read (data-source-schema.ts): byte strings. */
  channel_credentials?: { ssl_credentials?: { root_certs?: string | undefined; private_key?: string | undefined; cert_chain?: string | undefined } | undefined } | undefined;
}

/** gRPC's default port (grpc's resolver: a target without one is https's). */
const GRPC_DEFAULT_PORT = 443;
/** gRPC's minimum connect timeout (grpc's GRPC_ARG_MIN_RECONNECT_BACKOFF_MS default, 20 s). */
const GRPC_CONNECT_TIMEOUT = "20s";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export interface ParsedTarget {
  host: string;
  port: number;
  /** The host is an IP literal (IPv6 without brackets). */
  ip: boolean;
  /** host:port as gRPC puts it in :authority. */
  authority: string;
}

/**
 * gRPC's name syntax (grpc's doc/naming.md) for the forms that name one host: `host:port`,
 * `dns:host:port`, `dns:///host:port`, `ipv4:a.b.c.d:port`, `ipv6:[addr]:port`; the port
 * defaults to 443. Anything else (unix:, a DNS authority, address lists) is an error string.
 */
export function parseGrpcTarget(uri: string): ParsedTarget | string {
  let rest = uri;
  let scheme: string | undefined;
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(uri);
  // "host:port" also matches scheme:rest; only gRPC's schemes are schemes.
  if (m && ["dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock", "xds", "google-c2p"].includes(m[1]!.toLowerCase())) {
    scheme = m[1]!.toLowerCase();
    rest = m[2]!;
  }
  if (scheme !== undefined && scheme !== "dns" && scheme !== "ipv4" && scheme !== "ipv6") return `the ${scheme}: scheme is not supported (host:port, dns:///host:port, ipv4: or ipv6: are)`;
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    if (slash !== 2) return "a DNS server authority (dns://server/name) is not supported: use dns:///host:port";
    rest = rest.slice(3);
  }
  if (rest.includes(",")) return "an address list is not supported: name one host";
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) return `'${uri}': unterminated IPv6 address`;
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return `'${uri}': expected :port after the IPv6 address`;
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon >= 0 && rest.indexOf(":") !== colon) {
      host = rest; // a bare IPv6 address
      portText = undefined;
    } else {
      host = colon < 0 ? rest : rest.slice(0, colon);
      portText = colon < 0 ? undefined : rest.slice(colon + 1);
    }
  }
  if (host === "") return `'${uri}' names no host`;
  // The host goes into :authority, the cluster's name and log lines: a name's or an address's characters only.
  if (!/^[A-Za-z0-9._~%!$&'()*+,;=:-]+$/.test(host)) return `'${uri}': the host has characters no host name or address has`;
  const port = portText === undefined ? GRPC_DEFAULT_PORT : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `'${uri}': the port must be 1–65535`;
  const v4 = IPV4.exec(host);
  const ipv4 = v4 !== null && v4.slice(1).every((o) => Number(o) <= 255);
  const ipv6 = host.includes(":");
  if (scheme === "ipv4" && !ipv4) return `'${uri}': ipv4: needs an IPv4 address`;
  if (scheme === "ipv6" && !ipv6) return `'${uri}': ipv6: needs an IPv6 address`;
  return { host, port, ip: ipv4 || ipv6, authority: ipv6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/** The internal cluster for `g`, or undefined after reporting (path relative to google_grpc) what is wrong. */
export function googleGrpcTarget(g: GoogleGrpcFields, report: (path: (string | number)[], message: string) => void): GoogleGrpcTargetConfig | undefined {
  const target = parseGrpcTarget(g.target_uri);
  if (typeof target === "string") {
    report(["target_uri"], target);
    return undefined;
  }
  const ssl = g.channel_credentials?.ssl_credentials;
  if (g.channel_credentials !== undefined && ssl === undefined) {
    // The oneof left empty: Envoy's getGoogleGrpcChannelCredentials falls back to insecure too,
    // but an empty channel_credentials is more likely a mistake than a wish for plaintext.
    report(["channel_credentials"], "set ssl_credentials (or leave channel_credentials out for plaintext)");
    return undefined;
  }
  if (ssl !== undefined && ssl.root_certs === undefined) {
    report(["channel_credentials", "ssl_credentials", "root_certs"], "gRPC's default root certificates are not supported: set root_certs");
    return undefined;
  }
  if (ssl !== undefined && (ssl.private_key === undefined) !== (ssl.cert_chain === undefined)) {
    report(["channel_credentials", "ssl_credentials"], "private_key and cert_chain go together");
    return undefined;
  }
  // Envoy's Google gRPC client has no cluster and so none of a cluster's circuit breakers
  // (the default 1,024 requests would fail calls Envoy makes): the most the config allows.
  const unlimited = 0xffffffff;
  const raw: Record<string, unknown> = {
    name: "",
    circuit_breakers: { thresholds: [{ max_connections: unlimited, max_pending_requests: unlimited, max_requests: unlimited, max_retries: unlimited }] },
    type: target.ip ? "STATIC" : "STRICT_DNS",
    // gRPC's dns resolver takes every address of the name, IPv4 and IPv6.
    ...(target.ip ? {} : { dns_lookup_family: "ALL" }),
    connect_timeout: GRPC_CONNECT_TIMEOUT,
    load_assignment: {
      cluster_name: "",
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: target.host, port_value: target.port } } } }] }],
    },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
  if (ssl !== undefined) {
    raw.transport_socket = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        // gRPC sends the target's host as SNI, not an IP literal (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted").
        ...(target.ip ? {} : { sni: target.host }),
        common_tls_context: {
          alpn_protocols: ["h2"],
          ...(ssl.cert_chain !== undefined ? { tls_certificates: [{ certificate_chain: inline(ssl.cert_chain), private_key: inline(ssl.private_key!) }] } : {}),
          validation_context: {
            trusted_ca: inline(ssl.root_certs!),
            // gRPC checks the server's certificate names the target's host (grpc's ssl security connector).
            match_typed_subject_alt_names: [{ san_type: target.ip ? "IP_ADDRESS" : "DNS", matcher: { exact: target.host } }],
          },
        },
      },
    };
  }
  // The name says the target, and (TLS) which credentials: the same target with other certificates is another cluster.
  const name = `google_grpc ${g.target_uri}${ssl !== undefined ? ` tls ${xxHash64Text(configHash(ssl)).toString(16)}` : ""}`;
  raw.name = name;
  (raw.load_assignment as { cluster_name: string }).cluster_name = name;
  if (parseCluster === undefined) throw new Error("google_grpc: the cluster schema is not loaded (core/config/schema.ts)");
  const parsed = parseCluster(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = issue.path.map(String).join(".");
      const where = at.includes("trusted_ca") ? ["root_certs"] : at.includes("private_key") ? ["private_key"] : at.includes("certificate_chain") ? ["cert_chain"] : [];
      report(ssl !== undefined && where.length > 0 ? ["channel_credentials", "ssl_credentials", ...where] : ["target_uri"], issue.message);
    }
    return undefined;
  }
  return { statPrefix: g.stat_prefix, authority: target.authority, cluster: parsed.data };
}

/** Bytes read from a DataSource (a byte string) as the cluster's TLS context takes them inline. */
function inline(bytes: string): { inline_bytes: string } {
  return { inline_bytes: encodeBase64(latin1Encode(bytes)) };
}
