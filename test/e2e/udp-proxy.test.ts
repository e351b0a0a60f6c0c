/**
 * Envoy's udp example (test/fixtures/envoy-examples/udp/envoy.yaml: a UDP listener, its
 * udp_proxy to a STRICT_DNS cluster) served on every runtime, its upstream name mapped to a
 * real node:dgram echo server on 127.0.0.1: datagrams both ways, two clients two sessions,
 * an idle session closed after idle_timeout, Envoy's stats on the admin's /stats.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as dgram from "node:dgram";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/admin-stats.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { localize } from "../support/envoy-examples.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Client {
  socket: dgram.Socket;
  received: string[];
  send(text: string): void;
}

async function client(port: number): Promise<Client> {
  const socket = dgram.createSocket("udp4");
  const received: string[] = [];
  socket.on("message", (msg) => received.push(msg.toString()));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { socket, received, send: (text) => socket.send(text, port, "127.0.0.1") };
}

/** Poll until `check` holds (datagrams are asynchronous; no timing is asserted). */
async function until(check: () => boolean | Promise<boolean>, what: string, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`never: ${what}`);
}

describe.each(RUNTIMES)("udp_proxy on %s", (runtime) => {
  let echo: dgram.Socket;
  let echoPort: number;
  const upstreamPeers: string[] = [];

  beforeAll(async () => {
    echo = dgram.createSocket("udp4");
    echo.on("message", (msg, from) => {
      upstreamPeers.push(`${from.address}:${from.port}`);
      echo.send(`ECHO ${msg.toString()}`, from.port, from.address);
    });
    await new Promise<void>((resolve) => echo.bind(0, "127.0.0.1", () => resolve()));
    echoPort = echo.address().port;
  });

  afterAll(() => {
    echo?.close();
  });

  for (const idle of [undefined, "1s"]) {
    test(idle === undefined ? "Envoy's udp example: datagrams both ways, a session per client, Envoy's stats" : "a session idle for idle_timeout is closed; the next datagram opens a new one", async () => {
      const adminPort = await freePort();
      const { config, port } = await localize("udp/envoy.yaml", { "service-udp": echoPort }, (c) => {
        c.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
        if (idle !== undefined) c.static_resources.listeners[0].listener_filters[0].typed_config.idle_timeout = idle;
      });
      const proxyPort = port(10000);
      upstreamPeers.length = 0;
      const proxy = await ProxyProcess.start(runtime, config);
      const clients: Client[] = [];
      try {
        const a = await client(proxyPort);
        clients.push(a);
        if (idle === undefined) {
          const b = await client(proxyPort);
          clients.push(b);
          a.send("a1");
          b.send("b1");
          await until(() => a.received.length === 1 && b.received.length === 1, "both replies");
          a.send("a2");
          await until(() => a.received.length === 2, "a's second reply");
          expect(a.received).toEqual(["ECHO a1", "ECHO a2"]);
          expect(b.received).toEqual(["ECHO b1"]);
          // Two sessions: two upstream sockets; a's two datagrams came from the same one.
          expect(new Set(upstreamPeers).size).toBe(2);
          const stats = await adminStats(adminPort);
          expect(stats.get("udp.service.downstream_sess_total")).toBe(2);
          expect(stats.get("udp.service.downstream_sess_active")).toBe(2);
          expect(stats.get("udp.service.downstream_sess_rx_datagrams")).toBe(3);
          expect(stats.get("udp.service.downstream_sess_tx_datagrams")).toBe(3);
          expect(stats.get("udp.service.downstream_sess_rx_bytes")).toBe(6);
          expect(stats.get("cluster.service_udp.udp.sess_tx_datagrams")).toBe(3);
          expect(stats.get("cluster.service_udp.udp.sess_rx_datagrams")).toBe(3);
          const listeners = await (await fetch(`http://127.0.0.1:${adminPort}/listeners`)).text();
          expect(listeners).toContain(`listener_0::127.0.0.1:${proxyPort}`);
        } else {
          a.send("one");
          await until(() => a.received.length === 1, "the first reply");
          await until(async () => (await adminStats(adminPort)).get("udp.service.idle_timeout") === 1, "the idle timeout");
          expect((await adminStats(adminPort)).get("udp.service.downstream_sess_active")).toBe(0);
          a.send("two");
          await until(() => a.received.length === 2, "the second reply");
          expect(a.received).toEqual(["ECHO one", "ECHO two"]);
          expect((await adminStats(adminPort)).get("udp.service.downstream_sess_total")).toBe(2);
          expect(new Set(upstreamPeers).size).toBe(2);
        }
      } finally {
        for (const c of clients) c.socket.close();
        await proxy.stop("SIGKILL");
      }
    });
  }
});
