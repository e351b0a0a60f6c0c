/**
 * Envoy v3 bootstrap loading: text → tree → read as protobuf's JSON parser reads it for
 * Envoy (proto-json.ts: snake_case keys, enum names, TypedStruct) → schema, its issues
 * told apart by Envoy's own protos (describe-issues.ts) → cross-checks.
 * Every problem found is reported (see errors.ts); nothing half-valid is returned.
 */
import { LineCounter, parseDocument } from "yaml";
import type { Bootstrap, FilterChainConfig, ListenerConfig, RouteConfiguration, SdsSecretConfig } from "./bootstrap.ts";
import { describeIssues, oneLine } from "./describe-issues.ts";
import { missingReferenceMessage } from "./refusal.ts";
import { ConfigError, problemAt, type ConfigPath } from "./errors.ts";
import { findJsonSyntaxError } from "./json-syntax.ts";
import { readProtoTree } from "./proto-json.ts";
import { mergeOverride } from "./merge-override.ts";
import { bootstrapSchema, listenerSchema } from "./schema.ts";
import { formatAddress } from "../network/address.ts";
import type { ConfigFormat, LoadedConfig, ValidConfig } from "./config-source.ts";
import { isPrimaryClusterType } from "./xds/backing-cluster.ts";

export { formatFromPath, type ConfigFormat } from "./config-source.ts";
export { releaseSchemas } from "./lazy-schema.ts";

/** Parse, validate and default a bootstrap config. Throws ConfigError listing every problem. */
export function loadBootstrap(text: string, format: ConfigFormat): Bootstrap {
  return loadBootstrapDocument(text, format).bootstrap;
}

/**
 * loadBootstrap, also returning the document as read with its keys in snake_case
 * (the admin's /config_dump shows it). `overrideYaml` (`--config-yaml` beside `-c`) is
 * merged over the text's document as Envoy's MergeFrom does (merge-override.ts).
 */
export function loadBootstrapDocument(text: string, format: ConfigFormat, overrideYaml?: string): ValidConfig {
  const binary = notText(text);
  if (binary !== undefined) throw new ConfigError([problemAt([], binary)]);
  // A byte order mark is no part of the document (YAML skips it; JSON.parse does not).
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const parsed = format === "json" ? parseJson(text) : parseYaml(text);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  if (parsed.value === null || parsed.value === undefined) throw new ConfigError([problemAt([], "the document is empty")]);

  const problems: string[] = [];
  const proto = readProtoTree(parsed.value, problems);
  let tree = proto.tree;
  if (overrideYaml !== undefined) {
    const override = parseYaml(overrideYaml);
    if (!override.ok) throw new ConfigError(override.problems.map((problem) => `--config-yaml: ${problem}`));
    const overrideProblems: string[] = [];
    const read = readProtoTree(override.value ?? {}, overrideProblems, proto.messages);
    problems.push(...overrideProblems.map((problem) => `--config-yaml: ${problem}`));
    if (typeof read.tree !== "object" || read.tree === null || Array.isArray(read.tree)) throw new ConfigError([...problems, "--config-yaml: not a bootstrap (a mapping of its fields)"]);
    if (typeof tree === "object" && tree !== null && !Array.isArray(tree)) tree = mergeOverride(tree as Record<string, unknown>, read.tree as Record<string, unknown>, proto.messages);
  }
  const result = bootstrapSchema.safeParse(tree, { reportInput: true });
  if (!result.success) problems.push(...describeIssues(result.error.issues, proto));
  // A valid bootstrap holds each listener as parsed (bootstrap.listeners[i] is listener i's):
  // cross-checked from there rather than parsed again.
  problems.push(...crossCheck(tree, result.success ? result.data.listeners : undefined));
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return { bootstrap: result.data, document: tree };
}

