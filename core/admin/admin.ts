/**
 * Envoy's admin interface (`AdminImpl`), on `admin.address`, served by polyvoy's own
 * HTTP stack: the admin listener is an ActiveListener whose one network filter is a
 * connection manager (stats `http.admin.*`, `listener.admin.*`) whose one HTTP filter
 * is the AdminFilter, which hands each complete request to `Admin.handle`.
 *
 * Endpoints are matched on the exact path (the query aside), as Envoy's are; those that
 * change the server answer only POST (405 otherwise); an unknown path gets 404 and the
 * list of endpoints.
 */
import { certsAsJson } from "./certs.ts";
import type {
  AdminConfig,
  AdminRequestHandler,
  Bootstrap,
  HeaderMutations,
  HttpConnectionManagerConfig,
  ListenerConfig,
  RouteConfiguration,
} from "../config/bootstrap.ts";
import { DEFAULT_LOG_FORMAT, LOG_COMPONENTS, parseLogLevel, type LogComponent, type Logger, type LogLevel } from "../log.ts";
import { formatAddress } from "../network/address.ts";
import { ActiveListener } from "../network/listener.ts";
import { AdminListenerContext } from "./admin-context.ts";
import { StatsStore } from "../stats/stats-store.ts";
import type { ServerContext } from "../server-context.ts";
import type { RuntimeLoader } from "../runtime/runtime-loader.ts";
import type { ServerOptions } from "../server-options.ts";
import { Histogram } from "../stats/histogram.ts";
import { VERSION } from "../version.ts";
import { clustersAsJson, clustersAsText } from "./clusters.ts";
import { compileRegex } from "../config/regex.ts";
import { CONFIG_DUMP_RESOURCES, configDump, configDumpResource, filterConfigDumpByName, maskConfigDump } from "./config-dump.ts";
import { HistogramIntervals } from "./histogram-intervals.ts";
import type { ServerState } from "./server-stats.ts";
import { statsResponse } from "./stats-render.ts";
import { workerStatsSnapshot } from "./worker-stats.ts";
import { isSupervisorOnlyPath, SINKS_FLUSH_PATH } from "./supervisor-requests.ts";
import type { SinkFlushMessage } from "../stats/merged-flush.ts";
import { TagExtractor } from "./tag-extractor.ts";
import { traceHandlers } from "./trace-handlers.ts";
import { runtimeAsJson, runtimeModify } from "./runtime-handler.ts";
import type { AdminHandler, AdminRequest, AdminResponse } from "./admin-handler.ts";

/** The most of a merged flush's JSON a worker takes: tens of thousands of stats with their histograms' buckets. */
const SINKS_FLUSH_BODY_LIMIT = 16 * 1024 * 1024;


/** What the admin reads and drives of the server (Envoy's `Server::Instance`, as the admin sees it). */
export interface AdminServer extends ServerContext {
  readonly bootstrap: Bootstrap;
  /** The configured listeners (not the admin's own). */
  readonly listeners: readonly ActiveListener[];
  /** The runtime's layers, for /runtime and /runtime_modify. */
  readonly layeredRuntime: RuntimeLoader;
  readonly options: ServerOptions;
  readonly state: ServerState;
  readonly uptimeSeconds: number;
  /** Wall-clock ms when the config was loaded (config_dump's last_updated). */
  readonly configLoadedAt: number;
  /** Envoy's `failHealthcheck`: /healthcheck/fail and /healthcheck/ok. */
  failHealthcheck(fail: boolean): void;
  /** /drain_listeners: stop accepting now, or after the graceful drain time; only the INBOUND listeners with inboundOnly; skipExit: not even then. */
  drainListeners(graceful: boolean, inboundOnly?: boolean, skipExit?: boolean): void;
  /** Shut down cleanly and exit 0, as SIGTERM does. */
  stop(reason: string): void;
  /** /stats or /stats/prometheus is read: with stats_flush_on_admin, Envoy's flushStats (core/stats/stats-flusher.ts). */
  onAdminStatsRead(): void;
  /** Bring the server.* gauges up to date (the server's, refreshed at each stats flush too). */
  refreshServerStats(): void;
  /** In a worker (--concurrency): its part of the supervisor's merged stats flush (core/stats/merged-flush.ts). */
  closeStatsInterval(): void;
  flushMergedStats(message: SinkFlushMessage): void;
}

