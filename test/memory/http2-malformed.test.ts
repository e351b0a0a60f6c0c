/**
 * The malformed-frame corpus (test/support/h2-malformed-corpus.ts) against a whole proxy on
 * the memory runtime: each case on a connection of its own, answered as Envoy answers it
 * (the GOAWAY code, the stream's RST_STREAM with the connection going on, or an abortive
 * close), the connection closed when it should be, nothing left active; and after all of
 * them the same proxy still serves. test/e2e/http2-malformed.test.ts sends the same bytes
 * through real sockets on node, bun and deno.
 */
import { beforeAll, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { corpusProxyConfig, goodExchange, malformedCorpus, outcome, PING_AFTER, servedGood } from "../support/h2-malformed-corpus.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const HANG = 8080;

let runtime: MemoryRuntime;
let server: Server;

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

/** Write `bytes` on a new connection; what came back, and whether the proxy closed it. */
function exchange(bytes: Uint8Array): { received: Uint8Array; closed: boolean } {
  const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
  const chunks: Uint8Array[] = [];
  let closed = false;
  socket.setHandler({
    onConnect() {},
    onData: (data: Uint8Array) => void chunks.push(data.slice()),
    onEnd: () => void (closed = true),
    onDrain() {},
    onClose: () => void (closed = true),
  });
  socket.write(bytes);
  runtime.advance(1000);
  const received = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    received.set(chunk, at);
    at += chunk.byteLength;
  }
  if (!closed) socket.close();
  runtime.advance(10);
  return { received, closed };
}

beforeAll(async () => {
  runtime = new MemoryRuntime({ seed: 3 });
  // The upstream of /hang accepts and never answers.
  await runtime.listen({ address: "127.0.0.1", port: HANG }, (socket) => socket.setHandler({ onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} }));
  server = await startProxy(runtime, corpusProxyConfig(PROXY, HANG));
});


describe("malformed HTTP/2 frames through the proxy (memory runtime)", () => {
  test.each(malformedCorpus().map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const streamLevel = "rstStream" in c.expect;
    const { received, closed } = exchange(streamLevel ? new Uint8Array([...c.bytes, ...PING_AFTER]) : c.bytes);
    const seen = outcome(received);
    if ("goAway" in c.expect) {
      expect(seen.goAway).toBe(c.expect.goAway);
      expect(closed).toBe(true);
    } else if ("rstStream" in c.expect) {
      expect(seen.rstStream).toBe(c.expect.rstStream);
      expect(seen.goAway).toBeUndefined();
      expect(seen.pingAck).toBe(true);
    } else {
      expect(seen.goAway).toBeUndefined();
      expect(closed).toBe(true);
    }
    expect(stat("http.corpus.downstream_rq_active")).toBe(0);
    expect(stat("http.corpus.downstream_cx_active")).toBe(0);
  });

  test("after the whole corpus the proxy still serves; the counters say what happened", () => {
    expect(servedGood(exchange(goodExchange()).received)).toBe(true);
    expect(stat("http.corpus.downstream_rq_too_many_premature_resets")).toBe(1);
    expect(stat("http2.header_overflow")).toBe(1);
    expect(stat("http2.inbound_empty_frames_flood")).toBe(1);
    expect(stat("http2.inbound_priority_frames_flood")).toBe(1);
  });
});
