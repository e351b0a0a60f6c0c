/**
 * The UDP proxy (core/udp/udp-proxy.ts) on the memory runtime's UDP: a session per client
 * address with its own upstream socket, replies back from the listener's address, the idle
 * timeout, Envoy's udp.<stat_prefix>.* and cluster udp.* stats, max_connections, datagrams
 * over max_rx_datagram_size dropped, and a reload that replaces the listener in place.
 */
import { describe, expect, test } from "vitest";
import type { DatagramSocket, SocketAddress } from "../../../core/port.ts";
import type { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "../../memory/support/proxy.ts";
import { loadBootstrap, loadConfig } from "../../../core/config/load.ts";

const PROXY = 10000;
const UPSTREAM = 5005;
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

function udpConfig(proxy: Record<string, unknown> = {}, listener: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}): object {
  return {
    static_resources: {
      listeners: [{
        name: "udp_listener",
        reuse_port: true,
        address: { socket_address: { protocol: "UDP", address: "127.0.0.1", port_value: PROXY } },
        listener_filters: [{
          name: "envoy.filters.udp_listener.udp_proxy",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig", stat_prefix: "service", cluster: "service_udp", ...proxy },
        }],
        ...listener,
      }],
      clusters: [{
        name: "service_udp",
        type: "STATIC",
        load_assignment: { cluster_name: "service_udp", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: UPSTREAM } } } }] }] },
        ...cluster,
      }],
    },
  };
}

interface Client {
  socket: DatagramSocket;
  received: string[];
  send(s: string): void;
}

/** What every socket was given to send, with a copy of the bytes as they were then. */
type SentRecord = { data: Uint8Array; then: Uint8Array }[];

/**
 * Make the memory runtime's UDP lend `onMessage` bytes as a runtime reusing one read buffer
 * would (overwritten once the call returns), and record what `send` is given: a sender that
 * hands on lent bytes sees them change after `send` took them.
 */
function lendAndRecord(runtime: MemoryRuntime): SentRecord {
  const sent: SentRecord = [];
  const udp = runtime.udp;
  const bind = udp.bind.bind(udp);
  const scratch = new Uint8Array(65536);
  udp.bind = async (options, handler) => {
    const socket = await bind(options, {
      onMessage(data, from, truncated) {
        scratch.set(data);
        handler.onMessage(scratch.subarray(0, data.length), from, truncated);
        scratch.fill(0x2a);
      },
      onError: (error) => handler.onError(error),
      onSendError: (error) => handler.onSendError?.(error),
    });
    return {
      address: socket.address,
      send(data, to) {
        sent.push({ data, then: data.slice() });
        return socket.send(data, to);
      },
      close: () => socket.close(),
    };
  };
  return sent;
}

async function setup(config: object, options: { lend?: boolean; before?: (runtime: MemoryRuntime) => void } = {}): Promise<{ runtime: MemoryRuntime; server: Server; upstreamFrom: SocketAddress[]; upstreamGot: string[]; client(): Promise<Client>; stat(name: string): number; sent: SentRecord }> {
  const runtime = new MemoryRuntime({ seed: 3 });
  const sent = options.lend === true ? lendAndRecord(runtime) : [];
  options.before?.(runtime);
  const upstreamFrom: SocketAddress[] = [];
  const upstreamGot: string[] = [];
  // An echo upstream: "ECHO <datagram>" back to whoever sent it.
  const echo: DatagramSocket = await runtime.udp.bind({ address: "127.0.0.1", port: UPSTREAM, maxDatagramSize: 65535 }, {
    onMessage(data, from) {
      upstreamFrom.push(from);
      upstreamGot.push(text(data));
      echo.send(bytes(`ECHO ${text(data)}`), from);
    },
    onError() {},
  });
  const server = await startProxy(runtime, config);
  return {
    runtime,
    server,
    upstreamFrom,
    upstreamGot,
    async client() {
      const received: string[] = [];
      const socket = await runtime.udp.bind({ address: "127.0.0.1", port: 0, maxDatagramSize: 65535 }, {
        onMessage(data, from) {
          expect(from.port).toBe(PROXY);
          received.push(text(data));
        },
        onError() {},
      });
      return { socket, received, send: (s) => socket.send(bytes(s), { address: "127.0.0.1", port: PROXY }) };
    },
    stat: (name) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0,
    sent,
  };
}

