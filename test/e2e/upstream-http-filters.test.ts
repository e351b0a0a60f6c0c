/**
 * A cluster's upstream HTTP filters (HttpProtocolOptions.http_filters ending with
 * envoy.filters.http.upstream_codec) on every runtime, over real sockets with real
 * upstreams: header_mutation adds a request header the origin sees and a response header
 * the client sees; a retry runs the chain again (each attempt's header says its number);
 * buffer hands the origin a chunked body whole, with its content-length; the bytes behind a
 * WebSocket upgrade head that buffer holds never reach the origin ahead of it (smuggling).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as http from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const overwrite = (key: string, value: string) => ({ append: { header: { key, value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } });
const MUTATION = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: {
      request_mutations: [overwrite("x-upstream-filter", "try %UPSTREAM_REQUEST_ATTEMPT_COUNT%")],
      response_mutations: [overwrite("x-upstream-filter-response", "seen")],
    },
  },
};
const BUFFER = { name: "envoy.filters.http.buffer", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes: 1024 } };

describe.each(RUNTIMES)("upstream HTTP filters on %s", (runtime) => {
  let bad: HttpUpstream;
  let good: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const agent = new Agent({ connections: 2 });

  beforeAll(async () => {
    bad = await httpUpstream((_req, res: http.ServerResponse) => {
      res.statusCode = 503;
      res.end("bad");
    });
    good = await httpUpstream((req, res: http.ServerResponse) => {
      res.setHeader("x-origin-saw", String(req.headers["x-upstream-filter"]));
      res.setHeader("x-origin-content-length", String(req.headers["content-length"]));
      res.end(`good ${req.body.toString()}`);
    });
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { mutated: [good.port], retried: [bad.port, good.port] },
      routes: [],
      virtualHosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            { match: { prefix: "/retry" }, route: { cluster: "retried", retry_policy: { retry_on: "5xx", num_retries: 1, retry_host_predicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }] } } },
            { match: { prefix: "/" }, route: { cluster: "mutated" } },
          ],
        },
      ],
      hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] },
      clusterExtra: {
        typed_extension_protocol_options: {
          [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: [MUTATION, BUFFER, CODEC] },
        },
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await Promise.all([bad, good].map((u) => u?.close()));
  });

  test("header_mutation upstream: the origin sees the request header, the client the response header", async () => {
    const res = await request(`http://127.0.0.1:${port}/plain`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("good ");
    expect(res.headers["x-origin-saw"]).toBe("try 1");
    expect(res.headers["x-upstream-filter-response"]).toBe("seen");
  });

  test("a retry runs the chain again: the second attempt's header says 2", async () => {
    const badBefore = bad.requests.length;
    const res = await request(`http://127.0.0.1:${port}/retry`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("good ");
    // Round robin may start on either host: a first try on the 503 host is retried on the good one.
    const retried = bad.requests.length - badBefore;
    expect(retried === 0 || retried === 1).toBe(true);
    if (retried === 1) expect(bad.requests.at(-1)!.headers["x-upstream-filter"]).toBe("try 1");
    expect(res.headers["x-origin-saw"]).toBe(`try ${retried + 1}`);
    expect(res.headers["x-upstream-filter-response"]).toBe("seen");
  });

  test("a retry, each time: over several requests both attempts were mutated", async () => {
    const saw: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://127.0.0.1:${port}/retry/${i}`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      saw.push(String(res.headers["x-origin-saw"]));
    }
    // Round robin over two hosts: at least one request went first to the 503 host.
    expect(saw).toContain("try 2");
    expect(bad.requests.every((r) => r.headers["x-upstream-filter"] === "try 1")).toBe(true);
  });

  test("buffer upstream: a chunked body reaches the origin whole, with its content-length", async () => {
    const res = await request(`http://127.0.0.1:${port}/post`, {
      dispatcher: agent,
      method: "POST",
      // Two chunks without a length: sent chunked.
      body: Readable.from([Buffer.from("hello "), Buffer.from("world")]),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("good hello world");
    expect(res.headers["x-origin-content-length"]).toBe("11");
  });

  test("buffer upstream holds an upgrade head: the bytes behind it never reach the origin as a request", async () => {
    const socket = connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n");
    // Before the fix the origin answered "GET /smuggled" within milliseconds.
    await new Promise((resolve) => setTimeout(resolve, 500));
    socket.destroy();
    expect(good.requests.map((r) => r.url)).not.toContain("/smuggled");
  });
});
