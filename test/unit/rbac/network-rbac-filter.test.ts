/**
 * The network RBAC filter (core/network/rbac-filter.ts) on the memory runtime, behind
 * postgres_proxy (which sets the connection's dynamic metadata per query) and before
 * tcp_proxy: a DENY on that metadata, decided once on the first read
 * (ONE_TIME_ON_FIRST_BYTE) or on every read (CONTINUOUS), as Envoy's
 * source/extensions/filters/network/rbac/rbac_filter.cc onData.
 */
import { describe, expect, test, vi } from "vitest";
import { Timers, type Timer } from "../../../core/event/timers.ts";
import type { CloseReason, Socket, SocketHandler } from "../../../core/port.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "../../memory/support/proxy.ts";
import { concat, query, startup } from "../../support/postgres-wire.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

class Peer implements SocketHandler {
  text = "";
  closed: CloseReason | undefined;
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.text += new TextDecoder("latin1").decode(data);
  }
  onEnd(): void {
    this.ended = true;
    this.socket.close();
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
}

/** DENY a DELETE of table t (database db): postgres_proxy's metadata key "t.db". */
const denyDelete = {
  action: "DENY",
  policies: {
    nodelete: {
      permissions: [{ metadata: { filter: "envoy.filters.network.postgres_proxy", path: [{ key: "t.db" }], value: { list_match: { one_of: { string_match: { exact: "delete" } } } } } }],
      principals: [{ any: true }],
    },
  },
};

function config(rbac: object): object {
  return {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: PROXY } },
          filter_chains: [
            {
              filters: [
                { name: "envoy.filters.network.postgres_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", stat_prefix: "pg" } },
                { name: "envoy.filters.network.rbac", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC", stat_prefix: "r", rules: denyDelete, ...rbac } },
                { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "c", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: UPSTREAM } } } }] }] } }],
    },
  };
}

async function setup(rbac: object = {}) {
  const runtime = new MemoryRuntime({ seed: 3 });
  const upstreams: Peer[] = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const server = await startProxy(runtime, config(rbac));
  const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
  runtime.runDue();
  const stat = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
  return { runtime, upstreams, client, stat };
}

const START = startup({ user: "u", database: "db" });

describe("network rbac: metadata rules", () => {
  test("one write whose query sets the metadata the DENY matches: denied, closed, nothing reaches the upstream", async () => {
    const { runtime, upstreams, client, stat } = await setup();
    client.socket.write(concat(START, query("DELETE FROM t")));
    runtime.runDue();
    expect(stat("r.rbac.denied")).toBe(1);
    expect(stat("r.rbac.allowed")).toBe(0);
    expect(upstreams.map((u) => u.text).join("")).not.toContain("DELETE");
    expect(client.ended || client.closed !== undefined).toBe(true);
  });

  test("ONE_TIME_ON_FIRST_BYTE: the first read (the startup) decides; a later DELETE passes", async () => {
    const { runtime, upstreams, client, stat } = await setup({ enforcement_type: "ONE_TIME_ON_FIRST_BYTE" });
    client.socket.write(START);
    runtime.runDue();
    client.socket.write(query("DELETE FROM t"));
    runtime.runDue();
    expect(stat("r.rbac.allowed")).toBe(1);
    expect(stat("r.rbac.denied")).toBe(0);
    expect(upstreams[0]!.text).toContain("DELETE FROM t");
    expect(client.closed).toBeUndefined();
  });

  test("CONTINUOUS: every read is checked (and counted, shadow rules too); the read that makes the DENY match closes the connection", async () => {
    const { runtime, upstreams, client, stat } = await setup({ enforcement_type: "CONTINUOUS", shadow_rules: denyDelete });
    client.socket.write(START);
    runtime.runDue();
    client.socket.write(query("SELECT 1 FROM a"));
    runtime.runDue();
    expect(stat("r.rbac.allowed")).toBe(2);
    expect(stat("r.rbac.shadow_allowed")).toBe(2);
    client.socket.write(query("DELETE FROM t"));
    runtime.runDue();
    expect(stat("r.rbac.allowed")).toBe(2);
    expect(stat("r.rbac.denied")).toBe(1);
    expect(stat("r.rbac.shadow_denied")).toBe(1);
    expect(upstreams[0]!.text).toContain("SELECT 1 FROM a");
    expect(upstreams[0]!.text).not.toContain("DELETE");
    expect(client.ended || client.closed !== undefined).toBe(true);
  });
});

describe("network rbac: delay_deny (Envoy's rbac_filter.cc: reads stop, the close comes after the delay)", () => {
  test("a denied connection stays open, reading nothing, for the delay, then is closed; denied counted once, at the decision", async () => {
    const { runtime, upstreams, client, stat } = await setup({ delay_deny: "2s" });
    const timersBefore = runtime.pendingTimers;
    client.socket.write(concat(START, query("DELETE FROM t")));
    runtime.runDue();
    expect(stat("r.rbac.denied")).toBe(1);
    expect(runtime.pendingTimers).toBe(timersBefore + 1);
    runtime.advance(1900);
    expect([client.ended, client.closed]).toEqual([false, undefined]);
    const frontendMessages = stat("postgres.pg.messages_frontend");
    expect(frontendMessages).toBeGreaterThan(0);
    // Reads are stopped: more bytes are neither read, counted nor forwarded. postgres_proxy,
    // ahead of RBAC in the chain, sees every read: its count shows the bytes stayed unread
    // (the RBAC filter's onData would drop them anyway, so only this tells reads stopped).
    client.socket.write(query("DELETE FROM t"));
    runtime.advance(50);
    expect(stat("r.rbac.denied")).toBe(1);
    expect(stat("postgres.pg.messages_frontend")).toBe(frontendMessages);
    runtime.advance(100);
    expect(client.ended || client.closed !== undefined).toBe(true);
    expect(upstreams.map((u) => u.text).join("")).not.toContain("DELETE");
  });

  test("the client resetting the connection first cancels the timer", async () => {
    const { runtime, client, stat } = await setup({ delay_deny: "30s" });
    // The delay_deny timer is the one made at the deny.
    const create = vi.spyOn(Timers.prototype, "create");
    client.socket.write(concat(START, query("DELETE FROM t")));
    runtime.runDue();
    expect(stat("r.rbac.denied")).toBe(1);
    const timer = create.mock.results.at(-1)!.value as Timer;
    create.mockRestore();
    expect(timer.enabled).toBe(true);
    // A reset closes the proxy's side at once (a FIN would not: tcp_proxy half-closes, as in Envoy).
    client.socket.reset();
    runtime.advance(10);
    expect(timer.enabled).toBe(false);
  });

  test("an allowed connection is not delayed: delay_deny applies to denials only", async () => {
    const { runtime, upstreams, client, stat } = await setup({ delay_deny: "2s" });
    client.socket.write(concat(START, query("SELECT 1 FROM a")));
    runtime.runDue();
    expect(stat("r.rbac.allowed")).toBe(1);
    expect(upstreams[0]!.text).toContain("SELECT 1 FROM a");
  });
});
