/**
 * `polyvoy` on node starts the bundle with V8's code cache (bin/node-code-cache.js): the
 * first start writes the cache once start-up is over, the next ones use it, and the cache
 * is never trusted blindly — data V8 refuses is replaced, a changed bundle gets a cache of
 * its own, and a cache directory others could write is not used. Writing one prunes the
 * directory of older caches and of a killed writer's temporary files. The modules only some
 * configs load are lazy scripts, compiled (each with its own cache file) when first needed,
 * from the bundle the process started with. The package's bin and node bundle are
 * copied into a folder of their own; TMPDIR points node's os.tmpdir() at a fresh folder.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { appendFileSync, chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { ROOT } from "../support/proxy-process.ts";
import { buildEntries } from "../support/built-entries.ts";

const NODE = "node";
let folder: string;
let cacheRoot: string;
let config: string;
let port: number;

beforeAll(async () => {
  buildEntries(["node"]);
  folder = mkdtempSync(join(tmpdir(), "polyvoy-code-cache-"));
  mkdirSync(join(folder, "pkg/bin"), { recursive: true });
  mkdirSync(join(folder, "pkg/dist"));
  for (const file of ["bin/polyvoy.js", "bin/node-code-cache.js", "dist/polyvoy-node.mjs"]) copyFileSync(join(ROOT, file), join(folder, "pkg", file));
  writeFileSync(join(folder, "pkg/package.json"), JSON.stringify({ type: "module" }));
  cacheRoot = join(folder, "tmp");
  mkdirSync(cacheRoot);
  port = await freePort();
  config = join(folder, "envoy.json");
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "cache",
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "cached ok" } } }] }] },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  const listener = { name: "l", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] };
  writeFileSync(config, JSON.stringify({ static_resources: { listeners: [listener] } }));
}, 180_000);

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

const cacheDir = () => join(cacheRoot, `polyvoy-compile-cache-${process.getuid?.() ?? 0}`);
const cacheFiles = () => {
  try {
    return readdirSync(cacheDir()).sort();
  } catch {
    return [];
  }
};

/**
 * Starts `node bin/polyvoy.js`, checks it answers, keeps it running `holdMs` or until `until()`
 * holds (the cache is written once start-up is over), stops it; returns the ms from its
 * "listening on" until then.
 */
async function runOnce(holdMs: number, until?: () => boolean, concurrency = 1): Promise<number> {
  const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", config, "--concurrency", String(concurrency)], folder, { ...process.env, TMPDIR: cacheRoot });
  let held: number;
  try {
    await proxy.waitFor("listening on", 60_000);
    const listening = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe("cached ok");
    const deadline = listening + holdMs;
    while (Date.now() < deadline && !(until?.() ?? false)) await new Promise((r) => setTimeout(r, 50));
    held = Date.now() - listening;
  } finally {
    await proxy.stop();
  }
  expect(proxy.stderr).not.toMatch(/error|warning/i);
  return held;
}

test("the first start writes the cache once start-up is over (a directory of the user's own, mode 0700; the file 0600), the next start uses it and leaves it as it is", async () => {
  const held = await runOnce(30_000, () => cacheFiles().some((f) => f.endsWith(".v8cache")));
  // Written when the listeners serve, not by the bin's 10-s fallback for a start that never
  // says it is over (a supervisor of workers).
  expect(held).toBeLessThan(8_000);
  const file = cacheFiles()[0]!;
  expect(cacheFiles()).toEqual([expect.stringMatching(/^[0-9a-f]{16}-\d+-v[\d.]+-\w+\.v8cache$/)]);
  expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
  expect(statSync(join(cacheDir(), file)).mode & 0o777).toBe(0o600);
  const written = statSync(join(cacheDir(), file)).mtimeMs;
  // Accepted data is not written again. This also proves that the flags the bin holds
  // while starting (a young generation that may not grow) are back as they
  // were when the data was made: V8 refuses data stamped with another flags' hash.
  await runOnce(3_000);
  expect(cacheFiles()).toEqual([file]);
  expect(statSync(join(cacheDir(), file)).mtimeMs).toBe(written);
}, 180_000);

