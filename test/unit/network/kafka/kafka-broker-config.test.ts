/**
 * kafka_broker's config (core/config/kafka-broker-schema.ts): Envoy's example validates,
 * stat_prefix is required, the fields polyvoy does not implement are refused by name but at
 * their defaults, and the filter is not terminal.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";

function config(kafka: object): string {
  const filters = [
    { name: "envoy.filters.network.kafka_broker", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker", ...kafka } },
    { name: "tcp", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } },
  ];
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9092 } } } };
  return JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 19092 } }, filter_chains: [{ filters }] }],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [endpoint] }] } }],
    },
  });
}

const filterOf = (kafka: object) => loadBootstrap(config(kafka), "json").listeners[0]!.filterChains[0]!.filters[0];
const PREFIX = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

/** envoyproxy/examples kafka-broker/envoy.yaml, as written (Apache-2.0, The Envoy Project Authors). */
const ENVOY_EXAMPLE = `static_resources:
  listeners:
  - address:
      socket_address:
        address: 0.0.0.0 # Host that Kafka clients should connect to.
        port_value: 10000  # Port that Kafka clients should connect to.
    filter_chains:
    - filters:
      - name: envoy.filters.network.kafka_broker
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker
          stat_prefix: kafka_broker
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: localkafka

  clusters:
  - name: localkafka
    type: STRICT_DNS
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: kafka_service
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address:
                address: kafka-server # Kafka broker's host
                port_value: 9092 # Kafka broker's port.

admin:
  address:
    socket_address:
      address: 0.0.0.0
      port_value: 8001
`;

describe("kafka_broker config", () => {
  test("Envoy's kafka-broker example loads as written", () => {
    const bootstrap = loadBootstrap(ENVOY_EXAMPLE, "yaml");
    expect(bootstrap.listeners[0]!.filterChains[0]!.filters.map((f) => f.type)).toEqual(["envoy.filters.network.kafka_broker", "envoy.filters.network.tcp_proxy"]);
    expect(bootstrap.listeners[0]!.filterChains[0]!.filters[0]).toMatchObject({ config: { statPrefix: "kafka_broker" } });
  });

  test("stat_prefix in either spelling; the other fields at their defaults", () => {
    expect(filterOf({ stat_prefix: "kafka_broker" })).toMatchObject({ type: "envoy.filters.network.kafka_broker", config: { statPrefix: "kafka_broker" } });
    expect(filterOf({ statPrefix: "k", forceResponseRewrite: false, apiKeysAllowed: [], api_keys_denied: [] })).toMatchObject({ config: { statPrefix: "k" } });
  });

  test("as the last filter it is refused: it is not terminal", () => {
    const json = JSON.parse(config({ stat_prefix: "k" }));
    json.static_resources.listeners[0].filter_chains[0].filters.pop();
    expect(() => loadBootstrap(JSON.stringify(json), "json")).toThrow("non-terminal filter named envoy.filters.network.kafka_broker");
  });

  test.each([
    [{ stat_prefix: "k", force_response_rewrite: true }, `${PREFIX}: \`force_response_rewrite\` is an Envoy field that polyvoy does not support yet (only false: polyvoy's Kafka broker filter reads the message headers only`],
    [{ stat_prefix: "k", id_based_broker_address_rewrite_spec: { rules: [{ id: 1, host: "envoy", port: 19092 }] } }, `${PREFIX}: \`id_based_broker_address_rewrite_spec\` is an Envoy field that polyvoy does not support yet (polyvoy's Kafka broker filter reads the message headers only, not the Metadata, FindCoordinator and DescribeCluster response bodies`],
    [{ stat_prefix: "k", api_keys_allowed: [0, 3] }, `${PREFIX}: \`api_keys_allowed\` is an Envoy field that polyvoy does not support yet (only empty: polyvoy's Kafka broker filter does not filter requests by API key)`],
    [{ stat_prefix: "k", api_keys_denied: [18] }, `${PREFIX}: \`api_keys_denied\` is an Envoy field that polyvoy does not support yet (only empty`],
    [{}, `${PREFIX}.stat_prefix`],
    [{ stat_prefix: "" }, `${PREFIX}.stat_prefix`],
    [{ stat_prefix: "k", bogus: 1 }, "`bogus` is not a field"],
  ])("%j is refused by name", (kafka, message) => {
    expect(() => filterOf(kafka)).toThrow(message);
  });
});
