/**
 * tcp_proxy end to end, on every runtime: real client sockets → polyvoy (spawned under
 * node, bun or deno) → real upstream servers.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { randomBytes } from "node:crypto";
import type * as net from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { peerClosed, connect, freePort, kernelBufferBound, readAll, sha256, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { tcpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const MiB = 1024 * 1024;

/** A slow reader: stops reading for 60 ms after 2 MiB, then after every further 4 MiB. */
function keepPausing(socket: net.Socket): void {
  let received = 0;
  let nextPause = 2 * MiB;
  socket.on("data", (d: Buffer) => {
    received += d.length;
    if (received < nextPause) return;
    nextPause += 4 * MiB;
    socket.pause();
    setTimeout(() => socket.resume(), 60);
  });
}

/** Write `data` in 64 KiB chunks, honouring backpressure, then end. */
async function writeAll(socket: net.Socket, data: Uint8Array, end = true): Promise<void> {
  for (let at = 0; at < data.length; at += 65536) {
    if (!socket.write(data.subarray(at, at + 65536))) await new Promise((r) => socket.once("drain", r));
  }
  if (end) socket.end();
}

describe.each(RUNTIMES)("tcp_proxy on %s", (runtime) => {
  let upstream: TcpServer;
  /** What the upstream does with each connection; tests swap it. */
  let onUpstream: (socket: net.Socket) => void = (s) => s.pipe(s);
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await tcpServer((socket) => onUpstream(socket));
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port] }));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("16 MiB of random bytes each way arrive intact", async () => {
    const up = randomBytes(16 * MiB);
    const down = randomBytes(16 * MiB);
    let upstreamReceived: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    onUpstream = (socket) => {
      upstreamReceived = readAll(socket);
      void writeAll(socket, down);
    };
    const client = await connect(port);
    const clientReceived = readAll(client);
    await writeAll(client, up);
    const [fromProxy, atUpstream] = [await clientReceived, await upstreamReceived];
    expect(atUpstream.length).toBe(up.length);
    expect(sha256(atUpstream)).toBe(sha256(up));
    expect(fromProxy.length).toBe(down.length);
    expect(sha256(fromProxy)).toBe(sha256(down));
  });

  // Writes the proxy could not send yet hold what was read, not memory the next read
  // reuses (node and deno read into reused buffers: runtimes/node/socket-reads.ts,
  // runtimes/deno/lent-reads.ts). Both ways: a slow client, then a slow upstream.
  test("a client that keeps pausing receives 32 MiB of random bytes intact", async () => {
    const down = randomBytes(32 * MiB);
    onUpstream = (socket) => void writeAll(socket, down);
    const client = await connect(port);
    keepPausing(client);
    const fromProxy = await readAll(client);
    expect(fromProxy.length).toBe(down.length);
    expect(sha256(fromProxy)).toBe(sha256(down));
  });

  test("an upstream that keeps pausing receives 32 MiB of random bytes intact", async () => {
    const up = randomBytes(32 * MiB);
    let upstreamReceived: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    onUpstream = (socket) => {
      keepPausing(socket);
      upstreamReceived = readAll(socket);
    };
    const client = await connect(port);
    await writeAll(client, up);
    client.end();
    const atUpstream = await upstreamReceived;
    expect(atUpstream.length).toBe(up.length);
    expect(sha256(atUpstream)).toBe(sha256(up));
  });

  test("half-close: the client ends its side and still receives the upstream's reply", async () => {
    onUpstream = (socket) => {
      const got: Buffer[] = [];
      socket.on("data", (d) => got.push(d));
      // Reply only after the client's FIN has come through the proxy.
      socket.on("end", () => {
        setTimeout(() => socket.end(`pong:${Buffer.concat(got)}`), 50);
      });
    };
    const client = await connect(port);
    const received = readAll(client);
    client.end("ping");
    expect((await received).toString()).toBe("pong:ping");
    await peerClosed(client);
  });

  test("half-close the other way: the upstream ends first and still receives the client's bytes", async () => {
    let upstreamGot: Promise<Buffer> = Promise.resolve(Buffer.alloc(0));
    onUpstream = (socket) => {
      upstreamGot = readAll(socket);
      socket.end("bye");
    };
    const client = await connect(port);
    const received = readAll(client);
    expect((await received).toString()).toBe("bye");
    client.end("after-your-fin");
    expect((await upstreamGot).toString()).toBe("after-your-fin");
    await peerClosed(client);
  });

  test("200 concurrent connections all complete", async () => {
    onUpstream = (s) => s.pipe(s);
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const client = await connect(port);
        const received = readAll(client);
        client.end(`connection ${i} `.repeat(100));
        return (await received).toString() === `connection ${i} `.repeat(100);
      }),
    );
    expect(results.filter(Boolean).length).toBe(200);
  });

  test("a client that stops reading keeps the proxy's memory bounded while the upstream streams more than the kernel can hold", async () => {
    // What the proxy may hold besides the kernel's buffers: its 1 MiB write buffer per side and read chunks.
    const heldBack = kernelBufferBound() + 8 * MiB;
    const total = heldBack + 16 * MiB;
    const chunk = randomBytes(65536);
    let sent = 0;
    onUpstream = (socket) => {
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once("drain", pump);
        }
        socket.end();
      };
      pump();
    };
    const before = proxy.memory().rss;
    const sampler = proxy.sampleRss();
    const client = await connect(port);
    client.pause();
    await new Promise((r) => setTimeout(r, 1500));
    const sentWhilePaused = sent;
    const peakWhilePaused = sampler.peak();
    // Backpressure reached the upstream: it could only fill kernel buffers and the proxy's 1 MiB per side.
    expect(sentWhilePaused).toBeLessThan(heldBack);
    let received = 0;
    client.on("data", (d: Buffer) => (received += d.length));
    client.resume();
    await new Promise((r) => client.once("end", r));
    const peak = sampler.stop();
    expect(received).toBe(sent);
    const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    console.log(
      `[${runtime}] slow reader: the upstream got ${mib(sentWhilePaused)} out while the client was paused; proxy RSS ${mib(before)} before, ` +
        `peak ${mib(peakWhilePaused)} (+${mib(peakWhilePaused - before)}) while paused, ` +
        `peak ${mib(peak)} (+${mib(peak - before)}) while the ${mib(total)} then went through (garbage the GC had not yet returned)`,
    );
    // What the proxy holds for a stopped reader is its write buffer (1 MiB) and read chunks, not the stream.
    expect(peakWhilePaused - before).toBeLessThan(16 * MiB);
  });

  test("upstream connections are spread round robin over the cluster's hosts", async () => {
    const second = await tcpServer((s) => s.pipe(s));
    const rrPort = await freePort();
    const rr = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: rrPort, upstreamPorts: [upstream.port, second.port] }));
    try {
      onUpstream = (s) => s.pipe(s);
      const firstBefore = upstream.accepted;
      for (let i = 0; i < 4; i++) {
        const client = await connect(rrPort);
        const received = readAll(client);
        client.end("x");
        expect((await received).toString()).toBe("x");
      }
      expect(upstream.accepted - firstBefore).toBe(2);
      expect(second.accepted).toBe(2);
    } finally {
      await rr.stop("SIGKILL");
      await second.close();
    }
  });
});