test("data V8 refuses (here: garbage of the same length) is replaced, and the proxy starts as without a cache", async () => {
  const file = cacheFiles()[0]!;
  const path = join(cacheDir(), file);
  const garbage = Buffer.alloc(statSync(path).size, 0x5a);
  writeFileSync(path, garbage);
  await runOnce(30_000, () => !readFileSync(path).equals(garbage));
  expect(readFileSync(path).equals(garbage)).toBe(false);
  expect(cacheFiles()).toEqual([file]);
}, 180_000);

test("a changed bundle gets a cache of its own (the file is named by the bundle's CRC-32s and length), never the old one's", async () => {
  const old = cacheFiles()[0]!;
  appendFileSync(join(folder, "pkg/dist/polyvoy-node.mjs"), "// changed\n");
  await runOnce(30_000, () => cacheFiles().length === 2);
  expect(cacheFiles()).toHaveLength(2);
  expect(cacheFiles()).toContain(old);
}, 180_000);

test("writing a cache prunes the directory: the newest cache files stay, older ones and a killed writer's temporary file go; links, fresh temporary files and other names stay", async () => {
  const dir = cacheDir();
  const hourAgo = Date.now() / 1000 - 3600;
  const old = [1, 2, 3, 4, 5].map((i) => `000000000000000${i}-1-v0.0.${i}-x64.v8cache`);
  old.forEach((name, i) => {
    writeFileSync(join(dir, name), "old", { mode: 0o600 });
    utimesSync(join(dir, name), hourAgo + i * 60, hourAgo + i * 60);
  });
  const staleTemporary = `${old[0]}.4242.tmp`;
  writeFileSync(join(dir, staleTemporary), "killed writer", { mode: 0o600 });
  utimesSync(join(dir, staleTemporary), hourAgo, hourAgo);
  const freshTemporary = `${old[1]}.4343.tmp`;
  writeFileSync(join(dir, freshTemporary), "a writer at work", { mode: 0o600 });
  const outside = join(folder, "outside.v8cache");
  writeFileSync(outside, "not ours to remove");
  symlinkSync(outside, join(dir, "0000000000000000-1-v0.0.0-x64.v8cache"));
  utimesSync(outside, hourAgo - 60, hourAgo - 60);
  writeFileSync(join(dir, "notes.txt"), "another name");
  const real = cacheFiles().filter((f) => f.endsWith(".v8cache") && !old.includes(f) && !f.startsWith("0000"));
  expect(real).toHaveLength(2);
  appendFileSync(join(folder, "pkg/dist/polyvoy-node.mjs"), "// changed again\n");
  await runOnce(30_000, () => !existsSync(join(dir, staleTemporary)));
  const written = cacheFiles().filter((f) => f.endsWith(".v8cache") && !old.includes(f) && !real.includes(f) && !f.startsWith("0000"));
  expect(written).toHaveLength(1);
  // Four cache files: the one written, the two of the tests before (used last), the newest old one.
  expect(cacheFiles()).toEqual(["0000000000000000-1-v0.0.0-x64.v8cache", old[4], `${old[1]}.4343.tmp`, ...real, ...written, "notes.txt"].sort());
  expect(readFileSync(outside, "utf8")).toBe("not ours to remove");
}, 180_000);

test("with --concurrency 2 a worker writes the cache, and the supervisor (whose start-up never ends: a 10-s fallback) keeps that file", async () => {
  appendFileSync(join(folder, "pkg/dist/polyvoy-node.mjs"), "// changed for workers\n");
  const before = new Set(cacheFiles());
  let written: { name: string; ino: number } | undefined;
  // Held past the supervisor's fallback; the first file seen is remembered.
  await runOnce(
    13_000,
    () => {
      const name = cacheFiles().find((f) => f.endsWith(".v8cache") && !before.has(f));
      if (name !== undefined && written === undefined) written = { name, ino: statSync(join(cacheDir(), name)).ino };
      return false;
    },
    2,
  );
  expect(written).toBeDefined();
  expect(statSync(join(cacheDir(), written!.name)).ino).toBe(written!.ino);
  expect(cacheFiles().filter((f) => f.endsWith(".tmp") && f.startsWith(written!.name))).toEqual([]);
}, 180_000);

