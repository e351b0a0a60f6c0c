/**
 * A cluster's upstream HTTP filters on polyvoy's own requests (core/http/filters/
 * async-upstream-filters.ts): a mirror and an ext_authz HTTP check run the cluster's chain,
 * as Envoy's async client's router builds it (upstream_request.cc: the cluster's chain, else
 * the router config's, which an async client has none of) — so the route's router's
 * upstream_http_filters never reach a mirror; a filter's local reply is the async request's
 * answer (AsyncStreamImpl::sendLocalReply), never sent upstream.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { startProxy } from "./support/proxy.ts";
import { MemoryH2Server } from "./support/h2-peers.ts";

const PROXY = 10000;
const BACKEND = 8081;
const SHADOW = 8082;
const AUTHZ = 8083;
const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const mutation = (value: string) => ({
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [{ append: { header: { key: "x-upstream-filter", value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }] },
  },
});
const BUFFER = { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 4 } };

const withFilters = (filters: unknown[]) => ({
  typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: filters } },
});

let runtime: MemoryRuntime;
let server: Server;
let peers: { close(): void }[] = [];
const seen: Record<string, HttpMessage[]> = { backend: [], shadow: [], authz: [] };

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
  for (const key of Object.keys(seen)) seen[key] = [];
});

interface Setup {
  /** Each cluster's http_filters (none when absent). */
  filters: Partial<Record<"backend" | "shadow" | "authz", unknown[]>>;
  /** The router's upstream_http_filters. */
  routerFilters?: unknown[];
  /** An ext_authz HTTP filter before the router, and its extra fields. */
  extAuthz?: Record<string, unknown>;
  authzStatus?: number;
  /** More of the route's fields (its typed_per_filter_config). */
  routeExtra?: Record<string, unknown>;
  /** HTTP filters of the HCM's before the router (and ext_authz). */
  downstream?: unknown[];
  /** An HCM file access log to stdout with this format. */
  accessLog?: string;
  /** More of the route action's fields (its retry_policy). */
  routeAction?: Record<string, unknown>;
}

async function start(setup: Setup): Promise<void> {
  runtime = new MemoryRuntime({ seed: 3 });
  peers.push(await MemoryHttpServer.listen(runtime, BACKEND, (req, res) => (seen.backend!.push(req), res.respond(200, "backend"))));
  peers.push(await MemoryHttpServer.listen(runtime, SHADOW, (req, res) => (seen.shadow!.push(req), res.respond(200, "shadow"))));
  peers.push(await MemoryHttpServer.listen(runtime, AUTHZ, (req, res) => (seen.authz!.push(req), res.respond(setup.authzStatus ?? 200, ""))));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: [BACKEND], shadow: [SHADOW], authz: [AUTHZ] },
    routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", request_mirror_policies: [{ cluster: "shadow" }], ...setup.routeAction }, ...setup.routeExtra } }],
  }) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: unknown[] } }[] }[] }[]; clusters: { name: string }[] } };
  for (const cluster of config.static_resources.clusters) {
    const filters = setup.filters[cluster.name as keyof Setup["filters"]];
    if (filters !== undefined) Object.assign(cluster, withFilters(filters));
  }
  const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  const router = {
    name: "envoy.filters.http.router",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ...(setup.routerFilters ? { upstream_http_filters: setup.routerFilters } : {}) },
  };
  const authz = setup.extAuthz && {
    name: "envoy.filters.http.ext_authz",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", http_service: { server_uri: { uri: "http://authz", cluster: "authz", timeout: "0.5s" } }, ...setup.extAuthz },
  };
  hcm.http_filters = [...(setup.downstream ?? []), ...(authz ? [authz] : []), router];
  if (setup.accessLog !== undefined) {
    Object.assign(hcm, {
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: setup.accessLog } } },
        },
      ],
    });
  }
  server = await startProxy(runtime, config);
}

