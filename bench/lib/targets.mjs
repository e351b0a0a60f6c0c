// What the bench measures: polyvoy on node, bun and deno, the peers a user might pick
// instead, and the direct (no proxy) baseline. Each target knows whether it can run here
// and how to start on the proxy core, listening on a free loopback port.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nginxMain, nginxTempPaths } from "./origin.mjs";
import { BENCH, BIN, Proc, ROOT, firstLine, freePort, run, which, wrapped } from "./system.mjs";

const PEERS = join(BENCH, "peers");

/** The Envoy bootstrap polyvoy runs: one listener (HCM + router) → one STATIC cluster, the origin. */
export function polyvoyConfig(listenPort, originPort) {
  return {
    static_resources: {
      listeners: [
        {
          name: "bench",
          address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "bench",
                    codec_type: "AUTO",
                    route_config: {
                      name: "bench",
                      virtual_hosts: [{ name: "origin", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "origin" } }] }],
                    },
                    http_filters: [
                      {
                        name: "envoy.filters.http.router",
                        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "origin",
          type: "STATIC",
          connect_timeout: "1s",
          load_assignment: {
            cluster_name: "origin",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: originPort } } } }] }],
          },
        },
      ],
    },
  };
}

/**
 * polyvoyConfig with the gRPC unary scenario's route: `/bench.Echo/` to a cluster of the
 * gRPC origin speaking HTTP/2 (explicit_http_config), no route timeout.
 */
export function withGrpcRoute(config, grpcPort) {
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.virtual_hosts[0].routes.unshift({ match: { prefix: "/bench.Echo/" }, route: { cluster: "grpc", timeout: "0s" } });
  config.static_resources.clusters.push({
    name: "grpc",
    type: "STATIC",
    connect_timeout: "1s",
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: { cluster_name: "grpc", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: grpcPort } } } }] }] },
  });
  return config;
}

/**
 * polyvoyConfig with a second listener terminating TLS (ALPN h2, http/1.1), the same HCM
 * behind it: the https and h2 scenarios' (h2c needs none: codec_type AUTO takes the preface).
 */
export function withTlsListener(config, tlsPort, certificate) {
  const [plain] = config.static_resources.listeners;
  const tls = {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: {
        alpn_protocols: ["h2", "http/1.1"],
        tls_certificates: [{ certificate_chain: { filename: certificate.cert }, private_key: { filename: certificate.key } }],
      },
    },
  };
  config.static_resources.listeners.push({
    name: "bench-tls",
    address: { socket_address: { address: "127.0.0.1", port_value: tlsPort } },
    filter_chains: [{ ...plain.filter_chains[0], transport_socket: tls }],
  });
  return config;
}

/**
 * polyvoyConfig with the PostgreSQL scenarios' two listeners to the PostgreSQL origin:
 * tcp_proxy alone, and postgres_proxy (SQL parsing on, Envoy's default) before tcp_proxy.
 */
export function withPostgresListeners(config, ports, postgresPort) {
  const tcpProxy = {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "postgres_tcp", cluster: "postgres" },
  };
  const postgresProxy = {
    name: "envoy.filters.network.postgres_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", stat_prefix: "bench" },
  };
  const listener = (name, port, filters) => ({ name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters }] });
  config.static_resources.listeners.push(listener("postgres", ports.postgres, [tcpProxy]), listener("postgres-filter", ports["postgres-filter"], [postgresProxy, tcpProxy]));
  config.static_resources.clusters.push({
    name: "postgres",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: "postgres", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: postgresPort } } } }] }] },
  });
  return config;
}

/**
 * polyvoyConfig with the Kafka scenarios' two listeners to the Kafka origin: tcp_proxy
 * alone, and kafka_broker (no rewriting, no API key lists: the fields polyvoy accepts) before
 * tcp_proxy.
 */
