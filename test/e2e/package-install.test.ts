/**
 * The npm package as a user gets it: `npm pack` (its prepack builds dist/), installed from
 * the tarball into an empty folder outside the repository with `npm install --offline`,
 * then on each runtime the `polyvoy` command as the README gives it (`npx polyvoy`,
 * `bunx polyvoy`, `deno run -A npm:polyvoy`: --version, --mode validate, one proxied
 * request) and the library (`import "polyvoy"`, "polyvoy/core", the .d.ts). And the
 * one-file bundles from the package (dist/polyvoy-node.mjs …), copied alone into an
 * empty folder, run a config with nothing installed.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, RUNTIMES, type RuntimeName } from "../support/proxy-process.ts";
import { buildingAllEntries } from "../support/built-entries.ts";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream } from "../support/http-upstream.ts";

const BIN = join(ROOT, "node_modules/.bin");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
let work: string;
let app: string;
let tarballFiles: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "polyvoy-package-"));
  // Its prepack builds every runtime's entry: the tests that need one built take them as built.
  const out = buildingAllEntries(() => execFileSync("npm", ["pack", "--pack-destination", work], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
  const tarball = join(work, out.trim().split("\n").at(-1)!);
  tarballFiles = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean);
  app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // Offline: npm's cache holds the dependencies' tarballs (npm ci) but not their registry
  // metadata, so they are laid in node_modules first, from this checkout's, as a registry
  // install would lay them; npm then finds them satisfied and fetches nothing.
  for (const name of Object.keys(pkg.dependencies)) cpSync(join(ROOT, "node_modules", name), join(app, "node_modules", name), { recursive: true });
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: app, stdio: "pipe" });
  // npm pack builds every bundle first (prepack): ~60 s on an idle 2-core machine, past 120 s under load.
}, 360_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the tarball holds the command, the built JavaScript with its types, the sources and LICENSE; no tests, bench (but what `polyvoy compare` runs), CI or docs", () => {
  const files = tarballFiles.map((f) => f.replace(/^package\//, ""));
  for (const f of ["LICENSE", "README.md", "package.json", "bin/polyvoy.js", "bin/node-code-cache.js", "dist/polyvoy-node.mjs", "dist/polyvoy-bun.js", "dist/polyvoy-bun.js.jsc", "dist/polyvoy-deno.js", "dist/deno/main.mjs", "dist/bun/main.js", "dist/bun/main.js.jsc", "dist/polyvoy-core.mjs"]) {
    expect(files).toContain(f);
  }
  for (const f of ["dist/lib/node.mjs", "dist/lib/deno.mjs", "dist/types/runtimes/node/index.d.ts", "dist/types/core/index.d.ts", "runtimes/bun/index.ts"]) expect(files).toContain(f);
  const compareFiles = /^bench\/(compare\.mjs|lib\/[\w-]+\.mjs|load\/[\w-]+\.(mjs|lua)|peers\/bun-origin\.ts)$/;
  expect(files.filter((f) => !compareFiles.test(f) && /^(test|bench|docs|scripts|examples|\.ci)\/|\.test\.ts$|^(vitest\.config|tsconfig|deno)\.json|^vitest/.test(f))).toEqual([]);
  expect(files).toContain("bench/compare.mjs");
  expect(files.filter((f) => /^bench\/(run\.mjs|core-ab|soak|results)/.test(f))).toEqual([]);
  expect(files.filter((f) => f.startsWith("runtimes/memory/"))).toEqual([]);
  expect(readFileSync(join(app, "node_modules/polyvoy/LICENSE"), "utf8")).toContain("Apache License\n                           Version 2.0, January 2004");
  expect(pkg.private).toBeUndefined();
});

/** The files of the package reached from `entry` by `specifiers` (each a chunk's relative imports). */
function reachedFrom(entry: string, specifiers: RegExp): Set<string> {
  const reached = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (reached.has(file)) continue;
    reached.add(file);
    const source = readFileSync(join(app, "node_modules/polyvoy", file), "utf8");
    for (const [, specifier] of source.matchAll(specifiers)) queue.push(join(file, "..", specifier!));
  }
  return reached;
}

