/**
 * Envoy's load reporting service client on every runtime, black-box: Envoy's
 * load-reporting-service sandbox config (test/fixtures/envoy-examples, from
 * envoyproxy/examples) served as written but for where things are — its `http_service`
 * a node:http upstream answering 200 or 503, its `lrs_server` test/support's
 * @grpc/grpc-js LoadReportingService (Envoy's lrs.proto). The server asks for
 * local_service every second; requests through the proxy show up in the reports (2xx as
 * successes, 5xx as errors, all as issued), each report carrying the interval it measured;
 * the server ending the stream has it opened again after Envoy's 5 s. A request a circuit
 * breaker refuses is reported dropped, one held is reported in progress. With
 * --concurrency 2 each worker reports on a stream of its own, and their sum counts every
 * request once.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { localize } from "../support/envoy-examples.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { LrsServer } from "../support/lrs-server.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { adminStats } from "../support/tls-probe.ts";
import { eventually } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("load reporting (LRS) on %s", (runtime) => {
  let upstream: HttpUpstream;
  let lrs: LrsServer;
  /** Responses of /service/hold, answered when a test says. */
  const held: { end(body: string): void }[] = [];

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
      if (req.url === "/service/hold") return void held.push(res);
      res.statusCode = req.url === "/service/fail" ? 503 : 200;
      res.end("ok");
    });
    lrs = new LrsServer();
    await lrs.start();
  });

  afterAll(async () => {
    await Promise.all([upstream?.close(), lrs?.stop()]);
  });

  test("load-reporting-service example: the node first, then per interval local_service's successes, errors and issued requests; a stream the server ends is opened again", async () => {
    const { config, port } = await localize("load-reporting-service/envoy.yaml", { http_service: upstream.port, lrs_server: lrs.port });
    const adminPort = config.admin.address.socket_address.port_value as number;
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      // The stream's first request: the node only.
      const first = await eventually(async () => lrs.requests[0], (r) => r !== undefined);
      expect(first!.request.node).toMatchObject({ id: "envoy-1", cluster: "local_service", client_features: ["envoy.lrs.supports_send_all_clusters"] });
      expect(first!.request.cluster_stats).toBeUndefined();

      // A request that straddles two reports has its success or error in one that issued
      // nothing, which Envoy leaves out: the requests go in one long period, which a second
      // response then shortens to 1 s.
      lrs.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 3600 } });
      await eventually(() => adminStats(adminPort), (s) => s.get("load_reporter.requests") === 1);
      const get = async (path: string) => (await fetch(`http://127.0.0.1:${port(80)}${path}`)).status;
      const statuses = [await get("/service/ok"), await get("/service/ok"), await get("/service/fail"), await get("/service/ok"), await get("/service/fail")];
      expect(statuses).toEqual([200, 200, 503, 200, 503]);
      expect(lrs.reportsOf("local_service")).toEqual([]);
      lrs.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 1 } });

      const totals = () => {
        const sum = { success: 0, error: 0, issued: 0 };
        for (const { stats } of lrs.reportsOf("local_service")) {
          for (const l of stats.upstream_locality_stats ?? []) {
            sum.success += l.total_successful_requests ?? 0;
            sum.error += l.total_error_requests ?? 0;
            sum.issued += l.total_issued_requests ?? 0;
          }
        }
        return sum;
      };
      expect(await eventually(async () => totals(), (t) => t.issued >= 5)).toEqual({ success: 3, error: 2, issued: 5 });
      // Each report's interval is what it measured since the one before (the first: since
      // the cluster was first asked for, before the requests).
      for (const { stats } of lrs.reportsOf("local_service")) {
        const seconds = (stats.load_report_interval?.seconds ?? 0) + (stats.load_report_interval?.nanos ?? 0) / 1e9;
        expect(seconds).toBeGreaterThan(0.9);
      }
      // One more interval: nothing new is counted again.
      const reports = lrs.reportsOf("local_service").length;
      await eventually(async () => lrs.reportsOf("local_service").length, (n) => n > reports);
      expect(totals()).toEqual({ success: 3, error: 2, issued: 5 });

      let stats = await adminStats(adminPort);
      expect(stats.get("load_reporter.requests")).toBe(2);
      expect(stats.get("load_reporter.responses")).toBeGreaterThanOrEqual(3);
      expect(stats.get("load_reporter.errors")).toBe(0);

      // The server ends the stream (status OK): a new one after 5 s, its first request the node and the stats since.
      lrs.endStreams();
      expect(await eventually(async () => lrs.opened, (n) => n === 2, 20_000)).toBe(2);
      stats = await eventually(() => adminStats(adminPort), (s) => s.get("load_reporter.retries") === 1);
      expect(stats.get("load_reporter.retries")).toBe(1);
      expect(stats.get("load_reporter.errors")).toBe(0);
      // The server's response is sent on the new stream too: reports go on.
      expect(await eventually(async () => lrs.requests.filter((r) => r.stream === 2).length, (n) => n >= 2)).toBeGreaterThanOrEqual(2);
      expect(totals()).toEqual({ success: 3, error: 2, issued: 5 });
    } finally {
      await proxy.stop();
    }
  });

  test("a request the circuit breaker refuses is a dropped request; one in progress is reported as such while it lasts", async () => {
    const server = new LrsServer();
    await server.start();
    server.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 0, nanos: 300_000_000 } });
    const { config, port } = await localize("load-reporting-service/envoy.yaml", { http_service: upstream.port, lrs_server: server.port }, (c) => {
      c.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_requests: 1 }] };
    });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      await eventually(async () => server.reportsOf("local_service").length, (n) => n >= 1);
      const url = (path: string) => `http://127.0.0.1:${port(80)}${path}`;
      const holding = fetch(url("/service/hold"));
      await eventually(async () => held.length, (n) => n === 1);
      const over = await fetch(url("/service/ok"));
      expect(over.status).toBe(503);
      expect(over.headers.get("x-envoy-overloaded")).toBe("true");
      const sum = () => {
        let dropped = 0;
        let issued = 0;
        for (const { stats } of server.reportsOf("local_service")) {
          dropped += stats.total_dropped_requests ?? 0;
          for (const l of stats.upstream_locality_stats ?? []) issued += l.total_issued_requests ?? 0;
        }
        return { dropped, issued };
      };
      // The held request: issued once, then reported in progress in each report while it lasts.
      const inProgress = () => server.reportsOf("local_service").filter(({ stats }) => stats.upstream_locality_stats?.[0]?.total_requests_in_progress === 1).length;
      expect(await eventually(async () => inProgress(), (n) => n >= 2)).toBeGreaterThanOrEqual(2);
      expect(await eventually(async () => sum(), (t) => t.dropped >= 1)).toEqual({ dropped: 1, issued: 1 });
      held.shift()!.end("done");
      expect((await holding).status).toBe(200);
      // Its success comes in an interval that issued nothing and ends with nothing in
      // progress: Envoy sends no locality then (should_send_locality_stats), so it is not reported.
      const reports = server.reportsOf("local_service").length;
      await eventually(async () => server.reportsOf("local_service").length, (n) => n >= reports + 2);
      const successes = server.reportsOf("local_service").reduce((n, { stats }) => n + (stats.upstream_locality_stats?.[0]?.total_successful_requests ?? 0), 0);
      expect(successes).toBe(0);
      expect(server.reportsOf("local_service").at(-1)!.stats.upstream_locality_stats).toBeUndefined();
      expect(sum()).toEqual({ dropped: 1, issued: 1 });
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });

  test("--concurrency 2: each worker reports on its own stream; summed, every request is counted once", { timeout: 120_000 }, async () => {
    const server = new LrsServer();
    await server.start();
    // One long period for the requests (none straddles two reports), then reports every 0.5 s.
    server.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 3600 } });
    const { config, port } = await localize("load-reporting-service/envoy.yaml", { http_service: upstream.port, lrs_server: server.port });
    const adminPort = config.admin.address.socket_address.port_value as number;
    const proxy = await ProxyProcess.start(runtime, config, 0, ["--concurrency", "2"]);
    try {
      await proxy.waitForLog(/all 2 workers started/, 1, 60_000);
      expect(await eventually(async () => server.opened, (n) => n === 2)).toBe(2);
      // Both workers took the response (the merged /stats sums their counters).
      await eventually(() => adminStats(adminPort), (s) => s.get("load_reporter.requests") === 2);
      const nodes = new Set(server.requests.map((r) => r.request.node?.id));
      expect(nodes).toEqual(new Set(["envoy-1"]));
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await fetch(`http://127.0.0.1:${port(80)}/service/${i % 3 === 0 ? "fail" : "ok"}`, { headers: { connection: "close" } })).status);
      expect(statuses.filter((s) => s === 503)).toHaveLength(4);
      server.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 0, nanos: 500_000_000 } });
      const totals = () => {
        const sum = { success: 0, error: 0, issued: 0 };
        for (const { stats } of server.reportsOf("local_service")) {
          for (const l of stats.upstream_locality_stats ?? []) {
            sum.success += l.total_successful_requests ?? 0;
            sum.error += l.total_error_requests ?? 0;
            sum.issued += l.total_issued_requests ?? 0;
          }
        }
        return sum;
      };
      expect(await eventually(async () => totals(), (t) => t.issued >= 12)).toEqual({ success: 8, error: 4, issued: 12 });
      // Both streams report (each worker's own, whatever share of the requests it served).
      expect(new Set(server.reportsOf("local_service").map((r) => r.stream)).size).toBe(2);
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });
});
