/** envoy.filters.network.connection_limit against the real proxy on every runtime. */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("connection_limit on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(req.url));
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: { echo: [echo.port] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }] }) as {
      static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] };
    };
    const chain = config.static_resources.listeners[0]!.filter_chains[0]!;
    chain.filters.unshift({
      name: "envoy.filters.network.connection_limit",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit",
        stat_prefix: "lim",
        max_connections: 1,
      },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("a second connection is closed unanswered while the first is open; then there is room again", async () => {
    const first = net.connect({ port, host: "127.0.0.1" });
    first.on("error", () => {});
    await new Promise((r) => first.once("connect", r));
    // The first connection is counted once the proxy has taken it: let it answer a request.
    let got = "";
    first.on("data", (d: Buffer) => (got += d.toString("latin1")));
    first.write("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
    for (let i = 0; i < 50 && !got.includes("/first"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toMatch(/^HTTP\/1\.1 200/);
    // Closed with the request unread: the kernel may answer the close with a reset.
    const second = await rawExchange(port, "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000).catch((err: NodeJS.ErrnoException) => {
      expect(err.code).toBe("ECONNRESET");
      return { text: "", closed: true };
    });
    expect(second).toEqual({ text: "", closed: true });
    first.destroy();
    let third = { text: "", closed: false };
    // The proxy sees the first close a moment later.
    for (let i = 0; i < 20 && !third.text; i++) {
      await new Promise((r) => setTimeout(r, 50));
      third = await rawExchange(port, "GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000);
    }
    expect(third.text).toMatch(/^HTTP\/1\.1 200/);
    expect(echo.requests.map((r) => r.url)).toEqual(["/first", "/third"]);
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=connection_limit`)).body.text();
    expect(stats).toMatch(/^connection_limit\.lim\.limited_connections: [1-9]/m);
    expect(stats).toMatch(/^connection_limit\.lim\.active_connections: 0$/m);
  });
});
