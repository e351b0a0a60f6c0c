/**
 * The vendorable core: `npm run build:core` makes one ES module that imports nothing;
 * copied into an empty folder outside the repository, it runs the proxy on node, bun
 * and deno (each with its adapter from runtimes/, which only uses the port's types).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, RUNTIMES, writeConfig } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream } from "../support/http-upstream.ts";

let folder: string;

beforeAll(() => {
  const out = execFileSync(process.execPath, [join(ROOT, "scripts/build-core.mjs")], { encoding: "utf8" });
  expect(out).toMatch(/dist\/polyvoy-core\.mjs: \d+ KiB/);
  expect(out).toMatch(/dist\/polyvoy-adapter-kit\.mjs: \d+ KiB/);
  // Type declarations for the public API come with it.
  expect(readFileSync(join(ROOT, "dist/polyvoy-core.d.mts"), "utf8")).toContain("./types/core/index.js");
  expect(readFileSync(join(ROOT, "dist/types/core/index.d.ts"), "utf8")).toMatch(/export \{ runMain \} from "\.\/main\.js";/);
  folder = mkdtempSync(join(tmpdir(), "polyvoy-vendored-"));
  copyFileSync(join(ROOT, "dist/polyvoy-core.mjs"), join(folder, "polyvoy-core.mjs"));
  // The build (esbuild, then tsc for the declarations) takes 25 s of CPU: more than the
  // e2e hooks' 60 s on a shared, loaded machine.
}, 240_000);

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

test("the bundles (core and adapter kit) import nothing: no bare specifiers, no node:, no require", () => {
  for (const code of [readFileSync(join(folder, "polyvoy-core.mjs"), "utf8"), readFileSync(join(ROOT, "dist/polyvoy-adapter-kit.mjs"), "utf8")]) {
    expect(code).not.toMatch(/\bimport\s*[\w{*][^;]*?from\s*["']/);
    expect(code).not.toMatch(/\bimport\s*\(\s*["']/);
    expect(code).not.toMatch(/\brequire\s*\(/);
    expect(code).not.toMatch(/["']node:/);
  }
});

describe.each(RUNTIMES)("the bundled core on %s", (runtime) => {
  test("runs an HTTP proxy, with a Lua filter (fengari bundled), from a folder outside the repository", async () => {
    const adapter = pathToFileURL(join(ROOT, `runtimes/${runtime}/${runtime}-runtime.ts`)).href;
    const create = `create${runtime[0]!.toUpperCase()}${runtime.slice(1)}Runtime`;
    const args = runtime === "deno" ? "Deno.args" : "process.argv.slice(2)";
    writeFileSync(
      join(folder, `main-${runtime}.mjs`),
      `import { runMain, VERSION } from "./polyvoy-core.mjs";\nimport { ${create} } from "${adapter}";\nconsole.error("vendored core " + VERSION);\nawait runMain(${create}(), ${args});\n`,
    );
    const upstream = await httpUpstream((req, res) => res.end(`vendored ${req.url}`));
    const port = await freePort();
    // The Lua VM is in the bundle, loaded when the config names the filter; its module comes from LUA_PATH.
    mkdirSync(join(folder, "lib"), { recursive: true });
    writeFileSync(join(folder, "lib/vendored.lua"), 'return { name = function() return "lua" end }\n');
    const lua = {
      name: "envoy.filters.http.lua",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        inline_code: 'local v = require("lib.vendored")\nfunction envoy_on_response(h) h:headers():add("x-by", v.name() .. " " .. h:body():length()) end',
      },
    };
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = writeConfig(httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }], hcm: { http_filters: [lua, router] } }));
    const main = join(folder, `main-${runtime}.mjs`);
    const [cmd, argv] =
      runtime === "node"
        ? [process.execPath, ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, main]]
        : runtime === "bun"
          ? [join(ROOT, "node_modules/.bin/bun"), [main]]
          : [join(ROOT, "node_modules/.bin/deno"), ["run", "-A", "--no-config", main]];
    const child = spawn(cmd, [...argv, "-c", config, "--concurrency", "1"], { cwd: folder, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LUA_PATH: `${folder}/?.lua` } });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!stderr.includes("listening on")) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stderr).toContain("vendored core");
      const res = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(await res.text()).toBe("vendored /hello");
      expect(res.headers.get("server")).toBe("envoy");
      expect(res.headers.get("x-by")).toBe("lua 15");
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
    }
  });
});
