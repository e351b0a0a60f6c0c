/**
 * The README's first command: `npm start` runs the proxy with examples/default.yaml,
 * an HTTP front proxy on 127.0.0.1:10000 that answers / itself and forwards /proxy/
 * to 127.0.0.1:8080.
 */
import { expect, test } from "vitest";
import { spawn } from "node:child_process";
import * as http from "node:http";
import { connect } from "node:net";
import { cpus } from "node:os";
import { ROOT } from "../support/proxy-process.ts";

test("npm start answers / itself, forwards /proxy/ to 127.0.0.1:8080, and stops on SIGTERM", async () => {
  const upstream = http.createServer((req, res) => res.end(`hello from 8080: ${req.url}`));
  await new Promise<void>((resolve, reject) => {
    upstream.once("error", reject);
    upstream.listen(8080, "127.0.0.1", () => resolve());
  });
  // detached: npm runs tsx which runs node; signal the whole process group.
  const npm = spawn("npm", ["start"], { cwd: ROOT, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  npm.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => npm.on("exit", (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!stderr.includes("listening on 127.0.0.1:10000")) {
      if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not come up:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // No --concurrency in the script: a worker per hardware thread, as Envoy (workers-default.test.ts).
    if (cpus().length > 1) {
      while (!stderr.includes(`all ${cpus().length} workers started`)) {
        if (Date.now() > deadline + 60_000 || npm.exitCode !== null) throw new Error(`npm start's workers did not all start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const home = await fetch("http://127.0.0.1:10000/");
    expect(await home.text()).toBe("polyvoy is running. Try /proxy/ to reach 127.0.0.1:8080.\n");
    const proxied = await fetch("http://127.0.0.1:10000/proxy/some/page");
    expect(await proxied.text()).toBe("hello from 8080: /some/page");
  } finally {
    process.kill(-npm.pid!, "SIGTERM");
    await exited;
    upstream.close();
  }
  expect(stderr).toContain("caught SIGTERM");
});

/** True when something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

test("`npm start &` then `kill $!` (SIGTERM to npm alone) stops the proxy: its ports are free within seconds", async () => {
  // As a shell runs `npm start &`: npm in the background; `kill $!` signals npm's pid only.
  // detached puts it in a process group of its own, so cleanup can reach whatever is left.
  const npm = spawn("npm", ["start"], { cwd: ROOT, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  npm.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
  try {
    const deadline = Date.now() + 30_000;
    while (!stderr.includes("listening on 127.0.0.1:10000")) {
      if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not come up:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(npm.pid!, "SIGTERM");
    await exited;
    const freeBy = Date.now() + 5000;
    while ((await listening(10000)) || (await listening(9901))) {
      if (Date.now() > freeBy) throw new Error(`the proxy still holds its ports 5 s after npm was killed:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    try {
      process.kill(-npm.pid!, "SIGKILL");
    } catch {
      // the group is gone: nothing was left behind
    }
  }
});
