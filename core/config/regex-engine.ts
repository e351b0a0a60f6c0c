/**
 * The RE2 engine (re2js), loaded only when something needs a regex: evaluating its module
 * is several milliseconds of CPU at every start, and most configs have no regex.
 *
 * compileRegex (regex.ts) stays synchronous, as zod's checks are: what can meet a regex
 * loads the engine first — validateConfig when the config's text names one, the admin's
 * `/stats?filter=` on its first use — and withRegexEngine runs a check again after
 * loading the engine if the check met a regex without it (RegexEngineNotLoaded), so a
 * config is reported the same whichever way it was spelt. regex-engine-static.ts loads it
 * with the module, for the library entry (core/index.ts), whose loadBootstrap is synchronous.
 */
import type * as Re2js from "re2js";

export type RegexEngine = typeof Re2js;

let engine: RegexEngine | undefined;

/** Thrown by compileRegex before the engine is loaded: a caller that can wait loads it and tries again. */
export class RegexEngineNotLoaded extends Error {
  constructor() {
    super("the RE2 engine is not loaded (await loadRegexEngine() before checking a regex)");
  }
}

export function regexEngine(): RegexEngine {
  if (engine === undefined) throw new RegexEngineNotLoaded();
  return engine;
}

export function regexEngineLoaded(): boolean {
  return engine !== undefined;
}

export function setRegexEngine(loaded: RegexEngine): void {
  engine ??= loaded;
}

export async function loadRegexEngine(): Promise<void> {
  if (engine === undefined) setRegexEngine(await import("re2js"));
}

/**
 * Whether a config's text may hold a regex: every field that carries one is named so
 * (safe_regex, regex, regex_rewrite, … and their camelCase spellings). A miss only costs
 * a second check (withRegexEngine).
 */
export function mayHoldRegex(text: string): boolean {
  return /regex/i.test(text);
}

/** `check()`, run again with the engine loaded if it met a regex without it. */
export async function withRegexEngine<T>(check: () => T): Promise<T> {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof RegexEngineNotLoaded)) throw err;
    await loadRegexEngine();
    return check();
  }
}
