// The build's id, for scripts/build-runtimes.mjs and scripts/build-binaries.mjs.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The build's id (runtimes/kit/build-id.ts): a hash of every file the bundles are made from
 * — core/, runtimes/, bin/ (the node entry bundles its code-cache helper), the build scripts (scripts/: how they bundle is part of what the command
 * runs), package.json, package-lock.json and the installed dependencies' package.json.
 * The command keeps checked configs per build id (core/config/checked-config-cache.ts): other
 * code never reads them. The same sources give the same id, so unchanged chunks keep their names.
 */
export function buildId(root) {
  const hash = createHash("sha256");
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hash.update(`${path}\0`).update(readFileSync(join(root, path))).update("\0");
    }
  };
  walk("core");
  walk("runtimes");
  walk("bin");
  walk("scripts");
  for (const file of ["package.json", "package-lock.json"]) hash.update(`${file}\0`).update(readFileSync(join(root, file))).update("\0");
  // The dependencies bundled as installed (a node_modules that differs from the lock file).
  for (const name of Object.keys(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).dependencies ?? {}).sort()) {
    const file = `node_modules/${name}/package.json`;
    hash.update(`${file}\0`).update(readFileSync(join(root, file))).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

