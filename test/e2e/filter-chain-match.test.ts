/**
 * Several filter_chains on one listener, chosen by filter_chain_match in Envoy's order
 * (filter_chain_manager_impl.cc: destination port, destination IP, server name, transport
 * protocol, application protocols, direct source IP, source type, source IP, source port;
 * the most specific entry wins at each level and a level that has chosen is never left for
 * a less specific branch), with the default_filter_chain for what matches nothing. Each
 * chain answers with its own direct_response body; clients connect to 127.0.0.x and bind
 * chosen loopback source addresses and ports.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { parseResponses } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** A chain whose HCM answers every request with 200 and `body`. */
function chain(body: string, match?: Record<string, unknown>): object {
  return {
    ...(match ? { filter_chain_match: match } : {}),
    filters: [
      {
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: body,
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        },
      },
    ],
  };
}

const cidr = (address: string, len: number) => ({ address_prefix: address, prefix_len: len });

/** GET / to host:port from localAddress (and localPort); the body of the answer. */
function ask(host: string, port: number, localAddress = "127.0.0.1", localPort?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress, ...(localPort ? { localPort } : {}) });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port} (local ${localAddress}:${localPort ?? "*"}): ${JSON.stringify(text)}`));
    }, 5000);
    socket.on("connect", () => socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      const [response] = parseResponses(text);
      resolve(response ? response.body : `closed: ${JSON.stringify(text)}`);
    });
    socket.on("error", () => {});
  });
}

describe.each(RUNTIMES)("filter_chain_match on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let portedPort: number;
  let sourcePort: number;
  let otherPort: number;

  beforeAll(async () => {
    [port, portedPort, sourcePort, otherPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          {
            name: "by-address",
            address: { socket_address: { address: "0.0.0.0", port_value: port } },
            filter_chains: [
              // Destination IP: the longest prefix that holds the address.
              chain("dst-2", { prefix_ranges: [cidr("127.0.0.2", 32)] }),
              chain("dst-8", { prefix_ranges: [cidr("127.0.0.0", 8)] }),
              // Under 127.0.0.3: direct source, then source IP, then source port.
              chain("direct-6", { prefix_ranges: [cidr("127.0.0.3", 32)], direct_source_prefix_ranges: [cidr("127.0.0.6", 32)] }),
              chain("source-5", { prefix_ranges: [cidr("127.0.0.3", 32)], source_prefix_ranges: [cidr("127.0.0.5", 32)] }),
              chain("source-port", { prefix_ranges: [cidr("127.0.0.3", 32)], source_ports: [sourcePort] }),
              chain("dst-3", { prefix_ranges: [cidr("127.0.0.3", 32)] }),
              // Under 127.0.0.4 only an EXTERNAL chain: a loopback client matches nothing there
              // (no going back to dst-8), so it gets the default chain.
              chain("external", { prefix_ranges: [cidr("127.0.0.4", 32)], source_type: "EXTERNAL" }),
              // Under 127.0.0.7 a local client takes SAME_IP_OR_LOOPBACK over ANY.
              chain("loopback", { prefix_ranges: [cidr("127.0.0.7", 32)], source_type: "SAME_IP_OR_LOOPBACK" }),
              chain("any-type", { prefix_ranges: [cidr("127.0.0.7", 32)] }),
              // A destination port the listener never sees.
              chain("other-port", { destination_port: otherPort, prefix_ranges: [cidr("127.0.0.9", 32)] }),
            ],
            default_filter_chain: chain("default"),
          },
          {
            name: "by-port",
            address: { socket_address: { address: "0.0.0.0", port_value: portedPort } },
            filter_chains: [
              // An entry for the exact port decides: 127.0.0.1 fails under it and gets the
              // default chain, not the port-less catch-all.
              chain("port-8", { destination_port: portedPort, prefix_ranges: [cidr("127.0.0.8", 32)] }),
              chain("no-port"),
            ],
            default_filter_chain: chain("ported-default"),
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  test("prefix_ranges: the longest destination prefix wins", async () => {
    expect(await ask("127.0.0.2", port)).toBe("dst-2");
    expect(await ask("127.0.0.1", port)).toBe("dst-8");
    expect(await ask("127.0.0.10", port)).toBe("dst-8");
  });

  test("direct_source_prefix_ranges, source_prefix_ranges and source_ports under one destination", async () => {
    expect(await ask("127.0.0.3", port, "127.0.0.6")).toBe("direct-6");
    expect(await ask("127.0.0.3", port, "127.0.0.5")).toBe("source-5");
    expect(await ask("127.0.0.3", port, "127.0.0.1", sourcePort)).toBe("source-port");
    expect(await ask("127.0.0.3", port, "127.0.0.1")).toBe("dst-3");
    // The direct source level chose 127.0.0.6's branch: its source port is not looked at there.
    expect(await ask("127.0.0.3", port, "127.0.0.6", sourcePort)).toBe("direct-6");
  });

  test("source_type: loopback clients take SAME_IP_OR_LOOPBACK chains; EXTERNAL-only gives the default_filter_chain", async () => {
    expect(await ask("127.0.0.7", port)).toBe("loopback");
    expect(await ask("127.0.0.4", port)).toBe("default");
  });

  test("destination_port: chains of another port never match; an exact port entry decides, else the default chain", async () => {
    expect(await ask("127.0.0.9", port)).toBe("dst-8");
    expect(await ask("127.0.0.8", portedPort)).toBe("port-8");
    expect(await ask("127.0.0.1", portedPort)).toBe("ported-default");
  });
});

describe.each(RUNTIMES)("filter_chain_match on a dual-stack (::) listener on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          {
            name: "dual",
            address: { socket_address: { address: "::", port_value: port, ipv4_compat: true } },
            filter_chains: [
              // The runtimes report an IPv4 client of a :: socket as ::ffff:127.0.0.1; Envoy
              // reads it as 127.0.0.1: IPv4 ranges match it and it is loopback.
              chain("v4", { prefix_ranges: [cidr("127.0.0.0", 8)], source_type: "SAME_IP_OR_LOOPBACK", source_prefix_ranges: [cidr("127.0.0.0", 8)] }),
            ],
            default_filter_chain: chain("dual-default"),
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  test("an IPv4 client matches IPv4 destination and source ranges and SAME_IP_OR_LOOPBACK", async () => {
    expect(await ask("127.0.0.1", port)).toBe("v4");
  });
});
