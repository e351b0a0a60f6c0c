/**
 * envoy.config.core.v3.DataSource `filename` and `environment_variable` on every runtime,
 * black-box: a direct_response body, a local reply mapper's body and body_format, and a
 * jwt_authn provider's local_jwks read from files (and a body from an environment
 * variable), at start, by workers (--concurrency 2) and in an RDS file's route; a config
 * naming a missing file is refused by --mode validate with the field and the file named,
 * as Envoy's datasource.cc reads them.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Buffer } from "node:buffer";
import { webcrypto } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

let dir: string;
let sign: (payload: object) => Promise<string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "polyvoy-datasource-"));
  const pair = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const jwk = { ...(await webcrypto.subtle.exportKey("jwk", pair.publicKey)), kid: "k1", alg: "ES256" };
  sign = async (payload) => {
    const input = `${b64url(JSON.stringify({ alg: "ES256", kid: "k1" }))}.${b64url(JSON.stringify(payload))}`;
    const signature = await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
    return `${input}.${b64url(new Uint8Array(signature))}`;
  };
  writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));
  // Bytes that are not UTF-8: a file's body is sent as it is.
  writeFileSync(join(dir, "body.bin"), Buffer.from([0x66, 0x69, 0x6c, 0x65, 0xff, 0x0a]));
  writeFileSync(join(dir, "mapped.txt"), "mapped from a file");
  writeFileSync(join(dir, "format.txt"), "[%RESPONSE_CODE%] %LOCAL_REPLY_BODY%\n");
  writeFileSync(join(dir, "rds-body.txt"), "rds body from a file");
  writeFileSync(join(dir, "route.lua"), 'function envoy_on_request(handle)\n  handle:respond({[":status"] = "200"}, "lua from a file")\nend\n');
  writeFileSync(
    join(dir, "rds.json"),
    JSON.stringify({
      version_info: "1",
      resources: [
        {
          "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
          name: "rds_route",
          virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { filename: join(dir, "rds-body.txt") } } }] }],
        },
      ],
    }),
  );
});

async function config(port: number, rdsPort: number): Promise<object> {
  const base = httpProxyConfig({
    listenPort: port,
    clusters: { dead: [await freePort()] },
    routes: [
      { match: { prefix: "/file" }, action: { direct_response: { status: 200, body: { filename: join(dir, "body.bin") } } } },
      { match: { prefix: "/env" }, action: { direct_response: { status: 200, body: { environment_variable: "POLYVOY_TEST_DIRECT_BODY" } } } },
      {
        match: { prefix: "/lua" },
        action: {
          direct_response: { status: 404 },
          typed_per_filter_config: { "envoy.filters.http.lua": { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute", source_code: { filename: join(dir, "route.lua") } } },
        },
      },
      { match: { prefix: "/" }, cluster: "dead" },
    ],
    hcm: {
      local_reply_config: {
        mappers: [{ filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 503, runtime_key: "unused.key" } } } }, body: { filename: join(dir, "mapped.txt") } }],
        body_format: { text_format_source: { filename: join(dir, "format.txt") } },
      },
      http_filters: [
        // The filter's default code from the environment; the /lua route's own from a file.
        { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { environment_variable: "POLYVOY_TEST_LUA_CODE" } } },
        {
          name: "envoy.filters.http.jwt_authn",
          typed_config: {
            "@type": JWT_TYPE,
            providers: { files: { issuer: "https://issuer.example", local_jwks: { filename: join(dir, "jwks.json") } } },
            rules: [{ match: { prefix: "/jwt" }, requires: { provider_name: "files" } }],
          },
        },
        ROUTER,
      ],
    },
  }) as { static_resources: { listeners: object[] } };
  base.static_resources.listeners.push({
    name: "rds",
    address: { socket_address: { address: "127.0.0.1", port_value: rdsPort } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "rds",
              rds: { route_config_name: "rds_route", config_source: { path_config_source: { path: join(dir, "rds.json") }, resource_api_version: "V3" } },
              http_filters: [ROUTER],
            },
          },
        ],
      },
    ],
  });
  return base;
}

const ENV = { POLYVOY_TEST_DIRECT_BODY: "from the environment", POLYVOY_TEST_LUA_CODE: "function envoy_on_request(handle) end" };

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()).toString("latin1") };
}

describe.each(RUNTIMES)("DataSource files on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let rdsPort: number;

  beforeAll(async () => {
    [port, rdsPort] = [await freePort(), await freePort()];
    proxy = await ProxyProcess.start(runtime, await config(port, rdsPort), 2, [], ENV);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("direct_response bodies from a file (its bytes as they are) and an environment variable; an RDS file's route reads its body file", async () => {
    // Direct responses are local replies: body_format (from its file) shapes them too, as in Envoy.
    expect(await get(port, "/file")).toEqual({ status: 200, body: "[200] file\xff\n\n" });
    expect(await get(port, "/env")).toEqual({ status: 200, body: "[200] from the environment\n" });
    // The RDS file is read once the listener starts: its route may not be there at the first request.
    const deadline = Date.now() + 10_000;
    let rds = await get(rdsPort, "/");
    while (rds.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      rds = await get(rdsPort, "/");
    }
    expect(rds).toEqual({ status: 200, body: "rds body from a file" });
  });

  test("Lua: a route's own source_code from a file (the filter's default code from an environment variable)", async () => {
    // respond() encodes its own response, not a local reply: body_format does not apply (Envoy's lua_filter.cc).
    expect(await get(port, "/lua")).toEqual({ status: 200, body: "lua from a file" });
  });

  test("a local reply's mapped body and its body_format come from files", async () => {
    expect(await get(port, "/upstream")).toEqual({ status: 503, body: "[503] mapped from a file\n" });
  });

  test("jwt_authn's local_jwks from a file: a token its key signed passes, a missing one is refused", async () => {
    const token = await sign({ iss: "https://issuer.example", exp: Math.floor(Date.now() / 1000) + 600 });
    // Past jwt_authn, the route's cluster has no one listening: the mapped 503.
    expect(await get(port, "/jwt/file", { authorization: `Bearer ${token}` })).toEqual({ status: 503, body: "[503] mapped from a file\n" });
    expect(await get(port, "/jwt/file")).toEqual({ status: 401, body: "[401] Jwt is missing\n" });
  });

  test("workers (--concurrency 2) read the files too", async () => {
    const workersPort = await freePort();
    const workers = await ProxyProcess.start(runtime, await config(workersPort, await freePort()), 0, ["--concurrency", "2"], ENV);
    try {
      await workers.waitForLog(/all 2 workers started/, 1, 60_000);
      for (let i = 0; i < 4; i++) expect(await get(workersPort, "/file")).toEqual({ status: 200, body: "[200] file\xff\n\n" });
    } finally {
      await workers.stop("SIGKILL");
    }
  });

  test("--mode validate names the field and the file that does not exist, and an unset environment variable", async () => {
    const missing = join(dir, "missing.txt");
    const bad = httpProxyConfig({
      listenPort: await freePort(),
      clusters: {},
      routes: [
        { match: { prefix: "/a" }, action: { direct_response: { status: 200, body: { filename: missing } } } },
        { match: { prefix: "/b" }, action: { direct_response: { status: 200, body: { environment_variable: "POLYVOY_TEST_UNSET_VARIABLE" } } } },
      ],
    });
    const result = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig(bad)]);
    expect(result.code).toBe(1);
    const routes = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes";
    expect(result.stderr.trim().split("\n")).toEqual([
      `config error: ${routes}[0].direct_response.body.filename: file ${missing} does not exist`,
      `config error: ${routes}[1].direct_response.body.environment_variable: Environment variable doesn't exist: POLYVOY_TEST_UNSET_VARIABLE`,
    ]);
  });
});
