/**
 * The envoy.filters.http.compressor and .decompressor filters (core/http/filters/compressor.ts,
 * decompressor.ts) in a proxy on the memory runtime, whose compression is stored-block gzip
 * (runtimes/memory/stored-gzip.ts): real gzip that node:zlib decodes, no brotli.
 */
import { afterEach, describe, expect, test } from "vitest";
import { constants, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { MemoryHttpClient } from "./support/http-peers.ts";
import { filterProxy, PROXY_PORT, ROUTER, type FilterProxy } from "./support/filter-proxy.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const COMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute";
const DECOMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor";
const GZIP = "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip";
const GUNZIP = "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip";
const BROTLI = "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli";

const compressor = (fields: Record<string, unknown> = {}, library: Record<string, unknown> = { "@type": GZIP }) => ({
  name: "envoy.filters.http.compressor",
  typed_config: { "@type": COMPRESSOR, compressor_library: { name: "text", typed_config: library }, ...fields },
});
const decompressor = (fields: Record<string, unknown> = {}) => ({
  name: "envoy.filters.http.decompressor",
  typed_config: { "@type": DECOMPRESSOR, decompressor_library: { name: "up", typed_config: { "@type": GUNZIP } }, ...fields },
});

const STATS = "http.ingress_http.compressor.text.gzip.";
const HTML = "<html>" + "hello compressor ".repeat(60) + "</html>";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const header = (headers: readonly [string, string][], name: string) => headers.find(([n]) => n === name)?.[1];

/** The upstream answers every request with `body` and these headers (content-length added). */
function answer(p: FilterProxy, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "text/html" }): void {
  p.upstream.handler = (req, res) => {
    p.upstreamRequests.push({ path: req.path, headers: [...req.headers], body: req.text() });
    res.respond(200, body, headers);
  };
}

