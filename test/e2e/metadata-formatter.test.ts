/**
 * An access log naming Envoy's envoy.formatter.metadata extension loads and logs on every
 * runtime: its %METADATA(ROUTE:…)% (built in, as in recent Envoy) prints the route's
 * metadata, truncated with :Z, and "-" for a missing key.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { lines } from "../support/log-lines.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const METADATA_FORMATTER = { name: "envoy.formatter.metadata", typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.metadata.v3.Metadata" } };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "polyvoy-metadata-formatter-"));
});

describe.each(RUNTIMES)("envoy.formatter.metadata on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  const log = () => join(dir, `${runtime}.log`);

  beforeAll(async () => {
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { up: [await freePort()] },
      routes: [{ match: { prefix: "/" }, action: { direct_response: { status: 200 }, metadata: { filter_metadata: { "acme.team": { owner: "payments", limits: { rps: 5 } } } } } }],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": FILE_LOG,
              path: log(),
              log_format: { text_format_source: { inline_string: "%METADATA(ROUTE:acme.team:owner)% %METADATA(ROUTE:acme.team:owner):3% %METADATA(ROUTE:acme.team:limits)% %METADATA(ROUTE:acme.team:nope)%\n" }, formatters: [METADATA_FORMATTER] },
            },
          },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });
  afterAll(() => proxy?.stop());

  test("the route's metadata in the line", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(await lines(log(), 1)).toEqual(['payments pay {"rps":5} -']);
  });
});
