/**
 * A cluster's upstream HTTP filters (HttpProtocolOptions.http_filters, run by
 * core/http/filters/upstream-filter-manager.ts) through a whole proxy on the memory runtime:
 * header_mutation's request mutations reach the origin and its response mutations the
 * client, on HTTP/1 and HTTP/2 upstreams; each retry runs the chain again (Envoy's
 * UpstreamRequest builds its filter manager per attempt); buffer's limit answers 413.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryH2Server } from "./support/h2-peers.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import { activeDownstreamConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const PORTS = [8081, 8082];
const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const add = (key: string, value: string) => ({ append: { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } });
const MUTATION = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: {
      // The attempt's number, rendered as each attempt's chain runs.
      request_mutations: [add("x-upstream-filter", "try %UPSTREAM_REQUEST_ATTEMPT_COUNT%")],
      response_mutations: [add("x-upstream-filter-response", "seen")],
    },
  },
};
const BUFFER = { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 8 } };

let runtime: MemoryRuntime;
let server: Server;
let upstreams: { close(): void }[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

function clusterOptions(filters: unknown[], http2 = false): Record<string, unknown> {
  return {
    typed_extension_protocol_options: {
      [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} }, http_filters: filters },
    },
  };
}

async function proxy(handlers: UpstreamHandler[], filters: unknown[], route: Record<string, unknown> = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 8 });
  for (let i = 0; i < handlers.length; i++) upstreams.push(await MemoryHttpServer.listen(runtime, PORTS[i]!, handlers[i]!));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: PORTS.slice(0, handlers.length) },
    routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", ...route } } }],
    clusterExtra: clusterOptions(filters),
  });
  server = await startProxy(runtime, config);
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

const seen: string[][] = [];
const recording =
  (status: number): UpstreamHandler =>
  (req, res) => {
    seen.push([String(req.get("x-upstream-filter")), req.text()]);
    res.respond(status, status === 200 ? "ok" : "busy");
  };

describe("a cluster's upstream HTTP filters", () => {
  test("header_mutation on an HTTP/1 upstream: the origin gets its request header, the client its response header", async () => {
    seen.length = 0;
    await proxy([recording(200)], [MUTATION, CODEC]);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "hello" });
    runtime.advance(1000);
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.text()).toBe("ok");
    expect(response.get("x-upstream-filter-response")).toBe("seen");
    expect(seen).toEqual([["try 1", "hello"]]);
    // The filtered exchange left the connection reusable: the next request goes on it.
    client.request("GET", "/again");
    runtime.advance(1000);
    expect(client.responses[1]!.get("x-upstream-filter-response")).toBe("seen");
    expect(seen).toEqual([["try 1", "hello"], ["try 1", ""]]);
    expect(stat("cluster.backend.upstream_cx_total")).toBe(1);
    expect(resourceCounters(server, "backend")).toEqual({ connections: 1, pendingRequests: 0, requests: 0 });
    client.socket.close();
    runtime.advance(1000);
    expect(activeDownstreamConnections(server)).toBe(0);
  });

  test("a retry runs the chain again: each attempt's request mutated, the final response mutated", async () => {
    seen.length = 0;
    await proxy([recording(503), recording(200)], [MUTATION, CODEC], { retry_policy: { retry_on: "5xx", num_retries: 1 } });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-upstream-filter-response")).toBe("seen");
    expect(seen.map(([header]) => header)).toEqual(["try 1", "try 2"]);
    expect(stat("cluster.backend.upstream_rq_retry")).toBe(1);
  });

  test("a cluster without http_filters: the origin sees no mutation", async () => {
    seen.length = 0;
    await proxy([recording(200)], [CODEC]);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runUntilIdle();
    expect(client.responses[0]!.get("x-upstream-filter-response")).toBeUndefined();
    expect(seen).toEqual([["undefined", ""]]);
  });

  test("buffer upstream: a chunked body reaches the origin whole with its content-length; one over max_request_bytes is a 413", async () => {
    const lengths: (string | undefined)[] = [];
    await proxy(
      [
        (req, res) => {
          lengths.push(req.get("content-length"));
          res.respond(200, req.text());
        },
      ],
      [BUFFER, CODEC],
    );
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "abcdef", chunked: true });
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    expect(client.responses[0]!.text()).toBe("abcdef");
    expect(lengths).toEqual(["6"]);
    const big = new MemoryHttpClient(runtime, PROXY);
    big.request("POST", "/", { body: "0123456789abcdef", chunked: true });
    runtime.runUntilIdle();
    expect(big.responses[0]!.status).toBe(413);
    expect(big.responses[0]!.text()).toBe("Payload Too Large");
    expect(lengths).toEqual(["6"]);
    // The abandoned attempt's stream was reset: nothing of it is left in the cluster's counts.
    expect(resourceCounters(server, "backend")).toMatchObject({ pendingRequests: 0, requests: 0 });
    expect(stat("cluster.backend.upstream_rq_active")).toBe(0);
  });

  test("header_mutation on an HTTP/2 upstream", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const h2 = await MemoryH2Server.listen(runtime, PORTS[0]!, {});
    upstreams.push(h2);
    h2.onRequest = (ex) => ex.respond(200, "h2 ok");
    server = await startProxy(
      runtime,
      httpProxyConfig({ listenPort: PROXY, clusters: { backend: [PORTS[0]!] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: clusterOptions([MUTATION, CODEC], true) }),
    );
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.advance(1000);
    expect(h2.exchanges[0]!.header("x-upstream-filter")).toBe("try 1");
    expect(client.responses[0]!.status).toBe(200);
    expect(client.responses[0]!.text()).toBe("h2 ok");
    expect(client.responses[0]!.get("x-upstream-filter-response")).toBe("seen");
  });

  describe("upgrade bytes wait for the request head (no request smuggling)", () => {
    const WS_HEAD = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /** A raw origin: every byte it reads, in order; on the first head it answers 101 and a frame, if told to. */
    async function rawOrigin(accept: boolean): Promise<{ received: () => string }> {
      let received = "";
      const listener = await runtime.listen({ address: "127.0.0.1", port: PORTS[0]! }, (socket) => {
        let answered = false;
        socket.setHandler({
          onConnect() {},
          onData(data: Uint8Array) {
            received += new TextDecoder().decode(data);
            if (accept && !answered && received.includes("\r\n\r\n")) {
              answered = true;
              socket.write(new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nfrom origin"));
            }
          },
          onEnd() {},
          onDrain() {},
          onClose() {},
        });
      });
      upstreams.push(listener);
      return { received: () => received };
    }

    async function upgradeProxy(filters: unknown[], accept: boolean, listenerExtra?: Record<string, unknown>): Promise<{ received: () => string }> {
      runtime = new MemoryRuntime({ seed: 8 });
      const origin = await rawOrigin(accept);
      server = await startProxy(
        runtime,
        httpProxyConfig({
          listenPort: PROXY,
          clusters: { backend: [PORTS[0]!] },
          routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", upgrade_configs: [{ upgrade_type: "websocket" }] } } }],
          clusterExtra: clusterOptions(filters),
          listenerExtra,
        }),
      );
      return origin;
    }

    test("buffer holds the upgrade head: the bytes behind it never reach the origin ahead of it", async () => {
      const origin = await upgradeProxy([BUFFER, CODEC], false);
      const client = new MemoryHttpClient(runtime, PROXY);
      client.send(WS_HEAD + "GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n");
      runtime.advance(100);
      // The head is held by the buffer filter (an upgrade has no body to end it); so are the
      // bytes behind it. Before the fix they went straight to the connection: the origin read
      // "GET /smuggled" as a request.
      expect(origin.received()).not.toContain("/smuggled");
      expect(origin.received()).toBe("");
      // Held, not dropped: the stream is still waiting.
      expect(client.responses).toEqual([]);
      expect(stat("cluster.backend.upstream_rq_active")).toBe(1);
    });

    test("held upgrade bytes past the connection's buffer limit pause the client (Envoy's watermark), not the stream; the origin still sees nothing", async () => {
      const origin = await upgradeProxy([BUFFER, CODEC], false, { per_connection_buffer_limit_bytes: 1024 });
      const client = new MemoryHttpClient(runtime, PROXY);
      client.send(WS_HEAD);
      runtime.advance(100);
      client.send("x".repeat(600));
      runtime.advance(100);
      expect(stat("cluster.backend.upstream_rq_active")).toBe(1);
      client.send("GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n" + "y".repeat(600));
      runtime.advance(100);
      expect(origin.received()).toBe("");
      // Envoy's codec filter stops with StopAllIterationAndWatermark: past the buffer limit the
      // client's reads pause (onDecoderFilterAboveWriteBufferHighWatermark); the stream goes on.
      expect(stat("cluster.backend.upstream_rq_active")).toBe(1);
      expect(client.responses).toEqual([]);
      expect(client.closed).toBe(false);
    });

    test("a WebSocket through a cluster with header_mutation: the head (with the proxy's headers and the filter's header) goes first, then bytes both ways", async () => {
      const origin = await upgradeProxy([MUTATION, CODEC], true);
      const socket = runtime.connect({ address: "127.0.0.1", port: PROXY });
      let answer = "";
      socket.setHandler({ onConnect() {}, onData: (data: Uint8Array) => void (answer += new TextDecoder().decode(data)), onEnd() {}, onDrain() {}, onClose() {} });
      socket.write(new TextEncoder().encode(WS_HEAD + "early"));
      runtime.advance(100);
      const received = origin.received();
      expect(received.startsWith("GET /ws HTTP/1.1\r\n")).toBe(true);
      const head = received.slice(0, received.indexOf("\r\n\r\n") + 4).toLowerCase();
      expect(head).toContain("x-forwarded-proto: http\r\n");
      expect(head).toContain("x-request-id: ");
      expect(head).toContain("x-upstream-filter: try 1\r\n");
      expect(head).toContain("upgrade: websocket\r\n");
      expect(received.slice(head.length)).toBe("early");
      socket.write(new TextEncoder().encode(" and more"));
      runtime.advance(100);
      expect(origin.received().slice(head.length)).toBe("early and more");
      expect(answer).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(answer.endsWith("\r\n\r\nfrom origin")).toBe(true);
    });
  });
});