export function withKafkaListeners(config, ports, kafkaPort) {
  const tcpProxy = {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "kafka_tcp", cluster: "kafka" },
  };
  const kafkaBroker = {
    name: "envoy.filters.network.kafka_broker",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.kafka_broker.v3.KafkaBroker", stat_prefix: "bench" },
  };
  const listener = (name, port, filters) => ({ name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters }] });
  config.static_resources.listeners.push(listener("kafka", ports.kafka, [tcpProxy]), listener("kafka-filter", ports["kafka-filter"], [kafkaBroker, tcpProxy]));
  config.static_resources.clusters.push({
    name: "kafka",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: "kafka", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: kafkaPort } } } }] }] },
  });
  return config;
}

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const staticCluster = (name, port, extra = {}) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  ...extra,
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
});
const HTTP2_OPTIONS = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

/**
 * polyvoyConfig with the TCP scenarios' listeners, all to the echo origin: `tcp-proxy`
 * (tcp_proxy → a second tcp_proxy listener → the origin: the same two hops as a tunnel, without
 * HTTP), `tcp-tunnel-h1` and `tcp-tunnel-h2` (tcp_proxy with tunneling_config, to a cluster of
 * the terminating listener over HTTP/1.1 or HTTP/2), and the terminating listener itself: an HCM
 * taking CONNECT (upgrade_configs), whose connect_matcher route has connect_config, so the router
 * opens a TCP connection to the origin and the request's body is the tunnel (Envoy's
 * "CONNECT termination"; no route timeout, as a long-lived tunnel needs).
 */
export function withTcpTunnelListeners(config, ports, echoPort) {
  const hopPort = ports["tcp-hop"];
  const terminatePort = ports["tunnel-terminate"];
  const tcpProxy = (name, port, cluster, tunneling) => ({
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_PROXY, stat_prefix: name, cluster, ...(tunneling ? { tunneling_config: tunneling } : {}) } }] }],
  });
  const terminate = {
    name: "tunnel-terminate",
    address: { socket_address: { address: "127.0.0.1", port_value: terminatePort } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: "tunnel_terminate",
              codec_type: "AUTO",
              upgrade_configs: [{ upgrade_type: "CONNECT" }],
              route_config: {
                name: "tunnel_terminate",
                virtual_hosts: [
                  {
                    name: "tunnels",
                    domains: ["*"],
                    routes: [{ match: { connect_matcher: {} }, route: { cluster: "tcp_echo", timeout: "0s", upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: {} }] } }],
                  },
                ],
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
            },
          },
        ],
      },
    ],
  };
  config.static_resources.listeners.push(
    tcpProxy("tcp-proxy", ports["tcp-proxy"], "tcp_hop"),
    tcpProxy("tcp-hop", hopPort, "tcp_echo"),
    tcpProxy("tcp-tunnel-h1", ports["tcp-tunnel-h1"], "tunnel_h1", { hostname: "echo.bench:7" }),
    tcpProxy("tcp-tunnel-h2", ports["tcp-tunnel-h2"], "tunnel_h2", { hostname: "echo.bench:7" }),
    terminate,
  );
  config.static_resources.clusters.push(
    staticCluster("tcp_echo", echoPort),
    staticCluster("tcp_hop", hopPort),
    staticCluster("tunnel_h1", terminatePort),
    staticCluster("tunnel_h2", terminatePort, HTTP2_OPTIONS),
  );
  return config;
}

/**
 * polyvoyConfig with the aggregate scenario's listener: the same HCM, its route to
 * `origin_aggregate`, an aggregate cluster (envoy.clusters.aggregate, CLUSTER_PROVIDED) of two
 * STATIC clusters of the origin; the first is healthy, so it serves every request.
 */
export function withAggregateListener(config, port, originPort) {
  const [plain] = config.static_resources.listeners;
  const listener = structuredClone(plain);
  listener.name = "bench-aggregate";
  listener.address.socket_address.port_value = port;
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  hcm.stat_prefix = "bench_aggregate";
  hcm.route_config = { name: "bench_aggregate", virtual_hosts: [{ name: "origin", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "origin_aggregate" } }] }] };
  config.static_resources.listeners.push(listener);
  config.static_resources.clusters.push(staticCluster("origin_first", originPort), staticCluster("origin_second", originPort), {
    name: "origin_aggregate",
    connect_timeout: "1s",
    lb_policy: "CLUSTER_PROVIDED",
    cluster_type: {
      name: "envoy.clusters.aggregate",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig", clusters: ["origin_first", "origin_second"] },
    },
  });
  return config;
}

