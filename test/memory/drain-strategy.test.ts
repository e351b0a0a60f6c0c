/**
 * --drain-strategy: during a graceful drain (/drain_listeners?graceful), `gradual`
 * (Envoy's default) tells a share of responses to close their connection that grows
 * with the time elapsed, over --drain-time-s, as Envoy's DrainManagerImpl::drainClose;
 * `immediate` tells all of them at once.
 */
import { expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import type { CommandLine } from "../../core/cli.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

async function draining(commandLine: Partial<CommandLine>): Promise<{ runtime: MemoryRuntime; server: Server }> {
  const runtime = new MemoryRuntime();
  const server = new Server(runtime, loadBootstrap("static_resources: {}\n", "yaml"), new Logger(runtime, "error"), { commandLine: commandLine as CommandLine });
  const started = server.start();
  await runtime.settle();
  await started;
  expect(server.drainClose()).toBe(false);
  server.drainListeners(true);
  return { runtime, server };
}

/** The share of 2,000 responses told to close. */
function share(server: Server): number {
  let closes = 0;
  for (let i = 0; i < 2000; i++) if (server.drainClose()) closes++;
  return closes / 2000;
}

test("gradual (the default): none at the start, about half halfway, all once the drain time is over", async () => {
  const { runtime, server } = await draining({ drainTimeS: 10 });
  expect(share(server)).toBe(0); // elapsed 0 s: never more than a random draw in [0, 10)
  runtime.advance(5_000);
  expect(share(server)).toBeGreaterThan(0.4); // elapsed 5 s: P = 5/10 (draws 0–4)
  expect(share(server)).toBeLessThan(0.6);
  runtime.advance(4_000);
  expect(share(server)).toBeGreaterThan(0.85); // elapsed 9 s: P = 9/10
  runtime.advance(1_000);
  expect(share(server)).toBe(1);
  server.stop("test");
});

test("immediate: every response from the start", async () => {
  const { server } = await draining({ drainTimeS: 10, drainStrategy: "immediate" });
  expect(share(server)).toBe(1);
  server.stop("test");
});

test("failing health checks close every connection whatever the strategy", async () => {
  const runtime = new MemoryRuntime();
  const server = new Server(runtime, loadBootstrap("static_resources: {}\n", "yaml"), new Logger(runtime, "error"), { commandLine: { drainTimeS: 10 } as CommandLine });
  server.failHealthcheck(true);
  expect(server.drainClose()).toBe(true);
});
