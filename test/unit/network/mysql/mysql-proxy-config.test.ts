/**
 * mysql_proxy's config (core/config/mysql-proxy-schema.ts): stat_prefix required, its
 * field names in either JSON spelling, access_log and downstream_ssl refused by name
 * except at their defaults, and the filter is not terminal.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";

function config(mysql: object): string {
  const filters = [
    { name: "envoy.filters.network.mysql_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy", ...mysql } },
    { name: "tcp", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } },
  ];
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 3306 } } } };
  return JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 13306 } }, filter_chains: [{ filters }] }],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [endpoint] }] } }],
    },
  });
}

const filterOf = (mysql: object) => loadBootstrap(config(mysql), "json").listeners[0]!.filterChains[0]!.filters[0];
const PREFIX = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

describe("mysql_proxy config", () => {
  test("stat_prefix in either spelling; access_log empty and downstream_ssl DISABLE are their defaults", () => {
    expect(filterOf({ stat_prefix: "egress_mysql" })).toMatchObject({ type: "envoy.filters.network.mysql_proxy", config: { statPrefix: "egress_mysql" } });
    expect(filterOf({ statPrefix: "m", accessLog: "", downstreamSsl: "disable" })).toMatchObject({ config: { statPrefix: "m" } });
    expect(filterOf({ stat_prefix: "m", downstream_ssl: 0 })).toMatchObject({ config: { statPrefix: "m" } });
  });

  test("as the last filter it is refused: it is not terminal", () => {
    const json = JSON.parse(config({ stat_prefix: "m" }));
    json.static_resources.listeners[0].filter_chains[0].filters.pop();
    expect(() => loadBootstrap(JSON.stringify(json), "json")).toThrow("non-terminal filter named envoy.filters.network.mysql_proxy");
  });

  test.each([
    [{ stat_prefix: "m", access_log: "/tmp/mysql.log" }, `${PREFIX}: \`access_log\` is an Envoy field that polyvoy does not support yet (only empty: Envoy does not implement it either`],
    [{ stat_prefix: "m", downstream_ssl: "REQUIRE" }, `${PREFIX}.downstream_ssl: REQUIRE is an Envoy value that polyvoy does not support yet (supported: DISABLE; terminating the client's SSL needs Envoy's starttls`],
    [{}, `${PREFIX}.stat_prefix`],
    [{ stat_prefix: "" }, `${PREFIX}.stat_prefix`],
    [{ stat_prefix: "m", bogus: 1 }, "`bogus` is not a field"],
  ])("%j is refused by name", (mysql, message) => {
    expect(() => filterOf(mysql)).toThrow(message);
  });
});
