/**
 * The command line and config errors as a user meets them, on every runtime: the
 * process's exit code, its stderr lines, and that nothing was started.
 */
import { describe, expect, test } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, proxyCommand, ROOT, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, tcpServer } from "../support/net-helpers.ts";
import { httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import { CommandProcess } from "../support/command-process.ts";
import { httpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** Each bad config, and the line its error must contain. */
const BAD_CONFIGS: { what: string; config: string; expect: string }[] = [
  {
    what: "YAML syntax error",
    config: "static_resources:\n  listeners: [\n    - name: x\n",
    expect: "config error: config: YAML syntax error at line",
  },
  {
    what: "wrong type",
    config: "static_resources:\n  clusters:\n    - name: c\n      connect_timeout: 1s\n      per_connection_buffer_limit_bytes: lots\n      load_assignment: { cluster_name: c }\n",
    expect: "config error: static_resources.clusters[0].per_connection_buffer_limit_bytes: \"lots\" is not a number (a uint32, given as a number or a string of one)",
  },
  {
    what: "unknown field",
    config: "static_resources:\n  clusters: []\n  colour: blue\n",
    expect: "config error: static_resources: `colour` is not a field of envoy.config.bootstrap.v3.Bootstrap.StaticResources",
  },
  {
    what: "unsupported enum",
    config: "static_resources:\n  clusters:\n    - name: c\n      load_assignment: { cluster_name: c, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1, protocol: UDP } } } }] }] }\n",
    expect: "config error: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.protocol: UDP is an Envoy value that polyvoy does not support yet (supported: TCP)",
  },
];

/** proto3 JSON names: `port_value` → `portValue`, keys only. */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camelCaseKeys(child)]),
  );
}

/** A YAML config whose HCM (xds.type.v3.TypedStruct) and router (udpa.type.v1.TypedStruct) are TypedStructs. */
function typedStructConfig(port: number): string {
  return `static_resources:
  listeners:
    - name: http
      address:
        socket_address:
                address: 127.0.0.1
                port_value: ${port}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/xds.type.v3.TypedStruct
                type_url: type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                value:
                  stat_prefix: ingress
                  route_config:
                    virtual_hosts:
                      - name: all
                        domains: ["*"]
                        routes:
                          - match: { prefix: "/" }
                            direct_response: { status: 200, body: { inline_string: "typed struct" } }
                  http_filters:
                    - name: envoy.filters.http.router
                      typed_config:
                        "@type": type.googleapis.com/udpa.type.v1.TypedStruct
                        type_url: type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                        value: {}
`;
}

function missingClusterConfig(port: number): object {
  const config = tcpProxyConfig({ listenPort: port, upstreamPorts: [1] }) as { static_resources: { clusters: unknown[] } };
  config.static_resources.clusters = [];
  return config;
}

