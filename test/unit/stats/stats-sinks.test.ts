/**
 * stats_sinks on the memory runtime (core/stats/): Envoy's statsd sink over UDP and TCP and
 * its DogStatsD sink — the line format, counters as deltas across flushes (a used counter
 * with nothing new sends 0), gauges, histogram values sent as recorded, DogStatsD's batching
 * and tags, the flush timer (stats_flush_interval, stats_flush_on_admin), and the config's
 * refusals.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import type { DatagramCapability, DatagramHandler, DatagramSocket, PortError, Runtime, WorkerProcesses } from "../../../core/port.ts";
import { Counter } from "../../../core/stats/counter.ts";
import { UdpStatsdSink } from "../../../core/stats/udp-statsd-sink.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { startProxy } from "../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const STATSD = 8125;
const STATSD_TYPE = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink";
const DOG_TYPE = "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink";
const statsdAt = { socket_address: { address: "127.0.0.1", port_value: STATSD } };
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function config(extra: Record<string, unknown>, clusters: object[] = []): object {
  return {
    ...extra,
    static_resources: {
      listeners: [{
        name: "ingress",
        address: { socket_address: { address: "127.0.0.1", port_value: PROXY } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "ingress",
          route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        } }] }],
      }],
      clusters: [
        { name: "backend", type: "STATIC", load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: UPSTREAM } } } }] }] } },
        ...clusters,
      ],
    },
  };
}

interface Harness {
  runtime: MemoryRuntime;
  server: Server;
  /** Every datagram the statsd address received, as text. */
  datagrams: string[];
  /** One request through the proxy, answered 200. */
  request(path?: string): Promise<void>;
}

async function harness(extra: Record<string, unknown>): Promise<Harness> {
  const runtime = new MemoryRuntime();
  const datagrams: string[] = [];
  await runtime.udp.bind({ address: "127.0.0.1", port: STATSD, maxDatagramSize: 65536 }, { onMessage: (data) => datagrams.push(text(data)), onError: () => {} });
  await MemoryHttpServer.listen(runtime, UPSTREAM, (_request, response) => response.respond(200, "ok"));
  const server = await startProxy(runtime, config(extra));
  await runtime.settle();
  return {
    runtime,
    server,
    datagrams,
    async request(path = "/") {
      const client = new MemoryHttpClient(runtime, PROXY);
      client.request("GET", path);
      await runtime.settle();
      expect(client.responses[0]?.status).toBe(200);
    },
  };
}

/** The lines of the datagrams, each datagram split at "\n". */
const lines = (datagrams: readonly string[]): string[] => datagrams.flatMap((d) => d.split("\n"));

