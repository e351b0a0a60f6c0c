/**
 * envoy.filters.http.checksum on every runtime, black-box, with a real upstream: a body
 * whose SHA-256 is the configured one passes whole (1 MiB in many pieces too); a mismatching
 * one is cut off as Envoy's filter cuts it — the response started, so its local reply
 * becomes a reset (the client gets the headers, not the last piece, the stream is not
 * complete) and the access log says mismatched_checksum; a bodiless matched response is
 * Envoy's 403 checksum_but_no_body, and with reject_unmatched an unmatched path is 403
 * "No checksum for path" without reaching the upstream.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import * as http from "node:http";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { HCM_WITH_TRAILERS, HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { lines } from "../support/log-lines.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const BIG = Buffer.alloc(1024 * 1024, "polyvoy ");

let upstream: HttpUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await httpUpstream((req, res) => {
    if (req.url === "/empty") return void res.writeHead(204).end();
    if (req.url.startsWith("/trailers")) {
      // Chunked, in two pieces, then trailers: the digest is checked at the trailers.
      res.writeHead(200, { "content-type": "text/plain", trailer: "x-checked" });
      res.write(req.url === "/trailers" ? "the expected " : "a tampered ");
      setTimeout(() => {
        res.write("body");
        res.addTrailers({ "x-checked": "yes" });
        res.end();
      }, 20);
      return;
    }
    if (req.url.startsWith("/big")) {
      res.writeHead(200, { "content-length": BIG.length });
      for (let at = 0; at < BIG.length; at += 16 * 1024) res.write(BIG.subarray(at, at + 16 * 1024));
      return void res.end();
    }
    const body = req.url === "/good" ? "the expected body" : "a tampered body!!";
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
  dir = mkdtempSync(join(tmpdir(), "polyvoy-checksum-"));
});
afterAll(() => upstream.close());

interface Reply {
  status: number;
  body: string;
  complete: boolean;
  trailers?: Record<string, string | undefined>;
}

/** A GET with node:http: what arrived, and whether the response ended as it should (not cut off). */
function get(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (d: string) => (body += d));
      const done = () => resolve({ status: res.statusCode!, body, complete: res.complete, ...(Object.keys(res.trailers).length > 0 ? { trailers: res.trailers } : {}) });
      res.on("end", done);
      res.on("aborted", done);
      res.on("error", done);
    });
    req.on("error", reject);
  });
}

describe.each(RUNTIMES)("envoy.filters.http.checksum on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  const log = () => join(dir, `${runtime}.log`);

  beforeAll(async () => {
    port = await freePort();
    const checksums = [
      { path_matcher: { exact: "/good" }, sha256: sha("the expected body") },
      { path_matcher: { exact: "/bad" }, sha256: sha("the expected body") },
      { path_matcher: { exact: "/empty" }, sha256: sha("") },
      { path_matcher: { prefix: "/big" }, sha256: sha(BIG).toUpperCase() },
      { path_matcher: { prefix: "/trailers" }, sha256: sha("the expected body") },
    ];
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [upstream.port] },
      routes: [{ match: { prefix: "/" }, cluster: "up" }],
      clusterExtra: HTTP1_CLUSTER_WITH_TRAILERS,
      // Below one upstream read (16 KiB pieces of /big): the filter must hold its piece without
      // the filter manager buffering against this limit (which cut /big off as a 500 reset).
      listenerExtra: { per_connection_buffer_limit_bytes: 4096 },
      hcm: {
        ...HCM_WITH_TRAILERS,
        http_filters: [{ name: "envoy.filters.http.checksum", typed_config: { "@type": TYPE, checksums, reject_unmatched: true } }, ROUTER],
        access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: log(), log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n" } } } }],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });
  afterAll(() => proxy?.stop());

  test("a body with the configured SHA-256 passes whole, a large one in pieces above the buffer limit too (query left out of the match)", async () => {
    expect(await get(port, "/good")).toEqual({ status: 200, body: "the expected body", complete: true });
    const big = await get(port, "/big?part=all");
    expect(big.status).toBe(200);
    expect(big.complete).toBe(true);
    expect(big.body.length).toBe(BIG.length);
  });

  test("a mismatching body is cut off: the response had started, so Envoy's local reply is a reset", async () => {
    const reply = await get(port, "/bad");
    expect(reply.status).toBe(200);
    expect(reply.complete).toBe(false);
    expect(reply.body).not.toBe("a tampered body!!");
  });

  test("a body followed by trailers is checked at the trailers: passed whole with them, or cut off", async () => {
    expect(await get(port, "/trailers")).toEqual({ status: 200, body: "the expected body", complete: true, trailers: { "x-checked": "yes" } });
    const bad = await get(port, "/trailers-bad");
    expect(bad.complete).toBe(false);
    expect(bad.body).not.toContain("body");
  });

  test("a matched response without a body, and an unmatched path (reject_unmatched): Envoy's 403s", async () => {
    expect(await get(port, "/empty")).toEqual({ status: 403, body: "Expected checksum has value but response has no body", complete: true });
    const before = upstream.requests.length;
    expect(await get(port, "/other")).toEqual({ status: 403, body: "No checksum for path", complete: true });
    expect(upstream.requests.length).toBe(before);
    expect(await lines(log(), 7)).toEqual(["/good 200 via_upstream", "/big?part=all 200 via_upstream", "/bad 200 mismatched_checksum", "/trailers 200 via_upstream", "/trailers-bad 200 mismatched_checksum", "/empty 403 checksum_but_no_body", "/other 403 no_checksum_for_path"]);
  });
});
