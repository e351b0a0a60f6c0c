/**
 * The Lua cluster specifier in a route configuration from RDS (a file), with a static
 * config that names none: the update imports the plugin's module, builds its VM with the
 * new route table and the requests go where envoy_on_route says; an update whose code has
 * no envoy_on_route is refused with Envoy's words, the running table kept, and so is one
 * with an entry no route names whose code does not load. In a file of its
 * own: the plugin's module is not imported yet when the update comes.
 */
import { expect, test } from "vitest";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../../memory/support/http-peers.ts";
import { startProxy } from "../../../memory/support/proxy.ts";

const RDS_PATH = "/xds/rds.json";
const LUA_CONFIG = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig";
const PORTS = { web: 8080, api: 8081 } as const;

const config = {
  static_resources: {
    listeners: [
      {
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
                  http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                },
              },
            ],
          },
        ],
      },
    ],
    clusters: Object.entries(PORTS).map(([name, port]) => ({
      name,
      type: "STATIC",
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
    })),
  },
};

/** A DiscoveryResponse file: one RouteConfiguration whose one route's cluster comes from the Lua code `code`, by name. */
function rdsFile(version: string, code: string, unusedCode?: string): string {
  const plugin = (name: string, code: string) => ({ extension: { name, typed_config: { "@type": LUA_CONFIG, source_code: { inline_string: code }, default_cluster: "web" } } });
  const plugins = [plugin("chooser", code), ...(unusedCode !== undefined ? [plugin("unused", unusedCode)] : [])];
  const routes = [{ match: { prefix: "/" }, route: { cluster_specifier_plugin: "chooser" } }];
  return JSON.stringify({ version_info: version, resources: [{ "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", name: "routes", cluster_specifier_plugins: plugins, virtual_hosts: [{ name: "all", domains: ["*"], routes }] }] });
}

const CHOOSER = 'function envoy_on_route(h) if h:headers():get("x-to") == "api" then return "api" end return "web" end';

test("an RDS route configuration's Lua cluster specifier is loaded, built and asked; a code without envoy_on_route is refused, in an entry no route names too", async () => {
  const runtime = new MemoryRuntime({ seed: 1, files: { [RDS_PATH]: rdsFile("1", CHOOSER) }, directories: ["/xds"] });
  for (const [name, port] of Object.entries(PORTS)) await MemoryHttpServer.listen(runtime, port, (_req, res) => res.respond(200, `from ${name}`));
  const started = startProxy(runtime, config);
  /** Run the memory runtime's timers, real turns between them (the plugin's module loads outside its clock), until `done()`. */
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

  const get = async (headers: Record<string, string> = {}) => {
    const client = new MemoryHttpClient(runtime, 10000);
    client.request("GET", "/", { headers });
    await until(() => client.responses.length > 0);
    return client.responses.map((r) => [r.status, r.text()]);
  };
  expect(await get()).toEqual([[200, "from web"]]);
  expect(await get({ "x-to": "api" })).toEqual([[200, "from api"]]);

  runtime.files.set(RDS_PATH, rdsFile("2", "x = 1"));
  await until(() => stat("http.ingress.rds.routes.update_rejected") === 1);
  expect(runtime.logLines.join("\n")).toContain("envoy_on_route() function not found. Lua will not hook cluster specifier.");
  expect(await get({ "x-to": "api" })).toEqual([[200, "from api"]]);

  // Envoy's ConfigImpl builds every entry: one no route names that does not load is NACKed too.
  runtime.files.set(RDS_PATH, rdsFile("3", 'function envoy_on_route() return "web" end', "this is not lua((("));
  await until(() => stat("http.ingress.rds.routes.update_rejected") === 2);
  expect(runtime.logLines.join("\n")).toContain("script load error");
  expect(await get({ "x-to": "api" })).toEqual([[200, "from api"]]);
});
