/**
 * Network (L4) filters written in TypeScript against the real proxy on every runtime: the
 * example examples/filters/tcp-guard.ts in front of tcp_proxy (a real TCP echo upstream,
 * node:net clients) — its banner, its bytes counted both ways (onData, onWrite), a denied
 * prefix answered and closed before anything reaches the upstream — and a failing filter
 * closing only its own connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig } from "../support/proxy-process.ts";
import { connect, freePort, peerClosed, readAll, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { tcpProxyConfig } from "../support/configs.ts";

const SCRIPT = "type.googleapis.com/polyvoy.filters.network.script.v1.Script";

let folder: string;
beforeAll(() => {
  folder = mkdtempSync(join(inject("tempRoot"), "network-script-"));
  writeFileSync(join(folder, "failing.mjs"), `export default { create: () => ({ onData(data) { if (String.fromCharCode(...data).startsWith("boom")) throw new Error("boom on purpose"); } }) };\n`);
});

describe.each(RUNTIMES)("network Script filters on %s", (runtime) => {
  let echo: TcpServer;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  const received: string[] = [];

  beforeAll(async () => {
    echo = await tcpServer((socket) => {
      socket.on("data", (d: Buffer) => {
        received.push(d.toString());
        socket.write(d);
      });
      socket.on("end", () => socket.end());
    });
    port = await freePort();
    adminPort = await freePort();
    const config = tcpProxyConfig({ listenPort: port, upstreamPorts: [echo.port] }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } };
    config.static_resources.listeners[0]!.filter_chains[0]!.filters.unshift(
      { name: "failing", typed_config: { "@type": SCRIPT, module: join(folder, "failing.mjs") } },
      { name: "tcp-guard", typed_config: { "@type": SCRIPT, module: "./examples/filters/tcp-guard.ts", config: { banner: "welcome\n", deny: ["QUIT"] } } },
    );
    proxy = await ProxyProcess.start(runtime, { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
  });

  const stat = async (name: string) => {
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=${name}`)).body.text();
    return Number(new RegExp(`${name.replace(/\./g, "\\.")}: (\\d+)`).exec(text)?.[1] ?? NaN);
  };

  test("the banner first, then the upstream's echo; bytes counted each way", async () => {
    const socket = await connect(port);
    const all = readAll(socket);
    socket.write("hello");
    // The echo comes back before we half-close: wait for it.
    const deadline = Date.now() + 10_000;
    while (!received.includes("hello") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.end();
    expect((await all).toString()).toBe("welcome\nhello");
    expect(await stat("network_script.tcp-guard.bytes_in")).toBe(5);
    // The banner is the filter's own write: not counted by its onWrite.
    expect(await stat("network_script.tcp-guard.bytes_out")).toBe(5);
  });

  test("a denied prefix, even split across reads: answered and closed, nothing reaches the upstream", async () => {
    const before = received.length;
    const socket = await connect(port);
    const all = readAll(socket);
    socket.write("QU");
    await new Promise((r) => setTimeout(r, 100));
    socket.write("IT now");
    await peerClosed(socket);
    expect((await all).toString()).toBe("welcome\ndenied\n");
    expect(received.length).toBe(before);
    expect(await stat("network_script.tcp-guard.denied")).toBe(1);
  });

  test("a filter that throws closes its connection (logged, counted); others are served", async () => {
    const socket = await connect(port);
    const all = readAll(socket).catch(() => Buffer.alloc(0));
    socket.write("boom");
    await peerClosed(socket);
    await all;
    expect(proxy.stderr).toMatch(/failing: onData failed: Error: boom on purpose/);
    expect(await stat("network_script.failing.errors")).toBe(1);
    const other = await connect(port);
    const echoed = readAll(other);
    other.write("again");
    const deadline = Date.now() + 10_000;
    while (!received.includes("again") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    other.end();
    expect((await echoed).toString()).toBe("welcome\nagain");
  });

  test("--mode validate loads the modules, in default_filter_chain too: a missing one is a config error naming the field", async () => {
    const config = tcpProxyConfig({ listenPort: 1, upstreamPorts: [2] }) as { static_resources: { listeners: { filter_chains: { filters: object[] }[]; default_filter_chain?: object }[] } };
    const listener = config.static_resources.listeners[0]!;
    listener.default_filter_chain = { filters: [{ name: "s", typed_config: { "@type": SCRIPT, module: "./no/such-filter.mjs" } }, ...listener.filter_chains[0]!.filters] };
    const result = await runToExit(runtime, ["-c", writeConfig(config), "--mode", "validate"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/config error: static_resources\.listeners\[0\]\.default_filter_chain\.filters\[0\]\.typed_config\.module: cannot load '\.\/no\/such-filter\.mjs': /);
  });
});
