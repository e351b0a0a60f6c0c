/**
 * The config error taxonomy as the CLI prints it (`--mode validate`), on every runtime:
 * one line per problem, under `config error:`, exit 1. The lines themselves are tested one
 * by one in test/unit/config/config-errors.test.ts.
 */
import { describe, expect, test } from "vitest";
import { RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const CONFIG = `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 70000 } }
static_resources:
  listeners:
  - name: tcp
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: bakend
  clusters:
  - name: backend
    conect_timeout: 1s
    lb_policy: round_robin
    upstream_bind_config: {}
    load_assignment: { cluster_name: backend }
  - name: dns
    type: logical_dns
    load_assignment: { cluster_name: dns }
`;

describe.each(RUNTIMES)("config errors on %s", (runtime) => {
  test("--mode validate prints each problem on its own line and exits 1", async () => {
    const result = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig(CONFIG)]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n").sort()).toEqual(
      [
        "config error: admin.address.socket_address.port_value: 70000 is out of range (must be <= 65535)",
        "config error: static_resources.clusters[0]: `conect_timeout` is not a field of envoy.config.cluster.v3.Cluster; did you mean `connect_timeout`?",
        "config error: static_resources.clusters[0]: `upstream_bind_config` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
        "config error: static_resources.clusters[1].load_assignment: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint",
        'config error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster: no cluster named "bakend" is defined; did you mean "backend"?',
      ].sort(),
    );
  });

  test("a broken .json file gets JSON's terms", async () => {
    const result = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig('{\n  "admin": {\n    "address" {}\n  }\n}', "json")]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`config error: config: JSON syntax error at line 3, column 15: expected ':' after a member name, found "{"`);
  });
});
