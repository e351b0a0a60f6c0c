/**
 * Envoy's filesystem xDS on every runtime, black-box: an HTTP connection manager whose
 * routes come from an RDS file (rds.config_source.path_config_source) and a cluster whose
 * endpoints come from an EDS file (type: EDS, eds_cluster_config). The test rewrites the
 * files (a temp file renamed over, as config tooling does) while clients keep sending
 * requests: new streams follow each change, no request fails, an invalid file is
 * refused (update_rejected) and the last good config keeps serving; /config_dump lists
 * the dynamic resources with their version_info. Then a config with only
 * dynamic_resources: a listener from an LDS file and a cluster from a CDS file, changed
 * under load the same way.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/** Write `text` to `path` as config tooling does: a temp file renamed over it. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function rdsFile(version: string, body: string, name = "local_route"): string {
  return JSON.stringify({
    version_info: version,
    resources: [
      {
        "@type": ROUTE_TYPE,
        name,
        virtual_hosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              { match: { prefix: "/direct" }, direct_response: { status: 200, body: { inline_string: body } } },
              { match: { prefix: "/" }, route: { cluster: "backend" } },
            ],
          },
        ],
      },
    ],
  });
}

function edsFile(version: string, address: string, port: number): string {
  return JSON.stringify({
    version_info: version,
    resources: [{ "@type": CLA_TYPE, cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }] }],
  });
}

/** An upstream answering its own name. */
async function namedUpstream(name: string): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(RUNTIMES)("xDS from files on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let dir: string;
  const upstreams: { port: number; close: () => void }[] = [];

  beforeAll(async () => {
    [port, adminPort] = [await freePort(), await freePort()];
    upstreams.push(await namedUpstream("a"), await namedUpstream("b"));
    dir = mkdtempSync(join(tmpdir(), "polyvoy-xds-"));
    writeFileSync(join(dir, "rds.json"), rdsFile("r1", "v1"));
    writeFileSync(join(dir, "eds.json"), edsFile("e1", "127.0.0.1", upstreams[0]!.port));
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          {
            name: "ingress",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "ingress",
                      rds: { route_config_name: "local_route", config_source: { path_config_source: { path: join(dir, "rds.json") }, resource_api_version: "V3" } },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [{ name: "backend", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { path_config_source: { path: join(dir, "eds.json") } } } }],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const upstream of upstreams) upstream.close();
  });

  test("RDS and EDS files: changes followed under constant load, invalid files rejected, no failed request", async () => {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return `${response.status} ${await response.text()}`;
    };
    expect(await get("/direct")).toBe("200 v1");
    expect(await get("/x")).toBe("200 a");

    // Clients keep sending while the files change; every answer must be a 200 from a known config.
    const failures: string[] = [];
    let sent = 0;
    let running = true;
    const client = async (path: string, allowed: string[]) => {
      while (running) {
        sent++;
        const answer = await get(path).catch((err: unknown) => String(err));
        if (!allowed.includes(answer)) failures.push(`${path}: ${answer}`);
      }
    };
    const load = Promise.all([client("/direct", ["200 v1", "200 v2"]), client("/y", ["200 a", "200 b"]), client("/z", ["200 a", "200 b"])]);

    replaceFile(join(dir, "eds.json"), edsFile("e2", "127.0.0.1", upstreams[1]!.port));
    expect(await eventually(() => get("/x"), (a) => a === "200 b")).toBe("200 b");
    replaceFile(join(dir, "rds.json"), rdsFile("r2", "v2"));
    expect(await eventually(() => get("/direct"), (a) => a === "200 v2")).toBe("200 v2");

    // Invalid: an unknown field in the route configuration; an EDS address that is not an IP. Both kept as they were.
    replaceFile(join(dir, "rds.json"), rdsFile("r3", "v3").replace('"virtual_hosts"', '"bogus":1,"virtual_hosts"'));
    replaceFile(join(dir, "eds.json"), edsFile("e3", "not-an-ip.example", upstreams[0]!.port));
    const stats = await eventually(
      () => adminStats(adminPort),
      (s) => s.get("http.ingress.rds.local_route.update_rejected") === 1 && s.get("cluster.backend.update_rejected") === 1,
    );
    expect(stats.get("http.ingress.rds.local_route.update_rejected")).toBe(1);
    expect(stats.get("http.ingress.rds.local_route.update_success")).toBe(2);
    expect(stats.get("http.ingress.rds.local_route.config_reload")).toBe(2);
    expect(stats.get("cluster.backend.update_rejected")).toBe(1);
    expect(stats.get("cluster.backend.update_success")).toBe(2);
    expect(await get("/direct")).toBe("200 v2");
    expect(await get("/x")).toBe("200 b");
    expect(proxy.stderr).toContain("`bogus` is not a field of envoy.config.route.v3.RouteConfiguration");

    running = false;
    await load;
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(10);

    // /config_dump: the route config as the last good file gave it, with its version; EDS with include_eds.
    const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_route_configs`)).json()) as { configs: { version_info: string; route_config: { name: string } }[] };
    expect(dump.configs).toHaveLength(1);
    expect(dump.configs[0]).toMatchObject({ version_info: "r2", route_config: { "@type": ROUTE_TYPE, name: "local_route" } });
    const eds = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?include_eds&resource=dynamic_endpoint_configs`)).json()) as { configs: unknown[] };
    expect(eds.configs).toEqual([expect.objectContaining({ version_info: "e2", endpoint_config: expect.objectContaining({ "@type": CLA_TYPE, cluster_name: "backend" }) })]);
  });
});

const LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

function cdsFile(version: string, port: number): string {
  const endpoint = { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } };
  return JSON.stringify({
    version_info: version,
    resources: [{ "@type": CLUSTER_TYPE, name: "backend", connect_timeout: "1s", load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [endpoint] }] } }],
  });
}

function ldsFile(version: string, port: number, body: string): string {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "dyn",
    route_config: {
      name: "dyn_route",
      virtual_hosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            { match: { prefix: "/direct" }, direct_response: { status: 200, body: { inline_string: body } } },
            { match: { prefix: "/" }, route: { cluster: "backend" } },
          ],
        },
      ],
    },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  return JSON.stringify({
    version_info: version,
    resources: [
      {
        "@type": LISTENER_TYPE,
        name: "dyn",
        address: { socket_address: { address: "127.0.0.1", port_value: port } },
        filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }],
      },
    ],
  });
}

describe.each(RUNTIMES)("LDS and CDS from files on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let dir: string;
  const upstreams: { port: number; close: () => void }[] = [];

  beforeAll(async () => {
    [port, adminPort] = [await freePort(), await freePort()];
    upstreams.push(await namedUpstream("a"), await namedUpstream("b"));
    dir = mkdtempSync(join(tmpdir(), "polyvoy-lds-"));
    writeFileSync(join(dir, "cds.json"), cdsFile("c1", upstreams[0]!.port));
    writeFileSync(join(dir, "lds.json"), ldsFile("l1", port, "v1"));
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      dynamic_resources: {
        cds_config: { path_config_source: { path: join(dir, "cds.json") }, resource_api_version: "V3" },
        lds_config: { path_config_source: { path: join(dir, "lds.json") }, resource_api_version: "V3" },
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    for (const upstream of upstreams) upstream.close();
  });

  test("a listener and a cluster from files: changes followed under constant load, no failed request; /config_dump lists them with their versions", async () => {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return `${response.status} ${await response.text()}`;
    };
    expect(await eventually(() => get("/x").catch(String), (a) => a === "200 a")).toBe("200 a");
    expect(await get("/direct")).toBe("200 v1");

    const failures: string[] = [];
    let sent = 0;
    let running = true;
    const client = async (path: string, allowed: string[]) => {
      while (running) {
        sent++;
        const answer = await get(path).catch((err: unknown) => String(err));
        if (!allowed.includes(answer)) failures.push(`${path}: ${answer}`);
      }
    };
    const load = Promise.all([client("/direct", ["200 v1", "200 v2"]), client("/y", ["200 a", "200 b"])]);

    replaceFile(join(dir, "cds.json"), cdsFile("c2", upstreams[1]!.port));
    expect(await eventually(() => get("/x"), (a) => a === "200 b")).toBe("200 b");
    replaceFile(join(dir, "lds.json"), ldsFile("l2", port, "v2"));
    expect(await eventually(() => get("/direct"), (a) => a === "200 v2")).toBe("200 v2");

    running = false;
    await load;
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(10);

    const stats = await adminStats(adminPort);
    expect(stats.get("cluster_manager.cds.update_success")).toBe(2);
    expect(stats.get("listener_manager.lds.update_success")).toBe(2);
    const clusters = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_active_clusters`)).json()) as { configs: unknown[] };
    expect(clusters.configs).toEqual([expect.objectContaining({ version_info: "c2", cluster: expect.objectContaining({ "@type": CLUSTER_TYPE, name: "backend" }) })]);
    // The whole dump: ClustersConfigDump and ListenersConfigDump carry CDS's and LDS's version_info (Envoy's dumpClusterConfigs, ListenerManagerImpl::dumpListenerConfigs).
    const whole = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as { configs: Record<string, unknown>[] };
    expect(whole.configs.find((c) => String(c["@type"]).endsWith("ClustersConfigDump"))).toMatchObject({ version_info: "c2" });
    expect(whole.configs.find((c) => String(c["@type"]).endsWith("ListenersConfigDump"))).toMatchObject({ version_info: "l2" });
    const listeners = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_listeners`)).json()) as { configs: unknown[] };
    expect(listeners.configs).toEqual([
      expect.objectContaining({ name: "dyn", active_state: expect.objectContaining({ version_info: "l2", listener: expect.objectContaining({ "@type": LISTENER_TYPE, name: "dyn" }) }) }),
    ]);

    // A reload of the bootstrap file (no static resources) leaves what LDS and CDS gave alone.
    proxy.child.kill("SIGHUP");
    await proxy.waitForLog(/config reload: done/);
    // On a new connection: a removed listener would refuse it (one kept alive would still be served).
    const fresh = (path: string) =>
      new Promise<string>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (d: string) => (body += d)).on("end", () => resolve(`${res.statusCode} ${body}`));
        }).on("error", reject);
      });
    expect(await fresh("/direct")).toBe("200 v2");
    expect(await fresh("/x")).toBe("200 b");
    expect((await adminStats(adminPort)).get("listener_manager.listener_removed") ?? 0).toBe(0);
  });
});

