/**
 * Envoy's access log format language, compiled once per format: a format string
 * becomes a list of parts (literals and operator functions), a format dictionary a tree
 * of them, so logging a line only calls the operators and joins strings.
 *
 * Grammar (Envoy's SubstitutionFormatParser): `%COMMAND%`, `%COMMAND(SUBCOMMAND)%`,
 * `%COMMAND(SUBCOMMAND):LENGTH%`; COMMAND is [A-Z0-9_]+, SUBCOMMAND has no ")";
 * "%%" is a literal "%"; any other "%" is an error, as is an unknown command.
 * An unset value prints "-" (or "" with omit_empty_values); in typed JSON it is null.
 */
import type { AccessLogFormatConfig, AccessLogJsonValue } from "../config/bootstrap.ts";
import type { SocketAddress, TlsSession } from "../port.ts";
import { jsonString, utf8ByteString } from "./byte-string.ts";
import type { AccessLogContext } from "./context.ts";
import { FormatError } from "./format-error.ts";
import { compileTimeFormat } from "./time-format.ts";
import { responseFlagLongName } from "../stream-info/response-flags.ts";
import { isSerializableFilterState } from "../stream-info/serializable-filter-state.ts";
import { httpToGrpcStatus, isGrpcContentType, parseGrpcStatus } from "../http/grpc-common.ts";
import { sortedJson } from "../util/sorted-json.ts";

export { FormatError } from "./format-error.ts";

/**
 * Envoy's default access log format (SubstitutionFormatUtils::DEFAULT_FORMAT), e.g.
 * `[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/1.1" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-…" "locations" "10.0.2.1:80"`
 */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% " +
  "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% " +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** An operator's value: a string (byte string), a number (typed JSON keeps it), or undefined (unset). */
export type OperatorValue = string | number | undefined;
export type Operator = ((ctx: AccessLogContext) => OperatorValue) & {
  /**
   * Its value in typed JSON when that is a JSON value other than the string it prints
   * (Envoy's formatValue: %METADATA%'s struct, %FILTER_STATE%'s proto): compact JSON text
   * (a byte string), or undefined (unset).
   */
  readonly typedJson?: (ctx: AccessLogContext) => string | undefined;
};

/** `text` (the operator's printed form) with `typedJson` (its typed JSON form) attached. */
function withTypedJson(text: (ctx: AccessLogContext) => OperatorValue, typedJson: (ctx: AccessLogContext) => string | undefined): Operator {
  return Object.assign(text, { typedJson });
}

/** A compiled format string: literals and operators, in order. */
export type FormatPart = string | Operator;

/** Turns one finished stream or connection into one log line (a byte string, newline included if the format has one). */
export interface AccessLogFormatter {
  format(ctx: AccessLogContext): string;
}

// ---- Operators ---------------------------------------------------------------------

/** How a command may be written (Envoy's CommandSyntaxChecker). */
type Syntax = "command-only" | "params-optional" | "params-required";

interface OperatorKind {
  syntax: Syntax;
  lengthAllowed?: boolean;
  build(subcommand: string, maxLength: number | undefined): Operator;
}

const ms = (value: number | undefined): number | undefined => (value === undefined ? undefined : Math.floor(value));
const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === "" ? undefined : utf8ByteString(value));
// A Unix socket is its path with or without port, and has no port (Envoy's formatter
// prints asString() for an address that is not IP, and "-" for its port).
const withPort = (a: SocketAddress | undefined) => (a === undefined ? undefined : a.family === 6 ? `[${a.address}]:${a.port}` : a.family === "unix" ? a.address : `${a.address}:${a.port}`);
const withoutPort = (a: SocketAddress | undefined) => a?.address;
const portOf = (a: SocketAddress | undefined) => (a?.family === "unix" ? undefined : a?.port);

