/**
 * vitest globalSetup for the e2e project: one temp folder for the whole run, where the
 * tests write their config files (proxy-process.ts), removed when the run ends — a test
 * run leaves nothing behind. (A test process's own exit hooks do not run: vitest ends its
 * workers itself.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    tempRoot: string;
  }
}

export default function setup(project: TestProject): () => void {
  const root = mkdtempSync(join(tmpdir(), "polyvoy-test-"));
  project.provide("tempRoot", root);
  return () => rmSync(root, { recursive: true, force: true });
}
