/**
 * RBAC rules on metadata against the real proxy on every runtime, with real clients and
 * upstreams: the HTTP filter's sourced_metadata (ROUTE: the matched route's metadata;
 * DYNAMIC: what header_to_metadata set on the stream), and the network filter's metadata
 * rules on what postgres_proxy sets on the connection per query (Envoy's
 * filters/common/rbac/matchers.cc MetadataMatcher), with delay_deny putting off the close of
 * the denied connection (rbac_filter.cc).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import type net from "node:net";
import { connect, freePort, peerClosed, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { concat, query, startup } from "../support/postgres-wire.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const HEADER_TO_METADATA = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config";
const gold = { filter: "acme", path: [{ key: "tier" }], value: { string_match: { exact: "gold" } } };

describe.each(RUNTIMES)("rbac on metadata on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let pgPort: number;
  let adminPort: number;
  let database: TcpServer;
  /** What the stand-in database received, per connection. */
  const received: string[] = [];

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.method} ${req.url}`));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [
        { match: { prefix: "/gold" }, action: { route: { cluster: "echo" }, metadata: { filter_metadata: { acme: { tier: "gold" } } } } },
        { match: { prefix: "/silver" }, action: { route: { cluster: "echo" }, metadata: { filter_metadata: { acme: { tier: "silver" } } } } },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
      hcm: {
        http_filters: [
          // x-tier → the stream's dynamic metadata acme.tier, for the DYNAMIC rule.
          { name: "envoy.filters.http.header_to_metadata", typed_config: { "@type": HEADER_TO_METADATA, request_rules: [{ header: "x-tier", on_header_present: { metadata_namespace: "acme", key: "tier" } }] } },
          {
            name: "envoy.filters.http.rbac",
            typed_config: {
              "@type": RBAC,
              rules: {
                action: "ALLOW",
                policies: {
                  "gold-route": { permissions: [{ sourced_metadata: { metadata_matcher: gold, metadata_source: "ROUTE" } }], principals: [{ any: true }] },
                  "gold-client": { permissions: [{ any: true }], principals: [{ sourced_metadata: { metadata_matcher: gold } }] },
                },
              },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    // A stand-in PostgreSQL server: it only records what reaches it.
    database = await tcpServer((socket) => {
      const index = received.push("") - 1;
      socket.on("data", (d: Buffer) => (received[index] += d.toString("latin1")));
    });
    pgPort = await freePort();
    adminPort = await freePort();
    (config as { static_resources: { listeners: object[]; clusters: object[] } }).static_resources.listeners.push({
      name: "pg",
      address: { socket_address: { address: "127.0.0.1", port_value: pgPort } },
      filter_chains: [
        {
          filters: [
            { name: "envoy.filters.network.postgres_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", stat_prefix: "pg" } },
            {
              name: "envoy.filters.network.rbac",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
                stat_prefix: "pg_guard",
                enforcement_type: "CONTINUOUS",
                delay_deny: "1s",
                // DENY a DELETE of table t in database db: postgres_proxy's metadata key "t.db".
                rules: {
                  action: "DENY",
                  policies: { "no-delete": { permissions: [{ metadata: { filter: "envoy.filters.network.postgres_proxy", path: [{ key: "t.db" }], value: { list_match: { one_of: { string_match: { exact: "delete" } } } } } }], principals: [{ any: true }] } },
                },
              },
            },
            { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "pg_tcp", cluster: "database" } },
          ],
        },
      ],
    });
    (config as { static_resources: { clusters: object[] } }).static_resources.clusters.push({
      name: "database",
      connect_timeout: "1s",
      load_assignment: { cluster_name: "database", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: database.port } } } }] }] },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    await database?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const response = await request(base + path, { headers });
    return `${response.statusCode} ${await response.body.text()}`;
  }

  test("sourced_metadata ROUTE: a route whose metadata says gold is allowed, one that says silver is not", async () => {
    expect(await get("/gold/a")).toBe("200 GET /gold/a");
    expect(await get("/silver/a")).toBe("403 RBAC: access denied");
    // A route without metadata: the ROUTE matcher finds nothing.
    expect(await get("/other")).toBe("403 RBAC: access denied");
  });

  test("sourced_metadata DYNAMIC (the default): the stream's dynamic metadata, not the route's", async () => {
    expect(await get("/silver/b", { "x-tier": "gold" })).toBe("200 GET /silver/b");
    expect(await get("/other", { "x-tier": "gold" })).toBe("200 GET /other");
    expect(await get("/other", { "x-tier": "silver" })).toBe("403 RBAC: access denied");
  });

  test("network rbac: a metadata rule on postgres_proxy's per-query metadata denies the DELETE; delay_deny closes the connection a second later, nothing of it upstream", async () => {
    const client: net.Socket = await connect(pgPort);
    client.on("error", () => {});
    client.write(concat(startup({ user: "u", database: "db" }), query("SELECT 1 FROM a")));
    // The allowed query reaches the database.
    for (let i = 0; i < 100 && !received.some((r) => r.includes("SELECT 1 FROM a")); i++) await new Promise((r) => setTimeout(r, 20));
    expect(received.some((r) => r.includes("SELECT 1 FROM a"))).toBe(true);
    const closed = peerClosed(client);
    const deniedAt = Date.now();
    client.write(query("DELETE FROM t"));
    await closed;
    const after = Date.now() - deniedAt;
    // Not at once: the delay (1 s, less a timer's coarseness), and not much later.
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(5000);
    expect(received.join("")).not.toContain("DELETE");
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=pg_guard`)).body.text();
    expect(stats).toMatch(/^pg_guard\.rbac\.denied: 1$/m);
    expect(stats).toMatch(/^pg_guard\.rbac\.allowed: [1-9]/m);
    client.destroy();
  });
});
