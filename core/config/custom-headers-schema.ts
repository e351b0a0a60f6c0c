/**
 * Custom request/response headers: the request_headers_to_add/_remove and
 * response_headers_to_add/_remove fields that route_config, virtual hosts and routes
 * share (envoy.config.core.v3.HeaderValueOption).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, optionalBool, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HeaderMutations, HeaderValueOption } from "./bootstrap.ts";
import { headerName, headerValue } from "./proto-schema.ts";
import { FormatError, parseFormat, type FormatPart } from "../access-log/format.ts";
import { resolveEnvironmentCommands } from "../access-log/environment-command.ts";

/**
 * Envoy evaluates header values as substitution formats (header_parser.cc: the access
 * log's formatter, with omit_empty_values): `%%` is a literal "%", `%COMMAND%` is
 * replaced per request, and any other "%" or an unknown command is a config error.
 * A value without commands is kept as its literal text; one with commands is marked
 * (custom-headers.ts compiles and renders it).
 */
export const formattedHeaderValue = lazySchema(() =>
  headerValue.transform((text, ctx): { value: string; formatted?: true } => {
  let parts: FormatPart[];
  let format: string;
  try {
    format = resolveEnvironmentCommands(text);
    parts = parseFormat(format);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
    return z.NEVER;
  }
  // An %ENVIRONMENT(…)% value is checked as the text around it was (headerValue).
  if (format !== text && /[\0\r\n]/.test(format)) {
    ctx.addIssue({ code: "custom", message: "an %ENVIRONMENT(…)% value holds NUL, CR or LF: not a header value" });
    return z.NEVER;
  }
  if (parts.every((part) => typeof part === "string")) return { value: parts.join("") };
  return { value: format, formatted: true };
}));

/** Envoy: pseudo-headers and host are rewritten by route actions, not by header mutations. */
export const isPseudoOrHost = (name: string) => name.startsWith(":") || name === "host";

export const headerValueOption = lazySchema(() =>
  strictObject({
    header: strictObject({
      key: headerName.refine((name) => !isPseudoOrHost(name), { message: ":-prefixed or host headers may not be modified" }),
      value: formattedHeaderValue.default({ value: "" }),
    }),
    // Deprecated BoolValue: true → APPEND_IF_EXISTS_OR_ADD, false → OVERWRITE_IF_EXISTS_OR_ADD.
    append: optionalBool,
    append_action: z.enum(["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"]).optional(),
    keep_empty_value: boolFalse,
  })
  .transform((o, ctx): HeaderValueOption => {
    // Envoy: "Both append and append_action are set and it's not allowed".
    if (o.append !== undefined && o.append_action !== undefined) {
      ctx.addIssue({ code: "custom", message: "both append and append_action are set: use append_action only (append is deprecated)" });
      return z.NEVER;
    }
    const appendAction = o.append_action ?? (o.append === false ? "OVERWRITE_IF_EXISTS_OR_ADD" : "APPEND_IF_EXISTS_OR_ADD");
    const option: HeaderValueOption = { key: o.header.key, value: o.header.value.value, appendAction, keepEmptyValue: o.keep_empty_value };
    if (o.header.value.formatted) option.formatted = true;
    return option;
  }));

export const removableHeader = lazySchema(() =>
  headerName.refine((name) => !isPseudoOrHost(name), {
  message: ":-prefixed or host headers may not be removed",
}));

/** The four fields, to spread into a strict object. Envoy allows at most 1000 additions per list. */
export const headerMutationFields = {
  request_headers_to_add: lazySchema(() =>
  z.array(headerValueOption).max(1000)).default([]),
  request_headers_to_remove: lazySchema(() =>
  z.array(removableHeader)).default([]),
  response_headers_to_add: lazySchema(() =>
  z.array(headerValueOption).max(1000)).default([]),
  response_headers_to_remove: lazySchema(() =>
  z.array(removableHeader)).default([]),
};

export function headerMutations(o: {
  request_headers_to_add: HeaderValueOption[];
  request_headers_to_remove: string[];
  response_headers_to_add: HeaderValueOption[];
  response_headers_to_remove: string[];
}): HeaderMutations {
  return {
    requestHeadersToAdd: o.request_headers_to_add,
    requestHeadersToRemove: o.request_headers_to_remove,
    responseHeadersToAdd: o.response_headers_to_add,
    responseHeadersToRemove: o.response_headers_to_remove,
  };
}
