/** stats_config: its schema, the stats matcher (what the store keeps) and tag extraction (default and custom tags). */
import { describe, expect, test } from "vitest";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { yamlProblems as problems } from "../config/config-problems.ts";
import { TagExtractor } from "../../../core/admin/tag-extractor.ts";
import { compileStatsMatcher } from "../../../core/stats/stats-matcher.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

function load(yaml: string): Bootstrap {
  return loadBootstrap(yaml, "yaml");
}

describe("stats_config", () => {
  test("schema: stats_tags, use_all_default_tags (a bool or BoolValue), stats_matcher's three forms", () => {
    expect(
      load(`
stats_config:
  use_all_default_tags: { value: false }
  stats_tags:
  - { tag_name: envoy.cluster_name }
  - { tag_name: team, fixed_value: edge }
  - { tag_name: method, regex: "^http\\\\.[^.]+\\\\.rq_((\\\\w+)\\\\.)" }
  stats_matcher:
    exclusion_list: { patterns: [ { prefix: "cluster." }, { safe_regex: { regex: ".*_cx_.*" } } ] }
`).statsConfig,
    ).toEqual({
      useAllDefaultTags: false,
      statsTags: [{ tagName: "envoy.cluster_name" }, { tagName: "team", fixedValue: "edge" }, { tagName: "method", regex: "^http\\.[^.]+\\.rq_((\\w+)\\.)" }],
      statsMatcher: {
        type: "exclusion_list",
        patterns: [
          { type: "prefix", value: "cluster.", ignoreCase: false },
          { type: "regex", regex: ".*_cx_.*" },
        ],
      },
    });
    expect(load("stats_config: { stats_matcher: { reject_all: true } }").statsConfig!.statsMatcher).toEqual({ type: "reject_all" });
    expect(load("stats_config: {}").statsConfig).toEqual({ useAllDefaultTags: true, statsTags: [] });
  });

  test("refusals: an unknown default tag without regex, a bad regex, regex and fixed_value together, histogram_bucket_settings, an empty matcher", () => {
    expect(problems("stats_config: { stats_tags: [ { tag_name: my_tag } ] }")).toEqual([
      "stats_config.stats_tags[0]: No regex specified for tag specifier and no default regex for name: 'my_tag'",
    ]);
    expect(problems("stats_config: { stats_tags: [ { tag_name: t, regex: '(' } ] }")[0]).toMatch(/^stats_config\.stats_tags\[0\]\.regex: invalid regex: /);
    expect(problems("stats_config: { stats_tags: [ { tag_name: t, regex: 'a', fixed_value: b } ] }")).toEqual([
      "stats_config.stats_tags[0]: must set only one of regex, fixed_value (got regex, fixed_value)",
    ]);
    expect(problems("stats_config: { histogram_bucket_settings: [ { match: { prefix: a }, buckets: [1, 2] } ] }")).toEqual([
      "stats_config: `histogram_bucket_settings` is an Envoy field that polyvoy does not support yet (every histogram has Envoy's default buckets (0.5 ms to 1 h))",
    ]);
    expect(problems("stats_config: { stats_matcher: {} }")).toEqual(["stats_config.stats_matcher: must set one of reject_all, exclusion_list, inclusion_list"]);
    expect(problems("stats_config: { stats_matcher: { inclusion_list: { patterns: [] } } }")[0]).toMatch(/^stats_config\.stats_matcher\.inclusion_list\.patterns: /);
  });

  test("the matcher: rejected stats count for their holder but the store neither lists nor finds them", () => {
    const store = new StatsStore(compileStatsMatcher({ type: "inclusion_list", patterns: [{ type: "suffix", value: "_total", ignoreCase: false }] }));
    const kept = store.counter("cluster.a.upstream_rq_total");
    const dropped = store.counter("cluster.a.upstream_rq_200");
    dropped.inc();
    expect(store.counter("cluster.a.upstream_rq_200")).toBe(dropped);
    expect(dropped.value).toBe(1);
    expect(store.all()).toEqual([kept]);
    expect(store.get("cluster.a.upstream_rq_200")).toBeUndefined();
    const none = new StatsStore(compileStatsMatcher({ type: "reject_all" }));
    none.gauge("server.live").set(1);
    expect(none.all()).toEqual([]);
    const some = new StatsStore(compileStatsMatcher({ type: "exclusion_list", patterns: [{ type: "contains", value: "_cx_", ignoreCase: false }] }));
    some.counter("listener.x.downstream_cx_total");
    some.counter("http.in.downstream_rq_total");
    expect(some.all().map((s) => s.name)).toEqual(["http.in.downstream_rq_total"]);
  });

  test("gRPC stats (grpc_stats, the HTTP/1 bridge): Envoy's envoy.grpc_bridge_method and envoy.grpc_bridge_service tags", () => {
    const tags = new TagExtractor();
    expect(tags.extract("cluster.backend.grpc.helloworld_Greeter.SayHello.total")).toEqual({
      name: "cluster.grpc.total",
      tags: [
        { name: "envoy.grpc_bridge_method", value: "SayHello" },
        { name: "envoy.grpc_bridge_service", value: "helloworld_Greeter" },
        { name: "envoy.cluster_name", value: "backend" },
      ],
    });
    // The shared bucket (no service or method) has neither.
    expect(tags.extract("cluster.backend.grpc.upstream_rq_time")).toEqual({ name: "cluster.grpc.upstream_rq_time", tags: [{ name: "envoy.cluster_name", value: "backend" }] });
  });

  test("tags: defaults unless use_all_default_tags is false; stats_tags after them (regex, fixed value, a default by name)", () => {
    expect(new TagExtractor().extract("cluster.backend.upstream_rq_200")).toEqual({
      name: "cluster.upstream_rq",
      tags: [
        { name: "envoy.response_code", value: "200" },
        { name: "envoy.cluster_name", value: "backend" },
      ],
    });
    const custom = new TagExtractor({
      useAllDefaultTags: false,
      statsTags: [{ tagName: "envoy.cluster_name" }, { tagName: "team", fixedValue: "edge" }, { tagName: "shard", regex: "(\\.shard_(\\d+))" }],
    });
    expect(custom.extract("cluster.backend.upstream_rq_200")).toEqual({
      name: "cluster.upstream_rq_200",
      tags: [
        { name: "envoy.cluster_name", value: "backend" },
        { name: "team", value: "edge" },
      ],
    });
    // The first group is cut, the second is the value (regex_search: anywhere in the name).
    expect(custom.extract("tcp.in.shard_7_cx")).toEqual({ name: "tcp.in_cx", tags: [{ name: "team", value: "edge" }, { name: "shard", value: "7" }] });
    // With the defaults kept, a custom tag of a default's name comes after it and loses to it.
    const both = new TagExtractor({ useAllDefaultTags: true, statsTags: [{ tagName: "envoy.cluster_name", regex: "^cluster\\.((b)\\w+\\.)" }] });
    expect(both.extract("cluster.backend.x").tags).toEqual([{ name: "envoy.cluster_name", value: "backend" }]);
  });
});