describe("envoy.stat_sinks.statsd over UDP", () => {
  const sinks = [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, address: statsdAt } }];

  test("each flush sends a used counter's delta since the last flush (0 when nothing changed), one datagram per line", async () => {
    const h = await harness({ stats_sinks: sinks });
    await h.request();
    h.datagrams.length = 0;
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.backend.upstream_rq_total:1|c");
    expect(h.datagrams).toContain("envoy.cluster.backend.upstream_rq_200:1|c");
    // Every line its own datagram: the statsd sink has no buffer (Envoy's buffer_size 0).
    expect(h.datagrams.every((d) => !d.includes("\n"))).toBe(true);
    // A counter never used is not sent (Envoy's used()).
    expect(h.datagrams.some((d) => d.startsWith("envoy.cluster.backend.upstream_rq_timeout:"))).toBe(false);

    h.datagrams.length = 0;
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.backend.upstream_rq_total:0|c");

    await h.request();
    await h.request();
    h.datagrams.length = 0;
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.backend.upstream_rq_total:2|c");
  });

  test("gauges are sent with their value, |g", async () => {
    const h = await harness({ stats_sinks: sinks });
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.backend.membership_total:1|g");
    expect(h.datagrams).toContain("envoy.cluster.backend.membership_healthy:1|g");
  });

  test("a histogram value is sent when it is recorded, as integer milliseconds |ms, not at the flush", async () => {
    const h = await harness({ stats_sinks: sinks });
    h.datagrams.length = 0;
    await h.request();
    // No flush has run (5 s have not passed): the value came with the request.
    const times = h.datagrams.filter((d) => d.startsWith("envoy.cluster.backend.upstream_rq_time:"));
    expect(times).toHaveLength(1);
    expect(times[0]).toMatch(/^envoy\.cluster\.backend\.upstream_rq_time:\d+\|ms$/);
    expect(h.datagrams.some((d) => d.startsWith("envoy.http.ingress.downstream_rq_time:"))).toBe(true);
  });

  test("a flush of more lines than the runtime's UDP send queue holds sends them all, in order, none counted as lost", async () => {
    const h = await harness({ stats_sinks: sinks });
    for (let i = 0; i < 3000; i++) h.server.stats.counter(`test.c${String(i).padStart(4, "0")}`).inc();
    h.datagrams.length = 0;
    await h.runtime.settle(5000);
    await h.runtime.settle(100);
    const ours = h.datagrams.filter((d) => d.startsWith("envoy.test.c"));
    expect(ours).toHaveLength(3000);
    expect(ours[0]).toBe("envoy.test.c0000:1|c");
    expect(ours[2999]).toBe("envoy.test.c2999:1|c");
    expect(h.server.stats.counter("statsd.udp_tx_errors").value).toBe(0);
  });

  test("a flush of 20,000 used counters: every line arrives, flush after flush (the tail is not cut)", async () => {
    const h = await harness({ stats_sinks: sinks });
    for (let i = 0; i < 20_000; i++) h.server.stats.counter(`test.c${String(i).padStart(5, "0")}`).inc();
    for (const round of [1, 2]) {
      h.datagrams.length = 0;
      await h.runtime.settle(5000);
      await h.runtime.settle(200);
      const ours = h.datagrams.filter((d) => d.startsWith("envoy.test.c"));
      expect(ours).toHaveLength(20_000);
      expect(ours[19_999]).toBe(`envoy.test.c19999:${round === 1 ? 1 : 0}|c`);
    }
    expect(h.server.stats.counter("statsd.udp_tx_errors").value).toBe(0);
  });

  test("the shutdown's final flush of 20,000 lines is all sent before the socket closes", async () => {
    const h = await harness({ stats_sinks: sinks });
    await h.runtime.settle(5000);
    for (let i = 0; i < 20_000; i++) h.server.stats.counter(`test.c${String(i).padStart(5, "0")}`).inc();
    h.datagrams.length = 0;
    const done = h.server.shutdown();
    await h.runtime.settle(20_000);
    await done;
    expect(h.datagrams.filter((d) => d.startsWith("envoy.test.c"))).toHaveLength(20_000);
  });

  test("a start that fails after the sinks started leaves no flush timer or socket behind", async () => {
    const runtime = new MemoryRuntime();
    const datagrams: string[] = [];
    await runtime.udp.bind({ address: "127.0.0.1", port: STATSD, maxDatagramSize: 65536 }, { onMessage: (data) => datagrams.push(text(data)), onError: () => {} });
    // The listener's port is taken: start() fails after the flusher started.
    await runtime.listen({ address: "127.0.0.1", port: PROXY }, () => {});
    await expect(startProxy(runtime, config({ stats_sinks: sinks }))).rejects.toThrow(/ingress/);
    await runtime.settle(20_000);
    expect(datagrams).toEqual([]);
  });

  test("statsd.udp_tx_errors counts failed sends, not an unconnected socket's ICMP errors", async () => {
    const runtime = new MemoryRuntime();
    let handler: DatagramHandler | undefined;
    const udp: DatagramCapability = {
      bind: async (_options, h) => {
        handler = h;
        return { address: { address: "0.0.0.0", port: 40000, family: 4 }, send: () => true, close() {} } as DatagramSocket;
      },
    };
    const txErrors = new Counter("statsd.udp_tx_errors");
    const sink = new UdpStatsdSink(runtime, udp, { target: { address: "127.0.0.1", port: STATSD }, prefix: "envoy", bufferSize: 0, txErrors });
    await sink.start();
    handler!.onError({ code: "ECONNREFUSED", message: "port unreachable" } as PortError);
    expect(txErrors.value).toBe(0);
    handler!.onSendError!({ code: "EMSGSIZE", message: "too long" } as PortError);
    expect(txErrors.value).toBe(1);
    sink.stop();
  });

  test("the server.* gauges reach the sink without an admin (Envoy's flushStats updates them always)", async () => {
    const h = await harness({ stats_sinks: sinks });
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.server.live:1|g");
    expect(h.datagrams).toContain("envoy.server.concurrency:1|g");
    expect(h.datagrams).toContain("envoy.server.uptime:5|g");
  });

  test("--concurrency: a worker sends no flush of its own; the supervisor's merged flush goes out through its sinks", async () => {
    const runtime = new MemoryRuntime();
    const datagrams: string[] = [];
    await runtime.udp.bind({ address: "127.0.0.1", port: STATSD, maxDatagramSize: 65536 }, { onMessage: (data) => datagrams.push(text(data)), onError: () => {} });
    const workers: WorkerProcesses = { worker: { index: 0, count: 2, supervisorToken: "s3cret" }, sharing: "reuse-port", supervise: () => Promise.resolve(0), announceStarted: () => Promise.resolve(), startConfig: () => Promise.resolve(undefined) };
    const asWorker = Object.assign(Object.create(runtime) as Runtime, { workers });
    // As core/main.ts makes it: no admin configured, an internal one for the supervisor alone.
    const bootstrap = loadBootstrap(JSON.stringify(config({ stats_sinks: sinks })), "json");
    bootstrap.admin = { address: { address: "127.0.0.1", port: 9901 }, supervisorOnly: true };
    const server = new Server(asWorker, bootstrap, new Logger(asWorker, "warn"));
    await server.start();
    await runtime.settle(5000);
    // Its own stats are only its share: counters and gauges go out in the supervisor's flush.
    expect(datagrams.filter((d) => /\|[cg]$/.test(d))).toEqual([]);
    const admin = server.admin!;
    // Without the supervisor's token (anyone else on loopback) neither worker-only path exists.
    expect(admin.fromSupervisor("s3cret")).toBe(true);
    expect(admin.fromSupervisor("s3creT")).toBe(false);
    expect(admin.fromSupervisor(undefined)).toBe(false);
    expect(admin.handle({ method: "GET", path: "/stats?format=worker&flush=sinks" }).status).toBe(404);
    expect(admin.handle({ method: "POST", path: "/stats/sinks_flush", json: "{}" }).status).toBe(404);
    expect(admin.jsonBodyLimit("/stats/sinks_flush", false)).toBe(0);
    const snapshot = admin.handle({ method: "GET", path: "/stats?format=worker&flush=sinks", fromSupervisor: true });
    expect(snapshot.status).toBe(200);
    expect((JSON.parse(snapshot.body) as { stats: { name: string }[] }).stats.map((s) => s.name)).toContain("cluster.backend.upstream_rq_total");
    // The rest of the admin is not there (the config asked for none).
    expect(admin.handle({ method: "GET", path: "/ready" }).status).toBe(404);
    expect(admin.handle({ method: "POST", path: "/quitquitquit" }).status).toBe(404);
    expect(admin.jsonBodyLimit("/stats/sinks_flush", true)).toBe(16 * 1024 * 1024);
    expect(admin.jsonBodyLimit("/stats", true)).toBe(0);
    const merged = {
      counters: [{ name: "cluster.backend.upstream_rq_total", value: 12, delta: 7, used: true }],
      gauges: [{ name: "server.live", value: 1, used: true }],
      histograms: [],
    };
    const flush = (json: string) => admin.handle({ method: "POST", path: "/stats/sinks_flush", json, fromSupervisor: true });
    // Numbers a worker never keeps are refused whole, before any sink sees them.
    const bad = (delta: unknown) => JSON.stringify({ ...merged, counters: [{ name: "x", value: 1, delta, used: true }] });
    for (const delta of [-1, "7", null, 1e400]) expect(flush(bad(delta)).status).toBe(400);
    const badHistogram = { name: "h", unit: "Milliseconds", used: true, counts: [], count: 1, sum: Number.NaN, min: null, max: null, interval: [], intervalSum: 0 };
    expect(flush(JSON.stringify({ ...merged, histograms: [badHistogram] }).replace("null,\"min\"", "\"NaN\",\"min\"")).status).toBe(400);
    expect(flush(JSON.stringify(merged)).status).toBe(200);
    expect(flush("{").status).toBe(400);
    await runtime.settle(100);
    expect(datagrams.filter((d) => /\|[cg]$/.test(d))).toEqual(["envoy.cluster.backend.upstream_rq_total:7|c", "envoy.server.live:1|g"]);
    // The histogram values it records are its own to send, as recorded.
    expect(datagrams).toContain("envoy.server.initialization_time_ms:0|ms");
    await server.shutdown();
  });

  test("prefix replaces envoy", async () => {
    const h = await harness({ stats_sinks: [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, address: statsdAt, prefix: "edge" } }] });
    await h.request();
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("edge.cluster.backend.upstream_rq_total:1|c");
    expect(h.datagrams.some((d) => d.startsWith("envoy."))).toBe(false);
  });
});

