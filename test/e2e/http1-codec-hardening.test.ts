/**
 * What the HTTP/1 codecs must refuse or rewrite, as Envoy's codec_impl.cc does, against
 * the real proxy on every runtime, with upstreams that write exact bytes: transfer
 * codings other than chunked (501 downstream, 502 upstream protocol error), a 101 to a
 * request that asked for no upgrade (503), and absolute-form request targets (the URL's
 * authority is routed on and forwarded, the upstream gets origin-form).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** An upstream that answers every request head with `response`, byte for byte. */
async function rawUpstream(response: string): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on("error", () => {});
    let head = "";
    socket.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      head = "";
      socket.write(Buffer.from(response, "latin1"));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return server;
}

const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port;

/** gzip's magic bytes, as a coded body would start. */
const GZIP_BYTES = "\x1f\x8b\x08\x00";

describe.each(RUNTIMES)("HTTP/1 codec hardening on %s", (runtime) => {
  let a: HttpUpstream;
  let b: HttpUpstream;
  let gzip: net.Server;
  let switching: net.Server;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    a = await httpUpstream((req, res) => res.end(`a ${req.method} ${req.url} host=${req.headers.host}`));
    b = await httpUpstream((req, res) => res.end(`b ${req.method} ${req.url} host=${req.headers.host}`));
    gzip = await rawUpstream(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\n${GZIP_BYTES}\r\n0\r\n\r\n`);
    switching = await rawUpstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nRAW-UPSTREAM-BYTES");
    port = await freePort();
    const route = (prefix: string, cluster: string) => ({ match: { prefix }, route: { cluster } });
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { a: [a.port], b: [b.port], gzip: [portOf(gzip)], switching: [portOf(switching)] },
        routes: [],
        virtualHosts: [
          { name: "b", domains: ["b.test"], routes: [route("/", "b")] },
          { name: "a", domains: ["*"], routes: [route("/gzip", "gzip"), route("/switch", "switching"), route("/", "a")] },
        ],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all([a?.close(), b?.close()]);
    gzip?.close();
    switching?.close();
  });

  test("an upstream response coded other than chunked alone is a 502 upstream protocol error, not a relabelled body", async () => {
    const { text } = await rawExchange(port, "GET /gzip HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    const [response] = parseResponses(text);
    // Envoy answers an upstream protocol error with 502 (router.cc onUpstreamReset; 1.17's return_502_for_upstream_protocol_errors).
    expect(response!.status).toBe(502);
    expect(response!.body).toBe("upstream connect error or disconnect/reset before headers. reset reason: protocol error");
    expect(text).not.toContain(GZIP_BYTES);
  });

  test.each(["gzip, chunked", "gzip"])("a request with Transfer-Encoding: %s is a 501 and reaches no upstream", async (coding) => {
    const before = a.requests.length;
    const { text, closed } = await rawExchange(port, `POST /coded HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: ${coding}\r\n\r\n4\r\n${GZIP_BYTES}\r\n0\r\n\r\n`);
    const [response] = parseResponses(text);
    expect(response!.status).toBe(501);
    expect(response!.body).toBe("Not Implemented");
    expect(response!.headers.connection).toBe("close");
    expect(closed).toBe(true);
    expect(a.requests.length).toBe(before);
  });

  test("a 101 to a request that asked for no upgrade is a 502 (an upstream protocol error), and no upstream byte reaches the client", async () => {
    const { text } = await rawExchange(port, "GET /switch HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    expect(parseResponses(text)[0]!.status).toBe(502);
    expect(text).not.toContain("RAW-UPSTREAM-BYTES");
    expect(text).not.toMatch(/^HTTP\/1\.1 101/);
  });

  test("an absolute-form target is routed by its authority and forwarded in origin-form with that Host", async () => {
    const { text } = await rawExchange(port, "GET http://b.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    expect(parseResponses(text)[0]!.body).toBe("b GET /x?y=1 host=b.test");
    expect(b.requests.at(-1)!.url).toBe("/x?y=1");
  });

  test.each(["a b.test", "a.test/x", "a.test\\x"])("a Host no authority can be (%j) is a 400, then close, and reaches no upstream", async (host) => {
    // Envoy's codec checks the authority (HeaderUtility::requestHeadersValid); a Host the
    // upstream or the routing would read differently never goes on.
    const before = a.requests.length;
    const { text, closed } = await rawExchange(port, `GET /h HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const [response] = parseResponses(text);
    expect(response!.status).toBe(400);
    expect(response!.body).toBe("Bad Request");
    expect(closed).toBe(true);
    expect(a.requests.length).toBe(before);
    // userinfo and an IPv6 literal with a port are authorities.
    for (const good of ["user@a.test", "[::1]:8080"]) {
      const { text: ok } = await rawExchange(port, `GET /h HTTP/1.1\r\nHost: ${good}\r\nConnection: close\r\n\r\n`);
      expect(parseResponses(ok)[0]!.status).toBe(200);
    }
  });

  test("an absolute-form target that does not parse is a 400", async () => {
    const { text, closed } = await rawExchange(port, "GET http://a.test:99999/x HTTP/1.1\r\nHost: a.test\r\n\r\n");
    const [response] = parseResponses(text);
    expect(response!.status).toBe(400);
    expect(response!.body).toBe("Bad Request");
    expect(closed).toBe(true);
  });
});
