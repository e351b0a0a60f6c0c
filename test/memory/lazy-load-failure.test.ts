/**
 * What a failed load of lazily loaded code looks like (core/extensions.ts, the admin): the
 * error names the listener and the filter type, as every other listener build error does;
 * a filter's code never loaded is an internal error at build, never a skipped check; and a
 * stop while the admin's code loads leaves no admin behind.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { runMain } from "../../core/main.ts";
import { Server } from "../../core/server.ts";
import { checkFilterChain, lazyHttpFilterLoaders, registerLazyHttpFilterFactory } from "../../core/http/filters/http-filter-registry.ts";
import { lazyNetworkFilterLoaders, registerLazyNetworkFilterFactory } from "../../core/network/network-filter-registry.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import type { ServerContext } from "../../core/server-context.ts";

const CONFIG_PATH = "/etc/polyvoy/envoy.json";
const IMPORT_FAILURE = "Failed to fetch dynamically imported module: file:///x/module.ts";

/** An HTTP proxy's config with `filter` first in its http_filters. */
function withHttpFilter(filter: object): object {
  const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: object[] } }[] }[] }[] } };
  config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.unshift(filter);
  return config;
}

async function runWith(config: object): Promise<MemoryRuntime> {
  const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(config) } });
  await runMain(runtime, ["-c", CONFIG_PATH]);
  await runtime.settle();
  return runtime;
}

describe("lazily loaded code that fails to load", () => {
  test("a network filter's: start-up fails naming the listener and the filter type; the loader is tried once", async () => {
    const type = "envoy.filters.network.tcp_proxy";
    const original = lazyNetworkFilterLoaders().get(type)!;
    let loads = 0;
    registerLazyNetworkFilterFactory(type, () => {
      loads++;
      return Promise.reject(new Error(IMPORT_FAILURE));
    });
    try {
      const runtime = await runWith(tcpProxyConfig({ listenPort: 10000, upstreamPorts: [8080] }));
      expect(runtime.exitCode).toBe(1);
      expect(loads).toBe(1);
      expect(runtime.listeners.has("127.0.0.1 10000")).toBe(false);
      expect(runtime.logLines.filter((line) => line.includes("[error]")).map((line) => line.replace(/^\[[^\]]+\]/, ""))).toEqual([
        `[error] static_resources.listeners[0] ('tcp'): cannot load the code of network filter type '${type}': ${IMPORT_FAILURE}`,
      ]);
    } finally {
      registerLazyNetworkFilterFactory(type, original as never);
    }
  });

  test("an HTTP filter's: start-up fails naming the listener and the HTTP filter type", async () => {
    const type = "envoy.filters.http.fault";
    const original = lazyHttpFilterLoaders().get(type)!;
    registerLazyHttpFilterFactory(type, () => Promise.reject(new Error(IMPORT_FAILURE)));
    try {
      const runtime = await runWith(withHttpFilter({ name: "envoy.filters.http.fault", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" } }));
      expect(runtime.exitCode).toBe(1);
      expect(runtime.logLines.filter((line) => line.includes("[error]")).map((line) => line.replace(/^\[[^\]]+\]/, ""))).toEqual([
        `[error] static_resources.listeners[0] ('http'): cannot load the code of HTTP filter type '${type}': ${IMPORT_FAILURE}`,
      ]);
    } finally {
      registerLazyHttpFilterFactory(type, original as never);
    }
  });
});

describe("a lazy filter type whose code is not loaded at build", () => {
  test("checkFilterChain refuses it as an internal error instead of skipping its check", () => {
    // csrf is loaded by no test of this file: its code is not loaded here.
    const config = withHttpFilter({ name: "envoy.filters.http.csrf", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy", filter_enabled: { default_value: { numerator: 100 } } } });
    const hcm = loadBootstrap(JSON.stringify(config), "json").listeners[0]!.filterChains[0]!.filters[0]!;
    if (hcm.type !== "envoy.filters.network.http_connection_manager") throw new Error("the listener's filter is the HCM");
    const server = {} as ServerContext; // not reached: the missing factory throws first
    expect(() => checkFilterChain(hcm.config.httpFilters, server, { statPrefix: hcm.config.statPrefix })).toThrow(
      "internal error: HTTP filter type envoy.filters.http.csrf is registered lazily and its module was not loaded before the listener was built (loadListenerFilters)",
    );
  });
});

describe("stop() while start() loads the admin's code", () => {
  test("start() returns at once: no admin created or bound, no listener bound", async () => {
    const runtime = new MemoryRuntime();
    const config = { ...httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }), admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } } };
    const server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "error"));
    const started = server.start();
    server.stop("test");
    await started;
    await runtime.settle();
    expect(server.admin).toBeUndefined();
    expect(runtime.listeners.has("127.0.0.1 9901")).toBe(false);
    expect(runtime.listeners.has("127.0.0.1 10000")).toBe(false);
  });
});
