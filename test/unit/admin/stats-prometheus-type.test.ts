/**
 * `/stats/prometheus?type=`: checked as Envoy's StatsParams::parse checks it (a 400
 * `invalid &type= param` for anything but its labels), then not applied, as in Envoy:
 * prometheus_stats.cc renders every counter, gauge and histogram its shouldShowMetric lets
 * through (usedonly, hidden, filter), whatever the type. /stats text and JSON apply it.
 */
import { describe, expect, test } from "vitest";
import { statsResponse } from "../../../core/admin/stats-render.ts";
import { HistogramIntervals } from "../../../core/admin/histogram-intervals.ts";
import { TagExtractor } from "../../../core/admin/tag-extractor.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";

function render(path: "/stats" | "/stats/prometheus", query: Record<string, string>) {
  const store = new StatsStore();
  store.counter("c.requests").inc(2);
  store.gauge("g.active").set(3);
  store.histogram("h.time").record(5);
  return statsResponse(path, new Map(Object.entries(query)), store.all(), new HistogramIntervals(), new TagExtractor());
}

describe("/stats/prometheus?type=", () => {
  test("every type is rendered whatever type= names, as Envoy's prometheus output", () => {
    for (const type of ["Counters", "Gauges", "Histograms", "TextReadouts", "All"]) {
      const { status, body } = render("/stats/prometheus", { type });
      expect(status, type).toBe(200);
      expect(body, type).toContain("envoy_c_requests{} 2\n");
      expect(body, type).toContain("envoy_g_active{} 3\n");
      expect(body, type).toContain("envoy_h_time_count{} 1\n");
    }
  });

  test("a type that is not one of Envoy's labels is a 400, as on /stats", () => {
    expect(render("/stats/prometheus", { type: "counters" })).toMatchObject({ status: 400, body: "invalid &type= param" });
    expect(render("/stats", { type: "Bogus" })).toMatchObject({ status: 400, body: "invalid &type= param" });
  });

  test("/stats (text) applies it", () => {
    expect(render("/stats", { type: "Gauges" }).body).toBe("g.active: 3\n");
  });
});
