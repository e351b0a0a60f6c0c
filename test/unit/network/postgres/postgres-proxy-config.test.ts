/**
 * postgres_proxy's config (core/config/postgres-proxy-schema.ts): Envoy's defaults, its
 * field names in either JSON spelling, and terminate_ssl / upstream_ssl refused by name
 * except at their defaults.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";

function config(postgres: object): string {
  const filters = [
    { name: "envoy.filters.network.postgres_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", ...postgres } },
    { name: "tcp", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } },
  ];
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 5432 } } } };
  return JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 15432 } }, filter_chains: [{ filters }] }],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [endpoint] }] } }],
    },
  });
}

const filterOf = (postgres: object) => loadBootstrap(config(postgres), "json").listeners[0]!.filterChains[0]!.filters[0];
const PREFIX = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

describe("postgres_proxy config", () => {
  test("enable_sql_parsing defaults to true; camelCase and BoolValue forms read", () => {
    expect(filterOf({ stat_prefix: "pg" })).toMatchObject({ type: "envoy.filters.network.postgres_proxy", config: { statPrefix: "pg", enableSqlParsing: true } });
    expect(filterOf({ statPrefix: "pg", enableSqlParsing: false })).toMatchObject({ config: { statPrefix: "pg", enableSqlParsing: false } });
    expect(filterOf({ stat_prefix: "pg", enable_sql_parsing: { value: false }, terminate_ssl: false, upstream_ssl: "disable" })).toMatchObject({ config: { enableSqlParsing: false } });
  });

  test("it is not a terminal filter: tcp_proxy follows it", () => {
    expect(() => filterOf({ stat_prefix: "pg" })).not.toThrow();
  });

  test.each([
    [{ stat_prefix: "pg", terminate_ssl: true }, `${PREFIX}: \`terminate_ssl\` is an Envoy field that polyvoy does not support yet (only false: it needs Envoy's starttls transport socket`],
    [{ stat_prefix: "pg", upstream_ssl: "REQUIRE" }, `${PREFIX}.upstream_ssl: REQUIRE is an Envoy value that polyvoy does not support yet (supported: DISABLE; REQUIRE and PREFER need a StartTLS`],
    [{ stat_prefix: "pg", upstream_ssl: "PREFER" }, `${PREFIX}.upstream_ssl: PREFER is an Envoy value that polyvoy does not support yet`],
    [{}, `${PREFIX}.stat_prefix`],
    [{ stat_prefix: "pg", bogus: 1 }, "`bogus` is not a field"],
  ])("%j is refused by name", (postgres, message) => {
    expect(() => filterOf(postgres)).toThrow(message);
  });
});
