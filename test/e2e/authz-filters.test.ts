/**
 * The rbac and ext_authz HTTP filters against the real proxy on every runtime: a real
 * node:http authorization service and upstream, undici and curl as clients, the admin's
 * stats and an access log showing what the filters decided; ext_authz's HTTP service in a
 * cluster that only a CDS file defines (as a users' gateway, hail-is/hail, has it).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const execFileAsync = promisify(execFile);
const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const EXT_AUTHZ_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

describe.each(RUNTIMES)("rbac and ext_authz on %s", (runtime) => {
  let echo: HttpUpstream;
  let authz: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let adminPort: number;
  let logPath: string;
  let metadataLogPath: string;
  let tcpPort: number;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.method} ${req.url} user=${req.headers["x-user"] ?? "-"} body=${req.body.length}`));
    // The authorization service: "Bearer good" is alice, "Bearer slow" takes 2 s, "Bearer broken" gets a 500; the rest are refused.
    authz = await httpUpstream((req, res) => {
      const auth = req.headers.authorization;
      if (auth === "Bearer good") {
        res.writeHead(200, { "x-user": "alice", "x-authz-said": "ok", "x-meta-user": "alice", "x-meta-tier": "gold" });
        res.end();
      } else if (auth === "Bearer slow") {
        setTimeout(() => res.end(), 2000);
      } else if (auth === "Bearer broken") {
        res.writeHead(500);
        res.end("oops");
      } else {
        res.writeHead(403, { "content-type": "application/json", "x-reason": "bad-token", "x-meta-reason": "bad-token" });
        res.end(JSON.stringify({ denied: req.url, body: req.body.toString() }));
      }
    });
    const port = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-authz-")), "access.log");
    metadataLogPath = join(logPath, "..", "metadata.log");
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], authz: [authz.port] },
      routes: [
        {
          match: { prefix: "/open" },
          action: {
            route: { cluster: "echo" },
            typed_per_filter_config: {
              "envoy.filters.http.ext_authz": { "@type": EXT_AUTHZ_PER_ROUTE, disabled: true },
              "envoy.filters.http.rbac": { "@type": RBAC_PER_ROUTE },
            },
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
              log_format: {
                text_format_source: {
                  inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %METADATA(DYNAMIC:envoy.filters.http.rbac:shadow_engine_result)%\n",
                },
              },
            },
          },
          {
            // What ext_authz's dynamic_metadata_from_headers put in the stream's dynamic metadata.
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: metadataLogPath,
              log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %DYNAMIC_METADATA(envoy.filters.http.ext_authz:x-meta-user)% %DYNAMIC_METADATA(envoy.filters.http.ext_authz)%\n" } },
            },
          },
        ],
        http_filters: [
          {
            name: "envoy.filters.http.rbac",
            typed_config: {
              "@type": RBAC,
              rules: {
                action: "DENY",
                policies: { "no-admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: [{ any: true }] } },
              },
              shadow_rules: {
                action: "ALLOW",
                policies: { "get-only": { permissions: [{ header: { name: ":method", string_match: { exact: "GET" } } }], principals: [{ remote_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }] } },
              },
            },
          },
          {
            name: "envoy.filters.http.ext_authz",
            typed_config: {
              "@type": EXT_AUTHZ,
              http_service: {
                server_uri: { uri: `http://127.0.0.1:${authz.port}`, cluster: "authz", timeout: "0.5s" },
                path_prefix: "/auth",
                authorization_request: { headers_to_add: [{ key: "x-from", value: "polyvoy" }] },
                authorization_response: {
                  allowed_upstream_headers: { patterns: [{ exact: "x-user" }] },
                  allowed_client_headers_on_success: { patterns: [{ exact: "x-authz-said" }] },
                  dynamic_metadata_from_headers: { patterns: [{ prefix: "x-meta-" }] },
                },
              },
              with_request_body: { max_request_bytes: 1024, allow_partial_message: true },
              failure_mode_allow: false,
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    // A tcp_proxy listener behind the network rbac filter, which admits peers from 10/8 only.
    tcpPort = await freePort();
    (config as { static_resources: { listeners: object[] } }).static_resources.listeners.push({
      name: "tcp",
      address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.rbac",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                stat_prefix: "tcp_guard",
                rules: { action: "ALLOW", policies: { "from-10": { permissions: [{ any: true }], principals: [{ direct_remote_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] } } },
                shadow_rules: { action: "ALLOW", policies: { loopback: { permissions: [{ destination_port: tcpPort }], principals: [{ source_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } }] } } },
              },
            },
            { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "echo" } },
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    await authz?.close();
  });

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${adminPort}/stats?filter=${filter}`)).body.text();
  }

  test("ext_authz: an allowed request reaches the upstream with the service's headers; the service saw the check request", async () => {
    const seen = authz.requests.length;
    const response = await request(base + "/items?x=1", { method: "POST", headers: { authorization: "Bearer good" }, body: "hello" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-authz-said"]).toBe("ok");
    expect(await response.body.text()).toBe("POST /items?x=1 user=alice body=5");
    const check = authz.requests[seen]!;
    expect(check.method).toBe("POST");
    expect(check.url).toBe("/auth/items?x=1");
    expect(check.headers["x-from"]).toBe("polyvoy");
    expect(check.body.toString()).toBe("hello");
  });

  test("ext_authz: a denial carries the service's status, body and headers to curl; the upstream never sees it", async () => {
    const seen = echo.requests.length;
    const { stdout } = await execFileAsync("curl", ["-s", "-i", "-H", "authorization: Bearer nope", base + "/private"], { encoding: "utf8" });
    expect(stdout).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(stdout).toMatch(/\r\nx-reason: bad-token\r\n/);
    expect(stdout).toMatch(/\r\ncontent-type: application\/json\r\n/);
    expect(stdout.endsWith('{"denied":"/auth/private","body":""}')).toBe(true);
    expect(echo.requests.length).toBe(seen);
  });

  test("ext_authz: dynamic_metadata_from_headers puts the service's matching headers, allowed or denied, under envoy.filters.http.ext_authz for the access log", async () => {
    expect((await request(base + "/meta-ok", { headers: { authorization: "Bearer good" } })).statusCode).toBe(200);
    const denied = await request(base + "/meta-denied", { headers: { authorization: "Bearer nope" } });
    expect(denied.statusCode).toBe(403);
    // No allowed_client_headers list: the client gets the metadata header too, as Envoy sends it.
    expect(denied.headers["x-meta-reason"]).toBe("bad-token");
    await denied.body.text();
    const unchecked = await request(base + "/open/meta-none");
    expect(unchecked.statusCode).toBe(200);
    await unchecked.body.text();
    let log = "";
    for (let i = 0; i < 50 && !log.includes("/open/meta-none"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(metadataLogPath, "utf8").catch(() => "");
    }
    const line = (path: string) => log.split("\n").find((l) => l.startsWith(path + " "))!;
    const ok = line("/meta-ok");
    expect(ok.slice(0, ok.indexOf(" {"))).toBe("/meta-ok alice");
    expect(JSON.parse(ok.slice(ok.indexOf(" {") + 1))).toEqual({ "x-meta-user": "alice", "x-meta-tier": "gold" });
    const no = line("/meta-denied");
    expect(JSON.parse(no.slice(no.indexOf(" {") + 1))).toEqual({ "x-meta-reason": "bad-token" });
    // A route the filter does not check gets none.
    expect(line("/open/meta-none")).toBe("/open/meta-none - -");
  });

  test("ext_authz: a 5xx from the service and a timeout are 403 with an empty body (fail closed); a disabled route is not checked", async () => {
    const broken = await request(base + "/x", { headers: { authorization: "Bearer broken" } });
    expect(broken.statusCode).toBe(403);
    expect(await broken.body.text()).toBe("");
    const start = performance.now();
    const slow = await request(base + "/x", { headers: { authorization: "Bearer slow" } });
    expect(slow.statusCode).toBe(403);
    await slow.body.text();
    expect(performance.now() - start).toBeGreaterThanOrEqual(450);
    const seen = authz.requests.length;
    const open = await request(base + "/open/page");
    expect(open.statusCode).toBe(200);
    expect(await open.body.text()).toBe("GET /open/page user=- body=0");
    expect(authz.requests.length).toBe(seen);
    const text = await stats("ext_authz");
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.ok: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.denied: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.ext_authz\.error: 2$/m);
    expect(text).toMatch(/^cluster\.echo\.ext_authz\.error: 2$/m);
  });

  test("rbac: the DENY policy answers 403 RBAC: access denied before ext_authz is asked; shadow results reach the access log", async () => {
    const seen = authz.requests.length;
    const denied = await request(base + "/admin/panel", { headers: { authorization: "Bearer good" } });
    expect(denied.statusCode).toBe(403);
    expect(await denied.body.text()).toBe("RBAC: access denied");
    expect(authz.requests.length).toBe(seen);
    // RBACPerRoute without rbac: nothing enforced on /open.
    expect((await request(base + "/open/admin")).statusCode).toBe(200);
    await (await request(base + "/post-me", { method: "POST", headers: { authorization: "Bearer good" }, body: "" })).body.text();
    const text = await stats("rbac");
    expect(text).toMatch(/^http\.ingress_http\.rbac\.denied: 1$/m);
    expect(text).toMatch(/^http\.ingress_http\.rbac\.shadow_denied: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.rbac\.shadow_allowed: [1-9]/m);
    // The log is written as streams end; give the runtime a moment to flush it.
    let log = "";
    for (let i = 0; i < 50 && !log.includes("/post-me"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(logPath, "utf8").catch(() => "");
    }
    expect(log).toMatch(/^\/admin\/panel 403 - rbac_access_denied_matched_policy\[no-admin\] allowed$/m);
    expect(log).toMatch(/^\/post-me 200 - via_upstream denied$/m);
    expect(log).toMatch(/^\/private 403 UAEX ext_authz_denied allowed$/m);
    expect(log).toMatch(/^\/open\/admin 200 - via_upstream -$/m);
  });

  test("network rbac: a connection from outside the allowed range is closed on its first bytes; shadow rules count", async () => {
    const seen = echo.requests.length;
    await expect(request(`http://127.0.0.1:${tcpPort}/through-tcp`)).rejects.toThrow();
    expect(echo.requests.length).toBe(seen);
    const text = await stats("tcp_guard");
    expect(text).toMatch(/^tcp_guard\.rbac\.denied: 1$/m);
    expect(text).toMatch(/^tcp_guard\.rbac\.shadow_allowed: 1$/m);
  });
});

describe.each(RUNTIMES)("ext_authz with its HTTP service's cluster from CDS on %s", (runtime) => {
  let echo: HttpUpstream;
  let authz: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`upstream ${req.url}`));
    authz = await httpUpstream((req, res) => {
      res.writeHead(req.headers.authorization === "Bearer good" ? 200 : 401);
      res.end(req.headers.authorization === "Bearer good" ? "" : "who are you?");
    });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-authz-cds-"));
    // The CDS file defines the authorization service's cluster: static_resources do not.
    const cluster = { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "authz", type: "STATIC", load_assignment: { cluster_name: "authz", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: authz.port } } } }] }] } };
    await writeFile(join(dir, "cds.json"), JSON.stringify({ version_info: "1", resources: [cluster] }));
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: {
        http_filters: [
          { name: "envoy.filters.http.ext_authz", typed_config: { "@type": EXT_AUTHZ, http_service: { server_uri: { uri: "http://authz", cluster: "authz", timeout: "1s" } } } },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    }) as Record<string, unknown>;
    proxy = await ProxyProcess.start(runtime, { ...config, dynamic_resources: { cds_config: { path_config_source: { path: join(dir, "cds.json") }, resource_api_version: "V3" } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
    await authz?.close();
  });

  test("the bootstrap loads; checks go to the CDS cluster: allowed reaches the upstream, denied is the service's 401", async () => {
    const allowed = await request(base + "/ok", { headers: { authorization: "Bearer good" } });
    expect(allowed.statusCode).toBe(200);
    expect(await allowed.body.text()).toBe("upstream /ok");
    const denied = await request(base + "/no", { headers: { authorization: "Bearer bad" } });
    expect(denied.statusCode).toBe(401);
    expect(await denied.body.text()).toBe("who are you?");
    expect(authz.requests.length).toBe(2);
  });
});