/** loadBootstrapDocument with its problems as a value (what a worker can post back). */
export function loadConfig(text: string, format: ConfigFormat, overrideYaml?: string): LoadedConfig {
  try {
    return loadBootstrapDocument(text, format, overrideYaml);
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
}

// ---- Text → tree -----------------------------------------------------------------

type Parsed = { ok: true; value: unknown } | { ok: false; problems: string[] };

/** NUL, or bytes that are not UTF-8 (read as U+FFFD): not a config anyone wrote. */
function notText(text: string): string | undefined {
  if (text.includes("\0")) return "not a text file (it contains NUL bytes)";
  if (text.includes("\uFFFD")) return "not a text file (it is not valid UTF-8)";
  return undefined;
}

/**
 * Keys tagged `!ignore` are dropped, as Envoy's YAML loader drops them (yaml_utility.cc):
 * a place for anchors that only aliases use. The key is read with a mark no config text can
 * carry (a NUL: such text is refused before) and dropped once aliases are resolved.
 */
const IGNORED_KEY_MARK = "\0!ignore\0";
const IGNORE_TAG = { tag: "!ignore", default: false, resolve: (text: string) => IGNORED_KEY_MARK + text } as const;

/**
 * A plain integer with a leading 0 is octal, as Envoy reads YAML: its parseYamlNode
 * (source/common/protobuf/yaml_utility.cc) converts scalars with yaml-cpp's
 * convert<int64_t>, whose stream takes the base from the prefix — `mode: 0600` is 384 there,
 * not YAML 1.2's decimal 600 (which a pipe's mode refuses, and `0400` would silently be
 * 0o620). Hex (`0x1F`) is YAML 1.2's too. Tried before the core schema's decimal integers.
 */
const YAML_CPP_OCTAL = {
  tag: "tag:yaml.org,2002:int",
  default: true,
  test: /^[-+]?0[0-7]+$/,
  resolve: (text: string) => (text.startsWith("-") ? -1 : 1) * parseInt(text.replace(/^[-+]/, ""), 8),
} as const;

function dropIgnoredKeys(value: unknown, seen = new Set<object>()): void {
  if (typeof value !== "object" || value === null || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) return value.forEach((item) => dropIgnoredKeys(item, seen));
  for (const key of Object.keys(value)) {
    if (key.startsWith(IGNORED_KEY_MARK)) delete (value as Record<string, unknown>)[key];
    else dropIgnoredKeys((value as Record<string, unknown>)[key], seen);
  }
}

function parseYaml(text: string): Parsed {
  const lineCounter = new LineCounter();
  // logLevel "silent": the library would otherwise print its warnings to the process's
  // stderr; they are problems here (an unknown tag is not silently read as a string).
  // uniqueKeys off: Envoy's loader (yaml-cpp into a protobuf Struct, yaml_utility.cc)
  // takes a key given twice in one mapping without complaint, the later value winning.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: "silent", uniqueKeys: false, customTags: (tags) => [YAML_CPP_OCTAL, ...tags, IGNORE_TAG] });
  if (doc.errors.length > 0 || doc.warnings.length > 0) {
    return {
      ok: false,
      // The first error only: the parser's later ones are mostly its own lost footing after
      // it (one stray `{` made 20 lines). Warnings (an unknown tag…) are each their own.
      problems: (doc.errors.length > 0 ? [doc.errors[0]!] : doc.warnings).map((e) => {
        // Envoy reads one document; the library's own wording points at its API.
        const message = e.code === "MULTIPLE_DOCS" ? "more than one YAML document (a config is a single document)" : e.message;
        return syntaxProblem("YAML", message, lineCounter.linePos(e.pos[0]));
      }),
    };
  }
  try {
    const value: unknown = doc.toJS();
    dropIgnoredKeys(value);
    return { ok: true, value };
  } catch (err) {
    return { ok: false, problems: [problemAt([], `YAML error: ${oneLine(String((err as Error).message ?? err))}`)] };
  }
}

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    if (text.trim() === "") return { ok: false, problems: [problemAt([], "JSON syntax error: the document is empty")] };
    // JSON.parse's wording and positions differ by engine (some give no position).
    const found = findJsonSyntaxError(text);
    if (found) return { ok: false, problems: [syntaxProblem("JSON", found.message, { line: found.line, col: found.column })] };
    return { ok: false, problems: [problemAt([], `JSON syntax error: ${oneLine(String((err as Error).message ?? err))}`)] };
  }
}

function syntaxProblem(language: string, message: string, at: { line: number; col: number }): string {
  return problemAt([], `${language} syntax error at line ${at.line}, column ${at.col}: ${oneLine(message)}`);
}

// ---- Cross-checks ------------------------------------------------------------------

/**
 * Checks across objects, which Envoy makes when it adds listeners and clusters:
 * unique names, one listener per address, and tcp_proxy and route clusters that exist.
 * They run on the raw tree so that they are reported along with schema problems:
 * clusters count by name even when otherwise invalid (so a broken cluster does not
 * also read as missing), and each listener that is valid on its own is checked.
 * `parsedListeners`: the listeners as the whole bootstrap's parse made them, when it
 * succeeded; otherwise each is parsed on its own here.
 */