const TEXT = "text/plain; charset=UTF-8";
const JSON_TYPE = "application/json";
const HTML = "text/html; charset=UTF-8";

const text = (status: number, body: string): AdminResponse => ({ status, contentType: TEXT, body });
const json = (status: number, body: string): AdminResponse => ({ status, contentType: JSON_TYPE, body });
const OK = (): AdminResponse => text(200, "OK\n");

import { DEFAULT_DRAIN_TIME_S } from "../network/drain-manager.ts";
export { DEFAULT_DRAIN_TIME_S };

export class Admin implements AdminRequestHandler {
  readonly listener: ActiveListener;
  private readonly handlers: AdminHandler[];
  private readonly tags: TagExtractor;
  private readonly intervals = new HistogramIntervals();

  /** The admin's connection manager config (its access logs are opened by the server under it). */
  readonly httpConnectionManager: HttpConnectionManagerConfig;

  /** Made for the supervisor's stats flush only (AdminConfig.supervisorOnly). */
  private readonly supervisorOnly: boolean;

  constructor(
    private readonly server: AdminServer,
    config: AdminConfig,
  ) {
    this.supervisorOnly = config.supervisorOnly === true;
    this.tags = new TagExtractor(server.bootstrap.statsConfig);
    const listenerConfig = adminListenerConfig(config, this);
    this.httpConnectionManager = listenerConfig.filterChains[0]!.filters[0]!.config as HttpConnectionManagerConfig;
    this.listener = new ActiveListener(listenerConfig, new AdminListenerContext(server, this.supervisorOnly ? new StatsStore() : undefined), { exclusive: true });
    this.handlers = this.createHandlers();
  }

  /** Bind the admin address. */
  async start(): Promise<void> {
    await this.listener.start();
  }

  /** Stop accepting admin connections (connections are closed by the server). */
  stop(): void {
    this.listener.stopListening();
  }

  /**
   * The admin's part of each stats flush (the server's, core/stats/stats-flusher.ts): the
   * histograms' interval closed (the server refreshes its gauges itself).
   */
  onStatsFlush(): void {
    this.flushHistograms();
  }

  private flushHistograms(): void {
    const histograms: Histogram[] = [];
    // Unsorted: the intervals are kept per histogram, in no order.
    for (const stat of this.server.stats.values()) if (stat instanceof Histogram) histograms.push(stat);
    this.intervals.flush(histograms);
  }

  // ---- requests ----

  handle(request: { method: string; path: string; body?: string; json?: string; fromSupervisor?: boolean }): AdminResponse {
    const at = request.path.indexOf("?");
    const path = at < 0 ? request.path : request.path.slice(0, at);
    const query = parseQuery(at < 0 ? "" : request.path.slice(at + 1));
    if (isSupervisorOnlyPath(path, query) && request.fromSupervisor === true && this.server.runtime.workers?.worker !== undefined) {
      if (path === "/stats") return this.workerSnapshot(query);
      if (request.method !== "POST") return text(405, `Method ${request.method} not allowed, POST required.`);
      return this.sinksFlush(request.json);
    }
    // An admin the config did not ask for (a worker's, for its supervisor's stats flush) answers nothing else.
    if (this.supervisorOnly) return text(404, "invalid path\n");
    // Anyone else asking for the supervisor's paths is told they do not exist.
    if (isSupervisorOnlyPath(path, query)) return text(404, `invalid path. ${this.helpText()}`);
    const handler = this.handlers.find((h) => h.prefix === path);
    if (!handler) return text(404, `invalid path. ${this.helpText()}`);
    // GET /logging without parameters only shows the levels: allowed (Envoy wants POST even then).
    const readOnly = handler.prefix === "/logging" && query.size === 0;
    if (handler.mutates && request.method !== "POST" && !readOnly) {
      this.server.log.component("admin").error(`admin path "${handler.prefix}" mutates state, method=${request.method} rather than POST`);
      return text(405, `Method ${request.method} not allowed, POST required.`);
    }
    return handler.run({ method: request.method, path, query, ...(request.body !== undefined && { form: parseQuery(request.body) }), ...(request.json !== undefined && { json: request.json }) });
  }

