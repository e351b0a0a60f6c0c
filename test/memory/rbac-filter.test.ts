/** The envoy.filters.http.rbac filter (core/http/filters/rbac.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { httpProxyConfig } from "../support/configs.ts";
import { filterProxy, ROUTER, type FilterProxy } from "./support/filter-proxy.ts";
import { startProxy } from "./support/proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
const rbac = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.rbac", typed_config: { "@type": TYPE, ...fields } });
const STATS = "http.ingress_http.rbac.";
const ANY = [{ any: true }];
const adminOnly = {
  action: "ALLOW",
  policies: {
    "admin-user": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: [{ header: { name: "x-user", string_match: { exact: "admin" } } }] },
    public: { permissions: [{ not_rule: { url_path: { path: { prefix: "/admin" } } } }], principals: ANY },
  },
};

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

describe("rbac filter", () => {
  test("ALLOW rules: a request no policy matches gets 403 RBAC: access denied; matched ones reach the upstream", async () => {
    proxy = await filterProxy([rbac({ rules: adminOnly })]);
    const denied = await proxy.request("GET", "/admin/users");
    expect(denied.status).toBe(403);
    expect(denied.text()).toBe("RBAC: access denied");
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect((await proxy.request("GET", "/admin/users", { headers: { "x-user": "admin" } })).status).toBe(200);
    expect((await proxy.request("GET", "/index.html")).status).toBe(200);
    expect(proxy.counter(STATS + "allowed")).toBe(2);
    expect(proxy.counter(STATS + "denied")).toBe(1);
  });

  test("DENY rules on the peer's address and a destination port; rules_stat_prefix names the counters", async () => {
    // The memory client connects from 127.0.0.1.
    proxy = await filterProxy([
      rbac({ rules_stat_prefix: "edge.", rules: { action: "DENY", policies: { loopback: { permissions: [{ destination_port: 10000 }], principals: [{ direct_remote_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }] } } } }),
    ]);
    expect((await proxy.request("GET", "/")).status).toBe(403);
    expect(proxy.counter(STATS + "edge.denied")).toBe(1);
    expect(proxy.counter(STATS + "denied")).toBe(0);
  });

  test("shadow rules only count, and the results go to dynamic metadata that access logs print", async () => {
    proxy = await filterProxy([rbac({ shadow_rules: adminOnly, shadow_rules_stat_prefix: "audit_" })], {
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: "/dev/stdout",
              log_format: { text_format_source: { inline_string: "%METADATA(DYNAMIC:envoy.filters.http.rbac:audit_shadow_engine_result)% %DYNAMIC_METADATA(envoy.filters.http.rbac:audit_shadow_effective_policy_id)% %RESPONSE_CODE_DETAILS%\n" } },
            },
          },
        ],
      },
    });
    expect((await proxy.request("GET", "/admin")).status).toBe(200);
    expect((await proxy.request("GET", "/home")).status).toBe(200);
    expect(proxy.counter(STATS + "audit_shadow_denied")).toBe(1);
    expect(proxy.counter(STATS + "audit_shadow_allowed")).toBe(1);
    expect(proxy.counter(STATS + "allowed")).toBe(0);
    await proxy.runtime.settle(1000);
    expect(proxy.runtime.stdoutText).toBe("denied - via_upstream\nallowed public via_upstream\n");
  });

  test("a denial's response code details name the matched DENY policy; a route's RBACPerRoute replaces the rules or, empty, lifts them", async () => {
    proxy = await filterProxy(
      [rbac({ rules: { action: "DENY", policies: { "no admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: ANY } } } })],
      {
        routes: [
          { match: { prefix: "/open" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.rbac": { "@type": PER_ROUTE } } } },
          {
            match: { prefix: "/locked" },
            action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.rbac": { "@type": PER_ROUTE, rbac: { rules: { action: "ALLOW" } } } } },
          },
          { match: { prefix: "/" }, cluster: "backend" },
        ],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: "/dev/stdout",
                log_format: { text_format_source: { inline_string: "%RESPONSE_CODE_DETAILS%\n" } },
              },
            },
          ],
        },
      },
    );
    expect((await proxy.request("GET", "/admin")).status).toBe(403);
    expect((await proxy.request("GET", "/open/admin")).status).toBe(200);
    expect((await proxy.request("GET", "/locked")).status).toBe(403);
    await proxy.runtime.settle(1000);
    expect(proxy.runtime.stdoutText).toBe("rbac_access_denied_matched_policy[no_admin]\nvia_upstream\nrbac_access_denied_matched_policy[none]\n");
  });

  test("remote_ip is the client x-forwarded-for names (xff_num_trusted_hops from the right)", async () => {
    proxy = await filterProxy(
      [rbac({ rules: { policies: { office: { permissions: ANY, principals: [{ remote_ip: { address_prefix: "198.51.100.0", prefix_len: 24 } }] } } } })],
      { hcm: { xff_num_trusted_hops: 1 } },
    );
    expect((await proxy.request("GET", "/", { headers: { "x-forwarded-for": "198.51.100.4, 10.0.0.2" } })).status).toBe(200);
    expect((await proxy.request("GET", "/", { headers: { "x-forwarded-for": "203.0.113.1, 10.0.0.2" } })).status).toBe(403);
    expect((await proxy.request("GET", "/")).status).toBe(403);
  });

  test("behind proxy_protocol: direct_remote_ip is the socket's peer; source_ip and remote_ip the PROXY header's client", async () => {
    // Envoy's IPMatcher (source/extensions/filters/common/rbac/matchers.cc): DownstreamDirectRemote, ConnectionRemote, DownstreamRemote.
    const statuses: string[] = [];
    for (const principal of [
      { direct_remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } },
      { direct_remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } },
      { source_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } },
      { source_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } },
      { remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } },
    ]) {
      proxy?.close();
      // A runtime with the upstream; the proxy under test is this config with a proxy_protocol listener filter.
      proxy = await filterProxy([]);
      const config = httpProxyConfig({ listenPort: 10001, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [rbac({ rules: { policies: { p: { permissions: ANY, principals: [principal] } } } }), ROUTER] } }) as {
        static_resources: { listeners: { listener_filters?: object[] }[] };
      };
      config.static_resources.listeners[0]!.listener_filters = [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } }];
      await startProxy(proxy.runtime, config);
      const socket = proxy.runtime.connect({ address: "127.0.0.1", port: 10001 });
      let received = "";
      socket.setHandler({ onConnect() {}, onData: (data) => void (received += new TextDecoder().decode(data)), onEnd() {}, onDrain() {}, onClose() {} });
      socket.write(new TextEncoder().encode("PROXY TCP4 192.0.2.1 127.0.0.1 56324 10001\r\nGET / HTTP/1.1\r\nhost: example.com\r\n\r\n"));
      await proxy.runtime.settle();
      statuses.push(received.slice(9, 12));
    }
    expect(statuses).toEqual(["200", "403", "200", "403", "200"]);
  });
});
