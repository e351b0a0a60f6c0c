/**
 * The upstream connection pool seen from outside, on every runtime: with all connections
 * busy requests wait in the pending queue within the circuit breakers (Envoy's order),
 * and a request on a reused connection is sent again only when not one byte of a
 * response came before the close.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as http from "node:http";
import * as net from "node:net";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("upstream connection pool on %s", (runtime) => {
  let slow: HttpUpstream;
  let partial: net.Server;
  let partialPort: number;
  /** Requests the partial-answer upstream received, by request line. */
  const partialSeen: string[] = [];
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    // Answers every request after 300 ms.
    slow = await httpUpstream((_req, res: http.ServerResponse) => {
      setTimeout(() => res.end("slow ok"), 300);
    });
    // The first request on a connection gets a whole keep-alive response; the next one
    // gets part of a status line, then the connection closes.
    partial = net.createServer((socket) => {
      socket.on("error", () => {});
      let served = 0;
      let buffered = "";
      socket.on("data", (d: Buffer) => {
        buffered += d.toString("latin1");
        let end: number;
        while ((end = buffered.indexOf("\r\n\r\n")) >= 0) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          partialSeen.push(head.split("\r\n")[0]!);
          if (served++ === 0) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst");
          else socket.end("HTTP/1.1 2");
        }
      });
    });
    await new Promise<void>((r) => partial.listen(0, "127.0.0.1", r));
    partialPort = (partial.address() as net.AddressInfo).port;
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { slow: [slow.port], partial: [partialPort] },
        clusterExtra: { circuit_breakers: { thresholds: [{ max_connections: 2, max_requests: 2, max_pending_requests: 10 }] } },
        routes: [
          { match: { prefix: "/slow" }, cluster: "slow" },
          { match: { prefix: "/partial" }, cluster: "partial" },
        ],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await slow?.close();
    partial?.close();
  });

  test("max_connections 2, max_requests 2, max_pending_requests 10: five concurrent slow requests all get 200 (queued, not refused)", async () => {
    const agent = new Agent({ connections: 10 });
    try {
      // Warm the pool: two upstream connections, idle. Then five at once: two take them,
      // the other three must wait for them (Envoy), not be refused because max_requests
      // is reached (polyvoy before: 200, 200, 503, 503, 503).
      await Promise.all([0, 1].map(async () => (await request(`http://127.0.0.1:${port}/slow/warm`, { dispatcher: agent })).body.text()));
      const results = await Promise.all(
        [0, 1, 2, 3, 4].map(async (i) => {
          const res = await request(`http://127.0.0.1:${port}/slow/${i}`, { dispatcher: agent });
          return `${res.statusCode} ${await res.body.text()}`;
        }),
      );
      expect(results).toEqual(Array(5).fill("200 slow ok"));
      // Over two upstream connections at most.
      expect(new Set(slow.requests.map((r) => r.connection)).size).toBeLessThanOrEqual(2);
    } finally {
      await agent.close();
    }
  });

  test("a GET on a reused connection cut after part of a status line: 503, the upstream saw it once (no replay)", async () => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    await new Promise((r) => socket.once("connect", r));
    socket.on("error", () => {});
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 5000;
      while (parseResponses(text).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    socket.write("GET /partial/one HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(1);
    socket.write("GET /partial/two HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(2);
    socket.destroy();
    const responses = parseResponses(text);
    expect(responses.map((r) => r.status)).toEqual([200, 503]);
    expect(responses[1]!.body).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: /);
    await new Promise((r) => setTimeout(r, 100));
    expect(partialSeen.filter((line) => line.startsWith("GET /partial/two"))).toHaveLength(1);
  });
});