/**
 * polyvoyConfig with the ext-proc-duplex scenario's listener: the same HCM with ext_proc
 * before the router, the request body FULL_DUPLEX_STREAMED (its trailer mode SEND, as Envoy's
 * config.cc requires), response headers SKIP, to `ext_proc_processor` (HTTP/2) on
 * `processorPort`.
 */
export function withExtProcListener(config, port, processorPort) {
  const [plain] = config.static_resources.listeners;
  const listener = structuredClone(plain);
  listener.name = "bench-ext-proc";
  listener.address.socket_address.port_value = port;
  const hcm = listener.filter_chains[0].filters[0].typed_config;
  hcm.stat_prefix = "bench_ext_proc";
  hcm.http_filters.unshift({
    name: "envoy.filters.http.ext_proc",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
      grpc_service: { envoy_grpc: { cluster_name: "ext_proc_processor" } },
      processing_mode: { request_header_mode: "SEND", response_header_mode: "SKIP", request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND" },
    },
  });
  config.static_resources.listeners.push(listener);
  config.static_resources.clusters.push(staticCluster("ext_proc_processor", processorPort, HTTP2_OPTIONS));
  return config;
}

/** polyvoyConfig with examples/filters/add-header.ts (a Script) before the router. */
export function withUserFilter(config) {
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.unshift({
    name: "add-header",
    typed_config: {
      "@type": "type.googleapis.com/polyvoy.filters.http.script.v1.Script",
      module: join(ROOT, "examples/filters/add-header.ts"),
      config: { header: "x-bench", value: "1" },
    },
  });
  return config;
}

/**
 * The HTTP/2 and TLS scenarios' listeners of the nginx peer: h2c (prior knowledge) on one
 * port, TLS with ALPN h2 and http/1.1 on another (nginx 1.22's `listen … http2`; `http2 on`
 * from 1.25.1 is the same).
 */
function nginxExtraServers(ports, certificate, location) {
  const servers = [`  server {\n    listen 127.0.0.1:${ports.h2c} http2 backlog=4096;\n${location}\n  }`];
  if (certificate && ports.https) {
    servers.push(`  server {
    listen 127.0.0.1:${ports.https} ssl http2 backlog=4096;
    ssl_certificate ${certificate.cert};
    ssl_certificate_key ${certificate.key};
${location}
  }`);
  }
  return servers.join("\n");
}

export function nginxPeerConfig(dir, port, originPort, nofile, ports = null, certificate = null) {
  const location = `    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
    }`;
  return `${nginxMain(dir, "peer", nofile)}
http {
  access_log off;
${nginxTempPaths(dir, "peer")}
  keepalive_requests 1000000000;
  keepalive_timeout 600s;
  client_max_body_size 0;
  upstream origin {
    server 127.0.0.1:${originPort};
    keepalive 1024;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
${location}
  }
${ports ? nginxExtraServers(ports, certificate, location) : ""}
}
`;
}

function haproxyConfig(port, originPort, maxconn) {
  return `global
  nbthread 1
  maxconn ${maxconn}

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-request 600s
  timeout http-keep-alive 600s

frontend bench
  bind 127.0.0.1:${port}
  default_backend origin

backend origin
  http-reuse always
  server origin 127.0.0.1:${originPort}
`;
}

/** HAProxy wants maxconn × 2 (+14) descriptors under the open-files limit, or exits. */
const haproxyMaxconn = (ctx) => Math.min(ctx.settings.idleConnections + 1000, Math.floor((ctx.nofile - 100) / 2));

const jsPeerDeps = () => existsSync(join(PEERS, "node_modules/http-proxy")) && existsSync(join(PEERS, "node_modules/@fastify/reply-from"));

/**
 * Install the JS peers' own dependencies (bench/peers/package.json and its lockfile) on first use.
 * Returns null when they are there, or a note saying why they are not.
 */