function crossCheck(tree: unknown, parsedListeners?: readonly ListenerConfig[]): string[] {
  const problems: string[] = [];
  const resources = field(tree, "static_resources");
  const hasCds = field(field(tree, "dynamic_resources"), "cds_config") !== undefined;

  const clusterNames = new Set<string>();
  items(field(resources, "clusters")).forEach((raw, i) => {
    const name = field(raw, "name");
    if (typeof name !== "string") return;
    // Envoy: "cluster manager: duplicate cluster '<name>'"
    if (clusterNames.has(name)) problems.push(problemAt(["static_resources", "clusters", i, "name"], `duplicate cluster name "${name}"`));
    clusterNames.add(name);
  });

  problems.push(...checkConfigSourceClusters(tree, resources));

  // static_resources.secrets of kind generic_secret, by name (the oauth2 filter's secrets).
  const genericSecretNames = new Set<string>();
  for (const raw of items(field(resources, "secrets"))) {
    const name = field(raw, "name");
    if (typeof name === "string" && field(raw, "generic_secret") !== undefined) genericSecretNames.add(name);
  }

  const byName = new Map<string, { named: boolean }>();
  const byAddress = new Map<string, ListenerConfig>();
  items(field(resources, "listeners")).forEach((raw, i) => {
    let listener = parsedListeners?.[i];
    if (listener === undefined) {
      const parsed = listenerSchema.safeParse(raw);
      if (!parsed.success) return;
      listener = parsed.data;
    }
    const at: ConfigPath = ["static_resources", "listeners", i];
    const named = typeof field(raw, "name") === "string";

    // Two unnamed listeners share a default name only if they share an address,
    // which is reported below; say it once.
    const earlier = byName.get(listener.name);
    if (earlier !== undefined && (named || earlier.named)) {
      problems.push(problemAt([...at, "name"], `duplicate listener name "${listener.name}"`));
    } else if (earlier === undefined) {
      byName.set(listener.name, { named });
    }

    // Port 0 asks for any free port, so it never collides; a pipe's port is 0 and its path is the address.
    const pipe = listener.address.pipe !== undefined;
    const key = pipe ? listener.address.address : formatAddress(listener.address);
    const holder = byAddress.get(key);
    if ((pipe || listener.address.port !== 0) && holder !== undefined) {
      problems.push(problemAt([...at, "address"], `duplicate listener address ${key} (already used by listener "${holder.name}")`));
    } else if (holder === undefined) {
      byAddress.set(key, listener);
    }

    const chains: [FilterChainConfig, ConfigPath][] = listener.filterChains.map((chain, c) => [chain, [...at, "filter_chains", c]]);
    if (listener.defaultFilterChain) chains.push([listener.defaultFilterChain, [...at, "default_filter_chain"]]);
    chains.forEach(([chain, chainAt]) => {
      chain.filters.forEach((filter, f) => {
        const typedConfig = [...chainAt, "filters", f, "typed_config"];
        if (filter.type === "envoy.filters.network.tcp_proxy") {
          const weighted = filter.config.clusters.length > 1 || filter.config.clusters[0]!.weight !== 1;
          filter.config.clusters.forEach(({ name }, w) => {
            if (!clusterNames.has(name)) problems.push(missingCluster(weighted ? [...typedConfig, "weighted_clusters", "clusters", w, "name"] : [...typedConfig, "cluster"], name, clusterNames));
          });
        }
        if (filter.type === "envoy.filters.network.http_connection_manager") {
          problems.push(...checkRouteClusters(filter.config.routeConfig, [...typedConfig, "route_config"], clusterNames));
          // Envoy's zipkin Driver: Config::Utility::checkCluster("envoy.tracers.zipkin", ...).
          const zipkin = filter.config.tracing?.zipkin;
          if (zipkin !== undefined && !clusterNames.has(zipkin.collectorCluster)) {
            problems.push(problemAt([...typedConfig, "tracing", "provider", "typed_config", "collector_cluster"], `envoy.tracers.zipkin: unknown cluster '${zipkin.collectorCluster}'`));
          }
          // The Datadog Tracer: Config::Utility::checkCluster("envoy.tracers.datadog", ...) (tracer.cc).
          const datadog = filter.config.tracing?.datadog;
          if (datadog !== undefined && !clusterNames.has(datadog.collectorCluster)) {
            problems.push(problemAt([...typedConfig, "tracing", "provider", "typed_config", "collector_cluster"], `envoy.tracers.datadog: unknown cluster '${datadog.collectorCluster}'`));
          }
          // ext_authz's (and ratelimit's) service cluster: with static clusters only, a missing one could only ever fail every check.
          filter.config.httpFilters.forEach((http, h) => {
            // A google_grpc service's cluster is its own (config/google-grpc-target.ts). With CDS
            // the service's cluster may come later: Envoy's HTTP client looks it up at each check
            // (getThreadLocalCluster; none is an error response: ext_authz_http_impl.cc), and an
            // envoy_grpc client is made with skip_cluster_check = true (ext_authz config.cc,
            // getOrCreateRawAsyncClientWithHashKey(..., true)): a call while the cluster is
            // absent closes Unavailable (grpc/async_client_impl.cc), an error like any other.
            const fromCds = http.type === "envoy.filters.http.ext_authz" && hasCds;
            if (http.type === "envoy.filters.http.ext_authz" && http.config.grpc?.google === undefined && !clusterNames.has(http.config.cluster) && !fromCds) {
              const at = http.config.grpc !== undefined ? ["grpc_service", "envoy_grpc", "cluster_name"] : ["http_service", "server_uri", "cluster"];
              problems.push(missingCluster([...typedConfig, "http_filters", h, "typed_config", ...at], http.config.cluster, clusterNames));
            }
            if (http.type === "envoy.filters.http.ext_proc" && http.config.grpc.google === undefined && !clusterNames.has(http.config.grpc.clusterName)) {
              problems.push(missingCluster([...typedConfig, "http_filters", h, "typed_config", "grpc_service", "envoy_grpc", "cluster_name"], http.config.grpc.clusterName, clusterNames));
            }
            if (http.type === "envoy.filters.http.oauth2" && http.config.config !== undefined) {
              const oauth = http.config.config;
              const at = [...typedConfig, "http_filters", h, "typed_config", "config"];
              // Envoy's FilterConfig (oauth2/filter.cc) refuses an unknown token_endpoint cluster.
              if (!clusterNames.has(oauth.tokenEndpoint.cluster)) {
                problems.push(problemAt([...at, "token_endpoint", "cluster"], `OAuth2 filter: unknown cluster '${oauth.tokenEndpoint.cluster}' in config. Please specify which cluster to direct OAuth requests to.`));
              }
              // config.cc: a secret without sds_config must be a static generic secret.
              const secrets: [SdsSecretConfig, string, string][] = [
                [oauth.tokenSecret, "token_secret", "invalid token secret configuration"],
                [oauth.hmacSecret, "hmac_secret", "invalid HMAC secret configuration"],
              ];
              for (const [ref, name, message] of secrets) {
                if (ref.sdsConfig === undefined && !genericSecretNames.has(ref.name)) problems.push(problemAt([...at, "credentials", name, "name"], `${message}: Unknown static secret: ${ref.name}`));
              }
            }
            if (http.type === "envoy.filters.http.ratelimit" && http.config.service.google === undefined && !clusterNames.has(http.config.service.clusterName)) {
              const at = ["rate_limit_service", "grpc_service", "envoy_grpc", "cluster_name"];
              problems.push(missingCluster([...typedConfig, "http_filters", h, "typed_config", ...at], http.config.service.clusterName, clusterNames));
            }
          });
        }
      });
    });
  });
  return problems;
}

