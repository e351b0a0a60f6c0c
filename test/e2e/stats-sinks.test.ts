/**
 * stats_sinks on every runtime over real sockets: Envoy's statsd sink to a node:dgram
 * socket (UDP) and to a node:net server through a static cluster (TCP), its DogStatsD sink
 * with tags and max_bytes_per_datagram, what a proxied request produced, and
 * stats_flush_interval honoured.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as dgram from "node:dgram";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface UdpReceiver {
  socket: dgram.Socket;
  port: number;
  datagrams: { at: number; text: string }[];
}

async function udpReceiver(): Promise<UdpReceiver> {
  const socket = dgram.createSocket("udp4");
  const datagrams: { at: number; text: string }[] = [];
  socket.on("message", (msg) => datagrams.push({ at: Date.now(), text: msg.toString() }));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { socket, port: socket.address().port, datagrams };
}

const texts = (r: UdpReceiver): string[] => r.datagrams.map((d) => d.text);

describe.each(RUNTIMES)("stats_sinks on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let statsd: UdpReceiver;
  let dog: UdpReceiver;
  let tcpServer: net.Server;
  let tcpText = "";
  let tcpConnections = 0;
  let httpPort = 0;

  beforeAll(async () => {
    upstream = await httpUpstream();
    [statsd, dog] = await Promise.all([udpReceiver(), udpReceiver()]);
    tcpServer = net.createServer((socket) => {
      tcpConnections++;
      socket.on("data", (data) => (tcpText += data.toString()));
    });
    await new Promise<void>((resolve) => tcpServer.listen(0, "127.0.0.1", () => resolve()));
    const tcpPort = (tcpServer.address() as net.AddressInfo).port;
    httpPort = await freePort();
    const config = httpProxyConfig({ listenPort: httpPort, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { clusters: object[] };
    };
    config.static_resources.clusters.push({
      name: "statsd_tcp",
      type: "STATIC",
      load_assignment: { cluster_name: "statsd_tcp", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } } } }] }] },
    });
    // A cluster whose name has a ':' (statsd's name/value separator).
    config.static_resources.clusters.push({
      name: "api:v1",
      type: "STATIC",
      load_assignment: { cluster_name: "api:v1", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstream.port } } } }] }] },
    });
    proxy = await ProxyProcess.start(runtime, {
      ...config,
      node: { id: "e2e", cluster: "e2e" },
      stats_flush_interval: "0.5s",
      stats_sinks: [
        { name: "envoy.stat_sinks.statsd", typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", address: { socket_address: { address: "127.0.0.1", port_value: statsd.port } } } },
        { name: "envoy.stat_sinks.dog_statsd", typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink", address: { socket_address: { address: "127.0.0.1", port_value: dog.port } }, prefix: "dog", max_bytes_per_datagram: 1400 } },
        { name: "envoy.stat_sinks.statsd", typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", tcp_cluster_name: "statsd_tcp" } },
      ],
    });
    const res = await request(`http://127.0.0.1:${httpPort}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    statsd?.socket.close();
    dog?.socket.close();
    tcpServer?.close();
    await upstream?.close();
  });

  test("statsd over UDP: the request's counters as deltas (|c), its times as recorded (|ms), gauges (|g), a datagram per line", async () => {
    // A flush's datagrams leave as the send queue frees, in no set order: each line is waited for.
    await expect.poll(() => texts(statsd), { timeout: 5000, interval: 50 }).toContain("envoy.cluster.backend.upstream_rq_total:1|c");
    await expect.poll(() => texts(statsd).some((d) => /^envoy\.cluster\.backend\.upstream_rq_time:\d+\|ms$/.test(d)), { timeout: 5000, interval: 50 }).toBe(true);
    await expect.poll(() => texts(statsd), { timeout: 5000, interval: 50 }).toContain("envoy.cluster.backend.membership_total:1|g");
    expect(texts(statsd).every((d) => !d.includes("\n"))).toBe(true);
    // The next flushes: nothing new, a used counter's delta is 0.
    await expect.poll(() => texts(statsd), { timeout: 5000, interval: 50 }).toContain("envoy.cluster.backend.upstream_rq_total:0|c");
    expect(texts(statsd).filter((d) => d === "envoy.cluster.backend.upstream_rq_total:1|c")).toHaveLength(1);
  });

  test("dog_statsd: tag-extracted names with |#tags, lines joined into datagrams of at most max_bytes_per_datagram", async () => {
    await expect.poll(() => texts(dog).flatMap((d) => d.split("\n")), { timeout: 5000, interval: 50 }).toContain("dog.cluster.upstream_rq_total:1|c|#envoy.cluster_name:backend");
    expect(texts(dog).some((d) => d.includes("\n"))).toBe(true);
    expect(dog.datagrams.every((d) => Buffer.byteLength(d.text) <= 1400)).toBe(true);
  });

  test("statsd over TCP (tcp_cluster_name): one connection, \\n-terminated lines", async () => {
    await expect.poll(() => tcpText, { timeout: 5000, interval: 50 }).toContain("envoy.cluster.backend.upstream_rq_total:1|c\n");
    await expect.poll(() => tcpText, { timeout: 5000, interval: 50 }).toMatch(/(^|\n)envoy\.cluster\.backend\.upstream_rq_time:\d+\|ms\n/);
    await expect.poll(() => tcpText, { timeout: 5000, interval: 50 }).toContain("envoy.cluster.backend.membership_total:1|g\n");
    expect(tcpConnections).toBe(1);
  });

  test("a cluster named api:v1 is sent as cluster.api_v1 (Envoy's sanitizeStatsName), never with its ':'", async () => {
    await expect.poll(() => texts(statsd), { timeout: 5000, interval: 50 }).toContain("envoy.cluster.api_v1.membership_total:1|g");
    expect(texts(statsd).some((d) => d.includes("api:v1"))).toBe(false);
  });

  test("stats_flush_interval 0.5s: flushes come every half second (Envoy's default would be 5 s)", async () => {
    const flushes = () => statsd.datagrams.filter((d) => d.text === "envoy.cluster.backend.membership_total:1|g").map((d) => d.at);
    const before = flushes().length;
    await new Promise((r) => setTimeout(r, 2000));
    const during = flushes().slice(before);
    expect(during.length).toBeGreaterThanOrEqual(2);
    expect(during.length).toBeLessThanOrEqual(6);
  });
});