describe("udp_proxy", () => {
  test("datagrams go both ways; two clients are two sessions with an upstream socket each; stats as Envoy's", async () => {
    const { runtime, server, upstreamFrom, upstreamGot, client, stat } = await setup(udpConfig());
    const a = await client();
    const b = await client();
    a.send("a1");
    await runtime.settle();
    a.send("a2");
    b.send("b1");
    await runtime.settle();
    expect(upstreamGot.sort()).toEqual(["a1", "a2", "b1"]);
    expect(a.received).toEqual(["ECHO a1", "ECHO a2"]);
    expect(b.received).toEqual(["ECHO b1"]);
    // One upstream port per session, the same for both of a's datagrams.
    expect(new Set(upstreamFrom.map((f) => f.port)).size).toBe(2);
    expect(stat("udp.service.downstream_sess_total")).toBe(2);
    expect(stat("udp.service.downstream_sess_active")).toBe(2);
    expect(stat("udp.service.downstream_sess_rx_datagrams")).toBe(3);
    expect(stat("udp.service.downstream_sess_rx_bytes")).toBe(6);
    expect(stat("udp.service.downstream_sess_tx_datagrams")).toBe(3);
    expect(stat("udp.service.downstream_sess_tx_bytes")).toBe(21);
    expect(stat("cluster.service_udp.udp.sess_tx_datagrams")).toBe(3);
    expect(stat("cluster.service_udp.udp.sess_rx_datagrams")).toBe(3);
    expect(stat("cluster.service_udp.upstream_cx_tx_bytes_total")).toBe(6);
    expect(server.listeners[0]!.boundAddress).toEqual({ address: "127.0.0.1", port: PROXY, family: 4 });
  });

  test("a session idle for idle_timeout (default 60 s) is closed; a later datagram starts a new one", async () => {
    const { runtime, client, stat, upstreamFrom } = await setup(udpConfig());
    const a = await client();
    a.send("one");
    await runtime.settle();
    const sockets = runtime.udp.boundCount;
    await runtime.settle(59_000);
    a.send("two");
    await runtime.settle(59_000);
    expect(stat("udp.service.idle_timeout")).toBe(0);
    await runtime.settle(1_001);
    expect(stat("udp.service.idle_timeout")).toBe(1);
    expect(stat("udp.service.downstream_sess_active")).toBe(0);
    expect(runtime.udp.boundCount).toBe(sockets - 1);
    a.send("three");
    await runtime.settle();
    expect(a.received).toEqual(["ECHO one", "ECHO two", "ECHO three"]);
    expect(stat("udp.service.downstream_sess_total")).toBe(2);
    expect(upstreamFrom[2]!.port).not.toBe(upstreamFrom[0]!.port);
  });

  test("idle_timeout as configured", async () => {
    const { runtime, client, stat } = await setup(udpConfig({ idle_timeout: "2s" }));
    const a = await client();
    a.send("x");
    await runtime.settle(1_999);
    expect(stat("udp.service.downstream_sess_active")).toBe(1);
    await runtime.settle(2);
    expect(stat("udp.service.idle_timeout")).toBe(1);
    expect(stat("udp.service.downstream_sess_active")).toBe(0);
  });

  test("sessions count against the cluster's max_connections: over it a new peer's datagrams are dropped (upstream_cx_overflow)", async () => {
    const { runtime, client, stat, upstreamGot } = await setup(udpConfig({}, {}, { circuit_breakers: { thresholds: [{ max_connections: 1 }] } }));
    const a = await client();
    const b = await client();
    a.send("a");
    await runtime.settle();
    b.send("b");
    await runtime.settle();
    expect(upstreamGot).toEqual(["a"]);
    expect(b.received).toEqual([]);
    expect(stat("cluster.service_udp.upstream_cx_overflow")).toBe(1);
    expect(stat("udp.service.downstream_sess_total")).toBe(1);
  });

  test("a datagram longer than the listener's max_rx_datagram_size is dropped (listener udp.downstream_rx_datagram_dropped)", async () => {
    const { runtime, client, stat, upstreamGot } = await setup(udpConfig({}, { udp_listener_config: { downstream_socket_config: { max_rx_datagram_size: 4 } } }));
    const a = await client();
    a.send("12345");
    a.send("1234");
    await runtime.settle();
    expect(upstreamGot).toEqual(["1234"]);
    expect(stat("listener.127.0.0.1_10000.udp.downstream_rx_datagram_dropped")).toBe(1);
  });

  test("send takes ownership of its bytes: the proxy hands it copies, not the bytes onMessage lent, both ways", async () => {
    const { runtime, client, sent } = await setup(udpConfig(), { lend: true });
    const a = await client();
    a.send("first");
    await runtime.settle();
    a.send("second");
    await runtime.settle();
    expect(a.received).toEqual(["ECHO first", "ECHO second"]);
    // The client's 2, the session's 2 to the upstream, the echo's 2, the proxy's 2 replies.
    expect(sent.length).toBe(8);
    for (const { data, then } of sent) expect(text(data)).toBe(text(then));
  });

  test("a cluster without hosts: upstream_cx_none_healthy, the datagram dropped", async () => {
    const { runtime, client, stat } = await setup(udpConfig({}, {}, { load_assignment: { cluster_name: "service_udp", endpoints: [] } }));
    const a = await client();
    a.send("x");
    await runtime.settle();
    expect(stat("cluster.service_udp.upstream_cx_none_healthy")).toBe(1);
    expect(stat("udp.service.downstream_sess_total")).toBe(0);
  });
});