export async function ensurePeerDeps(log) {
  if (jsPeerDeps()) return null;
  const npm = which("npm");
  if (!npm) return "npm not found: cannot install the JS peers' dependencies";
  log("installing the JS peers' dependencies (npm ci --prefix bench/peers) …");
  const result = await run([npm, ["ci", "--prefix", PEERS, "--no-audit", "--no-fund", "--loglevel=error"]], { timeoutMs: 300_000 });
  if (result.code !== 0 || !jsPeerDeps()) return `npm ci --prefix bench/peers failed: ${(result.stderr || result.stdout).trim().slice(-500)}`;
  return null;
}

let built = null;
/** `npm run build` once per bench run (the package targets run its bundles). */
function ensureBuilt() {
  built ??= run(["npm", ["run", "--silent", "build"]], { timeoutMs: 600_000 }).then((result) => {
    if (result.code !== 0) throw new Error(`npm run build failed:\n${result.stderr.slice(-2000)}`);
  });
  return built;
}

const proxy = (ctx, label, cmd, args) => new Proc(label, wrapped(ctx.cpu.proxy, cmd, args, ctx.nofile));

/**
 * kind: "direct" (no proxy), "polyvoy", "js" (a JS peer), "native" (nginx, HAProxy).
 * runtime: the JS runtime it runs on, for "the best JS peer on the same runtime".
 */