function get(path: string, body?: string): { status: number; text: string } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request(body === undefined ? "GET" : "POST", path, body === undefined ? {} : { body });
  runtime.runUntilIdle();
  const response = client.responses[0]!;
  return { status: response.status, text: response.text() };
}

describe("a cluster's upstream HTTP filters on polyvoy's own requests", () => {
  test("a mirror runs the shadow cluster's chain: the shadow sees its header, the backend does not", async () => {
    await start({ filters: { shadow: [mutation("shadow-chain"), CODEC] } });
    expect(get("/m")).toEqual({ status: 200, text: "backend" });
    expect(seen.backend!.map((r) => r.get("x-upstream-filter"))).toEqual([undefined]);
    expect(seen.shadow!.map((r) => r.get("x-upstream-filter"))).toEqual(["shadow-chain"]);
  });

  test("the router's upstream_http_filters go on the routed request only: a mirror is an async request without them (Envoy's)", async () => {
    await start({ filters: {}, routerFilters: [mutation("router-chain"), CODEC] });
    expect(get("/r").status).toBe(200);
    expect(seen.backend!.map((r) => r.get("x-upstream-filter"))).toEqual(["router-chain"]);
    expect(seen.shadow!.map((r) => r.get("x-upstream-filter"))).toEqual([undefined]);
  });

  test("an ext_authz HTTP check runs the authz cluster's chain", async () => {
    await start({ filters: { authz: [mutation("authz-chain"), CODEC] }, extAuthz: {} });
    expect(get("/a")).toEqual({ status: 200, text: "backend" });
    expect(seen.authz!.map((r) => r.get("x-upstream-filter"))).toEqual(["authz-chain"]);
    expect(seen.backend!.map((r) => r.get("x-upstream-filter"))).toEqual([undefined]);
  });

  test("a filter's local reply answers the check (the buffer filter's 413), never sent: ext_authz denies with it", async () => {
    await start({ filters: { authz: [BUFFER, CODEC] }, extAuthz: { with_request_body: { max_request_bytes: 64 } } });
    const denied = get("/big", "0123456789");
    expect(seen.authz).toEqual([]);
    expect(denied.status).toBe(413);
    expect(denied.text).toBe("Payload Too Large");
    // Never upstream: the authz cluster counts no response and no active request.
    expect((server.stats.get("cluster.authz.upstream_rq_413") as { value: number } | undefined)?.value ?? 0).toBe(0);
    expect((server.stats.get("cluster.authz.upstream_rq_active") as { value: number } | undefined)?.value ?? 0).toBe(0);
    // A small body passes the same chain.
    expect(get("/small", "ab")).toEqual({ status: 200, text: "backend" });
    expect(seen.authz!.map((r) => r.text())).toEqual(["ab"]);
  });
});

const LUA = {
  name: "envoy.filters.http.lua",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
    default_source_code: {
      inline_string: [
        "function envoy_on_request(h)",
        "  if h:headers():get(':path') == '/respond' then h:respond({[':status'] = '418'}, 'lua upstream') return end",
        "  if h:headers():get(':path') == '/error' then error('boom') end",
        "  h:headers():add('x-lua-upstream', 'added')",
        "end",
        "function envoy_on_response(h) h:headers():add('x-lua-upstream-response', h:headers():get(':status')) end",
      ].join("\n"),
    },
  },
};
const rbac = (action: "ALLOW" | "DENY") => ({
  name: "envoy.filters.http.rbac",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    rules: { action, policies: { "deny-admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: [{ any: true }] } } },
  },
});

function response(path: string): { status: number; text: string; headers: Record<string, string | undefined> } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path);
  runtime.runUntilIdle();
  const r = client.responses[0]!;
  return { status: r.status, text: r.text(), headers: { lua: r.get("x-lua-upstream-response"), ct: r.get("content-type") } };
}
const counter = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value;

