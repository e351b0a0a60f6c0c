/**
 * HTTP filters written in TypeScript / JavaScript against the real proxy on every runtime:
 * the three example filters (examples/filters/) named by a Script config and loaded by the
 * CLI, a failing .mjs filter, config errors from a module, and a program that embeds the
 * core and registers its own filter.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { request } from "undici";
import { ProxyProcess, ROOT, RUNTIMES, runToExit, writeConfig, type RuntimeName } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

const BIN = join(ROOT, "node_modules/.bin");
const SCRIPT = "type.googleapis.com/polyvoy.filters.http.script.v1.Script";
const SCRIPT_PER_ROUTE = "type.googleapis.com/polyvoy.filters.http.script.v1.ScriptPerRoute";
const script = (name: string, module: string, config?: unknown) => ({ name, typed_config: { "@type": SCRIPT, module, ...(config !== undefined && { config }) } });

/** A JavaScript filter that fails on /throw and /reject: its stream gets 500, the process lives. */
const FAILING_FILTER = `
export default {
  create: () => ({
    async decodeHeaders(headers) {
      if (headers.path === "/throw") throw new Error("thrown on purpose");
      if (headers.path === "/reject") await Promise.reject(new Error("rejected on purpose"));
    },
  }),
};
`;

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(inject("tempRoot"), "user-filters-"));
  writeFileSync(join(folder, "failing.mjs"), FAILING_FILTER);
  writeFileSync(join(folder, "not-a-filter.mjs"), "export const answer = 42;\n");
});

