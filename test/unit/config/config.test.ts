import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";
import { parseDurationMs } from "../../../core/config/duration.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { formatFromPath, loadBootstrap } from "../../../core/config/load.ts";

/** The problems a config is rejected with (fails the test if it loads). */
function problems(text: string, format: "yaml" | "json" = "yaml"): string[] {
  try {
    loadBootstrap(text, format);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe((err as ConfigError).problems.join("\n"));
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

/** A valid config with `replace` applied to its text, for one-mistake tests. */
function typical(replace: [string, string][] = []): string {
  let text = TYPICAL_YAML;
  for (const [from, to] of replace) {
    expect(text).toContain(from);
    text = text.replace(from, to);
  }
  return text;
}

const TYPICAL_YAML = `
node:
  id: proxy-1
  cluster: edge
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: main
    address:
      socket_address:
        address: 0.0.0.0
        port_value: 10000
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ingress_tcp
          cluster: backend
  clusters:
  - name: backend
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 10.0.0.1, port_value: 8080 }
        - endpoint:
            address:
              socket_address: { address: 10.0.0.2, port_value: 8080 }
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: "::1", port_value: 8081 }
`;

const TYPICAL_BOOTSTRAP: Bootstrap = {
  node: { id: "proxy-1", cluster: "edge" },
  admin: { address: { address: "127.0.0.1", port: 9901 } },
  listeners: [
    {
      name: "main",
      address: { address: "0.0.0.0", port: 10000 },
      perConnectionBufferLimitBytes: 1048576,
      filterChains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              type: "envoy.filters.network.tcp_proxy",
              config: { statPrefix: "ingress_tcp", clusters: [{ name: "backend", weight: 1 }], idleTimeoutMs: 3_600_000 },
            },
          ],
        },
      ],
    },
  ],
  clusters: [
    {
      name: "backend",
      type: "STATIC",
      connectTimeoutMs: 250,
      lbPolicy: "ROUND_ROBIN",
      perConnectionBufferLimitBytes: 1048576,
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
      endpoints: [
        {
          priority: 0,
          lbEndpoints: [
            { address: { address: "10.0.0.1", port: 8080 }, loadBalancingWeight: 1 },
            { address: { address: "10.0.0.2", port: 8080 }, loadBalancingWeight: 1 },
          ],
        },
        { priority: 0, lbEndpoints: [{ address: { address: "::1", port: 8081 }, loadBalancingWeight: 1 }] },
      ],
    },
  ],
};

const LISTENERS = "static_resources.listeners";
const FILTER = `${LISTENERS}[0].filter_chains[0].filters[0]`;

