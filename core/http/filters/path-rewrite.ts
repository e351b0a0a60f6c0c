import type { ForwardAction, RouteMatchConfig } from "../../config/bootstrap.ts";
import { type CompiledRegex, compileRegex } from "../../config/regex.ts";

const compiled = new Map<string, CompiledRegex>();

/**
 * The path the upstream gets (Envoy's route rewrites): prefix_rewrite replaces the
 * matched prefix (or the whole matched path); regex_rewrite substitutes every match in
 * the path (not the query), as RE2::GlobalReplace (core/config/regex.ts).
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
      // Validated at config load.
      const result = compileRegex(pattern);
      if (!result.ok) return path;
      regex = result.regex;
      compiled.set(pattern, regex);
    }
    return regex.replaceAll(bare, substitution) + query;
  }
  return path;
}
