/**
 * The one line for an Envoy extension polyvoy does not have — a network, HTTP, listener or
 * UDP listener filter, an access logger — named by Envoy's canonical extension name and what
 * it is, whichever way the config names it (the filter's `name`, or the "@type" of its
 * typed_config, v3 or the v2 API Envoy removed in 1.18). A bare `unsupported "…"` with the
 * type URL and a list of what polyvoy has outgrew the problem's one line (describe-issues.ts).
 */

export type ExtensionCategory = "network" | "http" | "listener" | "udp_listener" | "access_logger";

const CATEGORY_WORDS: Readonly<Record<ExtensionCategory, string>> = {
  network: "network filter",
  http: "HTTP filter",
  listener: "listener filter",
  udp_listener: "UDP listener filter",
  access_logger: "access logger",
};

/** Envoy's canonical prefix for each category (source/extensions/extensions_build_config.bzl). */
const CANONICAL_PREFIX: Readonly<Record<ExtensionCategory, string>> = {
  network: "envoy.filters.network.",
  http: "envoy.filters.http.",
  listener: "envoy.filters.listener.",
  udp_listener: "envoy.filters.udp_listener.",
  access_logger: "envoy.access_loggers.",
};

/** What the Envoy extensions users most often bring are, by their short name. */
const WHAT_IT_IS: Readonly<Record<string, string>> = {
  redis_proxy: "the Redis proxy",
  mongo_proxy: "the MongoDB proxy",
  mysql_proxy: "the MySQL protocol filter",
  postgres_proxy: "the PostgreSQL protocol filter",
  kafka_broker: "the Kafka broker filter",
  kafka_mesh: "the Kafka mesh filter",
  thrift_proxy: "the Thrift proxy",
  dubbo_proxy: "the Dubbo proxy",
  zookeeper_proxy: "the ZooKeeper proxy",
  echo: "the echo filter",
  rocketmq_proxy: "the RocketMQ proxy",
  udp_proxy: "the UDP proxy",
  ext_proc: "external processing",
  grpc_http1_bridge: "the gRPC HTTP/1.1 bridge",
  grpc_stats: "gRPC statistics",
  ratelimit: "the global (gRPC) rate limit service client",
  golang: "Go plugins",
  dynamic_modules: "dynamic modules",
  tap: "the tap filter",
  adaptive_concurrency: "adaptive concurrency",
  admission_control: "admission control",
  aws_lambda: "AWS Lambda",
  aws_request_signing: "AWS request signing",
  open_telemetry: "OpenTelemetry access logs",
  http_grpc: "gRPC access log service",
  tcp_grpc: "gRPC access log service",
  fluentd: "Fluentd",
  proxy_protocol: "the PROXY protocol",
};

/**
 * The Envoy extension a config names: from "@type" when there is one (its proto package
 * names the extension: envoy.extensions.filters.network.redis_proxy.v3 or, in the v2 API,
 * envoy.config.filter.network.redis_proxy.v2), else the name as given.
 */
function extensionOf(category: ExtensionCategory, name: string, typeUrl: string | undefined): { name: string; short: string | undefined; v2: boolean } {
  const type = typeUrl?.slice(typeUrl.lastIndexOf("/") + 1);
  const fromType =
    type === undefined
      ? undefined
      : /^envoy\.(?:extensions\.filters|config\.filter)\.(network|http|listener|udp)\.([a-z0-9_]+)\.(v\d\w*)\./.exec(type) ??
        /^envoy\.(?:extensions|config)\.(access_loggers|accesslog)\.([a-z0-9_]+)\.(v\d\w*)\./.exec(type);
  if (fromType) {
    const short = fromType[2]!;
    return { name: `${CANONICAL_PREFIX[category]}${short}`, short, v2: fromType[3] === "v2" };
  }
  const prefix = CANONICAL_PREFIX[category];
  return { name, short: name.startsWith(prefix) ? name.slice(prefix.length) : undefined, v2: false };
}

/**
 * `envoy.filters.network.redis_proxy (the Redis proxy) is an Envoy network filter that
 * polyvoy does not have (…)`; for one polyvoy has (`has`: canonical names) but named by a
 * v2 "@type", that Envoy removed the v2 API in 1.18 (and so polyvoy reads only v3).
 */
export function missingExtension(category: ExtensionCategory, name: string, typeUrl: string | undefined, has: readonly string[]): string {
  const extension = extensionOf(category, name, typeUrl);
  if (extension.v2 && has.includes(extension.name)) {
    return `"@type" ${typeUrl} is Envoy's v2 API, which Envoy removed in 1.18; write the v3 type of ${extension.name}`;
  }
  const what = extension.short !== undefined ? WHAT_IT_IS[extension.short] : undefined;
  const v2 = extension.v2 ? " (by a v2 \"@type\", which Envoy dropped in 1.18)" : "";
  const refusal =
    what !== undefined
      ? `${extension.name} (${what}) is an Envoy ${CATEGORY_WORDS[category]} that polyvoy does not have`
      : `${JSON.stringify(extension.name)} is not one of polyvoy's ${CATEGORY_WORDS[category]}s`;
  return `${refusal}${v2} (polyvoy's: docs/configuration.md)`;
}
