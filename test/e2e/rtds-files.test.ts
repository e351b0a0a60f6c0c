/**
 * layered_runtime's rtds_layer from a file (Envoy's RtdsSubscription over a
 * path_config_source), on every runtime: the Runtime resource's layer is in /runtime at
 * start, a rewrite of the file replaces it, and a resource of another name is refused
 * (update_rejected) with the last values kept.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const resource = (name: string, layer: object, version: string) =>
  JSON.stringify({ version_info: version, resources: [{ "@type": "type.googleapis.com/envoy.service.runtime.v3.Runtime", name, layer }] });

describe.each(RUNTIMES)("rtds_layer from a file on %s", (runtime) => {
  let proxy: ProxyProcess;
  let adminPort: number;
  let dir: string;

  /** Write the file as a management tool would: a new file moved into place. */
  function publish(text: string): void {
    writeFileSync(join(dir, "rtds.tmp"), text);
    renameSync(join(dir, "rtds.tmp"), join(dir, "rtds.json"));
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(inject("tempRoot"), "rtds-"));
    publish(resource("some_runtime", { feature: { enabled: true }, limit: 7 }, "1"));
    adminPort = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      layered_runtime: {
        layers: [
          { name: "base", static_layer: { limit: 1 } },
          { name: "rtds", rtds_layer: { name: "some_runtime", rtds_config: { path_config_source: { path: join(dir, "rtds.json"), watched_directory: { path: dir } } } } },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  async function entries(): Promise<Record<string, { final_value: string }>> {
    return ((await (await fetch(`http://127.0.0.1:${adminPort}/runtime`)).json()) as { entries: Record<string, { final_value: string }> }).entries;
  }

  test("the resource's layer is read at start, over the static layer, and a rewrite replaces it", async () => {
    const first = await entries();
    expect(first["feature.enabled"]?.final_value).toBe("true");
    expect(first["limit"]?.final_value).toBe("7");
    publish(resource("some_runtime", { limit: 9 }, "2"));
    await expect.poll(async () => (await entries())["limit"]?.final_value, { timeout: 15_000 }).toBe("9");
    expect((await entries())["feature.enabled"]).toBeUndefined();
  });

  test("a Runtime resource of another name is refused: update_rejected, the values kept", async () => {
    publish(resource("other", { limit: 3 }, "3"));
    const stat = async () => Number(/: (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=^runtime\\.some_runtime\\.update_rejected$`)).text())?.[1] ?? 0);
    await expect.poll(stat, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
    expect((await entries())["limit"]?.final_value).toBe("9");
  });
});
