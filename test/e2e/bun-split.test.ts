/**
 * The package's command on Bun runs dist/bun/ (scripts/build-runtimes.mjs, bunSplitEntry):
 * the bun entry split at its import()s, each file CommonJS with its bytecode, so a start
 * reads and keeps only the files it runs. Here, from bin/polyvoy.js and a fresh dist/bun/:
 * a start needs only the entry's static requires and the config loader's; a filter's chunk
 * is loaded when a reload first names it; workers (--concurrency 2) start from it too.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { ROOT, RUNTIMES } from "../support/proxy-process.ts";
import { buildEntries } from "../support/built-entries.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
let folder: string;

beforeAll(() => {
  if (!RUNTIMES.includes("bun")) return;
  buildEntries(["bun"]);
  folder = mkdtempSync(join(tmpdir(), "polyvoy-bun-split-"));
}, 120_000);

/**
 * `file` (under dist/bun/) and the files it requires statically, transitively; not those an
 * import() (`…then(()=>require(…))`) or the yaml stub (`()=>require(…)`, at its first call) loads.
 */
function staticClosure(file: string, into: Set<string>): Set<string> {
  if (into.has(file)) return into;
  into.add(file);
  for (const [, lazy, specifier] of readFileSync(join(ROOT, file), "utf8").matchAll(/(=>)?\brequire\(["'](\.{1,2}\/[^"']+)["']\)/g)) {
    if (lazy === undefined) staticClosure(join(file, "..", specifier!), into);
  }
  return into;
}

/** A package folder: bin/polyvoy.js, package.json and `files` of the checkout's dist/bun/ (each with its .jsc). */
function packageWith(name: string, files: Iterable<string>): string {
  const pkg = join(folder, name);
  mkdirSync(join(pkg, "bin"), { recursive: true });
  cpSync(join(ROOT, "bin/polyvoy.js"), join(pkg, "bin/polyvoy.js"));
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ type: "module" }));
  for (const file of files) {
    for (const f of [file, `${file}.jsc`]) cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
  }
  return join(pkg, "bin/polyvoy.js");
}

/** One listener answering every request itself; `filters` before the router. */
function directConfig(port: number, filters: object[] = []): string {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "split",
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "split" } } }] }] },
    http_filters: [...filters, { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  return JSON.stringify({
    static_resources: { listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }] },
  });
}

/** Resolves once `text` is on `count` lines of the proxy's stderr. */
async function lines(proxy: CommandProcess, text: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (proxy.stderr.split(text).length - 1 < count) {
    if (Date.now() > deadline) throw new Error(`"${text}" on fewer than ${count} lines:\n${proxy.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One GET on a connection of its own (a kept one would keep the filter chain it was accepted with): its body and x-split header. */
function get(port: number): Promise<{ body: string; header: string | undefined }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ body, header: res.headers["x-split"] as string | undefined }));
    })
      .on("error", reject)
      .end();
  });
}

const headerMutation = {
  name: "envoy.filters.http.header_mutation",
  typed_config: {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    mutations: { response_mutations: [{ append: { header: { key: "x-split", value: "reloaded" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }] },
  },
};

describe.skipIf(!RUNTIMES.includes("bun"))("bun from the package: dist/bun/", () => {
  test("a start (a JSON config) needs only the entry's static requires and the config loader's, not yaml; a reload naming a filter whose chunk is absent is refused, the running config serves on", async () => {
    const loader = readdirSync(join(ROOT, "dist/bun/chunks")).filter((f) => /^load-\w+\.js$/.test(f));
    expect(loader).toHaveLength(1);
    // main.js runs the process guards and the JIT's start-up policy, then import()s main.ts's chunk.
    const entry = [...readFileSync(join(ROOT, "dist/bun/main.js"), "utf8").matchAll(/then\(\(\)=>require\(["'](\.{1,2}\/[^"']+)["']\)/g)].map(([, specifier]) => join("dist/bun", specifier!));
    expect(entry).toEqual([expect.stringMatching(/^dist\/bun\/chunks\/main-\w+\.js$/)]);
    const loaded = staticClosure(`dist/bun/chunks/${loader[0]}`, staticClosure(entry[0]!, staticClosure("dist/bun/main.js", new Set())));
    const all = readdirSync(join(ROOT, "dist/bun/chunks")).filter((f) => f.endsWith(".js")).length + 1;
    // Not the whole build: re2js, xDS, the admin, TLS, every filter but the router … stay behind.
    expect(loaded.size).toBeLessThan(all * 0.7);
    expect([...loaded].filter((f) => /\/yaml-\w+\.js$/.test(f))).toEqual([]);
    const bin = packageWith("start-only", loaded);
    const port = await freePort();
    const config = join(folder, "start-only.json");
    writeFileSync(config, directConfig(port));
    const proxy = new CommandProcess(BUN, [bin, "-c", config, "--concurrency", "1"], folder);
    try {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toEqual({ body: "split", header: undefined });
      writeFileSync(config, directConfig(port, [headerMutation]));
      proxy.signal("SIGHUP");
      await proxy.waitFor("resource(s) not applied", 30_000);
      // One line naming the file and what to do, as node's and deno's say (runtimes/README.md).
      expect(proxy.stderr).toMatch(
        /cannot load the code of HTTP filter type 'envoy\.filters\.http\.header_mutation': polyvoy: cannot load \/\S+\/dist\/bun\/chunks\/header-mutation-\w+\.js \(not found\): restart the proxy after upgrading polyvoy\n/,
      );
      expect(await get(port)).toEqual({ body: "split", header: undefined });
    } finally {
      await proxy.stop();
    }
  }, 120_000);

  test("from the whole dist/bun/, a YAML config (yaml's file loaded by its stub): a reload that adds a filter loads its chunk then; --concurrency 2 workers serve, and reload it too", async () => {
    const chunks = readdirSync(join(ROOT, "dist/bun/chunks")).filter((f) => f.endsWith(".js"));
    const bin = packageWith("whole", ["dist/bun/main.js", ...chunks.map((f) => `dist/bun/chunks/${f}`)]);
    for (const workers of ["1", "2"]) {
      const port = await freePort();
      // JSON is YAML: by its name, the config is parsed as YAML.
      const config = join(folder, `whole-${workers}.yaml`);
      writeFileSync(config, directConfig(port));
      const proxy = new CommandProcess(BUN, [bin, "-c", config, "--concurrency", workers], folder);
      try {
        // Every worker listening before the SIGHUP (one still starting would die of it).
        await lines(proxy, "listening on", Number(workers), 60_000);
        if (workers === "2") expect(proxy.stderr).toContain("starting 2 workers on bun");
        expect(await get(port)).toEqual({ body: "split", header: undefined });
        writeFileSync(config, directConfig(port, [headerMutation]));
        proxy.signal("SIGHUP");
        // Each worker reloads (the supervisor passes the signal on).
        await lines(proxy, "config reload: done", Number(workers), 30_000);
        expect(proxy.stderr).not.toMatch(/config reload: failed/);
        // Several connections: with two workers, either may take each.
        for (let i = 0; i < 4; i++) expect(await get(port)).toEqual({ body: "split", header: "reloaded" });
      } finally {
        await proxy.stop();
      }
    }
  }, 180_000);
});
