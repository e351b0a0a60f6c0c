/**
 * core/config/data-source-files.ts with the data-source schema: a DataSource's `filename`
 * and `environment_variable` are read through the port (as Envoy's datasource.cc reads
 * them) wherever the config takes a DataSource, and a failure is one problem at its field.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, test } from "vitest";
import { validateConfig } from "../../../core/config/validate-config.ts";
import { loadConfig } from "../../../core/config/load.ts";
import { MAX_DATA_SOURCE_FILE_BYTES, MAX_DATA_SOURCE_TOTAL_BYTES, type DataSourceReader } from "../../../core/config/data-source-files.ts";
import { notKeptBecause } from "../../../core/config/checked-config-cache.ts";
import type { ValidConfig } from "../../../core/config/config-source.ts";
import { httpProxyConfig } from "../../support/configs.ts";

/** A reader over `files` (path → bytes) and `env`, counting reads. */
function reader(files: Record<string, Uint8Array | string>, env: Record<string, string> = {}): DataSourceReader & { reads: string[] } {
  const reads: string[] = [];
  const bytes = (path: string): Uint8Array => {
    reads.push(path);
    const file = files[path];
    if (file === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return typeof file === "string" ? new TextEncoder().encode(file) : file;
  };
  return {
    reads,
    readTextFile: async (path) => new TextDecoder().decode(bytes(path)),
    readFileBytes: async (path) => bytes(path),
    environmentVariable: (name) => env[name],
  };
}

const PREFIX = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";

function config(body: object, extra: { hcm?: Record<string, unknown> } = {}): string {
  return JSON.stringify(
    httpProxyConfig({
      listenPort: 10000,
      clusters: { backend: [8080] },
      routes: [
        { match: { prefix: "/a" }, action: { direct_response: { status: 200, body } } },
        { match: { prefix: "/b" }, action: { direct_response: { status: 201, body } } },
      ],
      ...extra,
    }),
  );
}

function valid(loaded: Awaited<ReturnType<typeof validateConfig>>): ValidConfig {
  if ("problems" in loaded) throw new Error(loaded.problems.join("\n"));
  return loaded;
}

function directBodies(config: ValidConfig): (string | undefined)[] {
  const hcm = config.bootstrap.listeners[0]!.filterChains[0]!.filters[0] as unknown as { config: { routeConfig: { virtualHosts: { routes: { action: { directResponse?: { body?: string } } }[] }[] } } };
  return hcm.config.routeConfig.virtualHosts[0]!.routes.map((route) => route.action.directResponse?.body);
}

describe("DataSource filename and environment_variable", () => {
  test("a direct_response body from a file is its bytes as they are (not UTF-8 decoded); a file named twice is read once", async () => {
    const files = reader({ "/srv/body.bin": new Uint8Array([0x68, 0xff, 0x00, 0x0a]) });
    const loaded = valid(await validateConfig(config({ filename: "/srv/body.bin" }), "json", undefined, files));
    expect(directBodies(loaded)).toEqual(["h\xff\x00\n", "h\xff\x00\n"]);
    expect(files.reads).toEqual(["/srv/body.bin"]);
    expect(loaded.readsData).toEqual(["file /srv/body.bin"]);
    expect(notKeptBecause(config({ filename: "/srv/body.bin" }), loaded)).toBe("it reads file /srv/body.bin");
  });

  test("an environment variable's value is its UTF-8 bytes; an unset one is Envoy's error at the field", async () => {
    const loaded = valid(await validateConfig(config({ environment_variable: "BODY" }), "json", undefined, reader({}, { BODY: "é" })));
    expect(directBodies(loaded)).toEqual(["\xc3\xa9", "\xc3\xa9"]);
    expect(loaded.readsData).toEqual(["environment variable BODY"]);
    const missing = await validateConfig(config({ environment_variable: "UNSET_BODY" }), "json", undefined, reader({}));
    expect(missing).toEqual({
      problems: [0, 1].map((i) => `${PREFIX}.route_config.virtual_hosts[0].routes[${i}].direct_response.body.environment_variable: Environment variable doesn't exist: UNSET_BODY`),
    });
  });

  test("a missing file, a file over the cap, and one over max_direct_response_body_size_bytes are problems naming the field", async () => {
    const at = `${PREFIX}.route_config.virtual_hosts[0].routes[0].direct_response.body`;
    expect(await validateConfig(config({ filename: "/nope" }), "json", undefined, reader({}))).toMatchObject({ problems: expect.arrayContaining([`${at}.filename: file /nope does not exist`]) });
    const huge = new Uint8Array(MAX_DATA_SOURCE_FILE_BYTES + 1);
    expect(await validateConfig(config({ filename: "/huge" }), "json", undefined, reader({ "/huge": huge }))).toMatchObject({
      problems: expect.arrayContaining([`${at}.filename: file /huge size is ${MAX_DATA_SOURCE_FILE_BYTES + 1} bytes; maximum is ${MAX_DATA_SOURCE_FILE_BYTES}`]),
    });
    const big = await validateConfig(config({ filename: "/big" }), "json", undefined, reader({ "/big": "x".repeat(4097) }));
    expect(big).toMatchObject({ problems: expect.arrayContaining([expect.stringContaining("response body size is 4097 bytes; maximum is 4096")]) });
  });

  test("where the port tells a file's size, a file over the cap is refused before it is read (as Envoy's readFile with a max_size)", async () => {
    const files = reader({ "/huge": "small now" });
    const sized: DataSourceReader = { ...files, fileSize: async () => 5_000_000_000 };
    expect(await validateConfig(config({ filename: "/huge" }), "json", undefined, sized)).toMatchObject({
      problems: expect.arrayContaining([expect.stringContaining(`filename: file /huge size is 5000000000 bytes; maximum is ${MAX_DATA_SOURCE_FILE_BYTES}`)]),
    });
    expect(files.reads).toEqual([]);
  });

  test("no special file is read: paths under /dev, /sys, /proc (Envoy's illegalPath), what is not a regular file, a file whose content is not its size", async () => {
    const files = reader({ "/proc/self/environ": "SECRET=1", "/srv/../proc/self/environ": "SECRET=1", "/srv/fifo": "", "/srv/link-to-environ": "SECRET=1", "/dev/fd/3": "ok" });
    const typed: DataSourceReader = {
      ...files,
      fileType: async (path) => (path === "/srv/fifo" ? "other" : "file"),
      // procfs says 0 bytes whatever the file holds.
      fileSize: async (path) => (path === "/dev/fd/3" ? 2 : 0),
    };
    const problemsOf = async (name: string) => {
      const loaded = await validateConfig(config({ filename: name }), "json", undefined, typed);
      return "problems" in loaded ? loaded.problems : [];
    };
    expect(await problemsOf("/proc/self/environ")).toEqual(expect.arrayContaining([expect.stringContaining("filename: Invalid path: /proc/self/environ")]));
    expect(await problemsOf("/srv/../proc/self/environ")).toEqual(expect.arrayContaining([expect.stringContaining("Invalid path: /srv/../proc/self/environ")]));
    expect(await problemsOf("/srv/fifo")).toEqual(expect.arrayContaining([expect.stringContaining("file /srv/fifo is not a regular file")]));
    expect(await problemsOf("/srv/link-to-environ")).toEqual(expect.arrayContaining([expect.stringContaining("file /srv/link-to-environ changed size while it was read (0 bytes, then 8)")]));
    expect(files.reads).not.toContain("/proc/self/environ");
    expect(files.reads).not.toContain("/srv/fifo");
    // /dev/fd/ is allowed, as Envoy allows it (descriptors passed by a parent process).
    expect(directBodies(valid(await validateConfig(config({ filename: "/dev/fd/3" }), "json", undefined, typed)))).toEqual(["ok", "ok"]);
  });

  test("the files of one check are read within a budget: many fields naming large files are refused, not held", async () => {
    const big = "x".repeat(MAX_DATA_SOURCE_FILE_BYTES);
    const names = Array.from({ length: 20 }, (_, i) => `/srv/big-${i}`);
    const files = reader(Object.fromEntries(names.map((n) => [n, big])));
    const text = JSON.stringify(
      httpProxyConfig({
        listenPort: 10000,
        clusters: { backend: [8080] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        hcm: { local_reply_config: { mappers: names.map((n, i) => ({ filter: { status_code_filter: { comparison: { op: "EQ", value: { default_value: 400 + i, runtime_key: `k${i}` } } } }, body: { filename: n } })) } },
      }),
    );
    const loaded = await validateConfig(text, "json", undefined, files);
    expect("problems" in loaded && loaded.problems.join("\n")).toContain(`the config's files exceed ${MAX_DATA_SOURCE_TOTAL_BYTES} bytes in all`);
    expect(files.reads.length).toBeLessThanOrEqual(MAX_DATA_SOURCE_TOTAL_BYTES / MAX_DATA_SOURCE_FILE_BYTES + 1);
  });

  test("an empty file is empty data (Envoy reads these fields with allow_empty)", async () => {
    expect(directBodies(valid(await validateConfig(config({ filename: "/empty" }), "json", undefined, reader({ "/empty": "" }))))).toEqual(["", ""]);
  });

  test("local reply mapper bodies, body_format text_format_source and jwt local_jwks come from files", async () => {
    const jwk = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    const jwks = JSON.stringify({ keys: [{ ...jwk, kid: "k", alg: "RS256" }] });
    const hcm = {
      local_reply_config: {
        mappers: [{ filter: { status_code_filter: { comparison: { op: "GE", value: { default_value: 400, runtime_key: "k" } } } }, body: { filename: "/mapped.txt" } }],
        body_format: { text_format_source: { filename: "/format.txt" } },
      },
      http_filters: [
        { name: "envoy.filters.http.jwt_authn", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", providers: { p: { local_jwks: { filename: "/jwks.json" } } } } },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    };
    const files = reader({ "/mapped.txt": "mapped", "/format.txt": "[%LOCAL_REPLY_BODY%]\n", "/jwks.json": jwks });
    const loaded = valid(await validateConfig(config({ inline_string: "x" }, { hcm }), "json", undefined, files));
    expect(files.reads.sort()).toEqual(["/format.txt", "/jwks.json", "/mapped.txt"]);
    const read = loaded.bootstrap.listeners[0]!.filterChains[0]!.filters[0] as unknown as {
      config: { localReply: { mappers: { body?: string }[] }; httpFilters: { config?: { providers?: Map<string, { jwks: { kid?: string }[] }> } }[] };
    };
    expect(read.config.localReply.mappers[0]!.body).toBe("mapped");
    expect(read.config.httpFilters[0]!.config!.providers!.get("p")!.jwks.map((key) => key.kid)).toEqual(["k"]);
    expect(loaded.readsData?.slice().sort()).toEqual(["file /format.txt", "file /jwks.json", "file /mapped.txt"]);
    // The missing format file is named at its field.
    const missing = await validateConfig(config({ inline_string: "x" }, { hcm }), "json", undefined, reader({ "/mapped.txt": "m", "/jwks.json": jwks }));
    expect(missing).toMatchObject({ problems: [`${PREFIX}.local_reply_config.body_format.text_format_source.filename: file /format.txt does not exist`] });
  });

  test("Lua: a route's own source_code from a file and the filter's default_source_code from an environment variable (Envoy reads both with DataSource::read)", async () => {
    const hcm = {
      http_filters: [
        { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { environment_variable: "LUA_CODE" } } },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    };
    const text = JSON.stringify(
      httpProxyConfig({
        listenPort: 10000,
        clusters: { backend: [8080] },
        routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.lua": { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute", source_code: { filename: "/route.lua" } } } } }],
        hcm,
      }),
    );
    const files = reader({ "/route.lua": "function envoy_on_request(h) end" }, { LUA_CODE: "x = 1" });
    const loaded = valid(await validateConfig(text, "json", undefined, files));
    expect(files.reads).toEqual(["/route.lua"]);
    expect(loaded.readsData?.slice().sort()).toEqual(["environment variable LUA_CODE", "file /route.lua"]);
    const chain = loaded.bootstrap.listeners[0]!.filterChains[0]!.filters[0] as unknown as {
      config: { httpFilters: { config?: { defaultSource?: unknown } }[]; routeConfig: { virtualHosts: { routes: { typedPerFilterConfig: Map<string, { sourceCode?: string }> }[] }[] } };
    };
    expect(chain.config.httpFilters[0]!.config!.defaultSource).toEqual({ code: "x = 1", name: "environment_variable" });
    expect([...chain.config.routeConfig.virtualHosts[0]!.routes[0]!.typedPerFilterConfig.values()][0]).toMatchObject({ sourceCode: "function envoy_on_request(h) end" });
    const missing = await validateConfig(text, "json", undefined, reader({}, { LUA_CODE: "x = 1" }));
    expect(missing).toMatchObject({ problems: [expect.stringMatching(/typed_per_filter_config\.envoy\.filters\.http\.lua\.source_code\.filename: file \/route\.lua does not exist$/)] });
  });

  test("without a reader (the synchronous loader), a file is a problem naming it, never silently empty", () => {
    const loaded = loadConfig(config({ filename: "/srv/body" }), "json");
    expect(loaded).toMatchObject({ problems: expect.arrayContaining([expect.stringMatching(/direct_response\.body\.filename: file \/srv\/body is not read/)]) });
  });

  test("watched_directory is refused by name", async () => {
    const loaded = await validateConfig(config({ filename: "/a", watched_directory: { path: "/" } }), "json", undefined, reader({ "/a": "a" }));
    expect(loaded).toMatchObject({ problems: expect.arrayContaining([expect.stringContaining("`watched_directory` is an Envoy field that polyvoy does not support yet")]) });
  });
});
