/**
 * grpc_service.google_grpc (core/config/google-grpc-target.ts): the target_uri forms gRPC
 * accepts, the internal HTTP/2 cluster each becomes (STATIC for an IP, STRICT_DNS for a
 * name, TLS with ssl_credentials), and the fields refused by name.
 */
import { parseRetryGrpcOn } from "../../../core/config/retry-on.ts";
import { describe, expect, test } from "vitest";
import { parseGrpcTarget } from "../../../core/config/google-grpc-target.ts";
import type { GrpcServiceTarget } from "../../../core/config/bootstrap.ts";
import { HCM_FILTERS, filterConfig, problems } from "./http-filter-config.ts";
import { validateConfig } from "../../../core/config/validate-config.ts";
import type { DataSourceReader } from "../../../core/config/data-source-files.ts";
import { httpProxyConfig } from "../../support/configs.ts";

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const extAuthz = (googleGrpc: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "envoy.filters.http.ext_authz",
  typed_config: { "@type": EXT_AUTHZ, grpc_service: { google_grpc: googleGrpc, ...extra } },
});
const target = (googleGrpc: Record<string, unknown>) => (filterConfig(extAuthz(googleGrpc)) as { grpc: GrpcServiceTarget }).grpc;

describe("google_grpc target_uri", () => {
  test("the forms naming one host, the port defaulting to 443", () => {
    expect(parseGrpcTarget("opa:9191")).toEqual({ host: "opa", port: 9191, ip: false, authority: "opa:9191" });
    expect(parseGrpcTarget("dns:///opa:9191")).toEqual({ host: "opa", port: 9191, ip: false, authority: "opa:9191" });
    expect(parseGrpcTarget("dns:opa")).toEqual({ host: "opa", port: 443, ip: false, authority: "opa:443" });
    expect(parseGrpcTarget("127.0.0.1:9191")).toEqual({ host: "127.0.0.1", port: 9191, ip: true, authority: "127.0.0.1:9191" });
    expect(parseGrpcTarget("ipv4:10.0.0.1:80")).toMatchObject({ host: "10.0.0.1", port: 80, ip: true });
    expect(parseGrpcTarget("ipv6:[::1]:80")).toEqual({ host: "::1", port: 80, ip: true, authority: "[::1]:80" });
    expect(parseGrpcTarget("[::1]")).toMatchObject({ host: "::1", port: 443 });
  });

  test("what is refused", () => {
    expect(parseGrpcTarget("unix:/tmp/s.sock")).toMatch(/the unix: scheme is not supported/);
    expect(parseGrpcTarget("dns://8.8.8.8/opa:9191")).toMatch(/DNS server authority/);
    expect(parseGrpcTarget("ipv4:10.0.0.1:80,10.0.0.2:80")).toMatch(/address list/);
    expect(parseGrpcTarget("opa:0")).toMatch(/port must be 1–65535/);
    expect(parseGrpcTarget("opa:x")).toMatch(/port must be/);
    expect(parseGrpcTarget("ipv4:opa:80")).toMatch(/needs an IPv4 address/);
    // The host reaches :authority, the cluster's name and log lines.
    expect(parseGrpcTarget("opa\r\nx-injected: 1:9191")).toMatch(/characters no host name or address has/);
    expect(parseGrpcTarget("o pa:9191")).toMatch(/characters no host name or address has/);
  });
});

