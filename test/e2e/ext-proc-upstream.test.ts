/**
 * ext_proc as an upstream HTTP filter on every runtime (Envoy registers it upstream too:
 * ext_proc/config.cc UpstreamExternalProcessingFilterConfig), with a real @grpc/grpc-js
 * ExternalProcessor: in the router's upstream_http_filters and in a cluster's http_filters,
 * the processor's request header reaches the origin and its response header the client;
 * an immediate response is ignored upstream (the attempt waits for the route's timeout); the
 * stats count at the root (`ext_proc.…`) for the router's, under `cluster.<name>.cluster.<name>.`
 * for the cluster's, as Envoy names them.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import type * as http from "node:http";
import { request } from "undici";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService, type EnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { adminStats } from "../support/admin-stats.ts";

const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const CODEC = { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } };
const EXT_PROC = {
  name: "envoy.filters.http.ext_proc",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor", grpc_service: { envoy_grpc: { cluster_name: "processor" } }, message_timeout: "1s" },
};

interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}
const set = (key: string, value: string) => ({ header: { key, raw_value: Buffer.from(value) } });
const pathOf = (headers: HeaderValue[] | undefined) => {
  const h = headers?.find((x) => x.key === ":path");
  return h === undefined ? "" : (h.raw_value?.toString("latin1") ?? h.value ?? "");
};

async function startProcessor(): Promise<EnvoyGrpcService> {
  return startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
    Process: (call: grpc.ServerDuplexStream<{ request_headers?: { headers?: { headers?: HeaderValue[] } }; response_headers?: object }, object>) => {
      call.on("data", (req) => {
        if (req.request_headers) {
          const path = pathOf(req.request_headers.headers?.headers);
          if (path.startsWith("/deny")) {
            call.write({ immediate_response: { status: { code: 403 }, body: Buffer.from("denied upstream"), details: "denied" } });
            return;
          }
          // clear_route_cache: an upstream filter has no route cache to clear (clear_route_cache_upstream_ignored).
          call.write({ request_headers: { response: { header_mutation: { set_headers: [set("x-from-processor", "in")] }, clear_route_cache: path.startsWith("/clear") } } });
        } else if (req.response_headers) {
          call.write({ response_headers: { response: { header_mutation: { set_headers: [set("x-processor-out", "yes")] } } } });
        } else {
          call.write({});
        }
      });
      call.on("end", () => call.end());
    },
  });
}

describe.each(RUNTIMES)("ext_proc as an upstream HTTP filter on %s", (runtime) => {
  let origin: HttpUpstream;
  let processor: EnvoyGrpcService;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    origin = await httpUpstream((req: { headers: http.IncomingHttpHeaders }, res: http.ServerResponse) => {
      res.end(`saw=${String(req.headers["x-from-processor"])}`);
    });
    processor = await startProcessor();
    port = await freePort();
    adminPort = await freePort();
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", upstream_http_filters: [EXT_PROC, CODEC] } };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { plain: [origin.port], own: [origin.port], processor: [processor.port] },
      routes: [
        { match: { prefix: "/own" }, cluster: "own" },
        { match: { prefix: "/deny" }, action: { route: { cluster: "plain", timeout: "1s" } } },
        { match: { prefix: "/" }, cluster: "plain" },
      ],
      hcm: { http_filters: [router] },
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    const own = config.static_resources.clusters.find((c) => c.name === "own")!;
    own.typed_extension_protocol_options = { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: [EXT_PROC, CODEC] } };
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    processor?.close();
    await origin?.close();
  });

  test("before any request, both lists' ext_proc stats exist at 0 (made as the cluster and the HCM load)", async () => {
    const stats = await adminStats(adminPort);
    expect(stats.get("cluster.own.ext_proc.streams_started")).toBe(0);
    expect(stats.get("ext_proc.streams_started")).toBe(0);
  });

  test("in the router's upstream_http_filters: the processor's headers reach the origin and the client; stats at the root (router.cc: the HCM context scope's prefix, \"\")", async () => {
    const res = await request(`http://127.0.0.1:${port}/plain`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("saw=in");
    expect(res.headers["x-processor-out"]).toBe("yes");
    const stats = await adminStats(adminPort);
    expect(stats.get("ext_proc.streams_started")).toBe(1);
  });

  test("in a cluster's http_filters: the same, its stats under the cluster's scope twice (upstream_impl.cc: scope and prefix both the cluster's)", async () => {
    const res = await request(`http://127.0.0.1:${port}/own`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("saw=in");
    expect(res.headers["x-processor-out"]).toBe("yes");
    const stats = await adminStats(adminPort);
    expect(stats.get("cluster.own.ext_proc.streams_started")).toBe(1);
    expect(stats.get("ext_proc.streams_started")).toBe(1);
  });

  test("a clear_route_cache upstream is ignored and counted (DecodingProcessorState::clearRouteCache checks isUpstream)", async () => {
    const res = await request(`http://127.0.0.1:${port}/clear`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("saw=in");
    const stats = await adminStats(adminPort);
    expect(stats.get("ext_proc.clear_route_cache_upstream_ignored")).toBe(1);
    expect(stats.get("ext_proc.clear_route_cache_ignored")).toBe(0);
  });

  test("an immediate response upstream is ignored (send_immediate_resp_upstream_ignored): the attempt stays stopped until the route's timeout, a 504", async () => {
    // ext_proc.cc Filter::sendImmediateResponse returns early when isUpstream(); nothing continues the attempt.
    const before = origin.requests.length;
    const res = await request(`http://127.0.0.1:${port}/deny`);
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toBe("upstream request timeout");
    expect(origin.requests.length).toBe(before);
    const stats = await adminStats(adminPort);
    expect(stats.get("ext_proc.send_immediate_resp_upstream_ignored")).toBe(1);
    expect(stats.get("cluster.plain.upstream_rq_timeout")).toBe(1);
  });
});
