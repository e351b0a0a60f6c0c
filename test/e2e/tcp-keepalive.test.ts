/**
 * A cluster's upstream_connection_options.tcp_keepalive on every runtime: the proxy's
 * pooled upstream connection carries a keepalive timer in `ss -tno` (SO_KEEPALIVE is on:
 * the kernel's 2 h idle time for `{}`, 30 s with keepalive_time 30 where the runtime can set
 * it), a cluster without it has none; where a runtime cannot set a field it is refused at
 * start with a line naming the runtime (Deno sets SO_KEEPALIVE alone).
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import * as http from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** The `timer:(…)` of each established TCP connection to `port` (the proxy's side: dport), from ss -tno. */
function timersTo(port: number): string[] {
  const out = execFileSync("ss", ["-tno", "state", "established", `( dport = :${port} )`], { encoding: "utf8" });
  return out
    .split("\n")
    .slice(1)
    .filter((line) => line.trim() !== "")
    .map((line) => /timer:\(([^)]*)\)/.exec(line)?.[1] ?? "none");
}

function config(listenPort: number, upstreams: Record<string, number>, options: Record<string, object | undefined>): object {
  const c = httpProxyConfig({
    listenPort,
    clusters: Object.fromEntries(Object.entries(upstreams).map(([name, port]) => [name, [port]])),
    routes: Object.keys(upstreams).map((name) => ({ match: { prefix: `/${name}` }, cluster: name })),
  }) as { static_resources: { clusters: Record<string, unknown>[] } };
  for (const cluster of c.static_resources.clusters) {
    const o = options[cluster.name as string];
    if (o !== undefined) cluster.upstream_connection_options = o;
  }
  return c;
}

describe.each(RUNTIMES)("upstream tcp_keepalive on %s", (runtime) => {
  const upstreams: HttpUpstream[] = [];
  let proxy: ProxyProcess;
  let base: string;
  const ports: Record<string, number> = {};
  const timed = runtime !== "deno";

  beforeAll(async () => {
    for (const name of ["plain", "keepalive", "timed"]) {
      const upstream = await httpUpstream((_req, res) => res.end(name));
      upstreams.push(upstream);
      ports[name] = upstream.port;
    }
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const used = timed ? ports : { plain: ports.plain!, keepalive: ports.keepalive! };
    proxy = await ProxyProcess.start(runtime, config(port, used, { keepalive: { tcp_keepalive: {} }, timed: { tcp_keepalive: { keepalive_time: 30 } } }));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    for (const upstream of upstreams) await upstream.close();
  });

  test("tcp_keepalive: {}: the pooled upstream connection has a keepalive timer; a cluster without it has none", async () => {
    for (const name of ["plain", "keepalive"]) {
      const response = await request(`${base}/${name}`);
      expect(await response.body.text()).toBe(name);
    }
    const keepalive = timersTo(ports.keepalive!);
    expect(keepalive.length).toBe(1);
    // The kernel's tcp_keepalive_time (7200 s by default): shown in minutes.
    expect(keepalive[0]).toMatch(/^keepalive,\d+min,0$/);
    expect(timersTo(ports.plain!)).toEqual(["none"]);
  });

  test.runIf(timed)("keepalive_time 30: the first probe is due within 30 s", async () => {
    const response = await request(`${base}/timed`);
    expect(await response.body.text()).toBe("timed");
    const timers = timersTo(ports.timed!);
    expect(timers.length).toBe(1);
    const seconds = /^keepalive,(\d+)sec,0$/.exec(timers[0]!);
    expect(seconds, timers[0]).not.toBeNull();
    expect(Number(seconds![1])).toBeLessThanOrEqual(30);
  });

  // Deno sets no timer (refused at start, above): what a pipe host refuses is never taken there.
  test.runIf(timed)("keepalive_time on an EDS cluster whose update has a pipe host: the update is rejected, as a static cluster with one is refused", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "ka-"));
    const socketPath = join(dir, "up.sock");
    const pipeUpstream = http.createServer((_req, res) => res.end("pipe"));
    await new Promise<void>((resolve) => pipeUpstream.listen(socketPath, resolve));
    const eds = join(dir, "eds.json");
    const assignment = { "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", cluster_name: "e", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socketPath } } } }] }] };
    writeFileSync(eds, JSON.stringify({ version_info: "1", resources: [assignment] }));
    const port = await freePort();
    const c = config(port, {}, {}) as { static_resources: { clusters: object[]; listeners: { filter_chains: { filters: { typed_config: { route_config: object } }[] }[] }[] } };
    c.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config = { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "e" } }] }] };
    c.static_resources.clusters = [{
      name: "e",
      type: "EDS",
      connect_timeout: "1s",
      eds_cluster_config: { eds_config: { path_config_source: { path: eds }, resource_api_version: "V3" } },
      upstream_connection_options: { tcp_keepalive: { keepalive_time: 30 } },
    }];
    const edsProxy = await ProxyProcess.start(runtime, c);
    try {
      await edsProxy.waitForLog(/filesystem config update rejected: cluster 'e': upstream_connection_options\.tcp_keepalive: keepalive_probes, keepalive_time and keepalive_interval are TCP's: they cannot apply to the cluster's pipe \(Unix socket\) endpoints \(.*up\.sock\)/);
      // Not connected with the timer dropped: the cluster has no host.
      const response = await request(`http://127.0.0.1:${port}/`);
      expect(response.statusCode).toBe(503);
      expect(await response.body.text()).toBe("no healthy upstream");
    } finally {
      await edsProxy.stop("SIGKILL");
      await new Promise((resolve) => pipeUpstream.close(resolve));
    }
  });

  test("a field this runtime cannot set is refused at start, naming the runtime", async () => {
    const port = await freePort();
    const field = runtime === "deno" ? "keepalive_time" : "keepalive_probes";
    const result = await runToExit(runtime, ["-c", writeConfig(config(port, { keepalive: ports.keepalive! }, { keepalive: { tcp_keepalive: { [field]: 3 } } }))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cluster 'keepalive': upstream_connection_options.tcp_keepalive.${field} is not supported on ${runtime}:`);
  });
});
