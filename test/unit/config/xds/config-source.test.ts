/**
 * ConfigSource with a management server (core/config/xds/config-source-schema.ts): what
 * is taken (GRPC, DELTA_GRPC, REST, ADS, initial_fetch_timeout with Envoy's 15 s default,
 * REST's request_timeout with its 1 s default) and what is refused by name (the REST-only
 * fields on gRPC, gRPC services on REST, REST without refresh_delay or for ADS, ADS
 * without ads_config, for SDS too).
 */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../../core/config/load.ts";

const XDS_CLUSTER = {
  name: "xds_cluster",
  type: "STATIC",
  connect_timeout: "1s",
  http2_protocol_options: {},
  load_assignment: { cluster_name: "xds_cluster", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 18000 } } } }] }] },
};

function load(dynamic: object): { problems?: readonly string[]; bootstrap?: { dynamicResources?: unknown } } {
  const result = loadConfig(JSON.stringify({ dynamic_resources: dynamic, static_resources: { clusters: [XDS_CLUSTER] } }), "json");
  return result as never;
}

const TOKEN = { name: "token", generic_secret: { secret: { inline_string: "tok" } } };

/** A listener whose oauth2 filter's hmac_secret comes from `hmacSds` (its token_secret is static). */
const oauthListener = (hmacSds: object) => ({
  name: "web",
  address: { socket_address: { address: "127.0.0.1", port_value: 10080 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "web",
            route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "xds_cluster" } }] }] },
            http_filters: [
              {
                name: "envoy.filters.http.oauth2",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2",
                  config: {
                    token_endpoint: { cluster: "xds_cluster", uri: "http://auth.test/token", timeout: "3s" },
                    authorization_endpoint: "https://auth.test/authorize",
                    redirect_uri: "http://%REQ(:authority)%/callback",
                    redirect_path_matcher: { path: { exact: "/callback" } },
                    signout_path: { path: { exact: "/signout" } },
                    credentials: { client_id: "c", token_secret: { name: "token" }, hmac_secret: { name: "hmac", sds_config: hmacSds } },
                  },
                },
              },
              { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
            ],
          },
        },
      ],
    },
  ],
});

const api = (extra: object = {}) => ({ api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }], ...extra });

