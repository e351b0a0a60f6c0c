/**
 * Envoy's load reporting service client on every runtime, black-box: Envoy's
 * load-reporting-service sandbox config (test/fixtures/envoy-examples, from
 * envoyproxy/examples) served as written but for where things are — its `http_service`
 * a node:http upstream answering 200 or 503, its `lrs_server` test/support's
 * @grpc/grpc-js LoadReportingService (Envoy's lrs.proto). The server asks for
 * local_service every second; requests through the proxy show up in the reports (2xx as
 * successes, 5xx as errors, all as issued), each report carrying the interval it measured;
 * the server ending the stream has it opened again after Envoy's 5 s.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { localize } from "../support/envoy-examples.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { LrsServer } from "../support/lrs-server.ts";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { adminStats } from "../support/tls-probe.ts";
import { eventually } from "../support/xds-resources.ts";

describe.each(RUNTIMES)("load reporting (LRS) on %s", (runtime) => {
  let upstream: HttpUpstream;
  let lrs: LrsServer;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
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

      lrs.respond({ clusters: ["local_service"], load_reporting_interval: { seconds: 1 } });
      // The period has started once a report came (empty until traffic).
      await eventually(async () => lrs.reportsOf("local_service").length, (n) => n >= 1);
      const get = async (path: string) => (await fetch(`http://127.0.0.1:${port(80)}${path}`)).status;
      const statuses = [await get("/service/ok"), await get("/service/ok"), await get("/service/fail"), await get("/service/ok"), await get("/service/fail")];
      expect(statuses).toEqual([200, 200, 503, 200, 503]);

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
      // Each report's interval is what it measured since the one before: about the second asked for.
      for (const { stats } of lrs.reportsOf("local_service").slice(1)) {
        const seconds = (stats.load_report_interval?.seconds ?? 0) + (stats.load_report_interval?.nanos ?? 0) / 1e9;
        expect(seconds).toBeGreaterThan(0.9);
      }
      // One more interval: nothing new is counted again.
      const reports = lrs.reportsOf("local_service").length;
      await eventually(async () => lrs.reportsOf("local_service").length, (n) => n > reports);
      expect(totals()).toEqual({ success: 3, error: 2, issued: 5 });

      let stats = await adminStats(adminPort);
      expect(stats.get("load_reporter.requests")).toBe(1);
      expect(stats.get("load_reporter.responses")).toBeGreaterThanOrEqual(3);
      expect(stats.get("load_reporter.errors")).toBe(0);

      // The server ends the stream (status OK): a new one after 5 s, its first request the node and the stats since.
      lrs.endStreams();
      expect(await eventually(async () => lrs.opened, (n) => n === 2, 20_000)).toBe(2);
      stats = await eventually(() => adminStats(adminPort), (s) => s.get("load_reporter.retries") === 1);
      expect(stats.get("load_reporter.retries")).toBe(1);
      expect(stats.get("load_reporter.errors")).toBe(0);
      // The server's response is sent on the new stream too: reports go on.
      expect(await get("/service/ok")).toBe(200);
      expect(await eventually(async () => totals(), (t) => t.issued >= 6)).toEqual({ success: 4, error: 2, issued: 6 });
    } finally {
      await proxy.stop();
    }
  });
});