export const TARGETS = [
  {
    id: "direct",
    label: "direct (no proxy)",
    kind: "direct",
    runtime: null,
    available: () => null,
    async start(ctx) {
      // gRPC unary, PostgreSQL and Kafka direct: to those origins themselves.
      const ports = {};
      if (ctx.grpcOrigin) ports.grpc = ctx.grpcOrigin.port;
      if (ctx.postgresOrigin) ports.postgres = ctx.postgresOrigin.port;
      if (ctx.kafkaOrigin) ports.kafka = ctx.kafkaOrigin.port;
      // The TCP scenarios direct: to the echo origin (the tunnels have no direct counterpart).
      if (ctx.tcpEchoOrigin) ports["tcp-proxy"] = ctx.tcpEchoOrigin.port;
      return { port: ctx.origin.port, proc: null, ports };
    },
  },
  ...["node", "bun", "deno"].map((runtime) => ({
    id: `polyvoy-${runtime}`,
    label: `polyvoy on ${runtime}`,
    kind: "polyvoy",
    runtime,
    available: () => (runtime === "node" || existsSync(join(BIN, runtime)) ? null : `node_modules/.bin/${runtime} missing (run npm ci)`),
    async start(ctx) {
      const port = await freePort();
      const config = join(ctx.workDir, `polyvoy-${runtime}.json`);
      // h2c on the same listener (codec_type AUTO); https and h2 on a TLS one when a scenario needs it.
      const ports = { h2c: port };
      let bootstrap = polyvoyConfig(port, ctx.origin.port);
      if (ctx.certificate) {
        ports.https = ports.h2 = await freePort();
        bootstrap = withTlsListener(bootstrap, ports.https, ctx.certificate);
      }
      // gRPC unary: the same listener routes the Echo service to the gRPC origin over HTTP/2.
      if (ctx.grpcOrigin) {
        ports.grpc = port;
        bootstrap = withGrpcRoute(bootstrap, ctx.grpcOrigin.port);
      }
      if (ctx.postgresOrigin) {
        ports.postgres = await freePort();
        ports["postgres-filter"] = await freePort();
        bootstrap = withPostgresListeners(bootstrap, ports, ctx.postgresOrigin.port);
      }
      if (ctx.kafkaOrigin) {
        ports.kafka = await freePort();
        ports["kafka-filter"] = await freePort();
        bootstrap = withKafkaListeners(bootstrap, ports, ctx.kafkaOrigin.port);
      }
      if (ctx.tcpEchoOrigin) {
        for (const name of ["tcp-proxy", "tcp-hop", "tcp-tunnel-h1", "tcp-tunnel-h2", "tunnel-terminate"]) ports[name] = await freePort();
        bootstrap = withTcpTunnelListeners(bootstrap, ports, ctx.tcpEchoOrigin.port);
      }
      if (ctx.extProcProcessor) {
        ports["ext-proc-duplex"] = await freePort();
        ports["ext-proc-base"] = port;
        bootstrap = withExtProcListener(bootstrap, ports["ext-proc-duplex"], ctx.extProcProcessor.port);
      }
      if (ctx.settings.scenarios.has("aggregate")) {
        ports.aggregate = await freePort();
        ports["aggregate-base"] = port;
        bootstrap = withAggregateListener(bootstrap, ports.aggregate, ctx.origin.port);
      }
      writeFileSync(config, JSON.stringify(bootstrap, null, 2));
      // started exactly as test/support/proxy-process.ts does
      const argv = {
        node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", config, "--concurrency", "1"]],
        bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", config, "--concurrency", "1"]],
        deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", config, "--concurrency", "1"]],
      }[runtime];
      return { port, ports, proc: proxy(ctx, `polyvoy on ${runtime}`, ...argv) };
    },
  })),
  // polyvoy with a TypeScript filter (examples/filters/add-header.ts: one request and one
  // response header) before the router: what a user filter costs. Only with --only.
  ...["node", "bun", "deno"].map((runtime) => ({
    id: `polyvoy-${runtime}-ts-filter`,
    label: `polyvoy on ${runtime} + a TypeScript filter`,
    kind: "polyvoy-variant",
    optIn: true,
    runtime,
    available: () => (runtime === "node" || existsSync(join(BIN, runtime)) ? null : `node_modules/.bin/${runtime} missing (run npm ci)`),
    async start(ctx) {
      const port = await freePort();
      const config = join(ctx.workDir, `polyvoy-${runtime}-ts-filter.json`);
      writeFileSync(config, JSON.stringify(withUserFilter(polyvoyConfig(port, ctx.origin.port)), null, 2));
      const argv = {
        node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", config, "--concurrency", "1"]],
        bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), "-c", config, "--concurrency", "1"]],
        deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", config, "--concurrency", "1"]],
      }[runtime];
      return { port, proc: proxy(ctx, `polyvoy on ${runtime} + a TypeScript filter`, ...argv) };
    },
  })),
  // polyvoy as the package runs it (`<runtime> bin/polyvoy.js`: that runtime's entry of
  // dist/, built by `npm run build` first), what a user of `npx polyvoy` gets: on node
  // without tsx, which holds tens of MiB of its own. Only with --only.
  ...["node", "bun", "deno"].map((runtime) => ({
    id: `polyvoy-${runtime}-package`,
    label: `polyvoy on ${runtime} from the package`,
    kind: "polyvoy-variant",
    optIn: true,
    runtime,
    available: () => (runtime === "node" || existsSync(join(BIN, runtime)) ? null : `node_modules/.bin/${runtime} missing (run npm ci)`),
    async start(ctx) {
      await ensureBuilt();
      const port = await freePort();
      const config = join(ctx.workDir, `polyvoy-${runtime}-package.json`);
      writeFileSync(config, JSON.stringify(polyvoyConfig(port, ctx.origin.port), null, 2));
      const runner = { node: [process.execPath, []], bun: [join(BIN, "bun"), []], deno: [join(BIN, "deno"), ["run", "-A"]] }[runtime];
      // One worker in this process, as every other target runs: unset, --concurrency is one
      // worker process per hardware thread plus a supervisor (three processes here).
      const argv = [...runner[1], join(ROOT, "bin/polyvoy.js"), "-c", config, "--concurrency", "1"];
      return { port, proc: proxy(ctx, `polyvoy on ${runtime} from the package`, runner[0], argv) };
    },
  })),
  {
    id: "nginx",
    label: "nginx",
    kind: "native",
    runtime: null,
    available: () => (which("nginx") ? null : "nginx not installed (apt-get install nginx)"),
    async start(ctx) {
      const port = await freePort();
      const ports = { h2c: await freePort() };
      if (ctx.certificate) ports.https = ports.h2 = await freePort();
      const conf = join(ctx.workDir, "peer-nginx.conf");
      writeFileSync(conf, nginxPeerConfig(ctx.workDir, port, ctx.origin.port, ctx.nofile, ports, ctx.certificate));
      return { port, ports, proc: proxy(ctx, "nginx", which("nginx"), ["-c", conf, "-p", ctx.workDir]) };
    },
  },
  {
    id: "haproxy",
    label: "HAProxy",
    kind: "native",
    runtime: null,
    available: () => (which("haproxy") ? null : "HAProxy not installed (apt-get install haproxy)"),
    idleLimit: (ctx) => haproxyMaxconn(ctx) - 50,
    idleLimitWhy: "HAProxy reserves two descriptors per connection and refuses a maxconn the open-files limit cannot hold",
    async start(ctx) {
      const port = await freePort();
      const conf = join(ctx.workDir, "peer-haproxy.cfg");
      writeFileSync(conf, haproxyConfig(port, ctx.origin.port, haproxyMaxconn(ctx)));
      return { port, proc: proxy(ctx, "HAProxy", which("haproxy"), ["-f", conf, "-db"]) };
    },
  },
  {
    id: "node-http-proxy",
    label: "node-http-proxy",
    kind: "js",
    runtime: "node",
    available: (ctx) => ctx.peerDepsNote,
    async start(ctx) {
      const port = await freePort();
      return { port, proc: proxy(ctx, "node-http-proxy", process.execPath, [join(PEERS, "node-http-proxy.mjs"), String(port), String(ctx.origin.port)]) };
    },
  },
  {
    id: "fastify-reply-from",
    label: "fastify + reply-from",
    kind: "js",
    runtime: "node",
    available: (ctx) => ctx.peerDepsNote,
    async start(ctx) {
      const port = await freePort();
      return { port, proc: proxy(ctx, "fastify + reply-from", process.execPath, [join(PEERS, "fastify-reply-from.mjs"), String(port), String(ctx.origin.port)]) };
    },
  },
  {
    id: "bun-fetch",
    label: "Bun.serve + fetch",
    kind: "js",
    runtime: "bun",
    available: () => (existsSync(join(BIN, "bun")) ? null : "node_modules/.bin/bun missing (run npm ci)"),
    async start(ctx) {
      const port = await freePort();
      return { port, proc: proxy(ctx, "Bun.serve + fetch", join(BIN, "bun"), [join(PEERS, "bun-fetch.ts"), String(port), String(ctx.origin.port)]) };
    },
  },
  {
    id: "deno-fetch",
    label: "Deno.serve + fetch",
    kind: "js",
    runtime: "deno",
    available: () => (existsSync(join(BIN, "deno")) ? null : "node_modules/.bin/deno missing (run npm ci)"),
    async start(ctx) {
      const port = await freePort();
      return { port, proc: proxy(ctx, "Deno.serve + fetch", join(BIN, "deno"), ["run", "-A", join(PEERS, "deno-fetch.ts"), String(port), String(ctx.origin.port)]) };
    },
  },
];

