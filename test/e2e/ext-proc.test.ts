/**
 * ext_proc on every runtime: a real @grpc/grpc-js ExternalProcessor (Envoy's
 * external_processor.proto, loaded with @grpc/proto-loader) on a cluster without
 * http2_protocol_options (the stream is HTTP/2 anyway, as the Envoy example needs), a
 * node:http upstream. Headers added on the way in and out, a buffered request body
 * replaced, an immediate response, a message timeout (504, and with failure_mode_allow),
 * the processor's server down (500, and with failure_mode_allow), a message out of turn (500,
 * and with failure_mode_allow), stats.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";

interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}
interface ProcessingRequest {
  request_headers?: { headers?: { headers?: HeaderValue[] }; end_of_stream?: boolean };
  response_headers?: { headers?: { headers?: HeaderValue[] } };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer };
}

function header(headers: HeaderValue[] | undefined, name: string): string | undefined {
  const h = headers?.find((x) => x.key === name);
  return h === undefined ? undefined : (h.raw_value?.toString("latin1") ?? h.value);
}

const set = (key: string, value: string) => ({ header: { key, raw_value: Buffer.from(value) } });

/** The processor: what it does depends on the request's path. */
async function startProcessor(): Promise<{ port: number; received: ProcessingRequest[]; lateEnd: { ended: number }; close(): void }> {
  const received: ProcessingRequest[] = [];
  // Calls for /late-end, ended by the processor 100 ms after the proxy's half-close.
  const lateEnd = { ended: 0 };
  const service = await startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, object>) => {
      let path = "";
      call.on("data", (req: ProcessingRequest) => {
        received.push(req);
        if (req.request_headers) {
          path = header(req.request_headers.headers?.headers, ":path") ?? "";
          if (path === "/slow") return;
          if (path === "/immediate") {
            call.write({ immediate_response: { status: { code: 403 }, headers: { set_headers: [set("x-why", "blocked")] }, body: Buffer.from("blocked by processor"), details: "blocked by processor" } });
            return;
          }
          if (path === "/spurious") {
            call.write({ response_body: { response: {} } });
            return;
          }
          call.write({ request_headers: { response: { header_mutation: { set_headers: [set("x-ext-in", "yes"), set("host", "evil")], remove_headers: ["x-drop"] } } } });
        } else if (req.request_body) {
          call.write({ request_body: { response: { body_mutation: { body: Buffer.from(`replaced(${req.request_body.body?.toString() ?? ""})`) } } } });
        } else if (req.response_headers) {
          call.write({ response_headers: { response: { header_mutation: { set_headers: [set("x-ext-out", "yes")] } } } });
        } else {
          call.write({});
        }
      });
      call.on("end", () => {
        if (path !== "/late-end") return call.end();
        setTimeout(() => {
          lateEnd.ended++;
          call.end();
        }, 100);
      });
      call.on("error", () => {});
    },
  });
  return { ...service, received, lateEnd };
}

function extProc(cluster: string, extra: Record<string, unknown>): object {
  return {
    name: "envoy.filters.http.ext_proc",
    typed_config: { "@type": EXT_PROC, grpc_service: { envoy_grpc: { cluster_name: cluster } }, message_timeout: "0.5s", ...extra },
  };
}

