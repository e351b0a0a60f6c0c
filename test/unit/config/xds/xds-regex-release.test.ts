/**
 * An RDS update on the memory runtime, with a static config that has no regex (so the RE2
 * engine is not loaded: core/config/regex-engine.ts): a route with safe_regex in the update
 * loads the engine, is applied and matches; a bad regex is refused with its problem line;
 * and the schemas the update's check built are let go after it (lazy-schema.ts), as
 * validateConfig does after a config check.
 */
import { expect, test } from "vitest";
import { heldSchemas } from "../../../../core/config/lazy-schema.ts";
import { regexEngineLoaded } from "../../../../core/config/regex-engine.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient } from "../../../memory/support/http-peers.ts";
import { startProxy } from "../../../memory/support/proxy.ts";

const RDS_PATH = "/xds/rds.json";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

const listener = {
  name: "l",
  address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
  filter_chains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            stat_prefix: "ingress",
            rds: { route_config_name: "routes", config_source: { path_config_source: { path: RDS_PATH }, resource_api_version: "V3" } },
            http_filters: [ROUTER],
          },
        },
      ],
    },
  ],
};

function rdsFile(version: string, regex: string): string {
  const routes = [{ match: { safe_regex: { regex } }, direct_response: { status: 200, body: { inline_string: `matched ${regex}` } } }];
  return JSON.stringify({ version_info: version, resources: [{ "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", name: "routes", virtual_hosts: [{ name: "all", domains: ["*"], routes }] }] });
}

test("an RDS route with a regex loads the engine and matches; a bad one is refused; the update's schemas are let go", async () => {
  expect(regexEngineLoaded()).toBe(false);
  const runtime = new MemoryRuntime({ seed: 1, files: { [RDS_PATH]: rdsFile("1", "/users/[0-9]+") }, directories: ["/xds"] });
  const started = startProxy(runtime, { static_resources: { listeners: [listener] } });
  /** Run the memory runtime's timers, real turns between them (the engine's module loads outside its clock), until `done()`. */
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 500 && !done(); i++) {
      runtime.advance(10);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };
  let server: Awaited<typeof started> | undefined;
  void started.then((s) => (server = s));
  await until(() => server !== undefined);
  const stat = (name: string) => (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
  await until(() => stat("http.ingress.rds.routes.update_success") === 1);
  expect(regexEngineLoaded()).toBe(true);
  expect(heldSchemas()).toBe(0);

  const get = (path: string) => {
    const client = new MemoryHttpClient(runtime, 10000);
    client.request("GET", path);
    runtime.runDue();
    return client;
  };
  let client = get("/users/12");
  await until(() => client.responses.length > 0);
  expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "matched /users/[0-9]+"]]);
  client = get("/users/x");
  await until(() => client.responses.length > 0);
  expect(client.responses.map((r) => r.status)).toEqual([404]);

  runtime.files.set(RDS_PATH, rdsFile("2", "/(?=a)"));
  await until(() => stat("http.ingress.rds.routes.update_rejected") === 1);
  expect(runtime.logLines.join("\n")).toContain('invalid regex "/(?=a)": invalid perl operator: (?= (RE2 has no lookahead or lookbehind)');
  expect(heldSchemas()).toBe(0);
});