describe("lua and rbac as upstream HTTP filters", () => {
  test("a local reply to an async gRPC request (Lua httpCall) carries the body as a percent-encoded grpc-message (Envoy's Utility::sendLocalReply)", async () => {
    const caller = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: {
          inline_string: [
            "function envoy_on_request(h)",
            "  local headers = h:httpCall('authz', {[':method'] = 'POST', [':path'] = '/svc/M', [':authority'] = 'authz', ['content-type'] = 'application/grpc'}, '', 1000)",
            "  h:respond({[':status'] = '200', ['x-grpc-status'] = tostring(headers['grpc-status']), ['x-grpc-message'] = tostring(headers['grpc-message'])}, '')",
            "end",
          ].join("\n"),
        },
      },
    };
    const refuse = {
      name: "envoy.filters.http.lua",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: "function envoy_on_request(h) h:respond({[':status'] = '403'}, '100% refused') end" } },
    };
    await start({ filters: { authz: [refuse, CODEC] }, downstream: [caller] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/g");
    runtime.runUntilIdle();
    const reply = client.responses[0]!;
    expect(reply.status).toBe(200);
    expect(reply.get("x-grpc-status")).toBe("7");
    expect(reply.get("x-grpc-message")).toBe("100%25 refused");
    expect(seen.authz).toHaveLength(0);
  });


  test("a local reply to an async request keeps the script's own content-type and grpc-status, once each (Envoy's Utility::sendLocalReply: modify_headers first, then the defaults only where absent)", async () => {
    const caller = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: {
          inline_string: [
            "function envoy_on_request(h)",
            "  local a = h:httpCall('authz', {[':method'] = 'POST', [':path'] = '/p', [':authority'] = 'authz'}, '', 1000)",
            "  local g = h:httpCall('authz', {[':method'] = 'POST', [':path'] = '/svc/M', [':authority'] = 'authz', ['content-type'] = 'application/grpc'}, '', 1000)",
            "  h:respond({[':status'] = '200', ['x-ct'] = tostring(a['content-type']), ['x-gct'] = tostring(g['content-type']), ['x-gs'] = tostring(g['grpc-status'])}, '')",
            "end",
          ].join("\n"),
        },
      },
    };
    const refuse = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: { inline_string: "function envoy_on_request(h) h:respond({[':status'] = '403', ['content-type'] = 'application/json', ['grpc-status'] = '16'}, '{}') end" },
      },
    };
    await start({ filters: { authz: [refuse, CODEC] }, downstream: [caller] });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/g");
    runtime.runUntilIdle();
    const reply = client.responses[0]!;
    expect(reply.status).toBe(200);
    // HTTP: the script's content-type, not text/plain beside it.
    expect(reply.get("x-ct")).toBe("application/json");
    // gRPC: application/grpc forced (replacing the script's), the script's grpc-status kept.
    expect(reply.get("x-gct")).toBe("application/grpc");
    expect(reply.get("x-gs")).toBe("16");
  });

  test("an ext_authz HTTP check denied by the authz cluster's Lua respond() hands the client the script's content-type alone", async () => {
    const refuse = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: { inline_string: "function envoy_on_request(h) h:respond({[':status'] = '403', ['content-type'] = 'application/json', ['x-a'] = '1'}, '{}') end" },
      },
    };
    await start({ filters: { authz: [refuse, CODEC] }, extAuthz: {} });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/g");
    runtime.runUntilIdle();
    const reply = client.responses[0]!;
    expect(reply.status).toBe(403);
    expect(reply.headers.filter(([name]) => name.toLowerCase() === "content-type").map(([, value]) => value)).toEqual(["application/json"]);
    expect(reply.text()).toBe("{}");
  });

  test("lua upstream: the origin sees the header the request script added, the client the response script's; respond() is the stream's local reply; errors count under the cluster", async () => {
    await start({ filters: { backend: [LUA, CODEC] } });
    const ok = response("/l");
    expect(ok.status).toBe(200);
    expect(ok.headers.lua).toBe("200");
    expect(seen.backend!.map((r) => r.get("x-lua-upstream"))).toEqual(["added"]);
    // The mirror's cluster has no chain: the copy goes without.
    expect(seen.shadow!.map((r) => r.get("x-lua-upstream"))).toEqual([undefined]);
    const replied = response("/respond");
    expect(replied.status).toBe(418);
    expect(replied.text).toBe("lua upstream");
    expect(seen.backend).toHaveLength(1);
    // Envoy's Lua respond() is sendLocalReply: upstream, the downstream stream's local reply,
    // never the upstream's answer (no upstream_rq_418); the attempt's unused stream is not left behind.
    expect(counter("cluster.backend.upstream_rq_418")).toBeUndefined();
    expect(counter("cluster.backend.upstream_rq_active")).toBe(0);
    expect(response("/error").status).toBe(200);
    expect(counter("cluster.backend.lua.errors")).toBe(1);
    expect(counter("http.ingress_http.lua.errors")).toBeUndefined();
  });

  test("lua upstream respond() is a local reply (Envoy's sendLocalReply): not retried on its status, not counted as the upstream's answer, no host or outlier charge; the script's headers reach the client", async () => {
    const respond = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code: { inline_string: "function envoy_on_request(h) h:respond({[':status'] = '503', ['x-r'] = '1'}, 'lua said') end" },
      },
    };
    await start({
      filters: { backend: [respond, CODEC] },
      routeAction: { retry_policy: { retry_on: "5xx,retriable-status-codes", retriable_status_codes: [503], num_retries: 2 } },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/r");
    runtime.runUntilIdle();
    const reply = client.responses[0]!;
    expect(reply.status).toBe(503);
    expect(reply.text()).toBe("lua said");
    expect(reply.get("x-r")).toBe("1");
    expect(seen.backend).toHaveLength(0);
    expect(counter("cluster.backend.upstream_rq_retry")).toBeFalsy();
    expect(counter("cluster.backend.upstream_rq_503")).toBeUndefined();
    expect(counter("cluster.backend.upstream_rq_5xx")).toBeFalsy();
    expect(counter("cluster.backend.upstream_rq_active")).toBe(0);
  });

  test("lua upstream with a route's own source_code (LuaPerRoute under the upstream filter's name, no Lua filter downstream): the route's script runs", async () => {
    const perRoute = {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
      source_code: { inline_string: "function envoy_on_request(h) h:headers():add('x-lua-upstream', 'route') end" },
    };
    await start({ filters: { backend: [LUA, CODEC] }, routeExtra: { typed_per_filter_config: { "envoy.filters.http.lua": perRoute } } });
    expect(response("/p").status).toBe(200);
    expect(response("/p").status).toBe(200);
    expect(seen.backend!.map((r) => r.get("x-lua-upstream"))).toEqual(["route", "route"]);
  });

  test("rbac upstream: a denied request is Envoy's 403 'RBAC: access denied' and never reaches the origin; counted under the cluster", async () => {
    await start({ filters: { backend: [rbac("DENY"), CODEC] } });
    const denied = response("/admin/x");
    expect(denied.status).toBe(403);
    expect(denied.text).toBe("RBAC: access denied");
    expect(seen.backend).toEqual([]);
    expect(response("/public").status).toBe(200);
    expect(seen.backend!.map((r) => r.path)).toEqual(["/public"]);
    expect(counter("cluster.backend.rbac.denied")).toBe(1);
    expect(counter("cluster.backend.rbac.allowed")).toBe(1);
  });

  test("rbac upstream's decision is dynamic metadata under envoy.filters.http.upstream_rbac (Envoy's DynamicMetadataKey), not the downstream RBAC filter's namespace", async () => {
    await start({
      filters: { backend: [rbac("DENY"), CODEC] },
      accessLog: "%DYNAMIC_METADATA(envoy.filters.http.upstream_rbac:enforced_engine_result)% %DYNAMIC_METADATA(envoy.filters.http.upstream_rbac:enforced_effective_policy_id)% %DYNAMIC_METADATA(envoy.filters.http.rbac)% %RESPONSE_CODE%\n",
    });
    expect(response("/admin/x").status).toBe(403);
    expect(response("/public").status).toBe(200);
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("denied deny-admin - 403\nallowed - - 200\n");
  });

  test("rbac upstream judges the request as the router wrote it, at host selection, before any upstream filter's decodeHeaders (Envoy's onHostSelected): a header_mutation before it removing the header does not let the request by", async () => {
    const removeBlock = {
      name: "envoy.filters.http.header_mutation",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation", mutations: { request_mutations: [{ remove: "x-block" }] } },
    };
    const denyBlock = {
      name: "envoy.filters.http.rbac",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        rules: { action: "DENY", policies: { block: { permissions: [{ header: { name: "x-block", present_match: true } }], principals: [{ any: true }] } } },
      },
    };
    await start({ filters: { backend: [removeBlock, denyBlock, CODEC] } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/x", { headers: { "x-block": "1" } });
    client.request("GET", "/y");
    runtime.runUntilIdle();
    expect(client.responses.map((r) => r.status)).toEqual([403, 200]);
    expect(seen.backend!.map((r) => r.path)).toEqual(["/y"]);
    expect(counter("cluster.backend.rbac.denied")).toBe(1);
    expect(counter("cluster.backend.rbac.allowed")).toBe(1);
  });

  test("rbac upstream on an async request (a mirror) judges nothing: there is no downstream connection (Envoy's skips it)", async () => {
    await start({ filters: { shadow: [rbac("ALLOW"), CODEC] } });
    // ALLOW only /admin: the routed request is not judged by the shadow's chain, the copy is not judged at all.
    expect(response("/public").status).toBe(200);
    expect(seen.shadow!.map((r) => r.path)).toEqual(["/public"]);
    expect(counter("cluster.shadow.rbac.denied")).toBe(0);
  });
});

