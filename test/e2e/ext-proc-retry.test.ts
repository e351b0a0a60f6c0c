/**
 * ext_proc's grpc_service.retry_policy on every runtime, in the shape of a user's config
 * (bladedancer/envoy-ext-proc: headers both ways, no bodies, failure_mode_allow false, a
 * retry_policy on the gRPC conditions with a 0.5 s back-off and 3 retries). A real
 * @grpc/grpc-js ExternalProcessor ends each key's first stream with UNAVAILABLE once it has
 * the request headers (a trailers-only answer, before any response headers) and answers the
 * second: the proxy retries the stream, resending the request headers' message, and the
 * request goes through with the processor's mutations (upstream_rq_retry,
 * upstream_rq_retry_success on the processor's cluster). A processor that always fails uses
 * up num_retries: 500, as without a policy, and upstream_rq_retry_limit_exceeded.
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
const UNAVAILABLE = 14;

interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}
interface ProcessingRequest {
  request_headers?: { headers?: { headers?: HeaderValue[] } };
  response_headers?: object;
}

function header(headers: HeaderValue[] | undefined, name: string): string | undefined {
  const h = headers?.find((x) => x.key === name);
  return h === undefined ? undefined : (h.raw_value?.toString("latin1") ?? h.value);
}

const set = (key: string, value: string) => ({ header: { key, raw_value: Buffer.from(value) } });

/** Streams per x-key (counted at their request headers); "always" fails every stream, any other key only its first. */
async function startProcessor() {
  const streams = new Map<string, number>();
  const service = await startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, object>) => {
      call.on("data", (req: ProcessingRequest) => {
        if (req.request_headers) {
          const key = header(req.request_headers.headers?.headers, "x-key") ?? "";
          const n = (streams.get(key) ?? 0) + 1;
          streams.set(key, n);
          if (key === "always" || n === 1) {
            call.emit("error", { code: UNAVAILABLE, details: "warming up" });
            return;
          }
          call.write({ request_headers: { response: { header_mutation: { set_headers: [set("x-ext-in", `stream-${n}`)] } } } });
        } else if (req.response_headers) {
          call.write({ response_headers: { response: { header_mutation: { set_headers: [set("x-ext-out", "yes")] } } } });
        } else {
          call.write({});
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  return { ...service, streams };
}

/** The user's filter, on `cluster`, with `retry` as its grpc_service.retry_policy. */
function extProc(cluster: string, retry: object): object {
  return {
    name: "envoy.filters.http.ext_proc",
    typed_config: {
      "@type": EXT_PROC,
      failure_mode_allow: false,
      message_timeout: "5s",
      processing_mode: {
        request_header_mode: "SEND",
        response_header_mode: "SEND",
        request_body_mode: "NONE",
        response_body_mode: "NONE",
        request_trailer_mode: "SKIP",
        response_trailer_mode: "SKIP",
      },
      grpc_service: { envoy_grpc: { cluster_name: cluster }, retry_policy: retry },
    },
  };
}

describe.each(RUNTIMES)("ext_proc grpc_service.retry_policy on %s", (runtime) => {
  let echo: HttpUpstream;
  let processor: Awaited<ReturnType<typeof startProcessor>>;
  let proxy: ProxyProcess;
  let adminPort: number;
  let main: string;
  let once: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`in=${req.headers["x-ext-in"] ?? "-"}`));
    processor = await startProcessor();
    const [mainPort, oncePort] = [await freePort(), await freePort()];
    adminPort = await freePort();
    main = `http://127.0.0.1:${mainPort}`;
    once = `http://127.0.0.1:${oncePort}`;
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const userRetry = { retry_back_off: { base_interval: "0.5s", max_interval: "60s" }, retry_on: "resource-exhausted,cancelled,deadline-exceeded,unavailable,internal", num_retries: 3 };
    const config = httpProxyConfig({
      listenPort: mainPort,
      clusters: { echo: [echo.port], "ext-proc": [processor.port], proc_once: [processor.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: { http_filters: [extProc("ext-proc", userRetry), router] },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[]; clusters: Record<string, unknown>[] } };
    const resources = config.static_resources;
    for (const cluster of resources.clusters) if (cluster.name !== "echo") cluster.http2_protocol_options = {};
    const copy = structuredClone(resources.listeners[0]!);
    copy.name = "once";
    copy.address = { socket_address: { address: "127.0.0.1", port_value: oncePort } };
    const hcm = copy.filter_chains[0]!.filters[0]!.typed_config;
    hcm.stat_prefix = "once";
    hcm.http_filters = [extProc("proc_once", { retry_back_off: { base_interval: "0.1s" }, retry_on: "unavailable", num_retries: 1 }), router];
    resources.listeners.push(copy);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    processor?.close();
  });

  test("the first stream's UNAVAILABLE is retried: the second stream gets the request headers again and the request goes through", async () => {
    const response = await request(main + "/a", { headers: { "x-key": "retried" } });
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-ext-out"]).toBe("yes");
    expect(await response.body.text()).toBe("in=stream-2");
    expect(processor.streams.get("retried")).toBe(2);
    const stats = await adminStats(adminPort);
    expect(stats.get("cluster.ext-proc.upstream_rq_retry")).toBe(1);
    expect(stats.get("cluster.ext-proc.upstream_rq_retry_success")).toBe(1);
  });

  test("num_retries used up: the last UNAVAILABLE fails the request (500) as without a policy", async () => {
    const response = await request(once + "/a", { headers: { "x-key": "always" } });
    expect(response.statusCode).toBe(500);
    await response.body.dump();
    expect(processor.streams.get("always")).toBe(2);
    const stats = await adminStats(adminPort);
    expect(stats.get("cluster.proc_once.upstream_rq_retry")).toBe(1);
    expect(stats.get("cluster.proc_once.upstream_rq_retry_limit_exceeded")).toBe(1);
  });
});
