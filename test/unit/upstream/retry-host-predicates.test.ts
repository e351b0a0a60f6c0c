/**
 * The metadata retry host predicates (Envoy's OmitCanaryHostsRetryPredicate and
 * OmitHostsRetryPredicate) as Envoy's Config::Metadata::metadataLabelMatch decides them.
 */
import { describe, expect, test } from "vitest";
import { Host } from "../../../core/upstream/host.ts";
import { metadataLabelMatch } from "../../../core/upstream/metadata-match.ts";

const host = (lb?: Record<string, unknown>) => new Host("127.0.0.1", 1, lb ? { metadata: { "envoy.lb": lb } } : {});

describe("metadata a retry host predicate reads", () => {
  test('canary: envoy.lb canary true only (not "true", not another namespace)', () => {
    expect(host({ canary: true }).canary).toBe(true);
    expect(host({ canary: "true" }).canary).toBe(false);
    expect(host().canary).toBe(false);
    expect(new Host("127.0.0.1", 1, { metadata: { other: { canary: true } } }).canary).toBe(false);
  });

  test("metadataLabelMatch: every label present and equal; list_as_any matches an element; no labels match all", () => {
    expect(metadataLabelMatch([["version", "v1"]], host({ version: "v1", stage: "x" }).metadata, false)).toBe(true);
    expect(metadataLabelMatch([["version", "v1"], ["stage", "y"]], host({ version: "v1", stage: "x" }).metadata, false)).toBe(false);
    expect(metadataLabelMatch([["version", "v1"]], host().metadata, false)).toBe(false);
    expect(metadataLabelMatch([["n", 1]], host({ n: 1.0 }).metadata, false)).toBe(true);
    expect(metadataLabelMatch([["n", 1]], host({ n: "1" }).metadata, false)).toBe(false);
    expect(metadataLabelMatch([["v", "b"]], host({ v: ["a", "b"] }).metadata, true)).toBe(true);
    expect(metadataLabelMatch([["v", "b"]], host({ v: ["a", "b"] }).metadata, false)).toBe(false);
    expect(metadataLabelMatch([], host().metadata, false)).toBe(true);
  });
});