// Envoy's udp_proxy_filter.cc: a host's removal from its cluster (addMemberUpdateCb →
// host_to_sessions_) and the cluster's removal (onClusterRemoval) erase the sessions on them.
describe("udp_proxy: sessions end with their host or cluster", () => {
  const dnsCluster = { type: "STRICT_DNS", dns_refresh_rate: "1s", load_assignment: { cluster_name: "service_udp", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "echo.test", port_value: UPSTREAM } } } }] }] } };

  test("a host DNS no longer answers: its session is closed (slot and socket freed); the next datagram starts a session to the new host", async () => {
    const { runtime, client, stat, upstreamGot } = await setup(udpConfig({}, {}, dnsCluster), { before: (r) => r.setDnsAnswer("echo.test", ["127.0.0.1"]) });
    const got2: string[] = [];
    const echo2: DatagramSocket = await runtime.udp.bind({ address: "127.0.0.2", port: UPSTREAM, maxDatagramSize: 65535 }, {
      onMessage(data, from) {
        got2.push(text(data));
        echo2.send(bytes(`ECHO2 ${text(data)}`), from);
      },
      onError() {},
    });
    const a = await client();
    a.send("one");
    await runtime.settle();
    expect(upstreamGot).toEqual(["one"]);
    expect(stat("udp.service.downstream_sess_active")).toBe(1);
    const sockets = runtime.udp.boundCount;
    runtime.setDnsAnswer("echo.test", ["127.0.0.2"]);
    await runtime.settle(1_500);
    expect(stat("udp.service.downstream_sess_active")).toBe(0);
    expect(runtime.udp.boundCount).toBe(sockets - 1);
    a.send("two");
    await runtime.settle();
    expect(upstreamGot).toEqual(["one"]);
    expect(got2).toEqual(["two"]);
    expect(a.received).toEqual(["ECHO one", "ECHO2 two"]);
    expect(stat("udp.service.downstream_sess_total")).toBe(2);
  });

  test("the cluster removed (CDS): its sessions are closed; a later datagram finds no cluster (downstream_sess_no_route)", async () => {
    const { runtime, server, client, stat } = await setup(udpConfig({}, {}, { circuit_breakers: { thresholds: [{ max_connections: 1 }] } }));
    const a = await client();
    a.send("one");
    await runtime.settle();
    expect(stat("udp.service.downstream_sess_active")).toBe(1);
    const sockets = runtime.udp.boundCount;
    expect(server.clusterManager.removeCluster("service_udp")).toBe(true);
    expect(stat("udp.service.downstream_sess_active")).toBe(0);
    expect(runtime.udp.boundCount).toBe(sockets - 1);
    a.send("two");
    await runtime.settle();
    expect(stat("udp.service.downstream_sess_no_route")).toBe(1);
    expect(a.received).toEqual(["ECHO one"]);
  });
});

