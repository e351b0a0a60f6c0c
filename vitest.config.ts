import { configDefaults, defineConfig } from "vitest/config";

const UNIT = ["test/unit/**/*.test.ts", "test/port/**/*.test.ts", "test/memory/**/*.test.ts"];
/**
 * Unit files that need a fresh module graph: they check what is loaded on first use
 * (LazyModule, the regex engine) or loads that fail, which an earlier file in the same
 * worker has already loaded, or walk a registry every file adds to (lazy-schema-presence
 * checks every config-schema stand-in; other files make deliberately wrong ones). They run
 * isolated, in the "unit-isolated" project.
 */
const FRESH_MODULES = [
  "test/memory/admin-stats-filter-engine.test.ts",
  "test/memory/lazy-load-failure.test.ts",
  "test/memory/sds-api.test.ts",
  "test/unit/config/lazy-schema-presence.test.ts",
  "test/unit/config/regex-engine.test.ts",
  "test/unit/config/regex.test.ts",
  "test/unit/config/route-config.test.ts",
  "test/unit/config/xds/xds-regex-release.test.ts",
  "test/unit/core-purity.test.ts",
  "test/unit/rbac/rbac-matcher-engine.test.ts",
  "test/unit/startup-imports.test.ts",
  "test/unit/upstream/cluster-manager.test.ts",
  "test/unit/util/lazy-module.test.ts",
];
const unitOptions = {
  // A hang guard, not a speed check: on a loaded two-core machine, tests that spawn a
  // runtime or run a thousand requests took over vitest's default 5 s.
  testTimeout: 20_000,
  // The memory runtime's tests drive the proxy synchronously: the code the proxy
  // loads on first use (core/util/lazy-module.ts) is loaded before each file.
  setupFiles: ["test/memory/support/load-lazy-modules.ts"],
};

// `unit` and `unit-isolated` run the core's tests in-process (under node, bun and deno:
// see test/run-all.mjs; a single file: `--project 'unit*' FILE`); `e2e` spawns the proxy under each runtime and talks to it
// over real sockets, so it runs once, from node.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: UNIT,
          exclude: [...configDefaults.exclude, ...FRESH_MODULES],
          // One module graph per worker: most of an isolated run was loading the core again
          // for each file (setup and import), not testing.
          isolate: false,
          sequence: { groupOrder: 0 },
          ...unitOptions,
        },
      },
      {
        // After the shared project, not beside it: one worker at a time, as before the split.
        test: { name: "unit-isolated", include: FRESH_MODULES, sequence: { groupOrder: 1 }, ...unitOptions },
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
