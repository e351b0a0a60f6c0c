/**
 * The shape of core/'s import graph: no import cycles (type-only imports included: a cycle
 * of types is a cycle of concepts, and it is how the value cycles start), and no file under
 * core/network/ importing from core/http/ (the network layer knows no HTTP; the HTTP
 * connection manager registers itself as a network filter from the wiring in
 * core/extensions.ts, as Envoy's extensions register through their factories).
 */
import { describe, expect, test } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dirname, "../..");
const CORE = join(ROOT, "core");

/** The relative specifiers a file imports or re-exports, `import type` included. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const specifiers: string[] = [];
  const statement = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*\s{},$]*?\s+from\s+)?["']([^"']+)["']/g;
  const dynamic = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;
  for (const pattern of [statement, dynamic]) {
    for (const match of code.matchAll(pattern)) if (match[1]!.startsWith(".")) specifiers.push(match[1]!);
  }
  return specifiers;
}

/** file (relative to ROOT) → the core files it imports. */
export function importGraph(files: Map<string, string>): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, source] of files) {
    const targets = importSpecifiers(source).map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).replace(/\.js$/, ".ts"));
    graph.set(file, [...new Set(targets.filter((t) => files.has(t)))]);
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself): every cycle. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative-free recursion is fine at core's size.
  let index = 0;
  const indices = new Map<string, number>();
  const lowlink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    lowlink.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        lowlink.set(v, Math.min(lowlink.get(v)!, lowlink.get(w)!));
      } else if (onStack.has(w)) {
        lowlink.set(v, Math.min(lowlink.get(v)!, indices.get(w)!));
      }
    }
    if (lowlink.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return cycles;
}

function coreSources(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) coreSources(path, out);
    else if (entry.name.endsWith(".ts")) out.set(relative(ROOT, path), readFileSync(path, "utf8"));
  }
  return out;
}

describe("core import graph", () => {
  const graph = importGraph(coreSources(CORE));

  test("has no import cycles (type-only imports included)", () => {
    expect(graph.size).toBeGreaterThan(10);
    expect(importCycles(graph)).toEqual([]);
  });

  test("core/network/ imports nothing from core/http/", () => {
    const crossings = [...graph].flatMap(([file, targets]) =>
      file.startsWith("core/network/") ? targets.filter((t) => t.startsWith("core/http/")).map((t) => `${file} → ${t}`) : [],
    );
    expect(crossings).toEqual([]);
  });

  test("the checks catch a cycle, a type-only import and an HTTP import", () => {
    const files = new Map([
      ["core/a.ts", `import { b } from "./b.js";`],
      ["core/b.ts", `import type { C } from "./x/c.js";\nexport const b = 1;`],
      ["core/x/c.ts", `export type { A } from "../a.js";`],
      ["core/d.ts", `// import { a } from "./a.js";\nexport const d = 1;`],
    ]);
    expect(importCycles(importGraph(files))).toEqual([["core/a.ts", "core/b.ts", "core/x/c.ts"]]);
    expect(importSpecifiers(`import {\n  a,\n  type B,\n} from "../http/x.js";`)).toEqual(["../http/x.js"]);
  });
});
