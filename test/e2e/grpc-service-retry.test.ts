/**
 * GrpcService.retry_policy on every runtime: ext_authz over gRPC to a real @grpc/grpc-js
 * Authorization service that answers each key's first Check with UNAVAILABLE and its
 * second with OK. With retry_on "unavailable" the check is retried (on the
 * cluster's upstream_rq_retry stats) and the request allowed; with num_retries 0 the first
 * UNAVAILABLE stands and the request is denied (403, ext_authz's status_on_error) as without a policy.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";

interface CheckRequest {
  attributes: { request?: { http?: { headers: Record<string, string> } } };
}

describe.each(RUNTIMES)("GrpcService retry_policy on %s", (runtime) => {
  let echo: HttpUpstream;
  let authz: Awaited<ReturnType<typeof startEnvoyGrpcService>>;
  const calls = new Map<string, number>();
  let proxy: ProxyProcess;
  let retrying: string;
  let once: string;
  let adminPort: number;

  beforeAll(async () => {
    echo = await httpUpstream((_req, res) => res.end("upstream"));
    authz = await startEnvoyGrpcService("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3.Authorization", {
      Check: (call: grpc.ServerUnaryCall<CheckRequest, object>, callback: grpc.sendUnaryData<object>) => {
        const key = call.request.attributes.request?.http?.headers?.["x-key"] ?? "";
        const n = (calls.get(key) ?? 0) + 1;
        calls.set(key, n);
        if (n === 1) callback({ code: grpc.status.UNAVAILABLE, details: "warming up" });
        else callback(null, { status: { code: 0 }, ok_response: {} });
      },
    });
    const [port, oncePort] = [await freePort(), await freePort()];
    adminPort = await freePort();
    retrying = `http://127.0.0.1:${port}`;
    once = `http://127.0.0.1:${oncePort}`;
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const extAuthz = (cluster: string, retryPolicy: object) => ({
      name: "envoy.filters.http.ext_authz",
      typed_config: { "@type": EXT_AUTHZ, transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: cluster }, timeout: "5s", retry_policy: retryPolicy } },
    });
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], authz: [authz.port], authz_once: [authz.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: { http_filters: [extAuthz("authz", { retry_on: "unavailable", num_retries: 2, retry_back_off: { base_interval: "0.1s" } }), router] },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[]; clusters: Record<string, unknown>[] } };
    const resources = config.static_resources;
    for (const cluster of resources.clusters) if (cluster.name !== "echo") cluster.http2_protocol_options = {};
    const copy = structuredClone(resources.listeners[0]!);
    copy.name = "once";
    copy.address = { socket_address: { address: "127.0.0.1", port_value: oncePort } };
    const hcm = copy.filter_chains[0]!.filters[0]!.typed_config;
    hcm.stat_prefix = "once";
    hcm.http_filters = [extAuthz("authz_once", { retry_on: "unavailable", num_retries: 0 }), router];
    resources.listeners.push(copy);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    authz?.close();
  });

  async function counter(name: string): Promise<number> {
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent(`^${name}$`)}`)).body.text();
    const match = /: (\d+)/.exec(text);
    return match ? Number(match[1]) : 0;
  }

  test("retry_on unavailable: the check's UNAVAILABLE is retried and the request allowed", async () => {
    const response = await request(retrying + "/a", { headers: { "x-key": "retried" } });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe("upstream");
    expect(calls.get("retried")).toBe(2);
    expect(await counter("cluster.authz.upstream_rq_retry")).toBe(1);
    expect(await counter("cluster.authz.upstream_rq_retry_success")).toBe(1);
  });

  test("num_retries 0: the first UNAVAILABLE stands and the request is denied", async () => {
    const response = await request(once + "/a", { headers: { "x-key": "once" } });
    expect(response.statusCode).toBe(403);
    await response.body.dump();
    expect(calls.get("once")).toBe(1);
    expect(await counter("cluster.authz_once.upstream_rq_retry_limit_exceeded")).toBe(1);
    expect(await counter("cluster.authz_once.upstream_rq_retry")).toBe(0);
  });
});
