/**
 * /config_dump redacts what Envoy's MessageUtil::redact does: the fields the v3 protos
 * annotate `(udpa.annotations.sensitive)` — a generic secret, a TLS private key and its
 * password, session ticket keys, basic_auth's users — become "[redacted]" (bytes: the
 * bytes of "[redacted]"), everything else shown as loaded.
 */
import { expect, test } from "vitest";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";
import { configDump } from "../../../core/admin/config-dump.ts";

const PEM = "-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n";

const document = {
  static_resources: {
    secrets: [
      { name: "hmac", generic_secret: { secret: { inline_string: "hmac-secret-value" } } },
      { name: "token", generic_secret: { secret: { inline_bytes: "c2VjcmV0" } } },
      { name: "cert", tls_certificate: { certificate_chain: { filename: "/certs/chain.pem" }, private_key: { inline_string: PEM }, password: { environment_variable: "KEY_PASS" } } },
      { name: "tickets", session_ticket_keys: { keys: [{ inline_bytes: "a2V5" }] } },
    ],
    clusters: [
      {
        name: "backend",
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: "CHAIN" }, private_key: { inline_string: PEM } }] },
          },
        },
      },
    ],
    listeners: [
      {
        name: "l",
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  http_filters: [
                    { name: "basic", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.basic_auth.v3.BasicAuth", users: { inline_string: "user:{SHA}x" } } },
                    { name: "oauth", typed_config: { config: { credentials: { client_id: "id", token_secret: { name: "token" }, hmac_secret: { name: "hmac" } } } } },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  },
};

test("sensitive fields are [redacted] in the bootstrap and the static clusters; the rest and the loaded document are untouched", () => {
  const before = JSON.stringify(document);
  const dump = configDump(document, {} as Bootstrap, 0);
  const text = JSON.stringify(dump);
  for (const secret of ["hmac-secret-value", "c2VjcmV0", "MIIsecret", "KEY_PASS", "a2V5", "user:{SHA}x"]) expect(text).not.toContain(secret);
  const configs = dump.configs as Record<string, any>[];
  const secrets = configs[0]!.bootstrap.static_resources.secrets;
  expect(secrets[0]).toEqual({ name: "hmac", generic_secret: { secret: { inline_string: "[redacted]" } } });
  // A bytes field: the bytes of "[redacted]", base64 in JSON.
  expect(secrets[1].generic_secret.secret.inline_bytes).toBe("W3JlZGFjdGVkXQ==");
  expect(secrets[2].tls_certificate).toEqual({ certificate_chain: { filename: "/certs/chain.pem" }, private_key: { inline_string: "[redacted]" }, password: { environment_variable: "[redacted]" } });
  expect(secrets[3].session_ticket_keys.keys).toEqual([{ inline_bytes: "W3JlZGFjdGVkXQ==" }]);
  const cluster = configs[1]!.static_clusters[0].cluster;
  expect(cluster.transport_socket.typed_config.common_tls_context.tls_certificates[0]).toEqual({ certificate_chain: { inline_string: "CHAIN" }, private_key: { inline_string: "[redacted]" } });
  const filters = configs[2]!.static_listeners[0].listener.filter_chains[0].filters[0].typed_config.http_filters;
  expect(filters[0].typed_config.users).toEqual({ inline_string: "[redacted]" });
  // Secret references are names, not secrets: shown.
  expect(filters[1].typed_config.config.credentials).toEqual({ client_id: "id", token_secret: { name: "token" }, hmac_secret: { name: "hmac" } });
  expect(JSON.stringify(document)).toBe(before);
});
