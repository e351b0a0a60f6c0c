/**
 * STRICT_DNS and LOGICAL_DNS clusters on every runtime, resolving through the runtime's
 * own getaddrinfo: start-up waits for each cluster's first resolution (Envoy's cluster
 * warming), so `localhost` (from /etc/hosts) serves the very first request, a name that
 * cannot resolve (RFC 6761 .invalid) releases start-up too and gives 503 no healthy
 * upstream while the proxy keeps
 * serving, `--mode validate` accepts such a name without resolving, and Envoy's
 * front-proxy sandbox config with its STRICT_DNS clusters serves as written.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { freePort } from "../support/net-helpers.ts";
import { ProxyProcess, ROOT, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const UNRESOLVABLE = "polyvoy-e2e.invalid";

/** The proxy's config: three DNS clusters behind /strict, /logical and /missing, and an admin listener. */
function dnsConfig(listenPort: number, adminPort: number, upstreamPort: number): object {
  const config = httpProxyConfig({
    listenPort,
    clusters: { strict: [upstreamPort], logical: [upstreamPort], missing: [upstreamPort] },
    routes: [
      { match: { prefix: "/strict" }, cluster: "strict" },
      { match: { prefix: "/logical" }, cluster: "logical" },
      { match: { prefix: "/missing" }, cluster: "missing" },
    ],
  }) as { static_resources: { clusters: { name: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string } } } }[] }[] } }[] } };
  for (const cluster of config.static_resources.clusters) {
    const type = cluster.name === "logical" ? "LOGICAL_DNS" : "STRICT_DNS";
    Object.assign(cluster, { type, dns_lookup_family: "V4_ONLY", dns_refresh_rate: "1s" });
    cluster.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.address = cluster.name === "missing" ? UNRESOLVABLE : "localhost";
  }
  return { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } };
}

/** GET `path` until `ready(body)` or 10 s (refreshes come on their own schedule). */
async function fetchUntil(url: string, ready: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await (await fetch(url)).text();
    if (ready(text) || Date.now() > deadline) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(RUNTIMES)("DNS clusters on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => res.end(`upstream saw ${req.url}`));
    port = await freePort();
    adminPort = await freePort();
    // Started: its listener is bound, which happens only after every DNS cluster's first resolution.
    proxy = await ProxyProcess.start(runtime, dnsConfig(port, adminPort, upstream.port), 2);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test("a STRICT_DNS and a LOGICAL_DNS cluster on localhost serve requests from the first one on; /clusters shows the host name", async () => {
    // No waiting: the listener opened after the first answers, so both hosts are there now.
    const ready = await fetch(`http://127.0.0.1:${adminPort}/ready`);
    expect(await ready.text()).toBe("LIVE\n");
    const strict = await fetch(`http://127.0.0.1:${port}/strict/a`);
    expect(strict.status).toBe(200);
    expect(await strict.text()).toBe("upstream saw /strict/a");
    const logical = await fetch(`http://127.0.0.1:${port}/logical/b`);
    expect(await logical.text()).toBe("upstream saw /logical/b");
    const clusters = await (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text();
    expect(clusters).toContain(`strict::127.0.0.1:${upstream.port}::hostname::localhost\n`);
    expect(clusters).toContain(`logical::127.0.0.1:${upstream.port}::hostname::localhost\n`);
    const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    expect(stats).toMatch(/^cluster\.strict\.update_success: [1-9]/m);
  });

  test("a name that does not resolve: 503 no healthy upstream, a warning, and the proxy stays up", async () => {
    const missing = await fetch(`http://127.0.0.1:${port}/missing`);
    expect(missing.status).toBe(503);
    expect(await missing.text()).toBe("no healthy upstream");
    await proxy.waitForLog(new RegExp(`\\[warning\\] cluster 'missing': ${UNRESOLVABLE.replace(".", "\\.")} resolves to no IPv4 address`));
    // Refreshes go on (1 s) and the other clusters keep serving.
    const stats = await fetchUntil(`http://127.0.0.1:${adminPort}/stats`, (text) => /^cluster\.missing\.update_attempt: ([2-9]|\d\d)/m.test(text));
    expect(stats).toMatch(/^cluster\.missing\.update_attempt: ([2-9]|\d\d)/m);
    expect(stats).toMatch(/^cluster\.missing\.membership_total: 0$/m);
    expect(await (await fetch(`http://127.0.0.1:${port}/strict/again`)).text()).toBe("upstream saw /strict/again");
    // One warning, not one per refresh.
    expect(proxy.stderr.match(/cluster 'missing'/g)).toHaveLength(1);
  });

  test("--mode validate accepts a DNS cluster whose name does not resolve", async () => {
    const path = writeConfig(dnsConfig(1, 2, 3));
    const result = await runToExit(runtime, ["--mode", "validate", "-c", path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`configuration '${path}' OK\n`);
    expect(result.stderr).toBe("");
  });
});

describe.each(RUNTIMES)("Envoy's front-proxy config with STRICT_DNS clusters on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => res.end(`Hello from behind Envoy (${req.url})!`));
    port = await freePort();
    const adminPort = await freePort();
    const yaml = readFileSync(join(ROOT, "test/fixtures/front-proxy-dns.yaml"), "utf8")
      .replace("port_value: 8080", `port_value: ${port}`)
      .replaceAll("port_value: 8000", `port_value: ${upstream.port}`)
      .replace("port_value: 8001", `port_value: ${adminPort}`);
    proxy = await ProxyProcess.start(runtime, yaml, 2);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test("/service/1 and /service/2 reach the service through localhost", async () => {
    expect(await (await fetch(`http://127.0.0.1:${port}/service/1`)).text()).toBe("Hello from behind Envoy (/service/1)!");
    expect(await (await fetch(`http://127.0.0.1:${port}/service/2`)).text()).toBe("Hello from behind Envoy (/service/2)!");
  });
});

describe.each(RUNTIMES)("a DNS refresh rate beyond a runtime timer's 2^31-1 ms on %s", (runtime) => {
  test("dns_refresh_rate 3000000s (34 days): resolved once, not at once again and again", async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = dnsConfig(port, adminPort, 1) as { static_resources: { clusters: Record<string, unknown>[] } };
    // Runtimes fire a longer setTimeout after 1 ms: every answer started the next lookup.
    config.static_resources.clusters = config.static_resources.clusters.filter((c) => c.name === "strict").map((c) => ({ ...c, dns_refresh_rate: "3000000s" }));
    config.static_resources.clusters.push({ ...config.static_resources.clusters[0]!, name: "logical", type: "LOGICAL_DNS" }, { ...config.static_resources.clusters[0]!, name: "missing" });
    const proxy = await ProxyProcess.start(runtime, config, 2);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
      expect(stats).toMatch(/^cluster\.strict\.update_attempt: 1$/m);
      expect(stats).toMatch(/^cluster\.logical\.update_attempt: 1$/m);
      expect(proxy.stderr).not.toMatch(/TimeoutOverflowWarning/);
    } finally {
      await proxy.stop();
    }
  });
});
