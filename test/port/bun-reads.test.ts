/**
 * Bun's adapter reads a regular file at once while the proxy starts (the config's read:
 * an asynchronous one would start Bun's file thread pool, with a collection while the
 * loop waits), and on that pool once the entry says it serves (bun-runtime.ts, serving()):
 * a reload's or a watched file's read then leaves the event loop serving. A read made at
 * once returns a settled promise; a read on the pool settles only when the event loop
 * takes its result, never within the microtasks that follow the call.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { currentRuntimeName } from "./current-runtime.ts";

describe.skipIf(currentRuntimeName() !== "bun")("bun reads files at once while starting, on its file thread pool once serving", () => {
  let dir = "";
  let file = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-bun-reads-"));
    file = join(dir, "envoy.yaml");
    writeFileSync(file, "static_resources: {}\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Whether `reading` settled within 100 microtask turns (no turn of the event loop). */
  async function settlesInMicrotasks(reading: Promise<string>): Promise<boolean> {
    let settled = false;
    const done = reading.finally(() => (settled = true));
    for (let i = 0; i < 100 && !settled; i++) await null;
    const result = settled;
    expect(await done).toBe("static_resources: {}\n");
    return result;
  }

  test("a read before serving() has settled when the call returns; after it, the read waits for the event loop", async () => {
    const { createBunRuntime } = await import("../../runtimes/bun/bun-runtime.ts");
    const runtime = createBunRuntime();
    for (let i = 0; i < 5; i++) expect(await settlesInMicrotasks(runtime.readTextFile(file))).toBe(true);
    runtime.serving();
    for (let i = 0; i < 5; i++) expect(await settlesInMicrotasks(runtime.readTextFile(file))).toBe(false);
    // A missing file rejects with its code either way.
    await expect(runtime.readTextFile(join(dir, "missing.yaml"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