  /** A JSON body is kept only for a worker's merged stats flush, sent by its supervisor. */
  jsonBodyLimit(path: string, fromSupervisor: boolean): number {
    return fromSupervisor && path === SINKS_FLUSH_PATH && this.server.runtime.workers?.worker !== undefined ? SINKS_FLUSH_BODY_LIMIT : 0;
  }

  /** The request carries this worker's supervisor's token (SUPERVISOR_TOKEN_HEADER); compared in constant time. */
  fromSupervisor(token: string | undefined): boolean {
    const expected = this.server.runtime.workers?.worker?.supervisorToken;
    if (expected === undefined || token === undefined || token.length !== expected.length) return false;
    let differ = 0;
    for (let i = 0; i < expected.length; i++) differ |= expected.charCodeAt(i) ^ token.charCodeAt(i);
    return differ === 0;
  }

  private createHandlers(): AdminHandler[] {
    const server = this.server;
    const handlers: AdminHandler[] = [
      { prefix: "/", help: "Admin home page", mutates: false, run: () => this.home() },
      {
        prefix: "/clusters",
        help: "upstream cluster status",
        mutates: false,
        params: [["format", "File format to use: text (default) or json"]],
        run: (r) =>
          r.query.get("format") === "json"
            ? json(200, clustersAsJson(server.clusterManager.all(), (c) => server.clusterManager.addedViaApi(c)))
            : text(200, clustersAsText(server.clusterManager.all(), (c) => server.clusterManager.addedViaApi(c))),
      },
      {
        prefix: "/certs",
        help: "print certs on machine",
        mutates: false,
        run: () => {
          const clusters = server.clusterManager.all().flatMap((c) => (c.transportSocketFactory ? [c.transportSocketFactory] : []));
          return json(200, certsAsJson(server.runtime, [...clusters, ...server.listeners.flatMap((l) => l.tlsContexts)]));
        },
      },
      {
        prefix: "/config_dump",
        help: "dump current Envoy configs (experimental)",
        mutates: false,
        params: [
          ["resource", "The resource to dump: static_clusters, static_listeners or static_route_configs"],
          ["mask", "The mask to apply (a FieldMask: comma-separated dotted field paths)"],
          ["name_regex", "Dump only the currently loaded configurations whose names match the specified regex"],
        ],
        run: (r) => this.configDump(r),
      },
      {
        prefix: "/drain_listeners",
        help: "drain listeners",
        mutates: true,
        params: [
          ["inboundonly", "Drains all inbound listeners. traffic_direction field in envoy_v3_api_msg_config.listener.v3.Listener is used to determine whether a listener is inbound or outbound."],
          ["graceful", "When draining listeners, enter a graceful drain period prior to closing listeners. This behaviour and duration is configurable via server options or CLI"],
          ["skip_exit", "When draining listeners, do not exit after the drain period. This must be used with graceful"],
        ],
        run: (r) => {
          const graceful = r.query.has("graceful");
          const skipExit = r.query.has("skip_exit");
          // Envoy's handlerDrainListeners: skip_exit means nothing without a drain period.
          if (skipExit && !graceful) return text(400, "skip_exit requires graceful\n");
          server.drainListeners(graceful, r.query.has("inboundonly"), skipExit);
          return OK();
        },
      },
      {
        prefix: "/healthcheck/fail",
        help: "cause the server to fail health checks",
        mutates: true,
        run: () => {
          server.failHealthcheck(true);
          return OK();
        },
      },
      {
        prefix: "/healthcheck/ok",
        help: "cause the server to pass health checks",
        mutates: true,
        run: () => {
          server.failHealthcheck(false);
          return OK();
        },
      },
      { prefix: "/help", help: "print out list of admin commands", mutates: false, run: () => text(200, this.helpText()) },
      {
        prefix: "/listeners",
        help: "print listener info",
        mutates: false,
        params: [["format", "File format to use: text (default) or json"]],
        run: (r) => this.listenersInfo(r.query.get("format") === "json"),
      },
      {
        prefix: "/logging",
        help: "query/change logging levels",
        mutates: true,
        params: [
          ["paths", "Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>."],
          ["level", `desired logging level, this will change all loggers's level: ${SPDLOG_LEVELS.join(", ")}`],
        ],
        run: (r) => this.logging(r.query),
      },
      {
        prefix: "/quitquitquit",
        help: "exit the server",
        mutates: true,
        run: () => {
          // After this response is on its way: shutdown closes connections once they flush.
          server.runtime.defer(() => server.stop("admin /quitquitquit"));
          return OK();
        },
      },
      {
        prefix: "/ready",
        help: "print server state, return 200 if LIVE, otherwise return 503",
        mutates: false,
        run: () => text(server.state === "LIVE" ? 200 : 503, `${server.state}\n`),
      },
      {
        prefix: "/reset_counters",
        help: "reset all counters to zero",
        mutates: true,
        run: () => {
          server.stats.resetCounters();
          return OK();
        },
      },
      { prefix: "/runtime", help: "print runtime values", mutates: false, run: () => json(200, runtimeAsJson(server.layeredRuntime)) },
      {
        prefix: "/runtime_modify",
        help:
          "Adds or modifies runtime values as passed in query parameters. To delete a previously added key, use an empty string as the value. " +
          "Note that deletion only applies to overrides added via this endpoint; values loaded from disk can be modified via override but not deleted. " +
          "E.g. ?key1=value1&key2=value2...",
        mutates: true,
        run: (r) => runtimeModify(server.layeredRuntime, r),
      },
      { prefix: "/server_info", help: "print server version/status information", mutates: false, run: () => this.serverInfo() },
      {
        prefix: "/stats",
        help: "print server stats",
        mutates: false,
        params: [
          ["usedonly", "Only include stats that have been written by system since restart"],
          ["filter", "Regular expression (Google re2) for filtering stats"],
          ["format", "Format to use: text (default), json or prometheus"],
          ["pretty", "With format=json: indent the output"],
          ["type", "Stat types to include: Counters, Gauges, Histograms, TextReadouts or All (default)"],
          ["histogram_buckets", "Histogram bucket display mode: none (default); cumulative and disjoint are refused (see /stats/prometheus)"],
        ],
        run: (r) => this.stats(r),
      },
      {
        prefix: "/stats/prometheus",
        help: "print server stats in prometheus format",
        mutates: false,
        params: [
          ["usedonly", "Only include stats that have been written by system since restart"],
          ["filter", "Regular expression (Google re2) for filtering stats"],
        ],
        run: (r) => this.stats(r),
      },
    ];
    handlers.push(...traceHandlers(server.tracer));
    return handlers.sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
  }