/**
 * Envoy validates the clusters of a static route_config when it loads (validate_clusters
 * defaults to true there): "route: unknown cluster 'x'".
 */
function checkRouteClusters(routeConfig: RouteConfiguration, at: ConfigPath, clusterNames: Set<string>): string[] {
  const problems: string[] = [];
  const missing = (path: ConfigPath, name: string) => {
    if (!clusterNames.has(name)) problems.push(missingCluster(path, name, clusterNames));
  };
  routeConfig.virtualHosts.forEach((vhost, v) => {
    vhost.routes.forEach((route, r) => {
      if (route.action.type !== "route") return;
      const action = route.action.route;
      const path = [...at, "virtual_hosts", v, "routes", r, "route"];
      if (action.cluster !== undefined) missing([...path, "cluster"], action.cluster);
      action.weightedClusters?.forEach((weighted, w) => missing([...path, "weighted_clusters", "clusters", w, "name"], weighted.name));
      // Envoy: "route: unknown shadow cluster 'x'" (a cluster_header mirror is resolved per request).
      action.requestMirrorPolicies?.forEach((m, i) => m.cluster !== undefined && missing([...path, "request_mirror_policies", i, "cluster"], m.cluster));
    });
    vhost.requestMirrorPolicies?.forEach((m, i) => m.cluster !== undefined && missing([...at, "virtual_hosts", v, "request_mirror_policies", i, "cluster"], m.cluster));
  });
  return problems;
}