describe.each(RUNTIMES)("tcp_proxy failures and lifecycle on %s", (runtime) => {
  test("upstream refused: the downstream is closed promptly", async () => {
    const deadPort = await freePort(); // nothing listens there
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: port, upstreamPorts: [deadPort] }));
    try {
      const client = await connect(port);
      const started = Date.now();
      const received = readAll(client).catch(() => Buffer.alloc(0));
      await peerClosed(client);
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await received).length).toBe(0);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });

  test("idle_timeout closes a connection on which nothing moves", async () => {
    const upstream = await tcpServer(() => {});
    const port = await freePort();
    const proxy = await ProxyProcess.start(
      runtime,
      tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port], idleTimeout: "0.5s" }),
    );
    try {
      const client = await connect(port);
      client.on("error", () => {});
      client.write("one byte");
      const started = Date.now();
      await peerClosed(client);
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(400);
      expect(took).toBeLessThan(3000);
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });

  test("SIGTERM closes open connections and exits 0", async () => {
    const upstream = await tcpServer((s) => s.pipe(s));
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port] }));
    try {
      const client = await connect(port);
      client.on("error", () => {});
      const received = readAll(client).catch(() => Buffer.alloc(0));
      client.write("hello");
      await new Promise((r) => setTimeout(r, 200));
      const exit = await proxy.stop("SIGTERM");
      expect(exit.code).toBe(0);
      expect((await received).toString()).toBe("hello");
      await peerClosed(client);
      expect(exit.stderr).toMatch(/caught SIGTERM/);
    } finally {
      await upstream.close();
    }
  });

  test("SIGINT exits 0 too", async () => {
    const upstream = await tcpServer((s) => s.pipe(s));
    const port = await freePort();
    const proxy = await ProxyProcess.start(runtime, tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port] }));
    const exit = await proxy.stop("SIGINT");
    expect(exit.code).toBe(0);
    await upstream.close();
  });
});

describe.each(RUNTIMES)("tcp_proxy weighted_clusters on %s", (runtime) => {
  test("each connection goes to one cluster, picked by weight (1:3 over 200 connections)", async () => {
    const upstreams = await Promise.all(["a", "b"].map((id) => tcpServer((socket) => socket.end(id))));
    const port = await freePort();
    const config = tcpProxyConfig({ listenPort: port, upstreamPorts: [upstreams[0]!.port] }) as { static_resources: { listeners: any[]; clusters: any[] } };
    const [upstreamCluster] = config.static_resources.clusters;
    config.static_resources.clusters.push({
      ...upstreamCluster,
      name: "canary",
      load_assignment: { cluster_name: "canary", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreams[1]!.port } } } }] }] },
    });
    const tcp = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    delete tcp.cluster;
    tcp.weighted_clusters = { clusters: [{ name: "upstream", weight: 1 }, { name: "canary", weight: 3 }] };
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const counts = { a: 0, b: 0 };
      for (let batch = 0; batch < 10; batch++) {
        const replies = await Promise.all(Array.from({ length: 20 }, async () => String(await readAll(await connect(port)))));
        for (const reply of replies) counts[reply as "a" | "b"]++;
      }
      expect(counts.a + counts.b).toBe(200);
      // expected 50 and 150; a standard deviation of 6.1: ±25 is four of them
      expect(counts.a).toBeGreaterThan(25);
      expect(counts.a).toBeLessThan(75);
    } finally {
      await proxy.stop("SIGKILL");
      await Promise.all(upstreams.map((u) => u.close()));
    }
  });
});