  /** Envoy's /help text (also the body of a 404). */
  private helpText(): string {
    let out = "admin commands are:\n";
    for (const handler of this.handlers) {
      out += `  ${handler.prefix}${handler.mutates ? " (POST)" : ""}: ${handler.help}\n`;
      for (const [name, help] of handler.params ?? []) out += `      ${name}: ${help}\n`;
    }
    return out;
  }

  /** Envoy's home page: a table of the endpoints; those that change state are POST buttons, not links. */
  private home(): AdminResponse {
    let rows = "";
    for (const handler of this.handlers) {
      if (handler.prefix === "/") continue;
      // Relative links, so the page also works embedded under another path (as Envoy's).
      const path = handler.prefix.slice(1);
      const link = handler.mutates
        ? `<form action='${path}' method='post' class='home-form'><button>${path}</button></form>`
        : `<a href='${path}'>${path}</a>`;
      rows += `<tr class='home-row'><td class='home-data'>${link}</td><td class='home-data'>${escapeHtml(handler.help)}</td></tr>\n`;
    }
    const body = `<!DOCTYPE html>
<html>
<head>
  <title>polyvoy admin</title>
  <style>
    .home-table { font-family: sans-serif; font-size: medium; border-collapse: collapse; }
    .home-row:nth-child(even) { background-color: #dddddd; }
    .home-data { border: 1px solid #dddddd; text-align: left; padding: 8px; }
    .home-form { margin-bottom: 0; }
  </style>
</head>
<body>
  <table class='home-table'>
    <thead><th class='home-data'>Command</th><th class='home-data'>Description</th></thead>
    <tbody>
${rows}    </tbody>
  </table>
</body>
</html>
`;
    return { status: 200, contentType: HTML, body };
  }

  // ---- stats ----

