// The scenarios, and how one target is measured in each: warm-up, several runs, the raw
// numbers of every run kept for results.json.
import { GRPC_PATH, SIZES } from "./origin.mjs";
import { openIdle, rateRun, throughputRun } from "./load.mjs";
import { fdCount, processCounters, rssBytes, sleep, treeRssBytes } from "./system.mjs";

const MiB = 1024 * 1024;

/**
 * Throughput scenarios (closed loop, wrk). `unit` req/s, or MiB/s of body moved
 * (response bodies downloaded, or request bodies uploaded).
 */
export const THROUGHPUT = [
  { id: "get-64c", title: "small GETs (64 B), 64 keep-alive connections", path: "/64", connections: 64, unit: "req/s" },
  // get-64c's load through an aggregate cluster (cluster_type envoy.clusters.aggregate) of two
  // STATIC clusters of the origin, the first healthy so it takes everything: what the
  // aggregate's load balancing (priority levels of its clusters, then the chosen cluster's
  // balancer) costs per request. Its baseline, aggregate-base, is get-64c's load again on the
  // same process right after it: get-64c itself runs first on a fresh process, whose JIT is
  // still warming (node spent 2× the CPU per request there on a loaded machine), which made
  // the aggregate look faster than the plain cluster. polyvoy only; `--scenarios aggregate`
  // selects get-64c (to warm the process) and the two.
  { id: "aggregate", title: "small GETs (64 B), 64 keep-alive connections, through an aggregate cluster of two clusters", path: "/64", connections: 64, protocol: "aggregate", unit: "req/s", baseline: "aggregate-base" },
  { id: "aggregate-base", title: "small GETs (64 B), 64 keep-alive connections, again after the aggregate's run (its baseline)", path: "/64", connections: 64, protocol: "aggregate-base", unit: "req/s" },
  { id: "get-256c", title: "small GETs (64 B), 256 keep-alive connections", path: "/64", connections: 256, unit: "req/s" },
  { id: "body-16k", title: "16 KiB responses, 64 connections", path: "/16k", connections: 64, unit: "MiB/s", bytes: SIZES["/16k"] },
  { id: "body-1m", title: "1 MiB responses, 16 connections", path: "/1m", connections: 16, unit: "MiB/s", bytes: SIZES["/1m"] },
  {
    id: "upload-1m",
    title: "1 MiB uploads (POST), 16 connections",
    path: "/upload",
    method: "POST",
    uploadBytes: MiB,
    connections: 16,
    unit: "MiB/s",
    bytes: MiB,
  },
  { id: "churn", title: "connection churn (`Connection: close` on every request), 64 connections", path: "/64", connections: 64, close: true, unit: "req/s" },
  // HTTP/2 and TLS to the proxy (the origin stays HTTP/1.1): only targets that listen for
  // the protocol are measured (polyvoy and nginx; see `ports` in targets.mjs). Left out of
  // --quick.
  { id: "h2c-get", title: "HTTP/2 (h2c) small GETs, 100 streams on each of 8 connections (h2load)", path: "/64", connections: 8, streams: 100, protocol: "h2c", unit: "req/s" },
  { id: "https-get", title: "HTTPS (HTTP/1.1 over TLS) small GETs, 64 keep-alive connections", path: "/64", connections: 64, protocol: "https", unit: "req/s" },
  // A full TLS handshake per request (wrk opens a new connection after each response; its
  // client keeps no session, so none is resumed): new TLS connections per second.
  { id: "https-churn", title: "new TLS connections per second (HTTPS, `Connection: close` on every request), 64 connections", path: "/64", connections: 64, close: true, protocol: "https", unit: "req/s" },
  { id: "h2-tls-get", title: "HTTP/2 over TLS (ALPN h2) small GETs, 100 streams on each of 8 connections (h2load)", path: "/64", connections: 8, streams: 100, protocol: "h2", unit: "req/s" },
  // gRPC unary (h2load posting one message to a @grpc/grpc-js Echo service, bench/peers/grpc-origin.mjs):
  // direct and through polyvoy (h2c downstream, an HTTP/2 cluster) only; the other peers have no gRPC route.
  // PostgreSQL (protocol 3.0) over tcp_proxy, to bench/peers/postgres-origin.mjs: each of 64
  // sessions sends a simple query (SELECT 1) and waits for its ReadyForQuery (bench/load/
  // postgres-client.mjs), through tcp_proxy alone and with postgres_proxy before it (its
  // decoding both ways, stats and SQL metadata): the filter's cost is the ratio of the two.
  // Direct and polyvoy only (the peers are HTTP proxies).
  { id: "postgres", title: "PostgreSQL simple queries through tcp_proxy, 64 sessions", connections: 64, protocol: "postgres", unit: "queries/s" },
  { id: "postgres-filter", title: "PostgreSQL simple queries through postgres_proxy + tcp_proxy, 64 sessions", connections: 64, protocol: "postgres-filter", unit: "queries/s" },
  // Kafka over tcp_proxy, to bench/peers/kafka-origin.mjs: each of 64 connections keeps 5
  // Produce v9 requests (acks=1, one 64-byte record) in flight, as Kafka clients pipeline
  // (bench/load/kafka-client.mjs), each answered by correlation id; through tcp_proxy alone and
  // with kafka_broker before it (its framing both ways, the in-flight map by correlation id,
  // per-API stats and the response-duration histogram): the filter's cost is the ratio of the
  // two. Direct and polyvoy only (the peers are HTTP proxies).
  { id: "kafka", title: "Kafka Produce requests through tcp_proxy, 64 connections, 5 in flight on each", connections: 64, inFlight: 5, protocol: "kafka", unit: "requests/s" },
  { id: "kafka-filter", title: "Kafka Produce requests through kafka_broker + tcp_proxy, 64 connections, 5 in flight on each", connections: 64, inFlight: 5, protocol: "kafka-filter", unit: "requests/s" },
  // TCP bytes through tcp_proxy tunnelled over HTTP (tunneling_config), to an echo origin
  // (bench/peers/tcp-echo-origin.mjs) with bench/load/tcp-client.mjs. The tunnel is terminated
  // by a second listener of the same polyvoy (HCM, CONNECT with connect_config → tcp_proxy's
  // upstream, the echo origin): no other proxy here terminates CONNECT (nginx and HAProxy do
  // not). Both ends are in the measured process, so the baseline chains two plain tcp_proxy
  // listeners in it: the same hops without HTTP. `baseline` names the row a ratio is taken to.
  // Direct (to the echo origin) and polyvoy only. `--scenarios tcp-tunnel` selects the six.
  { id: "tcp-proxy", title: "TCP bytes echoed through two chained tcp_proxy listeners, 16 connections, 4 × 64 KiB in flight on each", connections: 16, protocol: "tcp-proxy", tcp: "bytes", unit: "MiB/s", bytes: 64 * 1024 },
  { id: "tcp-tunnel-h1", title: "TCP bytes echoed through tcp_proxy tunnelling over HTTP/1.1 CONNECT to a terminating listener, 16 connections", connections: 16, protocol: "tcp-tunnel-h1", tcp: "bytes", unit: "MiB/s", bytes: 64 * 1024, baseline: "tcp-proxy" },
  { id: "tcp-tunnel-h2", title: "TCP bytes echoed through tcp_proxy tunnelling over HTTP/2 CONNECT to a terminating listener, 16 connections", connections: 16, protocol: "tcp-tunnel-h2", tcp: "bytes", unit: "MiB/s", bytes: 64 * 1024, baseline: "tcp-proxy" },
  { id: "tcp-proxy-conns", title: "new TCP connections per second (64 B echoed, then closed) through two chained tcp_proxy listeners, 64 loops", connections: 64, protocol: "tcp-proxy", tcp: "connect", unit: "conn/s" },
  { id: "tcp-tunnel-h1-conns", title: "new TCP connections per second through tcp_proxy tunnelling over HTTP/1.1 CONNECT, 64 loops", connections: 64, protocol: "tcp-tunnel-h1", tcp: "connect", unit: "conn/s", baseline: "tcp-proxy-conns" },
  { id: "tcp-tunnel-h2-conns", title: "new TCP connections per second through tcp_proxy tunnelling over HTTP/2 CONNECT, 64 loops", connections: 64, protocol: "tcp-tunnel-h2", tcp: "connect", unit: "conn/s", baseline: "tcp-proxy-conns" },
  // ext_proc with the request body FULL_DUPLEX_STREAMED (request headers and trailers SEND,
  // response headers SKIP) against a @grpc/grpc-js ExternalProcessor on the load core that
  // echoes each chunk unchanged (bench/peers/ext-proc-processor.mjs): 64 KiB POSTs, several
  // chunks each, every one a gRPC message each way before it goes upstream. Its baseline,
  // ext-proc-base, is the same POSTs through the plain listener of the same process, run
  // first. Both are warmed by a count of requests (`warmupRequests`, within
  // `warmupMaxSeconds`), not 2 s: the processor holds ext-proc-duplex to 40–350 req/s, so 2 s
  // was 100–300 requests and its runs still carried the JIT's compiling and the first major
  // GCs, while the baseline after it ran warm — the ratio compared a cold path with a warm
  // one (docs/performance.md, run history of 2026-12-07). polyvoy only; `--scenarios
  // ext-proc` selects the two. Left out of --quick.
  { id: "ext-proc-base", title: "64 KiB uploads (POST), 16 connections, on ext-proc-duplex's process without ext_proc, before it (its baseline)", path: "/upload", method: "POST", uploadBytes: 64 * 1024, connections: 16, protocol: "ext-proc-base", unit: "req/s", warmupRequests: 3000, warmupMaxSeconds: 40 },
  { id: "ext-proc-duplex", title: "64 KiB uploads (POST) through ext_proc, request body FULL_DUPLEX_STREAMED to a gRPC processor echoing it, 16 connections", path: "/upload", method: "POST", uploadBytes: 64 * 1024, connections: 16, protocol: "ext-proc-duplex", unit: "req/s", baseline: "ext-proc-base", warmupRequests: 3000, warmupMaxSeconds: 40 },
  { id: "grpc-unary", title: "gRPC unary (@grpc/grpc-js echo), 10 streams on each of 8 connections (h2load)", path: GRPC_PATH, connections: 8, streams: 10, protocol: "grpc", unit: "req/s" },
];