/** "10.0.0.1:80" / "[::1]:80" split at the port. */
function hostWithoutPort(host: string | undefined): string | undefined {
  if (host === undefined || host === "") return undefined;
  const colon = host.lastIndexOf(":");
  if (colon < 0) return host;
  const address = host.slice(0, colon);
  return address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
}

function hostPort(host: string | undefined): number | undefined {
  if (host === undefined) return undefined;
  const port = Number(host.slice(host.lastIndexOf(":") + 1));
  return Number.isInteger(port) && host.includes(":") ? port : undefined;
}

/** %REQ(X?Y):Z% and friends: header X, else Y; the first value; at most Z bytes. */
function headerOperator(lookup: (ctx: AccessLogContext, name: string) => string | undefined): OperatorKind {
  return {
    syntax: "params-required",
    lengthAllowed: true,
    build(subcommand, maxLength) {
      const names = subcommand.split("?");
      if (names.length > 2) throw new FormatError(`more than 1 alternative header specified in "${subcommand}"`);
      if (names.some((name) => name === "")) throw new FormatError(`empty header name in "${subcommand}"`);
      const main = names[0]!.toLowerCase();
      const alternative = names[1]?.toLowerCase();
      const truncate = (value: string | undefined) => (value === undefined || maxLength === undefined ? value : value.slice(0, maxLength));
      if (alternative === undefined) return (ctx) => truncate(lookup(ctx, main));
      return (ctx) => truncate(lookup(ctx, main) ?? lookup(ctx, alternative));
    },
  };
}

function field(get: Operator): OperatorKind {
  return { syntax: "command-only", build: () => get };
}

const REQUEST_HEADER = headerOperator((ctx, name) => ctx.requestHeader(name));
const RESPONSE_HEADER = headerOperator((ctx, name) => ctx.responseHeader(name));
const RESPONSE_TRAILER = headerOperator((ctx, name) => ctx.responseTrailer(name));