describe("valid configs", () => {
  test("a typical Envoy tcp_proxy YAML config loads with Envoy's defaults", () => {
    expect(loadBootstrap(TYPICAL_YAML, "yaml")).toEqual(TYPICAL_BOOTSTRAP);
  });

  test("the same config in JSON with camelCase keys", () => {
    const json = JSON.stringify({
      node: { id: "proxy-1", cluster: "edge" },
      admin: { address: { socketAddress: { address: "127.0.0.1", portValue: 9901 } } },
      staticResources: {
        listeners: [
          {
            name: "main",
            address: { socketAddress: { address: "0.0.0.0", portValue: 10000 } },
            filterChains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typedConfig: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                      statPrefix: "ingress_tcp",
                      cluster: "backend",
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          {
            name: "backend",
            connectTimeout: "0.25s",
            loadAssignment: {
              clusterName: "backend",
              endpoints: [
                {
                  lbEndpoints: [
                    { endpoint: { address: { socketAddress: { address: "10.0.0.1", portValue: 8080 } } } },
                    { endpoint: { address: { socketAddress: { address: "10.0.0.2", portValue: 8080 } } } },
                  ],
                },
                { lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "::1", portValue: 8081 } } } }] },
              ],
            },
          },
        ],
      },
    });
    expect(loadBootstrap(json, "json")).toEqual(TYPICAL_BOOTSTRAP);
  });

  test("examples/tcp-proxy.yaml loads", () => {
    const text = readFileSync(new URL("../../../examples/tcp-proxy.yaml", import.meta.url), "utf8");
    const bootstrap = loadBootstrap(text, "yaml");
    expect(bootstrap.admin).toEqual({ address: { address: "127.0.0.1", port: 9901 } });
    expect(bootstrap.listeners).toHaveLength(1);
    expect(bootstrap.listeners[0]!.address).toEqual({ address: "127.0.0.1", port: 10000 });
    const filter = bootstrap.listeners[0]!.filterChains[0]!.filters[0]!;
    expect(filter.type === "envoy.filters.network.tcp_proxy" && filter.config.clusters).toEqual([{ name: "service", weight: 1 }]);
    expect(bootstrap.clusters.map((c) => [c.name, c.endpoints.flatMap((l) => l.lbEndpoints.map((e) => e.address))])).toEqual([["service", [{ address: "127.0.0.1", port: 8080 }]]]);
  });

  test("explicit values override the defaults", () => {
    const bootstrap = loadBootstrap(
      typical([
        ["cluster: backend\n  clusters", "cluster: backend\n          idle_timeout: 0s\n  clusters"],
        ["    filter_chains:", "    per_connection_buffer_limit_bytes: 32768\n    filter_chains:"],
        ["connect_timeout: 0.25s", "connect_timeout: { seconds: 2 }\n    type: STATIC\n    lb_policy: ROUND_ROBIN\n    per_connection_buffer_limit_bytes: 65536"],
      ]),
      "yaml",
    );
    expect(bootstrap.listeners[0]!.perConnectionBufferLimitBytes).toBe(32768);
    expect((bootstrap.listeners[0]!.filterChains[0]!.filters[0]!.config as { idleTimeoutMs: number }).idleTimeoutMs).toBe(0);
    expect(bootstrap.clusters[0]).toMatchObject({ connectTimeoutMs: 2000, perConnectionBufferLimitBytes: 65536 });
  });

  test("an unnamed listener is named after its address; a filter is found by name without @type", () => {
    const bootstrap = loadBootstrap(
      `
static_resources:
  listeners:
  - address: { socket_address: { address: "::", port_value: 443, protocol: TCP } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { stat_prefix: s, cluster: c } }] }]
  clusters:
  - name: c
`,
      "yaml",
    );
    expect(bootstrap.listeners[0]!.name).toBe("[::]:443");
    expect(bootstrap.listeners[0]!.filterChains[0]!.filters[0]!.type).toBe("envoy.filters.network.tcp_proxy");
    expect(bootstrap.clusters[0]).toEqual({
      name: "c",
      type: "STATIC",
      connectTimeoutMs: 5000,
      lbPolicy: "ROUND_ROBIN",
      perConnectionBufferLimitBytes: 1048576,
      endpoints: [],
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
    });
    expect(bootstrap.node).toBeUndefined();
    expect(bootstrap.admin).toBeUndefined();
  });

  test("an empty object is an empty bootstrap", () => {
    expect(loadBootstrap("{}", "json")).toEqual({ listeners: [], clusters: [] });
  });

  test("formatFromPath", () => {
    expect(formatFromPath("envoy.json")).toBe("json");
    expect(formatFromPath("/etc/ENVOY.JSON")).toBe("json");
    expect(formatFromPath("envoy.yaml")).toBe("yaml");
    expect(formatFromPath("envoy.yml")).toBe("yaml");
    expect(formatFromPath("envoy")).toBe("yaml");
  });
});

