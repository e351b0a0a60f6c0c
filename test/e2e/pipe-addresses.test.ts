/**
 * Unix domain socket addresses (envoy.config.core.v3.Pipe) on every runtime: an HTTP
 * listener on a path (curl --unix-socket), a STATIC cluster whose endpoint is a path
 * (node:http listening there), the admin on a path, and a tcp_proxy listener in Linux's
 * abstract namespace (`@name`). As Envoy (source/common/network/socket_impl.cc): a file
 * already at the path is unlinked before the bind, and the socket is chmod-ed to `mode`;
 * a pipe peer is not appended to x-forwarded-for (Utility::appendXff) and is logged as
 * the listener's own path (peerAddress: an unnamed Unix peer is given getsockname's).
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import * as http from "node:http";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { adminStats } from "../support/admin-stats.ts";
import { freePort } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

/** A config with one HTTP listener on the Unix socket `path` answering `body` itself, behind `filters`. */
function directResponseOnPipe(path: string, body: string, filters: object[] = []): object {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "l",
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
    http_filters: [...filters, router],
  };
  return { static_resources: { listeners: [{ name: "l", address: { pipe: { path } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }] } };
}

/** A listener on the Unix socket `path` answering `body` itself (an LDS resource when `typed`). */
function pipeListener(name: string, path: string, body: string, typed = false): object {
  const config = directResponseOnPipe(path, body) as { static_resources: { listeners: object[] } };
  return { ...(typed && { "@type": "type.googleapis.com/envoy.config.listener.v3.Listener" }), ...config.static_resources.listeners[0], name };
}

/** curl over a Unix socket: [status, body]. Asynchronous: the upstream answers from this process. */
function curl(socketPath: string, path: string): Promise<[number, string]> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-s", "--max-time", "5", "--unix-socket", socketPath, "-w", "\n%{http_code}", `http://local${path}`], (err, stdout) => {
      if (err) return reject(err);
      const at = stdout.lastIndexOf("\n");
      resolve([Number(stdout.slice(at + 1)), stdout.slice(0, at)]);
    }),
  );
}