/**
 * Management servers: an envoy_grpc or REST source names a primary cluster of
 * static_resources: not EDS, or EDS from a file (isPrimaryClusterType). Envoy's
 * checkApiConfigSourceSubscriptionBackingCluster, which SubscriptionFactoryImpl runs for
 * every subscription: the cluster that brings the config cannot itself come from it. Checked for dynamic_resources' sources and for the SDS and
 * RTDS sources the bootstrap names (static listeners', clusters' and filters' sds_config,
 * rtds layers' rtds_config).
 */
function checkConfigSourceClusters(tree: unknown, resources: unknown): string[] {
  const primary = new Set<string>();
  for (const raw of items(field(resources, "clusters"))) {
    const name = field(raw, "name");
    const type = field(raw, "type");
    const edsConfig = field(field(raw, "eds_cluster_config"), "eds_config");
    const edsConfigIsPath = field(edsConfig, "path") !== undefined || field(edsConfig, "path_config_source") !== undefined;
    if (typeof name === "string" && isPrimaryClusterType(typeof type === "string" ? type : "STATIC", edsConfigIsPath)) primary.add(name);
  }
  const problems: string[] = [];
  const dynamic = field(tree, "dynamic_resources");
  const sources: [ConfigPath, unknown][] = [];
  for (const key of ["lds_config", "cds_config", "ads_config"]) {
    const api = key === "ads_config" ? field(dynamic, key) : field(field(dynamic, key), "api_config_source");
    sources.push([key === "ads_config" ? ["dynamic_resources", key] : ["dynamic_resources", key, "api_config_source"], api]);
  }
  for (const key of ["listeners", "clusters"]) {
    collectConfigSources(field(resources, key), ["static_resources", key], "sds_config", sources, 0);
  }
  for (const [i, layer] of items(field(field(tree, "layered_runtime"), "layers")).entries()) {
    sources.push([["layered_runtime", "layers", i, "rtds_layer", "rtds_config", "api_config_source"], field(field(field(layer, "rtds_layer"), "rtds_config"), "api_config_source")]);
  }
  for (const [at, api] of sources) {
    if (api === undefined) continue;
    const named: [ConfigPath, unknown][] = [
      ...items(field(api, "grpc_services")).map((g, i): [ConfigPath, unknown] => [[...at, "grpc_services", i, "envoy_grpc", "cluster_name"], field(field(g, "envoy_grpc"), "cluster_name")]),
      ...items(field(api, "cluster_names")).map((n, i): [ConfigPath, unknown] => [[...at, "cluster_names", i], n]),
    ];
    for (const [path, name] of named) {
      if (typeof name === "string" && !primary.has(name)) {
        problems.push(problemAt(path, `envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: '${name}' does not exist, was added via api, or is an EDS cluster`));
      }
    }
  }
  return problems;
}

/** Deeper than any SdsSecretConfig sits in a listener or cluster (and a bound on a YAML alias cycle). */
const MAX_SOURCE_DEPTH = 64;

/** Every `key` ConfigSource's api_config_source under `value` (raw config), with its path. */
function collectConfigSources(value: unknown, at: ConfigPath, key: string, into: [ConfigPath, unknown][], depth: number): void {
  if (typeof value !== "object" || value === null || depth > MAX_SOURCE_DEPTH) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => collectConfigSources(item, [...at, i], key, into, depth + 1));
    return;
  }
  for (const [name, inner] of Object.entries(value)) {
    if (name === key) into.push([[...at, key, "api_config_source"], field(inner, "api_config_source")]);
    else collectConfigSources(inner, [...at, name], key, into, depth + 1);
  }
}

/** (d) a reference to a cluster that is not there. */
function missingCluster(at: ConfigPath, name: string, clusterNames: ReadonlySet<string>): string {
  return problemAt(at, missingReferenceMessage("cluster", name, clusterNames));
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function items(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
