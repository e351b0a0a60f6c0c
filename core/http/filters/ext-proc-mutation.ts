/**
 * How the ext_proc filter applies a processor's HeaderMutation: Envoy's
 * MutationUtils::applyHeaderMutations (source/extensions/filters/http/ext_proc/mutation_utils.cc)
 * under the default HeaderMutationRules of Filters::Common::MutationRules::Checker
 * (source/extensions/filters/common/mutation_rules/mutation_rules.cc):
 * - never remove a pseudo-header or host;
 * - never touch the routing headers (host, :authority, :method, :scheme) — :method only
 *   with CONTINUE_AND_REPLACE;
 * - never append to a pseudo-header; never touch x-envoy-*;
 * - a value with NUL, CR or LF, or a :status below 200, is not taken.
 * What the rules refuse is ignored and counted (rejected_header_mutations); a name with a
 * character a header name may not have, or both value and raw_value, fails the whole
 * message (Envoy answers 500).
 */
import type { Counter } from "../../stats/counter.ts";
import type { HeaderMap } from "../header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { HeaderMutation } from "./ext-proc-proto.ts";

export const CheckOperation = { Set: 0, Append: 1, Remove: 2 } as const;
export type CheckOperation = (typeof CheckOperation)[keyof typeof CheckOperation];

/** Checker::extraRoutingHeaders: HostLegacy, Host (:authority), Method, Scheme. */
const ROUTING_HEADERS = new Set(["host", ":authority", ":method", ":scheme"]);
/** Http::Headers::get().prefix(): Envoy's own headers. */
const ENVOY_PREFIX = "x-envoy-";
/** RFC 9110 field-name (lowercased), or a pseudo-header's. */
const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const NUL_CR_LF = /[\0\r\n]/;

/** Checker::check with the default rules (disallow_is_error false): true for OK, false for IGNORE. */
export function mutationAllowed(op: CheckOperation, name: string, value: string): boolean {
  const pseudo = name.startsWith(":");
  // HeaderUtility::isModifiableHeader: no pseudo-header, no host.
  if (op === CheckOperation.Remove && (pseudo || name === "host")) return false;
  if (ROUTING_HEADERS.has(name)) return false;
  if (pseudo && op === CheckOperation.Append) return false;
  if (name.startsWith(ENVOY_PREFIX)) return false;
  if (op === CheckOperation.Remove) return true;
  // Checker::isValidValue.
  if (!pseudo && NUL_CR_LF.test(value)) return false;
  return pseudoValueValid(name, value);
}

/**
 * A pseudo-header's value must fit where it goes: `:method` and `:path` into an HTTP/1
 * request line upstream (a token; visible ASCII without space — else a processor could
 * write `GET /other HTTP/1.1` into it), `:status` into a status line (three digits, ≥ 200).
 */
function pseudoValueValid(name: string, value: string): boolean {
  if (name === ":status") return /^\d{3}$/.test(value) && Number(value) >= 200;
  if (name === ":method") return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value);
  if (name === ":path") return /^[\x21-\x7e]+$/.test(value);
  return true;
}

/** The pseudo-headers polyvoy's header objects hold as properties. */
function getHeader(headers: HeaderMap, name: string): string | undefined {
  if (headers instanceof RequestHeaders && name.startsWith(":")) return headers.header(name);
  if (headers instanceof ResponseHeaders && name === ":status") return String(headers.status);
  return headers.get(name);
}

/** Set (or add) one header; false when the header object has no such pseudo-header. */
function setHeader(headers: HeaderMap, name: string, value: string, append: boolean): boolean {
  if (name.startsWith(":")) {
    if (headers instanceof RequestHeaders) {
      if (name === ":path") headers.path = value;
      else if (name === ":method") headers.method = value;
      else return false;
      return true;
    }
    if (headers instanceof ResponseHeaders && name === ":status") {
      headers.status = Number(value);
      return true;
    }
    return false;
  }
  if (append) headers.add(name, value);
  else headers.set(name, value);
  return true;
}

/**
 * Apply `mutation` to `headers`. Returns undefined, or the error Envoy's
 * applyHeaderMutations returns (its message is the local reply's details).
 * `replacing`: CONTINUE_AND_REPLACE, which may change :method.
 */
export function applyHeaderMutation(mutation: HeaderMutation, headers: HeaderMap, replacing: boolean, rejected: Counter): string | undefined {
  for (const name of mutation.removeHeaders) {
    if (!HEADER_NAME.test(name)) {
      rejected.inc();
      return "Invalid character in remove_headers mutation.";
    }
    if (mutationAllowed(CheckOperation.Remove, name, "")) headers.remove(name);
    else rejected.inc();
  }
  for (const h of mutation.setHeaders) {
    if (h.bothValues) {
      rejected.inc();
      return "Only one of value or raw_value in the HeaderValue message should be set.";
    }
    if (!HEADER_NAME.test(h.name) || NUL_CR_LF.test(h.value)) {
      rejected.inc();
      return "Invalid character in set_headers mutation.";
    }
    const exists = getHeader(headers, h.name) !== undefined;
    let append: boolean;
    switch (h.action) {
      case 0:
        // APPEND_IF_EXISTS_OR_ADD is also "unset": the deprecated `append` decides (false: overwrite).
        append = h.append;
        break;
      case 1:
        // ADD_IF_ABSENT
        if (exists) continue;
        append = true;
        break;
      case 2:
        // OVERWRITE_IF_EXISTS_OR_ADD
        append = false;
        break;
      case 3:
        // OVERWRITE_IF_EXISTS
        if (!exists) continue;
        append = false;
        break;
      default:
        return `Invalid append_action value ${h.name}`;
    }
    const op = append && exists ? CheckOperation.Append : CheckOperation.Set;
    const allowed = (replacing && h.name === ":method" && pseudoValueValid(":method", h.value)) || mutationAllowed(op, h.name, h.value);
    if (!allowed || !setHeader(headers, h.name, h.value, append)) rejected.inc();
  }
  return undefined;
}

/** The headers as a processor is sent them: the pseudo-headers, then each field in order. */
export function headersForProcessor(headers: RequestHeaders | ResponseHeaders): [string, string][] {
  const out: [string, string][] =
    headers instanceof RequestHeaders
      ? [
          [":authority", headers.authority],
          [":path", headers.path],
          [":method", headers.method],
          [":scheme", headers.scheme],
        ]
      : [[":status", String(headers.status)]];
  for (let i = 0; i < headers.size; i++) out.push([headers.nameAt(i), headers.valueAt(i)]);
  return out;
}