/** Scenarios that need a listener of their own (h2c, https, h2 over TLS, gRPC, PostgreSQL, TCP, aggregate, ext_proc). */
export const PROTOCOL_SCENARIOS = THROUGHPUT.filter((s) => s.protocol).map((s) => s.id);

/** Names --scenarios takes for several scenarios at once. */
export const SCENARIO_GROUPS = { "tcp-tunnel": THROUGHPUT.filter((s) => s.tcp).map((s) => s.id), aggregate: ["get-64c", "aggregate", "aggregate-base"], "ext-proc": ["ext-proc-base", "ext-proc-duplex"] };

/** Every metric row of the report, in order; the latency scenario gives three, memory one. */
export const METRICS = [
  ...THROUGHPUT.map((s) => ({ id: s.id, scenario: s.id, title: s.title, unit: s.unit, better: "higher" })),
  { id: "latency-p50", scenario: "latency", title: "latency at a fixed rate, p50", unit: "ms", better: "lower", field: "p50" },
  { id: "latency-p99", scenario: "latency", title: "latency at a fixed rate, p99", unit: "ms", better: "lower", field: "p99" },
  { id: "latency-p999", scenario: "latency", title: "latency at a fixed rate, p99.9", unit: "ms", better: "lower", field: "p999" },
  // The issue's latency target: at half of the fastest polyvoy's own maximum (small GETs,
  // 64 connections), measured in a pass after the others for direct, polyvoy and nginx.
  { id: "latency-half-p50", scenario: "latency-half", title: "latency at half of polyvoy's max rate, p50", unit: "ms", better: "lower", field: "p50" },
  { id: "latency-half-p99", scenario: "latency-half", title: "latency at half of polyvoy's max rate, p99", unit: "ms", better: "lower", field: "p99" },
  { id: "latency-half-p999", scenario: "latency-half", title: "latency at half of polyvoy's max rate, p99.9", unit: "ms", better: "lower", field: "p999" },
  // Memory per idle connection once the runtime's own idle-time collection has run (the
  // issue's target), and the same connections just after opening, garbage of the burst included.
  // RSS of the proxy's process tree under the small-GET load (issue 26's footprint target:
  // ≤ the best JS peer on the same runtime): the highest sample during the scenario (its
  // warm-up included) and the RSS when its run ended.
  { id: "rss-load-peak", scenario: "get-64c", title: "RSS under load (small GETs, 64 connections), peak", unit: "MiB", better: "lower", field: "rssPeakMiB" },
  { id: "rss-load-end", scenario: "get-64c", title: "RSS under load (small GETs, 64 connections), at the run's end", unit: "MiB", better: "lower", field: "rssEndMiB" },
  { id: "idle-memory", scenario: "idle-memory", title: "memory per idle keep-alive connection, after the idle settle (full run: 40 s)", unit: "KiB/conn", better: "lower" },
  { id: "idle-memory-open", scenario: "idle-memory", title: "memory per keep-alive connection just after opening (full run: 2 s)", unit: "KiB/conn", better: "lower", field: "valueOpen" },
];

