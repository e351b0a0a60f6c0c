/** A proxy on the memory runtime with some HTTP filters before the router, and one upstream that answers 200. */
import type { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpProxyOptions } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./http-peers.ts";
import type { HttpMessage } from "./http-wire.ts";
import { startProxy } from "./proxy.ts";

export const PROXY_PORT = 10000;
export const UPSTREAM_PORT = 8080;
export const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

export interface FilterProxy {
  runtime: MemoryRuntime;
  server: Server;
  upstream: MemoryHttpServer;
  /** Requests the upstream saw, with the headers it got. */
  upstreamRequests: { path: string; headers: [string, string][]; body: string }[];
  request(method: string, path: string, options?: { headers?: Record<string, string>; body?: string }): Promise<HttpMessage>;
  counter(name: string): number;
  close(): void;
}

/** `filters` go before the router; `routes` default to one catch-all route to the upstream. */
export async function filterProxy(
  filters: object[],
  options: Partial<Pick<HttpProxyOptions, "routes" | "virtualHosts" | "hcm" | "clusterExtra">> & { seed?: number; bootstrap?: Record<string, unknown>; modules?: Record<string, unknown>; clusters?: Record<string, number[]> } = {},
): Promise<FilterProxy> {
  const runtime = new MemoryRuntime({ seed: options.seed ?? 1 });
  // What the runtime's importModule gives (user filter modules), by path.
  for (const [path, namespace] of Object.entries(options.modules ?? {})) runtime.setModule(path, namespace);
  const upstreamRequests: FilterProxy["upstreamRequests"] = [];
  const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM_PORT, (req, res) => {
    upstreamRequests.push({ path: req.path, headers: [...req.headers], body: req.text() });
    res.respond(200, "from upstream");
  });
  const config = httpProxyConfig({
    listenPort: PROXY_PORT,
    // More clusters (an authorization service's) besides the upstream's.
    clusters: { backend: [UPSTREAM_PORT], ...options.clusters },
    ...(options.clusterExtra && { clusterExtra: options.clusterExtra }),
    routes: options.routes ?? [{ match: { prefix: "/" }, cluster: "backend" }],
    ...(options.virtualHosts && { virtualHosts: options.virtualHosts }),
    hcm: { http_filters: [...filters, ROUTER], ...options.hcm },
  });
  const server = await startProxy(runtime, { ...config, ...options.bootstrap });
  return {
    runtime,
    server,
    upstream,
    upstreamRequests,
    async request(method, path, requestOptions = {}) {
      const client = new MemoryHttpClient(runtime, PROXY_PORT);
      client.request(method, path, requestOptions);
      await runtime.settle();
      const response = client.responses[0];
      if (!response) throw new Error(`no response to ${method} ${path}`);
      return response;
    },
    counter(name) {
      return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    },
    close() {
      upstream.close();
    },
  };
}
