/** Address.pipe (envoy.config.core.v3.Pipe) in the config: what it parses to, and what Envoy's PipeInstance refuses. */
import { describe, expect, test } from "vitest";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { formatAddress } from "../../../core/network/address.ts";

const tcpProxy = { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } };
const config = (listenerAddress: object, endpointAddress: object, type = "STATIC") =>
  JSON.stringify({
    admin: { address: { pipe: { path: "/run/admin.sock" } } },
    static_resources: {
      listeners: [{ name: "l", address: listenerAddress, filter_chains: [{ filters: [tcpProxy] }] }],
      clusters: [{ name: "c", type, connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: endpointAddress } }] }] } }],
    },
  });

function problems(text: string): string[] {
  try {
    loadBootstrap(text, "json");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

describe("pipe addresses", () => {
  test("a listener, an endpoint and the admin on paths: path as address, port 0, mode (default 0)", () => {
    const b = loadBootstrap(config({ pipe: { path: "/run/l.sock", mode: 0o660 } }, { pipe: { path: "@up" } }), "json");
    expect(b.listeners[0]!.address).toEqual({ address: "/run/l.sock", port: 0, pipe: { mode: 0o660 } });
    expect(b.clusters[0]!.endpoints![0]!.lbEndpoints[0]!.address).toEqual({ address: "@up", port: 0, pipe: { mode: 0 } });
    expect(b.admin!.address).toEqual({ address: "/run/admin.sock", port: 0, pipe: { mode: 0 } });
    expect(formatAddress(b.listeners[0]!.address)).toBe("/run/l.sock");
    expect(formatAddress({ address: "@up", port: 0, family: "unix" })).toBe("@up");
  });

  test("YAML `mode: 0600` is octal (384), as Envoy's YAML reading (yaml-cpp) takes a leading 0; hex too; a lone 0 and 08080 stay decimal", () => {
    const yaml = (mode: string, port: string) =>
      [
        "admin:",
        `  address: {pipe: {path: /run/admin.sock, mode: ${mode}}}`,
        "static_resources:",
        "  clusters:",
        "  - name: c",
        `    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}}}]}]}`,
      ].join("\n");
    const read = (mode: string, port: string) => {
      const b = loadBootstrap(yaml(mode, port), "yaml");
      return [b.admin!.address.pipe!.mode, b.clusters[0]!.endpoints![0]!.lbEndpoints[0]!.address.port];
    };
    expect(read("0600", "0x2329")).toEqual([0o600, 9001]);
    expect(read("0", "08080")).toEqual([0, 8080]);
    expect(read("0400", "80")).toEqual([0o400, 80]);
  });

  test("two listeners on one path: refused as Envoy's duplicate address (a pipe's port 0 is no 'any port')", () => {
    const two = JSON.parse(config({ pipe: { path: "/run/l.sock" } }, { pipe: { path: "/u" } }));
    two.static_resources.listeners.push({ ...two.static_resources.listeners[0], name: "m" });
    expect(problems(JSON.stringify(two))).toEqual([expect.stringContaining('listeners[1].address: duplicate listener address /run/l.sock (already used by listener "l")')]);
  });

  test("Envoy's refusals: mode on an abstract socket, a path of 108 bytes, mode above 0777, both oneof members, a pipe in a DNS cluster", () => {
    expect(problems(config({ pipe: { path: "@abs", mode: 0o600 } }, { pipe: { path: "/u" } }))).toEqual([expect.stringContaining("Cannot set mode for Abstract AF_UNIX sockets")]);
    expect(problems(config({ pipe: { path: `/${"x".repeat(107)}` } }, { pipe: { path: "/u" } }))).toEqual([expect.stringContaining("exceeds maximum UNIX domain socket path size of 108.")]);
    expect(problems(config({ pipe: { path: "/l", mode: 512 } }, { pipe: { path: "/u" } })).join()).toContain("mode");
    expect(problems(config({ pipe: { path: "/l" }, socket_address: { address: "127.0.0.1", port_value: 1 } }, { pipe: { path: "/u" } })).join()).toContain("socket_address and pipe are one oneof");
    expect(problems(config({ pipe: { path: "/l" } }, { pipe: { path: "/u" } }, "STRICT_DNS")).join()).toContain("a STRICT_DNS cluster resolves socket_address names: a pipe endpoint needs a STATIC (or EDS) cluster");
  });
});
