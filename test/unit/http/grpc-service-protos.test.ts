/**
 * The hand-written protobuf of envoy.service.auth.v3 (ext_authz) and
 * envoy.service.ratelimit.v3 against protobufjs serializers loaded by @grpc/proto-loader
 * from Envoy's own .proto files, and by property.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import * as protoLoader from "@grpc/proto-loader";
import { decodeCheckResponse, encodeCheckRequest, HeaderAppendAction, type CheckRequestAttributes } from "../../../core/http/filters/ext-authz-proto.ts";
import { decodeRateLimitResponse, encodeRateLimitRequest } from "../../../core/http/filters/ratelimit-proto.ts";
import { ProtoDecodeError } from "../../../core/util/protobuf-wire.ts";
import { envoyProtoDirs } from "../../support/envoy-protos.ts";

const OPTIONS = { includeDirs: envoyProtoDirs(), keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true };
const auth = protoLoader.loadSync("envoy/service/auth/v3/external_auth.proto", OPTIONS)["envoy.service.auth.v3.Authorization"] as protoLoader.ServiceDefinition;
const rls = protoLoader.loadSync("envoy/service/ratelimit/v3/rls.proto", OPTIONS)["envoy.service.ratelimit.v3.RateLimitService"] as protoLoader.ServiceDefinition;
const Check = auth["Check"]!;
const ShouldRateLimit = rls["ShouldRateLimit"]!;

const ATTRIBUTES: CheckRequestAttributes = {
  source: { address: { address: "10.0.0.1", port: 5555, family: 4 }, service: "front", principal: "spiffe://test/client", certificate: "-----BEGIN%20CERTIFICATE-----%0A" },
  destination: { address: { address: "127.0.0.1", port: 8080, family: 4 }, service: "", principal: "spiffe://test/proxy", certificate: "" },
  timeMs: 1_700_000_000_250,
  http: {
    id: "rid",
    method: "POST",
    headers: [
      [":method", "POST"],
      ["x-a", "1,2"],
    ],
    path: "/p?q=1",
    host: "example.com",
    scheme: "http",
    size: -1,
    protocol: "HTTP/2",
    body: new TextEncoder().encode("héllo"),
    packAsBytes: false,
  },
  contextExtensions: { tenant: "acme" },
};

describe("envoy.service.auth.v3", () => {
  test("a CheckRequest reads back in protobufjs with every field polyvoy sets", () => {
    const decoded = Check.requestDeserialize(Buffer.from(encodeCheckRequest(ATTRIBUTES))) as Record<string, any>;
    const attrs = decoded.attributes;
    expect(attrs.source.service).toBe("front");
    expect(attrs.source.principal).toBe("spiffe://test/client");
    expect(attrs.source.certificate).toBe("-----BEGIN%20CERTIFICATE-----%0A");
    expect(attrs.destination.principal).toBe("spiffe://test/proxy");
    expect(attrs.destination.certificate).toBeUndefined();
    expect(attrs.source.address.socket_address).toMatchObject({ address: "10.0.0.1", port_value: 5555 });
    expect(attrs.destination.address.socket_address).toMatchObject({ address: "127.0.0.1", port_value: 8080 });
    // A Unix socket peer is Address.pipe, as Envoy sends it.
    const pipe = Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, source: { ...ATTRIBUTES.source, address: { address: "/run/front.sock", port: 0, family: "unix" } } }))) as Record<string, any>;
    expect(pipe.attributes.source.address).toEqual({ pipe: { path: "/run/front.sock" }, address: "pipe" });
    expect(attrs.request.time).toEqual({ seconds: 1_700_000_000, nanos: 250_000_000 });
    expect(attrs.request.http).toEqual({
      id: "rid",
      method: "POST",
      headers: { ":method": "POST", "x-a": "1,2" },
      path: "/p?q=1",
      host: "example.com",
      scheme: "http",
      size: -1,
      protocol: "HTTP/2",
      body: "héllo",
    });
    expect(attrs.context_extensions).toEqual({ tenant: "acme" });
    expect(attrs.tls_session).toBeUndefined();
    const withTls = Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, tlsSession: { sni: "api.example" } }))) as Record<string, any>;
    expect(withTls.attributes.tls_session).toEqual({ sni: "api.example" });
    // Asked for without an SNI: the message is there, empty (Envoy's mutable_tls_session()).
    const empty = Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, tlsSession: { sni: "" } }))) as Record<string, any>;
    expect(empty.attributes.tls_session).toEqual({});
    const raw = Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, http: { ...ATTRIBUTES.http, size: 5, packAsBytes: true } }))) as Record<string, any>;
    expect(Buffer.from(raw.attributes.request.http.raw_body).toString()).toBe("héllo");
    expect(raw.attributes.request.http.body).toBeUndefined();
    expect(raw.attributes.request.http.size).toBe(5);
  });

  test("metadata_context: the namespaces' dynamic metadata as Metadata.filter_metadata Structs", () => {
    const metadataContext = { "envoy.filters.http.jwt_authn": { payload: { sub: "alice", n: 3, ok: true, roles: ["a"], none: null } } };
    const decoded = Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, metadataContext }))) as Record<string, any>;
    const struct = decoded.attributes.metadata_context.filter_metadata["envoy.filters.http.jwt_authn"];
    // The well-known types come back camelCased from protobufjs.
    const payload = struct.fields.payload.structValue.fields;
    expect(payload.sub).toEqual({ stringValue: "alice", kind: "stringValue" });
    expect(payload.n).toEqual({ numberValue: 3, kind: "numberValue" });
    expect(payload.ok).toEqual({ boolValue: true, kind: "boolValue" });
    expect(payload.roles.listValue.values).toEqual([{ stringValue: "a", kind: "stringValue" }]);
    expect(payload.none.kind).toBe("nullValue");
    expect((Check.requestDeserialize(Buffer.from(encodeCheckRequest({ ...ATTRIBUTES, metadataContext: {} }))) as Record<string, any>).attributes.metadata_context).toEqual({});
  });

  test("an OK CheckResponse: header mutations with their append actions (the deprecated append wins), removals, response headers", () => {
    const bytes = Check.responseSerialize({
      status: { code: 0 },
      ok_response: {
        headers: [
          { header: { key: "X-Set", value: "v" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-join", value: "j" }, append: { value: true } },
          { header: { key: "x-over", value: "o" }, append: { value: false }, append_action: "ADD_IF_ABSENT" },
          { header: { key: "x-absent", value: "a" }, append_action: "ADD_IF_ABSENT" },
        ],
        headers_to_remove: ["X-Gone"],
        response_headers_to_add: [{ header: { key: "x-resp", value: "r" } }],
        query_parameters_to_set: [{ key: "page", value: "2" }],
        query_parameters_to_remove: ["debug"],
      },
    });
    expect(decodeCheckResponse(new Uint8Array(bytes))).toEqual({
      ok: true,
      headers: [
        { name: "x-set", value: "v", action: HeaderAppendAction.OverwriteIfExistsOrAdd, appendJoined: false },
        { name: "x-join", value: "j", action: HeaderAppendAction.AppendIfExistsOrAdd, appendJoined: true },
        { name: "x-over", value: "o", action: HeaderAppendAction.OverwriteIfExistsOrAdd, appendJoined: false },
        { name: "x-absent", value: "a", action: HeaderAppendAction.AddIfAbsent, appendJoined: false },
      ],
      headersToRemove: ["x-gone"],
      responseHeadersToAdd: [{ name: "x-resp", value: "r", action: HeaderAppendAction.AppendIfExistsOrAdd, appendJoined: false }],
      queryParametersToSet: [["page", "2"]],
      queryParametersToRemove: ["debug"],
    });
  });

  test("a denial: 403 by default, else the denied_response's status, headers and body", () => {
    expect(decodeCheckResponse(new Uint8Array(Check.responseSerialize({ status: { code: 7 } })))).toEqual({ ok: false, status: 403, headers: [], body: "" });
    const bytes = Check.responseSerialize({ status: { code: 16 }, denied_response: { status: { code: "Unauthorized" }, headers: [{ header: { key: "www-authenticate", value: "Bearer" } }], body: "no" } });
    expect(decodeCheckResponse(new Uint8Array(bytes))).toEqual({
      ok: false,
      status: 401,
      headers: [{ name: "www-authenticate", value: "Bearer", action: HeaderAppendAction.AppendIfExistsOrAdd, appendJoined: false }],
      body: "no",
    });
  });

  test("any bytes decode or fail with ProtoDecodeError, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCheckResponse(bytes);
          decodeRateLimitResponse(bytes);
        } catch (e) {
          if (!(e instanceof ProtoDecodeError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("envoy.service.ratelimit.v3", () => {
  test("a RateLimitRequest reads back in protobufjs, for any descriptors", () => {
    const entry = fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ minLength: 1, maxLength: 12 }));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 10 }), fc.array(fc.array(entry, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), (domain, descriptors) => {
        const decoded = ShouldRateLimit.requestDeserialize(Buffer.from(encodeRateLimitRequest(domain, descriptors))) as Record<string, any>;
        expect(decoded.domain).toBe(domain);
        expect(decoded.descriptors.map((d: { entries: { key: string; value: string }[] }) => d.entries.map((e) => [e.key, e.value]))).toEqual(descriptors);
      }),
      { numRuns: 200 },
    );
  });

  test("a RateLimitResponse: overall code, statuses with their limits, headers, raw body", () => {
    const bytes = ShouldRateLimit.responseSerialize({
      overall_code: "OVER_LIMIT",
      statuses: [{ code: "OVER_LIMIT", current_limit: { name: "api", requests_per_unit: 10, unit: "HOUR" }, limit_remaining: 0, duration_until_reset: { seconds: 42, nanos: 5 } }, { code: "OK" }],
      response_headers_to_add: [{ key: "X-R", value: "1" }],
      request_headers_to_add: [{ key: "x-q", value: "2" }],
      raw_body: Buffer.from("body"),
    });
    const decoded = decodeRateLimitResponse(new Uint8Array(bytes));
    expect({ ...decoded, rawBody: Buffer.from(decoded.rawBody).toString() }).toEqual({
      overallCode: 2,
      statuses: [
        { code: 2, currentLimit: { name: "api", requestsPerUnit: 10, unit: 3 }, limitRemaining: 0, secondsUntilReset: 42 },
        { code: 1, currentLimit: undefined, limitRemaining: 0, secondsUntilReset: 0 },
      ],
      responseHeadersToAdd: [["x-r", "1"]],
      requestHeadersToAdd: [["x-q", "2"]],
      rawBody: "body",
    });
  });
});
