/**
 * A cluster's upstream_connection_options.tcp_keepalive on every runtime: the proxy's
 * pooled upstream connection carries a keepalive timer in `ss -tno` (SO_KEEPALIVE is on:
 * the kernel's 2 h idle time for `{}`, 30 s with keepalive_time 30 where the runtime can set
 * it), a cluster without it has none; where a runtime cannot set a field it is refused at
 * start with a line naming the runtime (Deno sets SO_KEEPALIVE alone).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

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

  test("a field this runtime cannot set is refused at start, naming the runtime", async () => {
    const port = await freePort();
    const field = runtime === "deno" ? "keepalive_time" : "keepalive_probes";
    const result = await runToExit(runtime, ["-c", writeConfig(config(port, { keepalive: ports.keepalive! }, { keepalive: { tcp_keepalive: { [field]: 3 } } }))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cluster 'keepalive': upstream_connection_options.tcp_keepalive.${field} is not supported on ${runtime}:`);
  });
});