describe.each(RUNTIMES)("pipe (Unix domain socket) addresses on %s", (runtime) => {
  let proxy: ProxyProcess;
  let upstream: http.Server;
  let dir: string;
  let front: string;
  let admin: string;
  let up: string;
  let logPath: string;
  const abstract = `@polyvoy-pipe-e2e-${runtime}-${process.pid}`;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    // A short folder: a Unix socket's path has 108 bytes at most.
    dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    front = join(dir, "front.sock");
    admin = join(dir, "admin.sock");
    up = join(dir, "up.sock");
    logPath = join(dir, "access.log");
    // A stale file where the listener binds: Envoy unlinks it first.
    writeFileSync(front, "stale");
    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end(`up ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(up, resolve));
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { pipe: { path: admin } } },
      static_resources: {
        listeners: [
          {
            name: "front",
            address: { pipe: { path: front, mode: 0o660 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "front",
                      use_remote_address: true,
                      // A pipe peer is internal only with unix_sockets (InternalAddressConfig::isInternalAddress).
                      internal_address_config: { unix_sockets: true },
                      access_log: [
                        {
                          name: "envoy.access_loggers.file",
                          typed_config: {
                            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                            path: logPath,
                            log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS%|%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%|%DOWNSTREAM_REMOTE_PORT%|%DOWNSTREAM_LOCAL_ADDRESS%|%UPSTREAM_HOST%|%RESPONSE_CODE%\n" } },
                          },
                        },
                      ],
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "up" } }] }] },
                      http_filters: [router],
                    },
                  },
                ],
              },
            ],
          },
          ...(runtime === "node" ? [] : [{
            name: "abstract",
            address: { pipe: { path: abstract } },
            filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "abs", cluster: "up" } }] }],
          }]),
        ],
        clusters: [
          {
            name: "up",
            type: "STATIC",
            connect_timeout: "1s",
            load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: up } } } }] }] },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await new Promise((resolve) => upstream?.close(resolve));
  });

  test("an HTTP listener on a path (its stale file replaced, mode applied) proxies to a pipe endpoint; the pipe peer is not in x-forwarded-for, and is internal with unix_sockets", async () => {
    expect(statSync(front).isSocket()).toBe(true);
    expect(statSync(front).mode & 0o777).toBe(0o660);
    const [status, body] = await curl(front, "/hello");
    expect(status).toBe(200);
    expect(body).toBe("up /hello");
    const headers = seen.at(-1)!;
    // Envoy's appendXff skips a non-IP peer, and x-envoy-external-address is only for an IP one.
    expect(headers["x-forwarded-for"]).toBeUndefined();
    expect(headers["x-envoy-external-address"]).toBeUndefined();
    expect(headers["x-envoy-internal"]).toBe("true");
  });

  test("the access log shows the listener's path as the peer, no port, and the pipe upstream host", async () => {
    await curl(front, "/log");
    await expect.poll(() => (existsSync(logPath) ? readFileSync(logPath, "utf8") : ""), { timeout: 5000 }).toContain("|200");
    const line = readFileSync(logPath, "utf8").trimEnd().split("\n").at(-1)!;
    expect(line).toBe(`${front}|${front}|-|${front}|${up}|200`);
  });

  test.skipIf(runtime === "node")("a tcp_proxy listener in the abstract namespace reaches the pipe endpoint (curl --abstract-unix-socket: the name's own length, as Envoy's)", async () => {
    const [status, body] = await new Promise<[number, string]>((resolve, reject) =>
      execFile("curl", ["-s", "--max-time", "5", "--abstract-unix-socket", abstract.slice(1), "-w", "\n%{http_code}", "http://local/abs"], (err, stdout) => {
        if (err) return reject(err);
        const at = stdout.lastIndexOf("\n");
        resolve([Number(stdout.slice(at + 1)), stdout.slice(0, at)]);
      }),
    );
    expect(status).toBe(200);
    expect(body).toBe("up /abs");
  });

  test("the admin on a path: /listeners and /clusters name the paths", async () => {
    const [status, listeners] = await curl(admin, "/listeners");
    expect(status).toBe(200);
    expect(listeners).toBe(runtime === "node" ? `front::${front}\n` : `front::${front}\nabstract::${abstract}\n`);
    const json = JSON.parse((await curl(admin, "/listeners?format=json"))[1]);
    expect(json.listener_statuses[0].local_address).toEqual({ pipe: { path: front } });
    const clusters = (await curl(admin, "/clusters"))[1];
    expect(clusters).toContain(`up::${up}::cx_total::`);
    const clustersJson = JSON.parse((await curl(admin, "/clusters?format=json"))[1]);
    expect(clustersJson.cluster_statuses.find((c: { name: string }) => c.name === "up").host_statuses[0].address).toEqual({ pipe: { path: up } });
  });
});

describe.each(RUNTIMES)("a pipe path taken over on %s", (runtime) => {
  test("a proxy that stops leaves the socket of the one that took its path since (Envoy unlinks before its bind, never at close)", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const path = join(dir, "shared.sock");
    const config = (body: string) => directResponseOnPipe(path, body);
    const first = await ProxyProcess.start(runtime, config("first"));
    expect(await curl(path, "/")).toEqual([200, "first"]);
    const second = await ProxyProcess.start(runtime, config("second"));
    try {
      expect(await curl(path, "/")).toEqual([200, "second"]);
      await first.stop();
      expect(existsSync(path)).toBe(true);
      expect(await curl(path, "/")).toEqual([200, "second"]);
    } finally {
      await first.stop("SIGKILL");
      await second.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("a pipe listener with worker processes on %s", (runtime) => {
  test("--concurrency 2: worker 0 binds the path and serves it, the other worker stays up without it; a restarted worker 0 binds it again", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const path = join(dir, "workers.sock");
    const proxy = await ProxyProcess.start(runtime, directResponseOnPipe(path, "served"), 0, ["--concurrency", "2"]);
    try {
      await proxy.waitForLog(/all 2 workers started/, 1, 60_000);
      const pids = proxy.stderr.match(/all 2 workers started \(pids ([\d, ]+)\)/)![1]!.split(", ").map(Number);
      expect(proxy.stderr).toContain("listener 'l': a pipe listener is served by worker 0 alone");
      expect(proxy.stderr.match(/listener 'l' listening on /g)).toHaveLength(1);
      for (let i = 0; i < 3; i++) expect(await curl(path, "/")).toEqual([200, "served"]);
      // Worker 1, with no socket of its own, is not taken for a crash (it would be restarted).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(proxy.stderr).not.toContain("exited with");
      process.kill(pids[0]!, "SIGKILL");
      await proxy.waitForLog(/worker 0 \(pid \d+\) exited with signal SIGKILL; restarted/, 1, 10_000);
      await proxy.waitForLog(/listener 'l' listening on /g, 2, 60_000);
      expect(await curl(path, "/")).toEqual([200, "served"]);
      const exited = await proxy.stop("SIGTERM", 30_000);
      expect(exited.code).toBe(0);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("LDS listeners on pipe paths on %s", (runtime) => {
  test("two on one path, or one on a static listener's path, are refused as the static config refuses them; one removed leaves its path to a new one in the same update", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const [staticPath, ldsPath, lds] = [join(dir, "static.sock"), join(dir, "lds.sock"), join(dir, "lds.json")];
    const update = (version: string, listeners: object[]) => {
      writeFileSync(`${lds}.tmp`, JSON.stringify({ version_info: version, resources: listeners }));
      renameSync(`${lds}.tmp`, lds);
    };
    update("1", [pipeListener("a", ldsPath, "a", true)]);
    const config = {
      static_resources: { listeners: [pipeListener("static", staticPath, "static")] },
      dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } },
    };
    const proxy = await ProxyProcess.start(runtime, config, 2);
    try {
      expect(await curl(ldsPath, "/")).toEqual([200, "a"]);
      update("2", [pipeListener("a", ldsPath, "a", true), pipeListener("b", ldsPath, "b", true)]);
      await proxy.waitForLog(/filesystem config update rejected: .*listener 'b': duplicate listener address \S+lds\.sock \(already used by listener "a"\)/);
      expect(await curl(ldsPath, "/")).toEqual([200, "a"]);
      update("3", [pipeListener("a", ldsPath, "a", true), pipeListener("s", staticPath, "s", true)]);
      await proxy.waitForLog(/filesystem config update rejected: .*listener 's': duplicate listener address \S+static\.sock \(already used by listener "static"\)/);
      expect(await curl(staticPath, "/")).toEqual([200, "static"]);
      // Envoy's LDS removes what an update no longer names before it adds (lds_api.cc).
      update("4", [pipeListener("c", ldsPath, "c", true)]);
      await proxy.waitForLog(/listener 'c' listening on /);
      expect(await curl(ldsPath, "/")).toEqual([200, "c"]);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("LDS pipe listeners with worker processes on %s", (runtime) => {
  test("--concurrency 2: an LDS pipe listener is bound once, by worker 0; both workers reject a duplicate path with one reason; a moved one is bound once at its new path", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const [first, moved, lds] = [join(dir, "first.sock"), join(dir, "moved.sock"), join(dir, "lds.json")];
    const update = (version: string, listeners: object[]) => {
      writeFileSync(`${lds}.tmp`, JSON.stringify({ version_info: version, resources: listeners }));
      renameSync(`${lds}.tmp`, lds);
    };
    update("1", [pipeListener("a", first, "a", true)]);
    const config = { dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } } };
    const proxy = ProxyProcess.launch(runtime, ["-c", writeConfig(config), "--concurrency", "2"]);
    try {
      await proxy.waitForLog(/all 2 workers started/, 1, 60_000);
      expect(proxy.stderr.match(/listener 'a' listening on /g)).toHaveLength(1);
      expect(proxy.stderr.match(/listener 'a': a pipe listener is served by worker 0 alone/g)).toHaveLength(1);
      for (let i = 0; i < 3; i++) expect(await curl(first, "/")).toEqual([200, "a"]);
      update("2", [pipeListener("a", first, "a", true), pipeListener("b", first, "b", true)]);
      await proxy.waitForLog(/filesystem config update rejected: .*listener 'b': duplicate listener address \S+first\.sock \(already used by listener "a"\)/g, 2);
      update("3", [pipeListener("a", moved, "moved", true)]);
      await proxy.waitForLog(/listener 'a' listening on \S+moved\.sock/);
      await proxy.waitForLog(/listener 'a': a pipe listener is served by worker 0 alone/g, 2);
      expect(await curl(moved, "/")).toEqual([200, "moved"]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(proxy.stderr.match(/listening on \S+moved\.sock/g)).toHaveLength(1);
      expect(proxy.stderr).not.toContain("exited with");
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("an LDS pipe listener worker 0 cannot bind, with worker processes, on %s", (runtime) => {
  test("--concurrency 2: the listener_manager stats tell one failure and nothing added, created or active (the other worker does not count it as its own)", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const lds = join(dir, "lds.json");
    // No such directory: worker 0's bind fails.
    writeFileSync(lds, JSON.stringify({ version_info: "1", resources: [pipeListener("a", join(dir, "missing", "a.sock"), "a", true)] }));
    const adminPort = await freePort();
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } },
    };
    const proxy = ProxyProcess.launch(runtime, ["-c", writeConfig(config), "--concurrency", "2"]);
    try {
      await proxy.waitForLog(/all 2 workers started/, 1, 60_000);
      await proxy.waitForLog(/listener 'a' cannot bind to /);
      const names = ["listener_create_failure", "listener_create_success", "listener_added", "total_listeners_active"].map((name) => `listener_manager.${name}`);
      let values: (number | undefined)[] = [];
      for (let i = 0; i < 50; i++) {
        const stats = await adminStats(adminPort);
        values = names.map((name) => stats.get(name));
        if (values[0] === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(values).toEqual([1, 0, 0, 0]);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("a pipe peer has no IP on %s", (runtime) => {
  test("local_ratelimit's remote_address descriptor is not made for it (Envoy's RemoteAddressAction): no bucket per path", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const path = join(dir, "limited.sock");
    const proxy = await ProxyProcess.start(
      runtime,
      directResponseOnPipe(path, "ok", [
        {
          name: "envoy.filters.http.local_ratelimit",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            stat_prefix: "rl",
            token_bucket: { max_tokens: 100, tokens_per_fill: 100, fill_interval: "60s" },
            filter_enabled: { default_value: { numerator: 100, denominator: "HUNDRED" } },
            filter_enforced: { default_value: { numerator: 100, denominator: "HUNDRED" } },
            // One token per client address: a pipe peer makes no such descriptor.
            descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "60s" } }],
            rate_limits: [{ actions: [{ remote_address: {} }] }],
          },
        },
      ]),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await curl(path, "/"))[0]);
      expect(statuses).toEqual([200, 200, 200]);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});

describe.each(RUNTIMES)("pipe addresses refused on %s", (runtime) => {
  test("a mode on an abstract socket, a pipe in a STRICT_DNS cluster: config errors naming them", async () => {
    const listener = (path: string, mode?: number) => ({
      name: "l",
      address: { pipe: { path, ...(mode !== undefined && { mode }) } },
      filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } }] }],
    });
    const dns = { name: "c", type: "STRICT_DNS", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "/tmp/x.sock" } } } }] }] } };
    const result = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig({ static_resources: { listeners: [listener("@abs", 0o600)], clusters: [dns] } })]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("Cannot set mode for Abstract AF_UNIX sockets");
    expect(result.stderr).toContain("a STRICT_DNS cluster resolves socket_address names: a pipe endpoint needs a STATIC (or EDS) cluster");
  });

  test.runIf(runtime === "node")("node: an abstract listener is refused at start, naming why", async () => {
    const cluster = { name: "c", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] } };
    const config = { static_resources: { listeners: [{ name: "l", address: { pipe: { path: `@polyvoy-refused-${process.pid}` } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } }] }] }], clusters: [cluster] } };
    const result = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("an abstract Unix socket");
    expect(result.stderr).toContain("pads an abstract name");
  });

  test("--mode validate refuses what start refuses: the admin, a listener and an endpoint on abstract sockets on node, one line each; OK where they can be bound", async () => {
    const tag = `${runtime}-${process.pid}`;
    const tcpProxy = { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } };
    const config = writeConfig({
      admin: { address: { pipe: { path: `@polyvoy-va-${tag}` } } },
      static_resources: {
        listeners: [{ name: "l", address: { pipe: { path: `@polyvoy-vl-${tag}` } }, filter_chains: [{ filters: [tcpProxy] }] }],
        clusters: [{ name: "c", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: `@polyvoy-vc-${tag}` } } } }] }] } }],
      },
    });
    const validated = await runToExit(runtime, ["--mode", "validate", "-c", config]);
    if (runtime !== "node") {
      expect(validated.stdout).toBe(`configuration '${config}' OK\n`);
      expect(validated.code).toBe(0);
      return;
    }
    const why = "is not supported on node: node's net pads an abstract name";
    expect(validated.code).toBe(1);
    expect(validated.stderr).toContain(`config error: admin listener cannot bind to @polyvoy-va-${tag}: listener 'admin': an abstract Unix socket (@polyvoy-va-${tag}) ${why}`);
    expect(validated.stderr).toContain(`config error: listener 'l': an abstract Unix socket (@polyvoy-vl-${tag}) ${why}`);
    expect(validated.stderr).toContain(`config error: cluster 'c': an abstract Unix socket (@polyvoy-vc-${tag}) ${why}`);
    // Start stops at the first, the admin, with the same words; with workers too, where the
    // supervisor binds the admin itself.
    for (const workers of [[], ["--concurrency", "2"]]) {
      const started = await runToExit(runtime, ["-c", config, ...workers]);
      expect(started.code).toBe(1);
      expect(started.stderr).toContain(`admin listener cannot bind to @polyvoy-va-${tag}: listener 'admin': an abstract Unix socket (@polyvoy-va-${tag}) ${why}`);
    }
  });

  test("--mode validate with workers refuses what a supervisor refuses: enable_reuse_port: false where workers bind their own sockets", async () => {
    const tcpProxy = { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } };
    const config = writeConfig({
      static_resources: {
        listeners: [{ name: "one", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, enable_reuse_port: false, filter_chains: [{ filters: [tcpProxy] }] }],
        clusters: [{ name: "c", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 9 } } } }] }] } }],
      },
    });
    const one = await runToExit(runtime, ["--mode", "validate", "-c", config]);
    expect(one.code).toBe(0);
    const two = await runToExit(runtime, ["--mode", "validate", "-c", config, "--concurrency", "2"]);
    if (runtime === "node") {
      // node's workers share one listening socket (cluster module): nothing to refuse.
      expect(two.code).toBe(0);
      return;
    }
    expect(two.code).toBe(1);
    expect(two.stderr).toContain("config error: listener 'one': enable_reuse_port: false needs one listening socket shared by every worker");
  });

  test.runIf(runtime === "node")("node: an abstract upstream endpoint is refused as a listener on one is, a STATIC cluster's at start, an EDS update's rejected", async () => {
    const tcpProxy = { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } };
    const listeners = [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 0 } }, filter_chains: [{ filters: [tcpProxy] }] }];
    const abstractEndpoints = (name: string) => ({ cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: `@polyvoy-up-${process.pid}` } } } }] }] });
    const staticCluster = { name: "c", type: "STATIC", connect_timeout: "1s", load_assignment: abstractEndpoints("c") };
    const result = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners, clusters: [staticCluster] } })]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cluster 'c': an abstract Unix socket (@polyvoy-up-${process.pid}) is not supported on node: node's net pads an abstract name`);

    const dir = mkdtempSync(join(inject("tempRoot"), "pipe-"));
    const eds = join(dir, "eds.json");
    writeFileSync(eds, JSON.stringify({ version_info: "1", resources: [{ "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", ...abstractEndpoints("c") }] }));
    const edsCluster = { name: "c", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: { path_config_source: { path: eds }, resource_api_version: "V3" } } };
    const proxy = await ProxyProcess.start(runtime, { static_resources: { listeners, clusters: [edsCluster] } });
    try {
      await proxy.waitForLog(/filesystem config update rejected: an abstract Unix socket \(@polyvoy-up-\d+\) is not supported on node/);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});
