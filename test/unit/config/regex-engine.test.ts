/**
 * core/config/regex-engine.ts: the RE2 engine is loaded only when a config (or the admin's
 * `/stats?filter=`) needs it, and a config is checked the same either way: valid with its
 * regex, or refused with the same problem line, whether its text names a regex plainly or
 * not (a JSON escape in the key: the check meets the regex, loads the engine and runs again).
 * Each test gets fresh modules (vi.resetModules), so the engine starts unloaded.
 */
import { beforeEach, expect, test, vi } from "vitest";

beforeEach(() => {
  vi.resetModules();
});

async function modules() {
  const engine = await import("../../../core/config/regex-engine.ts");
  const { validateConfig } = await import("../../../core/config/validate-config.ts");
  const { compileRegex } = await import("../../../core/config/regex.ts");
  return { ...engine, validateConfig, compileRegex };
}

/** A listener whose one route matches `regex` as safe_regex; `key` spells the field. */
function configWith(regex: string, key = '"safe_regex"'): string {
  const route = `{ "match": { ${key}: { "regex": ${JSON.stringify(regex)} } }, "direct_response": { "status": 200 } }`;
  const hcm = `{ "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager", "stat_prefix": "s",
    "route_config": { "virtual_hosts": [{ "name": "v", "domains": ["*"], "routes": [${route}] }] },
    "http_filters": [{ "name": "envoy.filters.http.router", "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }] }`;
  return `{ "static_resources": { "listeners": [{ "name": "l", "address": { "socket_address": { "address": "127.0.0.1", "port_value": 1 } },
    "filter_chains": [{ "filters": [{ "name": "envoy.filters.network.http_connection_manager", "typed_config": ${hcm} }] }] }] } }`;
}

const BAD_REGEX_LINE =
  'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].match.safe_regex.regex: invalid regex "/(?=a)": invalid perl operator: (?= (RE2 has no lookahead or lookbehind)';

test("the engine is not loaded until needed: a regex-free config leaves it unloaded, compileRegex says so", async () => {
  const { regexEngineLoaded, RegexEngineNotLoaded, validateConfig, compileRegex } = await modules();
  expect(regexEngineLoaded()).toBe(false);
  const loaded = await validateConfig(configWith("x").replace('"safe_regex": { "regex": "x" }', '"prefix": "/"'), "json");
  expect("problems" in loaded).toBe(false);
  expect(regexEngineLoaded()).toBe(false);
  expect(() => compileRegex("a")).toThrow(RegexEngineNotLoaded);
});

test("a config with a regex route validates, and the engine is loaded for the route table", async () => {
  const { regexEngineLoaded, validateConfig, compileRegex } = await modules();
  const loaded = await validateConfig(configWith("/users/[0-9]+"), "json");
  expect("problems" in loaded).toBe(false);
  expect(regexEngineLoaded()).toBe(true);
  const compiled = compileRegex("/users/[0-9]+");
  expect(compiled.ok && compiled.regex.fullMatch("/users/12")).toBe(true);
});

test("a bad regex gets its exact problem line", async () => {
  const { validateConfig } = await modules();
  expect(await validateConfig(configWith("/(?=a)"), "json")).toEqual({ problems: [BAD_REGEX_LINE] });
});

test("a regex field whose name the text hides (a JSON escape) is checked all the same: the same result, the same line", async () => {
  const { regexEngineLoaded, validateConfig } = await modules();
  const hidden = '"safe_\\u0072egex"';
  const good = configWith("/a", hidden).replace('"regex"', '"\\u0072egex"');
  expect(/regex/i.test(good)).toBe(false);
  expect("problems" in (await validateConfig(good, "json"))).toBe(false);
  expect(regexEngineLoaded()).toBe(true);
  vi.resetModules();
  const fresh = await modules();
  expect(fresh.regexEngineLoaded()).toBe(false);
  const bad = configWith("/(?=a)", hidden).replace('"regex"', '"\\u0072egex"');
  expect(await fresh.validateConfig(bad, "json")).toEqual({ problems: [BAD_REGEX_LINE] });
});
