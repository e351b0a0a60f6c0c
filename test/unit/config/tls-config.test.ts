/** envoy.transport_sockets.tls on filter chains and clusters: what is accepted, Envoy's defaults, and what is refused by name. */
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";

const DOWNSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const CERT = { certificate_chain: { filename: "/certs/server.pem" }, private_key: { filename: "/certs/server.key" } };

function config(downstream: object | undefined, upstream?: object, clusterExtra: object = {}): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          address: { socket_address: { address: "127.0.0.1", port_value: 8443 } },
          filter_chains: [
            {
              ...(downstream ? { transport_socket: downstream } : {}),
              filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "up" } }],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "up",
          ...(upstream ? { transport_socket: upstream } : {}),
          ...clusterExtra,
          load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 443 } } } }] }] },
        },
      ],
    },
  });
}

const downstream = (typed: object, name = "envoy.transport_sockets.tls") => ({ name, typed_config: { "@type": DOWNSTREAM, ...typed } });
const upstream = (typed: object) => ({ name: "envoy.transport_sockets.tls", typed_config: { "@type": UPSTREAM, ...typed } });

function load(text: string): Bootstrap {
  return loadBootstrap(text, "json");
}

function problems(text: string): string[] {
  try {
    loadBootstrap(text, "json");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

const CHAIN = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config";
const CLUSTER = "static_resources.clusters[0]";

describe("DownstreamTlsContext", () => {
  test("certificates from files, inline strings and inline bytes; Envoy's server defaults TLS 1.2–1.3", () => {
    const b = load(
      config(
        downstream({
          common_tls_context: {
            tls_certificates: [CERT, { certificate_chain: { inline_string: "PEM-A" }, private_key: { inline_bytes: Buffer.from("PEM-B").toString("base64") } }],
            alpn_protocols: ["http/1.1"],
          },
        }),
      ),
    );
    const tls = b.listeners[0]!.filterChains[0]!.transportSocket!;
    expect(tls.common.tlsCertificates).toEqual([
      { certificateChain: { filename: "/certs/server.pem" }, privateKey: { filename: "/certs/server.key" } },
      { certificateChain: { inline: "PEM-A" }, privateKey: { inline: "PEM-B" } },
    ]);
    expect(tls.common.alpnProtocols).toEqual(["http/1.1"]);
    expect(tls.common.params).toEqual({ minVersion: "TLSv1.2", maxVersion: "TLSv1.3" });
    expect(tls.requireClientCertificate).toBe(false);
  });

  test("tls_params, mTLS with SAN matchers and certificate hashes", () => {
    const b = load(
      config(
        downstream({
          require_client_certificate: true,
          common_tls_context: {
            tls_certificates: [CERT],
            tls_params: { tls_minimum_protocol_version: "TLSv1_3", cipher_suites: ["ECDHE-RSA-AES128-GCM-SHA256"], ecdh_curves: ["X25519"] },
            validation_context: {
              trusted_ca: { filename: "/certs/ca.pem" },
              match_typed_subject_alt_names: [{ san_type: "URI", matcher: { prefix: "spiffe://test/" } }],
              verify_certificate_hash: ["AB:CD:" + "00".repeat(30)],
            },
          },
        }),
      ),
    );
    const tls = b.listeners[0]!.filterChains[0]!.transportSocket!;
    expect(tls.requireClientCertificate).toBe(true);
    expect(tls.common.params).toEqual({ minVersion: "TLSv1.3", maxVersion: "TLSv1.3", cipherSuites: ["ECDHE-RSA-AES128-GCM-SHA256"], ecdhCurves: ["X25519"] });
    expect(tls.common.validationContext).toEqual({
      trustedCa: { filename: "/certs/ca.pem" },
      matchTypedSubjectAltNames: [{ sanType: "URI", matcher: { type: "prefix", value: "spiffe://test/", ignoreCase: false } }],
      verifyCertificateHash: ["abcd" + "00".repeat(30)],
    });
  });

  test("the deprecated match_subject_alt_names: each matcher for DNS, URI, EMAIL and IP_ADDRESS SANs alike, after the typed ones (Envoy's double-proxy example)", () => {
    const b = load(
      config(
        downstream({
          common_tls_context: {
            tls_certificates: [CERT],
            validation_context: {
              trusted_ca: { filename: "/certs/ca.pem" },
              match_typed_subject_alt_names: [{ san_type: "URI", matcher: { prefix: "spiffe://test/" } }],
              match_subject_alt_names: [{ exact: "proxy-postgres-frontend.example.com" }],
            },
          },
        }),
      ),
    );
    const exact = { type: "exact", value: "proxy-postgres-frontend.example.com", ignoreCase: false };
    expect(b.listeners[0]!.filterChains[0]!.transportSocket!.common.validationContext!.matchTypedSubjectAltNames).toEqual([
      { sanType: "URI", matcher: { type: "prefix", value: "spiffe://test/", ignoreCase: false } },
      { sanType: "DNS", matcher: exact },
      { sanType: "URI", matcher: exact },
      { sanType: "EMAIL", matcher: exact },
      { sanType: "IP_ADDRESS", matcher: exact },
    ]);
  });

  test("raw_buffer is plaintext", () => {
    const b = load(config({ name: "envoy.transport_sockets.raw_buffer" }));
    expect(b.listeners[0]!.filterChains[0]!.transportSocket).toBeUndefined();
  });

  test("refusals name the field: no certificate, unknown fields, fields not implemented, BoringSSL cipher groups, other transport sockets", () => {
    expect(problems(config(downstream({ common_tls_context: {} })))).toEqual([`${CHAIN}.common_tls_context.tls_certificates: No TLS certificates found for server context`]);
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT] }, bogus: 1 }))).join("\n")).toContain(`${CHAIN}`);
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT] }, session_ticket_keys_sds_secret_config: { name: "k" } })))).toEqual([`${CHAIN}: \`session_ticket_keys_sds_secret_config\` is an Envoy field that polyvoy does not support yet (use session_ticket_keys)`]);
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT] }, ocsp_staple_policy: "NEVER_STAPLE" }))).join()).toContain(`${CHAIN}.ocsp_staple_policy`);
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT], tls_certificate_sds_secret_configs: [{ name: "x" }] } })))).toEqual([
      `${CHAIN}.common_tls_context.tls_certificate_sds_secret_configs: set tls_certificates or tls_certificate_sds_secret_configs, not both`,
    ]);
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT], tls_params: { cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]"] } } }))).join("\n")).toContain("BoringSSL syntax");
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [{ ...CERT, certificate_chain: { environment_variable: "CERT" } }] } }))).join("\n")).toContain(
      "certificate_chain: `environment_variable` is an Envoy field that polyvoy does not support yet (use filename or inline_string)",
    );
    // h2 is served downstream (the HCM speaks HTTP/2 when ALPN chose it), and offered upstream as written (auto_config picks the codec by it).
    expect(load(config(downstream({ common_tls_context: { tls_certificates: [CERT], alpn_protocols: ["h2", "http/1.1"] } }))).listeners[0]!.filterChains[0]!.transportSocket!.common.alpnProtocols).toEqual(["h2", "http/1.1"]);
    expect(load(config(undefined, upstream({ common_tls_context: { alpn_protocols: ["h2", "http/1.1"] } }))).clusters[0]!.transportSocket!.common.alpnProtocols).toEqual(["h2", "http/1.1"]);
    expect(problems(config({ name: "envoy.transport_sockets.alts" })).join("\n")).toContain("envoy.transport_sockets.alts is an Envoy transport socket that polyvoy does not support yet (supported: envoy.transport_sockets.tls with a");
    expect(problems(config(downstream({ common_tls_context: { tls_certificates: [CERT], validation_context: { verify_certificate_hash: ["zz"] } } }))).join("\n")).toContain("invalid hex-encoded SHA-256 zz");
  });
});

