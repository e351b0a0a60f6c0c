import { defineConfig } from "vitest/config";

// Two projects: `unit` runs the core's tests in-process (under node, bun and deno:
// see test/run-all.mjs); `e2e` spawns the proxy under each runtime and talks to it
// over real sockets, so it runs once, from node.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/port/**/*.test.ts", "test/memory/**/*.test.ts"],
          // A hang guard, not a speed check: on a loaded two-core machine, tests that spawn a
          // runtime or run a thousand requests took over vitest's default 5 s.
          testTimeout: 20_000,
          // The memory runtime's tests drive the proxy synchronously: the code the proxy
          // loads on first use (core/util/lazy-module.ts) is loaded before each file.
          setupFiles: ["test/memory/support/load-lazy-modules.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // One temp folder for the run's config files, removed at its end.
          globalSetup: ["test/support/temp-root.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Two cores: one test file at a time keeps proxies and load generators from starving each other.
          fileParallelism: false,
        },
      },
    ],
  },
});
