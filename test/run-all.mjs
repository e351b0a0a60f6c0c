#!/usr/bin/env node
// `npm test`: the core's unit tests under node, bun and deno (vitest runs on all
// three), then the black-box tests, which spawn the proxy under each runtime.
// Prints one closing line, "tests: N passed, N failed", and exits non-zero on any failure.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "node_modules/.bin");
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const extra = process.argv.slice(2); // e.g. a file filter, passed on to vitest

const runs = [
  { label: "unit tests on node", cmd: process.execPath, args: [vitest, "run", "--project", "unit", "--project", "unit-isolated"] },
  { label: "unit tests on bun", cmd: join(bin, "bun"), args: ["--bun", vitest, "run", "--project", "unit", "--project", "unit-isolated"] },
  { label: "unit tests on deno", cmd: join(bin, "deno"), args: ["run", "-A", vitest, "run", "--project", "unit", "--project", "unit-isolated"] },
  { label: "black-box tests (proxy on node, bun and deno)", cmd: process.execPath, args: [vitest, "run", "--project", "e2e"] },
];

const only = process.env.POLYVOY_TEST_ONLY; // "unit" or "e2e"
let passed = 0;
let failed = 0;
let broken = [];
const failures = []; // "label: file > test: first line of the message", printed again at the end
const out = mkdtempSync(join(tmpdir(), "polyvoy-results-"));
for (const [i, run] of runs.entries()) {
  if (only && !run.args.includes(only)) continue;
  const report = join(out, `run-${i}.json`);
  console.log(`\n=== ${run.label} ===`);
  const result = spawnSync(run.cmd, [...run.args, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...extra], {
    cwd: root,
    stdio: "inherit",
  });
  let counted = false;
  try {
    const json = JSON.parse(readFileSync(report, "utf8"));
    passed += json.numPassedTests;
    failed += json.numFailedTests;
    counted = true;
    for (const file of json.testResults ?? []) {
      const name = file.name.startsWith(root) ? file.name.slice(root.length + 1) : file.name;
      for (const t of file.assertionResults ?? []) {
        if (t.status !== "failed") continue;
        const why = String(t.failureMessages?.[0] ?? "").split("\n")[0].slice(0, 300);
        failures.push(`${run.label}: ${name} > ${t.fullName}: ${why}`);
      }
      // a file that failed before its tests ran (import error, hook timeout)
      if (file.status === "failed" && !(file.assertionResults ?? []).some((t) => t.status === "failed")) {
        failures.push(`${run.label}: ${name}: ${String(file.message ?? "").split("\n")[0].slice(0, 300)}`);
      }
    }
  } catch {
    // no report: the runner itself failed
  }
  if (result.status !== 0 || !counted) broken.push(run.label);
}
// The reports were read for the counts above; kept only when something failed.
if (broken.length || failed) console.log(`JSON reports: ${out}`);
else rmSync(out, { recursive: true, force: true });
// CI may keep only the end of the output: what failed is repeated here, one line each.
for (const line of failures) console.log(`FAILED ${line}`);
console.log(`\n${broken.length ? `failed runs: ${broken.join("; ")}` : "all runs green"}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(broken.length || failed ? 1 : 0);
