/**
 * %ENVIRONMENT(NAME)% / %ENVIRONMENT(NAME):Z% on every runtime, black-box: the proxy is
 * started with a variable set; an access log line and a request header added by the route
 * carry its value (truncated with :Z, "-" for an unset one), as Envoy's EnvironmentFormatter
 * reads it once when the config is loaded.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { lines } from "../support/log-lines.ts";

const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

let upstream: HttpUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await httpUpstream();
  dir = mkdtempSync(join(tmpdir(), "polyvoy-env-command-"));
});
afterAll(() => upstream.close());

describe.each(RUNTIMES)("%%ENVIRONMENT(NAME)%% on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  const log = () => join(dir, `${runtime}.log`);

  beforeAll(async () => {
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [upstream.port] },
      routes: [{ match: { prefix: "/" }, cluster: "up" }],
      hcm: {
        access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: log(), log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %ENVIRONMENT(POLYVOY_TEST_POD)% %ENVIRONMENT(POLYVOY_TEST_POD):3% %ENVIRONMENT(POLYVOY_TEST_UNSET)%\n" } } } }],
      },
    }) as any;
    const routeConfig = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config;
    routeConfig.request_headers_to_add = [{ header: { key: "x-pod", value: "%ENVIRONMENT(POLYVOY_TEST_POD)%/%PROTOCOL%" } }];
    proxy = await ProxyProcess.start(runtime, config, undefined, [], { POLYVOY_TEST_POD: "pod-7 50%" });
  });
  afterAll(() => proxy?.stop());

  test("the access log line and the added request header carry the variable's value", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/x-${runtime}`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const seen = upstream.requests.find((r) => r.url === `/x-${runtime}`)!;
    expect(seen.headers["x-pod"]).toBe("pod-7 50%/HTTP/1.1");
    expect(await lines(log(), 1)).toEqual(["200 pod-7 50% pod -"]);
  });
});
