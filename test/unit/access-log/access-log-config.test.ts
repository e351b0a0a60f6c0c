import { describe, expect, test } from "vitest";
import { DEFAULT_FORMAT } from "../../../core/access-log/format.ts";
import type { AccessLogConfig, HttpConnectionManagerConfig, NetworkFilterConfig, TcpProxyConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";

const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const STDERR_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog";

const FILTER = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

type Json = Record<string, unknown>;

function bootstrap(filter: Json): string {
  return JSON.stringify({
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 8000 } },
          filter_chains: [{ filters: [filter] }],
        },
      ],
      clusters: [{ name: "a" }],
    },
  });
}

function hcmWith(accessLog: unknown): string {
  return bootstrap({
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": HCM_TYPE,
      stat_prefix: "ingress_http",
      http_filters: [{ name: "envoy.filters.http.router" }],
      route_config: { virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "a" } }] }] },
      access_log: accessLog,
    },
  });
}

function tcpWith(accessLog: unknown): string {
  return bootstrap({ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": TCP_TYPE, stat_prefix: "tcp", cluster: "a", access_log: accessLog } });
}

function filterOf(text: string, format: "json" | "yaml" = "json"): NetworkFilterConfig {
  return loadBootstrap(text, format).listeners[0]!.filterChains[0]!.filters[0]!;
}

function hcmLogs(accessLog: unknown): AccessLogConfig[] | undefined {
  return (filterOf(hcmWith(accessLog)).config as HttpConnectionManagerConfig).accessLog;
}

function problems(text: string): string[] {
  try {
    loadBootstrap(text, "json");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config loaded but should have been rejected");
}

const DEFAULT = { type: "text", format: DEFAULT_FORMAT, omitEmptyValues: false };

describe("access_log: valid configs", () => {
  test("no access_log: the field is absent", () => {
    expect(hcmLogs(undefined)).toBeUndefined();
    expect(hcmLogs([])).toBeUndefined();
    expect((filterOf(tcpWith(undefined)).config as TcpProxyConfig).accessLog).toBeUndefined();
  });

  test("file logger with a text_format_source", () => {
    const logs = hcmLogs([
      {
        name: "envoy.access_loggers.file",
        typed_config: { "@type": FILE_TYPE, path: "/var/log/envoy/access.log", log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE%\n" } } },
      },
    ]);
    expect(logs).toEqual([
      {
        name: "envoy.access_loggers.file",
        type: "envoy.access_loggers.file",
        path: "/var/log/envoy/access.log",
        format: { type: "text", format: "%REQ(:PATH)% %RESPONSE_CODE%\n", omitEmptyValues: false },
      },
    ]);
  });

  test("file logger without a format uses Envoy's default; /dev/stdout is a path like any other", () => {
    expect(hcmLogs([{ name: "log", typed_config: { "@type": FILE_TYPE, path: "/dev/stdout" } }])).toEqual([
      { name: "log", type: "envoy.access_loggers.file", path: "/dev/stdout", format: DEFAULT },
    ]);
  });

  test("stdout and stderr loggers, with or without typed_config", () => {
    expect(
      hcmLogs([
        { name: "envoy.access_loggers.stdout" },
        { name: "out", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format_source: { inline_string: "%PROTOCOL%\n" }, omit_empty_values: true } } },
        { name: "err", typed_config: { "@type": STDERR_TYPE } },
        { name: "envoy.access_loggers.stderr" },
      ]),
    ).toEqual([
      { name: "envoy.access_loggers.stdout", type: "envoy.access_loggers.stdout", path: "/dev/stdout", format: DEFAULT },
      { name: "out", type: "envoy.access_loggers.stdout", path: "/dev/stdout", format: { type: "text", format: "%PROTOCOL%\n", omitEmptyValues: true } },
      { name: "err", type: "envoy.access_loggers.stderr", path: "/dev/stderr", format: DEFAULT },
      { name: "envoy.access_loggers.stderr", type: "envoy.access_loggers.stderr", path: "/dev/stderr", format: DEFAULT },
    ]);
  });

  test("log_format.json_format is typed; json_format_options.sort_properties", () => {
    const [log] = hcmLogs([
      {
        name: "json",
        typed_config: {
          "@type": STDOUT_TYPE,
          log_format: { json_format: { code: "%RESPONSE_CODE%", nested: { list: ["%PROTOCOL%", 1] } }, json_format_options: { sort_properties: true } },
        },
      },
    ])!;
    expect(log!.format).toEqual({
      type: "json",
      json: { code: "%RESPONSE_CODE%", nested: { list: ["%PROTOCOL%", 1] } },
      typed: true,
      omitEmptyValues: false,
      sortProperties: true,
    });
  });

  test("the deprecated FileAccessLog.format, json_format and typed_json_format, and log_format.text_format", () => {
    const [a, b, c, d, e] = hcmLogs([
      { name: "a", typed_config: { "@type": FILE_TYPE, path: "/tmp/a", format: "%PROTOCOL%\n" } },
      { name: "b", typed_config: { "@type": FILE_TYPE, path: "/tmp/b", json_format: { p: "%PROTOCOL%" } } },
      { name: "c", typed_config: { "@type": FILE_TYPE, path: "/tmp/c", typed_json_format: { p: "%PROTOCOL%" } } },
      { name: "d", typed_config: { "@type": FILE_TYPE, path: "/tmp/d", log_format: { text_format: "%PROTOCOL%\n" } } },
      { name: "e", typed_config: { "@type": FILE_TYPE, path: "/tmp/e", format: "" } },
    ])!;
    expect(a!.format).toEqual({ type: "text", format: "%PROTOCOL%\n", omitEmptyValues: false });
    expect(b!.format).toEqual({ type: "json", json: { p: "%PROTOCOL%" }, typed: false, omitEmptyValues: false, sortProperties: false });
    expect(c!.format).toEqual({ type: "json", json: { p: "%PROTOCOL%" }, typed: true, omitEmptyValues: false, sortProperties: false });
    expect(d!.format).toEqual({ type: "text", format: "%PROTOCOL%\n", omitEmptyValues: false });
    expect(e!.format).toEqual(DEFAULT);
  });

  test("inline_bytes, and non-ASCII text kept as its UTF-8 bytes", () => {
    const [a, b] = hcmLogs([
      { name: "a", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format_source: { inline_bytes: btoa("%PROTOCOL%\n") } } } },
      { name: "b", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format_source: { inline_string: "é %PROTOCOL%" } } } },
    ])!;
    expect(a!.format).toEqual({ type: "text", format: "%PROTOCOL%\n", omitEmptyValues: false });
    expect(b!.format).toEqual({ type: "text", format: "\xc3\xa9 %PROTOCOL%", omitEmptyValues: false });
  });

  test("tcp_proxy access_log, in YAML with camelCase fields", () => {
    const yaml = `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 8000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_TYPE}
          stat_prefix: tcp
          cluster: a
          accessLog:
          - name: envoy.access_loggers.file
            typedConfig:
              "@type": ${FILE_TYPE}
              path: /tmp/tcp.log
              logFormat:
                textFormatSource:
                  inlineString: "%DOWNSTREAM_REMOTE_ADDRESS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%\\n"
  clusters:
  - name: a
`;
    expect((filterOf(yaml, "yaml").config as TcpProxyConfig).accessLog).toEqual([
      {
        name: "envoy.access_loggers.file",
        type: "envoy.access_loggers.file",
        path: "/tmp/tcp.log",
        format: { type: "text", format: "%DOWNSTREAM_REMOTE_ADDRESS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%\n", omitEmptyValues: false },
      },
    ]);
  });
});