describe("a cluster's upstream HTTP filters on an Envoy gRPC call", () => {
  test("an ext_authz grpc_service call (the gRPC client's async request) runs the authz cluster's chain over HTTP/2", async () => {
    runtime = new MemoryRuntime({ seed: 5 });
    peers.push(await MemoryHttpServer.listen(runtime, BACKEND, (req, res) => (seen.backend!.push(req), res.respond(200, "backend"))));
    const h2 = await MemoryH2Server.listen(runtime, AUTHZ, {});
    peers.push(h2);
    // Whatever it answers, failure_mode_allow lets the request on: what matters is what the service saw.
    h2.onRequest = (ex) => ex.respond(200, "", ["grpc-status", "0"]);
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [BACKEND], authz: [AUTHZ] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: unknown[] } }[] }[] }[]; clusters: { name: string }[] };
    };
    const authzCluster = config.static_resources.clusters.find((c) => c.name === "authz")!;
    Object.assign(authzCluster, {
      typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http2_protocol_options: {} }, http_filters: [mutation("grpc-chain"), CODEC] } },
    });
    const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
    hcm.http_filters = [
      {
        name: "envoy.filters.http.ext_authz",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
          grpc_service: { envoy_grpc: { cluster_name: "authz" }, timeout: "0.5s" },
          transport_api_version: "V3",
          failure_mode_allow: true,
        },
      },
      ...hcm.http_filters,
    ];
    server = await startProxy(runtime, config);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/g");
    runtime.advance(1000);
    expect(client.responses[0]!.status).toBe(200);
    expect(h2.exchanges.map((ex) => [ex.header(":path"), ex.header("x-upstream-filter")])).toEqual([["/envoy.service.auth.v3.Authorization/Check", "grpc-chain"]]);
  });
});
