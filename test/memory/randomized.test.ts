/**
 * Seeded randomized runs of the HTTP proxy on the memory runtime. For each seed, 50
 * downstream connections (sequential, pipelined, half-closing, lingering or aborting
 * clients; GET/HEAD/POST/PUT, content-length or chunked bodies, Expect: 100-continue)
 * meet random upstream behaviours (immediate, chunked, trailers, close-delimited, 204,
 * early response, 100 Continue first, garbage, extra bytes, slow, hung, stalled body,
 * reset before or mid-body, connection: close, silent close) and, in the first run,
 * random network faults (split reads, slow write windows, small receive windows,
 * delays, resets after N bytes, refused or blackholed connects, circuit breakers,
 * short HCM timeouts). Invariants:
 *
 * - every request sent gets exactly one response, or its connection is reset (or the
 *   client itself aborted, or an earlier response announced `connection: close`);
 *   responses are well-formed, carry a status the scenario allows, and a 200's body
 *   is exactly the one the upstream sent for that very request (no cross-talk);
 *   without network faults, each request must end exactly as its scenario says;
 * - requests reach the upstream intact (and without the Expect header);
 * - once everything is closed and every timer has run out: no downstream connection,
 *   no pooled upstream connection, no socket left open, no timer left armed, and the
 *   cluster's circuit-breaker counters (connections, pending requests, requests) are 0.
 *
 * A smaller run does the same for tcp_proxy: echoed bytes intact, a clean close only
 * after the full round trip, nothing left open.
 *
 * A failing seed is printed; replay it alone with POLYVOY_SEED=<seed> (add
 * POLYVOY_TRACE=1 to print the memory runtime's socket trace, POLYVOY_VERBOSE=1 for
 * per-seed outcomes and faults). POLYVOY_SEEDS=<n> runs n seeds instead of 20.
 */
import { describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import type { ConnectionFaults, DirectionFaults } from "../../runtimes/memory/faults.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import type { Prng } from "../../runtimes/memory/prng.ts";
import type { Socket } from "../../core/port.ts";
import { HCM_WITH_TRAILERS, HTTP1_CLUSTER_WITH_TRAILERS, httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import { concat, SocketRecorder } from "../port/socket-recorder.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamResponse } from "./support/http-peers.ts";
import { encodeMessage, firstDifference, pattern as makePattern, type HttpHead, type HttpMessage } from "./support/http-wire.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
const REPLAY = env.POLYVOY_SEED !== undefined ? Number(env.POLYVOY_SEED) : undefined;
const SEEDS = REPLAY !== undefined ? [REPLAY] : Array.from({ length: Number(env.POLYVOY_SEEDS ?? 20) }, (_, i) => i + 1);
const TRACE = env.POLYVOY_TRACE === "1";
const CONNECTIONS = 50;
/** Generous: a seed takes tens of milliseconds. */
const TIMEOUT_MS = 30_000 + SEEDS.length * 500;

/** Bodies are deterministic patterns, each needed several times (sent, checked, answered): memoized. */
const patterns = new Map<string, Uint8Array>();
function pattern(size: number, seed: number): Uint8Array {
  const key = `${size} ${seed}`;
  let bytes = patterns.get(key);
  if (!bytes) patterns.set(key, (bytes = makePattern(size, seed)));
  return bytes;
}

const PROXY = 10000;
const UPSTREAMS = [8080, 8081];
const ROUTE_TIMEOUT_MS = 15_000;

type Behavior =
  | "ok"
  | "chunked"
  | "trailers"
  | "close-delimited"
  | "no-content"
  | "early"
  | "extra-bytes"
  | "interim"
  | "garbage"
  | "close-silently"
  | "slow"
  | "hang"
  | "stall-body"
  | "reset-before"
  | "reset-mid"
  | "close-after";

/** Behaviours whose answer has a body (a HEAD request gets the head only). */
const ANSWERS_200: Behavior[] = ["ok", "chunked", "trailers", "close-delimited", "early", "extra-bytes", "interim", "close-after", "close-silently"];

interface PlannedRequest {
  id: number;
  method: "GET" | "HEAD" | "POST" | "PUT";
  expectContinue: boolean;
  bodySize: number;
  chunkedBody: boolean;
  behavior: Behavior;
  responseSize: number;
  delayMs: number;
}

interface ConnectionPlan {
  startAt: number;
  requests: PlannedRequest[];
  pipelined: boolean;
  /** Reset the connection this long after sending the first request (a client giving up). */
  abortAfterMs: number | undefined;
  /** FIN after the last request. */
  halfClose: boolean;
  /** Leave the connection open after the last response (the proxy's idle timeout closes it). */
  linger: boolean;
}

type Outcome = { kind: "response"; status: number } | { kind: "reset" | "aborted" | "dropped-after-close" | "unanswered" };

/** Without network faults, how each scenario must end (route timeout 15 s; a margin around it for "slow"). */
function expectedWithoutFaults(request: PlannedRequest): string[] {
  switch (request.behavior) {
    case "ok":
    case "chunked":
    case "trailers":
    case "close-delimited":
    case "early":
    case "extra-bytes":
    case "interim":
    case "close-after":
    case "close-silently":
      return ["200"];
    case "no-content":
      return ["204"];
    case "garbage":
      return ["502"];
    case "slow":
      return request.delayMs < ROUTE_TIMEOUT_MS - 1000 ? ["200"] : request.delayMs > ROUTE_TIMEOUT_MS + 1000 ? ["504"] : ["200", "504"];
    case "hang":
      return ["504"];
    case "reset-before":
      return ["503"];
    case "stall-body":
    case "reset-mid":
      return ["reset"];
  }
}

function bodySize(rng: Prng): number {
  const r = rng.random();
  if (r < 0.4) return 0;
  if (r < 0.75) return rng.int(2048);
  if (r < 0.97) return rng.int(16384);
  return rng.int(96 * 1024);
}

function planConnection(rng: Prng, nextId: () => number, withFaults: boolean): ConnectionPlan {
  const count = 1 + rng.int(3);
  const requests: PlannedRequest[] = [];
  for (let i = 0; i < count; i++) {
    const method = rng.pick(["GET", "GET", "HEAD", "POST", "POST", "PUT"] as const);
    let behavior = rng.pick<Behavior>([
      ...(["ok", "ok", "ok", "chunked", "chunked", "trailers", "close-delimited", "no-content", "early", "extra-bytes", "interim", "garbage", "close-silently"] as const),
      ...(["slow", "slow", "hang", "stall-body", "reset-before", "reset-mid", "close-after"] as const),
    ]);
    // A response to HEAD has no body to stall in or cut.
    if (method === "HEAD" && (behavior === "stall-body" || behavior === "reset-mid")) behavior = "reset-before";
    // An unsolicited response behind a real one is only told apart when both arrive in
    // one read: with faults (split, delayed reads) it may come after the connection was
    // reused, and any HTTP/1.1 client then takes it for the next response.
    if (behavior === "extra-bytes" && withFaults) behavior = "ok";
    // A keep-alive connection closed without notice may be reused by the proxy at that
    // very moment: which later request then fails is a race, so only with faults.
    if (behavior === "close-silently" && !withFaults) behavior = "ok";
    const hasBody = method === "POST" || method === "PUT";
    requests.push({
      id: nextId(),
      method,
      expectContinue: hasBody && rng.chance(0.15),
      bodySize: hasBody ? bodySize(rng) : 0,
      chunkedBody: rng.chance(0.3),
      behavior,
      responseSize: behavior === "extra-bytes" ? rng.int(16384) : bodySize(rng),
      delayMs: behavior === "slow" ? rng.int(20_000) : rng.int(50),
    });
  }
  return {
    startAt: rng.int(2000),
    requests,
    pipelined: rng.chance(0.1),
    abortAfterMs: rng.chance(0.1) ? rng.int(300) : undefined,
    halfClose: rng.chance(0.05),
    linger: rng.chance(0.1),
  };
}

function randomDirection(rng: Prng, maxReset: number): DirectionFaults {
  const faults: DirectionFaults = {};
  const r = rng.random();
  if (r < 0.02) faults.split = "byte";
  else if (r < 0.3) faults.split = "random";
  if (rng.chance(0.15)) faults.writeWindow = 16 + rng.int(4096);
  if (rng.chance(0.2)) faults.delayMs = rng.chance(0.5) ? rng.int(20) : [0, 1 + rng.int(30)];
  if (rng.chance(0.05)) faults.resetAfterBytes = rng.int(maxReset);
  return faults;
}

/** Faults of one connection, drawn from the runtime's PRNG when it is opened. */
function randomFaults(rng: Prng, upstream: boolean): ConnectionFaults {
  if (rng.chance(0.4)) return {};
  const faults: ConnectionFaults = { toServer: randomDirection(rng, 20_000), toClient: randomDirection(rng, 40_000) };
  if (rng.chance(0.2)) faults.receiveWindow = 512 + rng.int(65536);
  if (upstream) {
    const r = rng.random();
    if (r < 0.03) faults.connect = "blackhole";
    else if (r < 0.06) faults.connect = "refuse";
    else if (r < 0.2) faults.connectDelayMs = rng.int(50);
  }
  return faults;
}

/** The upstream's answer, as the request's x-* headers ask. */
function answer(runtime: MemoryRuntime, request: HttpMessage, res: UpstreamResponse, errors: string[]): void {
  const id = Number(request.get("x-id"));
  const expectedSize = Number(request.get("x-body-size") ?? 0);
  if (request.body.length !== expectedSize || firstDifference(request.body, pattern(expectedSize, id)) !== -1) {
    errors.push(`request ${id} reached the upstream corrupted (${request.body.length} of ${expectedSize} bytes)`);
  }
  if (request.get("expect") !== undefined) errors.push(`request ${id}: the proxy forwarded "expect: ${request.get("expect")}"`);
  if (request.get("x-behavior") === "early") return; // answered from its head already
  respondAs(runtime, request, res);
}

function respondAs(runtime: MemoryRuntime, request: HttpHead, res: UpstreamResponse): void {
  const id = Number(request.get("x-id"));
  const behavior = request.get("x-behavior") as Behavior;
  const delay = Number(request.get("x-delay"));
  // A copy: a socket takes ownership of what is written to it.
  const body = pattern(Number(request.get("x-response-size")), id + 1000).slice();
  const headers = { "x-id": String(id) };
  const later = (fn: () => void) => runtime.setTimeout(() => !res.closed && fn(), delay);
  if (request.method === "HEAD" && ANSWERS_200.includes(behavior)) {
    res.writeRaw(encodeMessage("HTTP/1.1 200 OK", { ...headers, "content-length": String(body.length) }));
    return res.finish();
  }
  switch (behavior) {
    case "ok":
    case "early":
      return res.respond(200, body, headers);
    case "chunked": {
      res.writeHead(200, headers);
      const cut = Math.floor(body.length / 2);
      res.write(body.subarray(0, cut));
      return void later(() => res.end(body.subarray(cut)));
    }
    case "trailers":
      res.writeHead(200, headers);
      return res.end(body, { "x-trailer": "yes" });
    case "close-delimited":
      // No length, no chunking: the body ends when the upstream closes.
      res.writeRaw(encodeMessage("HTTP/1.1 200 OK", { ...headers, connection: "close" }, body));
      return res.finish(true);
    case "no-content":
      res.writeRaw(encodeMessage("HTTP/1.1 204 No Content", headers));
      return res.finish();
    case "interim":
      res.writeRaw("HTTP/1.1 100 Continue\r\n\r\n");
      return void later(() => res.respond(200, body, headers));
    case "garbage":
      // Not HTTP: the proxy must answer 502 (protocol error) and drop the connection.
      res.writeRaw("HTTP/1.1 2OO OK\r\n\r\n");
      return res.finish(true);
    case "extra-bytes":
      // A complete response, then an unsolicited one: it must not reach anyone.
      res.respond(200, body, headers);
      return res.writeRaw("HTTP/1.1 200 OK\r\nx-id: extra\r\ncontent-length: 5\r\n\r\nextra");
    case "slow":
      return void later(() => res.respond(200, body, headers));
    case "hang":
      return;
    case "stall-body": {
      res.writeHead(200, { ...headers, "content-length": String(body.length + 10) });
      res.write(body);
      return void runtime.setTimeout(() => res.end(new Uint8Array(10)), ROUTE_TIMEOUT_MS + 5000);
    }
    case "reset-before":
      return void later(() => res.reset());
    case "reset-mid": {
      res.writeHead(200, { ...headers, "content-length": String(body.length + 1) });
      res.write(body);
      return void later(() => res.reset());
    }
    case "close-after":
      return res.respond(200, body, { ...headers, connection: "close" });
    case "close-silently":
      // Keep-alive as far as the headers say, then the upstream closes anyway.
      res.respond(200, body, headers);
      return void later(() => res.connection.socket.close());
  }
}

/** One downstream connection following its plan and recording what became of each request. */
class Driver {
  client: MemoryHttpClient | undefined;
  readonly outcomes = new Map<number, Outcome>();
  readonly violations: string[] = [];
  private sent: PlannedRequest[] = [];
  private answered = 0;
  private aborted = false;
  private closeAnnounced = false;
  done = false;

  constructor(
    private readonly runtime: MemoryRuntime,
    readonly index: number,
    readonly plan: ConnectionPlan,
    /** No network faults: each request must end exactly as its scenario says. */
    private readonly strict: boolean,
  ) {}

  /** After the run: in strict mode, check each request's outcome against its scenario. */
  checkScenarios(): void {
    if (!this.strict) return;
    let connectionBroken = false;
    for (const request of this.plan.requests) {
      const outcome = this.outcomes.get(request.id);
      if (!outcome) continue; // never sent
      const got = outcome.kind === "response" ? String(outcome.status) : outcome.kind;
      const allowed = expectedWithoutFaults(request);
      if (this.aborted) allowed.push("aborted");
      // Behind a reset (pipelined, or a client that had sent its next request), the rest go down with it.
      if (connectionBroken) allowed.push("reset");
      // HTTP/1 has no half-close: the proxy takes the client's FIN as a close, and a
      // request still unanswered then is reset (Envoy's HCM: response flag DC).
      if (this.plan.halfClose && (this.plan.pipelined || request === this.plan.requests.at(-1))) allowed.push("reset");
      if (!allowed.includes(got)) {
        this.violations.push(`request ${request.id} (${request.behavior}${request.behavior === "slow" ? ` ${request.delayMs}ms` : ""}, ${request.method} ${request.bodySize}B${this.plan.pipelined ? ", pipelined" : ""}${this.plan.halfClose ? ", half-closed" : ""}): ended ${got}, expected ${allowed.join(" or ")}`);
      }
      if (got === "reset") connectionBroken = true;
    }
  }

  start(): void {
    const client = new MemoryHttpClient(this.runtime, PROXY);
    this.client = client;
    client.onResponse = (response) => this.onResponse(response);
    client.onClosed = () => this.onClosed();
    if (this.plan.pipelined) for (let i = 0; i < this.plan.requests.length; i++) this.sendNext();
    else this.sendNext();
    if (this.plan.abortAfterMs !== undefined) {
      this.runtime.setTimeout(() => {
        if (this.done || client.closed) return;
        this.aborted = true;
        client.socket.reset();
      }, this.plan.abortAfterMs);
    }
  }

  private sendNext(): void {
    const request = this.plan.requests[this.sent.length];
    const client = this.client!;
    if (!request || client.closed) return;
    this.sent.push(request);
    const headers: Record<string, string> = {
      "x-id": String(request.id),
      "x-behavior": request.behavior,
      "x-delay": String(request.delayMs),
      "x-response-size": String(request.responseSize),
    };
    const hasBody = request.method === "POST" || request.method === "PUT";
    if (hasBody) headers["x-body-size"] = String(request.bodySize);
    if (request.expectContinue) headers.expect = "100-continue";
    const body = hasBody ? pattern(request.bodySize, request.id).slice() : undefined;
    client.request(request.method, `/r/${request.id}`, { headers, body, chunked: request.chunkedBody });
    if (this.plan.halfClose && this.sent.length === this.plan.requests.length) client.socket.end();
  }

  private onResponse(response: HttpMessage): void {
    const request = this.sent[this.answered++];
    if (!request) {
      this.violations.push(`connection ${this.index}: a response with no request outstanding (status ${response.status})`);
      return;
    }
    const id = request.id;
    this.outcomes.set(id, { kind: "response", status: response.status });
    if (![200, 204, 502, 503, 504, ...(this.strict ? [] : [408])].includes(response.status)) {
      this.violations.push(`request ${id} (${request.behavior}): unexpected status ${response.status}: ${response.text().slice(0, 200)}`);
    }
    const reason = request.behavior === "garbage" ? "protocol error" : "connection termination";
    if (this.strict && (response.status === 502 || response.status === 503) && request.method !== "HEAD" && response.text() !== `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`) {
      this.violations.push(`request ${id} (${request.behavior}): unexpected ${response.status} body: ${response.text()}`);
    }
    if (response.status === 200 || response.status === 204) {
      if (response.get("x-id") !== String(id)) this.violations.push(`request ${id}: got the response of request ${response.get("x-id")}`);
    }
    if (response.status === 200 && request.method === "HEAD") {
      if (response.body.length !== 0 || response.get("content-length") !== String(request.responseSize)) {
        this.violations.push(`request ${id}: HEAD answered with content-length ${response.get("content-length")} and ${response.body.length} body bytes`);
      }
    } else if (response.status === 200) {
      if (request.behavior === "trailers" && response.trailers.length === 0 && response.get("transfer-encoding") === "chunked") {
        this.violations.push(`request ${id}: the upstream's trailers were lost`);
      }
      const expected = pattern(request.responseSize, id + 1000);
      if (firstDifference(response.body, expected) !== -1) {
        this.violations.push(`request ${id}: 200 with a body of ${response.body.length} bytes differing from the upstream's ${expected.length}`);
      }
    }
    if (response.get("connection")?.toLowerCase() === "close") this.closeAnnounced = true;
    const client = this.client!;
    if (this.closeAnnounced) return; // the proxy closes; nothing more is sent
    if (this.answered === this.plan.requests.length) {
      if (!this.plan.halfClose && !this.plan.linger) client.socket.close();
    } else if (!this.plan.pipelined) {
      this.runtime.setTimeout(() => this.sendNext(), this.runtime.random() < 0.5 ? 0 : this.runtime.random() * 100);
    }
  }

  private onClosed(): void {
    this.done = true;
    const client = this.client!;
    if (client.error) this.violations.push(`connection ${this.index}: unparsable response bytes: ${client.error}`);
    for (const request of this.sent.slice(this.answered)) {
      let kind: Outcome["kind"];
      if (this.aborted) kind = "aborted";
      // A response cut after its head ends with FIN behind the bytes written (Envoy's
      // FlushWriteAndDelay), its framing incomplete: the client sees it cut, as after a reset.
      else if (client.wasReset || (client.ended && client.parser.inProgress)) kind = "reset";
      else if (this.closeAnnounced) kind = "dropped-after-close";
      else kind = "unanswered";
      this.outcomes.set(request.id, { kind });
      if (kind === "unanswered") {
        this.violations.push(
          `request ${request.id} (${request.behavior}, ${request.method} ${request.bodySize}B): connection closed (${client.closeReason}${client.closeError ? ` ${client.closeError.code}` : ""}) without a response or a reset`,
        );
      }
    }
  }
}

interface SeedResult {
  seed: number;
  violations: string[];
  outcomes: Record<string, number>;
  fingerprint: string;
  steps: number;
}

/**
 * One seeded run. `faults`: random network faults, circuit breakers and resets after N
 * bytes; without them every request's outcome is checked against its scenario exactly.
 */
async function runSeed(seed: number, faults = true): Promise<SeedResult> {
  patterns.clear();
  const traceLines: string[] = [];
  const runtime = new MemoryRuntime({ seed, trace: TRACE ? (line) => traceLines.push(line) : undefined });
  const rng = runtime.prng;
  const violations: string[] = [];
  const upstreamErrors: string[] = [];
  const upstreams = await Promise.all(UPSTREAMS.map((port) => MemoryHttpServer.listen(runtime, port, (req, res) => answer(runtime, req, res, upstreamErrors))));
  for (const upstream of upstreams) {
    upstream.earlyHandler = (head, res) => {
      if (head.get("x-behavior") !== "early") return false;
      respondAs(runtime, head, res);
      return true;
    };
  }
  const bufferLimit = rng.pick([1024, 4096, 16384, 65536, 1024 * 1024]);
  // Shorter HCM timeouts sometimes (stream idle → 408, connection idle → close), with faults only.
  const hcm = faults && rng.chance(0.3) ? { stream_idle_timeout: `${1 + rng.int(10)}s`, common_http_protocol_options: { idle_timeout: `${1 + rng.int(60)}s` } } : undefined;
  const breakers = faults && rng.chance(0.3) ? { max_requests: 4 + rng.int(20), max_pending_requests: 2 + rng.int(20), max_connections: 2 + rng.int(20) } : undefined;
  const server: Server = await startProxy(
    runtime,
    httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: UPSTREAMS },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      listenerExtra: { per_connection_buffer_limit_bytes: bufferLimit },
      // Trailers both ways (the invariants check they arrive): enable_trailers on both HTTP/1 sides.
      hcm: { ...HCM_WITH_TRAILERS, ...hcm },
      clusterExtra: {
        ...HTTP1_CLUSTER_WITH_TRAILERS,
        connect_timeout: "1s",
        per_connection_buffer_limit_bytes: bufferLimit,
        ...(breakers ? { circuit_breakers: { thresholds: [breakers] } } : {}),
      },
    }),
    "error",
  );
  const faultCounts: Record<string, number> = {};
  runtime.setFaults((info) => {
    if (!faults) return undefined;
    const faults_ = randomFaults(rng, UPSTREAMS.includes(info.remote.port));
    for (const [dir, d] of [["toServer", faults_.toServer], ["toClient", faults_.toClient]] as const) {
      for (const key of Object.keys(d ?? {})) faultCounts[`${dir}.${key}`] = (faultCounts[`${dir}.${key}`] ?? 0) + 1;
    }
    if (faults_.connect) faultCounts[faults_.connect] = (faultCounts[faults_.connect] ?? 0) + 1;
    return faults_;
  });

  let ids = 0;
  const drivers: Driver[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const driver = new Driver(runtime, i, planConnection(rng, () => ++ids, faults), !faults);
    drivers.push(driver);
    runtime.setTimeout(() => driver.start(), driver.plan.startAt);
  }

  try {
    runtime.runUntilIdle();
  } catch (err) {
    violations.push(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  for (const driver of drivers) {
    driver.checkScenarios();
    violations.push(...driver.violations);
    if (!driver.done) violations.push(`connection ${driver.index}: never closed (client socket ${driver.client?.socket.isClosed ? "closed" : "open"})`);
  }
  violations.push(...upstreamErrors, ...upstreams.flatMap((u) => u.errors));
  const downstream = activeDownstreamConnections(server);
  if (downstream !== 0) violations.push(`leak: ${downstream} downstream connection(s) still open in the proxy`);
  const pooled = pooledConnections(server, "backend");
  if (pooled !== 0) violations.push(`leak: ${pooled} upstream connection(s) still in the pools`);
  const counters = resourceCounters(server, "backend");
  if (counters.connections || counters.pendingRequests || counters.requests) {
    violations.push(`leak: cluster resource counters not back to zero: ${JSON.stringify(counters)}`);
  }
  if (runtime.openSockets.size > 0) {
    violations.push(`leak: ${runtime.openSockets.size} socket(s) still open: ${[...runtime.openSockets].map((s) => `S${s.id}(${s.role} ${s.local?.port}->${s.remote?.port})`).join(", ")}`);
  }
  if (runtime.pendingTimers > 0) violations.push(`leak: ${runtime.pendingTimers} timer(s) still armed after everything closed`);
  if (runtime.logText.includes("[error]")) violations.push(`the proxy logged errors:\n${runtime.logText}`);

  const outcomes: Record<string, number> = {};
  const perRequest: string[] = [];
  for (const driver of drivers) {
    for (const [id, outcome] of [...driver.outcomes].sort((a, b) => a[0] - b[0])) {
      const key = outcome.kind === "response" ? `${outcome.status}` : outcome.kind;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      perRequest.push(`${id}:${key}`);
    }
  }
  if (TRACE && violations.length) for (const line of traceLines) console.log(line);
  if (env.POLYVOY_VERBOSE) console.log(`seed ${seed}: ${JSON.stringify(outcomes)} faults ${JSON.stringify(faultCounts)} steps ${runtime.scheduler.steps} t=${runtime.now()}`);
  return {
    seed,
    violations,
    outcomes,
    steps: runtime.scheduler.steps,
    fingerprint: `${perRequest.join(",")}|steps=${runtime.scheduler.steps}|t=${runtime.now()}`,
  };
}

async function runSeeds(faults: boolean): Promise<{ failures: string[]; totals: Record<string, number> }> {
  const failures: string[] = [];
  const totals: Record<string, number> = {};
  for (const seed of SEEDS) {
    const result = await runSeed(seed, faults);
    for (const [k, v] of Object.entries(result.outcomes)) totals[k] = (totals[k] ?? 0) + v;
    if (result.violations.length) {
      const head = `seed ${seed}${faults ? "" : " (no faults)"} failed (replay: POLYVOY_SEED=${seed} npx vitest run test/memory/randomized.test.ts):`;
      console.error(`${head}\n  ${result.violations.join("\n  ")}`);
      failures.push(`${head} ${result.violations[0]}${result.violations.length > 1 ? ` (+${result.violations.length - 1} more)` : ""}`);
    }
  }
  if (env.POLYVOY_VERBOSE) console.log(JSON.stringify(totals));
  return { failures, totals };
}

describe("randomized runs on the memory runtime", () => {
  test(`${SEEDS.length} seed(s) × ${CONNECTIONS} connections with random faults keep the invariants`, async () => {
    const { failures, totals } = await runSeeds(true);
    // The runs did exercise every way a request can end.
    if (REPLAY === undefined) for (const kind of ["200", "502", "503", "504", "reset", "aborted"]) expect(totals[kind] ?? 0, `outcome ${kind}`).toBeGreaterThan(0);
    expect(failures).toEqual([]);
  }, TIMEOUT_MS);

  test(`${SEEDS.length} seed(s) × ${CONNECTIONS} connections without network faults: every request ends as its scenario says`, async () => {
    const { failures } = await runSeeds(false);
    expect(failures).toEqual([]);
  }, TIMEOUT_MS);

  test("a run is replayable: the same seed gives the same events and outcomes", async () => {
    const seed = SEEDS[0]!;
    const first = await runSeed(seed);
    const second = await runSeed(seed);
    expect(second.fingerprint).toBe(first.fingerprint);
    const other = await runSeed(seed + 1000);
    expect(other.fingerprint).not.toBe(first.fingerprint);
  });
});

/**
 * tcp_proxy to an echo server, 20 connections per seed with random faults (but no
 * network resets: on an upstream reset tcp_proxy closes the downstream with FIN after
 * flushing, as Envoy does, so a clean close would not imply a full round trip) and
 * clients that abort.
 */
async function runTcpSeed(seed: number): Promise<string[]> {
  const traceLines: string[] = [];
  const runtime = new MemoryRuntime({ seed, trace: TRACE ? (line) => traceLines.push(line) : undefined });
  const rng = runtime.prng;
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAMS[0]! }, (socket: Socket) => {
    socket.setHandler({
      onConnect() {},
      onData: (data) => socket.write(data.slice()),
      onEnd: () => socket.end(),
      onDrain() {},
      onClose() {},
    });
  });
  const limit = rng.pick([1024, 65536, 1024 * 1024]);
  const server = await startProxy(
    runtime,
    tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAMS[0]!], bufferLimitBytes: limit, idleTimeout: rng.chance(0.3) ? "5s" : undefined }),
    "error",
  );
  const direction = (): DirectionFaults => ({
    ...(rng.chance(0.3) ? { split: "random" as const } : {}),
    ...(rng.chance(0.2) ? { writeWindow: 1 + rng.int(3000) } : {}),
    ...(rng.chance(0.2) ? { delayMs: [0, 20] as const } : {}),
  });
  runtime.setFaults(() => ({ toServer: direction(), toClient: direction(), ...(rng.chance(0.3) ? { receiveWindow: 512 + rng.int(65536) } : {}) }));
  const clients: { recorder: SocketRecorder; data: Uint8Array }[] = [];
  for (let i = 0; i < 20; i++) {
    runtime.setTimeout(() => {
      const recorder = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: PROXY }));
      const data = pattern(rng.int(200_000), i);
      clients.push({ recorder, data });
      let at = 0;
      const send = (): void => {
        if (recorder.closeReason) return;
        const n = Math.min(data.length - at, 1 + rng.int(50_000));
        if (n > 0) recorder.socket.write(data.slice(at, at + n));
        at += n;
        if (at < data.length) runtime.setTimeout(send, rng.int(10));
        else if (rng.chance(0.9)) recorder.socket.end();
        else runtime.setTimeout(() => recorder.socket.reset(), rng.int(100));
      };
      send();
    }, rng.int(500));
  }
  const problems: string[] = [];
  try {
    runtime.runUntilIdle();
  } catch (err) {
    problems.push(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  for (const [i, { recorder, data }] of clients.entries()) {
    const echoed = concat(recorder.received);
    const at = firstDifference(echoed, data.subarray(0, echoed.length));
    if (at !== -1) problems.push(`connection ${i}: echoed bytes differ at ${at}`);
    if (!recorder.closeReason) problems.push(`connection ${i}: never closed`);
    if (recorder.closeReason === "remote" && echoed.length !== data.length) problems.push(`connection ${i}: closed cleanly after ${echoed.length} of ${data.length} bytes`);
  }
  const downstream = activeDownstreamConnections(server);
  if (downstream) problems.push(`leak: ${downstream} downstream connection(s) still open in the proxy`);
  if (runtime.openSockets.size) problems.push(`leak: ${runtime.openSockets.size} socket(s) still open`);
  if (runtime.pendingTimers) problems.push(`leak: ${runtime.pendingTimers} timer(s) still armed`);
  if (TRACE && problems.length) for (const line of traceLines) console.log(line);
  return problems;
}

describe("randomized tcp_proxy runs on the memory runtime", () => {
  const seeds = SEEDS.slice(0, REPLAY === undefined ? 10 : 1);
  test(`${seeds.length} seed(s) × 20 connections: bytes intact both ways, no leaks`, async () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      const problems = await runTcpSeed(seed);
      if (!problems.length) continue;
      const head = `tcp_proxy seed ${seed} failed (replay: POLYVOY_SEED=${seed} npx vitest run test/memory/randomized.test.ts):`;
      console.error(`${head}\n  ${problems.join("\n  ")}`);
      failures.push(`${head} ${problems[0]}`);
    }
    expect(failures).toEqual([]);
  }, TIMEOUT_MS);
});

