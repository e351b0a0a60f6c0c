/**
 * `--config-yaml` beside `-c`: merged over the file's bootstrap as Envoy's
 * `bootstrap.MergeFrom(bootstrap_override)` (server.cc, loadBootstrapConfig) — messages
 * field by field, repeated fields appended, map entries by key, an Any replaced whole.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrapDocument } from "../../../core/config/load.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { mergeOverride } from "../../../core/config/merge-override.ts";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

const cluster = (name: string, port: number) => ({
  name,
  connect_timeout: "1s",
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});

const FILE = JSON.stringify({
  node: { id: "file-node", cluster: "file-cluster", metadata: { a: "1", b: "2" } },
  admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
  static_resources: {
    listeners: [
      {
        name: "http",
        address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": HCM,
                  stat_prefix: "file",
                  route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "one" } }] }] },
                  http_filters: [ROUTER],
                },
              },
            ],
          },
        ],
      },
    ],
    clusters: [cluster("one", 8081)],
  },
});

describe("--config-yaml merged over -c", () => {
  test("scalars replaced, messages merged field by field (camelCase too), lists appended, map entries by key", () => {
    const override = `
node: { id: cli-node, metadata: { b: "two", c: "3" } }
admin: { address: { socketAddress: { portValue: 9902 } } }
static_resources:
  clusters:
  - { name: two, connect_timeout: 2s, load_assignment: { cluster_name: two, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8082 } } } }] }] } }
`;
    const { bootstrap, document } = loadBootstrapDocument(FILE, "json", override);
    expect(bootstrap.node).toMatchObject({ id: "cli-node", cluster: "file-cluster", metadata: { a: "1", b: "two", c: "3" } });
    expect(bootstrap.admin?.address).toMatchObject({ address: "127.0.0.1", port: 9902 });
    expect(bootstrap.clusters.map((c) => c.name)).toEqual(["one", "two"]);
    expect(bootstrap.listeners.map((l) => l.name)).toEqual(["http"]);
    // /config_dump shows the merged document.
    expect((document as { node: { id: string } }).node.id).toBe("cli-node");
  });

  test("an Any (typed_config) is replaced whole, as MergeFrom replaces its type_url and value bytes", () => {
    const messages = new WeakMap<object, string>();
    const typed = (fields: Record<string, unknown>) => {
      const any = { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...fields };
      messages.set(any, "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
      return any;
    };
    const base = { name: "envoy.transport_sockets.tls", typed_config: typed({ sni: "a.example", allow_renegotiation: true }) };
    const override = { typed_config: typed({ sni: "b.example" }) };
    messages.set(base, "envoy.config.core.v3.TransportSocket");
    messages.set(override, "envoy.config.core.v3.TransportSocket");
    expect(mergeOverride(base, override, messages)).toEqual({ name: "envoy.transport_sockets.tls", typed_config: override.typed_config });
  });

  test("a oneof member the override sets clears the file's other member of that oneof, as MergeFrom's setters do", () => {
    const file = JSON.stringify({ ...JSON.parse(FILE), dynamic_resources: { lds_config: { path: "/etc/polyvoy/lds-old.yaml", resource_api_version: "V3" } } });
    const { document } = loadBootstrapDocument(file, "json", "dynamic_resources: { lds_config: { path_config_source: { path: /etc/polyvoy/lds.yaml } } }");
    // Envoy's ConfigSource oneof config_source_specifier: path is cleared, the rest of the message kept.
    expect((document as { dynamic_resources: unknown }).dynamic_resources).toEqual({
      lds_config: { resource_api_version: "V3", path_config_source: { path: "/etc/polyvoy/lds.yaml" } },
    });

    // On the trees: the other members go, the same member (a message) is merged.
    const messages = new WeakMap<object, string>();
    const address = (fields: Record<string, unknown>) => {
      messages.set(fields, "envoy.config.core.v3.Address");
      return fields;
    };
    const socket = (fields: Record<string, unknown>) => {
      messages.set(fields, "envoy.config.core.v3.SocketAddress");
      return fields;
    };
    expect(mergeOverride(address({ socket_address: socket({ address: "127.0.0.1", port_value: 1 }) }), address({ pipe: { path: "/run/a.sock" } }), messages)).toEqual({ pipe: { path: "/run/a.sock" } });
    expect(mergeOverride(address({ socket_address: socket({ address: "127.0.0.1", port_value: 1 }) }), address({ socket_address: socket({ port_value: 2 }) }), messages)).toEqual({
      socket_address: { address: "127.0.0.1", port_value: 2 },
    });
  });

  test("the override's problems are the config's: a duplicate name, a YAML error named as --config-yaml's", () => {
    const problems = (override: string): string[] => {
      try {
        loadBootstrapDocument(FILE, "json", override);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
      return [];
    };
    expect(problems(`static_resources: { clusters: [${JSON.stringify(cluster("one", 9))}] }`).join("\n")).toContain('duplicate cluster name "one"');
    expect(problems("node: [").join("\n")).toMatch(/^--config-yaml: .*YAML syntax error/);
    expect(problems("- a list")).toEqual(["--config-yaml: not a bootstrap (a mapping of its fields)"]);
    // A `__proto__` key is a key the schema refuses, as in the file, not the node's prototype.
    const proto = problems("node: {__proto__: {id: evil}}");
    expect(proto.join("\n")).toContain("__proto__");
    expect(proto.length).toBeGreaterThan(0);
  });
});
