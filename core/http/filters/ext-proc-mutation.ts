/**
 * How the ext_proc filter applies a processor's HeaderMutation: Envoy's
 * MutationUtils::applyHeaderMutations (source/extensions/filters/http/ext_proc/mutation_utils.cc)
 * under the filter's HeaderMutationRules, checked as Filters::Common::MutationRules::Checker
 * does (source/extensions/filters/common/mutation_rules/mutation_rules.cc):
 * - never remove a pseudo-header or host; never append to a pseudo-header;
 * - a value with NUL, CR or LF, or a :status below 200, is not taken;
 * - then, in order: a name matching disallow_expression is refused, one matching
 *   allow_expression allowed; disallow_all refuses the rest; the routing headers (host,
 *   :authority, :method, :scheme) need allow_all_routing (:method is also taken with
 *   CONTINUE_AND_REPLACE); disallow_system refuses the other pseudo-headers; x-envoy-* needs
 *   allow_envoy.
 * What the rules refuse is ignored and counted (rejected_header_mutations) — or, with
 * disallow_is_error, fails the message (Envoy answers 500). A name with a character a header
 * name may not have, or both value and raw_value, always fails the whole message.
 */
import type { Counter } from "../../stats/counter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { HeaderMutationRulesConfig } from "../../config/bootstrap.ts";
import { compileRegex } from "../../config/regex.ts";
import { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { HeaderMutation } from "./ext-proc-proto.ts";

export const CheckOperation = { Set: 0, Append: 1, Remove: 2 } as const;
export type CheckOperation = (typeof CheckOperation)[keyof typeof CheckOperation];

/** Checker's CheckResult. */
export const CheckResult = { Ok: 0, Ignore: 1, Fail: 2 } as const;
export type CheckResult = (typeof CheckResult)[keyof typeof CheckResult];

/** Checker::extraRoutingHeaders: HostLegacy, Host (:authority), Method, Scheme. */
const ROUTING_HEADERS = new Set(["host", ":authority", ":method", ":scheme"]);
/** Http::Headers::get().prefix(): Envoy's own headers. */
const ENVOY_PREFIX = "x-envoy-";
/** RFC 9110 field-name (lowercased), or a pseudo-header's. */
const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const NUL_CR_LF = /[\0\r\n]/;

/** Envoy's default HeaderMutationRules: every field unset. */
export const DEFAULT_MUTATION_RULES: HeaderMutationRulesConfig = { allowAllRouting: false, allowEnvoy: false, disallowSystem: false, disallowAll: false, disallowIsError: false };

/** Filters::Common::MutationRules::Checker over one HeaderMutationRules, its regexes compiled once. */
export class MutationChecker {
  private readonly allowExpression: ((name: string) => boolean) | undefined;
  private readonly disallowExpression: ((name: string) => boolean) | undefined;

  constructor(readonly rules: HeaderMutationRulesConfig) {
    this.allowExpression = fullMatcher(rules.allowExpression);
    this.disallowExpression = fullMatcher(rules.disallowExpression);
  }

  /** Checker::check: OK, or IGNORE (FAIL with disallow_is_error) for a mutation the rules refuse. */
  check(op: CheckOperation, name: string, value: string): CheckResult {
    if (this.allowed(op, name, value)) return CheckResult.Ok;
    return this.rules.disallowIsError ? CheckResult.Fail : CheckResult.Ignore;
  }

  private allowed(op: CheckOperation, name: string, value: string): boolean {
    const pseudo = name.startsWith(":");
    // HeaderUtility::isModifiableHeader: no pseudo-header, no host, whatever the rules.
    if (op === CheckOperation.Remove && (pseudo || name === "host")) return false;
    if (pseudo && op === CheckOperation.Append) return false;
    if (op !== CheckOperation.Remove && !valueValid(name, value)) return false;
    if (this.disallowExpression?.(name)) return false;
    if (this.allowExpression?.(name)) return true;
    if (this.rules.disallowAll) return false;
    if (!this.rules.allowAllRouting && ROUTING_HEADERS.has(name)) return false;
    if (this.rules.disallowSystem && pseudo) return false;
    if (!this.rules.allowEnvoy && name.startsWith(ENVOY_PREFIX)) return false;
    return true;
  }
}

function fullMatcher(regex: string | undefined): ((name: string) => boolean) | undefined {
  if (regex === undefined) return undefined;
  const compiled = compileRegex(regex);
  if (!compiled.ok) throw new Error(compiled.error); // the config loader already refused it
  const re = compiled.regex;
  return (name) => re.fullMatch(name);
}

const DEFAULT_CHECKER = new MutationChecker(DEFAULT_MUTATION_RULES);

/**
 * ext_proc's ImmediateMutationChecker (ext_proc.cc): an immediate response's headers are checked
 * against fixed, permissive rules — allow_all_routing and allow_envoy — whatever mutation_rules
 * say, so that a processor can always shape its error reply.
 */
const IMMEDIATE_CHECKER = new MutationChecker({ ...DEFAULT_MUTATION_RULES, allowAllRouting: true, allowEnvoy: true });

/** Whether an immediate response may carry header `name` with `value`. */
export function immediateHeaderAllowed(name: string, value: string): boolean {
  return IMMEDIATE_CHECKER.check(CheckOperation.Set, name, value) === CheckResult.Ok;
}

/** Checker::check with the default rules: true for OK, false for IGNORE. */
export function mutationAllowed(op: CheckOperation, name: string, value: string): boolean {
  return DEFAULT_CHECKER.check(op, name, value) === CheckResult.Ok;
}

/** Checker::isValidValue: no NUL, CR or LF, and a pseudo-header's value fit for where it goes. */
function valueValid(name: string, value: string): boolean {
  if (!name.startsWith(":") && NUL_CR_LF.test(value)) return false;
  return pseudoValueValid(name, value);
}

/**
 * A pseudo-header's value must fit where it goes: `:method` and `:path` into an HTTP/1
 * request line upstream (a token; visible ASCII without space — else a processor could
 * write `GET /other HTTP/1.1` into it), `:status` into a status line (three digits, ≥ 200),
 * `:authority` / host an authority (HeaderUtility::authorityIsValid), `:scheme` http or
 * https (Utility::schemeIsValid).
 */
function pseudoValueValid(name: string, value: string): boolean {
  if (name === ":status") return /^\d{3}$/.test(value) && Number(value) >= 200;
  if (name === ":method") return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value);
  if (name === ":path") return /^[\x21-\x7e]+$/.test(value);
  if (name === ":authority" || name === "host") return /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]+$/.test(value);
  if (name === ":scheme") return value.toLowerCase() === "http" || value.toLowerCase() === "https";
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
      else if (name === ":authority") headers.authority = value;
      else if (name === ":scheme") headers.scheme = value.toLowerCase();
      else return false;
      return true;
    }
    if (headers instanceof ResponseHeaders && name === ":status") {
      headers.status = Number(value);
      return true;
    }
    return false;
  }
  if (name === "host" && headers instanceof RequestHeaders) {
    // polyvoy keeps a request's Host as its :authority (as Envoy's codecs do): one value.
    if (append && headers.authority !== "") return false;
    headers.authority = value;
    return true;
  }
  if (append) headers.add(name, value);
  else headers.set(name, value);
  return true;
}