/** Every supported command operator. */
const OPERATORS: Record<string, OperatorKind> = {
  REQ: REQUEST_HEADER,
  REQUEST_HEADER,
  RESP: RESPONSE_HEADER,
  RESPONSE_HEADER,
  TRAILER: RESPONSE_TRAILER,
  RESPONSE_TRAILER,
  START_TIME: {
    syntax: "params-optional",
    build(subcommand) {
      const format = compileTimeFormat(subcommand);
      return (ctx) => format(ctx.startWallClock);
    },
  },
  PROTOCOL: field((ctx) => ctx.protocol),
  RESPONSE_CODE: field((ctx) => ctx.responseCode),
  // Whitespace becomes "_" unless the parameter is ALLOW_WHITESPACES (Envoy's stream_info_formatter.cc,
  // StringUtil::replaceAllEmptySpace); any other parameter is accepted and changes nothing, as there.
  RESPONSE_CODE_DETAILS: {
    syntax: "params-optional",
    build(subcommand) {
      if (subcommand === "ALLOW_WHITESPACES") return (ctx) => nonEmpty(ctx.responseCodeDetails);
      return (ctx) => nonEmpty(ctx.responseCodeDetails)?.replace(/[ \t\n\v\f\r]/g, "_");
    },
  },
  // "-" (a value, not unset) when there is none, as Envoy's ResponseFlagUtils::toShortString.
  RESPONSE_FLAGS: field((ctx) => (ctx.responseFlags.length === 0 ? "-" : ctx.responseFlags.join(","))),
  RESPONSE_FLAGS_LONG: field((ctx) => (ctx.responseFlags.length === 0 ? "-" : ctx.responseFlags.map(responseFlagLongName).join(","))),
  // Envoy's HeadersByteSizeFormatter (formatter/substitution_formatter.cc): a number, 0 without headers.
  REQUEST_HEADERS_BYTES: field((ctx) => ctx.headersBytes?.("request") ?? 0),
  RESPONSE_HEADERS_BYTES: field((ctx) => ctx.headersBytes?.("response") ?? 0),
  RESPONSE_TRAILERS_BYTES: field((ctx) => ctx.headersBytes?.("trailers") ?? 0),
  CONNECTION_TERMINATION_DETAILS: field((ctx) => nonEmpty(ctx.connectionTerminationDetails)),
  BYTES_RECEIVED: field((ctx) => ctx.bytesReceived),
  BYTES_SENT: field((ctx) => ctx.bytesSent),
  DURATION: field((ctx) => ms(ctx.durationMs)),
  REQUEST_DURATION: field((ctx) => ms(ctx.requestDurationMs)),
  REQUEST_TX_DURATION: field((ctx) => ms(ctx.requestTxDurationMs)),
  RESPONSE_DURATION: field((ctx) => ms(ctx.responseDurationMs)),
  RESPONSE_TX_DURATION: field((ctx) => ms(ctx.responseTxDurationMs)),
  UPSTREAM_HOST: field((ctx) => nonEmpty(ctx.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS: field((ctx) => nonEmpty(ctx.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: field((ctx) => hostWithoutPort(ctx.upstreamHost)),
  UPSTREAM_REMOTE_PORT: field((ctx) => hostPort(ctx.upstreamHost)),
  UPSTREAM_CLUSTER: field((ctx) => nonEmpty(ctx.upstreamCluster)),
  // The cluster's name; %UPSTREAM_CLUSTER% is its alt_stat_name in Envoy, which polyvoy does not take: the same.
  UPSTREAM_CLUSTER_RAW: field((ctx) => nonEmpty(ctx.upstreamCluster)),
  ACCESS_LOG_TYPE: field((ctx) => ctx.accessLogType ?? "NotSet"),
  // Envoy prints 0 when no attempt count was set (attemptCount().value_or(0)).
  UPSTREAM_REQUEST_ATTEMPT_COUNT: field((ctx) => ctx.upstreamRequestAttemptCount ?? 0),
  UPSTREAM_LOCAL_ADDRESS: field((ctx) => withPort(ctx.upstreamLocalAddress)),
  UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: field((ctx) => withoutPort(ctx.upstreamLocalAddress)),
  UPSTREAM_LOCAL_PORT: field((ctx) => portOf(ctx.upstreamLocalAddress)),
  UPSTREAM_TRANSPORT_FAILURE_REASON: field((ctx) => nonEmpty(ctx.upstreamTransportFailureReason)?.replace(/ /g, "_")),
  DOWNSTREAM_REMOTE_ADDRESS: field((ctx) => withPort(ctx.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: field((ctx) => withoutPort(ctx.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_PORT: field((ctx) => portOf(ctx.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: field((ctx) => withPort(ctx.downstreamDirectRemoteAddress ?? ctx.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: field((ctx) => withoutPort(ctx.downstreamDirectRemoteAddress ?? ctx.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_PORT: field((ctx) => portOf(ctx.downstreamDirectRemoteAddress ?? ctx.downstreamRemoteAddress)),
  DOWNSTREAM_LOCAL_ADDRESS: field((ctx) => withPort(ctx.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: field((ctx) => withoutPort(ctx.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_PORT: field((ctx) => portOf(ctx.downstreamLocalAddress)),
  CONNECTION_ID: field((ctx) => ctx.connectionId ?? 0),
  // The downstream TLS (Envoy's SslConnectionInfo): "-" on a plaintext connection.
  DOWNSTREAM_TLS_VERSION: field((ctx) => nonEmpty(ctx.downstreamTls?.version)),
  DOWNSTREAM_TLS_CIPHER: field((ctx) => nonEmpty(ctx.downstreamTls?.cipher)),
  DOWNSTREAM_PEER_SUBJECT: field((ctx) => nonEmpty(ctx.downstreamTls?.peerCertificate?.subject)),
  DOWNSTREAM_PEER_FINGERPRINT_256: field((ctx) => nonEmpty(ctx.downstreamTls?.peerCertificate?.sha256)),
  DOWNSTREAM_PEER_URI_SAN: field((ctx) => peerSans(ctx, "URI")),
  DOWNSTREAM_PEER_DNS_SAN: field((ctx) => peerSans(ctx, "DNS")),
  // The upstream connection's TLS (Envoy's upstreamSslConnection): "-" over plaintext.
  UPSTREAM_TLS_VERSION: field((ctx) => nonEmpty(ctx.upstreamTls?.version)),
  UPSTREAM_TLS_CIPHER: field((ctx) => nonEmpty(ctx.upstreamTls?.cipher)),
  UPSTREAM_PEER_SUBJECT: field((ctx) => nonEmpty(ctx.upstreamTls?.peerCertificate?.subject)),
  UPSTREAM_PEER_FINGERPRINT_256: field((ctx) => nonEmpty(ctx.upstreamTls?.peerCertificate?.sha256)),
  UPSTREAM_PEER_URI_SAN: field((ctx) => sansOf(ctx.upstreamTls, "URI")),
  UPSTREAM_PEER_DNS_SAN: field((ctx) => sansOf(ctx.upstreamTls, "DNS")),
  // Envoy's requestedServerName: set by tls_inspector, else by the TLS handshake.
  REQUESTED_SERVER_NAME: field((ctx) => nonEmpty(ctx.requestedServerName || ctx.downstreamTls?.serverName)),
  // Envoy's stream_info_formatter.cc: the connection's ja3Hash(), "-" when empty.
  TLS_JA3_FINGERPRINT: field((ctx) => nonEmpty(ctx.ja3Hash)),
  ROUTE_NAME: field((ctx) => nonEmpty(ctx.routeName)),
  // Envoy's stream id is the request id (x-request-id) for HTTP streams.
  STREAM_ID: field((ctx) => ctx.requestHeader("x-request-id")),
  // The body as it is (empty included: a value, not unset), for local_reply_config's body_format.
  LOCAL_REPLY_BODY: field((ctx) => ctx.localReplyBody),
  GRPC_STATUS: {
    syntax: "params-optional",
    build(subcommand) {
      const format = subcommand === "" ? "CAMEL_STRING" : subcommand;
      if (format !== "CAMEL_STRING" && format !== "SNAKE_STRING" && format !== "NUMBER") throw new FormatError("GrpcStatusFormatter only supports CAMEL_STRING, SNAKE_STRING or NUMBER.");
      return grpcStatusOperator(format);
    },
  },
  GRPC_STATUS_NUMBER: field(grpcStatusOperator("NUMBER")),
  METADATA: {
    syntax: "params-required",
    lengthAllowed: true,
    build: buildMetadataOperator,
  },
  // Envoy's UpstreamHostMetadataFormatter: %METADATA(UPSTREAM_HOST:…)%.
  UPSTREAM_METADATA: {
    syntax: "params-required",
    lengthAllowed: true,
    build: (subcommand, maxLength) => buildMetadataOperator(`UPSTREAM_HOST:${subcommand}`, maxLength),
  },
  FILTER_STATE: {
    syntax: "params-required",
    lengthAllowed: true,
    build: buildFilterStateOperator,
  },
  // Envoy's older spelling of %METADATA(DYNAMIC:…)%.
  DYNAMIC_METADATA: {
    syntax: "params-required",
    lengthAllowed: true,
    build: (subcommand, maxLength) => buildMetadataOperator(`DYNAMIC:${subcommand}`, maxLength),
  },
};

/** Grpc::Utility::grpcStatusToString (CAMEL_STRING) and absl::StatusCodeToString (SNAKE_STRING), by code. */
const GRPC_CAMEL = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"];
const GRPC_SNAKE = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

/**
 * Envoy's GrpcStatusFormatter (http_specific_formatter.cc): unset unless the request is a
 * gRPC one (a path and a gRPC content type); the status from the trailers, else the
 * headers (trailers-only), else mapped from the HTTP status; a code without a name prints
 * its number. NUMBER is a number in typed JSON.
 */
function grpcStatusOperator(format: "CAMEL_STRING" | "SNAKE_STRING" | "NUMBER"): Operator {
  const names = format === "CAMEL_STRING" ? GRPC_CAMEL : format === "SNAKE_STRING" ? GRPC_SNAKE : undefined;
  return (ctx) => {
    if (!ctx.requestHeader(":path") || !isGrpcContentType(ctx.requestHeader("content-type"))) return undefined;
    const status = parseGrpcStatus(ctx.responseTrailer("grpc-status")) ?? parseGrpcStatus(ctx.responseHeader("grpc-status")) ?? (ctx.responseCode > 0 ? httpToGrpcStatus(ctx.responseCode) : undefined);
    if (status === undefined) return undefined;
    return names === undefined ? status : (names[status] ?? `${status}`);
  };
}

const METADATA_SOURCES = {
  ROUTE: (ctx: AccessLogContext) => ctx.routeMetadata,
  DYNAMIC: (ctx: AccessLogContext) => ctx.dynamicMetadata,
  UPSTREAM_HOST: (ctx: AccessLogContext) => ctx.upstreamHostMetadata,
} as const;

/**
 * %METADATA(TYPE:NAMESPACE:KEY*):Z% (Envoy's MetadataFormatter): the value at KEY (a
 * path through nested structs) in NAMESPACE of the TYPE's metadata; a string as is,
 * anything else as JSON, at most Z bytes; unset when absent. In typed JSON it is the value
 * itself (an object, a number, true…), not truncated (MetadataFormatter::formatValue).
 * ROUTE reads the route's metadata; DYNAMIC the stream's dynamic metadata (set by filters
 * such as rbac); UPSTREAM_HOST the chosen host's endpoint metadata (also
 * %UPSTREAM_METADATA(NAMESPACE:KEY*)%).
 */
function buildMetadataOperator(subcommand: string, maxLength: number | undefined): Operator {
  const [type, namespace, ...path] = subcommand.split(":");
  if (namespace === undefined || namespace === "") throw new FormatError(`METADATA needs TYPE:NAMESPACE[:KEY…], got "${subcommand}"`);
  if (type !== "ROUTE" && type !== "DYNAMIC" && type !== "UPSTREAM_HOST") {
    // Envoy's CLUSTER, LISTENER and VIRTUAL_HOST read metadata polyvoy's config does not take (a cluster's, listener's, virtual host's `metadata`).
    const why = type === "CLUSTER" || type === "LISTENER" || type === "VIRTUAL_HOST" ? `: polyvoy takes no ${type.toLowerCase().replace("_", " ")} metadata` : "";
    throw new FormatError(`METADATA type ${type} is not supported${why} (supported: ROUTE, DYNAMIC, UPSTREAM_HOST)`);
  }
  const source = METADATA_SOURCES[type];
  const valueOf = (ctx: AccessLogContext): unknown => {
    let value: unknown = source(ctx)?.[namespace];
    for (const key of path) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[key];
    }
    return value;
  };
  return withTypedJson(
    (ctx) => {
      // An explicit null is unset, as an absent key: Envoy's formatMetadata turns a null Value into "-".
      const value = valueOf(ctx);
      if (value === undefined || value === null) return undefined;
      const text = typeof value === "string" ? utf8ByteString(value) : utf8ByteString(sortedJson(value));
      return maxLength === undefined ? text : text.slice(0, maxLength);
    },
    (ctx) => {
      // A null is unset here too (Envoy's formatValue gives a null Value, which omit_empty_values drops).
      const value = valueOf(ctx);
      return value === undefined || value === null ? undefined : utf8ByteString(sortedJson(value));
    },
  );
}

/**
 * Envoy's FilterStateFormatter (stream_info_formatter.cc): %FILTER_STATE(KEY)%, (KEY:TYPED)
 * — the object's proto as JSON text (MessageToJsonString) — or (KEY:PLAIN), its string
 * form; at most Z bytes; unset when the stream has no such object or it cannot be
 * serialized that way. In typed JSON the TYPED form is that JSON value itself, not a string
 * holding it, and not truncated (FilterStateFormatter::formatValue, jsonConvertValue); the
 * PLAIN form stays a string. FIELD is not built.
 */
function buildFilterStateOperator(subcommand: string, maxLength: number | undefined): Operator {
  const [key, format = "TYPED", ...rest] = subcommand.split(":");
  if (key === undefined || key === "") throw new FormatError("Invalid filter state configuration, key cannot be empty.");
  if (format === "FIELD") throw new FormatError("FILTER_STATE's FIELD serialization is not supported (supported: PLAIN, TYPED)");
  if ((format !== "PLAIN" && format !== "TYPED") || rest.length > 0) throw new FormatError("Invalid filter state serialize type, only support PLAIN/TYPED/FIELD.");
  const serialized = (ctx: AccessLogContext): string | undefined => {
    const state = ctx.filterState?.get(key);
    if (!isSerializableFilterState(state)) return undefined;
    const value = format === "PLAIN" ? state.serializeAsString() : state.serializeAsJson();
    return value === undefined ? undefined : utf8ByteString(value);
  };
  const text = (ctx: AccessLogContext): string | undefined => {
    const value = serialized(ctx);
    return value === undefined || maxLength === undefined ? value : value.slice(0, maxLength);
  };
  return format === "PLAIN" ? text : withTypedJson(text, serialized);
}

/** The peer certificate's SANs of one type, comma-separated (Envoy's PEER_URI_SAN, PEER_DNS_SAN). */
function peerSans(ctx: AccessLogContext, type: "URI" | "DNS"): string | undefined {
  return sansOf(ctx.downstreamTls, type);
}

/** The names of the supported command operators (for docs and error messages). */
export const SUPPORTED_OPERATORS: readonly string[] = Object.keys(OPERATORS);

// ---- Parsing -----------------------------------------------------------------------

/**
 * Command operators that formatter extensions (SubstitutionFormatString.formatters) add:
 * envoy.formatter.req_without_query's %REQ_WITHOUT_QUERY(X?Y):Z% (Envoy's
 * extensions/formatter/req_without_query): the request header with the query string
 * (from the first "?") left out; meant for :path, so that secrets in query strings stay
 * out of the logs.
 */
export interface FormatExtensions {
  reqWithoutQuery?: boolean;
}

const REQ_WITHOUT_QUERY = headerOperator((ctx, name) => {
  const value = ctx.requestHeader(name);
  if (value === undefined) return undefined;
  const query = value.indexOf("?");
  return query < 0 ? value : value.slice(0, query);
});

/** Every extension's operators: what the schema accepts before it knows a format's `formatters`. */
export const ALL_FORMAT_EXTENSIONS: FormatExtensions = { reqWithoutQuery: true };
const NO_EXTENSIONS: FormatExtensions = {};

const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/y;

/**
 * Parse a format string (a byte string) into parts. Throws FormatError naming the
 * operator and its position for an unknown operator or a malformed one.
 */
export function parseFormat(format: string, extensions: FormatExtensions = NO_EXTENSIONS): FormatPart[] {
  const parts: FormatPart[] = [];
  let literal = "";
  for (let pos = 0; pos < format.length; pos++) {
    const c = format[pos]!;
    if (c !== "%") {
      literal += c;
      continue;
    }
    if (format[pos + 1] === "%") {
      literal += "%";
      pos++;
      continue;
    }
    COMMAND.lastIndex = pos;
    const match = COMMAND.exec(format);
    if (!match) {
      const shown = format.slice(pos, pos + 24).replace(/\n/g, "\\n");
      throw new FormatError(`no valid command operator at position ${pos} ("${shown}…"); write "%%" for a literal "%"`);
    }
    if (literal !== "") parts.push(literal);
    literal = "";
    parts.push(buildOperator(match[0], match[1]!, match[2], match[3], pos, extensions));
    pos += match[0].length - 1;
  }
  if (literal !== "") parts.push(literal);
  return parts;
}

function buildOperator(text: string, command: string, subcommand: string | undefined, length: string | undefined, pos: number, extensions: FormatExtensions): Operator {
  const kind = OPERATORS[command] ?? (command === "REQ_WITHOUT_QUERY" && extensions.reqWithoutQuery ? REQ_WITHOUT_QUERY : undefined);
  if (kind === undefined) throw new FormatError(`unknown command operator ${text} at position ${pos}`);
  if (kind.syntax === "command-only" && (subcommand !== undefined || length !== undefined)) {
    throw new FormatError(`${command} does not take any parameters or length (in ${text})`);
  }
  if (kind.syntax === "params-required" && (subcommand === undefined || subcommand === "")) {
    throw new FormatError(`${command} requires parameters, e.g. %${command}(X-HEADER)% (in ${text})`);
  }
  if (length !== undefined && !kind.lengthAllowed) throw new FormatError(`${command} does not allow a length (in ${text})`);
  const maxLength = length === undefined ? undefined : Number(length);
  try {
    return kind.build(subcommand ?? "", maxLength);
  } catch (err) {
    if (err instanceof FormatError) throw new FormatError(`${err.message} (in ${text})`);
    throw err;
  }
}

// ---- Text ----------------------------------------------------------------------------

class TextFormatter implements AccessLogFormatter {
  constructor(
    private readonly parts: readonly FormatPart[],
    private readonly empty: string,
  ) {}

  format(ctx: AccessLogContext): string {
    let line = "";
    for (const part of this.parts) {
      if (typeof part === "string") {
        line += part;
        continue;
      }
      const value = part(ctx);
      line += value === undefined ? this.empty : typeof value === "number" ? `${value}` : value;
    }
    return line;
  }
}

/**
 * Parts from parseFormat rendered with unset values as "" (Envoy's omit_empty_values):
 * how route header values are evaluated (router/header_parser.cc).
 */
export function renderOmittingEmpty(parts: readonly FormatPart[], ctx: AccessLogContext): string {
  let out = "";
  for (const part of parts) {
    if (typeof part === "string") out += part;
    else {
      const value = part(ctx);
      if (value !== undefined) out += typeof value === "number" ? `${value}` : value;
    }
  }
  return out;
}

/** Compile a text format (a byte string). Throws FormatError. */
export function compileTextFormat(format: string, omitEmptyValues = false, extensions: FormatExtensions = NO_EXTENSIONS): AccessLogFormatter {
  return new TextFormatter(parseFormat(format, extensions), omitEmptyValues ? "" : "-");
}

// ---- JSON ----------------------------------------------------------------------------

/** Renders one JSON value, or undefined for null (left out when omitting empty values). */
type JsonNode = (ctx: AccessLogContext) => string | undefined;

interface JsonOptions {
  typed: boolean;
  omitEmptyValues: boolean;
  sortProperties: boolean;
  reqWithoutQuery: boolean;
}

function compileJsonValue(value: AccessLogJsonValue, options: JsonOptions, path: string): JsonNode {
  if (typeof value === "number") {
    // A number in the format is itself; the untyped (deprecated json_format) one is a string.
    const json = options.typed ? JSON.stringify(value) : jsonString(`${value}`);
    return () => json;
  }
  if (typeof value === "string") return compileJsonString(value, options, path);
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileJsonValue(item, options, `${path}[${i}]`));
    const omit = options.omitEmptyValues;
    return (ctx) => {
      let out = "";
      for (const item of items) {
        const json = item(ctx);
        if (json === undefined && omit) continue;
        out += (out === "" ? "" : ",") + (json ?? "null");
      }
      return `[${out}]`;
    };
  }
  if (typeof value === "object" && value !== null) {
    let keys = Object.keys(value);
    if (options.sortProperties) keys = keys.sort();
    const entries = keys.map((key) => [`${jsonString(key)}:`, compileJsonValue(value[key]!, options, path === "" ? key : `${path}.${key}`)] as const);
    const omit = options.omitEmptyValues;
    return (ctx) => {
      let out = "";
      for (const [prefix, node] of entries) {
        const json = node(ctx);
        if (json === undefined && omit) continue;
        out += (out === "" ? "" : ",") + prefix + (json ?? "null");
      }
      return `{${out}}`;
    };
  }
  throw new FormatError(`${path}: only strings, numbers, nested objects and lists are supported in a JSON format`);
}

function compileJsonString(format: string, options: JsonOptions, path: string): JsonNode {
  let parts: FormatPart[];
  try {
    parts = parseFormat(format, options);
  } catch (err) {
    if (err instanceof FormatError && path !== "") throw new FormatError(`${path}: ${err.message}`);
    throw err;
  }
  if (parts.length === 0) return () => '""';
  const single = parts.length === 1 ? parts[0]! : undefined;
  if (typeof single === "string") {
    const json = jsonString(single);
    return () => json;
  }
  if (single !== undefined) {
    // Only a value that is exactly one operator keeps its type (Envoy: "%DURATION%" is a number, "%DURATION%.0" a string).
    if (options.typed) {
      if (single.typedJson) return single.typedJson;
      return (ctx) => {
        const value = single(ctx);
        return value === undefined ? undefined : typeof value === "number" ? `${value}` : jsonString(value);
      };
    }
    const unset = options.omitEmptyValues ? undefined : '"-"';
    return (ctx) => {
      const value = single(ctx);
      return value === undefined ? unset : jsonString(typeof value === "number" ? `${value}` : value);
    };
  }
  const text = new TextFormatter(parts, options.omitEmptyValues ? "" : "-");
  return (ctx) => jsonString(text.format(ctx));
}

class JsonFormatter implements AccessLogFormatter {
  constructor(private readonly root: JsonNode) {}

  format(ctx: AccessLogContext): string {
    return `${this.root(ctx)}\n`;
  }
}

/**
 * Compile a format dictionary (keys and strings as byte strings). One line per entry:
 * compact JSON and "\n", keys in config order unless sorted. Throws FormatError naming
 * the key path and the operator.
 */
export function compileJsonFormat(json: { [key: string]: AccessLogJsonValue }, options: Partial<JsonOptions> = {}): AccessLogFormatter {
  const full: JsonOptions = {
    typed: options.typed ?? true,
    omitEmptyValues: options.omitEmptyValues ?? false,
    sortProperties: options.sortProperties ?? false,
    reqWithoutQuery: options.reqWithoutQuery ?? false,
  };
  return new JsonFormatter(compileJsonValue(json, full, ""));
}

/** Compile a validated format from the config. Throws FormatError. */
export function compileFormat(config: AccessLogFormatConfig): AccessLogFormatter {
  if (config.type === "text") return compileTextFormat(config.format, config.omitEmptyValues, config);
  return compileJsonFormat(config.json, config);
}

/** A TLS peer's SANs of one type, comma-separated as Envoy prints them. */
function sansOf(tls: TlsSession | undefined, type: "URI" | "DNS"): string | undefined {
  const sans = tls?.peerCertificate?.subjectAltNames.filter((san) => san.type === type).map((san) => san.value);
  return sans && sans.length > 0 ? sans.join(",") : undefined;
}
