/**
 * (HTTP method, path, query) → the gRPC method a google.api.http rule maps it to, and the
 * fields its path variables and query parameters bind: grpc-httpjson-transcoding's
 * PathMatcher (src/include/grpc_transcoding/path_matcher.h, path_matcher_node.cc), as the
 * gRPC-JSON transcoder builds it (json_transcoder_filter.cc).
 *
 * The templates make a trie of segments. A lookup prefers, at each segment, a literal over
 * `*` over `**` (the rest of the path), and backtracks when the preferred branch does not
 * end in a rule (path_matcher_node.cc LookupPath); no node is tried twice.
 */
import { utf8Decode } from "../util/utf8.ts";
import type { FieldBinding } from "./descriptors.ts";
import { parseHttpTemplate, type HttpTemplate } from "./http-template.ts";

/** GrpcJsonTranscoder.UrlUnescapeSpec: what a path variable's %XX escapes become. */
export type UrlUnescapeSpec = "ALL_CHARACTERS_EXCEPT_RESERVED" | "ALL_CHARACTERS_EXCEPT_SLASH" | "ALL_CHARACTERS";

export interface PathMatcherOptions {
  readonly urlUnescapeSpec: UrlUnescapeSpec;
  /** query_param_unescape_plus: '+' in a query value is a space (HTML forms). */
  readonly queryParamUnescapePlus: boolean;
  /** match_unregistered_custom_verb: ":x" ends a path as a verb even when no template has it. */
  readonly matchUnregisteredCustomVerb: boolean;
}

/** A rule registered twice (same method, template and verb): Envoy's "Cannot register". */
export class DuplicateRuleError extends Error {}

export interface PathMatch<T> {
  readonly value: T;
  /** Path variables first, in template order, then query parameters in request order. */
  readonly bindings: FieldBinding[];
  /** The rule's body: "", "*" or a field's name. */
  readonly body: string;
}

/** A method name in a `custom` rule's kind that matches every HTTP method (path_matcher.h). */
const ANY_METHOD = "*";

interface Entry<T> {
  readonly value: T;
  readonly template: HttpTemplate;
  readonly body: string;
  /** ignored_query_parameters: never bound (the library's system parameters). */
  readonly systemParams: ReadonlySet<string>;
}

class Node<T> {
  readonly literals = new Map<string, Node<T>>();
  star: Node<T> | undefined;
  doubleStar: Node<T> | undefined;
  /** By "METHOD verb". */
  readonly results = new Map<string, Entry<T>>();
  result(method: string, verb: string): Entry<T> | undefined {
    return this.results.get(`${method} ${verb}`) ?? this.results.get(`${ANY_METHOD} ${verb}`);
  }
}

export class PathMatcherBuilder<T> {
  private readonly root = new Node<T>();
  private readonly verbs = new Set<string>();

  /**
   * Add a rule. An HttpTemplateError for a bad template; a DuplicateRuleError when the same
   * method, template shape and verb are already registered.
   */
  register(httpMethod: string, templateText: string, body: string, systemParams: ReadonlySet<string>, value: T): void {
    const template = parseHttpTemplate(templateText);
    let node = this.root;
    for (const segment of template.segments) {
      if (segment === "*") node = node.star ??= new Node<T>();
      else if (segment === "**") node = node.doubleStar ??= new Node<T>();
      else {
        let next = node.literals.get(segment);
        if (next === undefined) node.literals.set(segment, (next = new Node<T>()));
        node = next;
      }
    }
    const key = `${httpMethod} ${template.verb}`;
    if (node.results.has(key)) throw new DuplicateRuleError(`${httpMethod} ${templateText} is already registered`);
    node.results.set(key, { value, template, body, systemParams });
    if (template.verb !== "") this.verbs.add(template.verb);
  }

  build(options: PathMatcherOptions): PathMatcher<T> {
    return new PathMatcher(this.root, this.verbs, options);
  }
}

export class PathMatcher<T> {
  constructor(
    private readonly root: Node<T>,
    private readonly verbs: ReadonlySet<string>,
    private readonly options: PathMatcherOptions,
  ) {}

