/**
 * A route's max_grpc_timeout and grpc_timeout_offset (Envoy's FilterUtility::finalTimeout and
 * setTimeoutHeaders) on the memory runtime: a gRPC request's route timeout comes from its
 * grpc-timeout, capped; the upstream's grpc-timeout and x-envoy-expected-rq-timeout-ms say
 * the time it has; x-envoy-upstream-rq-timeout-ms still overrides; the timeout's local
 * reply is a gRPC one.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const GRPC = { "content-type": "application/grpc" };
const FROM_INTERNAL = { "x-forwarded-for": "10.1.2.3" };

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

/** The upstream never answers: what matters is what it was sent and when the proxy gives up. */
async function setup(): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, () => {});
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [
        { match: { prefix: "/capped" }, action: { route: { cluster: "backend", max_grpc_timeout: "10s", grpc_timeout_offset: "0.1s" } } },
        { match: { prefix: "/uncapped" }, action: { route: { cluster: "backend", max_grpc_timeout: "0s" } } },
        { match: { prefix: "/new-timeouts" }, action: { route: { cluster: "backend", max_grpc_timeout: "10s", max_stream_duration: { max_stream_duration: "60s" } } } },
        { match: { prefix: "/" }, action: { route: { cluster: "backend", timeout: "3s" } } },
      ],
    }),
  );
}

afterEach(() => upstream?.close());

/** Send one request; after `ms`, what the upstream got and whether (and what) the client was answered. */
function send(path: string, headers: Record<string, string>, ms: number): { sent: HttpMessage; answered: boolean; status?: number; grpcStatus?: string; grpcMessage?: string } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("POST", path, { headers, body: "\0\0\0\0\0" });
  runtime.advance(ms);
  const sent = upstream.requests[upstream.requests.length - 1]!;
  const response = client.responses[0];
  const result = { sent, answered: response !== undefined, status: response?.status, grpcStatus: response?.get("grpc-status"), grpcMessage: response?.get("grpc-message") };
  client.socket.close();
  runtime.advance(100_000);
  return result;
}

function header(message: HttpMessage, name: string): string | undefined {
  return message.headers.find(([n]) => n === name)?.[1];
}

describe("max_grpc_timeout and grpc_timeout_offset", () => {
  test("the grpc-timeout less the offset is the route timeout; the upstream is told it", async () => {
    await setup();
    const early = send("/capped/M", { ...GRPC, "grpc-timeout": "2S" }, 1_850);
    expect(early.answered).toBe(false);
    expect(header(early.sent, "grpc-timeout")).toBe("1900m");
    expect(header(early.sent, "x-envoy-expected-rq-timeout-ms")).toBe("1900");
    const late = send("/capped/M", { ...GRPC, "grpc-timeout": "2S" }, 1_950);
    expect(late).toMatchObject({ answered: true, status: 200, grpcStatus: "14", grpcMessage: "upstream request timeout" });
  });

  test("a grpc-timeout over the cap, or none, is the cap; an offset not below the timeout is not taken", async () => {
    await setup();
    expect(header(send("/capped/M", { ...GRPC, "grpc-timeout": "1M" }, 10).sent, "grpc-timeout")).toBe("10000m");
    expect(header(send("/capped/M", GRPC, 10).sent, "grpc-timeout")).toBe("10000m");
    expect(header(send("/capped/M", { ...GRPC, "grpc-timeout": "50m" }, 10).sent, "grpc-timeout")).toBe("50m");
  });

  test("max_grpc_timeout 0: no cap — without a grpc-timeout there is no timeout at all", async () => {
    await setup();
    const none = send("/uncapped/M", GRPC, 60_000);
    expect(none.answered).toBe(false);
    expect(header(none.sent, "x-envoy-expected-rq-timeout-ms")).toBeUndefined();
    expect(header(none.sent, "grpc-timeout")).toBeUndefined();
    expect(header(send("/uncapped/M", { ...GRPC, "grpc-timeout": "1H" }, 10).sent, "grpc-timeout")).toBe("3600000m");
  });

  test("x-envoy-upstream-rq-timeout-ms still overrides, and grpc-timeout follows it", async () => {
    await setup();
    const sent = send("/capped/M", { ...GRPC, ...FROM_INTERNAL, "grpc-timeout": "5S", "x-envoy-upstream-rq-timeout-ms": "700" }, 10).sent;
    expect(header(sent, "grpc-timeout")).toBe("700m");
    expect(header(sent, "x-envoy-upstream-rq-timeout-ms")).toBeUndefined();
  });

  test("not gRPC, or a route with max_stream_duration: the route's own timeout, grpc-timeout untouched", async () => {
    await setup();
    const plain = send("/capped/M", { "grpc-timeout": "2S" }, 10).sent;
    expect(header(plain, "grpc-timeout")).toBe("2S");
    expect(header(plain, "x-envoy-expected-rq-timeout-ms")).toBe("15000");
    // With max_stream_duration the stream's duration governs (stream-duration.ts sets grpc-timeout from it), not max_grpc_timeout's 10 s.
    expect(header(send("/new-timeouts/M", { ...GRPC, "grpc-timeout": "2S" }, 10).sent, "grpc-timeout")).toBe("60000m");
    expect(header(send("/other", { ...GRPC, "grpc-timeout": "2S" }, 10).sent, "x-envoy-expected-rq-timeout-ms")).toBe("3000");
  });
});
