/** A route's rate_limits as descriptors (Envoy's router_ratelimit.cc), from the config schema down. */
import { describe, expect, test } from "vitest";
import { rateLimitPolicy } from "../../../../core/config/ratelimit-schema.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";
import { populateDescriptors, type DescriptorContext, type RateLimitDescriptor } from "../../../../core/http/route/rate-limit-policy.ts";

const CONTEXT: DescriptorContext = { localServiceCluster: "front", destinationCluster: "api", remoteAddress: "10.1.2.3" };

function descriptors(policies: unknown[], fields: [string, string][], stage = 0, context = CONTEXT, path = "/p"): RateLimitDescriptor[] {
  const headers = new RequestHeaders();
  headers.method = "GET";
  headers.path = path;
  for (const [name, value] of fields) headers.add(name, value);
  const out: RateLimitDescriptor[] = [];
  populateDescriptors(policies.map((p) => rateLimitPolicy.parse(p)), stage, headers, context, out);
  return out;
}

describe("rate_limits descriptors", () => {
  test("each action adds its entry, in order; the stage picks the policies", () => {
    const policies = [
      { actions: [{ source_cluster: {} }, { destination_cluster: {} }, { remote_address: {} }, { generic_key: { descriptor_value: "v" } }, { generic_key: { descriptor_key: "k", descriptor_value: "w" } }] },
      { stage: 2, actions: [{ generic_key: { descriptor_value: "two" } }] },
    ];
    expect(descriptors(policies, [])).toEqual([
      [
        ["source_cluster", "front"],
        ["destination_cluster", "api"],
        ["remote_address", "10.1.2.3"],
        ["generic_key", "v"],
        ["k", "w"],
      ],
    ]);
    expect(descriptors(policies, [], 2)).toEqual([[["generic_key", "two"]]]);
  });

  test("request_headers: the first value; absent drops the descriptor unless skip_if_absent", () => {
    const strict = { actions: [{ generic_key: { descriptor_value: "g" } }, { request_headers: { header_name: "X-User", descriptor_key: "user" } }] };
    const lenient = { actions: [{ generic_key: { descriptor_value: "g" } }, { request_headers: { header_name: "x-user", descriptor_key: "user", skip_if_absent: true } }] };
    expect(descriptors([strict], [["x-user", "a"], ["x-user", "b"]])).toEqual([[["generic_key", "g"], ["user", "a"]]]);
    expect(descriptors([strict], [])).toEqual([]);
    expect(descriptors([lenient], [])).toEqual([[["generic_key", "g"]]]);
    // Only a skipped action: no entries, no descriptor.
    expect(descriptors([{ actions: [{ request_headers: { header_name: "x-user", descriptor_key: "user", skip_if_absent: true } }] }], [])).toEqual([]);
  });

  test("header_value_match: all headers must match (pseudo-headers too); expect_match false inverts", () => {
    const match = (expect_match: boolean) => ({
      actions: [{ header_value_match: { descriptor_value: "m", expect_match, headers: [{ name: ":method", string_match: { exact: "GET" } }, { name: "x-a", present_match: true }] } }],
    });
    expect(descriptors([match(true)], [["x-a", "1"]])).toEqual([[["header_match", "m"]]]);
    expect(descriptors([match(true)], [])).toEqual([]);
    expect(descriptors([match(false)], [])).toEqual([[["header_match", "m"]]]);
    expect(descriptors([match(false)], [["x-a", "1"]])).toEqual([]);
  });

  test("remote_address without an IP drops the descriptor; refused actions and fields name themselves", () => {
    expect(descriptors([{ actions: [{ remote_address: {} }] }], [], 0, { ...CONTEXT, remoteAddress: "" })).toEqual([]);
    expect(() => rateLimitPolicy.parse({ actions: [{ dynamic_metadata: {} }] })).toThrow(/dynamic_metadata/);
    expect(() => rateLimitPolicy.parse({ actions: [{ generic_key: { descriptor_value: "x" } }], limit: {} })).toThrow(/limit/);
    expect(() => rateLimitPolicy.parse({ actions: [] })).toThrow();
    expect(() => rateLimitPolicy.parse({ actions: [{ generic_key: { descriptor_value: "x" }, source_cluster: {} }] })).toThrow(/only one of/);
  });

  test("masked_remote_address: the client's address masked to its version's prefix, as a CIDR (defaults: the whole address)", () => {
    const masked = (fields: Record<string, unknown>) => [{ actions: [{ masked_remote_address: fields }] }];
    expect(descriptors(masked({}), [])).toEqual([[["masked_remote_address", "10.1.2.3/32"]]]);
    expect(descriptors(masked({ v4_prefix_mask_len: 16 }), [])).toEqual([[["masked_remote_address", "10.1.0.0/16"]]]);
    expect(descriptors(masked({ v4_prefix_mask_len: { value: 8 }, v6_prefix_mask_len: 64 }), [], 0, { ...CONTEXT, remoteAddress: "2001:db8:1:2:3:4:5:6" })).toEqual([[["masked_remote_address", "2001:db8:1:2::/64"]]]);
    expect(descriptors(masked({}), [], 0, { ...CONTEXT, remoteAddress: "::1" })).toEqual([[["masked_remote_address", "::1/128"]]]);
    expect(descriptors(masked({}), [], 0, { ...CONTEXT, remoteAddress: "" })).toEqual([]);
    expect(() => rateLimitPolicy.parse({ actions: [{ masked_remote_address: { v4_prefix_mask_len: 33 } }] })).toThrow(/v4_prefix_mask_len/);
    expect(() => rateLimitPolicy.parse({ actions: [{ masked_remote_address: { v6_prefix_mask_len: 129 } }] })).toThrow(/v6_prefix_mask_len/);
  });

  test("query_parameters: the parameter's first value, percent-decoded; absent drops the descriptor unless skip_if_absent", () => {
    const action = (skip_if_absent: boolean) => [{ actions: [{ generic_key: { descriptor_value: "g" } }, { query_parameters: { query_parameter_name: "user", descriptor_key: "u", skip_if_absent } }] }];
    expect(descriptors(action(false), [], 0, CONTEXT, "/p?x=1&user=al%20ice&user=bob")).toEqual([[["generic_key", "g"], ["u", "al ice"]]]);
    expect(descriptors(action(false), [], 0, CONTEXT, "/p?x=1")).toEqual([]);
    expect(descriptors(action(true), [], 0, CONTEXT, "/p")).toEqual([[["generic_key", "g"]]]);
    expect(() => rateLimitPolicy.parse({ actions: [{ query_parameters: { query_parameter_name: "", descriptor_key: "u" } }] })).toThrow(/query_parameter_name/);
  });

  test("query_parameter_value_match: every matcher must match; the key defaults to query_match; expect_match false inverts", () => {
    const match = (expect_match: boolean, descriptor_key?: string) => [
      { actions: [{ query_parameter_value_match: { descriptor_value: "q", expect_match, ...(descriptor_key ? { descriptor_key } : {}), query_parameters: [{ name: "debug", present_match: true }, { name: "v", string_match: { exact: "2" } }] } }] },
    ];
    expect(descriptors(match(true), [], 0, CONTEXT, "/p?debug&v=2")).toEqual([[["query_match", "q"]]]);
    expect(descriptors(match(true, "k"), [], 0, CONTEXT, "/p?debug=1&v=2")).toEqual([[["k", "q"]]]);
    expect(descriptors(match(true), [], 0, CONTEXT, "/p?debug&v=3")).toEqual([]);
    expect(descriptors(match(false), [], 0, CONTEXT, "/p?v=2")).toEqual([[["query_match", "q"]]]);
    expect(descriptors(match(false), [], 0, CONTEXT, "/p?debug&v=2")).toEqual([]);
  });
});