describe("google_grpc's internal cluster", () => {
  test("an IP target: a STATIC HTTP/2 plaintext cluster, :authority host:port, stat prefix kept", () => {
    const t = target({ target_uri: "127.0.0.1:9191", stat_prefix: "ext_authz" });
    expect(t.clusterName).toBe("google_grpc 127.0.0.1:9191");
    expect(t.authority).toBe("127.0.0.1:9191");
    expect(t.google?.statPrefix).toBe("ext_authz");
    expect(t.google?.cluster).toMatchObject({ name: "google_grpc 127.0.0.1:9191", type: "STATIC", http2: {} });
    expect(t.google?.cluster.transportSocket).toBeUndefined();
  });

  test("a name: STRICT_DNS, every address; no cluster of that name needs to exist", () => {
    const t = target({ target_uri: "dns:///opa:9191", stat_prefix: "s" });
    expect(t.google?.cluster).toMatchObject({ type: "STRICT_DNS", dns: { lookupFamily: "ALL" } });
  });

  test("ssl_credentials: TLS with the root certs, ALPN h2, SNI and SAN the target's host; another cluster than plaintext's", () => {
    const t = target({ target_uri: "opa:9191", stat_prefix: "s", channel_credentials: { ssl_credentials: { root_certs: { inline_string: "ca" }, cert_chain: { inline_string: "c" }, private_key: { inline_string: "k" } } } });
    expect(t.clusterName).toMatch(/^google_grpc opa:9191 tls [0-9a-f]+$/);
    const tls = t.google?.cluster.transportSocket as unknown as { sni?: string; common: { alpnProtocols: string[]; tlsCertificates: unknown[] } };
    expect(tls.sni).toBe("opa");
    expect(tls.common.alpnProtocols).toEqual(["h2"]);
    expect(tls.common.tlsCertificates).toHaveLength(1);
    expect(JSON.stringify(t.google?.cluster.transportSocket)).toContain('"sanType":"DNS"');
  });

  test("refused by name: google_default, local_credentials, call_credentials, channel_args, credentials factory, per-stream buffer limit; default roots; half a key pair", () => {
    const at = `${HCM_FILTERS}.grpc_service.google_grpc`;
    const base = { target_uri: "opa:9191", stat_prefix: "s" };
    expect(problems(extAuthz({ ...base, channel_credentials: { google_default: {} } }))[0]).toMatch(/channel_credentials: `google_default` is an Envoy field that polyvoy does not support yet/);
    expect(problems(extAuthz({ ...base, channel_credentials: { local_credentials: {} } }))[0]).toMatch(/`local_credentials` is an Envoy field/);
    expect(problems(extAuthz({ ...base, call_credentials: [{ access_token: "t" }] }))[0]).toMatch(/`call_credentials` is an Envoy field/);
    expect(target({ ...base, call_credentials: [] }).google?.statPrefix).toBe("s");
    expect(problems(extAuthz({ ...base, channel_args: { args: {} } }))[0]).toMatch(/`channel_args` is an Envoy field/);
    expect(problems(extAuthz({ ...base, credentials_factory_name: "f" }))[0]).toMatch(/`credentials_factory_name` is an Envoy field/);
    expect(problems(extAuthz({ ...base, per_stream_buffer_limit_bytes: 1024 }))[0]).toMatch(/`per_stream_buffer_limit_bytes` is an Envoy field/);
    expect(problems(extAuthz({ ...base, channel_credentials: { ssl_credentials: {} } }))).toEqual([`${at}.channel_credentials.ssl_credentials.root_certs: gRPC's default root certificates are not supported: set root_certs`]);
    expect(problems(extAuthz({ ...base, channel_credentials: { ssl_credentials: { root_certs: { inline_string: "ca" }, private_key: { inline_string: "k" } } } }))).toEqual([`${at}.channel_credentials.ssl_credentials: private_key and cert_chain go together`]);
    expect(problems(extAuthz({ target_uri: "unix:/s", stat_prefix: "s" }))[0]).toMatch(/google_grpc.target_uri: the unix: scheme is not supported/);
    expect(problems(extAuthz({ target_uri: "opa:9191" }))[0]).toMatch(/stat_prefix/);
  });

  test("no circuit breaker of a cluster's limits its calls (Envoy's Google gRPC client has no cluster)", () => {
    const breakers = target({ target_uri: "127.0.0.1:9191", stat_prefix: "s" }).google!.cluster.circuitBreakers;
    expect(breakers).toMatchObject({ maxConnections: 0xffffffff, maxPendingRequests: 0xffffffff, maxRequests: 0xffffffff, maxRetries: 0xffffffff });
  });

  test("ssl_credentials' files are read with the config: a missing root_certs file is a config error naming it, a present one goes to the cluster inline", async () => {
    const files: Record<string, string> = { "/certs/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" };
    const reader: DataSourceReader = {
      readTextFile: async (path) => {
        if (files[path] === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
        return files[path]!;
      },
      readFileBytes: async (path) => {
        if (files[path] === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
        return new TextEncoder().encode(files[path]!);
      },
      environmentVariable: () => undefined,
    };
    const text = (caFile: string) => {
      const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
        static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: object[] } }[] }[] }[] };
      };
      config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.unshift(extAuthz({ target_uri: "opa:9191", stat_prefix: "s", channel_credentials: { ssl_credentials: { root_certs: { filename: caFile } } } }));
      return JSON.stringify(config);
    };
    const missing = await validateConfig(text("/certs/missing.pem"), "json", undefined, reader);
    expect("problems" in missing && missing.problems).toEqual([expect.stringMatching(/google_grpc\.channel_credentials\.ssl_credentials\.root_certs\.filename: file \/certs\/missing\.pem does not exist/)]);
    const present = await validateConfig(text("/certs/ca.pem"), "json", undefined, reader);
    expect("problems" in present ? present.problems : []).toEqual([]);
  });

  test("ext_proc takes it too", () => {
    const config = filterConfig({ name: "envoy.filters.http.ext_proc", typed_config: { "@type": EXT_PROC, grpc_service: { google_grpc: { target_uri: "proc:9091", stat_prefix: "p" } } } }) as { grpc: GrpcServiceTarget };
    expect(config.grpc).toMatchObject({ clusterName: "google_grpc proc:9091", authority: "proc:9091", google: { statPrefix: "p" } });
  });

  test("retry_policy: refused with google_grpc (Envoy's Google gRPC client does not read it); taken for ext_proc's stream, refused by name for a stream that would not resend its messages (SkyWalking)", () => {
    const authz = problems({ name: "envoy.filters.http.ext_authz", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", grpc_service: { google_grpc: { target_uri: "authz:9091", stat_prefix: "a" }, retry_policy: { retry_on: "unavailable" } } } });
    expect(authz).toHaveLength(1);
    expect(authz[0]).toMatch(/grpc_service\.retry_policy: not read with google_grpc: Envoy's Google gRPC client does not retry calls/);
    const proc = filterConfig({ name: "envoy.filters.http.ext_proc", typed_config: { "@type": EXT_PROC, grpc_service: { envoy_grpc: { cluster_name: "authz" }, retry_policy: { retry_on: "unavailable", num_retries: 3 } } } }) as { grpc: GrpcServiceTarget };
    expect(proc.grpc.retryPolicy).toMatchObject({ retryOn: parseRetryGrpcOn("unavailable").bits, numRetries: 3, baseIntervalMs: 1000, maxIntervalMs: 10_000 });
    const procGoogle = problems({ name: "envoy.filters.http.ext_proc", typed_config: { "@type": EXT_PROC, grpc_service: { google_grpc: { target_uri: "proc:9091", stat_prefix: "p" }, retry_policy: { retry_on: "unavailable" } } } });
    expect(procGoogle[0]).toMatch(/grpc_service\.retry_policy: not read with google_grpc/);
  });
});
