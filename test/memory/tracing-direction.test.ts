/**
 * The listener's traffic_direction as Envoy's HCM tracing reads it (its operation name:
 * OUTBOUND is egress, else ingress; ActiveStream::traceRequest and encodeHeaders), on the
 * memory runtime: which way the route's decorator operation travels.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { activeDownstreamConnections, startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

async function setup(direction: string | undefined): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  // The service names its own operation in the response.
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_request, response) => response.respond(200, "ok", { "x-envoy-decorator-operation": "service-op" }));
  server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [UPSTREAM] },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, decorator: { operation: "front-door" } } }],
      hcm: { tracing: {} },
      ...(direction ? { listenerExtra: { traffic_direction: direction } } : {}),
    }),
  );
}

function exchange(headers: Record<string, string> = {}): { sent: string | undefined; returned: string | undefined } {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", "/", { headers });
  runtime.runDue();
  const response = client.responses[0]!;
  const request = upstream.requests.at(-1)!;
  const result = { sent: request.get("x-envoy-decorator-operation"), returned: response.get("x-envoy-decorator-operation") };
  client.socket.close();
  runtime.runUntilIdle();
  return result;
}

afterEach(() => {
  runtime.runUntilIdle();
  expect(activeDownstreamConnections(server)).toBe(0);
  upstream?.close();
});

describe("traffic_direction and the decorator operation", () => {
  test.each([undefined, "UNSPECIFIED", "INBOUND"])("%s (ingress): the operation comes back in the response, the caller's stops here", async (direction) => {
    await setup(direction);
    expect(exchange()).toEqual({ sent: undefined, returned: "front-door" });
    // A caller naming its own operation: the header stops here, and no decorator is added
    // (the service's own header passes, as in Envoy).
    expect(exchange({ "x-envoy-decorator-operation": "mine" })).toEqual({ sent: undefined, returned: "service-op" });
  });

  test("OUTBOUND (egress): the operation goes upstream in the request; the service's is removed from the response", async () => {
    await setup("OUTBOUND");
    expect(exchange()).toEqual({ sent: "front-door", returned: undefined });
  });
});
