/**
 * Cost of one RE2::FullMatch per engine, in ns, for route and header regexes like those
 * in Envoy's docs — the figures behind core/config/regex.ts's choice of re2js:
 *
 *   npx tsx bench/regex-engines.ts            # also: npx bun …, npx deno run -A …
 *
 * Engines: JavaScript's RegExp (backtracking: what the core used before, as `^(?:…)$`),
 * the core's CompiledRegex (re2js), and re2-wasm (C++ RE2 in WebAssembly) when it is
 * installed — it is not a dependency: `npm i --no-save re2-wasm@1.0.2` to compare it.
 * A last row times a hostile path against `/(a+)+`, native RegExp on 24 `a`s only (its
 * cost doubles with each one; 40 take minutes).
 */
import { compileRegex } from "../core/config/regex.ts";
// compileRegex is synchronous: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../core/config/regex-engine-static.ts";

interface Case {
  pattern: string;
  input: string;
}

const CASES: Case[] = [
  { pattern: "/users/[0-9]+", input: "/users/12345" },
  { pattern: "^/api/v[0-9]+/users/[^/]+$", input: "/api/v2/users/alice" },
  { pattern: "^/api/v[0-9]+/users/[^/]+$", input: "/api/v2/orders/17/items" },
  // Envoy's route_components.proto examples (regex_rewrite, here full-matched).
  { pattern: "^/service/([^/]+)(/.*)$", input: "/service/foo/v1/api" },
  { pattern: "(?i)/xxx/.*", input: "/XXX/yyy/zzz" },
  { pattern: "/static/.*\\.(css|js|png|jpg)", input: "/static/app/bundle.min.js" },
  { pattern: "(?i)bearer [a-z0-9._~+/-]+=*", input: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abc-def" },
  { pattern: "[0-9]+", input: "1234567" },
];

const ROUNDS = 200_000;

/** Median of 5 runs of `rounds` calls, in ns per call. */
function nsPerCall(fn: () => boolean, rounds = ROUNDS): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < rounds; i++) fn();
    runs.push(((performance.now() - start) * 1e6) / rounds);
  }
  return runs.sort((a, b) => a - b)[2]!;
}

type Engine = { name: string; compile(pattern: string): (input: string) => boolean };

const engines: Engine[] = [
  {
    name: "RegExp",
    compile(pattern) {
      const re = new RegExp(`^(?:${pattern.replace(/^\(\?i\)/, "")})$`, pattern.startsWith("(?i)") ? "i" : "");
      return (input) => re.test(input);
    },
  },
  {
    name: "re2js",
    compile(pattern) {
      const result = compileRegex(pattern);
      if (!result.ok) throw new Error(result.error);
      const re = result.regex;
      return (input) => re.fullMatch(input);
    },
  },
];

try {
  const { RE2 } = (await import("re2-wasm" as string)) as { RE2: new (source: string, flags: string) => { test(s: string): boolean } };
  engines.push({
    name: "re2-wasm",
    compile(pattern) {
      const re = new RE2(`^(?:${pattern})$`, "u");
      return (input) => re.test(input);
    },
  });
} catch {
  // Not installed: compare the two above.
}

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : `node`;
console.log(`# RE2::FullMatch, ns per call (median of 5 × ${ROUNDS}), on ${runtime}`);
console.log(["pattern", "input", ...engines.map((e) => e.name)].join("\t"));
for (const { pattern, input } of CASES) {
  const row = engines.map((engine) => {
    const match = engine.compile(pattern);
    return `${nsPerCall(() => match(input)).toFixed(0)}${match(input) ? "" : " (no)"}`;
  });
  console.log([pattern, input, ...row].join("\t"));
}

const hostile = (n: number) => `/${"a".repeat(n)}!`;
const row = engines.map((engine) => {
  const match = engine.compile("/(a+)+");
  const n = engine.name === "RegExp" ? 24 : 40;
  return `${(nsPerCall(() => match(hostile(n)), engine.name === "RegExp" ? 3 : 2_000) / 1000).toFixed(1)} µs (${n} a's)`;
});
console.log(["/(a+)+", "/a…a!", ...row].join("\t"));