test("the tarball holds each chunk of the deno command (dist/deno/) that it imports, statically or by import(), and no other", () => {
  const files = tarballFiles.map((f) => f.replace(/^package\//, "")).filter((f) => f.startsWith("dist/deno/"));
  // esbuild's minified ESM: import{…}from"./x.mjs", import"./x.mjs", import("./x.mjs").
  const reached = reachedFrom("dist/deno/main.mjs", /\bimport\s*(?:\(\s*|[^"'()]*?from\s*)?["'](\.{1,2}\/[^"']+)["']/g);
  // Not an empty walk: the config loader and a filter come by import().
  expect([...reached].some((f) => /\/load-\w+\.mjs$/.test(f))).toBe(true);
  expect([...reached].some((f) => /\/header-mutation-\w+\.mjs$/.test(f))).toBe(true);
  expect([...reached].sort()).toEqual([...files].sort());
});

test("the tarball holds each chunk of the bun command (dist/bun/) that it requires, each with its bytecode, and no other", () => {
  const files = tarballFiles.map((f) => f.replace(/^package\//, "")).filter((f) => f.startsWith("dist/bun/"));
  // CommonJS: a static import is require("./x.js"), an import() Promise.resolve().then(()=>require("./x.js")).
  const reached = reachedFrom("dist/bun/main.js", /\brequire\(["'](\.{1,2}\/[^"']+)["']\)/g);
  expect([...reached].some((f) => /\/load-\w+\.js$/.test(f))).toBe(true);
  expect([...reached].some((f) => /\/header-mutation-\w+\.js$/.test(f))).toBe(true);
  for (const file of reached) {
    // Bun reads the bytecode beside a file whose first line says so (bun build --bytecode).
    expect(readFileSync(join(app, "node_modules/polyvoy", file), "utf8")).toMatch(/^\/\/ @bun @bytecode @bun-cjs\n/);
  }
  expect([...reached].flatMap((f) => [f, `${f}.jsc`]).sort()).toEqual([...files].sort());
});

/** The command as the README gives it for each runtime. */
function command(runtime: RuntimeName): [string, string[]] {
  switch (runtime) {
    case "node":
      return ["npx", ["polyvoy"]];
    case "bun":
      return [join(BIN, "bunx"), ["polyvoy"]];
    case "deno":
      return [join(BIN, "deno"), ["run", "-A", "npm:polyvoy"]];
  }
}

/** PATH with this checkout's bun and deno, as a user who installed them has them. */
const env = { ...process.env, PATH: `${BIN}:${process.env.PATH}` };

async function proxiesOneRequest(cmd: string, args: string[], cwd: string, runtime: RuntimeName): Promise<void> {
  const upstream = await httpUpstream((req, res) => res.end(`packaged ${req.url}`));
  const port = await freePort();
  const config = join(cwd, `envoy-${runtime}.json`);
  // A regex route (re2js) and a filter other than the router: modules loaded by import(),
  // from the deno command's chunks (dist/deno/) or inside a one-file bundle.
  const httpFilters = [
    {
      name: "envoy.filters.http.header_mutation",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        mutations: { response_mutations: [{ append: { header: { key: "x-packaged", value: runtime }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }] },
      },
    },
    { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
  ];
  const routes = [{ match: { safe_regex: { regex: "/hel+o" } }, cluster: "up" }];
  writeFileSync(config, JSON.stringify(httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes, hcm: { http_filters: httpFilters } })));
  const proxy = new CommandProcess(cmd, [...args, "-c", config, "--concurrency", "1"], cwd, env);
  try {
    await proxy.waitFor("listening on");
    expect(proxy.stderr).toContain(`starting on ${runtime} `);
    const res = await fetch(`http://127.0.0.1:${port}/hello`);
    expect(await res.text()).toBe("packaged /hello");
    expect(res.headers.get("server")).toBe("envoy");
    expect(res.headers.get("x-packaged")).toBe(runtime);
  } finally {
    // The whole group gets SIGTERM: the launchers (npx, bunx) may die of it before the proxy reports.
    await proxy.stop();
    await upstream.close();
  }
  expect(proxy.stderr).toMatch(/caught SIGTERM, shutting down\n.*exiting\n/);
}

describe.each(RUNTIMES)("the installed package on %s", (runtime) => {
  test("the polyvoy command: --version, --mode validate (good and bad config), and proxying one request", async () => {
    const [cmd, args] = command(runtime);
    const run = (more: string[]) => {
      const result = spawnSync(cmd, [...args, ...more], { cwd: app, env, encoding: "utf8" });
      return { code: result.status, out: result.stdout + result.stderr };
    };
    expect(run(["--version"])).toEqual({ code: 0, out: expect.stringMatching(new RegExp(`^polyvoy ${pkg.version} \\(${runtime} `)) });
    writeFileSync(join(app, "good.yaml"), "static_resources: {}\n");
    writeFileSync(join(app, "bad.yaml"), "static_resources: { clusters: [ { name: c, lb_policy: FOO } ] }\n");
    expect(run(["-c", "good.yaml", "--mode", "validate"])).toEqual({ code: 0, out: expect.stringContaining("configuration 'good.yaml' OK") });
    const bad = run(["-c", "bad.yaml", "--mode", "validate"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("lb_policy");
    await proxiesOneRequest(cmd, args, app, runtime);
  });

  test("import \"polyvoy\" gives that runtime's adapter and the core API, sharing classes with \"polyvoy/core\"", () => {
    writeFileSync(
      join(app, "use.mjs"),
      `import * as polyvoy from "polyvoy";\nimport * as core from "polyvoy/core";\nimport { WriteQueue } from "polyvoy/kit";\n` +
        `console.log(JSON.stringify({ adapters: Object.keys(polyvoy).filter((n) => /^create\\w+Runtime$/.test(n)), runMain: typeof polyvoy.runMain, version: core.VERSION, ` +
        `sameClasses: polyvoy.ConfigError === core.ConfigError, kit: typeof WriteQueue, runtime: typeof polyvoy["create${runtime[0]!.toUpperCase()}${runtime.slice(1)}Runtime"]() }));\n` +
        `process.exit(0);\n`,
    );
    const [cmd, args] = runtime === "node" ? [process.execPath, []] : runtime === "bun" ? [join(BIN, "bun"), []] : [join(BIN, "deno"), ["run", "-A"]];
    const out = JSON.parse(execFileSync(cmd, [...args, "use.mjs"], { cwd: app, encoding: "utf8" }));
    const name = `create${runtime[0]!.toUpperCase()}${runtime.slice(1)}Runtime`;
    expect(out).toEqual({ adapters: [name], runMain: "function", version: pkg.version, sameClasses: true, kit: "function", runtime: "object" });
  });

  test("every subpath package.json exports loads (./bun on Bun only: it is the TypeScript source)", () => {
    const subpaths = Object.keys(pkg.exports).filter((s) => s !== "./package.json" && (s !== "./bun" || runtime === "bun"));
    // A .ts module on bun and deno, as a user of those runtimes writes it; .mjs on node.
    const file = runtime === "node" ? "subpaths.mjs" : "subpaths.ts";
    writeFileSync(
      join(app, file),
      "const out = {};\n" +
        subpaths.map((s) => `out[${JSON.stringify(s)}] = Object.keys(await import(${JSON.stringify(`polyvoy${s.slice(1)}`)})).length;\n`).join("") +
        "console.log(JSON.stringify(out));\nprocess.exit(0);\n",
    );
    const [cmd, args] = runtime === "node" ? [process.execPath, []] : runtime === "bun" ? [join(BIN, "bun"), []] : [join(BIN, "deno"), ["run", "-A"]];
    const out = JSON.parse(execFileSync(cmd, [...args, file], { cwd: app, encoding: "utf8" })) as Record<string, number>;
    expect(Object.keys(out).sort()).toEqual(subpaths.sort());
    for (const [subpath, exported] of Object.entries(out)) expect(exported, subpath).toBeGreaterThan(3);
  });

  test("the one-file bundle, alone in an empty folder, runs a config", async () => {
    const file = { node: "polyvoy-node.mjs", bun: "polyvoy-bun.js", deno: "polyvoy-deno.js" }[runtime];
    const folder = join(work, `vendored-${runtime}`);
    mkdirSync(folder);
    copyFileSync(join(app, "node_modules/polyvoy/dist", file), join(folder, file));
    const [cmd, args] = runtime === "node" ? [process.execPath, [file]] : runtime === "bun" ? [join(BIN, "bun"), [file]] : [join(BIN, "deno"), ["run", "-A", file]];
    await proxiesOneRequest(cmd, args, folder, runtime);
  });
});

test("`npx polyvoy compare` from the package measures a config under node, bun and deno (the prebuilt entries)", async () => {
  const port = await freePort();
  const config = join(app, "compare.json");
  writeFileSync(config, JSON.stringify(httpProxyConfig({ listenPort: port, clusters: {}, routes: [{ match: { prefix: "/" }, action: { direct_response: { status: 200, body: { inline_string: "ok" } } } }] })));
  const result = spawnSync("npx", ["polyvoy", "compare", "-c", "compare.json", "--quick", "--duration", "1s", "--warmup", "0", "--out", "compare-out"], { cwd: app, env, encoding: "utf8", timeout: 120_000 });
  expect(result.status, result.stderr).toBe(0);
  const doc = JSON.parse(readFileSync(join(app, "compare-out/results.json"), "utf8"));
  for (const runtime of RUNTIMES) expect(doc.summary.runtimes[runtime].targets.t1.rps.median, runtime).toBeGreaterThan(0);
}, 150_000);

// Each tsc run takes ~8 s here: @types/node with nodenext, none with the other two (a
// project without it: the declarations need none).
describe.each([
  ["nodenext", "nodenext", true],
  ["node16", "node16", false],
  ["bundler", "esnext", false],
])("the package's type declarations, moduleResolution %s", (moduleResolution, module, nodeTypes) => {
  test(`check against a program that uses every subpath, ${nodeTypes ? "with" : "without"} @types/node`, () => {
    const folder = join(app, `types-${moduleResolution}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, "use.ts"),
      `import { createNodeRuntime, runMain, ConfigError, type Bootstrap, type HttpFilterDefinition } from "polyvoy";\nimport { VERSION } from "polyvoy/core";\n` +
        `import { WriteQueue } from "polyvoy/kit";\nimport { createNodeRuntime as fromNode } from "polyvoy/node";\nimport { createBunRuntime } from "polyvoy/bun";\n` +
        `import { createDenoRuntime } from "polyvoy/deno";\nimport { runMain as bundled } from "polyvoy/polyvoy-core.mjs";\nimport * as kitBundle from "polyvoy/polyvoy-adapter-kit.mjs";\n` +
        `const version: string = VERSION;\nconst run: Promise<void> = runMain(createNodeRuntime(), ["--version"]);\nconst err: Error = new ConfigError([]);\nexport type B = Bootstrap;\n` +
        `export const filter = { config: (c: unknown) => c, create: () => ({}) } satisfies HttpFilterDefinition<unknown>;\n` +
        `void version; void run; void err; void WriteQueue; void fromNode; void createBunRuntime; void createDenoRuntime; void bundled; void kitBundle;\n`,
    );
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const check = (types: string[]) => {
      const args = ["--noEmit", "--strict", "--module", module as string, "--moduleResolution", moduleResolution as string, "--target", "es2022", ...types, "use.ts"];
      try {
        return execFileSync(process.execPath, [tsc, ...args], { cwd: folder, encoding: "utf8", stdio: "pipe" });
      } catch (err) {
        return (err as { stdout: string }).stdout;
      }
    };
    expect(check(nodeTypes ? ["--typeRoots", join(ROOT, "node_modules/@types"), "--types", "node"] : ["--typeRoots", join(folder, "no-types")])).toBe("");
  });
});