describe("compressor filter: responses", () => {
  test("gzip: content-encoding, vary, no content-length, bytes gunzip to the upstream's body; Envoy's stats", async () => {
    proxy = await filterProxy([compressor()]);
    answer(proxy, HTML);
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip, deflate" } });
    expect(response.status).toBe(200);
    expect(header(response.headers, "content-encoding")).toBe("gzip");
    expect(header(response.headers, "vary")).toBe("Accept-Encoding");
    expect(header(response.headers, "content-length")).toBeUndefined();
    expect(header(response.headers, "transfer-encoding")).toBe("chunked");
    expect(gunzipSync(response.body).toString("latin1")).toBe(HTML);
    expect(proxy.counter(STATS + "compressed")).toBe(1);
    expect(proxy.counter(STATS + "not_compressed")).toBe(0);
    expect(proxy.counter(STATS + "header_compressor_used")).toBe(1);
    expect(proxy.counter(STATS + "total_uncompressed_bytes")).toBe(HTML.length);
    expect(proxy.counter(STATS + "total_compressed_bytes")).toBe(response.body.byteLength);
    // Requests are not compressed without request_direction_config; the request stats count them.
    expect(proxy.counter(STATS + "request.not_compressed")).toBe(1);
  });

  test("no Accept-Encoding: not compressed (no_accept_header), but Vary tells caches it could be", async () => {
    proxy = await filterProxy([compressor()]);
    answer(proxy, HTML);
    const response = await proxy.request("GET", "/");
    expect(header(response.headers, "content-encoding")).toBeUndefined();
    expect(header(response.headers, "vary")).toBe("Accept-Encoding");
    expect(response.text()).toBe(HTML);
    expect(proxy.counter(STATS + "no_accept_header")).toBe(1);
    expect(proxy.counter(STATS + "not_compressed")).toBe(1);
  });

  test.each([
    ["identity", "header_identity", false],
    ["gzip;q=0", "header_not_valid", false],
    ["br", "header_not_valid", false],
    ["*", "header_wildcard", true],
    ["gzip;q=0, *", "header_not_valid", false],
    ["identity;q=0.5, gzip;q=0.6", "header_compressor_used", true],
    ["identity;q=0.7, gzip;q=0.6", "header_identity", false],
    ["gzip;q=x", "header_not_valid", false],
  ])("Accept-Encoding %j: %s, compressed %s", async (acceptEncoding, stat, compressed) => {
    proxy = await filterProxy([compressor()]);
    answer(proxy, HTML);
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": acceptEncoding } });
    expect(header(response.headers, "content-encoding")).toBe(compressed ? "gzip" : undefined);
    expect(proxy.counter(STATS + stat)).toBe(1);
  });

  test.each([
    ["a body under min_content_length (30)", { "content-type": "text/html", "content-length": "29" }, "x".repeat(29), "content_length_too_small"],
    ["a content type not in the list", { "content-type": "image/png" }, HTML, undefined],
    ["cache-control: no-transform", { "content-type": "text/html", "cache-control": "public, No-Transform" }, HTML, undefined],
    ["a body already encoded", { "content-type": "text/html", "content-encoding": "deflate" }, HTML, undefined],
  ] as [string, Record<string, string>, string, string | undefined][])("%s: not compressed, no Vary", async (_name, headers, body, stat) => {
    proxy = await filterProxy([compressor()]);
    proxy.upstream.handler = (_req, res) => {
      res.writeHead(200, headers);
      res.end(body);
    };
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(header(response.headers, "content-encoding")).toBe(headers["content-encoding"]);
    expect(header(response.headers, "vary")).toBeUndefined();
    expect(response.text()).toBe(body);
    expect(proxy.counter(STATS + "not_compressed")).toBe(1);
    if (stat) expect(proxy.counter(STATS + stat)).toBe(1);
  });

  test("content types match without parameters or case; a configured list replaces the defaults", async () => {
    proxy = await filterProxy([compressor({ response_direction_config: { common_config: { content_type: ["Application/JSON"] } } })]);
    answer(proxy, HTML, { "content-type": "application/json; charset=utf-8" });
    expect(header((await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } })).headers, "content-encoding")).toBe("gzip");
    answer(proxy, HTML, { "content-type": "text/html" });
    expect(header((await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } })).headers, "content-encoding")).toBeUndefined();
    // With response_direction_config the common stats are under response.
    expect(proxy.counter(STATS + "response.compressed")).toBe(1);
    expect(proxy.counter(STATS + "response.not_compressed")).toBe(1);
  });

  test("Vary: Accept-Encoding joins an existing Vary once", async () => {
    proxy = await filterProxy([compressor()]);
    answer(proxy, HTML, { "content-type": "text/html", vary: "Origin" });
    expect(header((await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } })).headers, "vary")).toBe("Origin, Accept-Encoding");
    answer(proxy, HTML, { "content-type": "text/html", vary: "Accept-Encoding" });
    expect(header((await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } })).headers, "vary")).toBe("Accept-Encoding");
  });

  test("ETag: a strong one is dropped from a compressed response, a weak one kept; disable_on_etag_header leaves it uncompressed", async () => {
    proxy = await filterProxy([compressor()]);
    answer(proxy, HTML, { "content-type": "text/html", etag: '"abc"' });
    const strong = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(header(strong.headers, "content-encoding")).toBe("gzip");
    expect(header(strong.headers, "etag")).toBeUndefined();
    answer(proxy, HTML, { "content-type": "text/html", etag: 'W/"abc"' });
    expect(header((await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } })).headers, "etag")).toBe('W/"abc"');

    proxy.close();
    proxy = await filterProxy([compressor({ response_direction_config: { disable_on_etag_header: true } })]);
    answer(proxy, HTML, { "content-type": "text/html", etag: '"abc"' });
    const kept = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(header(kept.headers, "content-encoding")).toBeUndefined();
    expect(header(kept.headers, "etag")).toBe('"abc"');
    expect(proxy.counter(STATS + "not_compressed_etag")).toBe(1);
  });

  test("remove_accept_encoding_header: the upstream never sees Accept-Encoding", async () => {
    proxy = await filterProxy([compressor({ response_direction_config: { remove_accept_encoding_header: true } })]);
    answer(proxy, HTML);
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(header(response.headers, "content-encoding")).toBe("gzip");
    expect(header(proxy.upstreamRequests[0]!.headers, "accept-encoding")).toBeUndefined();
  });

  test("CompressorPerRoute: disabled on one route; overrides re-enable and set remove_accept_encoding_header", async () => {
    proxy = await filterProxy([compressor({ response_direction_config: { common_config: { enabled: { default_value: false, runtime_key: "k" } } } })], {
      routes: [
        { match: { prefix: "/on" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.compressor": { "@type": PER_ROUTE, overrides: { response_direction_config: { remove_accept_encoding_header: true } } } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    answer(proxy, HTML);
    expect(header((await proxy.request("GET", "/off", { headers: { "accept-encoding": "gzip" } })).headers, "content-encoding")).toBeUndefined();
    const on = await proxy.request("GET", "/on", { headers: { "accept-encoding": "gzip" } });
    expect(header(on.headers, "content-encoding")).toBe("gzip");
    expect(header(proxy.upstreamRequests[1]!.headers, "accept-encoding")).toBeUndefined();

    proxy.close();
    proxy = await filterProxy([compressor()], {
      routes: [
        { match: { prefix: "/off" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.compressor": { "@type": PER_ROUTE, disabled: true } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    answer(proxy, HTML);
    expect(header((await proxy.request("GET", "/off", { headers: { "accept-encoding": "gzip" } })).headers, "content-encoding")).toBeUndefined();
    expect(header((await proxy.request("GET", "/x", { headers: { "accept-encoding": "gzip" } })).headers, "content-encoding")).toBe("gzip");
  });

  test("a streamed response is compressed chunk by chunk: each chunk reaches the client, decodable, before the next is sent", async () => {
    proxy = await filterProxy([compressor()]);
    let send: ((chunk: string | undefined) => void) | undefined;
    proxy.upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      send = (chunk) => (chunk === undefined ? res.end() : res.write(chunk));
    };
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    await proxy.runtime.settle();
    const received: string[] = [];
    for (let i = 0; i < 5; i++) {
      const chunk = `chunk ${i} `.repeat(100);
      send!(chunk);
      await proxy.runtime.settle();
      received.push(chunk);
      // What arrived so far decodes to everything sent so far (a sync-flushed stream, unfinished).
      const partial = (client.parser as unknown as { body: { data: Uint8Array; start: number; end: number } }).body;
      const body = partial.data.subarray(partial.start, partial.end);
      expect(inflateRawSync(body.subarray(10), { finishFlush: constants.Z_SYNC_FLUSH }).toString("latin1")).toBe(received.join(""));
    }
    send!(undefined);
    await proxy.runtime.settle();
    expect(gunzipSync(client.responses[0]!.body).toString("latin1")).toBe(received.join(""));
  });

  test("HEAD: no body goes out, and the connection serves the next request", async () => {
    proxy = await filterProxy([compressor()]);
    proxy.upstream.handler = (req, res) => {
      if (req.method === "HEAD") {
        res.writeHead(200, { "content-type": "text/html", "content-length": String(HTML.length) });
        res.finish();
      } else {
        res.respond(200, HTML, { "content-type": "text/html" });
      }
    };
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("HEAD", "/", { headers: { "accept-encoding": "gzip" } });
    await proxy.runtime.settle();
    client.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    await proxy.runtime.settle();
    expect(client.error).toBeUndefined();
    expect(client.responses).toHaveLength(2);
    expect(client.responses[0]!.body.byteLength).toBe(0);
    expect(gunzipSync(client.responses[1]!.body).toString("latin1")).toBe(HTML);
  });

  test("response trailers: the gzip stream is finished before them", async () => {
    proxy = await filterProxy([compressor()]);
    proxy.upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write(HTML);
      res.end(undefined, { "x-trailer": "1" });
    };
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(gunzipSync(response.body).toString("latin1")).toBe(HTML);
  });

  test("a compressor is released when its stream is reset mid-body", async () => {
    proxy = await filterProxy([compressor()]);
    const made: { closed: boolean }[] = [];
    const base = proxy.runtime.compression;
    proxy.runtime.compression = {
      ...base,
      createCompressor(options) {
        const c = base.createCompressor(options);
        made.push(c as unknown as { closed: boolean });
        return c;
      },
    };
    proxy.upstream.handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write(HTML);
      proxy!.runtime.defer(() => res.reset());
    };
    const client = new MemoryHttpClient(proxy.runtime, PROXY_PORT);
    client.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    await proxy.runtime.settle();
    expect(made).toHaveLength(1);
    expect(made[0]!.closed).toBe(true);
  });
});

describe("compressor filter: requests", () => {
  test("request_direction_config: a request body is gzipped for the upstream, content-encoding set, content-length dropped", async () => {
    proxy = await filterProxy([compressor({ request_direction_config: {} })]);
    const seen: Uint8Array[] = [];
    proxy.upstream.handler = (req, res) => {
      proxy!.upstreamRequests.push({ path: req.path, headers: [...req.headers], body: "" });
      seen.push(req.body);
      res.respond(200, "ok");
    };
    const body = JSON.stringify({ text: "x".repeat(500) });
    await proxy.request("POST", "/", { headers: { "content-type": "application/json" }, body });
    const headers = proxy.upstreamRequests[0]!.headers;
    expect(header(headers, "content-encoding")).toBe("gzip");
    expect(header(headers, "content-length")).toBeUndefined();
    expect(gunzipSync(seen[0]!).toString("latin1")).toBe(body);
    expect(proxy.counter(STATS + "request.compressed")).toBe(1);
    expect(proxy.counter(STATS + "request.total_uncompressed_bytes")).toBe(body.length);
  });
});

describe("brotli on a runtime without it", () => {
  test("the config is refused at start, saying why", async () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    const config = httpProxyConfig({
      listenPort: PROXY_PORT,
      clusters: { backend: [8080] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      hcm: { http_filters: [compressor({}, { "@type": BROTLI, quality: 4 }), ROUTER] },
    });
    await expect(startProxy(runtime, config)).rejects.toThrow(/brotli is not available on the memory runtime: the memory runtime has no brotli/);
  });
});

describe("decompressor filter", () => {
  const DSTATS = "http.ingress_http.decompressor.up.gzip.";

  test("a gzip response is decompressed for the client; Accept-Encoding advertised upstream", async () => {
    proxy = await filterProxy([decompressor()]);
    // zlib's level 0 writes stored blocks, which the memory runtime's decompressor reads.
    const gz = gzipSync(HTML, { level: 0 });
    answer(proxy, gz, { "content-type": "text/html", "content-encoding": "gzip" });
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "br;q=0.5, gzip;q=0.1" } });
    expect(response.text()).toBe(HTML);
    expect(header(response.headers, "content-encoding")).toBeUndefined();
    expect(header(response.headers, "content-length")).toBeUndefined();
    expect(header(proxy.upstreamRequests[0]!.headers, "accept-encoding")).toBe("br;q=0.5,gzip");
    expect(proxy.counter(DSTATS + "response.decompressed")).toBe(1);
    expect(proxy.counter(DSTATS + "response.total_compressed_bytes")).toBe(gz.byteLength);
    expect(proxy.counter(DSTATS + "response.total_uncompressed_bytes")).toBe(HTML.length);
    expect(proxy.counter(DSTATS + "request.not_decompressed")).toBe(0);
  });

  test("Content-Encoding loses only its first coding; no-transform and other codings are left alone", async () => {
    proxy = await filterProxy([decompressor()]);
    answer(proxy, gzipSync(HTML, { level: 0 }), { "content-encoding": "GZIP , identity" });
    const response = await proxy.request("GET", "/");
    expect(header(response.headers, "content-encoding")).toBe("identity");
    expect(response.text()).toBe(HTML);
    answer(proxy, "plain", { "content-encoding": "gzip", "cache-control": "no-transform" });
    expect((await proxy.request("GET", "/")).text()).toBe("plain");
    answer(proxy, "plain", { "content-encoding": "deflate, gzip" });
    expect((await proxy.request("GET", "/")).text()).toBe("plain");
    expect(proxy.counter(DSTATS + "response.not_decompressed")).toBe(2);
  });

  test("a gzip request body is decompressed for the upstream", async () => {
    proxy = await filterProxy([decompressor()]);
    const body = "y".repeat(3000);
    await proxy.request("POST", "/", { headers: { "content-encoding": "gzip" }, body: gzipSync(body, { level: 0 }).toString("latin1") });
    expect(proxy.upstreamRequests[0]!.body).toBe(body);
    expect(header(proxy.upstreamRequests[0]!.headers, "content-encoding")).toBeUndefined();
    expect(proxy.counter(DSTATS + "request.decompressed")).toBe(1);
  });

  test("corrupt gzip: zlib_data_error, and the body ends where decoding stopped", async () => {
    proxy = await filterProxy([decompressor()]);
    answer(proxy, "this is not gzip at all, not even close", { "content-encoding": "gzip" });
    const response = await proxy.request("GET", "/");
    expect(response.status).toBe(200);
    expect(response.body.byteLength).toBe(0);
    expect(proxy.counter(DSTATS + "decompressor_library.zlib_data_error")).toBe(1);
  });

  test("compressor and decompressor in one chain: the upstream's gzip is re-compressed for the client", async () => {
    proxy = await filterProxy([compressor(), decompressor({ request_direction_config: { advertise_accept_encoding: false } })]);
    answer(proxy, gzipSync(HTML, { level: 0 }), { "content-type": "text/html", "content-encoding": "gzip" });
    const response = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(header(response.headers, "content-encoding")).toBe("gzip");
    expect(gunzipSync(response.body).toString("latin1")).toBe(HTML);
  });
});