describe("access_log: errors name the path", () => {
  const LOG = `${FILTER}.access_log[0]`;

  test("an unknown command operator in text_format_source", () => {
    const text = hcmWith([
      { name: "log", typed_config: { "@type": FILE_TYPE, path: "/tmp/x", log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %BOGUS_OP%\n" } } } },
    ]);
    expect(problems(text)).toEqual([`${LOG}.typed_config.log_format.text_format_source.inline_string: unknown command operator %BOGUS_OP% at position 16`]);
  });

  test("an unknown operator in the deprecated format, in tcp_proxy", () => {
    expect(problems(tcpWith([{ name: "log", typed_config: { "@type": FILE_TYPE, path: "/tmp/x", format: "%NOPE%" } }]))).toEqual([
      `${LOG}.typed_config.format: unknown command operator %NOPE% at position 0`,
    ]);
  });

  test("an unknown operator deep in a json_format names the key", () => {
    const text = hcmWith([{ name: "log", typed_config: { "@type": STDOUT_TYPE, log_format: { json_format: { a: { b: ["ok", "%NOPE%"] } } } } }]);
    expect(problems(text)).toEqual([`${LOG}.typed_config.log_format.json_format.a.b[1]: unknown command operator %NOPE% at position 0`]);
  });

  test("malformed operators and START_TIME specifiers", () => {
    const text = hcmWith([
      { name: "a", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "50% off" } } },
      { name: "b", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%START_TIME(%Q)%" } } },
      { name: "c", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%REQ%" } } },
    ]);
    expect(problems(text)).toEqual([
      expect.stringMatching(new RegExp(`^${escape(FILTER)}\\.access_log\\[0\\]\\.typed_config\\.log_format\\.text_format: no valid command operator at position 2`)),
      expect.stringMatching(/access_log\[1\]\.typed_config\.log_format\.text_format: unsupported START_TIME specifier "%Q"/),
      expect.stringMatching(/access_log\[2\]\.typed_config\.log_format\.text_format: REQ requires parameters/),
    ]);
  });

  test("filter: the supported filters, Envoy's required fields and limits", () => {
    const comparison = { op: "GE", value: { default_value: 400, runtime_key: "access_log.status" } };
    const logs = hcmLogs([
      {
        name: "envoy.access_loggers.stdout",
        filter: {
          or_filter: {
            filters: [
              { status_code_filter: { comparison } },
              { and_filter: { filters: [{ duration_filter: { comparison: { value: { default_value: 100, runtime_key: "d" } } } }, { not_health_check_filter: {} }] } },
              { response_flag_filter: { flags: ["UF", "URX"] } },
              { header_filter: { header: { name: "x-debug", present_match: true } } },
              { runtime_filter: { runtime_key: "r", percent_sampled: { numerator: 5, denominator: "TEN_THOUSAND" } } },
            ],
          },
        },
      },
    ]);
    expect(logs![0]!.filter).toEqual({
      type: "or",
      filters: [
        { type: "status_code", op: "GE", value: 400, runtimeKey: "access_log.status" },
        { type: "and", filters: [{ type: "duration", op: "EQ", value: 100, runtimeKey: "d" }, { type: "not_health_check" }] },
        { type: "response_flag", flags: ["UF", "URX"] },
        { type: "header", header: { name: "x-debug", invertMatch: false, kind: { type: "present", present: true } } },
        { type: "runtime", percent: { numerator: 5, denominator: 10_000, runtimeKey: "r" }, useIndependentRandomness: false },
      ],
    });
    expect(hcmLogs([{ name: "envoy.access_loggers.stdout" }])![0]).not.toHaveProperty("filter");
    const bad = (filter: unknown) => problems(hcmWith([{ name: "envoy.access_loggers.stdout", filter }]));
    expect(bad({ status_code_filter: {} })).toEqual([`${LOG}.filter.status_code_filter.comparison: missing required field`]);
    expect(bad({ status_code_filter: { comparison: { op: "GE", value: { default_value: 400 } } } })).toEqual([
      `${LOG}.filter.status_code_filter.comparison.value.runtime_key: missing required field`,
    ]);
    expect(bad({ and_filter: { filters: [{ not_health_check_filter: {} }] } })[0]).toMatch(/filter\.and_filter\.filters: /);
    expect(bad({ response_flag_filter: { flags: ["XX"] } })[0]).toMatch(/filter\.response_flag_filter\.flags\[0\]: must be one of LH, UH/);
    expect(bad({})).toEqual([
      `${LOG}.filter: must set one of status_code_filter, duration_filter, not_health_check_filter, response_flag_filter, header_filter, runtime_filter, and_filter, or_filter, grpc_status_filter, metadata_filter, log_type_filter`,
    ]);
    expect(bad({ extension_filter: {} })[0]).toMatch(/\.filter: `extension_filter` is an Envoy field that polyvoy does not support yet/);
  });

  test("filter: grpc_status_filter, metadata_filter, log_type_filter by Envoy's enum names; a metadata matcher's invert refused", () => {
    const metadata = { filter: "envoy.filters.http.header_to_metadata", path: [{ key: "tenant" }], value: { string_match: { exact: "a" } } };
    const logs = hcmLogs([
      {
        name: "envoy.access_loggers.stdout",
        filter: {
          and_filter: {
            filters: [
              { grpc_status_filter: { statuses: ["OK", "NOT_FOUND", "UNAUTHENTICATED"] } },
              { grpc_status_filter: { exclude: true } },
              { metadata_filter: { matcher: metadata } },
              { metadata_filter: { matcher: { ...metadata, invert: false }, match_if_key_not_found: false } },
              { metadata_filter: {} },
              { log_type_filter: { types: ["DownstreamEnd", "UdpSessionEnd"], exclude: true } },
            ],
          },
        },
      },
    ]);
    const matcher = { filter: "envoy.filters.http.header_to_metadata", path: ["tenant"], value: { type: "string", match: { type: "exact", value: "a", ignoreCase: false } } };
    expect(logs![0]!.filter).toEqual({
      type: "and",
      filters: [
        { type: "grpc_status", statuses: [0, 5, 16], exclude: false },
        { type: "grpc_status", statuses: [], exclude: true },
        { type: "metadata", matcher, matchIfKeyNotFound: true },
        { type: "metadata", matcher, matchIfKeyNotFound: false },
        { type: "metadata", matcher: undefined, matchIfKeyNotFound: true },
        { type: "log_type", types: ["DownstreamEnd", "UdpSessionEnd"], exclude: true },
      ],
    });
    const bad = (filter: unknown) => problems(hcmWith([{ name: "envoy.access_loggers.stdout", filter }]));
    expect(bad({ grpc_status_filter: { statuses: ["CANCELLED"] } })[0]).toMatch(/filter\.grpc_status_filter\.statuses\[0\]: "CANCELLED" is not a value of envoy\.config\.accesslog\.v3\.GrpcStatusFilter\.Status .*did you mean `CANCELED`\?/);
    expect(bad({ log_type_filter: { types: ["DownstreamFinished"] } })[0]).toMatch(/filter\.log_type_filter\.types\[0\]: "DownstreamFinished" is not a value of envoy\.data\.accesslog\.v3\.AccessLogType/);
    expect(bad({ metadata_filter: { matcher: { ...metadata, invert: true } } })).toEqual([
      `${LOG}.filter.metadata_filter.matcher: \`invert\` is an Envoy field that polyvoy does not support yet (here, where Envoy's MetadataFilter ignores it: access_log_impl.cc)`,
    ]);
    expect(bad({ metadata_filter: { matcher: { ...metadata, path: [] } } })[0]).toMatch(/filter\.metadata_filter\.matcher\.path: /);
    expect(bad({ metadata_filter: { match_if_key_not_found: "no" } })[0]).toMatch(/filter\.metadata_filter\.match_if_key_not_found: /);
  });

  test("the gRPC loggers: common_config required, V3 only, unhonoured fields refused by name", () => {
    const HTTP_GRPC = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig";
    const TCP_GRPC = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig";
    const common = { log_name: "l", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "als" } } };
    const grpcLog = (type: string, fields: object) => problems(hcmWith([{ name: "g", typed_config: { "@type": type, ...fields } }]));
    expect(problems(hcmWith([{ name: "envoy.access_loggers.http_grpc" }]))).toEqual([`${LOG}.typed_config.common_config: missing required field`]);
    expect(hcmLogs([{ name: "g", typed_config: { "@type": HTTP_GRPC, common_config: common, additional_request_headers_to_log: ["X-A"] } }])![0]!.grpc).toEqual({
      kind: "http",
      logName: "l",
      target: { clusterName: "als", authority: "", initialMetadata: [] },
      bufferFlushIntervalMs: 1000,
      bufferSizeBytes: 16384,
      commonConfigKey: expect.any(String),
      requestHeaders: ["x-a"],
      responseHeaders: [],
      responseTrailers: [],
    });
    const tcp = (filterOf(tcpWith([{ name: "g", typed_config: { "@type": TCP_GRPC, common_config: { ...common, buffer_flush_interval: "0.5s", buffer_size_bytes: 0 } } }])).config as TcpProxyConfig).accessLog![0]!;
    expect(tcp.grpc).toMatchObject({ kind: "tcp", bufferFlushIntervalMs: 500, bufferSizeBytes: 0 });
    expect(grpcLog(TCP_GRPC, { common_config: common, additional_request_headers_to_log: ["x"] })[0]).toMatch(/additional_request_headers_to_log/);
    expect(problems(hcmWith([{ name: "envoy.access_loggers.tcp_grpc", typed_config: { common_config: common, bogus: 1 } }]))).toEqual([
      `${LOG}.typed_config: \`bogus\` is not a field of envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig`,
    ]);
    expect(grpcLog(HTTP_GRPC, { common_config: { ...common, transport_api_version: undefined } })[0]).toMatch(/common_config\.transport_api_version/);
    expect(grpcLog(HTTP_GRPC, { common_config: { ...common, log_name: "" } })[0]).toMatch(/common_config\.log_name: must not be empty/);
    expect(grpcLog(HTTP_GRPC, { common_config: { ...common, buffer_flush_interval: "0s" } })[0]).toMatch(/buffer_flush_interval: must be greater than 0s/);
    for (const [field, value] of [
      ["filter_state_objects_to_log", ["k"]],
      ["grpc_stream_retry_policy", { num_retries: 3 }],
      ["custom_tags", [{ tag: "t", literal: { value: "v" } }]],
    ] as const) {
      expect(grpcLog(HTTP_GRPC, { common_config: { ...common, [field]: value } })[0]).toMatch(new RegExp(`\`${field}\` is an Envoy field that polyvoy does not support yet`));
    }
    expect(grpcLog(HTTP_GRPC, { common_config: { ...common, grpc_service: { ...common.grpc_service, timeout: "1s" } } })[0]).toMatch(/`timeout` is an Envoy field that polyvoy does not support yet/);
  });

  test("unknown logger types", () => {
    expect(problems(hcmWith([{ name: "x", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.fluentd.v3.FluentdAccessLogConfig" } }]))).toEqual([
      `${LOG}: envoy.access_loggers.fluentd (Fluentd) is an Envoy access logger that polyvoy does not have (polyvoy's: docs/configuration.md)`,
    ]);
  });

  test("file logger without a path; unknown fields; two formats", () => {
    expect(problems(hcmWith([{ name: "envoy.access_loggers.file" }]))).toEqual([`${LOG}.typed_config.path: missing required field`]);
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": FILE_TYPE, path: "" } }]))).toEqual([`${LOG}.typed_config.path: must not be empty`]);
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, path: "/tmp/x" } }]))).toEqual([`${LOG}.typed_config: \`path\` is not a field of envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`]);
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": FILE_TYPE, path: "/x", format: "a", log_format: { text_format: "b" } } }]))).toEqual([
      `${LOG}.typed_config: must set only one of format, json_format, typed_json_format, log_format (got format, log_format)`,
    ]);
  });

  test("log_format needs exactly one format; formatters other than req_without_query are refused; a file-based source is read by validateConfig", () => {
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: {} } }]))).toEqual([
      `${LOG}.typed_config.log_format: must set one of text_format, json_format, text_format_source`,
    ]);
    const cel = { name: "envoy.formatter.cel", typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel" } };
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "x", formatters: [cel] } } }]))).toEqual([
      `${LOG}.typed_config.log_format.formatters[0].typed_config.@type: formatter "type.googleapis.com/envoy.extensions.formatter.cel.v3.Cel" is not one of polyvoy's (envoy.formatter.req_without_query, envoy.formatter.metadata)`,
    ]);
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format_source: { filename: "/etc/fmt" } } } }]))).toEqual([
      `${LOG}.typed_config.log_format.text_format_source.filename: file /etc/fmt is not read: the synchronous loadBootstrap reads no files (validateConfig does)`,
    ]);
  });

  test("%REQ_WITHOUT_QUERY(X)% needs the envoy.formatter.req_without_query formatter, as in Envoy", () => {
    const formatter = { name: "envoy.formatter.req_without_query", typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery" } };
    expect(hcmLogs([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%REQ_WITHOUT_QUERY(:PATH):10%", formatters: [formatter] } } }])?.[0]?.format).toEqual({
      type: "text",
      format: "%REQ_WITHOUT_QUERY(:PATH):10%",
      omitEmptyValues: false,
      reqWithoutQuery: true,
    });
    expect(hcmLogs([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { json_format: { p: "%REQ_WITHOUT_QUERY(:PATH)%" }, formatters: [formatter] } } }])?.[0]?.format).toMatchObject({
      type: "json",
      reqWithoutQuery: true,
    });
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%REQ_WITHOUT_QUERY(:PATH)%" } } }]))).toEqual([
      `${LOG}.typed_config.log_format.text_format: unknown command operator %REQ_WITHOUT_QUERY(:PATH)% at position 0 (its formatter envoy.formatter.req_without_query is not in \`formatters\`)`,
    ]);
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": FILE_TYPE, path: "/x", format: "%REQ_WITHOUT_QUERY(:PATH)%" } }]))).toEqual([
      `${LOG}.typed_config: unknown command operator %REQ_WITHOUT_QUERY(:PATH)% at position 0`,
    ]);
    const extra = { ...formatter, typed_config: { ...formatter.typed_config, foo: 1 } };
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "x", formatters: [extra] } } }]))).toEqual([
      `${LOG}.typed_config.log_format.formatters[0].typed_config: ReqWithoutQuery has no fields (got foo)`,
    ]);
  });

  test("envoy.formatter.metadata is taken (its %METADATA% is built in: it adds nothing, nor turns REQ_WITHOUT_QUERY on); a field in it is refused", () => {
    const formatter = { name: "envoy.formatter.metadata", typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.metadata.v3.Metadata" } };
    expect(hcmLogs([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%METADATA(ROUTE:ns:key):4% %METADATA(UPSTREAM_HOST:ns)%", formatters: [formatter] } } }])?.[0]?.format).toEqual({
      type: "text",
      format: "%METADATA(ROUTE:ns:key):4% %METADATA(UPSTREAM_HOST:ns)%",
      omitEmptyValues: false,
    });
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%REQ_WITHOUT_QUERY(:PATH)%", formatters: [formatter] } } }]))[0]).toContain("its formatter envoy.formatter.req_without_query is not in `formatters`");
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "%METADATA(CLUSTER:ns)%", formatters: [formatter] } } }]))[0]).toContain("METADATA type CLUSTER is not supported");
    const extra = { ...formatter, typed_config: { ...formatter.typed_config, foo: 1 } };
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { text_format: "x", formatters: [extra] } } }]))).toEqual([
      `${LOG}.typed_config.log_format.formatters[0].typed_config: Metadata has no fields (got foo)`,
    ]);
  });

  test("json_format values must be strings, numbers, objects or lists", () => {
    expect(problems(hcmWith([{ name: "l", typed_config: { "@type": STDOUT_TYPE, log_format: { json_format: { ok: "x", flag: true, nothing: null } } } }]))).toEqual([
      `${LOG}.typed_config.log_format.json_format.flag: only strings, numbers, nested objects and lists are supported in a format dictionary (got boolean)`,
      `${LOG}.typed_config.log_format.json_format.nothing: only strings, numbers, nested objects and lists are supported in a format dictionary (got null)`,
    ]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("access_log: envoy.access_loggers.open_telemetry", () => {
  const OTEL = "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig";
  const LOG = `${FILTER}.access_log[0]`;
  const common = { log_name: "otel", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "a" }, timeout: "0.250s" } };
  const otel = (fields: object) => hcmWith([{ name: "envoy.access_loggers.open_telemetry", typed_config: { "@type": OTEL, ...fields } }]);

  test("common_config, resource_attributes, body and attributes (formats checked; UTF-8 as bytes); the same for tcp_proxy", () => {
    const [log] = hcmLogs([{ name: "o", typed_config: { "@type": OTEL, common_config: common, resource_attributes: { values: [{ key: "service.name", value: { string_value: "front-envoy" } }, { key: "n", value: { int_value: "7" } }] }, body: { kvlist_value: { values: [{ key: "m", value: { string_value: "%REQ(:METHOD)% é" } }, { key: "l", value: { array_value: { values: [{ string_value: "%PROTOCOL%" }] } } }] } }, attributes: { values: [{ key: "code", value: { string_value: "%RESPONSE_CODE%" } }] }, stat_prefix: "p." } }])!;
    expect(log!.type).toBe("envoy.access_loggers.open_telemetry");
    const config = log!.openTelemetry!;
    expect(config).toMatchObject({ logName: "otel", target: { clusterName: "a" }, timeoutMs: 250, bufferFlushIntervalMs: 1000, bufferSizeBytes: 16384, disableBuiltinLabels: false, statPrefix: "p." });
    expect(config.resourceAttributes).toEqual([{ key: "service.name", value: { kind: "string", value: "front-envoy" } }, { key: "n", value: { kind: "int", value: 7 } }]);
    expect(config.body).toEqual({ kind: "kvlist", values: [{ key: "m", value: { kind: "string", value: "%REQ(:METHOD)% \u00c3\u00a9" } }, { key: "l", value: { kind: "array", values: [{ kind: "string", value: "%PROTOCOL%" }] } }] });
    expect(config.attributes).toEqual([{ key: "code", value: { kind: "string", value: "%RESPONSE_CODE%" } }]);
    const tcp = (filterOf(tcpWith([{ name: "o", typed_config: { "@type": OTEL, common_config: common } }])).config as TcpProxyConfig).accessLog!;
    expect(tcp[0]!.openTelemetry).toMatchObject({ body: undefined, attributes: [], resourceAttributes: [] });
    // An empty body (no value set) is no body, as Envoy's.
    expect((filterOf(otel({ common_config: common, body: {} })).config as HttpConnectionManagerConfig).accessLog![0]!.openTelemetry!.body).toBeUndefined();
  });

  test("refused: other kinds in a format, a bad operator, no common_config, fields polyvoy does not implement", () => {
    const only = "Only string values, nested key value lists and array values are supported in OpenTelemetry access log format.";
    expect(problems(otel({ common_config: common, body: { int_value: 3 } }))).toEqual([`${LOG}.typed_config.body.int_value: ${only}`]);
    expect(problems(otel({ common_config: common, attributes: { values: [{ key: "k", value: { array_value: { values: [{ bool_value: true }] } } }] } }))).toEqual([`${LOG}.typed_config.attributes.values[0].value.array_value.values[0].bool_value: ${only}`]);
    expect(problems(otel({ common_config: common, body: { string_value: "%BOGUS%" } }))).toEqual([`${LOG}.typed_config.body.string_value: unknown command operator %BOGUS% at position 0`]);
    expect(problems(otel({ common_config: common, body: { string_value: "a", bool_value: true } }))[0]).toMatch(/string_value and bool_value are one of: set one/);
    expect(problems(otel({}))).toEqual([`${LOG}.typed_config.common_config: missing required field`]);
    // By Envoy's older name too (no "@type"): the same logger.
    expect(problems(hcmWith([{ name: "envoy.open_telemetry_access_log" }]))).toEqual([`${LOG}.typed_config.common_config: missing required field`]);
    expect(problems(otel({ common_config: { ...common, transport_api_version: "AUTO" } }))[0]).toMatch(/transport_api_version: AUTO is an Envoy value that polyvoy does not support yet \(supported: V3\)/);
    for (const [field, value] of [
      ["http_service", { http_uri: { uri: "http://c/v1/logs", cluster: "a", timeout: "1s" } }],
      ["formatters", [{ name: "envoy.formatter.req_without_query", typed_config: {} }]],
    ] as const) {
      expect(problems(otel({ common_config: common, [field]: value }))[0]).toMatch(new RegExp(`\`${field}\` is an Envoy field that polyvoy does not support yet`));
    }
    expect(problems(otel({ common_config: common, resource_attributes: { values: [{ key: "b", value: { bytes_value: "AA==" } }] } }))[0]).toMatch(/bytes_value/);
    expect(problems(otel({ common_config: { ...common, grpc_stream_retry_policy: { num_retries: 2 } } }))[0]).toMatch(/`grpc_stream_retry_policy` is an Envoy field that polyvoy does not support yet \(it retries each export in Envoy: set grpc_service.retry_policy/);
    // Exports are unary calls: grpc_service.retry_policy is taken.
    const retried = (filterOf(otel({ common_config: { ...common, grpc_service: { ...common.grpc_service, retry_policy: { num_retries: 2 } } } })).config as HttpConnectionManagerConfig).accessLog![0]!.openTelemetry!;
    expect(retried.target.retryPolicy).toBeDefined();
  });
});
