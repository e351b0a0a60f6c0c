/**
 * The malformed-frame corpus (test/support/h2-malformed-corpus.ts) through real sockets,
 * the proxy on node, bun and deno: each case on a connection of its own, answered as Envoy
 * answers it (the GOAWAY code, the stream's RST_STREAM with the connection going on, or an
 * abortive close), and the proxy still serving after all of them, its active counts back
 * to zero. test/memory/http2-malformed.test.ts runs the same bytes on the memory runtime.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { corpusProxyConfig, exchange, goodExchange, H2, lowerStreamIdExchange, malformedCorpus, outcome, PING_AFTER, serverFrames, servedGood } from "../support/h2-malformed-corpus.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

async function stats(adminPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf(": ");
    if (at > 0) map.set(line.slice(0, at), Number(line.slice(at + 2)));
  }
  return map;
}

describe.each(RUNTIMES)("malformed HTTP/2 frames through real sockets on %s", (runtime) => {
  let hang: net.Server;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    // The upstream of /hang accepts and never answers.
    hang = net.createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    port = await freePort();
    adminPort = await freePort();
    const config = corpusProxyConfig(port, (hang.address() as AddressInfo).port) as Record<string, unknown>;
    config["admin"] = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    hang?.close();
  });

  test.each(malformedCorpus().map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    if ("rstStream" in c.expect) {
      // The connection goes on: wait for the ACK of the PING sent behind the case.
      const { received } = await exchange(port, new Uint8Array([...c.bytes, ...PING_AFTER]), 15_000, (r) => outcome(r).pingAck);
      const seen = outcome(received);
      expect(seen.rstStream).toBe(c.expect.rstStream);
      expect(seen.goAway).toBeUndefined();
      expect(seen.pingAck).toBe(true);
      return;
    }
    const { received, closed } = await exchange(port, c.bytes, 15_000);
    expect(closed).toBe(true);
    expect(outcome(received).goAway).toBe("goAway" in c.expect ? c.expect.goAway : undefined);
  });

  // Envoy's default codec, oghttp2 (OgHttp2Session::OnHeaders): a new stream id lower than
  // the highest opened is a connection error PROTOCOL_ERROR (nghttp2 ignored the block).
  test("HEADERS on a lower stream id than one opened: GOAWAY PROTOCOL_ERROR (oghttp2), stream 3 opened before it", async () => {
    const { received, closed } = await exchange(port, lowerStreamIdExchange(), 15_000);
    expect(closed).toBe(true);
    expect(outcome(received).goAway).toBe(H2.PROTOCOL_ERROR);
    const goAway = serverFrames(received).find((f) => f.type === 0x7)!;
    expect(goAway.payload[3]).toBe(3); // last stream id: 3
    expect(serverFrames(received).filter((f) => f.stream === 1 || f.stream === 5)).toEqual([]);
  });

  test("after the whole corpus the proxy still serves, nothing left active", async () => {
    const { received } = await exchange(port, goodExchange(), 15_000, (r) => servedGood(r));
    expect(servedGood(received)).toBe(true);
    await expect.poll(async () => (await stats(adminPort)).get("http.corpus.downstream_cx_active"), { timeout: 10_000 }).toBe(0);
    const s = await stats(adminPort);
    expect(s.get("http.corpus.downstream_rq_active")).toBe(0);
    expect(s.get("http.corpus.downstream_rq_too_many_premature_resets")).toBe(1);
    expect(s.get("http2.header_overflow")).toBe(1);
  });
});