describe("durations", () => {
  test.each([
    ["5s", 5000],
    ["0.25s", 250],
    ["1.5s", 1500],
    ["3600s", 3_600_000],
    ["0s", 0],
    ["0.000001s", 0.001],
    ["1.000000001s", 1000.000001],
  ])("%s", (text, ms) => {
    expect(parseDurationMs(text)).toEqual({ ok: true, ms });
  });

  test.each([
    [{ seconds: 1, nanos: 500_000_000 }, 1500],
    [{ seconds: 2 }, 2000],
    [{ nanos: 1_000_000 }, 1],
    [{ seconds: "30" }, 30_000],
    [{}, 0],
  ])("%o", (value, ms) => {
    expect(parseDurationMs(value)).toEqual({ ok: true, ms });
  });

  test.each([
    [5, `expected a duration such as "5s", "0.25s" or { seconds: 1, nanos: 500000000 }, got number`],
    [null, `expected a duration such as "5s", "0.25s" or { seconds: 1, nanos: 500000000 }, got null`],
    ["5", `invalid duration "5": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`],
    ["5ms", `invalid duration "5ms": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`],
    ["0.1234567891s", `invalid duration "0.1234567891s": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`],
    [".5s", `invalid duration ".5s": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`],
    ["-1s", `invalid duration "-1s": must not be negative`],
    ["315576000001s", `invalid duration "315576000001s": longer than protobuf's maximum of 315576000000s`],
    [{ seconds: 1.5 }, `invalid duration: seconds must be a non-negative integer, got 1.5`],
    [{ seconds: -1 }, `invalid duration: seconds must be a non-negative integer, got -1`],
    [{ nanos: 1_000_000_000 }, `invalid duration: nanos must be an integer from 0 to 999999999, got 1000000000`],
    [{ minutes: 1 }, `invalid duration: unknown field "minutes" (a duration object has only seconds and nanos)`],
  ])("%o is refused", (value, error) => {
    expect(parseDurationMs(value)).toEqual({ ok: false, error });
  });

  test("a bad duration in a config is reported at its path", () => {
    expect(problems(typical([["connect_timeout: 0.25s", "connect_timeout: 250ms"]]))).toEqual([
      `static_resources.clusters[0].connect_timeout: invalid duration "250ms": expected seconds with an "s" suffix and at most 9 fractional digits, e.g. "5s" or "0.25s"`,
    ]);
    expect(problems(typical([["          cluster: backend", "          cluster: backend\n          idle_timeout: -5s"]]))).toEqual([
      `${FILTER}.typed_config.idle_timeout: invalid duration "-5s": must not be negative`,
    ]);
    expect(problems(typical([["connect_timeout: 0.25s", "connect_timeout: 0s"]]))).toEqual([
      "static_resources.clusters[0].connect_timeout: must be greater than 0s",
    ]);
  });
});