describe("UpstreamTlsContext", () => {
  test("sni, client certificate, CA; Envoy's client defaults TLS 1.2–1.2; no validation_context means no verification", () => {
    const b = load(config(undefined, upstream({ sni: "api.example.com", common_tls_context: { tls_certificates: [CERT], validation_context: { trusted_ca: { inline_string: "CA" } } } })));
    const tls = b.clusters[0]!.transportSocket!;
    expect(tls.sni).toBe("api.example.com");
    expect(tls.common.params).toEqual({ minVersion: "TLSv1.2", maxVersion: "TLSv1.2" });
    expect(tls.common.validationContext?.trustedCa).toEqual({ inline: "CA" });
    expect(load(config(undefined, upstream({}))).clusters[0]!.transportSocket!.common.validationContext).toBeUndefined();
  });

  test("refusals: allow_renegotiation, several certificates, a NUL in the SNI, transport_socket_matches", () => {
    expect(problems(config(undefined, upstream({ allow_renegotiation: true })))).toEqual([
      `${CLUSTER}.transport_socket.typed_config: \`allow_renegotiation\` is an Envoy field that polyvoy does not support yet (the runtimes' TLS libraries do not renegotiate as clients)`,
    ]);
    expect(problems(config(undefined, upstream({ common_tls_context: { tls_certificates: [CERT, CERT] } })))).toEqual([
      `${CLUSTER}.transport_socket.typed_config.common_tls_context.tls_certificates: Multiple TLS certificates are not supported for client contexts`,
    ]);
    expect(problems(config(undefined, upstream({ sni: "a\u0000b" }))).join("\n")).toContain("SNI names containing NULL-byte are not allowed");
    expect(problems(config(undefined, undefined, { transport_socket_matches: [{ name: "m" }] }))).toEqual([`${CLUSTER}: \`transport_socket_matches\` is an Envoy field that polyvoy does not support yet (use transport_socket)`]);
    // A DownstreamTlsContext on a cluster is the wrong message for it.
    expect(problems(config(undefined, downstream({ common_tls_context: { tls_certificates: [CERT] } }))).join("\n")).toContain(`${DOWNSTREAM} is an Envoy transport socket that polyvoy does not support yet (supported: envoy.transport_sockets.tls with a`);
  });
});