describe.each(RUNTIMES)("an LDS file in a watched_directory on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let dir: string;

  beforeAll(async () => {
    [port, adminPort] = [await freePort(), await freePort()];
    dir = mkdtempSync(join(tmpdir(), "polyvoy-lds-dir-"));
    writeFileSync(join(dir, "lds.json"), ldsFile("l1", port, "v1"));
    writeFileSync(join(dir, "proxy.log"), "");
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      dynamic_resources: {
        lds_config: { path_config_source: { path: join(dir, "lds.json"), watched_directory: { path: dir } }, resource_api_version: "V3" },
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("writes to another file of the directory (a log kept there) do not reload it; a file moved in does", async () => {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return `${response.status} ${await response.text()}`;
    };
    expect(await eventually(() => get("/direct").catch(String), (a) => a === "200 v1")).toBe("200 v1");
    // Envoy's WatchedDirectory waits for MovedTo only: a file appended to in the same
    // directory (the proxy's own log, written on every reload, would feed back) is no update.
    const log = join(dir, "proxy.log");
    for (let i = 0; i < 20; i++) {
      appendFileSync(log, `line ${i}\n`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await adminStats(adminPort)).get("listener_manager.lds.update_attempt")).toBe(1);
    replaceFile(join(dir, "lds.json"), ldsFile("l2", port, "v2"));
    expect(await eventually(() => get("/direct"), (a) => a === "200 v2")).toBe("200 v2");
    expect((await adminStats(adminPort)).get("listener_manager.lds.update_success")).toBe(2);
  });
});

describe.each(RUNTIMES)("an LDS file mounted from a Kubernetes ConfigMap (the ..data swap) on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let dir: string;

  /** Kubernetes' AtomicWriter: the files in a new timestamped folder, `..data` swapped to it by a rename. */
  function publish(version: string, body: string): void {
    const folder = `..${version}`;
    mkdirSync(join(dir, folder));
    writeFileSync(join(dir, folder, "lds.json"), ldsFile(version, port, body));
    symlinkSync(folder, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  }

  beforeAll(async () => {
    [port, adminPort] = [await freePort(), await freePort()];
    dir = mkdtempSync(join(tmpdir(), "polyvoy-lds-configmap-"));
    publish("l1", "v1");
    symlinkSync("..data/lds.json", join(dir, "lds.json"));
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      dynamic_resources: {
        lds_config: { path_config_source: { path: join(dir, "lds.json"), watched_directory: { path: dir } }, resource_api_version: "V3" },
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("the rename of ..data (no event names lds.json) applies the new file", async () => {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return `${response.status} ${await response.text()}`;
    };
    expect(await eventually(() => get("/direct").catch(String), (a) => a === "200 v1")).toBe("200 v1");
    publish("l2", "v2");
    expect(await eventually(() => get("/direct"), (a) => a === "200 v2")).toBe("200 v2");
    expect((await adminStats(adminPort)).get("listener_manager.lds.update_success")).toBe(2);
  });
});
