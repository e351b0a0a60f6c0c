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

async function setup(rbac: Record<string, unknown>, listenerExtra: Record<string, unknown> = {}): Promise<{ runtime: MemoryRuntime; server: Server; upstreams: Peer[] }> {
  const runtime = new MemoryRuntime({ seed: 5 });
  const upstreams: Peer[] = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM] }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } };
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