describe.each(RUNTIMES)("ext_proc on %s", (runtime) => {
  let echo: HttpUpstream;
  let processor: Awaited<ReturnType<typeof startProcessor>>;
  let proxy: ProxyProcess;
  let adminPort: number;
  const urls: Record<string, string> = {};

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => {
      const body = req.body.toString();
      res.setHeader("x-upstream", "1");
      res.end(`${req.method} ${req.url} in=${req.headers["x-ext-in"] ?? "-"} drop=${req.headers["x-drop"] ?? "-"} host=${req.headers.host} len=${req.headers["content-length"] ?? "-"} body=${body}`);
    });
    processor = await startProcessor();
    const deadPort = await freePort();
    adminPort = await freePort();
    const names = ["main", "allow", "down", "down_allow", "google", "routing"];
    const ports: Record<string, number> = {};
    for (const name of names) {
      ports[name] = await freePort();
      urls[name] = `http://127.0.0.1:${ports[name]}`;
    }
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = httpProxyConfig({
      listenPort: ports.main!,
      clusters: { echo: [echo.port], processor: [processor.port], dead: [deadPort] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: { http_filters: [extProc("processor", { processing_mode: { request_body_mode: "BUFFERED" } }), router] },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[] } };
    const listener = config.static_resources.listeners[0]!;
    const variant = (name: string, filter: object) => {
      const copy = structuredClone(listener);
      copy.name = name;
      copy.address = { socket_address: { address: "127.0.0.1", port_value: ports[name] } };
      const hcm = copy.filter_chains[0]!.filters[0]!.typed_config;
      hcm.stat_prefix = name;
      hcm.http_filters = [filter, router];
      return copy;
    };
    config.static_resources.listeners.push(variant("allow", extProc("processor", { failure_mode_allow: true })));
    config.static_resources.listeners.push(variant("down", extProc("dead", {})));
    config.static_resources.listeners.push(variant("down_allow", extProc("dead", { failure_mode_allow: true })));
    // The processor named by a google_grpc target_uri rather than a cluster.
    const google = extProc("unused", {}) as { typed_config: Record<string, unknown> };
    google.typed_config.grpc_service = { google_grpc: { target_uri: `127.0.0.1:${processor.port}`, stat_prefix: "proc_google" } };
    config.static_resources.listeners.push(variant("google", google));
    // HeaderMutationRules: host may be changed; removing x-drop may not.
    config.static_resources.listeners.push(variant("routing", extProc("processor", { mutation_rules: { allow_all_routing: true, disallow_expression: { regex: "x-drop" } } })));
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    processor?.close();
  });

  test("headers added on the way in and out; host and x-envoy-* are not the processor's to change", async () => {
    const response = await request(urls.main + "/add", { headers: { "x-drop": "me" } });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-ext-out"]).toBe("yes");
    expect(response.headers["x-upstream"]).toBe("1");
    const body = await response.body.text();
    expect(body).toContain("GET /add in=yes drop=- ");
    // Envoy's default mutation rules: host is a routing header, its mutation ignored.
    expect(body).toContain(`host=${urls.main!.slice("http://".length)}`);
  });

  test("a processor reached through google_grpc: its header mutations apply; grpc.<stat_prefix>.streams_total counts the stream", async () => {
    const response = await request(urls.google + "/add", { headers: { "x-drop": "me" } });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-ext-out"]).toBe("yes");
    expect(await response.body.text()).toContain("GET /add in=yes drop=- ");
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=^grpc\\.proc_google\\.`)).body.text();
    expect(stats).toContain("grpc.proc_google.streams_total: 1");
  });

  test("mutation_rules: allow_all_routing lets the processor change host; a disallow_expression refusal is ignored and counted", async () => {
    const response = await request(urls.routing + "/add", { headers: { "x-drop": "me" } });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toContain("GET /add in=yes drop=me host=evil ");
    expect((await adminStats(adminPort)).get("http.routing.ext_proc.rejected_header_mutations")).toBe(1);
  });

  test("a buffered request body is replaced (content-length follows)", async () => {
    const seen = processor.received.length;
    const response = await request(urls.main + "/body", { method: "POST", body: "hello" });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toContain("POST /body in=yes drop=- host=127.0.0.1:");
    const bodies = processor.received.slice(seen).filter((r) => r.request_body);
    expect(bodies.map((r) => r.request_body!.body?.toString())).toEqual(["hello"]);
    const again = await request(urls.main + "/body", { method: "POST", body: "abc" });
    expect(await again.body.text()).toMatch(/len=13 body=replaced\(abc\)$/);
  });

  test("an immediate response is the client's answer", async () => {
    const response = await request(urls.main + "/immediate");
    expect(response.statusCode).toBe(403);
    expect(response.headers["x-why"]).toBe("blocked");
    expect(await response.body.text()).toBe("blocked by processor");
  });

  test("a message timeout is a 504; with failure_mode_allow the request goes on", async () => {
    const response = await request(urls.main + "/slow");
    expect(response.statusCode).toBe(504);
    await response.body.text();
    const allowed = await request(urls.allow + "/slow");
    expect(allowed.statusCode).toBe(200);
    expect(await allowed.body.text()).toContain("GET /slow in=-");
  });

  test("a spurious message: a 500 (Envoy's ext_proc_fail_close_spurious_resp); with failure_mode_allow the processor is ignored for the rest of the request", async () => {
    const failed = await request(urls.main + "/spurious");
    expect(failed.statusCode).toBe(500);
    await failed.body.text();
    const response = await request(urls.allow + "/spurious");
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-ext-out"]).toBeUndefined();
    expect(await response.body.text()).toContain("GET /spurious in=-");
  });

  test("the processor down: 500, or the request goes on with failure_mode_allow", async () => {
    const response = await request(urls.down + "/x");
    expect(response.statusCode).toBe(500);
    await response.body.text();
    const allowed = await request(urls.down_allow + "/x");
    expect(allowed.statusCode).toBe(200);
    expect(await allowed.body.text()).toContain("GET /x in=-");
  });

  test("a finished request's stream is half-closed and ended by the processor, not reset (a reset per request trips HTTP/2 servers' rapid-reset guards)", async () => {
    const resets = async () => (await adminStats(adminPort)).get("cluster.processor.http2.tx_reset") ?? 0;
    const before = await resets();
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${urls.main}/late-end`);
      expect(response.status).toBe(200);
      await response.text();
    }
    // The processor ends each call 100 ms after the proxy's half-close.
    for (let i = 0; i < 200 && processor.lateEnd.ended < 5; i++) await new Promise((r) => setTimeout(r, 20));
    expect(processor.lateEnd.ended).toBe(5);
    expect(await resets()).toBe(before);
  });

  test("stats under http.<prefix>.ext_proc.", async () => {
    const stats = await adminStats(adminPort);
    expect(stats.get("http.ingress_http.ext_proc.streams_started")).toBeGreaterThanOrEqual(6);
    expect(stats.get("http.ingress_http.ext_proc.message_timeouts")).toBe(1);
    expect(stats.get("http.ingress_http.ext_proc.spurious_msgs_received")).toBe(1);
    expect(stats.get("http.ingress_http.ext_proc.rejected_header_mutations")).toBeGreaterThanOrEqual(1);
    // The message timeout's and the spurious message's.
    expect(stats.get("http.allow.ext_proc.failure_mode_allowed")).toBe(2);
    expect(stats.get("http.allow.ext_proc.spurious_msgs_received")).toBe(1);
    expect(stats.get("http.down.ext_proc.streams_failed")).toBe(1);
    expect(stats.get("http.down_allow.ext_proc.failure_mode_allowed")).toBe(1);
  });
});
