/**
 * The README's front-proxy walk-through, as written: examples/front-proxy-services.mjs
 * (the two services of Envoy's front-proxy sandbox, on 127.0.0.1:8081 and :8082) behind
 * examples/front-proxy.yaml (127.0.0.1:8000, admin on :9901), on every runtime. Fixed
 * ports, as the README's commands use them.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyProcess, ROOT, RUNTIMES } from "../support/proxy-process.ts";

let services: ChildProcess;

beforeAll(async () => {
  services = spawn(process.execPath, [join(ROOT, "examples/front-proxy-services.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  services.stdout!.on("data", (d) => (stdout += d));
  const deadline = Date.now() + 10_000;
  while ((stdout.match(/listening on/g)?.length ?? 0) < 2) {
    if (Date.now() > deadline || services.exitCode !== null) throw new Error(`the services did not come up:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  if (services.exitCode === null) {
    const exited = new Promise((resolve) => services.once("exit", resolve));
    services.kill("SIGTERM");
    await exited;
  }
});

describe.each(RUNTIMES)("examples/front-proxy.yaml on %s", (runtime) => {
  let proxy: ProxyProcess;

  beforeAll(async () => {
    // The file as it is, two listeners: admin and ingress.
    proxy = await ProxyProcess.start(runtime, readFileSync(join(ROOT, "examples/front-proxy.yaml"), "utf8"), 2);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("/service/1 and /service/2 reach their services; / is answered by the proxy", async () => {
    const one = await fetch("http://127.0.0.1:8000/service/1");
    expect(one.status).toBe(200);
    expect(one.headers.get("server")).toBe("envoy");
    expect(one.headers.get("x-envoy-upstream-service-time")).toMatch(/^\d+$/);
    expect(await one.text()).toBe("Hello from behind Envoy (service 1)!\n");
    expect(await (await fetch("http://127.0.0.1:8000/service/2")).text()).toBe("Hello from behind Envoy (service 2)!\n");
    expect(await (await fetch("http://127.0.0.1:8000/service/1/")).text()).toBe("Hello from behind Envoy (service 1)!\n");
    const home = await fetch("http://127.0.0.1:8000/");
    expect(await home.text()).toBe("polyvoy is running\n");
  });
});
