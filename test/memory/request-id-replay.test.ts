/**
 * Request ids come from the port (`Runtime.randomBytes`): on the memory runtime a seed
 * replays a run byte for byte, x-request-id included.
 */
import { describe, expect, test } from "vitest";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
/** More than one 4 KiB pool of random bytes (256 ids) is drawn. */
const REQUESTS = 300;

/** The request heads the upstream received, and the proxy's responses, for one seeded run. */
async function run(seed: number): Promise<string> {
  const runtime = new MemoryRuntime({ seed });
  const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => res.respond(200, `id ${req.get("x-request-id")}`));
  await startProxy(
    runtime,
    httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
  );
  const client = new MemoryHttpClient(runtime, PROXY);
  for (let i = 0; i < REQUESTS; i++) {
    client.request("GET", `/r${i}`);
    runtime.runDue();
  }
  expect(client.responses).toHaveLength(REQUESTS);
  const transcript = upstream.requests.map((req) => `${req.startLine}\n${req.headers.map(([n, v]) => `${n}: ${v}`).join("\n")}`).join("\n\n")
    + client.responses.map((res) => res.text()).join("\n");
  upstream.close();
  return transcript;
}

describe("x-request-id on the memory runtime", () => {
  test("the same seed gives the same ids, byte for byte; another seed other ids", async () => {
    const first = await run(7);
    const ids = [...first.matchAll(/^x-request-id: (.*)$/gm)].map((m) => m[1]);
    expect(ids).toHaveLength(REQUESTS);
    expect(new Set(ids).size).toBe(REQUESTS);
    expect(await run(7)).toBe(first);
    const other = await run(8);
    expect(other).not.toBe(first);
    expect(other.replace(/x-request-id: .*|id .*/g, "")).toBe(first.replace(/x-request-id: .*|id .*/g, ""));
  });
});
