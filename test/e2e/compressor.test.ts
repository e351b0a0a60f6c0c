/**
 * The compressor and decompressor HTTP filters against the real proxy on every runtime,
 * with the runtime's own zlib and brotli: curl --compressed and undici clients, bytes
 * checked with node:zlib, a large streamed body, a slow client, a decompression bomb.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as net from "node:net";
import { promisify } from "node:util";
import { brotliDecompressSync, createGunzip, gunzipSync, gzipSync } from "node:zlib";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const run = promisify(execFile);

const COMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor";
const DECOMPRESSOR = "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute";

const JSON_BODY = JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ["alpha", "beta", String(i % 7)] })));
const BIG_CHUNK = 64 * 1024;
const BIG_CHUNKS = 256; // 16 MiB
const MiB = 1024 * 1024;
const RANDOM_BYTES = 128 * MiB;
/** Repeated, but further apart than any window here (gzip's 4 KiB, brotli's 256 KiB): incompressible. */
const RANDOM_BLOCK = randomBytes(MiB);

/** A deterministic, compressible chunk: lines of text that differ by their number. */
function textChunk(i: number): Buffer {
  let s = "";
  while (s.length < BIG_CHUNK) s += `line ${i} ${s.length} lorem ipsum dolor sit amet\n`;
  return Buffer.from(s.slice(0, BIG_CHUNK));
}