describe("bad configs give one-line problems", () => {
  test("YAML syntax error", () => {
    expect(problems("static_resources:\n  listeners: [\n  clusters: []\n")).toEqual([
      "config: YAML syntax error at line 3, column 3: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ]);
  });

  test("JSON syntax error", () => {
    expect(problems('{\n  "node": {},\n  "admin" {}\n}', "json")).toEqual([
      "config: JSON syntax error at line 3, column 11: expected ':' after a member name, found \"{\"",
    ]);
    expect(problems("", "json")).toEqual(["config: JSON syntax error: the document is empty"]);
    // Single quotes are YAML, not JSON.
    const [problem] = problems("{'node': {}}", "json");
    expect(problem).toBe(`config: JSON syntax error at line 1, column 2: expected a member name in double quotes, found "'"`);
    expect(problem).not.toContain("\n");
  });

  test("empty or non-object documents", () => {
    expect(problems("")).toEqual(["config: the document is empty"]);
    expect(problems("- a\n- b\n")).toEqual(["config: expected object, got array"]);
  });

  test("wrong type", () => {
    expect(problems(typical([["port_value: 10000", 'port_value: "ten"']]))).toEqual([
      `${LISTENERS}[0].address.socket_address.port_value: "ten" is not a number (a uint32, given as a number or a string of one)`,
    ]);
    expect(problems(typical([["port_value: 10000", "port_value: 10000.5"]]))).toEqual([
      `${LISTENERS}[0].address.socket_address.port_value: expected an integer, got 10000.5`,
    ]);
    expect(problems(typical([["- name: main", "- name: [main]"]]))).toEqual([`${LISTENERS}[0].name: expected string, got array`]);
  });

  test("out of range and missing values", () => {
    expect(problems(typical([["port_value: 10000", "port_value: 70000"]]))).toEqual([
      `${LISTENERS}[0].address.socket_address.port_value: 70000 is out of range (must be <= 65535)`,
    ]);
    expect(problems(typical([["          stat_prefix: ingress_tcp\n", ""]]))).toEqual([
      `${FILTER}.typed_config.stat_prefix: missing required field`,
    ]);
  });

  test("unknown field", () => {
    expect(problems(typical([["    filter_chains:", "    foo: 1\n    filter_chains:"]]))).toEqual([
      `${LISTENERS}[0]: \`foo\` is not a field of envoy.config.listener.v3.Listener`,
    ]);
  });

  test("Envoy fields outside the supported subset", () => {
    expect(
      problems(
        typical([
          ["node:", "hds_config: {}\nnode:"],
          ["admin:\n", "admin:\n  ignore_global_conn_limit: true\n"],
          ["          cluster: backend", "          cluster: backend\n          max_downstream_connection_duration: 5s"],
          ["    filter_chains:\n    - filters:", "    filter_chains:\n    - use_proxy_proto: true\n      filters:"],
        ]),
      ),
    ).toEqual([
      "admin: `ignore_global_conn_limit` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
      `${FILTER}.typed_config: \`max_downstream_connection_duration\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`,
      `${LISTENERS}[0].filter_chains[0]: \`use_proxy_proto\` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)`,
      "config: `hds_config` is an Envoy field that polyvoy does not support yet (supported fields: docs/configuration.md)",
    ]);
  });

  test("FilterChain transport_socket_connect_timeout: milliseconds; 0 (Envoy's default) is no limit", () => {
    const chain = (value: string) => loadBootstrap(typical([["    filter_chains:\n    - filters:", `    filter_chains:\n    - transport_socket_connect_timeout: ${value}\n      filters:`]]), "yaml").listeners[0]!.filterChains[0]!;
    expect(chain("0.25s").transportSocketConnectTimeoutMs).toBe(250);
    expect(chain("0s")).not.toHaveProperty("transportSocketConnectTimeoutMs");
  });

  test("connection_balance_config: exact_balance is what one worker per process does; a balancer extension is refused", () => {
    expect(loadBootstrap(typical([["    filter_chains:\n    - filters:", "    connection_balance_config: { exact_balance: {} }\n    filter_chains:\n    - filters:"]]), "yaml").listeners).toHaveLength(1);
    expect(problems(typical([["    filter_chains:\n    - filters:", "    connection_balance_config: { extend_balance: { name: x } }\n    filter_chains:\n    - filters:"]]))).toEqual([
      `${LISTENERS}[0].connection_balance_config: \`extend_balance\` is an Envoy field that polyvoy does not support yet (a connection balancer extension)`,
    ]);
  });

  test("enable_reuse_port and the deprecated reuse_port, as Envoy's getReusePortOrDefault", () => {
    const listener = (fields: string) => loadBootstrap(typical([["    filter_chains:\n    - filters:", `${fields}    filter_chains:\n    - filters:`]]), "yaml").listeners[0]!;
    // Absent, true, or reuse_port alone: Envoy's default (true), which the config leaves out.
    for (const fields of ["", "    enable_reuse_port: true\n", "    reuse_port: true\n", "    reuse_port: false\n"]) {
      expect(listener(fields)).not.toHaveProperty("reusePort");
      expect(listener(fields)).not.toHaveProperty("reusePortBothSet");
    }
    expect(listener("    enable_reuse_port: false\n").reusePort).toBe(false);
    // enable_reuse_port wins; both set is said at start (ActiveListener.start), as Envoy warns.
    expect(listener("    enable_reuse_port: false\n    reuse_port: true\n")).toMatchObject({ reusePort: false, reusePortBothSet: true });
    expect(listener("    enableReusePort: true\n    reusePort: true\n")).toMatchObject({ reusePortBothSet: true });
    expect(listener("    enableReusePort: true\n    reusePort: true\n")).not.toHaveProperty("reusePort");
    expect(problems(typical([["    filter_chains:\n    - filters:", "    enable_reuse_port: 1\n    filter_chains:\n    - filters:"]]))[0]).toMatch(/^static_resources\.listeners\[0\]\.enable_reuse_port: /);
  });

  test("unsupported enum value", () => {
    expect(problems(typical([["address: 10.0.0.1, port_value: 8080", "address: 10.0.0.1, port_value: 8080, protocol: UDP"]]))).toEqual([
      "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.protocol: UDP is an Envoy value that polyvoy does not support yet (supported: TCP)",
    ]);
    // EDS is supported: without eds_cluster_config, and with a load_assignment it would not read, it says so.
    expect(problems(typical([["connect_timeout: 0.25s", "connect_timeout: 0.25s\n    type: EDS"]]))).toEqual([
      "static_resources.clusters[0].eds_cluster_config: an EDS cluster needs eds_cluster_config (its eds_config names the file of its endpoints)",
      "static_resources.clusters[0].load_assignment: an EDS cluster's endpoints come from eds_cluster_config; load_assignment would be ignored",
    ]);
  });

  test("a STATIC endpoint must be an IP literal", () => {
    expect(problems(typical([["address: 10.0.0.2", "address: backend.internal"]]))).toEqual([
      'static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[1].endpoint.address.socket_address.address: "backend.internal" is not an IP address (Envoy needs an IPv4 or IPv6 literal here, not a host name)',
    ]);
  });

  test("tcp_proxy to a cluster that is not defined", () => {
    expect(problems(typical([["          cluster: backend", "          cluster: backnd"]]))).toEqual([
      `${FILTER}.typed_config.cluster: no cluster named "backnd" is defined; did you mean "backend"?`,
    ]);
  });

  test("duplicate listener name and address", () => {
    const second = `
  - name: main
    address: { socket_address: { address: 0.0.0.0, port_value: 10001 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { stat_prefix: b, cluster: backend } }] }]
  - name: other
    address: { socket_address: { address: 0.0.0.0, port_value: 10000 } }
    filter_chains: [{ filters: [{ name: envoy.filters.network.tcp_proxy, typed_config: { stat_prefix: b, cluster: backend } }] }]
  clusters:`;
    expect(problems(typical([["\n  clusters:", second]]))).toEqual([
      `${LISTENERS}[1].name: duplicate listener name "main"`,
      `${LISTENERS}[2].address: duplicate listener address 0.0.0.0:10000 (already used by listener "main")`,
    ]);
  });

  test("duplicate cluster name", () => {
    expect(problems(typical([["  clusters:\n", "  clusters:\n  - name: backend\n"]]))).toEqual([
      'static_resources.clusters[1].name: duplicate cluster name "backend"',
    ]);
  });

  test("unsupported network filter, by @type or by name", () => {
    const byType = problems(typical([["tcp_proxy.v3.TcpProxy", "mongo_proxy.v3.MongoProxy"]]));
    expect(byType).toHaveLength(1);
    expect(byType[0]).toBe(`${FILTER}: envoy.filters.network.mongo_proxy (the MongoDB proxy) is an Envoy network filter that polyvoy does not have (polyvoy's: docs/configuration.md)`);
    const byName = typical([
      ["      - name: envoy.filters.network.tcp_proxy", "      - name: envoy.filters.network.echo"],
      ['          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n', ""],
    ]);
    const problemsByName = problems(byName);
    expect(problemsByName).toHaveLength(1);
    expect(problemsByName[0]).toBe(`${FILTER}: envoy.filters.network.echo (the echo filter) is an Envoy network filter that polyvoy does not have (polyvoy's: docs/configuration.md)`);
  });

  test("a field given as null is a field not given (proto3 JSON), as Envoy's tls-inspector example's empty filter_chain_match", () => {
    expect(loadBootstrap(typical([["    - filters:\n", "    - filter_chain_match:\n      filters:\n"], ["  id: proxy-1", "  id: proxy-1\n  metadata: null"]]), "yaml")).toEqual(TYPICAL_BOOTSTRAP);
    // A null where a value is required is still missing.
    expect(problems(typical([["        port_value: 10000", "        port_value: null"]]))[0]).toMatch(/port_value/);
  });

  test("camelCase and snake_case spellings of one field", () => {
    expect(problems(typical([["port_value: 10000", "port_value: 10000\n        portValue: 10001"]]))).toEqual([
      `${LISTENERS}[0].address.socket_address.port_value: field given twice, as "port_value" and "portValue"`,
    ]);
  });

  test("several problems are reported together", () => {
    const text = typical([
      ["port_value: 10000", 'port_value: "ten"'],
      ["    filter_chains:", "    foo: 1\n    filter_chains:"],
      ["connect_timeout: 0.25s", "connect_timeout: 0.25s\n    cleanup_interval: 0s"],
      ["address: 10.0.0.1, port_value: 8080", "address: 10.0.0.1, port_value: -1"],
      ["  clusters:\n", "  clusters:\n  - name: other\n  - name: other\n"],
    ]);
    expect(problems(text)).toEqual([
      `${LISTENERS}[0].address.socket_address.port_value: "ten" is not a number (a uint32, given as a number or a string of one)`,
      `${LISTENERS}[0]: \`foo\` is not a field of envoy.config.listener.v3.Listener`,
      "static_resources.clusters[2].cleanup_interval: must be greater than 0s",
      "static_resources.clusters[2].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: -1 is out of range (must be >= 0)",
      // cleanup_interval's refinement runs too: the cluster is not an ORIGINAL_DST one.
      "static_resources.clusters[2].cleanup_interval: applies to type: ORIGINAL_DST clusters only",
      'static_resources.clusters[1].name: duplicate cluster name "other"',
    ]);
  });

  test("a listener valid on its own is cross-checked even when another part is invalid", () => {
    const text = typical([
      ["          cluster: backend", "          cluster: missing"],
      ["connect_timeout: 0.25s", "connect_timeout: 0.25s\n    cleanup_interval: 0s"],
    ]);
    expect(problems(text)).toEqual([
      "static_resources.clusters[0].cleanup_interval: must be greater than 0s",
      "static_resources.clusters[0].cleanup_interval: applies to type: ORIGINAL_DST clusters only",
      `${FILTER}.typed_config.cluster: no cluster named "missing" is defined`,
    ]);
  });
});

describe("filter chains", () => {
  test("two filter chains with the same filter_chain_match are refused, as Envoy refuses them", () => {
    const chain = {
      filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { stat_prefix: "t", cluster: "c" } }],
    };
    const config = JSON.stringify({
      static_resources: {
        listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [chain, chain] }],
        clusters: [{ name: "c", load_assignment: { cluster_name: "c" } }],
      },
    });
    expect(() => loadBootstrap(config, "json")).toThrow(
      "static_resources.listeners[0].filter_chains: error adding listener '127.0.0.1:1': filter chain '' has the same matching rules defined as ''. duplicate matcher is: {}",
    );
  });
});

