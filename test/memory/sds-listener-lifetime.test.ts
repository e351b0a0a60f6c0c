/**
 * SDS secrets named by LDS listeners, on the memory runtime: a listener whose SDS source
 * names a cluster that is not static (Envoy's checkApiConfigSourceSubscriptionBackingCluster)
 * is refused and the LDS update NACKed; the oauth2 filter's generic secrets are released
 * with their listener, as a TLS context's are (SecretManager leases).
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { POLL_MS } from "../../core/util/file-watch.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

let server: Server | undefined;
afterEach(() => {
  server?.stop("test done");
  server = undefined;
});

function hcm(httpFilters: unknown[]): unknown {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": HCM,
      stat_prefix: "in",
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
      http_filters: [...httpFilters, ROUTER],
    },
  };
}

function listener(name: string, port: number, chain: Record<string, unknown>): unknown {
  return { "@type": LISTENER, name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [chain] };
}

function make(runtime: MemoryRuntime, listeners: unknown[], log: Logger, moreClusters: unknown[] = []): Server {
  runtime.files.set("/lds.json", JSON.stringify({ version_info: "1", resources: listeners }));
  const config = {
    static_resources: {
      clusters: [
        { name: "xds", type: "STATIC", load_assignment: { cluster_name: "xds", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18000 } } } }] }] } },
        { name: "idp", type: "STATIC", load_assignment: { cluster_name: "idp", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18001 } } } }] }] } },
        ...moreClusters,
      ],
    },
    dynamic_resources: { lds_config: { path_config_source: { path: "/lds.json" }, resource_api_version: "V3" } },
  };
  return new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), log);
}

async function start(runtime: MemoryRuntime, listeners: unknown[], log: Logger): Promise<Server> {
  const made = make(runtime, listeners, log);
  await made.start();
  return made;
}

function oauth2Filter(tokenSecret: unknown, hmacSecret: unknown): unknown {
  return {
    name: "envoy.filters.http.oauth2",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2",
      config: {
        token_endpoint: { cluster: "idp", uri: "http://idp/token", timeout: "3s" },
        authorization_endpoint: "http://idp/authorize",
        redirect_uri: "http://%REQ(:authority)%/callback",
        redirect_path_matcher: { path: { exact: "/callback" } },
        signout_path: { path: { exact: "/signout" } },
        credentials: { client_id: "c", token_secret: tokenSecret, hmac_secret: hmacSecret },
      },
    },
  };
}

describe("SDS secrets of LDS listeners", () => {
  test("an LDS listener whose SDS api_config_source names a cluster that is not static is refused: the update is NACKed with Envoy's reason", async () => {
    const runtime = new MemoryRuntime();
    // The memory runtime has no TLS: a stand-in lets the listener's build reach its secrets (no context is ever made: the secret never comes).
    Object.assign(runtime, { tls: {} });
    const log = new Logger(runtime, "warn");
    const sdsConfig = {
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "from_cds" } }] },
      resource_api_version: "V3",
      initial_fetch_timeout: "1s",
    };
    const tls = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "cert", sds_config: sdsConfig }] },
      },
    };
    server = await start(runtime, [listener("tls", 10443, { filters: [hcm([])], transport_socket: tls })], log);
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    expect(stat("listener_manager.lds.update_rejected")).toBe(1);
    expect(stat("listener_manager.lds.update_success")).toBe(0);
    expect(server.listeners.map((l) => l.name)).toEqual([]);
    expect(runtime.logLines.join("\n")).toContain(
      "Error adding/updating listener(s) listener 'tls': listener 'tls' ('tls'): filter_chains[0].transport_socket: tls_certificate_sds_secret_configs[0] ('cert'): sds_config of secret 'cert': envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: 'from_cds' does not exist, was added via api, or is an EDS cluster",
    );
    // What the refused listener asked for is released.
    expect(server.secretManager.subscriptionCount).toBe(0);
  });

  test("an EDS cluster read from a file is a primary cluster (Envoy's is_primary_cluster): an LDS listener's SDS source may name it", async () => {
    const runtime = new MemoryRuntime();
    Object.assign(runtime, { tls: {} });
    runtime.files.set(
      "/eds.json",
      JSON.stringify({
        version_info: "1",
        resources: [{ "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", cluster_name: "eds_file", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18002 } } } }] }] }],
      }),
    );
    const edsFromFile = { name: "eds_file", type: "EDS", eds_cluster_config: { eds_config: { path_config_source: { path: "/eds.json" }, resource_api_version: "V3" } } };
    const sdsConfig = {
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "eds_file" } }] },
      resource_api_version: "V3",
      // No timeout: the secret never comes (nothing answers), the listener warms on.
      initial_fetch_timeout: "0s",
    };
    const tls = {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "cert", sds_config: sdsConfig }] },
      },
    };
    server = make(runtime, [listener("tls", 10443, { filters: [hcm([])], transport_socket: tls })], new Logger(runtime, "warn"), [edsFromFile]);
    void server.start().catch(() => undefined);
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    for (let i = 0; i < 150 && stat("listener_manager.lds.update_success") + stat("listener_manager.lds.update_rejected") === 0; i++) {
      await runtime.settle(100);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(stat("listener_manager.lds.update_rejected")).toBe(0);
    expect(stat("listener_manager.lds.update_success")).toBe(1);
    expect(stat("listener_manager.total_listeners_warming")).toBe(1);
  });

  test("the oauth2 filter's token_secret and hmac_secret from SDS are released when its listener is removed (the last user stops the SDS subscription)", async () => {
    const runtime = new MemoryRuntime();
    const secret = (name: string, value: string) => JSON.stringify({ version_info: "s1", resources: [{ "@type": SECRET, name, generic_secret: { secret: { inline_string: value } } }] });
    runtime.files.set("/token.json", secret("token", "client-secret"));
    runtime.files.set("/hmac.json", secret("hmac", "hmac-secret"));
    const oauth2 = oauth2Filter(
      { name: "token", sds_config: { path_config_source: { path: "/token.json" } } },
      { name: "hmac", sds_config: { path_config_source: { path: "/hmac.json" } } },
    );
    server = await start(runtime, [listener("app", 10080, { filters: [hcm([oauth2])] })], new Logger(runtime, "warn"));
    expect(server.listeners.map((l) => l.name)).toEqual(["app"]);
    expect(server.secretManager.subscriptionCount).toBe(2);

    runtime.files.set("/lds.json", JSON.stringify({ version_info: "2", resources: [] }));
    // The LDS file polled, the listener removed and drained (drain_time_s default 600 s).
    await runtime.settle(2 * POLL_MS);
    expect(server.listeners.map((l) => l.name)).toEqual([]);
    await runtime.settle(601_000);
    expect(server.secretManager.subscriptionCount).toBe(0);
  });

  test("an oauth2 filter's secrets from a management server are its listener's init targets: the LDS update is taken at once, the listener warms (not bound) while they have not come", async () => {
    const runtime = new MemoryRuntime();
    const grpc = (timeout: string) => ({
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds" } }] },
      resource_api_version: "V3",
      initial_fetch_timeout: timeout,
    });
    // Nothing answers on the management server's port: neither secret ever comes.
    server = make(runtime, [listener("app", 10080, { filters: [hcm([oauth2Filter({ name: "token", sds_config: grpc("30s") }, { name: "hmac", sds_config: grpc("30s") })])] })], new Logger(runtime, "warn"));
    const started = server.start();
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    // Virtual time in steps (well within initial_fetch_timeout), with real turns between
    // them (the stream's modules load meanwhile), until the update is taken.
    for (let i = 0; i < 150 && stat("listener_manager.lds.update_success") === 0; i++) {
      await runtime.settle(100);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Built and taken (ACKed) before the secrets' wait is over; waiting as warming, not bound.
    expect(stat("listener_manager.lds.update_success")).toBe(1);
    expect(stat("listener_manager.total_listeners_warming")).toBe(1);
    expect(server.listeners.map((l) => l.name)).toEqual([]);
    void started.catch(() => undefined);
  });

  test("a listener refused while its oauth2 secrets were leased leaves no init targets behind: the next listener does not wait on them", async () => {
    const runtime = new MemoryRuntime();
    const log = new Logger(runtime, "info");
    const grpc = (cluster: string) => ({
      api_config_source: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: cluster } }] },
      resource_api_version: "V3",
      // No timeout (Envoy's 0s): a secret that never comes is waited for for ever.
      initial_fetch_timeout: "0s",
    });
    const appA = listener("a", 10080, { filters: [hcm([oauth2Filter({ name: "token", sds_config: grpc("xds") }, { name: "hmac", sds_config: grpc("xds") })])] });
    // 'b' shares 'hmac' (leased, an init target) and names a cluster that is not static for 'token2': refused.
    const appB = listener("b", 10081, { filters: [hcm([oauth2Filter({ name: "token2", sds_config: grpc("from_cds") }, { name: "hmac", sds_config: grpc("xds") })])] });
    const plain = listener("plain", 10082, { filters: [hcm([])] });
    // Nothing answers on the management server's port: neither secret ever comes.
    server = make(runtime, [appA, appB], log);
    void server.start().catch(() => undefined);
    const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
    const turns = async (until: () => boolean) => {
      for (let i = 0; i < 150 && !until(); i++) {
        await runtime.settle(100);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await turns(() => stat("listener_manager.lds.update_rejected") > 0);
    expect(stat("listener_manager.lds.update_rejected")).toBe(1);
    expect(stat("listener_manager.total_listeners_warming")).toBe(1);

    runtime.files.set("/lds.json", JSON.stringify({ version_info: "2", resources: [appA, plain] }));
    await turns(() => server!.listeners.some((l) => l.name === "plain"));
    // 'plain' has nothing to wait for: it serves; 'a' warms on.
    expect(server.listeners.map((l) => l.name)).toEqual(["plain"]);
    expect(stat("listener_manager.total_listeners_warming")).toBe(1);
    expect(runtime.logLines.join("\n")).not.toContain("listener 'plain': waiting for");
  });
});
