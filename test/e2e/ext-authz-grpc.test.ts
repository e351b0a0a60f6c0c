/**
 * ext_authz with a grpc_service on every runtime: a real @grpc/grpc-js server implementing
 * envoy.service.auth.v3.Authorization, loaded with @grpc/proto-loader from Envoy's own
 * protos (in @grpc/grpc-js-xds), a node:http upstream, undici and curl as clients.
 * Allowed (with header mutations), denied (status, headers, body), the service down
 * (status_on_error) and failure_mode_allow; what the service received; stats and UAEX; the
 * service's query parameter changes and dynamic metadata (read by an access log, and by a
 * route's match.dynamic_metadata once clear_route_cache has the route chosen again).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const execFileAsync = promisify(execFile);
const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

interface CheckRequest {
  attributes: {
    source?: { address?: { socket_address?: { address: string; port_value: number } }; service?: string; principal?: string; certificate?: string };
    destination?: { address?: { socket_address?: { address: string; port_value: number } }; principal?: string; certificate?: string };
    request?: { time?: { seconds: number }; http?: { method: string; path: string; host: string; scheme: string; protocol: string; size: number; headers: Record<string, string>; body?: string } };
    context_extensions?: Record<string, string>;
    metadata_context?: { filter_metadata?: Record<string, { fields: Record<string, { stringValue?: string }> }> };
    tls_session?: { sni?: string };
  };
}

/** The authorization service: "Bearer good" allowed with header mutations, "Bearer broken" an INTERNAL error, the rest denied. */
async function startAuthorization(): Promise<{ port: number; checks: CheckRequest[]; metadata: grpc.Metadata[]; deadlines: grpc.Deadline[]; close(): void }> {
  const checks: CheckRequest[] = [];
  const metadata: grpc.Metadata[] = [];
  const deadlines: grpc.Deadline[] = [];
  const service = await startEnvoyGrpcService("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3.Authorization", {
    Check: (call: grpc.ServerUnaryCall<CheckRequest, object>, callback: grpc.sendUnaryData<object>) => {
      checks.push(call.request);
      metadata.push(call.metadata);
      deadlines.push(call.getDeadline());
      const auth = call.request.attributes.request?.http?.headers?.["authorization"];
      if (auth === "Bearer good") {
        callback(null, {
          status: { code: 0 },
          ok_response: {
            headers: [
              { header: { key: "x-user", value: "alice" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
              { header: { key: "x-tag", value: "two" }, append: { value: true } },
              { header: { key: "x-absent", value: "added" }, append_action: "ADD_IF_ABSENT" },
              { header: { key: "x-keep", value: "not-used" }, append_action: "ADD_IF_ABSENT" },
            ],
            headers_to_remove: ["x-secret"],
            response_headers_to_add: [{ header: { key: "x-authz-said", value: "ok" } }],
          },
        });
      } else if (auth === "Bearer gold") {
        // A header mutation, so that clear_route_cache clears it (Envoy clears only then).
        callback(null, { status: { code: 0 }, dynamic_metadata: { fields: { tier: { stringValue: "gold" } } }, ok_response: { headers: [{ header: { key: "x-tier", value: "gold" } }] } });
      } else if (auth === "Bearer query") {
        callback(null, {
          status: { code: 0 },
          // google.protobuf.Value's fields in camelCase: proto-loader takes the well-known types from protobufjs's own.
          dynamic_metadata: { fields: { user: { stringValue: "alice" }, score: { numberValue: 7 }, tags: { listValue: { values: [{ stringValue: "a" }, { boolValue: true }] } } } },
          ok_response: { query_parameters_to_set: [{ key: "x", value: "2" }, { key: "added", value: "yes" }], query_parameters_to_remove: ["drop"] },
        });
      } else if (auth === "Bearer broken") {
        callback({ code: grpc.status.INTERNAL, details: "broken" });
      } else {
        callback(null, {
          status: { code: grpc.status.PERMISSION_DENIED },
          denied_response: {
            status: { code: "Unauthorized" },
            headers: [{ header: { key: "x-reason", value: "bad-token" } }, { header: { key: "content-type", value: "application/json" } }],
            body: JSON.stringify({ denied: call.request.attributes.request?.http?.path }),
          },
        });
      }
    },
  });
  return { ...service, checks, metadata, deadlines };
}

function extAuthz(cluster: string, extra: Record<string, unknown>): object {
  return {
    name: "envoy.filters.http.ext_authz",
    typed_config: {
      "@type": EXT_AUTHZ,
      grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout: "2s", initial_metadata: [{ key: "x-from", value: "polyvoy" }] },
      transport_api_version: "V3",
      ...extra,
    },
  };
}

describe.each(RUNTIMES)("ext_authz gRPC service on %s", (runtime) => {
  let echo: HttpUpstream;
  let authz: Awaited<ReturnType<typeof startAuthorization>>;
  let proxy: ProxyProcess;
  let base: string;
  let down: string;
  let allowDown: string;
  let routed: string;
  let adminPort: number;
  let logPath: string;
  let metadataLogPath: string;
  let mtlsPort: number;
  let certs: TestCerts;
  let meta: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) =>
      res.end(`${req.method} ${req.url} user=${req.headers["x-user"] ?? "-"} tag=${req.headers["x-tag"] ?? "-"} absent=${req.headers["x-absent"] ?? "-"} keep=${req.headers["x-keep"] ?? "-"} secret=${req.headers["x-secret"] ?? "-"}`),
    );
    authz = await startAuthorization();
    const deadPort = await freePort();
    const [port, downPort, allowPort, routedPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    down = `http://127.0.0.1:${downPort}`;
    allowDown = `http://127.0.0.1:${allowPort}`;
    routed = `http://127.0.0.1:${routedPort}`;
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-authz-grpc-")), "access.log");
    metadataLogPath = join(logPath, "..", "metadata.log");
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], authz: [authz.port], dead: [deadPort] },
      routes: [
        {
          // Only for a stream whose ext_authz metadata says tier gold.
          match: { prefix: "/", dynamic_metadata: [{ filter: "envoy.filters.http.ext_authz", path: [{ key: "tier" }], value: { string_match: { exact: "gold" } } }] },
          action: { direct_response: { status: 200, body: { inline_string: "gold route" } } },
        },
        {
          match: { prefix: "/tenant" },
          action: {
            route: { cluster: "echo" },
            typed_per_filter_config: { "envoy.filters.http.ext_authz": { "@type": EXT_AUTHZ_PER_ROUTE, check_settings: { context_extensions: { tenant: "acme" } } } },
          },
        },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: logPath,
              log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" } },
            },
          },
          {
            // The service's dynamic metadata, as later filters and logs read it.
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: metadataLogPath,
              log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %DYNAMIC_METADATA(envoy.filters.http.ext_authz:user)% %DYNAMIC_METADATA(envoy.filters.http.ext_authz)%\n" } },
            },
          },
        ],
        http_filters: [extAuthz("authz", { with_request_body: { max_request_bytes: 4, allow_partial_message: true } }), router],
      },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[]; clusters: Record<string, unknown>[] } };
    const resources = config.static_resources;
    for (const cluster of resources.clusters) if (cluster.name === "authz" || cluster.name === "dead") cluster.http2_protocol_options = {};
    // Two more listeners whose service is down: fail closed with status_on_error, and failure_mode_allow.
    const listener = resources.listeners[0]!;
    const variant = (name: string, listenPort: number, filter: object) => {
      const copy = structuredClone(listener);
      copy.name = name;
      copy.address = { socket_address: { address: "127.0.0.1", port_value: listenPort } };
      const hcm = copy.filter_chains[0]!.filters[0]!.typed_config;
      hcm.stat_prefix = name;
      hcm.http_filters = [filter, router];
      return copy;
    };
    resources.listeners.push(variant("down", downPort, extAuthz("dead", { status_on_error: { code: 503 } })));
    resources.listeners.push(variant("allow_down", allowPort, extAuthz("dead", { failure_mode_allow: true, failure_mode_allow_header_add: true })));
    resources.listeners.push(variant("routed", routedPort, extAuthz("authz", { clear_route_cache: true })));
    // An RBAC shadow policy sets dynamic metadata that metadata_context_namespaces sends on; the
    // top-level allowed_headers picks the headers a gRPC service gets.
    const metaPort = await freePort();
    meta = `http://127.0.0.1:${metaPort}`;
    const metaListener = variant("meta", metaPort, extAuthz("authz", { metadata_context_namespaces: ["envoy.filters.http.rbac", "absent.namespace"], allowed_headers: { patterns: [{ exact: "authorization" }, { prefix: "x-keep" }] } }));
    const rbac = {
      name: "envoy.filters.http.rbac",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", shadow_rules: { action: "ALLOW", policies: { all: { permissions: [{ any: true }], principals: [{ any: true }] } } } },
    };
    const metaHcm = metaListener.filter_chains[0]!.filters[0]!.typed_config;
    metaHcm.http_filters = [rbac, ...metaHcm.http_filters];
    resources.listeners.push(metaListener);
    // mTLS downstream with include_peer_certificate: the client's certificate goes to the service.
    certs = mintTestCerts();
    mtlsPort = await freePort();
    const mtls = variant("mtls", mtlsPort, extAuthz("authz", { include_peer_certificate: true, include_tls_session: true }));
    (mtls.filter_chains[0] as Record<string, unknown>).transport_socket = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        require_client_certificate: true,
        common_tls_context: {
          tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
          validation_context: { trusted_ca: { filename: certs.ca } },
        },
      },
    };
    resources.listeners.push(mtls);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    authz?.close();
  });

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${adminPort}/stats?filter=${filter}`)).body.text();
  }

  test("allowed: the upstream sees the service's header mutations, the client its response header; the CheckRequest carried the request", async () => {
    const seen = authz.checks.length;
    const response = await request(base + "/items?x=1", {
      method: "POST",
      headers: { authorization: "Bearer good", "x-tag": "one", "x-keep": "mine", "x-secret": "s3cret", "x-request-id": "rid-1" },
      body: "hello",
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-authz-said"]).toBe("ok");
    expect(await response.body.text()).toBe("POST /items?x=1 user=alice tag=one,two absent=added keep=mine secret=-");
    const check = authz.checks[seen]!.attributes;
    const http = check.request!.http!;
    expect(http.method).toBe("POST");
    expect(http.path).toBe("/items?x=1");
    expect(http.host).toBe(base.slice("http://".length));
    expect(http.scheme).toBe("http");
    expect(http.protocol).toBe("HTTP/1.1");
    expect(http.size).toBe(5);
    expect(http.headers[":method"]).toBe("POST");
    expect(http.headers["x-secret"]).toBe("s3cret");
    expect(http.headers["x-request-id"]).toBe("rid-1");
    // max_request_bytes 4 with allow_partial_message: the first 4 bytes, flagged partial.
    expect(http.body).toBe("hell");
    expect(http.headers["x-envoy-auth-partial-body"]).toBe("true");
    expect(check.source!.address!.socket_address!.address).toBe("127.0.0.1");
    expect(check.destination!.address!.socket_address!.port_value).toBe(Number(new URL(base).port));
    expect(Math.abs(check.request!.time!.seconds - Date.now() / 1000)).toBeLessThan(60);
    const metadata = authz.metadata[seen]!;
    expect(metadata.get("x-from")).toEqual(["polyvoy"]);
    // grpc-timeout (the 2 s timeout) became the call's deadline.
    const deadline = Number(authz.deadlines[seen]);
    expect(Number.isFinite(deadline) && deadline <= Date.now() + 2000).toBe(true);
  });

  test("metadata_context_namespaces: those namespaces of the stream's dynamic metadata in the CheckRequest; the top-level allowed_headers: only those headers", async () => {
    const seen = authz.checks.length;
    const response = await request(meta + "/m", { headers: { authorization: "Bearer good", "x-keep": "k", "x-drop": "d" } });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    const check = authz.checks[seen]!.attributes;
    expect(check.metadata_context!.filter_metadata!["envoy.filters.http.rbac"]!.fields["shadow_engine_result"]!.stringValue).toBe("allowed");
    expect(Object.keys(check.metadata_context!.filter_metadata!)).toEqual(["envoy.filters.http.rbac"]);
    // Pseudo-headers too are matched against the list (Envoy's CheckRequestUtils).
    expect(Object.keys(check.request!.http!.headers).sort()).toEqual(["authorization", "x-keep"]);
  });

  test("route match.dynamic_metadata: the service's metadata picks the route once clear_route_cache has it chosen again", async () => {
    const gold = await request(routed + "/shop", { headers: { authorization: "Bearer gold" } });
    expect(gold.statusCode).toBe(200);
    expect(await gold.body.text()).toBe("gold route");
    // Other metadata (or none): the route the metadata matcher refuses is passed over.
    const other = await request(routed + "/shop", { headers: { authorization: "Bearer good" } });
    expect(await other.body.text()).toMatch(/^GET \/shop user=alice/);
    // Without clear_route_cache the route was chosen before the service answered.
    const early = await request(base + "/shop", { headers: { authorization: "Bearer gold" } });
    expect(await early.body.text()).toMatch(/^GET \/shop user=-/);
  });

  test("ok_response query_parameters_to_set/_to_remove rewrite the query (sorted by name, as Envoy's QueryParamsMulti); the CheckResponse's dynamic_metadata lands under envoy.filters.http.ext_authz", async () => {
    const response = await request(base + "/q?drop=1&x=1&b=2&x=3", { headers: { authorization: "Bearer query" } });
    expect(response.statusCode).toBe(200);
    expect((await response.body.text()).split(" ")[1]).toBe("/q?added=yes&b=2&x=2");
    let log = "";
    for (let i = 0; i < 50 && !log.includes("/q?"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(metadataLogPath, "utf8").catch(() => "");
    }
    // %REQ(:PATH)% is the path as the upstream got it; the namespace as JSON.
    const line = log.split("\n").find((l) => l.startsWith("/q?"))!;
    expect(line.slice(0, line.indexOf(" {"))).toBe("/q?added=yes&b=2&x=2 alice");
    expect(JSON.parse(line.slice(line.indexOf(" {") + 1))).toEqual({ user: "alice", score: 7, tags: ["a", true] });
  });

  test("include_peer_certificate over mTLS: the client's URL-encoded PEM as source.certificate, its URI SAN as source.principal; none over plain HTTP", async () => {
    const seen = authz.checks.length;
    const { stdout } = await execFileAsync(
      "curl",
      ["-sS", "--max-time", "10", "--cacert", certs.ca, "--cert", certs.client.cert, "--key", certs.client.key, "--resolve", `example.com:${mtlsPort}:127.0.0.1`, "-H", "authorization: Bearer good", `https://example.com:${mtlsPort}/cert`],
      { encoding: "utf8" },
    );
    expect(stdout).toBe("GET /cert user=alice tag=two absent=added keep=not-used secret=-");
    const source = authz.checks[seen]!.attributes.source!;
    // Envoy's urlEncodedPemEncodedPeerCertificate: all but ALPHA, DIGIT and "-._~" percent-encoded.
    const pem = certs.read(certs.client.cert);
    expect(decodeURIComponent(source.certificate!)).toBe(pem);
    expect(source.certificate).toBe(encodeURIComponent(pem).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
    expect(source.principal).toBe("spiffe://test/client1");
    // include_tls_session: the SNI curl sent.
    expect(authz.checks[seen]!.attributes.tls_session).toEqual({ sni: "example.com" });
    // The proxy's certificate has no URI SAN: no destination principal polyvoy can name.
    expect(authz.checks[seen]!.attributes.destination!.certificate).toBeUndefined();
    // Plain HTTP (the filter without include_peer_certificate, no TLS): neither field.
    const plain = authz.checks.length;
    await (await request(base + "/plain", { headers: { authorization: "Bearer good" } })).body.text();
    expect(authz.checks[plain]!.attributes.source!.certificate).toBeUndefined();
    expect(authz.checks[plain]!.attributes.source!.principal).toBeUndefined();
    expect(authz.checks[plain]!.attributes.tls_session).toBeUndefined();
  });

  test("per-route context_extensions reach the service", async () => {
    const seen = authz.checks.length;
    const response = await request(base + "/tenant/a", { headers: { authorization: "Bearer good" } });
    expect(response.statusCode).toBe(200);
    await response.body.text();
    expect(authz.checks[seen]!.attributes.context_extensions).toEqual({ tenant: "acme" });
  });

  test("denied: curl gets the denied_response's status, headers and body; the upstream never sees it", async () => {
    const seen = echo.requests.length;
    const { stdout } = await execFileAsync("curl", ["-s", "-i", "-H", "authorization: Bearer nope", base + "/private"], { encoding: "utf8" });
    expect(stdout).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(stdout).toMatch(/\r\nx-reason: bad-token\r\n/);
    expect(stdout).toMatch(/\r\ncontent-type: application\/json\r\n/);
    expect(stdout.endsWith('{"denied":"/private"}')).toBe(true);
    expect(echo.requests.length).toBe(seen);
  });

  test("a gRPC error from the service is 403 with an empty body", async () => {
    const response = await request(base + "/x", { headers: { authorization: "Bearer broken" } });
    expect(response.statusCode).toBe(403);
    expect(await response.body.text()).toBe("");
  });

  test("the service down: status_on_error, or with failure_mode_allow the request goes on marked", async () => {
    const closed = await request(down + "/y", { headers: { authorization: "Bearer good" } });
    expect(closed.statusCode).toBe(503);
    expect(await closed.body.text()).toBe("");
    const seen = echo.requests.length;
    const open = await request(allowDown + "/z", { headers: { authorization: "Bearer good" } });
    expect(open.statusCode).toBe(200);
    expect(await open.body.text()).toBe("GET /z user=- tag=- absent=- keep=- secret=-");
    expect(echo.requests[seen]!.headers["x-envoy-auth-failure-mode-allowed"]).toBe("true");
  });

  test("stats and the access log's UAEX", async () => {
    const text = await stats("ext_authz");
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.ok: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.denied: 1$/m);
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.error: 1$/m);
    expect(text).toMatch(/^http\.down\.ext_authz\.error: 1$/m);
    expect(text).toMatch(/^http\.allow_down\.ext_authz\.failure_mode_allowed: 1$/m);
    let log = "";
    for (let i = 0; i < 50 && !log.includes("/z "); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(logPath, "utf8").catch(() => "");
    }
    expect(log).toMatch(/^\/private 401 UAEX ext_authz_denied$/m);
    expect(log).toMatch(/^\/x 403 UAEX ext_authz_error$/m);
    expect(log).toMatch(/^\/items\?x=1 200 - via_upstream$/m);
  });
});