describe.each(RUNTIMES)("command line and config errors on %s", (runtime) => {
  test.each(BAD_CONFIGS)("$what: exit 1 with a one-line message naming the field", async ({ config, expect: line }) => {
    const result = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(line);
    expect(result.stderr).not.toMatch(/listening on|    at /); // nothing started, no stack trace
  });

  test("missing cluster referenced by tcp_proxy, and duplicate listener names, reported together", async () => {
    const port = await freePort();
    const config = missingClusterConfig(port) as { static_resources: { listeners: object[] } };
    config.static_resources.listeners.push({ ...config.static_resources.listeners[0]!, address: { socket_address: { address: "127.0.0.1", port_value: port + 1 } } });
    const result = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toContain('config error: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster: no cluster named "upstream" is defined');
    expect(lines).toContain('config error: static_resources.listeners[1].name: duplicate listener name "tcp"');
    // nothing listens on the port
    await expect(connect(port)).rejects.toThrow(/ECONNREFUSED/);
  });

  test("port in use: exit 1 naming the listener and address, nothing left listening", async () => {
    const squatter = await tcpServer(() => {});
    const otherPort = await freePort();
    const config = tcpProxyConfig({ listenPort: otherPort, upstreamPorts: [1] }) as { static_resources: { listeners: object[] } };
    const first = config.static_resources.listeners[0]!;
    // The first listener binds fine; the second finds its port taken.
    config.static_resources.listeners.push({ ...first, name: "taken", address: { socket_address: { address: "127.0.0.1", port_value: squatter.port } } });
    try {
      const result = await runToExit(runtime, ["-c", writeConfig(config)]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`listener 'taken' cannot bind to 127\\.0\\.0\\.1:${squatter.port}: .*EADDRINUSE`));
      await expect(connect(otherPort)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await squatter.close();
    }
  });

  test("--mode validate: exit 0 for a good file without listening, exit 1 for a bad one", async () => {
    const port = await freePort();
    const good = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig(tcpProxyConfig({ listenPort: port, upstreamPorts: [1] }))]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^configuration '.*envoy\.json' OK\n$/);
    const bad = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig(missingClusterConfig(port))]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no cluster named "upstream" is defined');
  });

  test("the shipped examples validate", async () => {
    // From source, as the README runs them: ts-filter.yaml's TypeScript filter loads only under tsx on node.
    startNodeFrom("source");
    try {
      for (const file of ["examples/default.yaml", "examples/tcp-proxy.yaml", "examples/front-proxy.yaml", "examples/ts-filter.yaml"]) {
        const result = await runToExit(runtime, ["--mode", "validate", "-c", join(ROOT, file)]);
        expect(result.stdout).toBe(`configuration '${join(ROOT, file)}' OK\n`);
        expect(result.code).toBe(0);
      }
    } finally {
      startNodeFrom("package");
    }
  });

  test("--config-yaml with camelCase proto3-JSON field names runs a proxy", async () => {
    const upstream = await tcpServer((s) => s.end("hi from upstream"));
    const port = await freePort();
    const json = JSON.stringify(camelCaseKeys(tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port] })));
    expect(json).toContain('"staticResources"');
    const [cmd, args] = proxyCommand(runtime, ["--config-yaml", json]);
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    try {
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      while (!stderr.includes("listening on")) {
        if (child.exitCode !== null) throw new Error(stderr);
        await new Promise((r) => setTimeout(r, 20));
      }
      const client = await connect(port);
      const got = await new Promise<string>((resolve) => {
        let text = "";
        client.on("data", (d) => (text += d)).on("end", () => resolve(text));
      });
      expect(got).toBe("hi from upstream");
      client.destroy();
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
    }
  });

  test("--config-yaml beside -c is merged over the file (Envoy's MergeFrom): the node replaced, a cluster added, on SIGHUP too", async () => {
    const [one, two] = await Promise.all([httpUpstream((_req, res) => res.end("one")), httpUpstream((_req, res) => res.end("two"))]);
    const [port, admin] = [await freePort(), await freePort()];
    const file = writeConfig({
      node: { id: "file-node", cluster: "file-cluster" },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      ...httpProxyConfig({
        listenPort: port,
        clusters: { one: [one.port] },
        routes: [
          { match: { prefix: "/two" }, cluster: "two" },
          { match: { prefix: "/" }, cluster: "one" },
        ],
      }),
    });
    const cluster = { name: "two", load_assignment: { cluster_name: "two", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: two.port } } } }] }] } };
    const override = JSON.stringify({ node: { id: "cli-node" }, static_resources: { clusters: [cluster] } });
    const [cmd, args] = proxyCommand(runtime, ["-c", file, "--config-yaml", override]);
    const proxy = new CommandProcess(cmd, args, process.cwd());
    try {
      await proxy.waitFor(`listening on 127.0.0.1:${port}`);
      expect(await (await fetch(`http://127.0.0.1:${port}/two`)).text()).toBe("two");
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("one");
      const info = (await (await fetch(`http://127.0.0.1:${admin}/server_info`)).json()) as { node: { id: string; cluster: string } };
      expect(info.node).toMatchObject({ id: "cli-node", cluster: "file-cluster" });
      // A reload merges it again: the file alone has no cluster "two", and nothing is removed.
      proxy.signal("SIGHUP");
      await proxy.waitFor("config reload: done");
      expect(await (await fetch(`http://127.0.0.1:${port}/two`)).text()).toBe("two");
      expect(proxy.stderr).not.toMatch(/refused|cluster 'two' removed|changed: it takes a restart/);
    } finally {
      await proxy.stop();
      await Promise.all([one.close(), two.close()]);
    }
    const validate = await runToExit(runtime, ["--mode", "validate", "-c", file, "--config-yaml", override]);
    expect(validate).toMatchObject({ code: 0 });
  });

  test("bad command lines: exit 1 with the problem and the usage", async () => {
    for (const [args, message] of [
      [[], "no configuration"],
      [["--frobnicate"], 'unknown option "--frobnicate"'],
      [["-c", "/nonexistent/envoy.yaml"], "config error: cannot read '/nonexistent/envoy.yaml': no such file"],
      [["-c", "x.yaml", "--log-level", "loud"], '--log-level: unknown level "loud"'],
      [["-c", "x.yaml", "--mode", "bogus"], '--mode: unsupported mode "bogus"'],
      [["-c", "x.yaml", "--mode", "init_only"], '--mode: "init_only" is not supported'],
    ] as [string[], string][]) {
      const result = await runToExit(runtime, args);
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toContain(message);
    }
  });

  test("TypedStruct typed_config (xds.type.v3 and udpa.type.v1) validates and serves", async () => {
    const port = await freePort();
    const path = writeConfig(typedStructConfig(port));
    const validated = await runToExit(runtime, ["--mode", "validate", "-c", path]);
    expect(validated.stdout).toMatch(/configuration '.*envoy\.yaml' OK/);
    expect(validated.code).toBe(0);
    const proxy = await ProxyProcess.start(runtime, typedStructConfig(port));
    try {
      const res = await request(`http://127.0.0.1:${port}/`);
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe("typed struct");
    } finally {
      await proxy.stop("SIGKILL");
    }
  });

  test("a key given twice in one YAML mapping: the later value wins, as Envoy's YAML loader (yaml_utility.cc) takes it", async () => {
    const port = await freePort();
    // The listener's port_value twice: the proxy listens on the second.
    const text = typedStructConfig(port).replace(`port_value: ${port}`, `port_value: 1\n                port_value: ${port}`);
    expect(text).toContain("port_value: 1\n");
    expect((await runToExit(runtime, ["--mode", "validate", "-c", writeConfig(text)])).code).toBe(0);
    const proxy = await ProxyProcess.start(runtime, text);
    try {
      expect(await (await request(`http://127.0.0.1:${port}/`)).body.text()).toBe("typed struct");
    } finally {
      await proxy.stop("SIGKILL");
    }
  });

  test("unreadable configs: a binary file, a broken .json in JSON terms, a missing file — each a config error line", async () => {
    const binary = writeConfig("placeholder");
    writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]));
    const notUtf8 = writeConfig("placeholder");
    writeFileSync(notUtf8, Buffer.concat([Buffer.from("admin: "), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from("\n")]));
    const brokenJson = writeConfig('{\n  "static_resources": {\n    "clusters": [,]\n  }\n}\n', "json");
    // Under --mode validate, and one real start (the same reading path).
    const cases: [string[], string][] = [
      [["--mode", "validate", "-c", binary], "config error: config: not a text file (it contains NUL bytes)"],
      [["--mode", "validate", "-c", notUtf8], "config error: config: not a text file (it is not valid UTF-8)"],
      [["--mode", "validate", "-c", brokenJson], "config error: config: JSON syntax error at line 3, column 18: expected a value"],
      [["--mode", "validate", "-c", "/nonexistent/envoy.json"], "config error: cannot read '/nonexistent/envoy.json': no such file"],
      [["-c", brokenJson], "config error: config: JSON syntax error"],
    ];
    const results = await Promise.all(cases.map(([args]) => runToExit(runtime, args, 60_000)));
    results.forEach((result, i) => {
      const [args, line] = cases[i]!;
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toContain(line);
      expect(result.stderr).not.toMatch(/YAML|listening on|    at /);
    });
  });

  test("--version names the runtime; it and --help answer on stdout, as Envoy's", async () => {
    const result = await runToExit(runtime, ["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^polyvoy \\d+\\.\\d+\\.\\d+ \\(${runtime} \\S+\\)\\n$`));
    expect(result.stderr).toBe("");
    for (const flag of ["--help", "-h"]) {
      const help = await runToExit(runtime, [flag]);
      expect(help).toMatchObject({ code: 0, stderr: "" });
      expect(help.stdout).toMatch(/^Usage: polyvoy \[options\]\n/);
    }
  });
});

test("package.json pins bun and deno so `npm ci` brings all three runtimes", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  expect(pkg.devDependencies.bun).toMatch(/^\d+\.\d+\.\d+$/);
  expect(pkg.devDependencies.deno).toMatch(/^\d+\.\d+\.\d+$/);
});
