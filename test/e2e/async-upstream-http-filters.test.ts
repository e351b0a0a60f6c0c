/**
 * A cluster's upstream HTTP filters on polyvoy's own requests, on every runtime over real
 * sockets: a header_mutation on the shadow cluster reaches the mirror's origin, one on the
 * ext_authz cluster reaches the authorization service — as Envoy's async client's router
 * builds the cluster's chain for them (core/http/filters/async-upstream-filters.ts); the
 * routed request carries neither header. Lua and RBAC as upstream filters on the routed
 * request's cluster (Envoy's UpstreamLuaFilterConfig, envoy.filters.http.upstream_rbac): the
 * script's header reaches the origin, a denied request is the 403 "RBAC: access denied" and
 * never reaches it.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as http from "node:http";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

startNodeFrom("package");

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const mutation = (value: string) => ({
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { request_mutations: [{ append: { header: { key: "x-upstream-filter", value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }] },
  },
});
const withFilters = (filters: unknown[]) => ({
  typed_extension_protocol_options: { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: filters } },
});

const LUA = {
  name: "envoy.filters.http.lua",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
    default_source_code: { inline_string: "function envoy_on_request(h) h:headers():add('x-lua-upstream', 'added') end" },
  },
};
const RBAC = {
  name: "envoy.filters.http.rbac",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
    rules: { action: "DENY", policies: { "no-admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: [{ any: true }] } } },
  },
};

describe.each(RUNTIMES)("a cluster's upstream HTTP filters on mirrors and ext_authz checks, on %s", (runtime) => {
  let backend: HttpUpstream;
  let shadow: HttpUpstream;
  let authz: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const agent = new Agent({ connections: 1 });

  beforeAll(async () => {
    backend = await httpUpstream((_req, res: http.ServerResponse) => res.end("backend"));
    shadow = await httpUpstream((_req, res: http.ServerResponse) => res.end("shadow"));
    authz = await httpUpstream((_req, res: http.ServerResponse) => res.end());
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { backend: [backend.port], shadow: [shadow.port], authz: [authz.port] },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", request_mirror_policies: [{ cluster: "shadow" }] } } }],
    }) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: unknown[] } }[] }[] }[]; clusters: { name: string }[] } };
    for (const cluster of config.static_resources.clusters) {
      Object.assign(cluster, withFilters(cluster.name === "backend" ? [RBAC, LUA, CODEC] : [mutation(`${cluster.name}-chain`), CODEC]));
    }
    const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
    hcm.http_filters = [
      {
        name: "envoy.filters.http.ext_authz",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", http_service: { server_uri: { uri: "http://authz", cluster: "authz", timeout: "2s" } } },
      },
      ...hcm.http_filters,
    ];
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await Promise.all([backend, shadow, authz].map((u) => u?.close()));
  });

  test("the check reaches the authz service with its cluster's header, the mirror its origin with the shadow cluster's; the routed request with neither", async () => {
    const res = await request(`http://127.0.0.1:${port}/both`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("backend");
    expect(authz.requests.map((r) => r.headers["x-upstream-filter"])).toEqual(["authz-chain"]);
    expect(backend.requests.map((r) => r.headers["x-upstream-filter"])).toEqual([undefined]);
    // The mirror is fire and forget: it may land just after the response.
    const deadline = Date.now() + 5000;
    while (shadow.requests.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shadow.requests.map((r) => r.headers["x-upstream-filter"])).toEqual(["shadow-chain"]);
    // The backend's own chain: Lua's header on the routed request, not on the copy or the check.
    expect(backend.requests.map((r) => r.headers["x-lua-upstream"])).toEqual(["added"]);
    expect(shadow.requests.map((r) => r.headers["x-lua-upstream"])).toEqual([undefined]);
  });

  test("rbac upstream denies: 403 'RBAC: access denied', the origin never sees it", async () => {
    const before = backend.requests.length;
    const res = await request(`http://127.0.0.1:${port}/admin/x`, { dispatcher: agent });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toBe("RBAC: access denied");
    expect(backend.requests.length).toBe(before);
  });
});