// Envoy's filter keeps host_to_sessions_ with one member update subscription per cluster and
// one cluster update subscription (udp_proxy_filter.cc): a subscription per session made
// closing n sessions O(n²) (each unsubscribe searched the callback list).
test("udp_proxy: many sessions share one host-update and one cluster-removal subscription; all close with the cluster", async () => {
  const { runtime, server, client, stat } = await setup(udpConfig());
  const cluster = server.clusterManager.get("service_udp")!;
  let memberSubscriptions = 0;
  let removalSubscriptions = 0;
  const addMember = cluster.prioritySet.addMemberUpdateCallback.bind(cluster.prioritySet);
  cluster.prioritySet.addMemberUpdateCallback = (callback) => {
    memberSubscriptions++;
    const unsubscribe = addMember(callback);
    return () => {
      memberSubscriptions--;
      unsubscribe();
    };
  };
  const addRemoval = server.clusterManager.addClusterRemovalCallback.bind(server.clusterManager);
  server.clusterManager.addClusterRemovalCallback = (callback) => {
    removalSubscriptions++;
    const unsubscribe = addRemoval(callback);
    return () => {
      removalSubscriptions--;
      unsubscribe();
    };
  };
  const clients: Client[] = [];
  for (let i = 0; i < 200; i++) {
    const c = await client();
    c.send(`hello ${i}`);
    clients.push(c);
  }
  await runtime.settle();
  expect(stat("udp.service.downstream_sess_active")).toBe(200);
  expect(memberSubscriptions).toBe(1);
  expect(removalSubscriptions).toBe(1);
  const sockets = runtime.udp.boundCount;
  expect(server.clusterManager.removeCluster("service_udp")).toBe(true);
  expect(stat("udp.service.downstream_sess_active")).toBe(0);
  expect(runtime.udp.boundCount).toBe(sockets - 200);
  // Nothing left subscribed once the last session is gone.
  expect(memberSubscriptions).toBe(0);
  expect(removalSubscriptions).toBe(0);
});