describe("ConfigSource from a management server", () => {
  test("the server's cluster is a static one, not EDS (Envoy's checkApiConfigSourceSubscriptionBackingCluster)", () => {
    const message = (name: string) => `must have a statically defined non-EDS cluster: '${name}' does not exist, was added via api, or is an EDS cluster`;
    expect(load({ ads_config: api({ grpc_services: [{ envoy_grpc: { cluster_name: "nope" } }] }), cds_config: { ads: {} } }).problems).toEqual([
      `dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: envoy.config.core.v3.ApiConfigSource ${message("nope")}`,
    ]);
    const rest = { api_type: "REST", transport_api_version: "V3", cluster_names: ["eds_cluster"], refresh_delay: "1s" };
    const eds = { name: "eds_cluster", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { api_config_source: api(), resource_api_version: "V3" } } };
    const result = loadConfig(JSON.stringify({ dynamic_resources: { lds_config: { api_config_source: rest } }, static_resources: { clusters: [XDS_CLUSTER, eds] } }), "json") as { problems?: string[] };
    expect(result.problems).toEqual([`dynamic_resources.lds_config.api_config_source.cluster_names[0]: envoy.config.core.v3.ApiConfigSource ${message("eds_cluster")}`]);
  });

  test("an EDS cluster whose eds_config is a file (path or path_config_source) is a primary cluster: it may carry a management server (Envoy's is_primary_cluster)", () => {
    const rest = (cluster: string) => ({ api_type: "REST", transport_api_version: "V3", cluster_names: [cluster], refresh_delay: "1s" });
    const edsFrom = (name: string, edsConfig: object) => ({ name, type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { ...edsConfig, resource_api_version: "V3" } } });
    const clusters = [XDS_CLUSTER, edsFrom("eds_path_config_source", { path_config_source: { path: "/tmp/eds.yaml" } }), edsFrom("eds_path", { path: "/tmp/eds.yaml" })];
    for (const name of ["eds_path_config_source", "eds_path"]) {
      const result = loadConfig(JSON.stringify({ dynamic_resources: { lds_config: { api_config_source: rest(name) } }, static_resources: { clusters } }), "json") as { problems?: string[] };
      expect(result.problems, name).toBeUndefined();
    }
  });

  test("GRPC and ADS are taken, initial_fetch_timeout defaults to 15 s", () => {
    const result = load({ ads_config: api(), cds_config: { ads: {}, resource_api_version: "V3" }, lds_config: { api_config_source: api(), initial_fetch_timeout: "2s" } });
    expect(result.problems).toBeUndefined();
    expect(result.bootstrap!.dynamicResources).toEqual({
      cds: { kind: "ads", initialFetchTimeoutMs: 15_000 },
      lds: { kind: "grpc", target: { clusterName: "xds_cluster", authority: "", initialMetadata: [] }, nodeOnFirstMessageOnly: false, delta: false, initialFetchTimeoutMs: 2000 },
      ads: { kind: "grpc", target: { clusterName: "xds_cluster", authority: "", initialMetadata: [] }, nodeOnFirstMessageOnly: false, delta: false, initialFetchTimeoutMs: 0 },
    });
  });

  test("DELTA_GRPC (ADS and per type) and REST are taken", () => {
    const rest = { api_type: "REST", transport_api_version: "V3", cluster_names: ["xds_cluster"], refresh_delay: "2s" };
    const result = load({ ads_config: api({ api_type: "DELTA_GRPC" }), cds_config: { api_config_source: rest }, lds_config: { api_config_source: { ...rest, request_timeout: "3s" } } });
    expect(result.problems).toBeUndefined();
    expect(result.bootstrap!.dynamicResources).toEqual({
      cds: { kind: "rest", clusterName: "xds_cluster", refreshDelayMs: 2000, requestTimeoutMs: 1000, initialFetchTimeoutMs: 15_000 },
      lds: { kind: "rest", clusterName: "xds_cluster", refreshDelayMs: 2000, requestTimeoutMs: 3000, initialFetchTimeoutMs: 15_000 },
      ads: { kind: "grpc", target: { clusterName: "xds_cluster", authority: "", initialMetadata: [] }, nodeOnFirstMessageOnly: false, delta: true, initialFetchTimeoutMs: 0 },
    });
  });

  test("a REST refresh_delay longer than a runtime timer holds (2^31-1 ms) is taken, as Envoy sets no bound", () => {
    const rest = { api_type: "REST", transport_api_version: "V3", cluster_names: ["xds_cluster"], refresh_delay: "3000000s" };
    const result = load({ lds_config: { api_config_source: rest } });
    expect(result.problems).toBeUndefined();
    expect(result.bootstrap!.dynamicResources).toMatchObject({ lds: { kind: "rest", refreshDelayMs: 3_000_000_000 } });
  });

  test.each([
    [{ lds_config: { api_config_source: api({ api_type: "REST" }) } }, "dynamic_resources.lds_config.api_config_source.grpc_services: REST, not a gRPC type, must not have a gRPC service specified"],
    [{ lds_config: { api_config_source: { api_type: "REST", cluster_names: ["xds_cluster"] } } }, "dynamic_resources.lds_config.api_config_source.refresh_delay: refresh_delay is required for REST API configuration sources"],
    [{ lds_config: { api_config_source: { api_type: "REST", refresh_delay: "1s" } } }, "dynamic_resources.lds_config.api_config_source.cluster_names: REST must have a singleton cluster name specified"],
    [{ ads_config: { api_type: "REST", cluster_names: ["xds_cluster"], refresh_delay: "1s" } }, "dynamic_resources.ads_config.api_type: api_type REST cannot aggregate: ads_config needs GRPC or DELTA_GRPC"],
    [{ lds_config: { api_config_source: api({ api_type: "AGGREGATED_GRPC" }) } }, 'dynamic_resources.lds_config.api_config_source.api_type: AGGREGATED_GRPC is an Envoy value that polyvoy does not support yet (supported: GRPC, DELTA_GRPC, REST)'],
    [{ cds_config: { api_config_source: api({ refresh_delay: "1s" }) } }, "dynamic_resources.cds_config.api_config_source.refresh_delay: refresh_delay is for api_type REST only (a gRPC stream is pushed to)"],
    [{ cds_config: { api_config_source: api({ api_type: "DELTA_GRPC", request_timeout: "1s" }) } }, "dynamic_resources.cds_config.api_config_source.request_timeout: request_timeout is for api_type REST only (a gRPC stream has no deadline)"],
    [{ cds_config: { api_config_source: api({ cluster_names: ["xds_cluster"] }) } }, "dynamic_resources.cds_config.api_config_source.cluster_names: (DELTA_)GRPC must not have a cluster name specified (it names its cluster in grpc_services)"],
    [{ cds_config: { api_config_source: api({ grpc_services: [] }) } }, "dynamic_resources.cds_config.api_config_source.grpc_services: Only singleton gRPC service lists supported"],
    [{ cds_config: { path: "/tmp/cds.yaml", initial_fetch_timeout: "1s" } }, "dynamic_resources.cds_config.initial_fetch_timeout: initial_fetch_timeout is for a management server (a CDS file is read before anything waits on it)"],
    [{ cds_config: { ads: {} } }, "dynamic_resources.cds_config.ads: ADS must be configured to support an ADS config source (dynamic_resources.ads_config)"],
    [{ cds_config: { ads: {}, path: "/tmp/cds.yaml" } }, "dynamic_resources.cds_config: must set only one of path, path_config_source, api_config_source, ads (got path, ads)"],
    [{ lds_config: { api_config_source: { api_type: "REST", cluster_names: ["xds_cluster"], refresh_delay: "0s" } } }, "dynamic_resources.lds_config.api_config_source.refresh_delay: must be at least 1ms"],
  ])("%j is refused by name", (dynamic, problem) => {
    expect(load(dynamic).problems?.[0]).toBe(problem);
  });

  describe("SDS (sds_config of a TLS context's secret)", () => {
    const listenerWith = (sdsConfig: object) => ({
      name: "tls",
      address: { socket_address: { address: "127.0.0.1", port_value: 10443 } },
      filter_chains: [
        {
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
              common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "cert", sds_config: sdsConfig }] },
            },
          },
          filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "xds_cluster" } }],
        },
      ],
    });
    const loadSds = (sdsConfig: object, dynamic: object = {}) =>
      loadConfig(JSON.stringify({ dynamic_resources: dynamic, static_resources: { clusters: [XDS_CLUSTER], listeners: [listenerWith(sdsConfig)] } }), "json") as {
        problems?: readonly string[];
        bootstrap?: { listeners: { filterChains: { transportSocket: { common: { tlsCertificateSds: unknown[] } } }[] }[] };
      };
    const refOf = (result: ReturnType<typeof loadSds>) => result.bootstrap!.listeners[0]!.filterChains[0]!.transportSocket.common.tlsCertificateSds[0];

    test("api_config_source (GRPC, DELTA_GRPC, REST) and ads are taken, initial_fetch_timeout defaults to 15 s", () => {
      const grpc = loadSds({ api_config_source: api({ api_type: "DELTA_GRPC" }), resource_api_version: "V3", initial_fetch_timeout: "1s" });
      expect(grpc.problems).toBeUndefined();
      expect(refOf(grpc)).toEqual({ name: "cert", sdsConfig: { kind: "grpc", target: { clusterName: "xds_cluster", authority: "", initialMetadata: [] }, nodeOnFirstMessageOnly: false, delta: true, initialFetchTimeoutMs: 1000 } });
      const rest = loadSds({ api_config_source: { api_type: "REST", cluster_names: ["xds_cluster"], refresh_delay: "1s" } });
      expect(refOf(rest)).toEqual({ name: "cert", sdsConfig: { kind: "rest", clusterName: "xds_cluster", refreshDelayMs: 1000, requestTimeoutMs: 1000, initialFetchTimeoutMs: 15_000 } });
      const ads = loadSds({ ads: {} }, { ads_config: api() });
      expect(refOf(ads)).toEqual({ name: "cert", sdsConfig: { kind: "ads", initialFetchTimeoutMs: 15_000 } });
    });

    test.each([
      [{ ads: {} }, "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.ads: ADS must be configured to support an ADS config source (dynamic_resources.ads_config)"],
      [{ path_config_source: { path: "/tmp/sds.yaml" }, initial_fetch_timeout: "1s" }, "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.initial_fetch_timeout: initial_fetch_timeout is for a management server (a SDS file is read before anything waits on it)"],
      [{ api_config_source: api({ refresh_delay: "1s" }) }, "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source.refresh_delay: refresh_delay is for api_type REST only (a gRPC stream is pushed to)"],
    ])("%j is refused by name", (sdsConfig, problem) => {
      expect(loadSds(sdsConfig).problems).toEqual([problem]);
    });

    test("an SDS or RTDS server's cluster is a static one, not EDS (checkApiConfigSourceSubscriptionBackingCluster runs for every subscription)", () => {
      const message = (name: string) => `envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: '${name}' does not exist, was added via api, or is an EDS cluster`;
      const tlsAt = "static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source";
      expect(loadSds({ api_config_source: api({ grpc_services: [{ envoy_grpc: { cluster_name: "nope" } }] }) }).problems).toEqual([`${tlsAt}.grpc_services[0].envoy_grpc.cluster_name: ${message("nope")}`]);
      expect(loadSds({ api_config_source: { api_type: "REST", cluster_names: ["nope"], refresh_delay: "1s" } }).problems).toEqual([`${tlsAt}.cluster_names[0]: ${message("nope")}`]);
      // A cluster's own TLS, its secret from an EDS cluster; an oauth2 filter's hmac_secret; an RTDS layer.
      const eds = { name: "eds", type: "EDS", eds_cluster_config: { eds_config: { api_config_source: api() } } };
      const secure = {
        ...XDS_CLUSTER,
        name: "secure",
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            common_tls_context: { validation_context_sds_secret_config: { name: "ca", sds_config: { api_config_source: api({ grpc_services: [{ envoy_grpc: { cluster_name: "eds" } }] }) } } },
          },
        },
      };
      const result = loadConfig(
        JSON.stringify({
          static_resources: { secrets: [TOKEN], clusters: [XDS_CLUSTER, eds, secure], listeners: [oauthListener({ api_config_source: api({ grpc_services: [{ envoy_grpc: { cluster_name: "cds_added" } }] }) })] },
          layered_runtime: { layers: [{ name: "rtds", rtds_layer: { name: "r", rtds_config: { api_config_source: api({ grpc_services: [{ envoy_grpc: { cluster_name: "gone" } }] }) } } }] },
        }),
        "json",
      ) as { problems?: readonly string[] };
      expect(result.problems).toEqual([
        `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.credentials.hmac_secret.sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name: ${message("cds_added")}`,
        `static_resources.clusters[2].transport_socket.typed_config.common_tls_context.validation_context_sds_secret_config.sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name: ${message("eds")}`,
        `layered_runtime.layers[0].rtds_layer.rtds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name: ${message("gone")}`,
      ]);
    });

    test("an oauth2 filter's secrets over ADS need ads_config", () => {
      const result = loadConfig(JSON.stringify({ static_resources: { secrets: [TOKEN], clusters: [XDS_CLUSTER], listeners: [oauthListener({ ads: {} })] } }), "json") as { problems?: readonly string[] };
      expect(result.problems).toEqual([
        "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config.credentials.hmac_secret.sds_config.ads: ADS must be configured to support an ADS config source (dynamic_resources.ads_config)",
      ]);
    });
  });
});
