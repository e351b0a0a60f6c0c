/**
 * The admin's `/stats?filter=<regex>` with a config that has no regex: the RE2 engine is not
 * loaded at start (core/config/regex-engine.ts), so the first filtered request waits for it
 * and is answered once, filtered; a bad pattern still gets Envoy's 400.
 */
import { expect, test } from "vitest";
import { runMain } from "../../core/main.ts";
import { loadRegexEngine, regexEngineLoaded } from "../../core/config/regex-engine.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";

const CONFIG_PATH = "/etc/polyvoy/envoy.json";
const ADMIN = { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } };

test("the first /stats?filter= loads the engine and is answered once; the next are answered at once", async () => {
  const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify({ admin: ADMIN }) } });
  await runMain(runtime, ["-c", CONFIG_PATH]);
  await runtime.settle();
  expect(runtime.exitCode).toBeUndefined();
  expect(regexEngineLoaded()).toBe(false);

  const client = new MemoryHttpClient(runtime, 9901);
  client.request("GET", "/stats?filter=^server\\.state$");
  await runtime.settle();
  // The engine's module loads outside the memory runtime's clock: wait for it, then for the answer.
  await loadRegexEngine();
  await runtime.settle();
  expect(client.responses.map((r) => [r.status, r.text()])).toEqual([[200, "server.state: 0\n"]]);

  const again = new MemoryHttpClient(runtime, 9901);
  again.request("GET", "/stats?filter=(?=a)");
  await runtime.settle();
  expect(again.responses.map((r) => [r.status, r.text()])).toEqual([[400, "Invalid re2 regex"]]);
});