test("udp_proxy: the cluster replaced by an update (CDS): its sessions are closed; the next datagram goes to the new cluster's host", async () => {
  const { runtime, server, client, stat, upstreamGot } = await setup(udpConfig());
  const got2: string[] = [];
  const echo2: DatagramSocket = await runtime.udp.bind({ address: "127.0.0.2", port: UPSTREAM, maxDatagramSize: 65535 }, {
    onMessage(data, from) {
      got2.push(text(data));
      echo2.send(bytes(`ECHO2 ${text(data)}`), from);
    },
    onError() {},
  });
  const a = await client();
  a.send("one");
  await runtime.settle();
  expect(stat("udp.service.downstream_sess_active")).toBe(1);
  const doc = { static_resources: { clusters: [{ name: "service_udp", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "service_udp", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.2", port_value: UPSTREAM } } } }] }] } }] } };
  expect(await server.clusterManager.addOrUpdateCluster(loadBootstrap(JSON.stringify(doc), "json").clusters[0]!)).toBe(true);
  await runtime.settle();
  expect(stat("udp.service.downstream_sess_active")).toBe(0);
  a.send("two");
  await runtime.settle();
  expect(upstreamGot).toEqual(["one"]);
  expect(got2).toEqual(["two"]);
  expect(a.received).toEqual(["ECHO one", "ECHO2 two"]);
});

describe("udp_proxy config", () => {
  const problems = (config: object): string[] => {
    const result = loadConfig(JSON.stringify(config), "json");
    return "problems" in result ? [...result.problems] : [];
  };

  test("the example's shape validates", () => {
    expect(problems(udpConfig())).toEqual([]);
  });

  test.each([
    ["hash_policies", { hash_policies: [{ source_ip: true }] }, "hashing sessions to hosts"],
    ["use_original_src_ip", { use_original_src_ip: true }, "IP_TRANSPARENT"],
    ["use_per_packet_load_balancing", { use_per_packet_load_balancing: true }, "one per session"],
    ["session_filters", { session_filters: [{ name: "x" }] }, "UDP session filters"],
    ["access_log", { access_log: [{ name: "x" }] }, "UDP session access logs"],
    ["matcher", { cluster: undefined, matcher: {} }, "matcher"],
  ])("%s is refused by name, with why", (field, fields, why) => {
    const found = problems(udpConfig(fields));
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toContain(field);
    expect(found[0]).toContain(why);
  });

  test("a UDP listener takes no filter chains and exactly one udp_proxy (Envoy's messages)", () => {
    const chain = { filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "service_udp" } }] };
    expect(problems(udpConfig({}, { filter_chains: [chain] }))[0]).toContain("1 filter chain(s) specified for connection-less UDP listener.");
    expect(problems(udpConfig({}, { listener_filters: [] }))[0]).toContain("a UDP listener needs a UDP listener filter");
    expect(problems(udpConfig({}, { per_connection_buffer_limit_bytes: 1000 }))[0]).toContain("a UDP listener buffers no connection");
    expect(problems(udpConfig({}, { ignore_global_conn_limit: true }))[0]).toContain("the global connection limit does not count its sessions");
  });

  test("udp_proxy on a TCP listener is refused", () => {
    const config = udpConfig() as { static_resources: { listeners: { address: { socket_address: Record<string, unknown> } }[] } };
    delete config.static_resources.listeners[0]!.address.socket_address["protocol"];
    expect(problems(config).join("\n")).toContain("is a UDP listener filter: its listener's socket_address needs protocol: UDP");
  });
});

describe("udp_proxy: a listener update", () => {
  test("a changed config takes the bound socket over: new peers get the new config's sessions, the old sessions live on until their idle timeout", async () => {
    const { runtime, server, client, stat } = await setup(udpConfig());
    const a = await client();
    a.send("before");
    await runtime.settle();
    expect(a.received).toEqual(["ECHO before"]);
    const next = loadBootstrap(JSON.stringify(udpConfig({ stat_prefix: "updated" })), "json").listeners[0]!;
    let done = false;
    const updating = server.listenerManager.addOrUpdateListener(next).finally(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) await runtime.settle(10);
    expect(await updating).toBe(true);
    expect(stat("listener_manager.listener_modified")).toBe(1);
    const b = await client();
    b.send("after");
    await runtime.settle();
    expect(b.received).toEqual(["ECHO after"]);
    expect(stat("udp.updated.downstream_sess_total")).toBe(1);
    expect(server.listeners[0]!.boundAddress?.port).toBe(PROXY);
    // The old listener's session lives on until its idle timeout (or the end of the drain).
    expect(stat("udp.service.downstream_sess_active")).toBe(1);
    await runtime.settle(61_000);
    expect(stat("udp.service.downstream_sess_active")).toBe(0);
    expect(stat("listener_manager.total_listeners_draining")).toBe(0);
  });
});

describe("udp_proxy under worker processes that cannot share a UDP socket", () => {
  async function asWorker(index: number): Promise<{ runtime: MemoryRuntime; server: Server }> {
    const runtime = new MemoryRuntime({ seed: 4 });
    Object.defineProperty(runtime.udp, "sharedUnsupported", { value: "no SO_REUSEPORT for UDP here" });
    Object.defineProperty(runtime, "workers", {
      value: { worker: { index, count: 2 }, sharing: "reuse-port", supervise: () => Promise.resolve(0), announceStarted: () => Promise.resolve() },
    });
    return { runtime, server: await startProxy(runtime, udpConfig(), "info") };
  }

  test("worker 0 binds the UDP listener (its own socket); the others leave it, saying why", async () => {
    const first = await asWorker(0);
    expect(first.server.listeners[0]!.boundAddress?.port).toBe(PROXY);
    const second = await asWorker(1);
    expect(second.server.listeners[0]!.boundAddress).toBeUndefined();
    expect(second.runtime.udp.boundCount).toBe(0);
    expect(second.runtime.logText).toContain("listener 'udp_listener': a UDP listener is served by worker 0 alone (no SO_REUSEPORT for UDP here)");
  });
});