describe.each(RUNTIMES)("TypeScript filters on %s", (runtime) => {
  let echo: HttpUpstream;
  let auth: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let adminPort: number;
  let slowCallsCancelled = 0;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    // The authorization service: "Bearer good" is user alice; "Bearer slow" waits (and notes whether the proxy hung up first); anything else 403.
    auth = await httpUpstream((req, res) => {
      const { authorization } = JSON.parse(req.body.toString()) as { authorization: string | null };
      if (authorization === "Bearer good") res.setHeader("x-user", "alice").end("ok");
      else if (authorization === "Bearer slow") {
        const timer = setTimeout(() => res.end("ok"), 3000);
        res.on("close", () => {
          clearTimeout(timer);
          if (!res.writableEnded) slowCallsCancelled++;
        });
      } else res.writeHead(403).end("denied by the auth service\n");
    });
    const port = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const route = (prefix: string, filters: object[], perFilter: Record<string, object> = {}) => ({
      prefix,
      filters,
      route: { match: { prefix }, action: { route: { cluster: "echo" }, typed_per_filter_config: perFilter } },
    });
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], auth: [auth.port] },
      routes: [
        route("/per-route", [], { "add-header": { "@type": SCRIPT_PER_ROUTE, config: { value: "from the route" } } }),
        route("/open", [], { "api-key": { "@type": SCRIPT_PER_ROUTE, disabled: true }, "auth-service": { "@type": SCRIPT_PER_ROUTE, disabled: true } }),
        route("/", []),
      ].map((r) => r.route),
      hcm: {
        http_filters: [
          script("failing", join(folder, "failing.mjs")),
          script("add-header", "examples/filters/add-header.ts", { header: "x-hello", value: "world" }),
          script("api-key", "./examples/filters/api-key.ts", { keys: ["k1"] }),
          script("auth-service", "./examples/filters/auth-service.ts", { cluster: "auth", path: "/check", timeout_ms: 5000 }),
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
    await auth?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await request(base + path, { headers });
    const text = await response.body.text();
    return { status: response.statusCode, headers: response.headers, text };
  };

  test("add-header (config from the Script) and its per-route value; api-key's 401; auth-service's httpCall and stats", async () => {
    const allowed = await get("/x", { "x-api-key": "k1", authorization: "Bearer good" });
    expect(allowed.status).toBe(200);
    const seen = JSON.parse(allowed.text) as { headers: Record<string, string> };
    expect(seen.headers["x-hello"]).toBe("world");
    expect(seen.headers["x-user"]).toBe("alice");
    // api-key removes the key before the request goes on.
    expect(seen.headers["x-api-key"]).toBeUndefined();
    expect(allowed.headers["x-hello-added"]).toBe("true");

    const perRoute = JSON.parse((await get("/per-route", { "x-api-key": "k1", authorization: "Bearer good" })).text) as { headers: Record<string, string> };
    expect(perRoute.headers["x-hello"]).toBe("from the route");

    const noKey = await get("/x");
    expect(noKey.status).toBe(401);
    expect(noKey.text).toBe("missing or unknown API key\n");
    expect(noKey.headers["www-authenticate"]).toBe('ApiKey header="x-api-key"');

    const denied = await get("/x", { "x-api-key": "k1", authorization: "Bearer bad" });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe("denied by the auth service\n");

    // ScriptPerRoute disabled: neither check applies on /open.
    expect((await get("/open")).status).toBe(200);

    // auth-service's call went through the auth cluster (Host is the cluster's name), and its stats count.
    expect(auth.requests[0]!.headers.host).toBe("auth");
    expect(auth.requests[0]!.url).toBe("/check");
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=auth-service`)).body.text();
    expect(stats).toContain("http.ingress_http.auth-service.allowed: 2");
    expect(stats).toContain("http.ingress_http.auth-service.denied: 1");
    expect(stats).toMatch(/http\.ingress_http\.auth-service\.check_time: P0\(/);
    const clusterStats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=cluster.auth.upstream_rq_`)).body.text();
    expect(clusterStats).toContain("cluster.auth.upstream_rq_200: 2");
  });

  test("auth-service: a client that leaves while the call is in flight cancels it (the service sees the proxy hang up)", async () => {
    const controller = new AbortController();
    const pending = request(base + "/x", { headers: { "x-api-key": "k1", authorization: "Bearer slow" }, signal: controller.signal }).catch((err: Error) => err);
    const deadline = Date.now() + 10_000;
    while (!auth.requests.some((r) => r.body.includes("Bearer slow")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    while (slowCallsCancelled === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(slowCallsCancelled).toBe(1);
  });

  test("a filter that throws or rejects: 500 for that stream, one log line, counted; the proxy serves on", async () => {
    for (const path of ["/throw", "/reject"]) {
      const failed = await get(path);
      expect(failed.status).toBe(500);
      expect(failed.text).toBe("Internal Server Error");
    }
    expect(proxy.stderr).toMatch(/failing: decodeHeaders failed: Error: thrown on purpose/);
    expect(proxy.stderr).toMatch(/failing: decodeHeaders failed: Error: rejected on purpose/);
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=failing`)).body.text();
    expect(stats).toContain("http.ingress_http.failing.errors: 2");
    expect((await get("/open")).status).toBe(200);
  });

  test("--mode validate loads the modules: a missing one, or one exporting no filter, is a config error naming the file", async () => {
    const bad = (module: string) =>
      writeConfig(httpProxyConfig({ listenPort: 1, clusters: { echo: [2] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }], hcm: { http_filters: [script("f", module), { name: "envoy.filters.http.router" }] } }));
    const missing = await runToExit(runtime, ["-c", bad("./no/such-filter.mjs"), "--mode", "validate"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/config error: static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config\.module: cannot load '\.\/no\/such-filter\.mjs': /);
    const wrong = await runToExit(runtime, ["-c", bad(join(folder, "not-a-filter.mjs")), "--mode", "validate"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/typed_config\.module: '.*not-a-filter\.mjs' exports no filter/);
    const good = await runToExit(runtime, ["-c", bad("./examples/filters/add-header.ts"), "--mode", "validate"]);
    // add-header's own schema wants header and value.
    expect(good.code).toBe(1);
    expect(good.stderr).toMatch(/http_filters\[0\]\.typed_config\.config: /);
  });
});

/** A program that embeds polyvoy: registers a filter, then runs the CLI's main with a config naming it by @type. */
function embedderSource(runtime: RuntimeName): string {
  const entry = join(ROOT, `runtimes/${runtime}/index.ts`);
  const create = runtime === "node" ? "createNodeRuntime" : runtime === "bun" ? "createBunRuntime" : "createDenoRuntime";
  return `
import { ${create} as createRuntime, registerHttpFilter, runMain } from ${JSON.stringify(entry)};

registerHttpFilter({
  name: "embedder.filters.http.stamp",
  config: (raw) => {
    if (typeof raw?.stamp !== "string") throw new Error("stamp: expected a string");
    return raw.stamp;
  },
  create: (stamp) => ({
    encodeHeaders(headers) {
      headers.set("x-stamp", stamp);
    },
  }),
});
await runMain(createRuntime(), process.argv.slice(2));
`;
}

describe.each(RUNTIMES)("embedding polyvoy with a registered filter on %s", (runtime) => {
  test("the filter named by its @type in the config runs; its config is checked by its own parser", async () => {
    const echo = await httpUpstream((_req, res) => res.end("hi"));
    const port = await freePort();
    // .mts: an ES module wherever it is (its top-level await needs one).
    const file = join(folder, `embed-${runtime}.mts`);
    // Deno has no `process` global in a module of its own: it gets node:process.
    writeFileSync(file, (runtime === "deno" ? 'import process from "node:process";\n' : "") + embedderSource(runtime));
    const filter = (stamp: unknown) => ({ name: "stamp", typed_config: { "@type": "type.googleapis.com/embedder.filters.http.stamp", stamp } });
    const config = (stamp: unknown) =>
      writeConfig(httpProxyConfig({ listenPort: port, clusters: { echo: [echo.port] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }], hcm: { http_filters: [filter(stamp), { name: "envoy.filters.http.router" }] } }));
    // The program lives outside the checkout: Deno is given the checkout's deno.json (its npm imports).
    const command: [string, string[]] =
      runtime === "node" ? [process.execPath, ["--import", "tsx", file]] : runtime === "bun" ? [join(BIN, "bun"), [file]] : [join(BIN, "deno"), ["run", "-A", "--config", join(ROOT, "deno.json"), file]];
    const child = spawn(command[0], [...command[1], "-c", config("s-1"), "--concurrency", "1"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!stderr.includes("listening on")) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the embedding program did not start; stderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const response = await request(`http://127.0.0.1:${port}/`);
      expect(response.headers["x-stamp"]).toBe("s-1");
      expect(await response.body.text()).toBe("hi");
    } finally {
      child.kill("SIGTERM");
      await echo.close();
    }
    // Its parser's error is a config error at the field.
    const bad = spawn(command[0], [...command[1], "-c", config(5), "--mode", "validate"], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let badErr = "";
    bad.stderr.on("data", (d) => (badErr += d));
    const code = await new Promise<number | null>((resolve) => bad.on("exit", resolve));
    expect(code).toBe(1);
    expect(badErr).toMatch(/http_filters\[0\]\.typed_config: stamp: expected a string/);
  });
});
