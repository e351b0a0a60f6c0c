/**
 * The README's first command: `npm start` runs the proxy with examples/default.yaml,
 * a TCP proxy on 127.0.0.1:10000 to 127.0.0.1:8080.
 */
import { expect, test } from "vitest";
import { spawn } from "node:child_process";
import { ROOT } from "../support/proxy-process.ts";
import { connect, readAll, tcpServer } from "../support/net-helpers.ts";

test("npm start proxies 127.0.0.1:10000 to a server on 127.0.0.1:8080, and stops on SIGTERM", async () => {
  const upstream = await tcpServer((socket) => socket.end("hello from 8080"));
  // tcpServer picks a free port; the default config wants 8080 exactly.
  await upstream.close();
  await new Promise<void>((resolve, reject) => {
    upstream.server.once("error", reject);
    upstream.server.listen(8080, "127.0.0.1", () => resolve());
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
    const client = await connect(10000);
    expect((await readAll(client)).toString()).toBe("hello from 8080");
  } finally {
    process.kill(-npm.pid!, "SIGTERM");
    await exited;
    upstream.server.close();
  }
  expect(stderr).toContain("caught SIGTERM");
});
