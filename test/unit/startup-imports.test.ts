/**
 * What the proxy loads before it reads its config: each runtime's main.ts and what it
 * imports statically. The schema kit (core/config/schema-kit/), the config schemas and the Envoy field tables come only with the
 * config loader (core/config/load.ts), which core/main.ts imports when it validates a config
 * (core/config/validate-config.ts).
 * A static import of a schema file from the proxy's code (for a constant, say) would bring
 * them all back into every start-up.
 */
import { describe, expect, test } from "vitest";
import { transform, type Metafile } from "esbuild";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { moduleGraph, reachable, ROOT } from "../support/module-graph.ts";

/** The inputs reachable from `entry` through static imports only (what loads at start-up), and the runtime modules they import. */
async function staticallyLoaded(entry: string, externals?: Set<string>): Promise<string[]> {
  return reachable(await moduleGraph(entry), entry, externals);
}

/**
 * The runtime modules (node:…) that `entry`'s one-file bundle imports statically, each with
 * the files importing it. Every file the bundle holds counts, those reached through a
 * dynamic import too: esbuild puts a bundled file's static imports of external modules at
 * the top of the one file, so they load at start whenever the file is bundled.
 */
async function bundleStaticRuntimeImports(entry: string): Promise<Map<string, string[]>> {
  const metafile = await moduleGraph(entry);
  const imports = new Map<string, string[]>();
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const imported of metafile.inputs[file]?.imports ?? []) {
      if (imported.external) {
        if (imported.kind !== "dynamic-import") imports.set(imported.path, [...(imports.get(imported.path) ?? []), file]);
        continue;
      }
      if (seen.has(imported.path)) continue;
      seen.add(imported.path);
      queue.push(imported.path);
    }
  }
  return imports;
}

