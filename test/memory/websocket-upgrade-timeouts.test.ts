/**
 * A WebSocket upgrade's route and per-try timeouts run while it waits for the origin's 101
 * (Envoy's UpstreamRequest::acceptHeadersFromRouter, runtime guard
 * websocket_enable_timeout_on_upgrade_response), and stop once it is accepted (the codec
 * filter's disableRouteTimeoutForWebsocketUpgrade / disablePerTryTimeoutForWebsocketUpgrade).
 * An HTTP/1.1 WebSocket's request never completes (its bytes after the head are the
 * tunnel's), so before this an origin that never answered kept the client waiting forever.
 * On the memory runtime: a raw client, a raw origin answering when (and what) it is told.
 */
import { afterEach, describe, expect, test, vi } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { UpstreamRequest } from "../../core/http/filters/upstream-request.ts";
import { startProxy } from "./support/proxy.ts";
import { MemoryH2Server } from "./support/h2-peers.ts";

const PROXY = 10000;
const ORIGIN = 8081;
const WS_HEAD = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n";
const ACCEPT = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const encode = (text: string) => new TextEncoder().encode(text);

let runtime: MemoryRuntime;
let server: Server;
let closers: { close(): void }[] = [];

afterEach(() => {
  for (const closer of closers) closer.close();
  closers = [];
});

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

interface Origin {
  received(): string;
  closed(): boolean;
  /** Write to the origin's (first) connection: its answer, then tunnel bytes. */
  send(text: string): void;
}

/** A raw origin that reads everything and answers only when told (send). */
async function silentOrigin(): Promise<Origin> {
  let received = "";
  let closed = false;
  let connection: { write(data: Uint8Array): void } | undefined;
  const listener = await runtime.listen({ address: "127.0.0.1", port: ORIGIN }, (socket) => {
    connection ??= socket;
    socket.setHandler({
      onConnect() {},
      onData: (data: Uint8Array) => void (received += new TextDecoder().decode(data)),
      onEnd: () => void (closed = true),
      onDrain() {},
      onClose: () => void (closed = true),
    });
  });
  closers.push(listener);
  return { received: () => received, closed: () => closed, send: (text) => connection!.write(encode(text)) };
}

/** `route`: the route action's fields besides the cluster (timeout, retry_policy). */
/** `clusterPort`: where the cluster points (a port nobody listens on for a failed connect). */
async function proxyWith(route: Record<string, unknown>, upgradeType = "websocket", clusterPort = ORIGIN): Promise<Origin> {
  runtime = new MemoryRuntime({ seed: 5 });
  const origin = await silentOrigin();
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [clusterPort] },
      routes: [{ match: upgradeType === "CONNECT" ? { connect_matcher: {} } : { prefix: "/" }, action: { route: { cluster: "backend", ...route } } }],
      hcm: {
        upgrade_configs: [{ upgrade_type: upgradeType }],
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: { "@type": FILE_LOG, path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" } } },
          },
        ],
      },
    }),
  );
  return origin;
}

function rawClient(): { write(text: string): void; answer: () => string; closed: () => boolean } {
  const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
  let answer = "";
  let closed = false;
  socket.setHandler({
    onConnect() {},
    onData: (data: Uint8Array) => void (answer += new TextDecoder().decode(data)),
    onEnd: () => void (closed = true),
    onDrain() {},
    onClose: () => void (closed = true),
  });
  closers.push({ close: () => socket.close() });
  return { write: (text) => socket.write(encode(text)), answer: () => answer, closed: () => closed };
}