/**
 * Apply `mutation` to `headers`. Returns undefined, or the error Envoy's
 * applyHeaderMutations returns (its message is the local reply's details).
 * `replacing`: CONTINUE_AND_REPLACE, which may change :method. `removeContentLength`: Envoy's
 * shouldRemoveContentLength (a STREAMED or BUFFERED_PARTIAL body), content-length is not set.
 */
export function applyHeaderMutation(
  mutation: HeaderMutation,
  headers: HeaderMap,
  replacing: boolean,
  rejected: Counter,
  checker: MutationChecker = DEFAULT_CHECKER,
  removeContentLength = false,
): string | undefined {
  for (const name of mutation.removeHeaders) {
    if (!HEADER_NAME.test(name)) {
      rejected.inc();
      return "Invalid character in remove_headers mutation.";
    }
    const result = checker.check(CheckOperation.Remove, name, "");
    if (result === CheckResult.Ok) {
      headers.remove(name);
      continue;
    }
    rejected.inc();
    if (result === CheckResult.Fail) return `Invalid attempt to remove ${name}`;
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
    // mutation_utils.cc: a streamed body's length is not known, so a content-length set then is skipped (not counted).
    if (removeContentLength && h.name === "content-length") continue;
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
    // Envoy takes :method with CONTINUE_AND_REPLACE whatever the rules (mutation_utils.cc).
    const result = replacing && h.name === ":method" && pseudoValueValid(":method", h.value) ? CheckResult.Ok : checker.check(op, h.name, h.value);
    if (result === CheckResult.Fail) {
      rejected.inc();
      return `Invalid attempt to modify ${h.name}`;
    }
    if (result !== CheckResult.Ok || !setHeader(headers, h.name, h.value, append)) rejected.inc();
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
