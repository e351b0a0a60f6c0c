/**
 * Route internal_redirect_policy (and the deprecated internal_redirect_action) on every
 * runtime, against a node:http upstream that answers redirects: the proxy follows a 3xx
 * itself — the request, body included, runs again as the Location says — and passes the
 * 3xx on when the policy does not allow it, with Envoy's stats for both.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import type * as http from "node:http";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HOST = "front.test";

async function stats(adminPort: number): Promise<Map<string, number>> {
  const res = await request(`http://127.0.0.1:${adminPort}/stats`);
  const map = new Map<string, number>();
  for (const line of (await res.body.text()).split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}

describe.each(RUNTIMES)("internal redirects on %s", (runtime) => {
  let origin: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  /** A request through the proxy; the response's status, headers and body. */
  async function send(path: string, init: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}) {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method: (init.method ?? "GET") as "GET", headers: { host: HOST, ...init.headers }, body: init.body });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  }

  /** How many requests for `path` the origin got since `from`. */
  const seenSince = (from: number, path: string) => origin.requests.slice(from).filter((r) => r.url === path);

  const counter = async (name: string) => (await stats(adminPort)).get(name) ?? 0;

  beforeAll(async () => {
    origin = await httpUpstream((req, res: http.ServerResponse) => {
      const redirect = (code: number, location: string) => {
        res.statusCode = code;
        res.setHeader("location", location);
        res.setHeader("x-token", "from-redirect");
        res.end(`redirecting to ${location}`);
      };
      const url = req.url;
      if (url === "/start" || url === "/legacy" || url === "/plain" || url === "/allow") return redirect(302, `http://${HOST}/final?from=${url.slice(1)}#frag`);
      if (url === "/post307") return redirect(307, `http://${HOST}/final`);
      if (url === "/see-other") return redirect(303, `http://${HOST}/final`);
      if (url === "/loop") return redirect(302, `http://${HOST}/loop`);
      if (url === "/hop1") return redirect(302, `http://${HOST}/hop2`);
      if (url === "/hop2") return redirect(302, `http://${HOST}/final`);
      if (url === "/relative") return redirect(302, "/final");
      if (url === "/to-https") return redirect(302, `https://${HOST}/final`);
      if (url === "/no-route") return redirect(302, `http://${HOST}/nowhere`);
      if (url === "/not-followed-code") return redirect(301, `http://${HOST}/final`);
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          method: req.method,
          url,
          original: req.headers["x-envoy-original-url"] ?? null,
          token: req.headers["x-token"] ?? null,
          bodySha: createHash("sha256").update(req.body).digest("hex"),
          bodyLength: req.body.length,
        }),
      );
    });
    port = await freePort();
    adminPort = await freePort();
    const policy = { max_internal_redirects: 2, redirect_response_codes: [302, 303, 307], response_headers_to_copy: ["x-token"] };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { origin: [origin.port] },
      routes: [],
      virtualHosts: [
        {
          name: "front",
          domains: ["*"],
          routes: [
            { name: "final", match: { prefix: "/final" }, route: { cluster: "origin" } },
            { name: "plain", match: { prefix: "/plain" }, route: { cluster: "origin" } },
            { name: "legacy", match: { prefix: "/legacy" }, route: { cluster: "origin", internal_redirect_action: "HANDLE_INTERNAL_REDIRECT" } },
            {
              name: "allow",
              match: { prefix: "/allow" },
              route: {
                cluster: "origin",
                internal_redirect_policy: {
                  predicates: [
                    {
                      name: "envoy.internal_redirect_predicates.allow_listed_routes",
                      typed_config: { "@type": "type.googleapis.com/envoy.extensions.internal_redirect.allow_listed_routes.v3.AllowListedRoutesConfig", allowed_route_names: ["elsewhere"] },
                    },
                  ],
                },
              },
            },
            { name: "redirecting", match: { safe_regex: { regex: "^/(start|post307|see-other|loop|hop1|hop2|relative|to-https|no-route|not-followed-code)$" } }, route: { cluster: "origin", internal_redirect_policy: policy } },
          ],
        },
      ],
    });
    const withAdmin = { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config };
    // The router's debug lines, by component: a followed redirect is one of them.
    proxy = await ProxyProcess.start(runtime, withAdmin, undefined, ["--component-log-level", "router:debug", "--log-format", "[%l][%n] %v"]);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await origin?.close();
  });

  test("a 302 is followed: the client gets the target's answer; the upstream sees x-envoy-original-url, the copied header, no #fragment", async () => {
    const before = await counter("cluster.origin.upstream_internal_redirect_succeeded_total");
    const reply = await send("/start");
    expect(reply.status, reply.body).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ method: "GET", url: "/final?from=start", original: `http://${HOST}/start`, token: "from-redirect" });
    expect(await counter("cluster.origin.upstream_internal_redirect_succeeded_total")).toBe(before + 1);
    // The followed 3xx is no upstream response of the cluster's: only the 200 is counted.
    const all = await stats(adminPort);
    expect(all.get("cluster.origin.upstream_rq_3xx") ?? 0).toBe(0);
    await proxy.waitForLog(/\[debug\]\[router\] \[C\d+\]\[S\d+\] internal redirect to http:\/\/[^ ]+\/final\?from=start#frag\n/);
  });

  test("a POST redirected with 307 is sent again with its whole body; with 303 it becomes a GET without one", async () => {
    const body = Buffer.alloc(100_000, "b");
    const sha = createHash("sha256").update(body).digest("hex");
    const replayed = await send("/post307", { method: "POST", body });
    expect(JSON.parse(replayed.body)).toMatchObject({ method: "POST", url: "/final", bodySha: sha });
    const seeOther = await send("/see-other", { method: "POST", body });
    expect(JSON.parse(seeOther.body)).toMatchObject({ method: "GET", url: "/final", bodyLength: 0 });
  });

  test("max_internal_redirects: two hops are followed; a loop stops after two and its 302 goes to the client", async () => {
    expect(JSON.parse((await send("/hop1")).body)).toMatchObject({ url: "/final", original: `http://${HOST}/hop2` });
    const from = origin.requests.length;
    const before = await counter("http.ingress_http.passthrough_internal_redirect_too_many_redirects");
    const loop = await send("/loop");
    expect(loop.status).toBe(302);
    expect(loop.body).toBe(`redirecting to http://${HOST}/loop`);
    expect(seenSince(from, "/loop")).toHaveLength(3);
    expect(await counter("http.ingress_http.passthrough_internal_redirect_too_many_redirects")).toBe(before + 1);
  });

  test("what the policy does not allow passes through: a relative Location, another scheme, no route, a code not listed, a predicate's no", async () => {
    const cases: [string, string][] = [
      ["/relative", "bad_location"],
      ["/to-https", "unsafe_scheme"],
      ["/no-route", "no_route"],
      ["/allow", "predicate"],
    ];
    for (const [path, reason] of cases) {
      const name = `http.ingress_http.passthrough_internal_redirect_${reason}`;
      const before = await counter(name);
      const reply = await send(path);
      expect(reply.status, path).toBe(302);
      expect(reply.headers["location"], path).toBeDefined();
      expect(await counter(name), name).toBe(before + 1);
    }
    const failedBefore = await counter("cluster.origin.upstream_internal_redirect_failed_total");
    expect((await send("/not-followed-code")).status).toBe(301);
    expect((await send("/plain")).status).toBe(302);
    // Neither is a redirect the policy covers: nothing was attempted.
    expect(await counter("cluster.origin.upstream_internal_redirect_failed_total")).toBe(failedBefore);
  });

  test("the deprecated internal_redirect_action HANDLE_INTERNAL_REDIRECT follows a 302", async () => {
    const reply = await send("/legacy");
    expect(JSON.parse(reply.body)).toMatchObject({ url: "/final?from=legacy", original: `http://${HOST}/legacy` });
  });
});
