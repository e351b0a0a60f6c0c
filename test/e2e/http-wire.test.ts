/**
 * HTTP/1.1 on the wire, on every runtime: exact bytes from raw sockets for
 * pipelining, malformed and oversized requests, framing ambiguity, Expect: 100-continue.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { oneWholeResponse, parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("HTTP/1.1 on the wire on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
      // Answer slowly for /slow so pipelined responses would overtake each other if not ordered.
      const delay = req.url.startsWith("/slow") ? 100 : 0;
      // /etag: the request's user-agent comes back as the response's etag (repeated-values.ts).
      if (req.url.startsWith("/etag")) res.setHeader("etag", `"${req.headers["user-agent"]}"`);
      // /streamed: a body of unknown length (no content-length from the upstream).
      if (req.url.startsWith("/streamed")) {
        res.write("part ");
        return res.end("end");
      }
      setTimeout(() => res.end(`${req.method} ${req.url} ${req.body.length}`), delay);
    });
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }], hcm: { max_request_headers_kb: 8 } }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("pipelined requests are answered in order, one at a time", async () => {
    const requests =
      "GET /slow/1 HTTP/1.1\r\nHost: a\r\n\r\n" +
      "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
      "GET /slow/3 HTTP/1.1\r\nHost: a\r\n\r\n" +
      "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const { text, closed } = await rawExchange(port, requests);
    const responses = parseResponses(text);
    expect(responses.map((r) => r.body)).toEqual(["GET /slow/1 0", "POST /2 5", "GET /slow/3 0", "GET /4 0"]);
    expect(responses.at(-1)!.headers.connection).toBe("close");
    expect(closed).toBe(true);
  });

  test("known header values that change from message to message arrive as sent, both ways", async () => {
    // Same-length values, pipelined on one connection, each response in a read of its own
    // (node and deno reuse their read buffers for them): a value is only
    // reused when its bytes are exactly the last one's (repeated-values.ts).
    const agents = ["ua-1", "ua-2", "ua-2", "ua-1", "ua-3", "ua-1"];
    const requests = agents.map((ua, i) => `GET /etag/${i} HTTP/1.1\r\nHost: a\r\nUser-Agent: ${ua}\r\n\r\n`).join("");
    const { text } = await rawExchange(port, requests, 1000);
    expect(parseResponses(text).map((r) => r.headers.etag)).toEqual(agents.map((ua) => `"${ua}"`));
    for (const [i, ua] of agents.entries()) expect(upstream.requests.find((r) => r.url === `/etag/${i}`)!.headers["user-agent"]).toBe(ua);
  });

  test("a request split into single bytes is proxied", async () => {
    const net = await import("node:net");
    const socket = net.connect({ port, host: "127.0.0.1" });
    await new Promise((r) => socket.once("connect", r));
    socket.setNoDelay(true);
    const bytes = Buffer.from("POST /bytes HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    const got: Buffer[] = [];
    socket.on("data", (d: Buffer) => got.push(d));
    for (const byte of bytes) {
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    expect(parseResponses(Buffer.concat(got).toString())[0]!.body).toBe("POST /bytes 3");
  });

  test("malformed request line: 400 Bad Request, then the connection closes", async () => {
    const { text, closed } = await rawExchange(port, "GET /a b c HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(text).toMatch(/\r\nconnection: close\r\n/);
    expect(closed).toBe(true);
  });

  test("both Content-Length and Transfer-Encoding: 400 and close", async () => {
    const { text, closed } = await rawExchange(
      port,
      "POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    expect(text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(closed).toBe(true);
    expect(upstream.requests.some((r) => r.url === "/smuggle")).toBe(false);
  });

  test("headers over max_request_headers_kb: 431 and close", async () => {
    const { text, closed } = await rawExchange(port, `GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ${"x".repeat(9000)}\r\n\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(closed).toBe(true);
  });

  test("more than 100 header fields: 431", async () => {
    const fields = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join("");
    const { text } = await rawExchange(port, `GET /many HTTP/1.1\r\nHost: a\r\n${fields}\r\n`);
    expect(text).toMatch(/^HTTP\/1\.1 431 /);
  });

  test("HTTP/1.1 without Host: 400", async () => {
    // Read once the reply is whole, not until the connection closes (it is not closed within 3 s).
    const { text } = await rawExchange(port, "GET / HTTP/1.1\r\n\r\n", 3000, oneWholeResponse);
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
  });

  test("HTTP/1.0: 426 Upgrade Required, as Envoy answers without accept_http_10", async () => {
    const { text } = await rawExchange(port, "GET / HTTP/1.0\r\nHost: a\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
  });

  test("Expect: 100-continue is answered by the proxy before the body is sent", async () => {
    const net = await import("node:net");
    const socket = net.connect({ port, host: "127.0.0.1" });
    await new Promise((r) => socket.once("connect", r));
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.write("PUT /expect HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    await new Promise((r) => setTimeout(r, 300));
    expect(text).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    socket.write("body");
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    const final = parseResponses(text.slice("HTTP/1.1 100 Continue\r\n\r\n".length))[0]!;
    expect(final.status).toBe(200);
    expect(final.body).toBe("PUT /expect 4");
    expect(upstream.requests.find((r) => r.url === "/expect")!.headers.expect).toBeUndefined();
  });

  test("hop-by-hop fields and those named in Connection are not forwarded; te: trailers is", async () => {
    await rawExchange(
      port,
      "GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop-Me\r\nX-Drop-Me: gone\r\nKeep-Alive: timeout=5\r\n" +
        "Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
      500,
    );
    const seen = upstream.requests.find((r) => r.url === "/hop")!;
    expect(seen.headers["x-kept"]).toBe("yes");
    expect(seen.headers.te).toBe("trailers");
    for (const name of ["x-drop-me", "keep-alive", "proxy-connection"]) expect(seen.headers[name], name).toBeUndefined();
    expect(seen.headers.connection ?? "").not.toMatch(/x-drop-me/i);
  });

  test("HEAD gets the headers and no body", async () => {
    const { text } = await rawExchange(port, "HEAD /head HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.endsWith("\r\n\r\n")).toBe(true);
  });

  test("HEAD of a body of unknown length: the informational transfer-encoding: chunked, no body; the next request follows", async () => {
    const { text } = await rawExchange(port, "HEAD /streamed HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    const [head, rest] = [text.slice(0, text.indexOf("\r\n\r\n")), text.slice(text.indexOf("\r\n\r\n") + 4)];
    // Envoy's encodeHeadersBase sends the header a GET would get, and no chunk.
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toMatch(/\r\ntransfer-encoding: chunked(\r\n|$)/);
    expect(head).not.toMatch(/content-length/);
    expect(rest).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nGET \/next 0$/);
  });
});

describe.each(RUNTIMES)("heads larger than one event's write arena (64 KiB) on %s", (runtime) => {
  // On Bun a head is encoded into a buffer shared by one event's writes (event-arena.ts);
  // one that does not fit gets an array of its own. Either way the bytes leave whole and in order.
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const reversedCut = (value: string) => [...value].reverse().join("").slice(0, 50_000);
  const big = (seed: number) => Array.from({ length: 70_000 }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join("");

  beforeAll(async () => {
    upstream = await httpUpstream(
      (req, res) => {
        // The request's x-big comes back reversed and cut to 50,000 bytes, as the response's
        // (a response head may not pass 60 KiB, Envoy's default).
        const value = req.headers["x-big"];
        if (typeof value === "string") res.setHeader("x-big", reversedCut(value));
        res.end(`${req.url} ${typeof value === "string" ? value.length : 0}`);
      },
      { maxHeaderSize: 256 * 1024 },
    );
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }], hcm: { max_request_headers_kb: 128 } }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("pipelined small and 70 KB request heads, and 50 KB response heads, arrive whole and in order", async () => {
    const values = ["", big(1), "", big(2), big(3), ""];
    const last = values.length - 1;
    const requests = values.map((v, i) => `GET /big/${i} HTTP/1.1\r\nHost: a\r\n${v ? `X-Big: ${v}\r\n` : ""}${i === last ? "Connection: close\r\n" : ""}\r\n`).join("");
    const { text, closed } = await rawExchange(port, requests);
    expect(closed).toBe(true);
    const responses = parseResponses(text);
    expect(responses.map((r) => r.body)).toEqual(values.map((v, i) => `/big/${i} ${v.length}`));
    responses.forEach((r, i) => expect(r.headers["x-big"] ?? "", `response ${i}`).toBe(reversedCut(values[i]!)));
    values.forEach((v, i) => expect(upstream.requests.find((r) => r.url === `/big/${i}`)!.headers["x-big"] ?? "", `request ${i}`).toBe(v));
  });
});