const errorCount = (summary) => Object.values(summary.errors).reduce((a, b) => a + b, 0);

/** One throughput run → the numbers kept; only successful responses count. */
function throughputSample(scenario, summary) {
  const seconds = summary.duration_us / 1e6;
  const rps = Math.max(0, summary.requests - summary.errors.status) / seconds;
  return {
    value: scenario.unit === "MiB/s" ? (rps * scenario.bytes) / MiB : rps,
    rps,
    requests: summary.requests,
    errors: errorCount(summary),
    errorDetail: summary.errors,
    latencyMs: { p50: summary.latency_us.p50 / 1000, p99: summary.latency_us.p99 / 1000 },
  };
}

/**
 * The proxy's own CPU time, minor page faults and read/write syscalls per request during a
 * run (from /proc), so a slow run shows whether the proxy was busy (CPU per request up) or
 * waiting (CPU per request as usual: something stalled), and whether page faults or smaller
 * reads came with it.
 */
function addProcessCost(sample, before, after) {
  if (!before || !after || sample.requests === 0) return;
  sample.cpuUsPerRequest = (after.cpuUs - before.cpuUs) / sample.requests;
  sample.faultsPerRequest = (after.minorFaults - before.minorFaults) / sample.requests;
  sample.readsPerRequest = (after.reads - before.reads) / sample.requests;
  sample.writesPerRequest = (after.writes - before.writes) / sample.requests;
}

