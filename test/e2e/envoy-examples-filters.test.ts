/**
 * Envoy's HTTP filter examples (test/fixtures/envoy-examples: csrf, cors, ext_authz, ext_proc, rbac,
 * brotli, cache, route-mirror, websocket, CONNECT) served on every runtime as written but for where
 * things are (test/support/envoy-examples.ts), one proxy per config across its checks. What
 * each test checks is what the sandbox's verify.sh checks (envoyproxy/envoy examples/…/verify.sh),
 * against real upstreams standing in for the sandbox's containers: node:http services that
 * answer as the sandbox's do, the ext_authz example's own HTTP authorization service (its
 * server.js logic and users.json), a gRPC Authorization service in OPA's place that applies
 * the example's policy.rego (GET allowed with x-current-user: OPA, the rest denied), ws
 * servers in websocat's place.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { brotliDecompressSync } from "node:zlib";
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import WebSocket, { WebSocketServer } from "ws";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { adminStats } from "../support/tls-probe.ts";
import { ProxyProcess, RUNTIMES, type RuntimeName, startNodeFrom } from "../support/proxy-process.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { exampleCerts, httpsRequest, localize, slowMachine, type Json, type Localized } from "../support/envoy-examples.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain HTTP request as verify.sh's curl sends it (no agent: a connection of its own). */
function send(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { host: `localhost:${port}`, ...options.headers }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

/** The proxy for `localized`, stopped after the describe block's tests (one proxy per config across its checks). */
function serve(runtime: RuntimeName, make: () => Promise<Localized>): { at: Localized; proxy: ProxyProcess } {
  const served = {} as { at: Localized; proxy: ProxyProcess };
  beforeAll(async () => {
    served.at = await make();
    served.proxy = await ProxyProcess.start(runtime, served.at.config);
  });
  afterAll(async () => {
    await served.proxy?.stop();
  });
  return served;
}

/** A server's port once it listens on 127.0.0.1. */
async function listening(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

describe.each(RUNTIMES)("Envoy's filter examples on %s", (runtime) => {
  describe("csrf: samesite enforces CSRF per route (disabled, shadow, enabled, additional_origin) behind CORS; crosssite serves the page", () => {
    let service: HttpUpstream;
    // The sandbox's service: the demo page, and "Success" for a submitted form.
    beforeAll(async () => {
      service = await httpUpstream((req, res) => res.end(req.method === "POST" ? "Success" : "<html><title>Envoy CSRF Demo</title></html>"));
    });
    afterAll(() => service?.close());
    const samesite = serve(runtime, () => localize("csrf/samesite/envoy.yaml", { service: service.port }));
    const crosssite = serve(runtime, () => localize("csrf/crosssite/envoy.yaml", { service: service.port }));

    test("both proxies serve the page; the stats server answers", async () => {
      expect((await send(crosssite.at.port(10000), "/")).body).toContain("Envoy CSRF Demo");
      expect((await send(samesite.at.port(10000), "/")).body).toContain("Envoy CSRF Demo");
      expect((await send(samesite.at.port(8001), "/stats")).body).toContain(":");
    });

    test("a POST from http://example.com: disabled and shadow pass, enabled is 403 Invalid origin, additional_origin passes; csrf stats count it", async () => {
      const port = samesite.at.port(10000);
      const post = (path: string) => send(port, path, { method: "POST", headers: { origin: "http://example.com" } });
      for (const path of ["/csrf/disabled", "/csrf/shadow", "/csrf/additional_origin"]) {
        const reply = await post(path);
        expect([path, reply.status, reply.body, reply.headers["access-control-allow-origin"]]).toEqual([path, 200, "Success", "http://example.com"]);
      }
      const enabled = await post("/csrf/enabled");
      expect([enabled.status, enabled.body]).toEqual([403, "Invalid origin"]);
      const stats = await adminStats(samesite.at.port(8001));
      // Envoy's CsrfFilter: a disabled route counts nothing; shadow and enabled count an invalid origin; additional_origin a valid one.
      expect([stats.get("http.ingress_http.csrf.request_invalid"), stats.get("http.ingress_http.csrf.request_valid")]).toEqual([2, 1]);
      expect((await send(samesite.at.port(8001), "/stats?filter=ingress_http")).body).toContain("ingress_http.csrf");
    });
  });

  describe("cors: the frontend serves the page; the backend's routes are open, disabled, restricted to *.envoyproxy.io", () => {
    let frontend: HttpUpstream;
    let backend: HttpUpstream;
    beforeAll(async () => {
      frontend = await httpUpstream((_, res) => res.end("<html><title>Envoy CORS Webpage</title></html>"));
      backend = await httpUpstream((_, res) => res.end("Success"));
    });
    afterAll(async () => {
      await Promise.all([frontend?.close(), backend?.close()]);
    });
    const front = serve(runtime, () => localize("cors/frontend/envoy.yaml", { "frontend-service": frontend.port }));
    const back = serve(runtime, () => localize("cors/backend/envoy.yaml", { "backend-service": backend.port }));

    test("verify.sh's requests", async () => {
      expect((await send(front.at.port(10000), "/")).body).toContain("Envoy CORS Webpage");
      const port = back.at.port(10000);
      const from = (origin: string, path: string) => send(port, path, { headers: { origin } });
      const disabled = await from("http://example.com", "/cors/disabled");
      expect([disabled.body, disabled.headers["access-control-allow-origin"]]).toEqual(["Success", undefined]);
      const open = await from("http://example.com", "/cors/open");
      expect([open.body, open.headers["access-control-allow-origin"]]).toEqual(["Success", "http://example.com"]);
      const restricted = await from("http://example.com", "/cors/restricted");
      expect([restricted.body, restricted.headers["access-control-allow-origin"]]).toEqual(["Success", undefined]);
      const allowed = await from("http://foo.envoyproxy.io", "/cors/restricted");
      expect([allowed.body, allowed.headers["access-control-allow-origin"]]).toEqual(["Success", "http://foo.envoyproxy.io"]);
      expect((await send(back.at.port(8001), "/stats?filter=ingress_http")).body).toContain("ingress_http.cors");
    });

    test("a preflight from any origin to /cors/open is answered by the proxy, not the backend", async () => {
      const preflight = await send(back.at.port(10000), "/cors/open", { method: "OPTIONS", headers: { origin: "http://example.com", "access-control-request-method": "GET" } });
      expect([preflight.status, preflight.headers["access-control-allow-origin"], preflight.headers["access-control-allow-methods"]]).toEqual([200, "http://example.com", "GET"]);
      expect(backend.requests.some((r) => r.method === "OPTIONS")).toBe(false);
    });
  });

  describe("ext_authz", () => {
    // The sandbox's users.json: token → user.
    const users: Record<string, string> = { token1: "user1", token2: "user2", token3: "user3" };
    let upstream: HttpUpstream;
    beforeAll(async () => {
      upstream = await httpUpstream((req, res) => res.end(`Hello ${req.headers["x-current-user"] ?? "nobody"} from behind Envoy!`));
    });
    afterAll(() => upstream?.close());

    /**
     * The example's 0.25 s authorization timeout raised to 5 s: a loaded test machine can take
     * longer than that, and a timed-out check is a 403 like a denied one.
     */
    const slowAuthz = (config: Json) => {
      const filter = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config;
      if (filter.http_service) filter.http_service.server_uri.timeout = "5s";
      else filter.grpc_service.timeout = "5s";
    };

    describe("http-service: the example's HTTP authorization service (a Bearer token from users.json, its user sent upstream as x-current-user)", () => {
      let authz: HttpUpstream;
      beforeAll(async () => {
        // auth/http-service/server.js: 200 with x-current-user for a known token, 403 otherwise.
        authz = await httpUpstream((req, res) => {
          const [scheme, token] = String(req.headers.authorization ?? "").split(" ");
          const user = scheme === "Bearer" && token !== undefined ? users[token] : undefined;
          if (user !== undefined) res.writeHead(200, { "x-current-user": user });
          else res.writeHead(403);
          res.end();
        });
      });
      afterAll(() => authz?.close());
      const proxy = serve(runtime, () => localize("ext_authz/config/http-service.yaml", { "upstream-service": upstream.port, "ext_authz-http-service": authz.port }, slowAuthz));

      test("no token: 403; Bearer token1: 200, the upstream sees x-current-user: user1", async () => {
        expect((await send(proxy.at.port(8000), "/service")).status).toBe(403);
        const allowed = await send(proxy.at.port(8000), "/service", { headers: { authorization: "Bearer token1" } });
        expect([allowed.status, allowed.body]).toEqual([200, "Hello user1 from behind Envoy!"]);
        // The check request is the client's, path included (Envoy's raw HTTP check).
        expect(authz.requests.at(-1)).toMatchObject({ method: "GET", url: "/service" });
      });
    });

    describe("grpc-service: a gRPC Authorization service as the example's auth/grpc-service (auth/v3/auth.go)", () => {
      let authz: { port: number; close(): void };
      beforeAll(async () => {
        authz = await startEnvoyGrpcService("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3.Authorization", {
          Check: (call: grpc.ServerUnaryCall<{ attributes: { request?: { http?: { headers?: Record<string, string> } } } }, object>, callback: grpc.sendUnaryData<object>) => {
            // strings.Fields(authorization): "Bearer <token>" with a known token is OK with x-current-user, the rest PERMISSION_DENIED.
            const fields = (call.request.attributes.request?.http?.headers?.["authorization"] ?? "").split(/\s+/).filter((f) => f !== "");
            const user = fields.length === 2 && fields[0] === "Bearer" ? users[fields[1]!] : undefined;
            if (user !== undefined) callback(null, { status: { code: 0 }, ok_response: { headers: [{ append: { value: false }, header: { key: "x-current-user", value: user } }] } });
            else callback(null, { status: { code: grpc.status.PERMISSION_DENIED } });
          },
        });
      });
      afterAll(() => authz?.close());
      const proxy = serve(runtime, () =>
        localize("ext_authz/config/grpc-service/v3.yaml", { "upstream-service": upstream.port, "ext_authz-grpc-service": authz.port }, (config) => {
          slowAuthz(config);
          slowMachine(config);
        }),
      );

      test("no token: 403; Bearer token2: 200, the upstream sees x-current-user: user2", async () => {
        expect((await send(proxy.at.port(8000), "/service")).status).toBe(403);
        const allowed = await send(proxy.at.port(8000), "/service", { headers: { authorization: "Bearer token2" } });
        expect([allowed.status, allowed.body]).toEqual([200, "Hello user2 from behind Envoy!"]);
      });
    });

    describe("opa-service: a gRPC Authorization service applying the example's policy.rego in OPA's place", () => {
      let opa: { port: number; close(): void };
      const decisions: string[] = [];
      beforeAll(async () => {
        opa = await startEnvoyGrpcService("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3.Authorization", {
          Check: (call: grpc.ServerUnaryCall<{ attributes: { request?: { http?: { method: string } } } }, object>, callback: grpc.sendUnaryData<object>) => {
            const method = call.request.attributes.request?.http?.method;
            decisions.push(String(method));
            // package envoy.authz: allow = {"allowed": true, "headers": {"x-current-user": "OPA"}} if method == "GET"; default deny.
            if (method === "GET") callback(null, { status: { code: 0 }, ok_response: { headers: [{ header: { key: "x-current-user", value: "OPA" } }] } });
            else callback(null, { status: { code: grpc.status.PERMISSION_DENIED }, denied_response: { status: { code: "Forbidden" } } });
          },
        });
      });
      afterAll(() => opa?.close());
      const proxy = serve(runtime, () => localize("ext_authz/config/opa-service/v3.yaml", { "upstream-service": upstream.port, "ext_authz-opa-service": opa.port }, slowAuthz));

      test("GET: 200 with the policy's x-current-user; POST: 403", async () => {
        const get = await send(proxy.at.port(8000), "/service");
        expect([get.status, get.body]).toEqual([200, "Hello OPA from behind Envoy!"]);
        expect((await send(proxy.at.port(8000), "/service", { method: "POST" })).status).toBe(403);
        expect(decisions.slice(-2)).toEqual(["GET", "POST"]);
      });
    });
  });

  describe("ext_proc: a gRPC ExternalProcessor on a cluster without http2_protocol_options (the stream is HTTP/2 all the same)", () => {
    let upstream: HttpUpstream;
    let processor: { port: number; close(): void };
    beforeAll(async () => {
      upstream = await httpUpstream((req, res) => res.end(`Hello from upstream (x-ext-proc-request: ${req.headers["x-ext-proc-request"] ?? "-"})`));
      // A processor in the sandbox's place: it adds a request header, asks (mode_override, the
      // config's allow_mode_override) for the response body, adds a response header and
      // rewrites the body.
      type Req = { request_headers?: object; response_headers?: object; response_body?: { body?: Buffer } };
      processor = await startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
        Process: (call: grpc.ServerDuplexStream<Req, object>) => {
          call.on("data", (req: Req) => {
            const set = (key: string, value: string) => ({ header: { key, raw_value: Buffer.from(value) } });
            if (req.request_headers) {
              call.write({ request_headers: { response: { header_mutation: { set_headers: [set("x-ext-proc-request", "seen")] } } }, mode_override: { response_body_mode: "BUFFERED" } });
            } else if (req.response_headers) {
              call.write({ response_headers: { response: { header_mutation: { set_headers: [set("x-external-processor", "polyvoy-test")] } } } });
            } else if (req.response_body) {
              call.write({ response_body: { response: { body_mutation: { body: Buffer.from(String(req.response_body.body ?? "").toUpperCase()) } } } });
            }
          });
          call.on("end", () => call.end());
          call.on("error", () => {});
        },
      });
    });
    afterAll(() => {
      processor?.close();
      return upstream?.close();
    });
    const proxy = serve(runtime, () =>
      localize("ext_proc/config/envoy.yaml", {}, (config) => {
        // The example's endpoints are 127.0.0.1:10001 (the upstream) and :10002 (the processor).
        for (const cluster of config.static_resources.clusters) {
          const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
          address.port_value = cluster.name === "processor" ? processor.port : upstream.port;
        }
        slowMachine(config);
      }),
    );

    test("the processor's request header reaches the upstream; its response header and body reach the client", async () => {
      const reply = await send(proxy.at.port(10000), "/");
      expect(reply.status).toBe(200);
      expect(reply.headers["x-external-processor"]).toBe("polyvoy-test");
      expect(reply.body).toBe("HELLO FROM UPSTREAM (X-EXT-PROC-REQUEST: SEEN)");
    });
  });

  describe("rbac: the matcher form denies a request whose Referer is not Envoy's docs", () => {
    let backend: HttpUpstream;
    beforeAll(async () => {
      backend = await httpUpstream((_, res) => res.end("Hello from the backend\n"));
    });
    afterAll(() => backend?.close());
    const proxy = serve(runtime, () => localize("rbac/envoy.yaml", { backend: backend.port }));

    test("no Referer: 403 RBAC: access denied; a docs Referer passes; the rbac stats count both", async () => {
      const denied = await send(proxy.at.port(10000), "/");
      expect([denied.status, denied.body]).toEqual([403, "RBAC: access denied"]);
      const allowed = await send(proxy.at.port(10000), "/", { headers: { referer: "https://www.envoyproxy.io/docs/envoy" } });
      expect([allowed.status, allowed.body]).toEqual([200, "Hello from the backend\n"]);
      expect(backend.requests).toHaveLength(1);
      const stats = await adminStats(proxy.at.port(10001));
      expect([stats.get("http.ingress_http.rbac.allowed"), stats.get("http.ingress_http.rbac.denied")]).toEqual([1, 1]);
    });
  });

  describe("route-mirror: /service/1 mirrored to service1-mirror, /service/2 to the cluster named by x-mirror-cluster", () => {
    const names = ["service1", "service1-mirror", "service2", "service2-mirror"] as const;
    const services = {} as Record<(typeof names)[number], HttpUpstream>;
    beforeAll(async () => {
      for (const name of names) services[name] = await httpUpstream((_, res) => res.end(`Hello from behind Envoy (${name.replace("service", "service ")})!\n`));
    });
    afterAll(async () => {
      await Promise.all(names.map((name) => services[name]?.close()));
    });
    const proxy = serve(runtime, () => localize("route-mirror/envoy.yaml", Object.fromEntries(names.map((name) => [name, services[name].port]))));

    test("the mirror gets the request with Host: localhost-shadow:<port>; a missing or unknown x-mirror-cluster mirrors nothing", async () => {
      const port = proxy.at.port(10000);
      const seen = (name: (typeof names)[number]) => services[name].requests.map((r) => `${r.method} ${r.headers.host}`);
      expect((await send(port, "/service/1")).body).toBe("Hello from behind Envoy (service 1)!\n");
      expect(seen("service1")).toEqual([`GET localhost:${port}`]);
      await expect.poll(() => seen("service1-mirror"), { timeout: 10_000 }).toEqual([`GET localhost-shadow:${port}`]);
      expect((await send(port, "/service/2", { headers: { "x-mirror-cluster": "service2-mirror" } })).body).toBe("Hello from behind Envoy (service 2)!\n");
      await expect.poll(() => seen("service2-mirror"), { timeout: 10_000 }).toEqual([`GET localhost-shadow:${port}`]);
      expect((await send(port, "/service/2")).body).toBe("Hello from behind Envoy (service 2)!\n");
      expect((await send(port, "/service/2", { headers: { "x-mirror-cluster": "service2-mirror-non-existent" } })).body).toBe("Hello from behind Envoy (service 2)!\n");
      expect(seen("service2")).toHaveLength(3);
      // A mirror is sent before the main request's answer comes back: by now any would have arrived.
      expect(seen("service2-mirror")).toHaveLength(1);
      expect(seen("service1-mirror")).toHaveLength(1);
    });
  });

  describe("cache: valid-for-minute served from the cache with age, then validated; private always from the origin; no-cache validated each time", () => {
    // The sandbox's service (examples/cache/service.py) with its responses.yaml, the lifetime
    // shortened as its CI's ci-responses.yaml does: the body says when it was generated; the
    // etag is the SHA-1 of the response's text in responses.yaml, without the time (the
    // sandbox's docs), so a validation naming it is answered 304.
    const RESPONSES: Record<string, { body: string; headers: Record<string, string> }> = {
      "valid-for-minute": { body: "This response will stay fresh for one minute", headers: { "cache-control": "max-age=1", "custom-header": "any value" } },
      private: { body: "This is a private response, it will not be cached by Envoy", headers: { "cache-control": "private" } },
      "no-cache": { body: "This response can be cached, but it has to be validated on each request", headers: { "cache-control": "max-age=0, no-cache" } },
    };
    let service: HttpUpstream;
    beforeAll(async () => {
      service = await httpUpstream((req, res) => {
        const stored = RESPONSES[req.url.split("/")[3] ?? ""];
        if (stored === undefined) return void res.writeHead(404).end();
        // One clock read for the body and the Date header: node:http's own Date is cached per
        // second and could name the second before the body's.
        const now = new Date().toUTCString();
        const body = `${stored.body}\nResponse generated at: ${now}\n`;
        const etag = `"${createHash("sha1").update(stored.body).digest("hex")}"`;
        res.setHeader("date", now);
        for (const [name, value] of Object.entries(stored.headers)) res.setHeader(name, value);
        res.setHeader("etag", etag);
        if (req.headers["if-none-match"] === etag) return void res.writeHead(304).end();
        res.end(body);
      });
    });
    afterAll(() => service?.close());
    const proxy = serve(runtime, () => localize("cache/envoy.yaml", { service1: service.port, service2: service.port }));
    /** verify.sh's checks: the date header's time against the body's generation time, and the age header. */
    const times = (reply: Reply) => [reply.headers.date!.match(/\d\d:\d\d:\d\d/)![0], reply.body.match(/\d\d:\d\d:\d\d/)![0]];
    const fromOrigin = (reply: Reply) => {
      const [date, generated] = times(reply);
      expect([reply.status, date, reply.headers.age]).toEqual([200, generated, undefined]);
    };
    const validated = (reply: Reply) => {
      const [date, generated] = times(reply);
      expect([reply.status, date === generated, reply.headers.age]).toEqual([200, false, undefined]);
    };
    const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    test("verify.sh's requests", async () => {
      const port = proxy.at.port(8000);
      fromOrigin(await send(port, "/service/1/valid-for-minute"));
      const cached = await send(port, "/service/1/valid-for-minute");
      expect([cached.status, cached.headers.age !== undefined, cached.headers["custom-header"]]).toEqual([200, true, "any value"]);
      // Past its lifetime (and into another second of the clock): validated, served with the 304's date.
      await later(2100);
      validated(await send(port, "/service/1/valid-for-minute"));
      for (let i = 0; i < 4; i++) fromOrigin(await send(port, "/service/1/private"));
      fromOrigin(await send(port, "/service/1/no-cache"));
      for (let i = 0; i < 2; i++) {
        await later(1100);
        validated(await send(port, "/service/1/no-cache"));
      }
      const asked = (id: string) => service.requests.filter((r) => r.url === `/service/1/${id}`).map((r) => r.headers["if-none-match"] !== undefined);
      expect([asked("valid-for-minute"), asked("private").length, asked("no-cache")]).toEqual([[false, true], 4, [false, true, true]]);
    });
  });

  describe("brotli: JSON over 100 bytes brotli-compressed on :10000, the admin's text stats through :9902 (both HTTPS)", () => {
    let service: HttpUpstream;
    const document = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) });
    beforeAll(async () => {
      // The sandbox's service: file.json and file.txt, each well over min_content_length.
      service = await httpUpstream((req, res) => {
        res.setHeader("content-type", req.url === "/file.json" ? "application/json" : "text/plain");
        res.end(document);
      });
    });
    afterAll(() => service?.close());
    const proxy = serve(runtime, () => localize("brotli/envoy.yaml", { service: service.port }));

    test("content-encoding: br for file.json (also when gzip is offered at a lower q), not for file.txt, nor from the admin itself", async () => {
      const get = (port: number, path: string, acceptEncoding: string) => httpsRequest(proxy.at.port(port), path, { "accept-encoding": acceptEncoding });
      const json = await get(10000, "/file.json", "br");
      expect([json.status, json.headers["content-encoding"]]).toEqual([200, "br"]);
      expect(brotliDecompressSync(json.body).toString()).toBe(document);
      expect((await get(10000, "/file.json", "gzip;q=0.5, br")).headers["content-encoding"]).toBe("br");
      const text = await get(10000, "/file.txt", "br");
      expect([text.headers["content-encoding"], text.body.toString()]).toEqual([undefined, document]);
      // The admin on :9901 is plain HTTP here as in the sandbox; its stats through :9902 are compressed.
      const admin = await send(proxy.at.port(9901), "/stats/prometheus", { headers: { "accept-encoding": "br" } });
      expect([admin.status, admin.headers["content-encoding"]]).toEqual([200, undefined]);
      const stats = await get(9902, "/stats/prometheus", "br");
      expect([stats.status, stats.headers["content-encoding"]]).toEqual([200, "br"]);
      expect(brotliDecompressSync(stats.body).toString()).toMatch(/^# TYPE envoy_/m);
    });
  });

  describe("websocket: ws → ws, wss → wss, wss → ws, wss passed through by tcp_proxy (the sandbox's proxies)", () => {
    const certs = exampleCerts();
    let plain: http.Server;
    let secure: https.Server;
    const servers: WebSocketServer[] = [];
    const ports = { ws: 0, wss: 0 };
    beforeAll(async () => {
      plain = http.createServer((_, res) => res.end("not a websocket\n"));
      secure = https.createServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) }, (_, res) => res.end("not a websocket\n"));
      // websocat's echo as verify.sh expects it: each message back, prefixed by the backend's name.
      for (const [name, server] of [["ws", plain], ["wss", secure]] as const) {
        const wss = new WebSocketServer({ server });
        wss.on("connection", (socket) => socket.on("message", (data) => socket.send(`[${name}] ${data.toString()}`)));
        servers.push(wss);
      }
      ports.ws = await listening(plain);
      ports.wss = await listening(secure);
    });
    afterAll(async () => {
      for (const wss of servers) for (const client of wss.clients) client.terminate();
      for (const server of [plain, secure]) {
        server?.closeAllConnections();
        await new Promise((resolve) => server?.close(resolve));
      }
    });
    const ws = serve(runtime, () => localize("websocket/envoy-ws.yaml", { "service-ws": ports.ws }, slowMachine));
    const wss = serve(runtime, () => localize("websocket/envoy-wss.yaml", { "service-wss": ports.wss }, slowMachine));
    const wssWs = serve(runtime, () => localize("websocket/envoy-wss-ws.yaml", { "service-ws": ports.ws }, slowMachine));
    const passthrough = serve(runtime, () => localize("websocket/envoy-wss-passthrough.yaml", { "service-wss": ports.wss }));

    /** verify.sh's interact_ws: HELO answered by the backend, then another message on the same socket. */
    async function interact(url: string): Promise<string[]> {
      const socket = new WebSocket(url, { ca: readFileSync(certs.ca) });
      const received: string[] = [];
      socket.on("message", (data) => received.push(data.toString()));
      await new Promise<void>((resolve, reject) => {
        socket.on("open", resolve);
        socket.on("error", reject);
      });
      socket.send("HELO");
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1);
      socket.send("GOODBYE");
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(2);
      socket.close();
      return received;
    }

    test("each proxy carries the conversation", async () => {
      expect(await interact(`ws://127.0.0.1:${ws.at.port(10000)}`)).toEqual(["[ws] HELO", "[ws] GOODBYE"]);
      expect(await interact(`wss://127.0.0.1:${wss.at.port(10000)}`)).toEqual(["[wss] HELO", "[wss] GOODBYE"]);
      expect(await interact(`wss://127.0.0.1:${wssWs.at.port(10000)}`)).toEqual(["[ws] HELO", "[ws] GOODBYE"]);
      expect(await interact(`wss://127.0.0.1:${passthrough.at.port(10000)}`)).toEqual(["[wss] HELO", "[wss] GOODBYE"]);
    });
  });

  describe("configs/proxy_connect: a CONNECT on :10001 forwarded to the upstream on :10002 (the route's connect_config: its payload as raw TCP)", () => {
    let upstream: net.Server;
    let upstreamPort = 0;
    beforeAll(async () => {
      // The upstream on 127.0.0.1:10002: a TCP echo server.
      upstream = net.createServer((socket) => {
        socket.on("error", () => {});
        socket.on("data", (data) => socket.write(data));
        socket.on("end", () => socket.end());
      });
      upstreamPort = await listening(upstream);
    });
    afterAll(async () => {
      await new Promise((resolve) => upstream?.close(resolve));
    });
    const proxy = serve(runtime, () =>
      localize("configs/proxy_connect.yaml", {}, (config) => {
        // cluster_0 is 127.0.0.1:10002 in the example: the test's upstream there.
        config.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = upstreamPort;
      }),
    );

    test("the client gets 200 and its bytes come back through the tunnel", async () => {
      const socket = net.connect(proxy.at.port(10001), "127.0.0.1");
      let received = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.endsWith("\r\n\r\n") && received.startsWith("HTTP/1.1 200")) socket.write("through the tunnel");
      });
      socket.write("CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n");
      try {
        await expect.poll(() => received.endsWith("through the tunnel"), { timeout: 10_000, message: `${received}\n${proxy.proxy.stderr.slice(-3000)}` }).toBe(true);
        expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      } finally {
        socket.destroy();
      }
    });
  });
});