describe("envoy.stat_sinks.dog_statsd", () => {
  test("names are tag-extracted and tags follow as |#name:value,…", async () => {
    const h = await harness({ stats_sinks: [{ name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": DOG_TYPE, address: statsdAt } }] });
    await h.request();
    expect(h.datagrams).toContain(h.datagrams.find((d) => /^envoy\.cluster\.upstream_rq_time:\d+\|ms\|#envoy\.cluster_name:backend$/.test(d)));
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.upstream_rq_total:1|c|#envoy.cluster_name:backend");
    expect(h.datagrams).toContain("envoy.cluster.upstream_rq:1|c|#envoy.response_code:200,envoy.cluster_name:backend");
    expect(h.datagrams).toContain("envoy.cluster.membership_total:1|g|#envoy.cluster_name:backend");
  });

  test("stats_config's tags apply (a fixed_value tag on every metric)", async () => {
    const h = await harness({
      stats_config: { stats_tags: [{ tag_name: "region", fixed_value: "eu" }] },
      stats_sinks: [{ name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": DOG_TYPE, address: statsdAt } }],
    });
    await h.runtime.settle(5000);
    expect(h.datagrams).toContain("envoy.cluster.membership_total:1|g|#envoy.cluster_name:backend,region:eu");
  });

  test("max_bytes_per_datagram joins a flush's lines with \\n into datagrams no larger", async () => {
    const h = await harness({ stats_sinks: [{ name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": DOG_TYPE, address: statsdAt, max_bytes_per_datagram: 512 } }] });
    await h.request();
    h.datagrams.length = 0;
    await h.runtime.settle(5000);
    expect(h.datagrams.length).toBeGreaterThan(1);
    expect(h.datagrams.every((d) => new TextEncoder().encode(d).length <= 512)).toBe(true);
    expect(h.datagrams.filter((d) => d.includes("\n")).length).toBeGreaterThan(0);
    expect(lines(h.datagrams)).toContain("envoy.cluster.upstream_rq_total:1|c|#envoy.cluster_name:backend");
    // Nothing lost to the batching: as many lines as one datagram each would carry.
    const unbatched = await harness({ stats_sinks: [{ name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": DOG_TYPE, address: statsdAt } }] });
    await unbatched.request();
    unbatched.datagrams.length = 0;
    await unbatched.runtime.settle(5000);
    expect(lines(h.datagrams).length).toBe(unbatched.datagrams.length);
  });
});

describe("the stats flush", () => {
  const sinks = [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, address: statsdAt } }];

  test("stats_flush_interval sets the period (Envoy's default 5 s)", async () => {
    const h = await harness({ stats_sinks: sinks, stats_flush_interval: "1s" });
    await h.runtime.settle(999);
    expect(h.datagrams.some((d) => d.endsWith("|g"))).toBe(false);
    await h.runtime.settle(1);
    expect(h.datagrams).toContain("envoy.cluster.backend.membership_total:1|g");
    const byDefault = await harness({ stats_sinks: sinks });
    await byDefault.runtime.settle(4999);
    expect(byDefault.datagrams.some((d) => d.endsWith("|g"))).toBe(false);
    await byDefault.runtime.settle(1);
    expect(byDefault.datagrams).toContain("envoy.cluster.backend.membership_total:1|g");
  });

  test("stats_flush_on_admin: no timer; each read of /stats flushes first", async () => {
    const h = await harness({ stats_sinks: sinks, stats_flush_on_admin: true, admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } } });
    await h.request();
    await h.runtime.settle(60_000);
    expect(h.datagrams.some((d) => d.endsWith("|c"))).toBe(false);
    const admin = new MemoryHttpClient(h.runtime, 9901);
    admin.request("GET", "/stats");
    await h.runtime.settle();
    expect(admin.responses[0]?.status).toBe(200);
    expect(h.datagrams).toContain("envoy.cluster.backend.upstream_rq_total:1|c");
  });

  test("the server's shutdown flushes once more (Envoy's terminate), then sends nothing", async () => {
    const h = await harness({ stats_sinks: sinks });
    await h.request();
    h.datagrams.length = 0;
    const done = h.server.shutdown();
    await h.runtime.settle(20_000);
    await done;
    expect(h.datagrams.filter((d) => d === "envoy.cluster.backend.upstream_rq_total:1|c")).toHaveLength(1);
    h.datagrams.length = 0;
    await h.runtime.settle(20_000);
    expect(h.datagrams).toEqual([]);
  });

  test("a counter's latch is what it gained since the last; /reset_counters zeroes the value, not what is still to be latched (Envoy's CounterImpl::reset)", () => {
    const counter = new Counter("c");
    counter.inc(3);
    expect(counter.latch()).toBe(3);
    expect(counter.latch()).toBe(0);
    counter.inc(5);
    counter.reset();
    expect(counter.value).toBe(0);
    counter.inc(2);
    expect(counter.value).toBe(2);
    expect(counter.latch()).toBe(7);
    expect(counter.latch()).toBe(0);
  });
});

describe("envoy.stat_sinks.statsd over TCP (tcp_cluster_name)", () => {
  const statsdCluster = { name: "statsd", type: "STATIC", load_assignment: { cluster_name: "statsd", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: STATSD } } } }] }] } };
  const tcpSinks = [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, tcp_cluster_name: "statsd" } }];

  test("one connection to the cluster carries each flush's lines and each histogram value, \\n-terminated, full names", async () => {
    const runtime = new MemoryRuntime();
    let received = "";
    let accepted = 0;
    await runtime.listen({ address: "127.0.0.1", port: STATSD }, (socket) => {
      accepted++;
      socket.setHandler({ onConnect() {}, onData: (data) => (received += text(data)), onEnd() {}, onDrain() {}, onClose() {} });
    });
    await MemoryHttpServer.listen(runtime, UPSTREAM, (_request, response) => response.respond(200, "ok"));
    await startProxy(runtime, { ...config({ node: { id: "n1", cluster: "c1" }, stats_sinks: tcpSinks }, [statsdCluster]) });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    await runtime.settle();
    expect(received).toMatch(/(^|\n)envoy\.cluster\.backend\.upstream_rq_time:\d+\|ms\n/);
    await runtime.settle(5000);
    expect(received).toContain("envoy.cluster.backend.upstream_rq_total:1|c\n");
    expect(received).toContain("envoy.cluster.backend.membership_total:1|g\n");
    await runtime.settle(5000);
    expect(received).toContain("envoy.cluster.backend.upstream_rq_total:0|c\n");
    expect(accepted).toBe(1);
  });

  test("without node id and cluster the server does not start (Envoy's checkLocalInfo)", async () => {
    const runtime = new MemoryRuntime();
    await expect(startProxy(runtime, config({ stats_sinks: tcpSinks }, [statsdCluster]))).rejects.toThrow(
      "stats_sinks[0]: tcp statsd: node 'id' and 'cluster' are required. Set it either in 'node' config or via --service-node and --service-cluster options.",
    );
  });
});

describe("stats sink config", () => {
  const problems = (extra: Record<string, unknown>): string[] => {
    try {
      loadBootstrap(JSON.stringify(config(extra)), "json");
      return [];
    } catch (err) {
      return (err as { problems?: string[] }).problems ?? [String(err)];
    }
  };

  test("accepted: by name or by @type, Envoy's legacy names too", () => {
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, address: statsdAt } }] })).toEqual([]);
    expect(problems({ stats_sinks: [{ name: "envoy.statsd", typed_config: { address: statsdAt } }] })).toEqual([]);
    expect(problems({ stats_sinks: [{ name: "whatever", typed_config: { "@type": DOG_TYPE, address: statsdAt, max_bytes_per_datagram: 1400 } }] })).toEqual([]);
  });

  test("refused, one line each naming the field", () => {
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.hystrix" }] })).toEqual([
      expect.stringMatching(/^stats_sinks\[0\]: envoy\.stat_sinks\.hystrix \(the Hystrix dashboard sink\) is an Envoy stats sink that polyvoy does not support/),
    ]);
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.wasm" }] })).toEqual([expect.stringMatching(/^stats_sinks\[0\]: envoy\.stat_sinks\.wasm \(the Wasm sink\)/)]);
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE } }] })).toEqual([expect.stringMatching(/^stats_sinks\[0\]\.typed_config: value is required: one of address \(UDP\) or tcp_cluster_name/)]);
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, tcp_cluster_name: "nope" } }] })).toEqual([
      "stats_sinks[0].typed_config.tcp_cluster_name: tcp statsd: unknown cluster 'nope' (it must be one of static_resources.clusters)",
    ]);
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": DOG_TYPE, address: statsdAt, max_bytes_per_datagram: 0 } }] })).toEqual([
      expect.stringMatching(/^stats_sinks\[0\]\.typed_config\.max_bytes_per_datagram: must be an integer greater than 0/),
    ]);
    expect(problems({ stats_sinks: [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": STATSD_TYPE, address: statsdAt, use_tag_extracted_names: true } }] })).toHaveLength(1);
    expect(problems({ stats_flush_on_admin: true, stats_flush_interval: "1s" })).toEqual(["stats_flush_on_admin: only one of stats_flush_interval and stats_flush_on_admin can be set"]);
    expect(problems({ stats_flush_on_admin: false })).toEqual([expect.stringMatching(/^stats_flush_on_admin: false is an Envoy value that polyvoy does not support yet \(supported: true\)/)]);
  });
});