function processCostText(samples) {
  const costs = samples.filter((s) => s.cpuUsPerRequest !== undefined);
  if (costs.length === 0) return "";
  const cpu = costs.map((s) => fmt(s.cpuUsPerRequest)).join(", ");
  const per = (key) => costs.map((s) => s[key].toFixed(1)).join(", ");
  return `  (CPU ${cpu} µs/req, ${per("faultsPerRequest")} faults/req, ${per("readsPerRequest")} reads/req, ${per("writesPerRequest")} writes/req)`;
}

/** How often the RSS of a target's process tree is read while it is under load. */
const RSS_SAMPLE_MS = 200;

/**
 * Samples the RSS of `pid`'s process tree every RSS_SAMPLE_MS from now on; read() → the
 * highest since the start (or the last read) and the RSS now, in MiB.
 */
function rssSampler(pid) {
  const now = () => treeRssBytes(pid) / MiB;
  let peak = now();
  const timer = setInterval(() => (peak = Math.max(peak, now())), RSS_SAMPLE_MS);
  return {
    read() {
      const end = now();
      const sample = { rssPeakMiB: Math.max(peak, end), rssEndMiB: end };
      peak = end;
      return sample;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * A scenario's warm-up at full load: --warmup seconds; then, for a scenario with
 * `warmupRequests`, more runs sized by the rate seen so far until that many requests were
 * answered or `warmupMaxSeconds` have passed. → {requests, seconds}. `run` is
 * throughputRun (a stand-in in the tests).
 */
export async function warmUp(ctx, scenario, params, run = throughputRun) {
  let requests = 0;
  let seconds = 0;
  let duration = ctx.settings.warmupSeconds;
  for (;;) {
    const summary = await run(ctx, { ...params, seconds: duration });
    requests += summary.requests;
    // The nominal length at least: a run that ends early still spends the bound.
    seconds += Math.max(summary.duration_us / 1e6, duration);
    const wanted = scenario.warmupRequests ?? 0;
    const left = (scenario.warmupMaxSeconds ?? 0) - seconds;
    if (requests >= wanted || left < 1) return { requests, seconds };
    // wrk takes whole seconds; at least one, at most what the bound leaves.
    const rate = requests / Math.max(seconds, 0.001);
    duration = Math.floor(Math.min(left, Math.max(1, Math.ceil((wanted - requests) / Math.max(rate, 1)))));
  }
}

/**
 * Throughput scenarios against a running target (port), `runs` runs each after a warm-up:
 * every selected one, or only `only` (a scenario id). Returns {scenarioId: {samples}}.
 * `label` starts each log line (the scenario's id by default).
 */
export async function measureThroughput(ctx, port, log, runs = ctx.settings.runs, only = null, label = null, pid = null, ports = {}) {
  const out = {};
  for (const scenario of THROUGHPUT) {
    if (!ctx.settings.scenarios.has(scenario.id) || (only && scenario.id !== only)) continue;
    // A scenario in another protocol runs against the target's listener for it, if it has one.
    const scenarioPort = scenario.protocol ? ports[scenario.protocol] : port;
    if (scenarioPort === undefined) continue;
    const params = { port: scenarioPort, path: scenario.path, connections: scenario.connections, method: scenario.method, uploadBytes: scenario.uploadBytes, close: scenario.close, protocol: scenario.protocol, streams: scenario.streams, tcp: scenario.tcp, inFlight: scenario.inFlight };
    const rss = pid ? rssSampler(pid) : null;
    try {
      const warmup = ctx.settings.warmupSeconds > 0 ? await warmUp(ctx, scenario, params) : undefined;
      const samples = [];
      for (let i = 0; i < runs; i++) {
        const before = processCounters(pid);
        const sample = throughputSample(scenario, await throughputRun(ctx, { ...params, seconds: ctx.settings.seconds }));
        addProcessCost(sample, before, processCounters(pid));
        if (rss) Object.assign(sample, rss.read());
        samples.push(sample);
        await sleep(ctx.settings.pauseMs);
      }
      if (warmup && samples.length > 0) samples[0].warmup = warmup;
      out[scenario.id] = { samples };
      const warmupText = warmup && scenario.warmupRequests ? `  (warm-up ${warmup.requests} requests in ${fmt(warmup.seconds)} s)` : "";
      const rssText = rss ? `  (RSS ${samples.map((s) => `${fmt(s.rssPeakMiB)} peak, ${fmt(s.rssEndMiB)} end`).join("; ")} MiB)` : "";
      log(`  ${(label ?? scenario.id).padEnd(22)} ${samples.map((s) => fmt(s.value)).join("  ")} ${scenario.unit}${samples.some((s) => s.errors) ? `  (errors: ${samples.map((s) => s.errors).join(", ")})` : ""}${processCostText(samples)}${rssText}${warmupText}`);
    } catch (error) {
      out[scenario.id] = { error: error.message };
      log(`  ${(label ?? scenario.id).padEnd(22)} failed: ${error.message}`);
    } finally {
      rss?.stop();
    }
  }
  return out;
}

/**
 * Fixed-rate latency: `runs` runs, each with its own warm-up in the client. `scenario`
 * "latency" runs at --rate; "latency-half" at the rate given. `label` starts the log line.
 */
export async function measureLatency(ctx, port, log, scenario = "latency", rate = ctx.settings.rate, runs = ctx.settings.runs, label = scenario) {
  if (!ctx.settings.scenarios.has(scenario)) return {};
  const { latencyConnections } = ctx.settings;
  try {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const summary = await rateRun(ctx, {
        port,
        path: "/64",
        rate,
        connections: latencyConnections,
        seconds: ctx.settings.latencySeconds,
        warmupSeconds: i === 0 ? ctx.settings.latencyWarmupSeconds : 0.5,
      });
      const lat = summary.latency_us;
      samples.push({
        p50: lat.p50 / 1000,
        p99: lat.p99 / 1000,
        p999: lat.p999 / 1000,
        max: lat.max / 1000,
        requests: summary.requests,
        achievedRate: summary.requests / (summary.duration_us / 1e6),
        errors: errorCount(summary),
        errorDetail: summary.errors,
      });
      await sleep(ctx.settings.pauseMs);
    }
    log(`  ${label.padEnd(22)} p50 ${samples.map((s) => s.p50.toFixed(2)).join(" ")}  p99 ${samples.map((s) => s.p99.toFixed(2)).join(" ")}  p99.9 ${samples.map((s) => s.p999.toFixed(2)).join(" ")} ms at ${rate} req/s`);
    return { [scenario]: { samples, rate } };
  } catch (error) {
    log(`  ${label.padEnd(22)} failed: ${error.message}`);
    return { [scenario]: { error: error.message } };
  }
}

/**
 * Memory per idle keep-alive connection on a freshly started, briefly warmed process:
 * RSS before, open N connections (one request each, then idle), RSS `settleMs` later
 * (`valueOpen`), and RSS once they have been idle for `idleSettleMs` (`value`).
 *
 * Opening 10,000 connections with a request each is a burst of allocation, and a
 * garbage-collected runtime holds that garbage (and a young generation grown for the
 * burst) until its idle-time collection: V8's memory reducer ran 24–28 s after the burst
 * here, on Node and Deno alike, and took Deno from 11.4 to 6.6 KiB per connection. An
 * idle connection is one that stays idle, so the target compares the settled figure; the
 * early one is reported beside it. Targets without a collector (nginx, HAProxy) free as they
 * go and are sampled after the short settle only.
 */
export async function measureIdleMemory(ctx, port, pid, log, limit = Infinity, collects = true) {
  const n = Math.min(ctx.settings.idleConnections, limit);
  // warm the process a little (the connection and request path, the upstream pool) without
  // leaving much garbage behind: a few hundred connections, one request each, then closed
  const warm = await openIdle(ctx, { port, count: 256, concurrency: 64 });
  await warm.handle.close();
  await sleep(ctx.settings.settleMs);
  const before = rssBytes(pid);
  const fdsBefore = fdCount(pid);
  const { ready, handle } = await openIdle(ctx, { port, count: n, concurrency: 64 });
  try {
    await sleep(ctx.settings.settleMs);
    const afterOpen = rssBytes(pid);
    if (collects) await sleep(Math.max(0, ctx.settings.idleSettleMs - ctx.settings.settleMs));
    const after = collects ? rssBytes(pid) : afterOpen;
    const fdsAfter = fdCount(pid);
    const status = await handle.status();
    const idleSeconds = (collects ? Math.max(ctx.settings.idleSettleMs, ctx.settings.settleMs) : ctx.settings.settleMs) / 1000;
    const sample = {
      value: (after - before) / 1024 / n,
      valueOpen: (afterOpen - before) / 1024 / n,
      idleSeconds,
      n,
      opened: ready.ready,
      failed: ready.failed,
      stillOpen: status.open,
      openMs: ready.ms,
      rssBeforeMiB: before / MiB,
      rssOpenMiB: afterOpen / MiB,
      rssAfterMiB: after / MiB,
      fdsBefore,
      fdsAfter,
      errors: ready.failed + (ready.ready - (status.open ?? 0)),
    };
    log(
      `  idle-mem   ${sample.value.toFixed(2)} KiB/conn after ${idleSeconds} s idle, ${sample.valueOpen.toFixed(2)} at ${ctx.settings.settleMs / 1000} s (RSS ${sample.rssBeforeMiB.toFixed(1)} → ${sample.rssOpenMiB.toFixed(1)} → ${sample.rssAfterMiB.toFixed(1)} MiB, ${ready.ready}/${n} opened in ${ready.ms} ms, ${status.open} still open, fds ${fdsBefore} → ${fdsAfter})`,
    );
    return sample;
  } finally {
    await handle.close();
  }
}

export function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A difference with its sign (a true minus sign), as fmt formats the size. */
export const signed = (value) => `${value >= 0 ? "+" : "−"}${fmt(Math.abs(value))}`;