describe.each(RUNTIMES)("compressor and decompressor on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let adminPort: number;
  let bigHash = "";
  let randomSent = 0;

  beforeAll(async () => {
    const hash = createHash("sha256");
    for (let i = 0; i < BIG_CHUNKS; i++) hash.update(textChunk(i));
    bigHash = hash.digest("hex");
    upstream = await httpUpstream((req, res) => {
      if (req.url === "/big") {
        // Streamed, chunked, minding backpressure.
        res.setHeader("content-type", "text/plain");
        let i = 0;
        const write = (): void => {
          while (i < BIG_CHUNKS) {
            if (!res.write(textChunk(i++))) return void res.once("drain", write);
          }
          res.end();
        };
        write();
        return;
      }
      if (req.url === "/random") {
        res.setHeader("content-type", "text/plain");
        res.on("error", () => {});
        randomSent = 0;
        const write = (): void => {
          while (randomSent < RANDOM_BYTES) {
            randomSent += RANDOM_BLOCK.length;
            if (!res.write(RANDOM_BLOCK)) return void res.once("drain", write);
          }
          res.end();
        };
        write();
        return;
      }
      if (req.url === "/gzipped") {
        res.setHeader("content-type", "application/json");
        res.setHeader("content-encoding", "gzip");
        return void res.end(gzipSync(JSON_BODY));
      }
      if (req.url === "/bomb") {
        res.setHeader("content-encoding", "gzip");
        return void res.end(gzipSync(Buffer.alloc(50 * 1024 * 1024)));
      }
      if (req.url === "/echo") {
        res.setHeader("content-type", "application/json");
        return void res.end(JSON.stringify({ encoding: req.headers["content-encoding"] ?? null, acceptEncoding: req.headers["accept-encoding"] ?? null, body: req.body.toString("latin1") }));
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON_BODY);
    });
    const port = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const route = (prefix: string, perFilter: Record<string, object> = {}) => ({ match: { prefix }, action: { route: { cluster: "up" }, typed_per_filter_config: perFilter } });
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [upstream.port] },
      routes: [
        route("/plain", { gz: { "@type": PER_ROUTE, disabled: true }, brotli: { "@type": PER_ROUTE, disabled: true } }),
        route("/"),
      ],
      hcm: {
        http_filters: [
          // Brotli wins ties (choose_first); gzip for clients that only take gzip.
          {
            name: "brotli",
            typed_config: {
              "@type": COMPRESSOR,
              choose_first: true,
              compressor_library: { name: "br", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.brotli.compressor.v3.Brotli", quality: 4 } },
            },
          },
          {
            name: "gz",
            typed_config: {
              "@type": COMPRESSOR,
              request_direction_config: { common_config: { content_type: ["text/plain"] } },
              response_direction_config: { common_config: { min_content_length: 100 } },
              compressor_library: { name: "gz", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip", compression_level: "BEST_SPEED" } },
            },
          },
          {
            name: "envoy.filters.http.decompressor",
            typed_config: {
              "@type": DECOMPRESSOR,
              decompressor_library: { name: "up", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip" } },
              request_direction_config: { common_config: { enabled: { default_value: false, runtime_key: "k" } }, advertise_accept_encoding: false },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${adminPort}/stats?filter=${filter}`)).body.text();
  }

  async function curl(path: string, ...args: string[]): Promise<{ headers: string; body: string }> {
    const { stdout } = await run("curl", ["-s", "-D", "-", ...args, base + path], { maxBuffer: 64 * 1024 * 1024 });
    const split = stdout.indexOf("\r\n\r\n");
    return { headers: stdout.slice(0, split).toLowerCase(), body: stdout.slice(split + 4) };
  }

  test("curl --compressed: brotli (chosen first), decoded by curl to the upstream's body", async () => {
    const { headers, body } = await curl("/", "--compressed");
    expect(headers).toMatch(/^content-encoding: br$/m);
    expect(headers).toMatch(/^vary: accept-encoding$/m);
    expect(headers).not.toMatch(/^content-length:/m);
    expect(body).toBe(JSON_BODY);
  });

  test("curl --compressed with only gzip accepted: gzip", async () => {
    const { headers, body } = await curl("/", "--compressed", "-H", "accept-encoding: gzip");
    expect(headers).toMatch(/^content-encoding: gzip$/m);
    expect(body).toBe(JSON_BODY);
  });

  test("undici: the raw bytes are gzip / brotli that node:zlib decodes; q-values decide", async () => {
    const gz = await request(base + "/", { headers: { "accept-encoding": "br;q=0.4, gzip;q=0.8" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    const gzBytes = Buffer.from(await gz.body.arrayBuffer());
    expect(gzBytes.length).toBeLessThan(JSON_BODY.length / 4);
    expect(gunzipSync(gzBytes).toString()).toBe(JSON_BODY);

    const br = await request(base + "/", { headers: { "accept-encoding": "br" } });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(Buffer.from(await br.body.arrayBuffer())).toString()).toBe(JSON_BODY);

    const none = await request(base + "/", { headers: { "accept-encoding": "identity" } });
    expect(none.headers["content-encoding"]).toBeUndefined();
    expect(await none.body.text()).toBe(JSON_BODY);

    const off = await request(base + "/plain", { headers: { "accept-encoding": "gzip, br" } });
    expect(off.headers["content-encoding"]).toBeUndefined();
    expect(await off.body.text()).toBe(JSON_BODY);

    const text = await stats("compressor");
    expect(text).toMatch(/^http\.ingress_http\.compressor\.gz\.gzip\.response\.compressed: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.compressor\.br\.brotli\.compressed: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.compressor\.gz\.gzip\.header_compressor_overshadowed: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.compressor\.br\.brotli\.header_identity: [1-9]/m);
  });

  test("a 16 MiB streamed response: gzip all the way, decoded on the fly to the same bytes", async () => {
    const response = await request(base + "/big", { headers: { "accept-encoding": "gzip" } });
    expect(response.headers["content-encoding"]).toBe("gzip");
    const gunzip = createGunzip();
    const hash = createHash("sha256");
    let compressed = 0;
    let length = 0;
    gunzip.on("data", (d: Buffer) => {
      hash.update(d);
      length += d.length;
    });
    const done = new Promise<void>((resolve, reject) => {
      gunzip.on("end", resolve);
      gunzip.on("error", reject);
    });
    for await (const chunk of response.body) {
      compressed += (chunk as Buffer).length;
      gunzip.write(chunk);
    }
    gunzip.end();
    await done;
    expect(length).toBe(BIG_CHUNK * BIG_CHUNKS);
    expect(hash.digest("hex")).toBe(bigHash);
    expect(compressed).toBeLessThan((BIG_CHUNK * BIG_CHUNKS) / 4);
  });

  test("a slow client pushes back on the upstream through the compressor; proxy memory stays bounded", async () => {
    /** One RANDOM_BYTES gzip response to a client that pauses first; what happened while it was paused. */
    async function stream(pauseMs: number, sampler?: { peak(): number }) {
      const socket = net.connect({ port: Number(new URL(base).port), host: "127.0.0.1" });
      // The proxy may reset the connection once it is done with it (Connection: close): not an error here.
      socket.on("error", () => {});
      await new Promise((r) => socket.once("connect", r));
      socket.write("GET /random HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
      socket.pause();
      await new Promise((r) => setTimeout(r, pauseMs));
      const result = { sentWhilePaused: randomSent, peakWhilePaused: sampler?.peak() ?? 0 };
      let head = "";
      socket.on("data", (d: Buffer) => {
        if (head.length < 200) head += d.toString("latin1");
      });
      socket.resume();
      await new Promise((r) => socket.once("close", r));
      expect(head).toMatch(/content-encoding: gzip/i);
      return result;
    }
    await stream(200);
    const before = proxy.memory().rss;
    const sampler = proxy.sampleRss();
    const { sentWhilePaused, peakWhilePaused } = await stream(1500, sampler);
    sampler.stop();
    // Random bytes do not compress, so what the kernels hold (up to tcp_rmem's maximum per
    // receiver: 32 MiB on some machines) is about what the upstream wrote beyond the proxy.
    expect(sentWhilePaused).toBeLessThan(RANDOM_BYTES - 32 * MiB);
    console.log(
      `[${runtime}] gzip slow reader: upstream wrote ${(sentWhilePaused / MiB).toFixed(1)} MiB while the client was paused; ` +
        `proxy RSS +${((peakWhilePaused - before) / MiB).toFixed(1)} MiB while paused`,
    );
    expect(peakWhilePaused - before).toBeLessThan(16 * MiB);
  });

  test("request direction: a text/plain request body is gzipped for the upstream", async () => {
    const body = "request text ".repeat(500);
    const response = await request(base + "/echo", { method: "POST", headers: { "content-type": "text/plain" }, body });
    const echoed = (await response.body.json()) as { encoding: string | null; body: string };
    expect(echoed.encoding).toBe("gzip");
    expect(gunzipSync(Buffer.from(echoed.body, "latin1")).toString()).toBe(body);
  });

  test("decompressor: the upstream's gzip is decompressed, then compressed again for the client as it asks", async () => {
    const plain = await request(base + "/gzipped", { headers: { "accept-encoding": "identity" } });
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(await plain.body.text()).toBe(JSON_BODY);
    const { headers, body } = await curl("/gzipped", "--compressed");
    expect(headers).toMatch(/^content-encoding: br$/m);
    expect(body).toBe(JSON_BODY);
    expect(await stats("decompressor")).toMatch(/^http\.ingress_http\.decompressor\.up\.gzip\.response\.decompressed: [1-9]/m);
  });

  test("decompression bomb: 50 MiB of zeros from 50 KiB stops at max_inflate_ratio (100), zlib_data_error counted", async () => {
    const response = await request(base + "/bomb", { headers: { "accept-encoding": "identity" } });
    let length = 0;
    for await (const chunk of response.body) length += (chunk as Buffer).length;
    expect(length).toBeLessThan(50 * 1024 * 1024);
    expect(await stats("decompressor")).toMatch(/^http\.ingress_http\.decompressor\.up\.gzip\.decompressor_library\.zlib_data_error: [1-9]/m);
  });
});
