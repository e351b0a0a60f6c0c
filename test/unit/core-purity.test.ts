/**
 * core/ must run unchanged on any runtime: it reaches the outside world only through
 * the port (core/port.ts). This test fails if any core file imports a runtime module,
 * touches a runtime global, reads randomness or time other than through the port, or
 * names a runtime, engine or allocator (code and comments alike: what is true of one
 * runtime is said in its adapter, under runtimes/).
 */
import { describe, expect, test } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dirname, "../..");
const CORE = join(ROOT, "core");

/**
 * Packages the core may import (pure JavaScript, bundled into the core). Not zod: the config
 * layer's schemas use the schema kit (core/config/schema-kit), which the package loads instead.
 */
const ALLOWED_PACKAGES = new Set(["yaml", "re2js", "fengari"]);

const FORBIDDEN: [RegExp, string][] = [
  [/\bfrom\s+["'](node:[^"']*|bun|bun:[^"']*)["']/, "imports a runtime module"],
  [/\bimport\s*\(\s*["'](node:|bun)/, "imports a runtime module dynamically"],
  [/\brequire\s*\(/, "uses require()"],
  [/\bDeno\s*\./, "uses the Deno global"],
  [/\bBun\s*\./, "uses the Bun global"],
  [/\bprocess\s*\./, "uses process"],
  // Not Envoy's message name in a type URL ("….buffer.v3.Buffer", the buffer filter's config).
  [/(?<!\.v3\.)\bBuffer\b/, "uses Buffer"],
  [/\bglobalThis\s*\.\s*(Deno|Bun|process|Buffer)\b/, "reaches a runtime global through globalThis"],
  // Randomness and time come through the port (Runtime.random, randomBytes, now,
  // wallClock): the memory runtime's seed then replays a run byte for byte.
  [/\bMath\s*\.\s*random\b/, "uses Math.random (Runtime.random is the port's)"],
  [/\bcrypto\b/, "uses crypto (Runtime.randomBytes is the port's)"],
  [/\bDate\b/, "uses Date (Runtime.wallClock is the port's; util/civil-time.ts formats it)"],
  [/\bperformance\b/, "uses performance (Runtime.now is the port's)"],
];

/** Runtimes, engines and allocators the core does not name, in code or comments. */
const NAMED = /\b(bun|deno|v8|jsc|javascriptcore|eden|mimalloc|glibc)\b/i;

/** Problems in one file's source, as `file:line: what`. Comments are skipped. */
export function purityProblems(file: string, source: string): string[] {
  const problems: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "));
  source.split("\n").forEach((line, i) => {
    const named = line.match(NAMED)?.[0];
    if (named) problems.push(`${file}:${i + 1}: names "${named}" (say it in the adapter): ${line.trim()}`);
  });
  code.split("\n").forEach((line, i) => {
    const text = line.replace(/\/\/.*$/, "");
    for (const [pattern, what] of FORBIDDEN) if (pattern.test(text)) problems.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    const specifier = text.match(/\bfrom\s+["']([^"']+)["']/)?.[1];
    if (specifier && !specifier.startsWith(".") && !ALLOWED_PACKAGES.has(specifier.split("/")[0]!)) {
      problems.push(`${file}:${i + 1}: imports package "${specifier}", which is not on the core's allowed list`);
    }
  });
  return problems;
}

function coreFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return coreFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

describe("core purity", () => {
  test("no file under core/ imports node:*, bun, uses Deno, Bun, process, Buffer, require, Math.random, crypto, Date, performance, or names a runtime, engine or allocator", () => {
    const files = coreFiles(CORE);
    expect(files.length).toBeGreaterThan(10);
    const problems = files.flatMap((file) => purityProblems(relative(ROOT, file), readFileSync(file, "utf8")));
    expect(problems).toEqual([]);
  });

  test("the check catches each kind of violation", () => {
    const bad = [
      `import * as net from "node:net";`,
      `import { serve } from "bun";`,
      `const fs = require("fs");`,
      `Deno.listen({ port: 1 });`,
      `Bun.connect({});`,
      `process.exit(1);`,
      `const b = Buffer.from("x");`,
      `import express from "express";`,
      `const r = Math.random();`,
      `globalThis.crypto.getRandomValues(bytes);`,
      `const t = Date.now();`,
      `const s = new Date(ms).toISOString();`,
      `const t = performance.now();`,
      `// On Bun this is faster`,
      ` * JavaScriptCore's eden collections`,
      `/* glibc's malloc */`,
      `// V8 makes a backing store`,
      `const slabs = runtime.name === "deno";`,
    ];
    for (const line of bad) expect(purityProblems("x.ts", line), line).not.toEqual([]);
    expect(purityProblems("x.ts", `// Buffer and process.exit in a comment are fine\nimport { parse } from "yaml";`)).toEqual([]);
    expect(purityProblems("x.ts", `// Date.now() and Math.random() in a comment are fine\nconst bundle = "x"; // a "node" config field too`)).toEqual([]);
  });
});