describe("listener address", () => {
  test("ipv4_compat: true is what a listener on :: does on every runtime (accepted); false (IPv6 only) is refused by name", () => {
    const config = (ipv4Compat: boolean, address = "::") =>
      JSON.stringify({
        static_resources: {
          listeners: [
            {
              name: "l",
              address: { socket_address: { address, port_value: 1, ipv4_compat: ipv4Compat } },
              filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { stat_prefix: "t", cluster: "c" } }] }],
            },
          ],
          clusters: [{ name: "c", load_assignment: { cluster_name: "c" } }],
        },
      });
    expect(loadBootstrap(config(true), "json").listeners[0]!.address).toEqual({ address: "::", port: 1 });
    expect(() => loadBootstrap(config(false), "json")).toThrow("static_resources.listeners[0].address.socket_address.ipv4_compat: only true on ::");
    expect(() => loadBootstrap(config(false, "0:0::0"), "json")).toThrow("ipv4_compat: only true on ::");
  });

  test("ipv4_compat: false where it changes nothing is accepted, as Envoy: an IPv4 address (ignored) or a specific IPv6 one", () => {
    const config = (address: string) =>
      JSON.stringify({
        static_resources: {
          listeners: [{ name: "l", address: { socket_address: { address, port_value: 1, ipv4_compat: false } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { stat_prefix: "t", cluster: "c" } }] }] }],
          clusters: [{ name: "c", load_assignment: { cluster_name: "c" } }],
        },
      });
    expect(loadBootstrap(config("0.0.0.0"), "json").listeners[0]!.address).toEqual({ address: "0.0.0.0", port: 1 });
    expect(loadBootstrap(config("::1"), "json").listeners[0]!.address).toEqual({ address: "::1", port: 1 });
  });
});

