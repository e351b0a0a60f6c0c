/**
 * HTTP/1.1 proxying through the connection manager and router, on every runtime:
 * Envoy's front-proxy shape (prefix routes to STATIC clusters), local replies with
 * Envoy's exact codes and bodies, and Envoy's header rules — with real clients
 * (undici, curl) and real node:http upstreams.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const execFileAsync = promisify(execFile);

describe.each(RUNTIMES)("HTTP routing on %s", (runtime) => {
  let service1: HttpUpstream;
  let service2: HttpUpstream;
  let silent: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let deadPort: number;
  const agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 0 });
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  beforeAll(async () => {
    service1 = await httpUpstream((req, res) => res.end(`service1 ${req.method} ${req.url}`));
    service2 = await httpUpstream();
    silent = await httpUpstream(() => {}); // never answers
    port = await freePort();
    deadPort = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { service1: [service1.port], service2: [service2.port], dead: [deadPort], silent: [silent.port], empty: [] },
        routes: [
          { match: { prefix: "/service/1" }, cluster: "service1" },
          { match: { prefix: "/service/2" }, cluster: "service2" },
          { match: { prefix: "/rewrite/" }, action: { route: { cluster: "service1", prefix_rewrite: "/new/" } } },
          { match: { prefix: "/dead" }, cluster: "dead" },
          { match: { prefix: "/empty" }, cluster: "empty" },
          { match: { prefix: "/slow" }, action: { route: { cluster: "silent", timeout: "0.5s" } } },
          { match: { path: "/direct" }, action: { direct_response: { status: 200, body: { inline_string: "polyvoy is running\n" } } } },
          { match: { prefix: "/old" }, action: { redirect: { path_redirect: "/new", response_code: "FOUND" } } },
        ],
      }),
    );
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await Promise.all([service1?.close(), service2?.close(), silent?.close()]);
  });

  test("prefix routes reach their clusters", async () => {
    const one = await request(url("/service/1/hello?x=1"), { dispatcher: agent });
    expect(one.statusCode).toBe(200);
    expect(await one.body.text()).toBe("service1 GET /service/1/hello?x=1");
    const two = await request(url("/service/2"), { method: "POST", body: "abc", dispatcher: agent });
    expect(two.statusCode).toBe(200);
    const seen = (await two.body.json()) as { method: string; url: string; bodyLength: number };
    expect(seen).toMatchObject({ method: "POST", url: "/service/2", bodyLength: 3 });
  });

  test("Envoy's request headers reach the upstream: host, x-forwarded-proto, x-request-id, x-envoy-expected-rq-timeout-ms", async () => {
    const res = await request(url("/service/2/h"), { dispatcher: agent, headers: { "x-custom": "kept" } });
    const { headers } = (await res.body.json()) as { headers: Record<string, string> };
    expect(headers.host).toBe(`127.0.0.1:${port}`);
    expect(headers["x-custom"]).toBe("kept");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-request-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(headers["x-envoy-expected-rq-timeout-ms"]).toBe("15000");
    expect(headers["x-forwarded-for"]).toBeUndefined(); // use_remote_address is false
  });

  test("response headers: server envoy, date, x-envoy-upstream-service-time", async () => {
    const res = await request(url("/service/1"), { dispatcher: agent });
    await res.body.text();
    expect(res.headers.server).toBe("envoy");
    expect(res.headers.date).toMatch(/GMT$/);
    expect(Number(res.headers["x-envoy-upstream-service-time"])).toBeGreaterThanOrEqual(0);
  });

  test("prefix_rewrite replaces the matched prefix and keeps x-envoy-original-path", async () => {
    const res = await request(url("/rewrite/a/b?q=1"), { dispatcher: agent });
    expect(await res.body.text()).toBe("service1 GET /new/a/b?q=1");
    expect(service1.requests.at(-1)!.headers["x-envoy-original-path"]).toBe("/rewrite/a/b?q=1");
  });

  test("404 with an empty body when no route matches (NR)", async () => {
    const res = await request(url("/nowhere"), { dispatcher: agent });
    expect(res.statusCode).toBe(404);
    expect(await res.body.text()).toBe("");
  });

  test("pipelined requests answered locally within one read leave whole and in order, each head before its body", async () => {
    // All answered while the one read is handled: on Bun their heads and bodies share one
    // event's write buffer (event-arena.ts), with the later heads behind earlier bodies.
    const paths = ["/direct", "/old/a", "/direct", "/nowhere", "/direct", "/old/b"];
    const requests = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`).join("") + "GET /direct HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    const { text, closed } = await rawExchange(port, requests);
    const responses = parseResponses(text);
    expect(responses.map((r) => r.status)).toEqual([200, 302, 200, 404, 200, 302, 200]);
    expect(responses.map((r) => r.body)).toEqual(["polyvoy is running\n", "", "polyvoy is running\n", "", "polyvoy is running\n", "", "polyvoy is running\n"]);
    expect(responses[1]!.headers.location).toBe("http://h/new");
    expect(responses[5]!.headers.location).toBe("http://h/new");
    expect(closed).toBe(true);
  });

  test("direct_response and redirect", async () => {
    const direct = await request(url("/direct"), { dispatcher: agent });
    expect(direct.statusCode).toBe(200);
    expect(await direct.body.text()).toBe("polyvoy is running\n");
    const redirect = await request(url("/old/x?y=1"), { dispatcher: agent });
    expect(redirect.statusCode).toBe(302);
    await redirect.body.text();
    expect(redirect.headers.location).toBe(`http://127.0.0.1:${port}/new?y=1`);
  });

  test("503 'no healthy upstream' for a cluster without hosts (UH)", async () => {
    const res = await request(url("/empty"), { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe("no healthy upstream");
  });

  test("503 with Envoy's connect-failure body when the upstream refuses (UF)", async () => {
    const res = await request(url("/dead"), { dispatcher: agent });
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe(
      "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure",
    );
  });

  test("504 'upstream request timeout' after the route timeout (UT)", async () => {
    const started = Date.now();
    const res = await request(url("/slow"), { dispatcher: agent });
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toBe("upstream request timeout");
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  test("curl sees the same", async () => {
    // Async: the upstreams live in this process and must keep answering while curl runs.
    const { stdout: out } = await execFileAsync("curl", ["-s", "-i", url("/service/1/curl")], { encoding: "utf8" });
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out).toMatch(/\r\nserver: envoy\r\n/);
    expect(out.endsWith("service1 GET /service/1/curl")).toBe(true);
  });

  test("1000 sequential keep-alive requests use few upstream connections", async () => {
    const before = service1.connections;
    for (let i = 0; i < 1000; i++) {
      const res = await request(url(`/service/1/${i}`), { dispatcher: agent });
      expect(await res.body.text()).toBe(`service1 GET /service/1/${i}`);
    }
    expect(service1.connections - before).toBeLessThanOrEqual(2);
  });
});
