/**
 * The command keeps each config it checked (core/config/checked-config-cache.ts): a start
 * whose config text this build checked before takes the result as it was, without the
 * checker. Here, on each runtime, the package's command as installed (an app folder, a
 * fresh build, TMPDIR at a folder of the test's): the first start checks and keeps the
 * config once it serves, the next one takes it (the debug log says which) and serves the
 * same (a regex field spelt with escapes too); `--mode validate` always checks; another text
 * is checked again, an invalid one is refused every time and never kept,
 * a damaged entry is checked again and written anew, a directory others may write is not
 * used, workers take what their supervisor kept, and from the sources nothing is kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { ROOT, RUNTIMES, type RuntimeName } from "../support/proxy-process.ts";
import { buildEntries } from "../support/built-entries.ts";
import { checkedConfigName } from "../../core/config/checked-config-cache.ts";

const BIN = join(ROOT, "node_modules/.bin");
const COMMAND: Record<RuntimeName, [string, string[]]> = {
  node: [process.execPath, []],
  bun: [join(BIN, "bun"), []],
  deno: [join(BIN, "deno"), ["run", "-A"]],
};
const SOURCE: Record<RuntimeName, [string, string[]]> = {
  node: [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts")]],
  bun: [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts")]],
  deno: [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts")]],
};
const CHECKED_BEFORE = "was checked before by this build: valid";
const VALIDATING = "[debug] validating";

let folder: string;

beforeAll(() => {
  buildEntries(RUNTIMES);
  folder = mkdtempSync(join(tmpdir(), "polyvoy-checked-configs-test-"));
  // An app folder as `npm install polyvoy` leaves one (deno reads only the chunks it runs there).
  const pkg = join(folder, "app/node_modules/polyvoy");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  mkdirSync(join(pkg, "dist"));
  writeFileSync(join(folder, "app/package.json"), JSON.stringify({ private: true, dependencies: { polyvoy: "*" } }));
  copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  for (const file of ["bin/polyvoy.js", "bin/node-code-cache.js"]) copyFileSync(join(ROOT, file), join(pkg, file));
  if (RUNTIMES.includes("node")) copyFileSync(join(ROOT, "dist/polyvoy-node.mjs"), join(pkg, "dist/polyvoy-node.mjs"));
  if (RUNTIMES.includes("bun")) cpSync(join(ROOT, "dist/bun"), join(pkg, "dist/bun"), { recursive: true });
  if (RUNTIMES.includes("deno")) cpSync(join(ROOT, "dist/deno"), join(pkg, "dist/deno"), { recursive: true });
}, 300_000);

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

function config(port: number, body: string, extra: object = {}): string {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "checked",
    route_config: {
      virtual_hosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            // A regex route and an upgrade: what the checked config holds beyond plain objects (the RE2 engine, Maps).
            { match: { safe_regex: { regex: "/v[0-9]+" } }, direct_response: { status: 201, body: { inline_string: "versioned" } } },
            { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } }, ...extra },
          ],
        },
      ],
    },
    upgrade_configs: [{ upgrade_type: "websocket" }],
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  return JSON.stringify({ static_resources: { listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }] } });
}

async function get(port: number, path = "/"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${res.status} ${await res.text()}`;
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
  }
}

describe.each(RUNTIMES)("%s", (runtime) => {
  let tmp: string;
  let configPath: string;
  let port: number;
  const store = () => join(tmp, `polyvoy-checked-configs-${process.getuid!()}`);
  const entries = () => (existsSync(store()) ? readdirSync(store()).filter((name) => name.endsWith(".checked")).sort() : []);

  beforeAll(async () => {
    tmp = join(folder, `tmp-${runtime}`);
    mkdirSync(tmp);
    port = await freePort();
    configPath = join(folder, `envoy-${runtime}.json`);
    writeFileSync(configPath, config(port, "first"));
  });

  /** The package's command with -l debug and TMPDIR at the test's folder; stopped after `use`. */
  async function start(use: (proxy: CommandProcess) => Promise<void>, args: string[] = ["--concurrency", "1"], command = COMMAND[runtime]): Promise<CommandProcess> {
    const argv = command === COMMAND[runtime] ? [...command[1], join(folder, "app/node_modules/polyvoy/bin/polyvoy.js")] : command[1];
    const proxy = new CommandProcess(command[0], [...argv, "-c", configPath, "-l", "debug", ...args], join(folder, "app"), { ...process.env, TMPDIR: tmp });
    try {
      await use(proxy);
    } finally {
      await proxy.stop();
    }
    return proxy;
  }

  test("the first start checks the config and keeps it once it serves; the next takes it as checked and serves the same", async () => {
    const first = await start(async (proxy) => {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toBe("200 first");
      expect(await get(port, "/v2")).toBe("201 versioned");
      await until(() => entries().length === 1, "the entry written");
    });
    expect(first.stderr).toContain(VALIDATING);
    expect(first.stderr).not.toContain(CHECKED_BEFORE);
    expect(entries()).toEqual([expect.stringMatching(/^[0-9a-f]{16}-[0-9a-f]{14}\.json\.checked$/)]);
    expect(statSync(store()).mode & 0o777).toBe(0o700);
    expect(statSync(join(store(), entries()[0]!)).mode & 0o777).toBe(0o600);
    const written = statSync(join(store(), entries()[0]!));

    const second = await start(async (proxy) => {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toBe("200 first");
      expect(await get(port, "/v2")).toBe("201 versioned");
    });
    expect(second.stderr).toContain(CHECKED_BEFORE);
    expect(second.stderr).not.toContain(VALIDATING);
    // Taken as it is, not written again (a new entry is a new file, renamed into place); its time
    // moves on (pruning goes by the last use).
    const used = statSync(join(store(), entries()[0]!));
    expect(used.ino).toBe(written.ino);
    expect(used.mtimeMs).toBeGreaterThan(written.mtimeMs);
  }, 180_000);

  test("--mode validate always checks; a regex field spelt with escapes serves its route when taken as checked", async () => {
    const validate = await start(async (proxy) => {
      expect(await proxy.exited).toBe(0);
    }, ["--mode", "validate"]);
    expect(validate.stderr).toContain(VALIDATING);
    expect(validate.stderr).toContain("not kept as checked (--mode validate)");
    // `safe_\u0072egex`: nothing in the text says regex; the check loads the RE2 engine, and so must a start that takes it as checked.
    const escaped = config(port, "escaped").replaceAll("safe_regex", "safe_\\u0072egex").replaceAll('"regex"', '"\\u0072egex"');
    expect(escaped).not.toMatch(/regex/i);
    writeFileSync(configPath, escaped);
    for (const expected of [VALIDATING, CHECKED_BEFORE]) {
      const proxy = await start(async (proxy) => {
        await proxy.waitFor("listening on", 60_000);
        expect(await get(port, "/v2")).toBe("201 versioned");
        expect(await get(port)).toBe("200 escaped");
        if (expected === VALIDATING) await until(() => entries().length === 2, "its entry written");
      });
      expect(proxy.stderr).toContain(expected);
    }
    writeFileSync(configPath, config(port, "first"));
  }, 180_000);

  test("another text is checked again; an invalid config is refused every time and never kept", async () => {
    writeFileSync(configPath, config(port, "second"));
    const changed = await start(async (proxy) => {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toBe("200 second");
      await until(() => entries().length === 3, "a third entry");
    });
    expect(changed.stderr).toContain(VALIDATING);

    writeFileSync(configPath, config(port, "bad", { typo_field: true }));
    for (let i = 0; i < 2; i++) {
      const refused = await start(async (proxy) => {
        expect(await proxy.exited).toBe(1);
      });
      expect(refused.stderr).toContain("config error: ");
      expect(refused.stderr).toContain("typo_field");
      expect(refused.stderr).not.toContain(CHECKED_BEFORE);
    }
    expect(entries()).toHaveLength(3);
    writeFileSync(configPath, config(port, "first"));
  }, 180_000);

  test("a damaged entry is checked again and written anew", async () => {
    const text = config(port, "first");
    writeFileSync(configPath, text);
    const entry = entries().find((name) => name.endsWith(`-${checkedConfigName("json", text)}`));
    const path = join(store(), entry!);
    const whole = readFileSync(path, "utf8");
    writeFileSync(path, whole.slice(0, whole.length >> 1));
    const again = await start(async (proxy) => {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toBe("200 first");
      await until(() => readFileSync(path, "utf8") === whole, "the entry written whole again");
    });
    expect(again.stderr).toContain(VALIDATING);
  }, 180_000);

  test("a directory others may write is not used: every start checks its config, and serves", async () => {
    chmodSync(store(), 0o777);
    try {
      for (let i = 0; i < 2; i++) {
        const proxy = await start(async (proxy) => {
          await proxy.waitFor("listening on", 60_000);
          expect(await get(port)).toBe("200 first");
          await until(() => proxy.stderr.includes("not kept as checked"), "the debug line saying it was not kept");
        });
        expect(proxy.stderr).toContain(VALIDATING);
        expect(proxy.stderr).toContain("is not a directory of this user's only");
      }
    } finally {
      chmodSync(store(), 0o700);
    }
  }, 180_000);

  test("workers take the config their supervisor checked and kept", async () => {
    writeFileSync(configPath, config(port, "workers"));
    const before = entries().length;
    const proxy = await start(
      async (proxy) => {
        await until(() => proxy.stderr.split("listening on").length - 1 >= 2, "two workers listening", 60_000);
        expect(await get(port)).toBe("200 workers");
      },
      ["--concurrency", "2"],
    );
    expect(entries()).toHaveLength(before + 1);
    // The supervisor checks it; both workers take it as checked.
    expect(proxy.stderr.split(VALIDATING).length - 1).toBe(1);
    expect(proxy.stderr.split(CHECKED_BEFORE).length - 1).toBe(2);
  }, 180_000);

  test("from the sources nothing is kept: there is no build to keep it for", async () => {
    const sourceTmp = join(folder, `source-tmp-${runtime}`);
    mkdirSync(sourceTmp);
    const [cmd, args] = SOURCE[runtime];
    const proxy = new CommandProcess(cmd, [...args, "-c", configPath, "-l", "debug", "--concurrency", "1"], ROOT, { ...process.env, TMPDIR: sourceTmp });
    try {
      await proxy.waitFor("listening on", 60_000);
      expect(await get(port)).toBe("200 workers");
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await proxy.stop();
    }
    expect(proxy.stderr).toContain(VALIDATING);
    expect(readdirSync(sourceTmp).filter((name) => name.startsWith("polyvoy-checked-configs"))).toEqual([]);
  }, 180_000);
});
