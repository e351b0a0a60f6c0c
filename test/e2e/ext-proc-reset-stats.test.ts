/**
 * The processor cluster's stream stats on every runtime, against a real @grpc/grpc-js
 * ExternalProcessor: a call that completed (the proxy's half-close, then the processor's
 * trailers) is no reset — upstream_rq_tx_reset and http2.tx_reset stay 0 and
 * upstream_rq_total counts one per call (Envoy's AsyncStreamImpl resets only a stream not
 * complete). A real reset still counts: the proxy's gRPC client resets a call mid-stream
 * whose message is over its limit (on a second cluster to the same processor).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService, type EnvoyGrpcService } from "../support/envoy-grpc-service.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

interface ProcessingRequest {
  request_headers?: { headers?: { headers?: { key: string; raw_value?: Buffer; value?: string }[] } };
  response_headers?: object;
}

/** Answers request and response headers with empty mutations (a /huge request's with a message too large). Ends each call on the proxy's half-close. */
async function startProcessor(): Promise<EnvoyGrpcService & { calls: number; ended: number }> {
  let calls = 0;
  let ended = 0;
  const service = await startEnvoyGrpcService("envoy/service/ext_proc/v3/external_processor.proto", "envoy.service.ext_proc.v3.ExternalProcessor", {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, object>) => {
      calls++;
      call.on("data", (req: ProcessingRequest) => {
        if (req.request_headers) {
          const path = req.request_headers.headers?.headers?.find((h) => h.key === ":path");
          // Over the proxy's 4 MiB message limit: its gRPC client resets the call mid-stream.
          if ((path?.raw_value?.toString() ?? path?.value) === "/huge") {
            call.write({ request_headers: { response: { header_mutation: { set_headers: [{ header: { key: "x-big", raw_value: Buffer.alloc(4.5 * 1024 * 1024, 97) } }] } } } });
            return;
          }
          call.write({ request_headers: { response: {} } });
        } else if (req.response_headers) call.write({ response_headers: { response: {} } });
      });
      call.on("end", () => {
        call.end();
        ended++;
      });
      call.on("error", () => {});
    },
  });
  return Object.defineProperties(service, { calls: { get: () => calls }, ended: { get: () => ended } }) as EnvoyGrpcService & { calls: number; ended: number };
}

const extProc = (cluster: string) => ({
  name: "envoy.filters.http.ext_proc",
  typed_config: { "@type": EXT_PROC, grpc_service: { envoy_grpc: { cluster_name: cluster } }, message_timeout: "2s" },
});

describe.each(RUNTIMES)("ext_proc's processor cluster stats on %s", (runtime) => {
  let echo: HttpUpstream;
  let processor: Awaited<ReturnType<typeof startProcessor>>;
  let proxy: ProxyProcess;
  let adminPort: number;
  let main: string;
  let huge: string;

  beforeAll(async () => {
    echo = await httpUpstream((_req, res) => res.end("ok"));
    processor = await startProcessor();
    adminPort = await freePort();
    const mainPort = await freePort();
    const hugePort = await freePort();
    main = `http://127.0.0.1:${mainPort}`;
    huge = `http://127.0.0.1:${hugePort}`;
    const config = httpProxyConfig({
      listenPort: mainPort,
      clusters: { echo: [echo.port], processor: [processor.port], processor_timeout: [processor.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: { http_filters: [extProc("processor"), ROUTER] },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[] } };
    const listener = structuredClone(config.static_resources.listeners[0]!);
    listener.name = "huge";
    listener.address = { socket_address: { address: "127.0.0.1", port_value: hugePort } };
    listener.filter_chains[0]!.filters[0]!.typed_config.stat_prefix = "huge";
    listener.filter_chains[0]!.filters[0]!.typed_config.http_filters = [extProc("processor_timeout"), ROUTER];
    config.static_resources.listeners.push(listener);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    processor?.close();
  });

  test("calls the processor ended after the proxy's half-close: upstream_rq_total one per call, no reset counted or sent", async () => {
    for (let i = 0; i < 4; i++) {
      const response = await request(`${main}/ok`);
      expect(response.statusCode).toBe(200);
      expect(await response.body.text()).toBe("ok");
    }
    // The calls end after the client's response: wait for the processor to have ended the
    // four and the proxy to have released them (a reset, if any, is counted by then).
    let stats = await adminStats(adminPort);
    for (let i = 0; i < 100 && (processor.ended < 4 || stats.get("cluster.processor.upstream_rq_active") !== 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      stats = await adminStats(adminPort);
    }
    expect(processor.calls).toBe(4);
    expect(stats.get("cluster.processor.upstream_rq_total")).toBe(4);
    expect(stats.get("cluster.processor.upstream_rq_tx_reset") ?? 0).toBe(0);
    expect(stats.get("cluster.processor.upstream_rq_rx_reset") ?? 0).toBe(0);
    expect(stats.get("cluster.processor.http2.tx_reset") ?? 0).toBe(0);
  });

  test("a call reset mid-stream (the processor's message over the limit): counted once in upstream_rq_tx_reset, RST_STREAM sent", async () => {
    const response = await request(`${huge}/huge`);
    expect(response.statusCode).toBe(500);
    await response.body.text();
    let stats = await adminStats(adminPort);
    for (let i = 0; i < 100 && (stats.get("cluster.processor_timeout.upstream_rq_tx_reset") ?? 0) < 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      stats = await adminStats(adminPort);
    }
    expect(stats.get("cluster.processor_timeout.upstream_rq_total")).toBe(1);
    expect(stats.get("cluster.processor_timeout.upstream_rq_tx_reset")).toBe(1);
    expect(stats.get("cluster.processor_timeout.http2.tx_reset")).toBe(1);
  });
});
