/** Config for the HCM's header options: Envoy's field names and defaults, absent when at the default, errors naming the field. */
import { describe, expect, test } from "vitest";
import type { HttpConnectionManagerConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";

function hcmConfig(hcm: Record<string, unknown>, node?: object): HttpConnectionManagerConfig {
  const config = { ...(node ? { node } : {}), ...httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm }) };
  const bootstrap = loadBootstrap(JSON.stringify(config), "json");
  const filter = bootstrap.listeners[0]!.filterChains[0]!.filters[0]!;
  if (filter.type !== "envoy.filters.network.http_connection_manager") throw new Error("not an HCM");
  return filter.config;
}

function problems(hcm: Record<string, unknown>): string {
  try {
    hcmConfig(hcm);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.join("\n");
  }
  throw new Error("config loaded but should have been rejected");
}

describe("HCM header options", () => {
  test("defaults: none present (nothing to do per request)", () => {
    const config = hcmConfig({
      via: "",
      add_user_agent: false,
      preserve_external_request_id: false,
      always_set_request_id_in_response: false,
      strip_matching_host_port: false,
      http_protocol_options: { accept_http_10: false },
      scheme_header_transformation: {},
    });
    for (const key of ["via", "addUserAgent", "preserveExternalRequestId", "alwaysSetRequestIdInResponse", "stripPortMode", "http1", "schemeToOverwrite", "schemeMatchUpstream"]) {
      expect(config).not.toHaveProperty(key);
    }
  });

  test("set", () => {
    const config = hcmConfig({
      via: "1.1 edge",
      preserve_external_request_id: true,
      always_set_request_id_in_response: true,
      strip_any_host_port: true,
      scheme_header_transformation: { scheme_to_overwrite: "https", match_upstream: true },
      http_protocol_options: { accept_http_10: true, default_host_for_http_10: "h", header_key_format: { proper_case_words: {} } },
    });
    expect(config).toMatchObject({
      via: "1.1 edge",
      preserveExternalRequestId: true,
      alwaysSetRequestIdInResponse: true,
      stripPortMode: "any",
      schemeToOverwrite: "https",
      schemeMatchUpstream: true,
      http1: { acceptHttp10: true, defaultHostForHttp10: "h", properCaseHeaderKeys: true },
    });
    expect(hcmConfig({ strip_matching_host_port: true }).stripPortMode).toBe("matching");
  });

  test("add_user_agent: on (the node's cluster and id are read per request)", () => {
    expect(hcmConfig({ add_user_agent: true }, { id: "n1", cluster: "c1" }).addUserAgent).toBe(true);
  });

  test("bad values name the field", () => {
    expect(problems({ strip_matching_host_port: true, strip_any_host_port: true })).toMatch(/strip_any_host_port.*only one of strip_matching_host_port, strip_any_host_port/);
    expect(problems({ scheme_header_transformation: { scheme_to_overwrite: "ftp" } })).toMatch(/scheme_to_overwrite/);
    expect(problems({ via: "a\nb" })).toMatch(/via/);
    expect(problems({ http_protocol_options: { header_key_format: { stateful_formatter: {} } } })).toMatch(/stateful_formatter/);
    // enable_trailers: true passes HTTP/1 trailers on; false (Envoy's default) drops them.
    expect(hcmConfig({ http_protocol_options: { enable_trailers: true } }).http1?.enableTrailers).toBe(true);
    expect(hcmConfig({ http_protocol_options: { enable_trailers: false } }).http1).toBeUndefined();
  });

  test("local_reply_config: mappers with their filter, status, body, headers and formats; body_format's content type", () => {
    const config = hcmConfig({
      local_reply_config: {
        mappers: [
          {
            filter: { status_code_filter: { comparison: { op: "GE", value: { default_value: 500, runtime_key: "k" } } } },
            status_code: 503,
            body: { inline_string: "down" },
            headers_to_add: [{ header: { key: "x-a", value: "%RESPONSE_CODE%" } }],
            body_format_override: { text_format: "%LOCAL_REPLY_BODY%", content_type: "text/html" },
          },
        ],
        body_format: { json_format: { message: "%LOCAL_REPLY_BODY%" } },
      },
    });
    expect(config.localReply).toEqual({
      mappers: [
        {
          filter: { type: "status_code", op: "GE", value: 500, runtimeKey: "k" },
          statusCode: 503,
          body: "down",
          headersToAdd: [{ key: "x-a", value: "%RESPONSE_CODE%", formatted: true, appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false }],
          bodyFormatOverride: { format: { type: "text", format: "%LOCAL_REPLY_BODY%", omitEmptyValues: false }, contentType: "text/html" },
        },
      ],
      bodyFormat: { format: { type: "json", json: { message: "%LOCAL_REPLY_BODY%" }, typed: true, omitEmptyValues: false, sortProperties: false }, contentType: "application/json" },
    });
    expect(hcmConfig({})).not.toHaveProperty("localReply");
    expect(problems({ local_reply_config: { mappers: [{ status_code: 404 }] } })).toMatch(/mappers\[0\]\.filter: missing required field/);
    expect(problems({ local_reply_config: { mappers: [{ filter: { not_health_check_filter: {} }, status_code: 600 }] } })).toMatch(/mappers\[0\]\.status_code/);
    expect(problems({ local_reply_config: { body_format: { text_format: "%NOPE%" } } })).toMatch(/body_format\.text_format: unknown command operator %NOPE%/);
  });
});