test("a cache directory that others can write is not used: no cache is read or written there", async () => {
  for (const f of cacheFiles()) rmSync(join(cacheDir(), f));
  chmodSync(cacheDir(), 0o777);
  await runOnce(5_000);
  expect(cacheFiles()).toEqual([]);
  chmodSync(cacheDir(), 0o700);
}, 180_000);

// The bundle runs as a vm.Script, where node 20 has no loader for import() once cached data
// is accepted ("A dynamic import callback was not specified"): a user's filter module must
// still load, on the start that writes the cache and on the one that reads it.
test("a user's filter module loads on the first start and on a start with the cache", async () => {
  writeFileSync(join(folder, "throwing.mjs"), 'export default { create: () => ({ decodeHeaders(headers) { if (headers.path === "/throw") throw new Error("thrown on purpose"); } }) };\n');
  const withFilter = JSON.parse(readFileSync(config, "utf8"));
  const hcm = withFilter.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.http_filters.unshift({ name: "throwing", typed_config: { "@type": "type.googleapis.com/polyvoy.filters.http.script.v1.Script", module: join(folder, "throwing.mjs") } });
  const filterConfig = join(folder, "with-filter.json");
  writeFileSync(filterConfig, JSON.stringify(withFilter));
  appendFileSync(join(folder, "pkg/dist/polyvoy-node.mjs"), "// changed for the filter test\n");
  for (const start of ["first", "cached"]) {
    const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", filterConfig, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
    try {
      await proxy.waitFor("listening on", 60_000);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
      // The filter is in the chain: its throw ends the request with a 500.
      expect((await fetch(`http://127.0.0.1:${port}/throw`)).status).toBe(500);
      if (start === "first") {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !cacheFiles().some((f) => f.endsWith(".v8cache") && statSync(join(cacheDir(), f)).mtimeMs > Date.now() - 30_000)) await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await proxy.stop();
    }
    expect(proxy.stderr, start).not.toMatch(/config error|dynamic import/i);
  }
}, 180_000);