  private stats(request: AdminRequest): AdminResponse {
    // StatsHandler: with stats_flush_on_admin, reading the stats is what flushes them.
    this.server.onAdminStatsRead();
    this.server.refreshServerStats();
    return statsResponse(request.path === "/stats/prometheus" ? "/stats/prometheus" : "/stats", request.query, this.server.stats.all(), this.intervals, this.tags);
  }

  /** A worker's snapshot for its supervisor's merged /stats and stats flush (--concurrency; worker-stats.ts). */
  private workerSnapshot(query: ReadonlyMap<string, string>): AdminResponse {
    this.server.onAdminStatsRead();
    this.server.refreshServerStats();
    // flush=sinks: the supervisor's stats flush; the interval this worker's admin shows closes
    // now (the sinks' intervals the supervisor finds from the cumulative counts: merged-flush.ts).
    if (query.get("flush") === "sinks") this.server.closeStatsInterval();
    return json(200, workerStatsSnapshot(this.server.stats.all(), this.intervals));
  }

  /** The supervisor's merged stats, for this worker's sinks to send. */
  private sinksFlush(body: string | undefined): AdminResponse {
    if (body === undefined) return text(400, "a merged stats flush is an application/json body\n");
    let message: SinkFlushMessage;
    try {
      message = JSON.parse(body) as SinkFlushMessage;
    } catch (err) {
      return text(400, `not JSON: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    try {
      this.server.flushMergedStats(message);
    } catch (err) {
      // A message that is not a merged flush (MergedSnapshotMirror.snapshot): nothing was sent.
      return text(400, `${err instanceof Error ? err.message : String(err)}\n`);
    }
    return OK();
  }

  // ---- server ----

  private serverInfo(): AdminResponse {
    const server = this.server;
    const commandLine = server.options.commandLine;
    const uptime = `${Math.floor(server.uptimeSeconds)}s`;
    const info = {
      version: VERSION,
      state: server.state,
      uptime_current_epoch: uptime,
      uptime_all_epochs: uptime,
      // Envoy's HotRestartNopImpl::version() when hot restart is disabled (it is here).
      hot_restart_version: "disabled",
      command_line_options: {
        concurrency: commandLine?.concurrency ?? 1,
        config_path: commandLine?.configPath ?? "",
        config_yaml: commandLine?.configYaml ?? "",
        // Envoy's toCommandLineOptions: spdlog::level::to_string_view(logLevel()), so "warning".
        log_level: spdlogLevel(commandLine?.logLevel ?? "info"),
        mode: commandLine?.mode === "validate" ? "Validate" : "Serve",
        drain_time: `${commandLine?.drainTimeS ?? DEFAULT_DRAIN_TIME_S}s`,
        drain_strategy: commandLine?.drainStrategy === "immediate" ? "Immediate" : "Gradual",
        parent_shutdown_time: `${commandLine?.parentShutdownTimeS ?? 900}s`,
        restart_epoch: 0,
        disable_hot_restart: true,
        log_path: commandLine?.logPath ?? "",
        log_format: commandLine?.logFormat ?? DEFAULT_LOG_FORMAT,
        log_format_escaped: commandLine?.logFormatEscaped === true,
        // Envoy's component_log_level_str_: the flag's text as given.
        component_log_level: commandLine?.componentLogLevelText ?? "",
        service_cluster: commandLine?.serviceCluster ?? "",
        service_node: commandLine?.serviceNode ?? "",
        service_zone: commandLine?.serviceZone ?? "",
      },
      node: {
        id: server.bootstrap.node?.id ?? "",
        cluster: server.bootstrap.node?.cluster ?? "",
        ...(server.bootstrap.node?.metadata ? { metadata: server.bootstrap.node.metadata } : {}),
        // --service-zone is in it already (main.ts).
        ...(server.bootstrap.node?.locality ? { locality: server.bootstrap.node.locality } : {}),
        user_agent_name: "polyvoy",
        user_agent_version: VERSION,
      },
      runtime: { name: server.runtime.name, version: server.runtime.version },
    };
    return json(200, JSON.stringify(info, null, 2));
  }

  private configDump(request: AdminRequest): AdminResponse {
    const server = this.server;
    // Envoy lists EDS only when asked (include_eds), as its dump would otherwise be huge.
    const includeEds = request.query.get("include_eds") !== undefined;
    const dynamic = {
      clusters: server.xdsManager?.dynamic("cluster") ?? [],
      listeners: server.xdsManager?.dynamic("listener") ?? [],
      warmingClusters: server.xdsManager?.dynamic("cluster", true) ?? [],
      warmingListeners: server.xdsManager?.dynamic("listener", true) ?? [],
      routes: server.xdsManager?.dynamic("route") ?? [],
      clustersVersionInfo: server.xdsManager?.systemVersionInfo("cluster") ?? "",
      listenersVersionInfo: server.xdsManager?.systemVersionInfo("listener") ?? "",
      ...(includeEds ? { endpoints: server.clusterManager.edsClusters().flatMap((eds) => eds.dump()) } : {}),
      secrets: server.secretManager?.dumpDynamic() ?? [],
    };
    let dump = configDump(server.options.configDocument, server.bootstrap, server.configLoadedAt, dynamic);
    const nameRegex = request.query.get("name_regex");
    if (nameRegex !== undefined && nameRegex !== "") {
      const compiled = compileRegex(nameRegex);
      if (!compiled.ok) return text(400, `Error while parsing name_regex from ${nameRegex}: ${compiled.error}`);
      dump = filterConfigDumpByName(dump, (name) => compiled.regex.fullMatch(name));
    }
    const resource = request.query.get("resource");
    const mask = request.query.get("mask");
    const masked = (d: typeof dump) => (mask === undefined || mask === "" ? d : maskConfigDump(d, mask));
    if (resource === undefined || resource === "") return json(200, JSON.stringify(masked(dump), null, 2));
    const only = configDumpResource(dump, resource);
    if (!only) return text(404, `${resource} not found in config dump (one of ${CONFIG_DUMP_RESOURCES.join(", ")})\n`);
    return json(200, JSON.stringify(masked(only), null, 2));
  }

  private listenersInfo(asJson: boolean): AdminResponse {
    const listeners = this.server.listeners.map((listener) => ({
      name: listener.name,
      address: listener.boundAddress ?? listener.config.address,
    }));
    if (!asJson) return text(200, listeners.map((l) => `${l.name}::${formatAddress(l.address)}\n`).join(""));
    const statuses = listeners.map((l) => ({
      name: l.name,
      // A Unix socket is Address.pipe (Envoy's Utility::addressToProtobufAddress: its path).
      local_address: "pipe" in l.address && l.address.pipe || ("family" in l.address && l.address.family === "unix") ? { pipe: { path: l.address.address } } : { socket_address: { address: l.address.address, port_value: l.address.port } },
    }));
    return json(200, JSON.stringify({ listener_statuses: statuses }, null, 2));
  }

  /**
   * Envoy's /logging (source/server/admin/logs_handler.cc): with one parameter, POST
   * `?level=<level>` sets every component, `?<component>=<level>` one, and
   * `?paths=<component>:<level>,...` several (all or none: an unknown name changes nothing);
   * anything else is a 400 with the usage. The answer lists every component's level.
   */
  private logging(query: Map<string, string>): AdminResponse {
    const log = this.server.log;
    let status = 200;
    let out = "";
    if (query.size > 0) {
      const error = changeLogLevels(log, query);
      if (error !== undefined) {
        status = 400;
        out += `error: ${error}\n\n`;
        out += "usage: /logging?<name>=<level> (change single level)\n";
        out += "usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n";
        out += "usage: /logging?level=<level> (change all levels)\n";
        out += `levels: ${SPDLOG_LEVELS.map((l) => `${l} `).join("")}\n`;
      }
    }
    out += "active loggers:\n";
    for (const [name, level] of log.componentLevels()) out += `  ${name}: ${spdlogLevel(level)}\n`;
    return text(status, out + "\n");
  }
}

/** spdlog's level names, as Envoy's /logging prints and takes them ("warning", not "warn"). */
const SPDLOG_LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"] as const;
const spdlogLevel = (level: LogLevel): string => (level === "warn" ? "warning" : level);

/** Envoy's LogsHandler::changeLogLevel: the change the one parameter asks for, or the reason it is refused. */
function changeLogLevels(log: Logger, query: Map<string, string>): string | undefined {
  if (query.size !== 1) return "invalid number of parameters";
  const [key, value] = [...query][0]!;
  if (key === "level") {
    const level = toLogLevel(value);
    if (level === undefined) return "unknown logger level";
    log.component("admin").info(`change all log levels: level='${spdlogLevel(level)}'`);
    log.level = level;
    return undefined;
  }
  const changes = new Map<string, LogLevel>();
  if (key === "paths") {
    for (const pair of value.split(",")) {
      if (pair.trim() === "") continue;
      const colon = pair.indexOf(":");
      const name = (colon < 0 ? pair : pair.slice(0, colon)).trim();
      const levelName = colon < 0 ? "" : pair.slice(colon + 1).trim();
      if (name === "" || levelName === "") return "empty logger name or empty logger level";
      const level = toLogLevel(levelName);
      if (level === undefined) return "unknown logger level";
      changes.set(name, level);
    }
  } else {
    const level = toLogLevel(value);
    if (level === undefined) return "unknown logger level";
    changes.set(key, level);
  }
  for (const name of changes.keys()) if (!(LOG_COMPONENTS as readonly string[]).includes(name)) return "unknown logger name";
  for (const [name, level] of changes) {
    log.component("admin").info(`change log level: name='${name}' level='${spdlogLevel(level)}'`);
    log.setComponentLevel(name as LogComponent, level);
  }
  return undefined;
}

/** A level by polyvoy's name or spdlog's ("warning" is Envoy's spelling of warn). */
const toLogLevel = parseLogLevel;

/** Envoy's parseAndDecodeQueryString: `a&b=c` → {a: "", b: "c"}, percent-decoded, first value wins. */
export function parseQuery(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const key = percentDecode(eq < 0 ? part : part.slice(0, eq));
    if (!params.has(key)) params.set(key, eq < 0 ? "" : percentDecode(part.slice(eq + 1)));
  }
  return params;
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const NO_MUTATIONS: HeaderMutations = {
  requestHeadersToAdd: [],
  requestHeadersToRemove: [],
  responseHeadersToAdd: [],
  responseHeadersToRemove: [],
};

/**
 * The admin listener: one connection manager (stat prefix "admin", Envoy's defaults)
 * with the AdminFilter as its only HTTP filter. Its route table matches everything, so
 * admin requests never count as no_route; the filter answers without consulting it.
 */
function adminListenerConfig(config: AdminConfig, handler: AdminRequestHandler): ListenerConfig {
  const routeConfig: RouteConfiguration = {
    name: "admin",
    ...NO_MUTATIONS,
    ignorePortInHostMatching: false,
    mostSpecificHeaderMutationsWins: false,
    virtualHosts: [
      {
        name: "admin",
        domains: ["*"],
        ...NO_MUTATIONS,
        routes: [
          {
            name: "admin",
            ...NO_MUTATIONS,
            match: { prefix: "/", caseSensitive: true, headers: [], queryParameters: [] },
            action: { type: "direct_response", directResponse: { status: 404 } },
          },
        ],
      },
    ],
  };
  const hcm: HttpConnectionManagerConfig = {
    statPrefix: "admin",
    codecType: "AUTO",
    routeConfig,
    httpFilters: [{ name: "envoy.admin", type: "polyvoy.internal.admin", config: { handler } }],
    useRemoteAddress: false,
    xffNumTrustedHops: 0,
    generateRequestId: false,
    serverName: "envoy",
    serverHeaderTransformation: "OVERWRITE",
    streamIdleTimeoutMs: 300_000,
    requestTimeoutMs: 0,
    requestHeadersTimeoutMs: 0,
    idleTimeoutMs: 3_600_000,
    maxHeadersCount: 100,
    maxRequestHeadersKb: 60,
    upgradeTypes: [],
    // admin.access_log_path and admin.access_log: admin requests logged as any other.
    ...(config.accessLog ? { accessLog: config.accessLog } : {}),
  };
  return {
    name: "admin",
    address: config.address,
    perConnectionBufferLimitBytes: 1024 * 1024,
    statPrefix: "admin",
    // Envoy's admin listener bypasses the overload manager's global connection limit.
    ignoreGlobalConnLimit: true,
    filterChains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", type: "envoy.filters.network.http_connection_manager", config: hcm }] }],
  };
}
