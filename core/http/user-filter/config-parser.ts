/**
 * Running a user filter's ConfigParser (http-filter-api.ts): a zod-like schema's issues,
 * or what a parse function threw, become problems at the config field's path.
 */
import type { ConfigIssue, ConfigParser } from "./http-filter-api.ts";

export type ParseOutcome = { ok: true; value: unknown } | { ok: false; problems: { path: PropertyKey[]; message: string }[] };

/** Parse `input` with `parser`; problem paths are relative to the input ([] for the input itself). */
export function runConfigParser(parser: ConfigParser<unknown>, input: unknown): ParseOutcome {
  try {
    if (typeof parser === "function") return { ok: true, value: parser(input) };
    if ("safeParse" in parser && typeof parser.safeParse === "function") {
      const result = parser.safeParse(input);
      if (result.success) return { ok: true, value: result.data };
      return { ok: false, problems: result.error.issues.map(issueProblem) };
    }
    if ("parse" in parser && typeof parser.parse === "function") return { ok: true, value: parser.parse(input) };
  } catch (err) {
    const issues = (err as { issues?: unknown }).issues;
    // zod's parse() throws a ZodError carrying its issues: report them as safeParse's are.
    if (Array.isArray(issues) && issues.every(isIssue)) return { ok: false, problems: issues.map(issueProblem) };
    return { ok: false, problems: [{ path: [], message: err instanceof Error ? err.message : String(err) }] };
  }
  return { ok: false, problems: [{ path: [], message: "the filter's config parser is neither a function nor has parse() or safeParse()" }] };
}

/** A parser is one of ConfigParser's shapes (checked when a module is loaded). */
export function isConfigParser(value: unknown): value is ConfigParser<unknown> {
  if (typeof value === "function") return true;
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as { safeParse?: unknown; parse?: unknown };
  return typeof candidate.safeParse === "function" || typeof candidate.parse === "function";
}

function isIssue(value: unknown): value is ConfigIssue {
  return typeof value === "object" && value !== null && Array.isArray((value as ConfigIssue).path) && typeof (value as ConfigIssue).message === "string";
}

function issueProblem(issue: ConfigIssue): { path: PropertyKey[]; message: string } {
  return { path: [...issue.path], message: issue.message };
}