describe("a WebSocket waiting for the origin's 101", () => {
  test("the route timeout (2 s) runs from the head: 504 'upstream request timeout', UT, upstream_rq_timeout; the held bytes never reach the origin", async () => {
    const origin = await proxyWith({ timeout: "2s" });
    const client = rawClient();
    client.write(WS_HEAD + "held frame");
    runtime.advance(1999);
    // Before the fix nothing ever came: the route timeout started only with a complete request.
    expect(client.answer()).toBe("");
    runtime.advance(1);
    const answer = client.answer();
    expect(answer).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(answer.endsWith("\r\n\r\nupstream request timeout")).toBe(true);
    runtime.advance(100);
    expect(client.closed()).toBe(true);
    expect(origin.closed()).toBe(true);
    expect(origin.received()).toMatch(/^GET \/ws HTTP\/1\.1\r\n/);
    expect(origin.received()).not.toContain("held frame");
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_504")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
    expect(stat("cluster.backend.upstream_cx_active")).toBe(0);
    // The file access log flushes each second.
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("504 UT upstream_response_timeout\n");
  });

  test("per_try_timeout (500 ms, under the route's 10 s) runs from the head too: 504, UT, upstream_rq_per_try_timeout", async () => {
    await proxyWith({ timeout: "10s", retry_policy: { per_try_timeout: "0.5s" } });
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(499);
    expect(client.answer()).toBe("");
    runtime.advance(1);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(client.answer().endsWith("\r\n\r\nupstream request timeout")).toBe(true);
    runtime.advance(100);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_504")).toBe(1);
    // The file access log flushes each second.
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("504 UT upstream_per_try_timeout\n");
  });

  test("a failed connect stops the attempt's per-try timers: 503 at once, and neither per-try timer runs later", async () => {
    // UpstreamRequest::onPoolFailure had no cleanup(): the timers a WebSocket attempt arms when
    // it starts stayed armed (holding the attempt, the router, the stream info) until they fired.
    const onTimer = vi.spyOn(UpstreamRequest.prototype, "onTimer");
    try {
      await proxyWith({ timeout: "60s", retry_policy: { per_try_timeout: "20s", per_try_idle_timeout: "15s" } }, "websocket", ORIGIN + 1);
      const client = rawClient();
      client.write(WS_HEAD);
      runtime.advance(100);
      expect(client.answer()).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
      expect(stat("cluster.backend.upstream_cx_connect_fail")).toBe(1);
      runtime.advance(25_000);
      expect(onTimer).not.toHaveBeenCalled();
      expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
      expect(stat("cluster.backend.upstream_rq_per_try_idle_timeout")).toBe(0);
    } finally {
      onTimer.mockRestore();
    }
  });

  test("per_try_idle_timeout (300 ms) too: the attempt made no progress while it waited", async () => {
    await proxyWith({ timeout: "10s", retry_policy: { per_try_idle_timeout: "0.3s" } });
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(299);
    expect(client.answer()).toBe("");
    runtime.advance(1);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    runtime.advance(100);
    expect(stat("cluster.backend.upstream_rq_per_try_idle_timeout")).toBe(1);
    // The file access log flushes each second.
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("504 UT upstream_per_try_idle_timeout\n");
  });

  test("a route timeout of 0s is none: the upgrade waits as long as the client does", async () => {
    const origin = await proxyWith({ timeout: "0s" });
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(120_000);
    expect(client.answer()).toBe("");
    // Still waiting, and still accepted when the answer comes.
    origin.send(ACCEPT);
    runtime.advance(10);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
  });

  test("accepted in time: no route, per-try or per-try idle timeout afterwards, the tunnel flows long past them", async () => {
    const origin = await proxyWith({ timeout: "2s", retry_policy: { per_try_timeout: "1.5s", per_try_idle_timeout: "1s" } });
    const client = rawClient();
    client.write(WS_HEAD + "early");
    runtime.advance(900);
    origin.send(ACCEPT);
    runtime.advance(10);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(origin.received().endsWith("\r\n\r\nearly")).toBe(true);
    // Quiet for 30 s, longer than every one of them: nothing fires.
    runtime.advance(30_000);
    client.write("late");
    origin.send("pong");
    runtime.advance(10);
    expect(origin.received().endsWith("earlylate")).toBe(true);
    expect(client.answer().endsWith("\r\n\r\npong")).toBe(true);
    expect(client.closed()).toBe(false);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_per_try_timeout")).toBe(0);
    expect(stat("cluster.backend.upstream_rq_per_try_idle_timeout")).toBe(0);
  });

  test("refused with a 4xx whose body is slow: the route timeout still bounds the response (it stops only on acceptance)", async () => {
    const origin = await proxyWith({ timeout: "2s" });
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(500);
    origin.send("HTTP/1.1 403 Forbidden\r\ncontent-length: 10\r\n\r\nno");
    runtime.advance(10);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    runtime.advance(1500);
    // The response had started: the stream is reset (the client's connection cut), as any late timeout.
    expect(client.closed()).toBe(true);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(1);
    expect(stat("cluster.backend.upstream_rq_504")).toBe(0);
  });

  test("a proxied CONNECT (not a WebSocket) does not start them early, as in Envoy: it waits for its 2xx", async () => {
    const origin = await proxyWith({ timeout: "2s" }, "CONNECT");
    const client = rawClient();
    client.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    runtime.advance(60_000);
    expect(client.answer()).toBe("");
    expect(origin.received()).toMatch(/^CONNECT example\.com:443 HTTP\/1\.1\r\n/);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
  });
});

describe("an HTTP/1.1 client's WebSocket to an HTTP/2 origin (an extended CONNECT upstream)", () => {
  const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

  async function h2Proxy(): Promise<MemoryH2Server> {
    runtime = new MemoryRuntime({ seed: 6 });
    const h2 = await MemoryH2Server.listen(runtime, ORIGIN, { allowConnect: true });
    closers.push(h2);
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [ORIGIN] },
        routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", timeout: "2s" } } }],
        hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] },
        clusterExtra: {
          typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: { allow_connect: true } } } },
        },
      }),
    );
    return h2;
  }

  test("unanswered, the route timeout answers 504 as to an HTTP/1.1 origin", async () => {
    const h2 = await h2Proxy();
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(1999);
    expect(h2.exchanges).toHaveLength(1);
    expect(client.answer()).toBe("");
    runtime.advance(1);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    runtime.advance(10);
    // Its stream is reset.
    expect(h2.exchanges[0]!.reset).toBeDefined();
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(1);
  });

  test("answered 200: a 101 to the client with no Sec-WebSocket-Accept made up (the client's key went as a field, as Envoy's); no route timeout after", async () => {
    const h2 = await h2Proxy();
    const client = rawClient();
    client.write(WS_HEAD);
    runtime.advance(500);
    const exchange = h2.exchanges[0]!;
    expect([exchange.header(":method"), exchange.header(":protocol"), exchange.header("sec-websocket-key")]).toEqual(["CONNECT", "websocket", "abc"]);
    exchange.stream.sendHeaders([":status", "200"], false);
    runtime.advance(10);
    const answer = client.answer();
    expect(answer).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(answer.toLowerCase()).not.toContain("sec-websocket-accept");
    runtime.advance(30_000);
    exchange.stream.sendData(encode("pong"), false);
    runtime.advance(10);
    expect(client.answer().endsWith("\r\n\r\npong")).toBe(true);
    expect(stat("cluster.backend.upstream_rq_timeout")).toBe(0);
  });
});