describe("start-up imports", () => {
  for (const runtime of ["node", "bun", "deno"]) {
    test(`runtimes/${runtime}/main.ts loads no schema kit, config schema or Envoy field table before the config`, async () => {
      const loaded = await staticallyLoaded(`runtimes/${runtime}/main.ts`);
      expect(loaded).toContain("core/server.ts");
      const configOnly = loaded.filter((path) => /node_modules\/zod\/|core\/config\/schema-kit\/|-schema\.ts$|core\/config\/(schema|load|envoy-fields|envoy-messages)\.ts$/.test(path));
      expect(configOnly).toEqual([]);
    });
  }

  for (const runtime of ["node", "bun"]) {
    test(`runtimes/${runtime}/main.ts imports none of node:tls, node:crypto, node:http, node:zlib, node:dns at start (runtimes/kit/builtins.ts loads them on first use)`, async () => {
      const externals = new Set<string>();
      await staticallyLoaded(`runtimes/${runtime}/main.ts`, externals);
      // What each imports at start for sure (node's sockets, the file services Bun shares with node): the check sees them.
      expect(externals.has(runtime === "node" ? "node:net" : "node:fs")).toBe(true);
      expect([...externals].filter((path) => /^node:(tls|crypto|http|https|http2|zlib|dns)(\/|$)/.test(path))).toEqual([]);
    });
  }

  // On Deno each node: module costs 10–40 ms of start-up to load (runtimes/README.md, "Deno:
  // no node: module on the start path"): the deno entry imports them where a feature needs
  // them (import(), or runtimes/kit/builtins.ts), never statically.
  test("runtimes/deno/main.ts, bundled as dist/polyvoy-deno.js, imports no node: module statically, from any file it bundles", async () => {
    const imports = await bundleStaticRuntimeImports("runtimes/deno/main.ts");
    expect(Object.fromEntries(imports)).toEqual({});
  });

  test("the deno check sees a static node: import in a file reached only through a dynamic import, and only that", async () => {
    const dynamicOnly = await bundleStaticRuntimeImports("test/unit/fixtures/startup-imports/dynamic-entry.ts");
    expect([...dynamicOnly.keys()]).toEqual(["node:os"]);
  });

  test("runtimes/bun/main.ts imports only node:fs, node:buffer and bun:jsc at start (Bun compiles each node: module it loads)", async () => {
    const externals = new Set<string>();
    await staticallyLoaded("runtimes/bun/main.ts", externals);
    expect([...externals].sort()).toEqual(["bun:jsc", "node:buffer", "node:fs"]);
  });

  test("the Bun entry's modules use the global process, not node:process's default export", async () => {
    // esbuild's CommonJS bundle (the Bun entry, for its bytecode) copies every property of a
    // module imported as a whole; on Bun that builds process.stdin, stdout and stderr as Node
    // streams, ~25 ms of CPU at each start (docs/performance.md, "Start-up on bun and deno").
    const loaded = await staticallyLoaded("runtimes/bun/main.ts");
    expect(loaded).toContain("runtimes/kit/launcher-watch.ts");
    const whole = loaded.filter((path) => !path.includes("node_modules/") && /import\s+(\*\s+as\s+)?\w+\s+from\s+["']node:process["']/.test(readFileSync(join(ROOT, path), "utf8")));
    expect(whole).toEqual([]);
  });

  // A config evaluates the code of the subsystems it uses only (core/extensions.ts's filters,
  // the admin, TLS, xDS over gRPC, health checkers, HTTP/2): their modules are bundled, but
  // reached from the entry through import() alone, so esbuild leaves their top level in a
  // function run on that import. The modules are the targets of those files' import()s, read
  // from the metafile: a filter registered lazily tomorrow is checked without a change here.
  const LAZY_IMPORTERS = ["core/extensions.ts", "core/server.ts", "core/network/listener.ts", "core/upstream/cluster.ts", "core/upstream/cluster-manager.ts", "core/http/conn-manager/connection-manager.ts", "core/tracing/zipkin-loader.ts", "core/tracing/opentelemetry-loader.ts"];
  /**
   * Modules only the lazily loaded ones import, which must not load at start either: the
   * HTTP/2 code (the HCM's HTTP/2 side, the codec and HPACK; the HTTP/2 and mixed pools)
   * loads with the first HTTP/2 connection or a cluster that may use it, the HTTP and gRPC
   * health checkers with a cluster's health_checks, the zipkin tracer's B3 code with a tracer.
   */
  const LOADED_WITH_THEM = [
    "core/admin/config-dump.ts",
    "core/tls/ocsp-stapler.ts",
    "core/http/conn-manager/http2-connection-manager.ts",
    "core/http/codec/http2-server-codec.ts",
    "core/http2/connection.ts",
    "core/http2/hpack-decoder.ts",
    "core/http2/frame-parser.ts",
    "core/upstream/http2-conn-pool.ts",
    "core/upstream/mixed-conn-pool.ts",
    "core/upstream/http-health-checker.ts",
    "core/upstream/grpc-health-checker.ts",
    "core/tracing/b3.ts",
  ];

  /** The targets of `importers`' import()s in `metafile`. */
  function dynamicImportTargets(metafile: Metafile, importers: readonly string[]): string[] {
    const targets = new Set<string>();
    for (const importer of importers) {
      for (const imported of metafile.inputs[importer]?.imports ?? []) {
        if (imported.kind === "dynamic-import" && !imported.external) targets.add(imported.path);
      }
    }
    return [...targets].sort();
  }

  test("the lazily loaded modules are read from the import()s of the files that load them", async () => {
    const targets = dynamicImportTargets(await moduleGraph("runtimes/node/main.ts"), LAZY_IMPORTERS);
    // Not an empty derivation: 24 filter modules (and their stats/client modules), the admin, TLS, xDS.
    expect(targets.length).toBeGreaterThanOrEqual(28);
    expect(targets).toEqual(expect.arrayContaining(["core/admin/admin.ts", "core/tls/ssl-socket-factory.ts", "core/network/tcp-proxy.ts", "core/http/filters/header-mutation.ts", "core/http/async-client.ts"]));
  });

  for (const runtime of ["node", "bun", "deno"]) {
    test(`runtimes/${runtime}/main.ts reaches the filters other than the HCM and router, the admin and TLS through import() only`, async () => {
      const metafile = await moduleGraph(`runtimes/${runtime}/main.ts`);
      const loaded = reachable(metafile, `runtimes/${runtime}/main.ts`);
      expect(loaded).toContain("core/http/filters/router.ts");
      const loadedOnUse = [...dynamicImportTargets(metafile, LAZY_IMPORTERS), ...LOADED_WITH_THEM];
      expect(loadedOnUse.length).toBeGreaterThanOrEqual(30);
      expect(loadedOnUse.filter((path) => loaded.includes(path))).toEqual([]);
      // …and they are in the bundle, for the config that names them.
      expect(loadedOnUse.filter((path) => metafile.inputs[path] === undefined)).toEqual([]);
    });
  }

  // re2js's module costs milliseconds of CPU to evaluate; most configs have no regex.
  test("no runtime's main.ts, nor the config loader, loads the RE2 engine (re2js) statically: core/config/regex-engine.ts loads it when a regex needs it", async () => {
    for (const entry of ["runtimes/node/main.ts", "runtimes/bun/main.ts", "runtimes/deno/main.ts", "core/config/load.ts", "core/config/validate-config.ts"]) {
      const loaded = await staticallyLoaded(entry);
      expect(loaded.filter((path) => path.includes("node_modules/re2js/")), entry).toEqual([]);
    }
    // The library entry (synchronous loadBootstrap) loads it with itself: the check sees that.
    expect((await staticallyLoaded("core/index.ts")).some((path) => path.includes("node_modules/re2js/"))).toBe(true);
  });

  test("the check sees the config loader where it is imported statically", async () => {
    const loaded = await staticallyLoaded("core/config/load.ts");
    expect(loaded).toContain("core/config/schema.ts");
    expect(loaded).toContain("core/config/schema-kit/schemas.ts");
    // zod is not the config checker any more (core/config/schema-kit/): nothing loads it.
    expect(loaded.filter((path) => path.includes("node_modules/zod/"))).toEqual([]);
  });

  // The package's command (bin/polyvoy.js) is an ES module; on Bun a module holding a top-level
  // await is evaluated as an async module, and an import() of the CommonJS bun entry goes
  // through Bun's CommonJS-from-ESM interop (~0.5 MiB more idle RSS together). And Bun 1.4.5
  // serves a file larger than 4 KiB from its runtime transpiler cache from the second start
  // on, whose transpiler (~1.2 MiB of its executable) then never runs: the bin is the only
  // file a start transpiles (docs/performance.md, "Bun's idle RSS: where the +14 MiB are").
  // esbuild refuses a top-level await in CommonJS output: the first check.
  test("bin/polyvoy.js has no top-level await, requires the bun entry rather than import()ing it, and is larger than 4 KiB", async () => {
    const bin = readFileSync(join(ROOT, "bin/polyvoy.js"), "utf8");
    await expect(transform(bin, { loader: "js", format: "cjs", logLevel: "silent" })).resolves.toBeDefined();
    expect(bin).toMatch(/const bunEntry = "\.\.\/dist\/bun\/main\.js";\s*import\.meta\.require\(bunEntry\);/);
    expect(Buffer.byteLength(bin)).toBeGreaterThan(4096);
  });
});