describe("admin address", () => {
  // Users' bootstraps set it on the admin too (the third users' survey: epk/envoy-egress-mitm,
  // Netcracker's qubership ingress gateway): Envoy resolves the admin's address as a listener's.
  test("ipv4_compat: true on the admin's :: address is accepted (dual-stack, as a listener's); false is refused by name", () => {
    const config = (ipv4Compat: boolean) =>
      JSON.stringify({ admin: { address: { socket_address: { address: "::", port_value: 9901, ipv4_compat: ipv4Compat } } } });
    expect(loadBootstrap(config(true), "json").admin).toEqual({ address: { address: "::", port: 9901 } });
    expect(() => loadBootstrap(config(false), "json")).toThrow("admin.address.socket_address.ipv4_compat: only true on ::");
  });

  test("ipv4_compat: false on an IPv4 or a specific IPv6 admin address is accepted (Envoy ignores it there; false is its default)", () => {
    const config = (address: string) => JSON.stringify({ admin: { address: { socket_address: { address, port_value: 9901, ipv4_compat: false } } } });
    expect(loadBootstrap(config("127.0.0.1"), "json").admin).toEqual({ address: { address: "127.0.0.1", port: 9901 } });
    expect(loadBootstrap(config("::1"), "json").admin).toEqual({ address: { address: "::1", port: 9901 } });
  });
});

describe("circuit breakers", () => {
  test("DEFAULT thresholds are read; missing ones take Envoy's defaults", () => {
    const config = JSON.stringify({
      static_resources: {
        clusters: [
          {
            name: "c",
            load_assignment: { cluster_name: "c" },
            circuit_breakers: { thresholds: [{ priority: "HIGH", max_connections: 1 }, { max_connections: 2, max_pending_requests: 3 }] },
          },
        ],
      },
    });
    expect(loadBootstrap(config, "json").clusters[0]!.circuitBreakers).toEqual({
      maxConnections: 2,
      maxPendingRequests: 3,
      maxRequests: 1024,
      maxRetries: 3,
    });
  });

  test("an unknown threshold field is refused", () => {
    const config = JSON.stringify({
      static_resources: { clusters: [{ name: "c", load_assignment: { cluster_name: "c" }, circuit_breakers: { thresholds: [{ max_bytes: 1 }] } }] },
    });
    expect(() => loadBootstrap(config, "json")).toThrow("static_resources.clusters[0].circuit_breakers.thresholds[0]: `max_bytes` is not a field of envoy.config.cluster.v3.CircuitBreakers.Thresholds");
  });
});
