/** The envoy.filters.network.rbac filter (core/network/rbac-filter.ts) before tcp_proxy, on the memory runtime. */
import { describe, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../core/port.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

class Peer implements SocketHandler {
  received = "";
  closed: CloseReason | undefined;
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.received += decoder.decode(data);
  }
  onEnd(): void {
    this.ended = true;
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
}

async function setup(rbac: Record<string, unknown>, listenerExtra: Record<string, unknown> = {}, accessLogFormat?: string): Promise<{ runtime: MemoryRuntime; server: Server; upstreams: Peer[] }> {
  const runtime = new MemoryRuntime({ seed: 5 });
  const upstreams: Peer[] = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM], ...(accessLogFormat && { accessLog: { path: "/dev/stdout", format: accessLogFormat } }) }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } };
  Object.assign(config.static_resources.listeners[0]!, listenerExtra);
  config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift({
    name: "envoy.filters.network.rbac",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC", stat_prefix: "tcp_rbac", ...rbac },
  });
  const server = await startProxy(runtime, config);
  return { runtime, server, upstreams };
}

function stat(server: Server, name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

const LOOPBACK = [{ direct_remote_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }];

describe("network rbac filter", () => {
  test("a denied connection is closed on its first bytes, which never reach the upstream", async () => {
    const { runtime, server, upstreams } = await setup({ rules: { action: "DENY", policies: { local: { permissions: [{ destination_port: PROXY }], principals: LOOPBACK } } } });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    runtime.runDue();
    client.socket.write(encoder.encode("secret"));
    runtime.runDue();
    expect(client.ended || client.closed !== undefined).toBe(true);
    expect(upstreams.map((u) => u.received).join("")).toBe("");
    expect(stat(server, "tcp_rbac.rbac.denied")).toBe(1);
  });

  test("%CONNECTION_TERMINATION_DETAILS%: a denied connection's is rbac_access_denied_matched_policy[<policy>] (none without one)", async () => {
    const log = {
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%CONNECTION_TERMINATION_DETAILS% %REQUEST_HEADERS_BYTES%\n" } } },
        },
      ],
    };
    for (const [rules, expected] of [
      [{ action: "DENY", policies: { "local net": { permissions: [{ destination_port: PROXY }], principals: LOOPBACK } } }, "rbac_access_denied_matched_policy[local_net] 0\n"],
      [{ action: "ALLOW", policies: { other: { permissions: [{ destination_port: 1 }], principals: LOOPBACK } } }, "rbac_access_denied_matched_policy[none] 0\n"],
    ] as const) {
      const { runtime, server } = await setup({ rules }, log);
      const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
      runtime.runDue();
      client.socket.write(encoder.encode("x"));
      runtime.runDue();
      client.socket.close();
      await runtime.settle(1000);
      expect(runtime.stdoutText).toBe(expected);
      await server.shutdown?.();
    }
  });

  test("an allowed connection is proxied; shadow rules only count; header rules never match a connection", async () => {
    const { runtime, server, upstreams } = await setup({
      rules: { action: "ALLOW", policies: { local: { permissions: [{ any: true }], principals: LOOPBACK } } },
      shadow_rules: { policies: { by_header: { permissions: [{ header: { name: "x-a", present_match: true } }], principals: [{ any: true }] } } },
      shadow_rules_stat_prefix: "audit.",
    });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(encoder.encode("hello"));
    runtime.runDue();
    expect(upstreams[0]!.received).toBe("hello");
    client.socket.write(encoder.encode(" again"));
    runtime.runDue();
    expect(upstreams[0]!.received).toBe("hello again");
    expect(stat(server, "tcp_rbac.rbac.allowed")).toBe(1);
    expect(stat(server, "tcp_rbac.rbac.audit.shadow_denied")).toBe(1);
  });
});