// The bundle's vm.Script holds its top-level bytecode (~0.4 MB: the module bodies, run once);
// nothing may keep it once start-up is over. A preload wraps vm.Script to watch it with a
// WeakRef and collects garbage (node --expose-gc) every half second until it is gone.
test("once started, the launcher keeps no reference to the bundle's vm.Script", async () => {
  const probe = join(folder, "script-probe.cjs");
  writeFileSync(
    probe,
    [
      'const vm = require("node:vm");',
      "let ref;",
      "vm.Script = class extends vm.Script { constructor(...args) { super(...args); ref ??= new WeakRef(this); } };",
      "const timer = setInterval(() => {",
      "  if (ref === undefined) return;",
      "  gc();",
      '  if (ref.deref() === undefined) { process.stderr.write("script collected\\n"); clearInterval(timer); }',
      "}, 500).unref();",
      "",
    ].join("\n"),
  );
  const proxy = new CommandProcess(NODE, ["--expose-gc", "--require", probe, join(folder, "pkg/bin/polyvoy.js"), "-c", config, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
  try {
    await proxy.waitFor("listening on", 60_000);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
    await proxy.waitFor("script collected", 20_000);
  } finally {
    await proxy.stop();
  }
}, 180_000);

// The modules only some configs load (filters but the HCM and router, the admin, TLS, xDS,
// yaml …) are lazy scripts of the bundle, each compiled at its first use with a cache file
// of its own (`<bundle>.lazy-<index>.v8cache`, scripts/build-runtimes.mjs nodeScriptModule).
test("a JSON config with the router alone compiles no lazy script; a YAML config with the CORS filter and the admin compiles theirs, whose cache the next start accepts", async () => {
  appendFileSync(join(folder, "pkg/dist/polyvoy-node.mjs"), "// changed for the lazy scripts test\n");
  const before = new Set(cacheFiles());
  const fresh = () => cacheFiles().filter((f) => !before.has(f) && !f.endsWith(".tmp"));
  await runOnce(30_000, () => fresh().length > 0);
  expect(fresh()).toEqual([expect.stringMatching(/^[0-9a-f]{16}-\d+-v[\d.]+-\w+\.v8cache$/)]);
  const bundleKey = fresh()[0]!.replace(/\.v8cache$/, "");

  const adminPort = await freePort();
  const lazyConfig = JSON.parse(readFileSync(config, "utf8"));
  lazyConfig.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  lazyConfig.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
    name: "envoy.filters.http.cors",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
  });
  // YAML is a superset of JSON: a .yaml file parsed by yaml (a lazy script of its own).
  const yamlConfig = join(folder, "lazy.yaml");
  writeFileSync(yamlConfig, JSON.stringify(lazyConfig, null, 2));
  const lazyFiles = () => cacheFiles().filter((f) => f.startsWith(`${bundleKey}.lazy-`) && f.endsWith(".v8cache"));
  const stamps = () => lazyFiles().map((f) => `${f} ${statSync(join(cacheDir(), f)).mtimeMs}`);
  let written: string[] = [];
  for (const start of ["first", "cached"]) {
    const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", yamlConfig, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
    try {
      // The admin's listener says it first.
      await proxy.waitFor("listener 'l' listening on", 60_000);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
      expect(await (await fetch(`http://127.0.0.1:${adminPort}/ready`)).text()).toBe("LIVE\n");
      if (start === "first") {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && lazyFiles().length < 3) await new Promise((r) => setTimeout(r, 50));
        written = stamps();
      }
    } finally {
      await proxy.stop();
    }
    expect(proxy.stderr, start).not.toMatch(/error|warning/i);
  }
  // yaml's, the admin's and the CORS filter's at least; none rewritten (V8 accepted them).
  expect(written.length).toBeGreaterThanOrEqual(3);
  expect(stamps()).toEqual(written);
}, 180_000);

/** The test's config with a CORS filter (whose code a router-only start has not loaded) written to `file`. */
function writeCorsConfig(file: string): void {
  const withCors = JSON.parse(readFileSync(config, "utf8"));
  withCors.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
    name: "envoy.filters.http.cors",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
  });
  writeFileSync(file, JSON.stringify(withCors));
}

// An upgrade or reinstall writes a new file at the bundle's path (a touch only changes its
// time): lazy scripts still come from the bundle this process started from (the descriptor
// the bin keeps), so a reload that needs a filter not loaded at start works (it failed
// while the bin reopened the path).
test("a bundle replaced at its path under the running proxy: lazy scripts come from the one it started from", async () => {
  const reloadConfig = join(folder, "replace.json");
  copyFileSync(config, reloadConfig);
  const bundle = join(folder, "pkg/dist/polyvoy-node.mjs");
  const original = readFileSync(bundle);
  const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", reloadConfig, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
  try {
    await proxy.waitFor("listening on", 60_000);
    // Touched first (same bytes, a new modification time), then replaced.
    const later = new Date(Date.now() + 60_000);
    utimesSync(bundle, later, later);
    rmSync(bundle);
    writeFileSync(bundle, "// the next version's bundle, not a script this process could use\n");
    writeCorsConfig(reloadConfig);
    proxy.signal("SIGHUP");
    await proxy.waitFor("config reload: done", 30_000);
    expect(proxy.stderr).not.toMatch(/cannot load the code/);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
  } finally {
    await proxy.stop();
    rmSync(bundle, { force: true });
    writeFileSync(bundle, original);
  }
}, 180_000);