  /** The rule `method` `path` (without its query) matches, with its bindings; undefined for none. */
  lookup(method: string, path: string, query: string): PathMatch<T> | undefined {
    const parts = path.startsWith("/") ? path.slice(1).split("/") : path.split("/");
    // Trailing empty segments ("/v1/rooms/") are dropped (path_matcher.h ExtractRequestParts).
    while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
    let verb = "";
    if (parts.length > 0) {
      const last = parts[parts.length - 1]!;
      const colon = last.lastIndexOf(":");
      if (colon >= 0) {
        const candidate = last.slice(colon + 1);
        if (this.options.matchUnregisteredCustomVerb || this.verbs.has(candidate)) {
          verb = candidate;
          parts[parts.length - 1] = last.slice(0, colon);
        }
      }
    }
    const entry = this.find(method, verb, parts);
    if (entry === undefined) return undefined;
    const bindings: FieldBinding[] = [];
    for (const variable of entry.template.variables) {
      const toEnd = entry.template.segments[variable.end - 1] === "**";
      const end = toEnd ? parts.length : variable.end;
      // A variable over several segments keeps reserved characters escaped ("%2F" stays), as
      // http.proto says of multi-segment variables (path_matcher.h ExtractBindingsFromPath).
      const spec = toEnd || end - variable.start > 1 ? "ALL_CHARACTERS_EXCEPT_RESERVED" : this.options.urlUnescapeSpec;
      const values: string[] = [];
      for (let i = variable.start; i < end; i++) values.push(urlUnescape(parts[i]!, spec, false));
      bindings.push({ fieldPath: variable.fieldPath, value: values.join("/") });
    }
    // With body "*" every field comes from the body: the query binds nothing.
    if (entry.body !== "*" && query !== "") {
      for (const param of query.split("&")) {
        const equals = param.indexOf("=");
        if (equals <= 0) continue;
        const name = param.slice(0, equals);
        if (entry.systemParams.has(name)) continue;
        bindings.push({ fieldPath: name.split("."), value: urlUnescape(param.slice(equals + 1), "ALL_CHARACTERS", this.options.queryParamUnescapePlus) });
      }
    }
    return { value: entry.value, bindings, body: entry.body };
  }

  /**
   * Depth-first, literal before `*` before `**`. A node's depth is the segment it is tried
   * on, so each node is tried at most once: a lookup costs at most the trie's size.
   */
  private find(method: string, verb: string, parts: readonly string[]): Entry<T> | undefined {
    const walk = (node: Node<T>, i: number): Entry<T> | undefined => {
      if (i === parts.length) return node.result(method, verb) ?? node.doubleStar?.result(method, verb);
      const literal = node.literals.get(parts[i]!);
      return (
        (literal !== undefined ? walk(literal, i + 1) : undefined) ??
        (node.star !== undefined ? walk(node.star, i + 1) : undefined) ??
        node.doubleStar?.result(method, verb)
      );
    };
    return walk(this.root, 0);
  }
}

/** RFC 6570 §1.5 reserved characters (gen-delims and sub-delims). */
const RESERVED = new Set([..."!#$&'()*+,/:;=?@[]"].map((c) => c.charCodeAt(0)));

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * path_matcher.h UrlUnescapeString: %XX escapes decoded per `spec` (a malformed one is kept
 * as it is), '+' a space when `plus`. The path is a byte string (a header value: one char
 * per byte); the bytes it decodes to are read as UTF-8.
 */
export function urlUnescape(text: string, spec: UrlUnescapeSpec, plus: boolean): string {
  if (!text.includes("%") && !(plus && text.includes("+")) && !/[^\x00-\x7f]/.test(text)) return text;
  const bytes = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && i + 2 < text.length && hexValue(text.charCodeAt(i + 1)) >= 0 && hexValue(text.charCodeAt(i + 2)) >= 0) {
      const byte = (hexValue(text.charCodeAt(i + 1)) << 4) | hexValue(text.charCodeAt(i + 2));
      const keep = (spec === "ALL_CHARACTERS_EXCEPT_RESERVED" && RESERVED.has(byte)) || (spec === "ALL_CHARACTERS_EXCEPT_SLASH" && byte === 0x2f);
      if (!keep) {
        bytes[n++] = byte;
        i += 2;
        continue;
      }
    }
    bytes[n++] = plus && c === 0x2b ? 0x20 : c & 0xff;
  }
  return utf8Decode(bytes.subarray(0, n));
}
