/**
 * type: ORIGINAL_DST clusters' config (core/config/original-dst-cluster-schema.ts): Envoy's
 * OriginalDstClusterFactory checks and messages, the fields its balancer never reads
 * refused, original_dst_lb_config and cleanup_interval refused on other cluster types.
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { yamlProblems } from "./config-problems.ts";

const C = "static_resources.clusters[0]";
const yaml = (fields: string) => `static_resources:\n  clusters:\n  - name: c\n    connect_timeout: 1s\n${fields}`;
const ORIGINAL_DST = "    type: ORIGINAL_DST\n    lb_policy: CLUSTER_PROVIDED\n";

function originalDst(fields: string): unknown {
  return loadBootstrap(yaml(ORIGINAL_DST + fields), "yaml").clusters[0]!.originalDst;
}

describe("ORIGINAL_DST cluster config", () => {
  test("defaults: a 5 s cleanup, no header, no metadata key, no port override", () => {
    expect(originalDst("")).toEqual({ cleanupIntervalMs: 5000 });
  });

  test("every field, the header name lower-cased (Envoy's LowerCaseString); an empty name is x-envoy-original-dst-host", () => {
    expect(originalDst("    cleanup_interval: 0.5s\n    original_dst_lb_config: { use_http_header: true, http_header_name: X-Dst, upstream_port_override: 8080, metadata_key: { key: ns, path: [{ key: a }, { key: b }] } }\n")).toEqual({
      cleanupIntervalMs: 500,
      httpHeaderName: "x-dst",
      portOverride: 8080,
      metadataKey: { namespace: "ns", path: ["a", "b"] },
    });
    expect(originalDst("    original_dst_lb_config: { use_http_header: true }\n")).toEqual({ cleanupIntervalMs: 5000, httpHeaderName: "x-envoy-original-dst-host" });
  });

  test("lb_policy must be CLUSTER_PROVIDED, and no load_assignment (Envoy's messages)", () => {
    expect(yamlProblems(yaml("    type: ORIGINAL_DST\n"))).toEqual([
      `${C}.lb_policy: cluster: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST. Only 'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'`,
    ]);
    expect(yamlProblems(yaml(ORIGINAL_DST + "    load_assignment: { cluster_name: c }\n"))).toEqual([`${C}.load_assignment: ORIGINAL_DST clusters must have no load assignment configured`]);
  });

  test("http_header_name without use_http_header (Envoy's message); bad values", () => {
    expect(yamlProblems(yaml(ORIGINAL_DST + "    original_dst_lb_config: { http_header_name: x-a }\n"))).toEqual([
      `${C}.original_dst_lb_config.http_header_name: ORIGINAL_DST cluster: invalid config http_header_name=x-a and use_http_header is false. Set use_http_header to true if http_header_name is desired.`,
    ]);
    expect(yamlProblems(yaml(ORIGINAL_DST + "    original_dst_lb_config: { upstream_port_override: 65536 }\n"))[0]).toMatch(/^static_resources\.clusters\[0\]\.original_dst_lb_config\.upstream_port_override: 65536 is out of range/);
    expect(yamlProblems(yaml(ORIGINAL_DST + "    cleanup_interval: 0s\n"))).toEqual([`${C}.cleanup_interval: must be greater than 0s`]);
    expect(yamlProblems(yaml(ORIGINAL_DST + "    original_dst_lb_config: { metadata_key: { key: ns, path: [] } }\n"))[0]).toMatch(/^static_resources\.clusters\[0\]\.original_dst_lb_config\.metadata_key\.path: /);
  });

  test("fields its balancer never reads are refused, by name", () => {
    for (const field of ["health_checks: [{ timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }]", "outlier_detection: {}", "common_lb_config: {}", "lb_subset_config: { subset_selectors: [{ keys: [a] }] }"]) {
      const name = field.slice(0, field.indexOf(":"));
      expect(yamlProblems(yaml(ORIGINAL_DST + `    ${field}\n`)), name).toEqual([expect.stringMatching(new RegExp(`^${C.replace(/[.[\]]/g, "\\$&")}\\.${name}: an ORIGINAL_DST cluster does not use it: `))]);
    }
  });

  test("original_dst_lb_config and cleanup_interval on another cluster type are refused (Envoy ignores them)", () => {
    const endpoints = "    load_assignment: { cluster_name: c, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }\n";
    expect(yamlProblems(yaml(endpoints + "    cleanup_interval: 1s\n    original_dst_lb_config: {}\n"))).toEqual([
      `${C}.original_dst_lb_config: applies to type: ORIGINAL_DST clusters only`,
      `${C}.cleanup_interval: applies to type: ORIGINAL_DST clusters only`,
    ]);
  });
});
