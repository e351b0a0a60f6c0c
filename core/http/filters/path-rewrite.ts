import type { ForwardAction, RouteMatchConfig } from "../../config/bootstrap.ts";
import { compileReplaceAll } from "../../config/regex.ts";

const compiled = new Map<string, RegExp>();

/**
 * The path the upstream gets (Envoy's route rewrites): prefix_rewrite replaces the
 * matched prefix (or the whole matched path); regex_rewrite substitutes every match in
 * the path (not the query), with RE2's `\1` groups as JavaScript's `$1`.
 */
export function rewritePath(path: string, match: RouteMatchConfig, action: ForwardAction): string {
  if (action.prefixRewrite !== undefined) {
    const matched = match.prefix ?? match.path;
    if (matched !== undefined) {
      const head = match.caseSensitive ? path.slice(0, matched.length) : path.slice(0, matched.length).toLowerCase();
      const want = match.caseSensitive ? matched : matched.toLowerCase();
      if (head === want) return action.prefixRewrite + path.slice(matched.length);
    }
    return path;
  }
  if (action.regexRewrite !== undefined) {
    const q = path.indexOf("?");
    const bare = q < 0 ? path : path.slice(0, q);
    const query = q < 0 ? "" : path.slice(q);
    const { pattern, substitution } = action.regexRewrite;
    let regex = compiled.get(pattern);
    if (!regex) {
      // Validated at config load; RE2 syntax is translated the same way here.
      const result = compileReplaceAll(pattern);
      if (!result.ok) return path;
      regex = result.regex;
      compiled.set(pattern, regex);
    }
    return bare.replace(regex, substitution.replace(/\\(\d)/g, "$$$1")) + query;
  }
  return path;
}
