/**
 * Cluster `preconnect_policy.per_upstream_preconnect_ratio` on every runtime (Envoy's
 * ConnPoolImplBase::shouldCreateNewConnection): with ratio 2 the HTTP/1.1 pool opens a
 * connection ahead of the next stream, so a real upstream counting the connections it
 * accepted sees two after the first request (one without a policy), and no more while
 * requests come one at a time (one in use, one spare: the ratio is met).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** The connections accepted once `want` came (or 10 s), and 300 ms more for one too many to show. */
async function connectionsUntil(upstream: HttpUpstream, want: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (upstream.connections < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  return upstream.connections;
}

describe.each(RUNTIMES)("preconnect_policy on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => res.end(`saw ${req.url}`));
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { pre: [upstream.port] },
        clusterExtra: { preconnect_policy: { per_upstream_preconnect_ratio: 2 } },
        routes: [{ match: { prefix: "/" }, cluster: "pre" }],
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  test("per_upstream_preconnect_ratio 2: the first request opens two upstream connections; sequential requests open no more", async () => {
    expect(await (await fetch(`http://127.0.0.1:${port}/a`)).text()).toBe("saw /a");
    expect(await connectionsUntil(upstream, 2)).toBe(2);
    for (const path of ["/b", "/c", "/d"]) expect(await (await fetch(`http://127.0.0.1:${port}${path}`)).text()).toBe(`saw ${path}`);
    // A third would come at once with the requests; none did.
    expect(await connectionsUntil(upstream, 0)).toBe(2);
  });
});
