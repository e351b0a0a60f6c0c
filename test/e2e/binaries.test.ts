/**
 * The standalone executables (`npm run build:binaries`): each, copied alone into an empty
 * folder, prints its version, validates a config and proxies a request with nothing
 * installed. Bun's (`bun build --compile`) and Node's (a single-executable application);
 * Deno's `deno compile` needs to download its runtime, so there is none (build-binaries.mjs).
 * The build is most of its time: the two executables only (they are bundled from the sources,
 * not from `npm run build`'s files), so in the default run.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/proxy-process.ts";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream } from "../support/http-upstream.ts";

const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
let work: string;

beforeAll(() => {
  execFileSync(process.execPath, [join(ROOT, "scripts/build-binaries.mjs")], { cwd: ROOT, stdio: "pipe" });
  work = mkdtempSync(join(tmpdir(), "polyvoy-binaries-"));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.each(["bun", "node"])("the %s executable", (runtime) => {
  test("runs from an empty folder: --version, --mode validate, one proxied request, and its workers", { timeout: 300_000 }, async () => {
    const folder = join(work, runtime);
    mkdirSync(folder);
    const binary = join(folder, "polyvoy");
    copyFileSync(join(ROOT, `dist/bin/polyvoy-${runtime}`), binary);
    execFileSync("chmod", ["+x", binary]);
    // No PATH: nothing the binary could borrow from this machine's node_modules.
    const env = { HOME: folder };
    const run = (args: string[]) => {
      const result = spawnSync(binary, args, { cwd: folder, env, encoding: "utf8" });
      return { code: result.status, out: result.stdout + result.stderr };
    };
    expect(run(["--version"])).toEqual({ code: 0, out: expect.stringMatching(new RegExp(`^polyvoy ${version} \\(${runtime} \\S+\\)\\n$`)) });
    writeFileSync(join(folder, "bad.yaml"), "static_resources: { clusters: [ { name: c, lb_policy: FOO } ] }\n");
    const bad = run(["-c", "bad.yaml", "--mode", "validate"]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("lb_policy");
    // A user's filter module: Bun's executable imports it; Node's has no module loader and says so.
    writeFileSync(join(folder, "filter.mjs"), "export default { create: () => ({}) };\n");
    writeFileSync(
      join(folder, "filter.json"),
      JSON.stringify(
        httpProxyConfig({
          listenPort: 1,
          clusters: {},
          routes: [],
          hcm: {
            http_filters: [
              { name: "mine", typed_config: { "@type": "type.googleapis.com/polyvoy.filters.http.script.v1.Script", module: "./filter.mjs" } },
              { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
            ],
          },
        }),
      ),
    );
    const withFilter = run(["-c", "filter.json", "--mode", "validate"]);
    if (runtime === "bun") expect(withFilter).toEqual({ code: 0, out: "configuration 'filter.json' OK\n" });
    else expect(withFilter).toEqual({ code: 1, out: expect.stringContaining("the Node executable cannot load modules") });

    const upstream = await httpUpstream((req, res) => res.end(`binary ${req.url}`));
    const port = await freePort();
    writeFileSync(
      join(folder, "envoy.json"),
      JSON.stringify(httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }] })),
    );
    expect(run(["-c", "envoy.json", "--mode", "validate"])).toEqual({ code: 0, out: "configuration 'envoy.json' OK\n" });
    const proxy = new CommandProcess(binary, ["-c", "envoy.json", "--concurrency", "1"], folder, env);
    try {
      await proxy.waitFor("listening on");
      expect(proxy.stderr).toContain(`starting on ${runtime} `);
      const res = await fetch(`http://127.0.0.1:${port}/x`);
      expect(await res.text()).toBe("binary /x");
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
    // No --concurrency: a worker per hardware thread, each the executable again (its entry
    // not taken for an argument: scripts/build-binaries.mjs, runtimes/bun/bun-runtime.ts).
    // Started as a user types it, by a relative path: the workers must still find it.
    const workers = cpus().length;
    const supervised = new CommandProcess("./polyvoy", ["-c", "envoy.json"], folder, env);
    try {
      await supervised.waitFor(workers > 1 ? `all ${workers} workers started` : "listening on", 120_000);
      const res = await fetch(`http://127.0.0.1:${port}/y`);
      expect(await res.text()).toBe("binary /y");
    } finally {
      expect(await supervised.stop()).toBe(0);
      await upstream.close();
    }
  });
});
