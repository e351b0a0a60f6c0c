/**
 * Custom request/response headers: the request_headers_to_add/_remove and
 * response_headers_to_add/_remove fields that route_config, virtual hosts and routes
 * share (envoy.config.core.v3.HeaderValueOption).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { HeaderMutations, HeaderValueOption } from "./bootstrap.ts";
import { headerName, headerValue } from "./proto-schema.ts";

/** A %COMMAND%, %COMMAND(args)% or %COMMAND(args):N% in Envoy's substitution format. */
const COMMAND = /^%[A-Z0-9_]+(\([^)]*\))?(:[0-9]+)?%/;

/**
 * Envoy evaluates header values as substitution formats: `%%` is a literal "%",
 * `%COMMAND%` is replaced per request, and any other "%" is a config error.
 * Only literals are implemented, so a command is refused rather than sent as text.
 */
const literalHeaderValue = headerValue.transform((text, ctx) => {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "%") {
      out += text[i];
    } else if (text[i + 1] === "%") {
      out += "%";
      i++;
    } else {
      const command = COMMAND.exec(text.slice(i))?.[0];
      const message = command
        ? `header value formatting (${command}) is not supported yet: only literal values (a literal "%" is written "%%")`
        : `"%" at offset ${i} must be written "%%" (Envoy reads %...% as a formatting command)`;
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
  }
  return out;
});

/** Envoy: pseudo-headers and host are rewritten by route actions, not by header mutations. */
const isPseudoOrHost = (name: string) => name.startsWith(":") || name === "host";

export const headerValueOption = z
  .strictObject({
    header: z.strictObject({
      key: headerName.refine((name) => !isPseudoOrHost(name), { message: ":-prefixed or host headers may not be modified" }),
      value: literalHeaderValue.default(""),
    }),
    // Deprecated BoolValue: true → APPEND_IF_EXISTS_OR_ADD, false → OVERWRITE_IF_EXISTS_OR_ADD.
    append: z.boolean().optional(),
    append_action: z.enum(["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"]).optional(),
    keep_empty_value: z.boolean().default(false),
  })
  .transform((o, ctx): HeaderValueOption => {
    // Envoy: "Both append and append_action are set and it's not allowed".
    if (o.append !== undefined && o.append_action !== undefined) {
      ctx.addIssue({ code: "custom", message: "both append and append_action are set: use append_action only (append is deprecated)" });
      return z.NEVER;
    }
    const appendAction = o.append_action ?? (o.append === false ? "OVERWRITE_IF_EXISTS_OR_ADD" : "APPEND_IF_EXISTS_OR_ADD");
    return { key: o.header.key, value: o.header.value, appendAction, keepEmptyValue: o.keep_empty_value };
  });

export const removableHeader = headerName.refine((name) => !isPseudoOrHost(name), {
  message: ":-prefixed or host headers may not be removed",
});

/** The four fields, to spread into a strict object. Envoy allows at most 1000 additions per list. */
export const headerMutationFields = {
  request_headers_to_add: z.array(headerValueOption).max(1000).default([]),
  request_headers_to_remove: z.array(removableHeader).default([]),
  response_headers_to_add: z.array(headerValueOption).max(1000).default([]),
  response_headers_to_remove: z.array(removableHeader).default([]),
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