// A lazy script is read from the file when first needed: if the bundle was written over in
// place meanwhile, its modules would not fit the running main script's. The load fails with
// a reason instead, and the proxy serves on as it was. A load that failed fails the same
// every time after, the bundle put back as it was too (as an ES module whose evaluation
// threw: esbuild's init wrappers keep a thrown error, so a module whose lazy script another
// script needed cannot be retried, and bin/node-code-cache.js's link keeps it alike).
test("a lazy script needed after the bundle was written over in place under the running proxy: a clear error, the same at the next reload (the bundle put back too), the running config serves on", async () => {
  const reloadConfig = join(folder, "reload.json");
  copyFileSync(config, reloadConfig);
  const bundle = join(folder, "pkg/dist/polyvoy-node.mjs");
  const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", reloadConfig, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
  const banner = readFileSync(bundle).subarray(0, 3);
  const writeAt0 = (bytes: Uint8Array) => {
    const fd = openSync(bundle, "r+");
    try {
      writeSync(fd, bytes, 0, bytes.byteLength, 0);
    } finally {
      closeSync(fd);
    }
  };
  try {
    await proxy.waitFor("listening on", 60_000);
    // The same size, other bytes (the banner's first letters): only the checksum tells.
    writeAt0(Buffer.from("//X"));
    writeCorsConfig(reloadConfig);
    proxy.signal("SIGHUP");
    await proxy.waitFor("1 resource(s) not applied", 30_000);
    const failure = /cannot load the code of HTTP filter type 'envoy\.filters\.http\.cors': polyvoy: .*polyvoy-node\.mjs was written over since this process started: restart polyvoy/g;
    expect(proxy.stderr.match(failure)).toHaveLength(1);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
    // Its bytes back as they were: the checksum matches again, the load stays failed.
    writeAt0(banner);
    proxy.signal("SIGHUP");
    await proxy.waitFor("caught SIGHUP", 30_000);
    const deadline = Date.now() + 30_000;
    while ((proxy.stderr.match(/1 resource\(s\) not applied|config reload: done/g)?.length ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(proxy.stderr.match(failure)).toHaveLength(2);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("cached ok");
  } finally {
    await proxy.stop();
    writeAt0(banner);
  }
}, 180_000);

// A runtime value that is no number is parsed as YAML (a FractionalPercent: runtime-entry.ts)
// through yaml's lazy script. If that load fails, the value's parse says so: it is not taken
// for a value that is no fraction (its failure was swallowed), and the layer keeps what it had.
test("a runtime value whose parse needs yaml after the bundle was written over: /runtime_modify answers the load's error, the admin layer unchanged", async () => {
  const adminPort = await freePort();
  const runtimeConfig = join(folder, "runtime.json");
  const withAdmin = JSON.parse(readFileSync(config, "utf8"));
  withAdmin.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  withAdmin.layered_runtime = { layers: [{ name: "admin", admin_layer: {} }] };
  writeFileSync(runtimeConfig, JSON.stringify(withAdmin));
  const bundle = join(folder, "pkg/dist/polyvoy-node.mjs");
  const banner = readFileSync(bundle).subarray(0, 3);
  const writeAt0 = (bytes: Uint8Array) => {
    const fd = openSync(bundle, "r+");
    try {
      writeSync(fd, bytes, 0, bytes.byteLength, 0);
    } finally {
      closeSync(fd);
    }
  };
  const proxy = new CommandProcess(NODE, [join(folder, "pkg/bin/polyvoy.js"), "-c", runtimeConfig, "--concurrency", "1"], folder, { ...process.env, TMPDIR: cacheRoot });
  try {
    await proxy.waitFor("listener 'l' listening on", 60_000);
    const modify = (query: string) => fetch(`http://127.0.0.1:${adminPort}/runtime_modify?${query}`, { method: "POST" });
    expect((await modify("plain=5")).status).toBe(200);
    writeAt0(Buffer.from("//X"));
    const refused = await modify(`plain=6&fraction=${encodeURIComponent("{numerator: 5}")}`);
    expect(refused.status).toBe(500);
    expect(await refused.text()).toMatch(/^admin error: polyvoy: .*polyvoy-node\.mjs was written over since this process started: restart polyvoy/);
    const entries = (JSON.parse(await (await fetch(`http://127.0.0.1:${adminPort}/runtime`)).text()) as { entries: Record<string, unknown> }).entries;
    expect(Object.keys(entries)).toEqual(["plain"]);
    expect(entries["plain"]).toMatchObject({ final_value: "5" });
  } finally {
    await proxy.stop();
    writeAt0(banner);
  }
}, 180_000);
