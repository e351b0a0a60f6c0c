/** The envoy.filters.http.buffer filter (core/http/filters/buffer.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";
const buffer = (max: number) => ({ name: "envoy.filters.http.buffer", typed_config: { "@type": TYPE, max_request_bytes: max } });

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const header = (headers: [string, string][], name: string) => headers.find(([n]) => n === name)?.[1];

describe("buffer filter", () => {
  test("a body over max_request_bytes: 413 Payload Too Large, never forwarded", async () => {
    proxy = await filterProxy([buffer(10)]);
    const response = await proxy.request("POST", "/", { body: "x".repeat(11) });
    expect(response.status).toBe(413);
    expect(response.text()).toBe("Payload Too Large");
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter("http.ingress_http.downstream_rq_too_large")).toBe(1);
  });

  test("a chunked body is held until complete, then forwarded whole with its content-length", async () => {
    proxy = await filterProxy([buffer(100)]);
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.send("POST / HTTP/1.1\r\nhost: example.com\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await proxy.runtime.settle();
    expect(proxy.upstreamRequests).toHaveLength(0);
    client.send("6\r\n world\r\n0\r\n\r\n");
    await proxy.runtime.settle();
    expect(proxy.upstreamRequests).toHaveLength(1);
    expect(proxy.upstreamRequests[0]!.body).toBe("hello world");
    expect(header(proxy.upstreamRequests[0]!.headers, "content-length")).toBe("11");
    expect(header(proxy.upstreamRequests[0]!.headers, "transfer-encoding")).toBeUndefined();
  });

  test("the limit replaces the listener's buffer limit (1 MiB by default): a bigger body within it passes", async () => {
    proxy = await filterProxy([buffer(2 * 1024 * 1024)]);
    const response = await proxy.request("POST", "/", { body: "y".repeat(1536 * 1024) });
    expect(response.status).toBe(200);
    expect(proxy.upstreamRequests[0]!.body.length).toBe(1536 * 1024);
  });

  test("BufferPerRoute: disabled on one route, another limit on another", async () => {
    proxy = await filterProxy([buffer(10)], {
      routes: [
        { match: { prefix: "/off" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": PER_ROUTE, disabled: true } } } },
        {
          match: { prefix: "/big" },
          action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.buffer": { "@type": PER_ROUTE, buffer: { max_request_bytes: 100 } } } },
        },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await proxy.request("POST", "/off", { body: "z".repeat(50) })).status).toBe(200);
    expect((await proxy.request("POST", "/big", { body: "z".repeat(50) })).status).toBe(200);
    expect((await proxy.request("POST", "/big", { body: "z".repeat(101) })).status).toBe(413);
    expect((await proxy.request("POST", "/other", { body: "z".repeat(50) })).status).toBe(413);
  });
});
