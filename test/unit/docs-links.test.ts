/**
 * The user docs hold together: every relative link in README.md, docs/*.md and the
 * runtimes' READMEs names a file that exists and, with a #fragment, a heading in it
 * (GitHub's anchor for it); and every code comment that cites a docs file's section,
 * as `docs/x.md, "Heading"` (a heading, or the start of one), names a section that exists.
 */
import { describe, expect, test } from "vitest";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");

const DOCS = [
  "README.md",
  "runtimes/README.md",
  "runtimes/memory/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** GitHub's anchor for a heading: lowercased, punctuation dropped, spaces as hyphens. */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The headings of a Markdown file (outside code blocks), as written. */
function headings(path: string): string[] {
  const found: string[] = [];
  let inCode = false;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.startsWith("```")) inCode = !inCode;
    else if (!inCode && /^#{1,6} /.test(line)) found.push(line.replace(/^#+ /, ""));
  }
  return found;
}

/** Relative link targets in a Markdown file, outside code blocks: [text](target) and ![alt](target). */
function links(path: string): string[] {
  const text = readFileSync(path, "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/.test(target));
}

describe("links between the user docs", () => {
  test.each(DOCS)("%s: every relative link resolves", (doc) => {
    const problems: string[] = [];
    for (const target of links(join(ROOT, doc))) {
      const [file, fragment] = target.split("#") as [string, string | undefined];
      const path = file === "" ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), file);
      if (!existsSync(path)) {
        problems.push(`${target}: no file ${relative(ROOT, path)}`);
        continue;
      }
      if (fragment !== undefined && path.endsWith(".md") && !headings(path).map(githubSlug).includes(fragment)) {
        problems.push(`${target}: no heading with anchor #${fragment} in ${relative(ROOT, path)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("the anchor rule matches GitHub's for the headings the docs use", () => {
    expect(githubSlug("Tail latency")).toBe("tail-latency");
    expect(githubSlug("Route action (`route`)")).toBe("route-action-route");
    expect(githubSlug("Envoy's front-proxy example")).toBe("envoys-front-proxy-example");
  });
});

/** Source files under the folders whose comments may cite the docs. */
function sources(folder: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, folder))) {
    const path = `${folder}/${name}`;
    if (name === "node_modules" || name === "results") continue;
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

test("code comments cite docs sections that exist", () => {
  const problems: string[] = [];
  for (const file of ["core", "runtimes", "bench", "scripts", "test"].flatMap(sources)) {
    if (file === "test/unit/docs-links.test.ts") continue;
    const text = readFileSync(join(ROOT, file), "utf8");
    // The section's name may continue on the comment's next line.
    for (const m of text.matchAll(/(docs\/[\w-]+\.md),(?:\s|\*|\/\/)*"([^"]+)"/g)) {
      const [, doc, quoted] = m as unknown as [string, string, string];
      const section = quoted.replace(/\s*\n\s*(?:\*|\/\/)?\s*/g, " ");
      if (!existsSync(join(ROOT, doc))) problems.push(`${file}: ${doc} does not exist`);
      else if (!headings(join(ROOT, doc)).some((h) => h === section || h.startsWith(section))) {
        problems.push(`${file}: ${doc} has no section "${section}"`);
      }
    }
  }
  expect(problems).toEqual([]);
});