describe("network rbac filter: dynamic metadata (Envoy's RoleBasedAccessControlFilter::setDynamicMetadata)", () => {
  test("the shadow result and policy go to envoy.filters.network.rbac; a LOG action's hint to envoy.common", async () => {
    const { runtime, upstreams } = await setup(
      {
        rules: { action: "LOG", policies: { everyone: { permissions: [{ any: true }], principals: [{ any: true }] } } },
        shadow_rules: { action: "DENY", policies: { "local peers": { permissions: [{ any: true }], principals: LOOPBACK } } },
        shadow_rules_stat_prefix: "audit_",
      },
      {},
      "%DYNAMIC_METADATA(envoy.filters.network.rbac:audit_shadow_engine_result)% %DYNAMIC_METADATA(envoy.filters.network.rbac:audit_shadow_effective_policy_id)% %DYNAMIC_METADATA(envoy.common:access_log_hint)%\n",
    );
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(encoder.encode("hello"));
    runtime.runDue();
    client.socket.close();
    upstreams[0]!.socket.close();
    runtime.runUntilIdle();
    expect(runtime.stdoutText).toBe("denied local peers true\n");
  });

  test("a listener access_log sees the connection's metadata too: %DYNAMIC_METADATA% and a metadata_filter (Envoy's listener logs read the connection's StreamInfo)", async () => {
    const logFormat = { text_format_source: { inline_string: "listener %DYNAMIC_METADATA(envoy.filters.network.rbac:shadow_engine_result)%\n" } };
    const { runtime, upstreams } = await setup(
      {
        rules: { action: "ALLOW", policies: { everyone: { permissions: [{ any: true }], principals: [{ any: true }] } } },
        shadow_rules: { action: "ALLOW", policies: { everyone: { permissions: [{ any: true }], principals: [{ any: true }] } } },
      },
      {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            filter: { metadata_filter: { matcher: { filter: "envoy.filters.network.rbac", path: [{ key: "shadow_engine_result" }], value: { string_match: { exact: "allowed" } } }, match_if_key_not_found: false } },
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: logFormat },
          },
        ],
      },
    );
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(encoder.encode("hello"));
    runtime.runDue();
    client.socket.close();
    upstreams[0]!.socket.close();
    runtime.runUntilIdle();
    expect(runtime.stdoutText).toBe("listener allowed\n");
  });
});

describe("network rbac filter behind proxy_protocol", () => {
  // Envoy's IPMatcher (source/extensions/filters/common/rbac/matchers.cc): source_ip is the
  // connection's remote address and remote_ip the downstream remote one (both the client a
  // PROXY header names), direct_remote_ip the peer the socket is connected to.
  async function behindProxyProtocol(principal: Record<string, unknown>): Promise<{ allowed: number | undefined; denied: number | undefined; upstream: string }> {
    const runtime = new MemoryRuntime({ seed: 5 });
    const upstreams: Peer[] = [];
    await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
    const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM] }) as { static_resources: { listeners: { listener_filters?: object[]; filter_chains: { filters: object[] }[] }[] } };
    const listener = config.static_resources.listeners[0]!;
    listener.listener_filters = [{ name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } }];
    listener.filter_chains[0]!.filters.unshift({
      name: "envoy.filters.network.rbac",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC", stat_prefix: "tcp_rbac", rules: { action: "ALLOW", policies: { p: { permissions: [{ any: true }], principals: [principal] } } } },
    });
    const server = await startProxy(runtime, config);
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(encoder.encode("PROXY TCP4 192.0.2.1 127.0.0.1 56324 10000\r\nhello"));
    runtime.runDue();
    return { allowed: stat(server, "tcp_rbac.rbac.allowed"), denied: stat(server, "tcp_rbac.rbac.denied"), upstream: upstreams.map((u) => u.received).join("") };
  }

  test("direct_remote_ip is the socket's peer, not the PROXY header's client", async () => {
    expect(await behindProxyProtocol({ direct_remote_ip: { address_prefix: "127.0.0.1", prefix_len: 32 } })).toEqual({ allowed: 1, denied: 0, upstream: "hello" });
    expect(await behindProxyProtocol({ direct_remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } })).toEqual({ allowed: 0, denied: 1, upstream: "" });
  });

  test("source_ip and remote_ip are the PROXY header's client", async () => {
    for (const principal of ["source_ip", "remote_ip"]) {
      expect(await behindProxyProtocol({ [principal]: { address_prefix: "192.0.2.0", prefix_len: 24 } })).toEqual({ allowed: 1, denied: 0, upstream: "hello" });
      expect(await behindProxyProtocol({ [principal]: { address_prefix: "127.0.0.1", prefix_len: 32 } })).toEqual({ allowed: 0, denied: 1, upstream: "" });
    }
  });
});
