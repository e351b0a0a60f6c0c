/** The envoy.filters.http.fault filter (core/http/filters/fault.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const fault = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.fault", typed_config: { "@type": TYPE, ...fields } });
const STATS = "http.ingress_http.fault.";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

describe("fault filter", () => {
  test("abort at 100 %: Envoy's local reply, flag FI, aborts_injected; the upstream never sees the request", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 503, percentage: { numerator: 100 } } })]);
    const response = await proxy.request("GET", "/");
    expect(response.status).toBe(503);
    expect(response.text()).toBe("fault filter abort");
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter(STATS + "aborts_injected")).toBe(1);
    expect(proxy.counter(STATS + "active_faults")).toBe(0);
  });

  test("abort grpc_status: a gRPC request gets that grpc-status (HTTP 200); another request Envoy's HTTP 200 'fault filter abort'", async () => {
    proxy = await filterProxy([fault({ abort: { grpc_status: 8, percentage: { numerator: 100 } } })]);
    const grpc = await proxy.request("POST", "/pkg.Svc/M", { headers: { "content-type": "application/grpc" }, body: "" });
    expect(grpc.status).toBe(200);
    expect(grpc.get("grpc-status")).toBe("8");
    expect(grpc.get("grpc-message")).toBe("fault filter abort");
    const plain = await proxy.request("GET", "/");
    expect(plain.status).toBe(200);
    expect(plain.text()).toBe("fault filter abort");
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter(STATS + "aborts_injected")).toBe(2);
  });

  test("header_abort: x-envoy-fault-abort-request wins over x-envoy-fault-abort-grpc-request", async () => {
    proxy = await filterProxy([fault({ abort: { header_abort: {}, percentage: { numerator: 100 } } })]);
    const grpcHeaders = { "content-type": "application/grpc", "x-envoy-fault-abort-grpc-request": "14" };
    expect((await proxy.request("POST", "/pkg.Svc/M", { headers: grpcHeaders, body: "" })).get("grpc-status")).toBe("14");
    // The HTTP status is mapped for the gRPC reply: 403 → PERMISSION_DENIED.
    expect((await proxy.request("POST", "/pkg.Svc/M", { headers: { ...grpcHeaders, "x-envoy-fault-abort-request": "403" }, body: "" })).get("grpc-status")).toBe("7");
  });

  test("an unset percentage is 0 %: nothing injected", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 503 }, delay: { fixed_delay: "1s" } })]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect(proxy.counter(STATS + "aborts_injected")).toBe(0);
  });

  test("abort percentage draws from the runtime's random()", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 500, percentage: { numerator: 30 } } })]);
    let aborted = 0;
    for (let i = 0; i < 200; i++) if ((await proxy.request("GET", "/")).status === 500) aborted++;
    expect(aborted).toBeGreaterThan(30);
    expect(aborted).toBeLessThan(90);
    expect(proxy.counter(STATS + "aborts_injected")).toBe(aborted);
  });

  test("fixed_delay holds the request (body too) for its duration, counts delays_injected and active_faults, then forwards it", async () => {
    proxy = await filterProxy([fault({ delay: { fixed_delay: "2s", percentage: { numerator: 100 } } })]);
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("POST", "/", { body: "hello" });
    await proxy.runtime.settle(1999);
    expect(client.responses).toHaveLength(0);
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter(STATS + "active_faults")).toBe(1);
    await proxy.runtime.settle(1);
    expect(client.responses[0]?.status).toBe(200);
    expect(proxy.upstreamRequests[0]?.body).toBe("hello");
    expect(proxy.counter(STATS + "delays_injected")).toBe(1);
    expect(proxy.counter(STATS + "active_faults")).toBe(0);
  });

  test("a client gone during the delay: the timer is cancelled, active_faults back to 0, nothing forwarded", async () => {
    proxy = await filterProxy([fault({ delay: { fixed_delay: "1s", percentage: { numerator: 100 } } })]);
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy.runtime.settle(100);
    expect(proxy.counter(STATS + "active_faults")).toBe(1);
    client.socket.close();
    await proxy.runtime.settle(2000);
    expect(proxy.counter(STATS + "active_faults")).toBe(0);
    expect(proxy.upstreamRequests).toHaveLength(0);
  });

  test("delay then abort: the abort comes when the delay is over", async () => {
    proxy = await filterProxy([fault({ delay: { fixed_delay: "0.5s", percentage: { numerator: 100 } }, abort: { http_status: 418, percentage: { numerator: 100 } } })]);
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy.runtime.settle(499);
    expect(client.responses).toHaveLength(0);
    await proxy.runtime.settle(1);
    expect(client.responses[0]?.status).toBe(418);
  });

  test("header_abort and header_delay: the request's headers choose, within the configured percentage", async () => {
    proxy = await filterProxy([fault({ abort: { header_abort: {}, percentage: { numerator: 100 } }, delay: { header_delay: {}, percentage: { numerator: 100 } } })]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-fault-abort-request": "429" } })).status).toBe(429);
    // Out of [200, 600) or not a number: no abort.
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-fault-abort-request": "700" } })).status).toBe(200);
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-fault-abort-request": "abc" } })).status).toBe(200);
    // The percentage header lowers the configured percentage: 0 → never.
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-fault-abort-request": "429", "x-envoy-fault-abort-request-percentage": "0" } })).status).toBe(200);
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/", { headers: { "x-envoy-fault-delay-request": "300" } });
    await proxy.runtime.settle(299);
    expect(client.responses).toHaveLength(0);
    await proxy.runtime.settle(1);
    expect(client.responses[0]?.status).toBe(200);
  });

  test("max_active_faults: a fault over the limit is not injected and counts faults_overflow", async () => {
    proxy = await filterProxy([fault({ delay: { fixed_delay: "1s", percentage: { numerator: 100 } }, max_active_faults: 1 })]);
    const first = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    first.request("GET", "/");
    await proxy.runtime.settle(10);
    const second = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    second.request("GET", "/");
    await proxy.runtime.settle(10);
    expect(second.responses[0]?.status).toBe(200);
    expect(first.responses).toHaveLength(0);
    expect(proxy.counter(STATS + "faults_overflow")).toBe(1);
    await proxy.runtime.settle(1000);
    expect(first.responses[0]?.status).toBe(200);
  });

  test("headers, downstream_nodes and upstream_cluster select the requests; x-envoy-downstream-service-cluster gets its own stats", async () => {
    proxy = await filterProxy([
      fault({
        abort: { http_status: 503, percentage: { numerator: 100 } },
        headers: [{ name: "x-fault", present_match: true }],
        downstream_nodes: ["node-a"],
        upstream_cluster: "backend",
      }),
    ]);
    expect((await proxy.request("GET", "/", { headers: { "x-envoy-downstream-service-node": "node-a" } })).status).toBe(200);
    expect((await proxy.request("GET", "/", { headers: { "x-fault": "1", "x-envoy-downstream-service-node": "node-b" } })).status).toBe(200);
    const headers = { "x-fault": "1", "x-envoy-downstream-service-node": "node-a", "x-envoy-downstream-service-cluster": "front" };
    expect((await proxy.request("GET", "/", { headers })).status).toBe(503);
    expect(proxy.counter(STATS + "front.aborts_injected")).toBe(1);
    proxy.close();
    proxy = await filterProxy([fault({ abort: { http_status: 503, percentage: { numerator: 100 } }, upstream_cluster: "other" })]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
  });

  test("a route's typed_per_filter_config replaces the filter's settings", async () => {
    proxy = await filterProxy([fault({ abort: { http_status: 503, percentage: { numerator: 100 } } })], {
      routes: [
        {
          match: { prefix: "/calm" },
          action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.fault": { "@type": TYPE } } },
        },
        {
          match: { prefix: "/teapot" },
          action: {
            route: { cluster: "backend" },
            typed_per_filter_config: { "envoy.filters.http.fault": { "@type": TYPE, abort: { http_status: 418, percentage: { numerator: 100 } } } },
          },
        },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await proxy.request("GET", "/calm")).status).toBe(200);
    expect((await proxy.request("GET", "/teapot")).status).toBe(418);
    expect((await proxy.request("GET", "/other")).status).toBe(503);
  });
});
