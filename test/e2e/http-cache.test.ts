/**
 * The cache HTTP filter (envoy.filters.http.cache with SimpleHttpCacheConfig) against the
 * real proxy on every runtime, with a node:http upstream that counts the requests it gets:
 * what is served from the cache (with `age`) never reaches it again.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const CACHE = "type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig";
const SIMPLE = "type.googleapis.com/envoy.extensions.http.cache.simple_http_cache.v3.SimpleHttpCacheConfig";
const MAX_BODY_BYTES = 4096;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { host: "cache.test", ...options.headers }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

describe.each(RUNTIMES)("the HTTP cache on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  /** Requests the upstream got for `path` (its query included). */
  const hits = (path: string) => upstream.requests.filter((r) => r.url === path).length;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
      const path = req.url.split("?")[0]!;
      switch (path) {
        case "/cacheable":
          res.setHeader("cache-control", "public, max-age=600");
          return void res.end(`cacheable ${hits(req.url)}`);
        case "/private":
          res.setHeader("cache-control", "private, max-age=600");
          return void res.end(`private ${hits(req.url)}`);
        case "/no-store":
          res.setHeader("cache-control", "no-store");
          return void res.end(`no-store ${hits(req.url)}`);
        case "/stale":
          // Already older than its lifetime: every use is validated.
          res.setHeader("cache-control", "max-age=1");
          res.setHeader("age", "100");
          res.setHeader("etag", '"v1"');
          if (req.headers["if-none-match"] === '"v1"') {
            res.setHeader("x-validated", String(hits(req.url)));
            res.statusCode = 304;
            return void res.end();
          }
          return void res.end("the stored body");
        case "/vary-allowed":
          res.setHeader("cache-control", "max-age=600");
          res.setHeader("vary", "x-variant");
          return void res.end(`variant ${req.headers["x-variant"] ?? "none"} ${hits(req.url)}`);
        case "/vary-other":
          res.setHeader("cache-control", "max-age=600");
          res.setHeader("vary", "user-agent");
          return void res.end(`vary-other ${hits(req.url)}`);
        case "/big":
          res.setHeader("cache-control", "max-age=600");
          return void res.end("x".repeat(MAX_BODY_BYTES * 4));
        default:
          res.setHeader("cache-control", "max-age=600");
          return void res.end(`${path} ${hits(req.url)}`);
      }
    });
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [upstream.port] },
      routes: [{ match: { prefix: "/" }, cluster: "up" }],
      hcm: {
        http_filters: [
          { name: "envoy.filters.http.cache", typed_config: { "@type": CACHE, typed_config: { "@type": SIMPLE }, allowed_vary_headers: [{ exact: "x-variant" }], max_body_bytes: MAX_BODY_BYTES } },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test("a cacheable response reaches the upstream once, then is served from the cache with age", async () => {
    const first = await send(port, "/cacheable");
    expect([first.status, first.body, first.headers.age]).toEqual([200, "cacheable 1", undefined]);
    const second = await send(port, "/cacheable");
    expect([second.status, second.body, second.headers["cache-control"]]).toEqual([200, "cacheable 1", "public, max-age=600"]);
    expect(Number(second.headers.age)).toBeGreaterThanOrEqual(0);
    expect(hits("/cacheable")).toBe(1);
    // Another query is another key.
    expect((await send(port, "/cacheable?b=1")).body).toBe("cacheable 1");
    expect(hits("/cacheable?b=1")).toBe(1);
  });

  test("private and no-store responses are not stored", async () => {
    expect((await send(port, "/private")).body).toBe("private 1");
    expect((await send(port, "/private")).body).toBe("private 2");
    expect((await send(port, "/no-store")).body).toBe("no-store 1");
    expect((await send(port, "/no-store")).body).toBe("no-store 2");
  });

  test("a request's no-store is not stored; its no-cache revalidates; an authorized request passes by", async () => {
    expect((await send(port, "/req-no-store", { headers: { "cache-control": "no-store" } })).body).toBe("/req-no-store 1");
    expect((await send(port, "/req-no-store")).body).toBe("/req-no-store 2");
    expect((await send(port, "/req-no-store")).body).toBe("/req-no-store 2");
    // no-cache: validated upstream (without validators the upstream answers in full, and that is stored).
    expect((await send(port, "/req-no-store", { headers: { "cache-control": "no-cache" } })).body).toBe("/req-no-store 3");
    expect((await send(port, "/req-no-store", { headers: { authorization: "Bearer x" } })).body).toBe("/req-no-store 4");
    expect((await send(port, "/req-no-store")).body).toBe("/req-no-store 3");
  });

  test("a stale entry is validated with if-none-match, and the 304 is answered with the stored 200", async () => {
    const first = await send(port, "/stale");
    expect([first.status, first.body]).toEqual([200, "the stored body"]);
    const second = await send(port, "/stale");
    expect([second.status, second.body, second.headers.etag, second.headers["x-validated"], second.headers.age]).toEqual([200, "the stored body", '"v1"', "2", undefined]);
    const validation = upstream.requests.filter((r) => r.url === "/stale")[1]!;
    expect(validation.headers["if-none-match"]).toBe('"v1"');
    // The 304's fields were merged into the entry: the next validation's answer shows its own.
    const third = await send(port, "/stale", { method: "HEAD" });
    expect([third.status, third.body, third.headers["x-validated"], third.headers["content-length"]]).toEqual([200, "", "3", "15"]);
  });

  test("vary on an allowed header keys each variant apart; vary on another header is not stored", async () => {
    expect((await send(port, "/vary-allowed", { headers: { "x-variant": "a" } })).body).toBe("variant a 1");
    expect((await send(port, "/vary-allowed", { headers: { "x-variant": "b" } })).body).toBe("variant b 2");
    expect((await send(port, "/vary-allowed", { headers: { "x-variant": "a" } })).body).toBe("variant a 1");
    expect((await send(port, "/vary-allowed", { headers: { "x-variant": "b" } })).body).toBe("variant b 2");
    expect(hits("/vary-allowed")).toBe(2);
    expect((await send(port, "/vary-other")).body).toBe("vary-other 1");
    expect((await send(port, "/vary-other")).body).toBe("vary-other 2");
  });

  test("HEAD is served from a stored GET, headers only; a HEAD's own response is not stored", async () => {
    const head = await send(port, "/head", { method: "HEAD" });
    expect([head.status, head.body]).toEqual([200, ""]);
    expect((await send(port, "/head")).body).toBe("/head 2");
    const again = await send(port, "/head", { method: "HEAD" });
    expect([again.status, again.body, again.headers["content-length"], again.headers.age !== undefined]).toEqual([200, "", "7", true]);
    expect(hits("/head")).toBe(2);
  });

  test("a range is cut from a stored 200 (206, or 416 past its end); a range request that misses goes upstream and is not stored", async () => {
    expect((await send(port, "/range", { headers: { range: "bytes=0-2" } })).body).toBe("/range 1");
    expect((await send(port, "/range")).body).toBe("/range 2");
    const part = await send(port, "/range", { headers: { range: "bytes=1-3" } });
    expect([part.status, part.body, part.headers["content-range"], part.headers["content-length"]]).toEqual([206, "ran", "bytes 1-3/8", "3"]);
    const past = await send(port, "/range", { headers: { range: "bytes=100-" } });
    expect([past.status, past.body, past.headers["content-range"]]).toEqual([416, "", "bytes */8"]);
    expect(hits("/range")).toBe(2);
  });

  test("a body larger than max_body_bytes is served whole but not stored", async () => {
    expect((await send(port, "/big")).body.length).toBe(MAX_BODY_BYTES * 4);
    expect((await send(port, "/big")).body.length).toBe(MAX_BODY_BYTES * 4);
    expect(hits("/big")).toBe(2);
  });
});