/** Versions of everything measured, for the report. */
export function versions(ctx) {
  const pkg = (dir, name) => {
    try {
      return JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  const out = {
    polyvoy: JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version,
    node: process.version,
    bun: existsSync(join(BIN, "bun")) ? firstLine(join(BIN, "bun"), ["--version"]) : null,
    deno: existsSync(join(BIN, "deno")) ? firstLine(join(BIN, "deno"), ["--version"]).match(/deno (\S+)/)?.[1] ?? null : null,
    nginx: which("nginx") ? firstLine(which("nginx"), ["-v"]).match(/nginx\/(\S+)/)?.[1] ?? "?" : null,
    haproxy: which("haproxy") ? firstLine(which("haproxy"), ["-v"]).match(/version (\S+)/)?.[1] ?? "?" : null,
    wrk: ctx.tools.wrk ? firstLine(ctx.tools.wrk, ["-v"]).match(/wrk (?:debian\/)?(\S+)/)?.[1] ?? "?" : null,
    "http-proxy": pkg(PEERS, "http-proxy"),
    fastify: pkg(PEERS, "fastify"),
    "@fastify/reply-from": pkg(PEERS, "@fastify/reply-from"),
    undici: pkg(PEERS, "undici"),
  };
  const git = firstLine("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]);
  if (/^[0-9a-f]{7,}$/.test(git)) out.commit = git;
  return out;
}
