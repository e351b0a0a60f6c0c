/**
 * core/config/xds/envoy-wire-types.ts is generated from Envoy's .proto files in the pinned
 * @grpc/grpc-js-xds (scripts/gen-envoy-wire.mjs); it must be exactly what the generator
 * writes from them now. And proto-to-json.ts, reading binary messages with it, must give
 * what protobufjs (the protos' reference reader here) gives for the same bytes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { WIRE_PROTOS_SOURCE } from "../../../../core/config/xds/envoy-wire-types.ts";
import { anyToJson, protoToJson } from "../../../../core/config/xds/proto-to-json.ts";
import { decodeDiscoveryResponse } from "../../../../core/config/xds/grpc-mux.ts";
import { XdsControlPlane } from "../../../support/xds-control-plane.ts";
// @ts-expect-error: a plain .mjs script, without types
import { generate, OUTPUT } from "../../../../scripts/gen-envoy-wire.mjs";

const ROOT = join(import.meta.dirname, "../../../..");
const plane = new XdsControlPlane();

describe("Envoy's wire tables", () => {
  test("are up to date with the generator and the pinned protos (run node scripts/gen-envoy-wire.mjs)", () => {
    const version = JSON.parse(readFileSync(join(ROOT, "node_modules/@grpc/grpc-js-xds/package.json"), "utf8")).version;
    expect(WIRE_PROTOS_SOURCE).toBe(`@grpc/grpc-js-xds@${version}`);
    expect(readFileSync(OUTPUT, "utf8")).toBe(generate());
  });
});

describe("protobuf → proto3 JSON", () => {
  test("a Listener with an HttpConnectionManager in its typed_config, durations, wrappers, enums, maps", () => {
    const listener = {
      "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
      name: "dyn",
      address: { socket_address: { address: "127.0.0.1", port_value: 8080, protocol: "TCP" } },
      per_connection_buffer_limit_bytes: { value: 4096 },
      listener_filters_timeout: { seconds: 2, nanos: 500_000_000 },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                stat_prefix: "dyn",
                codec_type: "HTTP2",
                route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*", "a.example"], typed_per_filter_config: {} }] },
                http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              },
            },
          ],
        },
      ],
    };
    const any = plane.encodeAny(listener);
    const wrapped = encodeAnyField(any.type_url, any.value);
    expect(anyToJson(wrapped)).toEqual({
      "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
      name: "dyn",
      // An enum's 0 on the wire (protobufjs writes it) is read back by name.
      address: { socket_address: { address: "127.0.0.1", port_value: 8080, protocol: "TCP" } },
      per_connection_buffer_limit_bytes: 4096,
      listener_filters_timeout: "2.5s",
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                stat_prefix: "dyn",
                codec_type: "HTTP2",
                route_config: { name: "r", virtual_hosts: [{ name: "all", domains: ["*", "a.example"] }] },
                http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              },
            },
          ],
        },
      ],
    });
  });

  // A TLS listener sent by LDS over gRPC: its transport socket's DownstreamTlsContext (and a
  // cluster's UpstreamTlsContext) must be in the tables, found by their type URLs in core/.
  test("a filter chain's DownstreamTlsContext and a cluster's UpstreamTlsContext read from protobuf", () => {
    const sds = { name: "cert", sds_config: { ads: {}, resource_api_version: "V3" } };
    const downstream = plane.encodeAny({
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: { tls_certificate_sds_secret_configs: [sds], alpn_protocols: ["h2"] },
      require_client_certificate: { value: true },
    });
    expect(anyToJson(encodeAnyField(downstream.type_url, downstream.value))).toEqual({
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: { tls_certificate_sds_secret_configs: [sds], alpn_protocols: ["h2"] },
      require_client_certificate: true,
    });
    const upstream = plane.encodeAny({ "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "a.example" });
    expect(anyToJson(encodeAnyField(upstream.type_url, upstream.value))).toEqual({ "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni: "a.example" });
  });

  // CDS: a cluster's HttpProtocolOptions.http_filters, header_mutation then the UpstreamCodec
  // (found by its type URL in core/config/upstream-http-filters-schema.ts), read from protobuf.
  test("a cluster's upstream http_filters read from protobuf, the UpstreamCodec included", () => {
    const options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    const filters = [
      {
        name: "envoy.filters.http.header_mutation",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
          mutations: { request_mutations: [{ append: { header: { key: "x-up", value: "1" } } }] },
        },
      },
      { name: "envoy.filters.http.upstream_codec", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec" } },
    ];
    const protocolOptions = plane.encodeAny({ "@type": `type.googleapis.com/${options}`, explicit_http_config: { http_protocol_options: {} }, http_filters: filters });
    expect(anyToJson(encodeAnyField(protocolOptions.type_url, protocolOptions.value))).toEqual({
      "@type": `type.googleapis.com/${options}`,
      explicit_http_config: { http_protocol_options: {} },
      http_filters: filters,
    });
  });

  // The pinned protos' Lua has no stat_prefix nor clear_route_cache yet (JSON and YAML configs have them).
  test("the Lua filter's config and LuaPerRoute read from protobuf (source_codes a map of DataSource)", () => {
    const lua = plane.encodeAny({
      "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
      default_source_code: { inline_string: "x = 1" },
      source_codes: { other: { filename: "/a.lua" } },
    });
    expect(protoToJson("envoy.extensions.filters.http.lua.v3.Lua", lua.value)).toEqual({
      default_source_code: { inline_string: "x = 1" },
      source_codes: { other: { filename: "/a.lua" } },
    });
    const perRoute = plane.encodeAny({ "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute", name: "other" });
    expect(protoToJson("envoy.extensions.filters.http.lua.v3.LuaPerRoute", perRoute.value)).toEqual({ name: "other" });
  });

  test("a tracing CustomTag's `value` (the formatter tag, field 6: newer than the pinned protos, added by the generator's NEWER_FIELDS) is read, not skipped", () => {
    const text = (field: number, value: string): number[] => {
      const bytes = [...new TextEncoder().encode(value)];
      return [(field << 3) | 2, bytes.length, ...bytes];
    };
    const tag = new Uint8Array([...text(1, "fmt"), ...text(6, "%REQ(:PATH)% é")]);
    expect(protoToJson("envoy.type.tracing.v3.CustomTag", tag)).toEqual({ tag: "fmt", value: "%REQ(:PATH)% é" });
    // A field newer still is refused by number, not skipped (which would leave a tag of no kind).
    const newer = new Uint8Array([...text(1, "t"), ...text(9, "x")]);
    expect(() => protoToJson("envoy.type.tracing.v3.CustomTag", newer)).toThrow(/envoy\.type\.tracing\.v3\.CustomTag: field 9 is not one polyvoy knows/);
  });

  test("an Any of HttpResponseLocalReplyMatchInput (a message newer than the pinned protos, added by the generator's NEWER_MESSAGES) decodes to its type, not to {@type, value}", () => {
    const typeUrl = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput";
    expect(anyToJson(encodeAnyField(typeUrl, new Uint8Array(0)))).toEqual({ "@type": typeUrl });
  });

  test("the network RBAC filter's delay_deny (field 8, newer than the pinned protos, added by NEWER_FIELDS) is read as a Duration", () => {
    const statPrefix = [...new TextEncoder().encode("r")];
    // stat_prefix (3) "r"; delay_deny (8) Duration { seconds (1): 2, nanos (2): 500000000 }.
    const nanos = varint(500_000_000);
    const duration = [8, 2, 16, ...nanos];
    const bytes = new Uint8Array([(3 << 3) | 2, statPrefix.length, ...statPrefix, (8 << 3) | 2, duration.length, ...duration]);
    expect(protoToJson("envoy.extensions.filters.network.rbac.v3.RBAC", bytes)).toEqual({ stat_prefix: "r", delay_deny: "2.5s" });
  });

  test("an RBAC Permission's or Principal's field newer than the pinned protos (sourced_metadata) is refused by number, not skipped into a rule of no kind", () => {
    // A nested message at a number the tables lack: {1: "m"} at field 14 (Permission), 13 (Principal).
    const inner = [(1 << 3) | 2, 1, "m".charCodeAt(0)];
    const newer = (field: number) => new Uint8Array([(field << 3) | 2, inner.length, ...inner]);
    expect(() => protoToJson("envoy.config.rbac.v3.Permission", newer(14))).toThrow(/envoy\.config\.rbac\.v3\.Permission: field 14 is not one polyvoy knows/);
    expect(() => protoToJson("envoy.config.rbac.v3.Principal", newer(13))).toThrow(/envoy\.config\.rbac\.v3\.Principal: field 13 is not one polyvoy knows/);
    // Known fields still read: any (3) true.
    expect(protoToJson("envoy.config.rbac.v3.Permission", new Uint8Array([3 << 3, 1]))).toEqual({ any: true });
    expect(protoToJson("envoy.config.rbac.v3.Principal", new Uint8Array([3 << 3, 1]))).toEqual({ any: true });
  });

  test("an OpenTelemetryAccessLogConfig field newer than the pinned protos (8 on) is refused by number, not skipped (YAML refuses them by name)", () => {
    const OTEL = "envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig";
    // buffer_size_bytes as a newer top-level field: a UInt32Value message {value: 5} at an unknown number.
    const config = new Uint8Array([(12 << 3) | 2, 2, 8, 5]);
    expect(() => protoToJson(OTEL, config)).toThrow(/OpenTelemetryAccessLogConfig: field 12 is not one polyvoy knows/);
  });

  test("an Any of a message the tables do not know is kept as @type and base64 value", () => {
    expect(anyToJson(encodeAnyField("type.googleapis.com/no.such.Message", new Uint8Array([8, 1])))).toEqual({ "@type": "type.googleapis.com/no.such.Message", value: "CAE=" });
  });

  test("any ClusterLoadAssignment protobufjs writes reads back as protobufjs reads it", () => {
    const endpoint = fc.record({
      endpoint: fc.record({ address: fc.record({ socket_address: fc.record({ address: fc.ipV4(), port_value: fc.integer({ min: 1, max: 65535 }) }) }) }),
      load_balancing_weight: fc.record({ value: fc.integer({ min: 1, max: 1000 }) }),
      health_status: fc.constantFrom("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING"),
    });
    const cla = fc.record({
      cluster_name: fc.string({ minLength: 1 }),
      endpoints: fc.array(fc.record({ priority: fc.integer({ min: 0, max: 5 }), lb_endpoints: fc.array(endpoint, { maxLength: 4 }) }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(cla, (value) => {
        const any = plane.encodeAny({ "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", ...value });
        const json = protoToJson("envoy.config.endpoint.v3.ClusterLoadAssignment", any.value);
        const expected = plane.toObject("envoy.config.endpoint.v3.ClusterLoadAssignment", any.value) as { endpoints?: { lb_endpoints?: { load_balancing_weight?: unknown }[] }[] };
        // protobufjs gives a wrapper as its message ({value}); proto3 JSON (and polyvoy's schemas) as the value.
        for (const group of expected.endpoints ?? []) for (const e of group.lb_endpoints ?? []) if (e.load_balancing_weight !== undefined) e.load_balancing_weight = (e.load_balancing_weight as { value: number }).value;
        expect(json).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  test("truncated or malformed messages throw, never loop or crash", () => {
    const any = plane.encodeAny({ "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name: "c", connect_timeout: { seconds: 1 } });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: any.value.length - 1 }), fc.uint8Array({ maxLength: 8 }), (cut, junk) => {
        const bytes = new Uint8Array([...any.value.subarray(0, cut), ...junk]);
        try {
          protoToJson("envoy.config.cluster.v3.Cluster", bytes);
        } catch (err) {
          expect((err as Error).constructor.name).toBe("ProtoDecodeError");
        }
      }),
    );
  });

  test("a DiscoveryResponse's fields", () => {
    const any = encodeAnyField("type.googleapis.com/x.Y", new Uint8Array([1]));
    const bytes = new Uint8Array([10, 2, 118, 49, 18, any.length, ...any, 34, 3, 120, 46, 89, 42, 1, 55]);
    const response = decodeDiscoveryResponse(bytes);
    expect(response.versionInfo).toBe("v1");
    expect(response.typeUrl).toBe("x.Y");
    expect(response.nonce).toBe("7");
    expect(response.resources).toHaveLength(1);
  });
});

/** An Any message's bytes: type_url 1, value 2. */
function encodeAnyField(typeUrl: string, value: Uint8Array): Uint8Array {
  const url = new TextEncoder().encode(typeUrl);
  return new Uint8Array([10, ...varint(url.length), ...url, 18, ...varint(value.length), ...value]);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
