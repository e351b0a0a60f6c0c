/**
 * Config pieces the TLS e2e tests share: a listener terminating TLS in front of a direct
 * response, a plain listener routing to a cluster, a cluster speaking TLS to its host,
 * and an HTTPS upstream, each on 127.0.0.1, with certificates minted by the test.
 */
import * as https from "node:https";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { CertFiles } from "./test-certs.ts";

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

/** An http_connection_manager whose one route does `route` (a direct_response or a route action). */
export function hcm(name: string, route: Record<string, unknown>) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: name,
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, ...route }] }] },
      http_filters: [ROUTER],
    },
  };
}

export interface TlsListenerOptions {
  /** The certificate served (its tls_certificates entry may add fields: `certificateExtra`). */
  certificate: CertFiles;
  certificateExtra?: Record<string, unknown>;
  /** Fields of the DownstreamTlsContext beside common_tls_context. */
  context?: Record<string, unknown>;
  /** Fields of common_tls_context beside tls_certificates (a validation_context, …). */
  common?: Record<string, unknown>;
}

/** A listener terminating TLS and answering every request `<name> ok`. */
export function tlsListener(name: string, port: number, options: TlsListenerOptions) {
  const { certificate, certificateExtra = {}, context = {}, common = {} } = options;
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: { tls_certificates: [{ certificate_chain: { filename: certificate.cert }, private_key: { filename: certificate.key }, ...certificateExtra }], ...common },
            ...context,
          },
        },
        filters: [hcm(name, { direct_response: { status: 200, body: { inline_string: `${name} ok` } } })],
      },
    ],
  };
}

/** A plain HTTP listener routing every request to `cluster`. */
export function plainListener(name: string, port: number, cluster: string) {
  return { name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [hcm(name, { route: { cluster } })] }] };
}

/** A cluster of one host, 127.0.0.1:`port`, over TLS; `context`: fields of its UpstreamTlsContext. */
export function tlsCluster(name: string, port: number, context: Record<string, unknown>) {
  return {
    name,
    connect_timeout: "2s",
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...context },
    },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

export interface HttpsUpstream {
  port: number;
  close(): Promise<void>;
}

/** An HTTPS upstream serving `files` and answering `body`; `closeEach`: every response closes its connection. */
export async function httpsUpstream(files: CertFiles, body = "upstream ok", closeEach = false): Promise<HttpsUpstream> {
  const upstream = https.createServer({ key: readFileSync(files.key, "utf8"), cert: readFileSync(files.cert, "utf8") }, (_req, res) => {
    if (closeEach) res.setHeader("connection", "close");
    res.end(body);
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  return {
    port: (upstream.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        upstream.closeAllConnections();
        upstream.close(() => resolve());
      }),
  };
}
