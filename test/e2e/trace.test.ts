/**
 * The request-lifecycle trace, on every runtime: started from the admin interface,
 * one proxied request's steps come back in causal order, as valid Chrome Trace Event
 * JSON and as text; the admin's own requests are not traced.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** The steps of one proxied request on a fresh connection, in the order they must happen. */
const CAUSAL_ORDER = [
  "accept",
  "filter_chain",
  "downstream_read",
  "headers_complete",
  "message_complete",
  "route",
  "pool_new_connection",
  "upstream_connect_start",
  "upstream_connected",
  "upstream_write",
  "upstream_response_headers",
  "upstream_message_complete",
  "stream_end",
  // The response's head and body leave together when the upstream read's event ends.
  "downstream_write",
  "close",
];

describe.each(RUNTIMES)("request-lifecycle trace on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let admin: number;

  beforeAll(async () => {
    upstream = await httpUpstream((_req, res) => res.end("traced"));
    port = await freePort();
    admin = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
        ...httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ name: "all", match: { prefix: "/" }, cluster: "up" }] }),
      },
      2,
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("one request's steps, in causal order, as Chrome trace JSON and as text", async () => {
    const start = await fetch(`http://127.0.0.1:${admin}/trace?duration=20s&path_prefix=/traced`, { method: "POST" });
    expect(start.status).toBe(200);
    expect(await start.text()).toBe("tracing for 20s or 100 connections\n");

    // A raw client, so the connection (and its close) is ours alone.
    const socket = net.connect({ port, host: "127.0.0.1" });
    await new Promise((r) => socket.once("connect", r));
    let reply = "";
    socket.on("data", (d: Buffer) => (reply += d));
    socket.write("GET /traced/page HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n");
    await new Promise((r) => socket.once("close", r));
    expect(reply.endsWith("traced")).toBe(true);
    await new Promise((r) => setTimeout(r, 100));

    const download = await fetch(`http://127.0.0.1:${admin}/trace`);
    expect(download.headers.get("content-type")).toBe("application/json");
    const trace = (await download.json()) as { traceEvents: { name: string; ph: string; ts: number; tid: number; args?: { detail?: string } }[] };
    const steps = trace.traceEvents.filter((e) => e.ph === "i");
    // Only the proxied connection: the admin's own requests are not traced.
    expect(new Set(steps.map((e) => e.tid)).size).toBe(1);
    const names = steps.map((e) => e.name);
    let last = -1;
    for (const step of CAUSAL_ORDER) {
      const at = names.indexOf(step, last + 1);
      expect(at, `${step} after ${CAUSAL_ORDER[CAUSAL_ORDER.indexOf(step) - 1]} in ${names.join(" ")}`).toBeGreaterThan(last);
      last = at;
    }
    // Timestamps never go back; the stream is one complete event.
    for (let i = 1; i < steps.length; i++) expect(steps[i]!.ts).toBeGreaterThanOrEqual(steps[i - 1]!.ts);
    expect(trace.traceEvents.filter((e) => e.ph === "X").map((e) => e.name)).toEqual(["stream 0"]);
    expect(steps.find((e) => e.name === "headers_complete")!.args!.detail).toBe("GET /traced/page example");
    expect(steps.find((e) => e.name === "route")!.args!.detail).toBe("all");

    const text = await (await fetch(`http://127.0.0.1:${admin}/trace?format=text`)).text();
    expect(text).toMatch(/^\+\s+\d+\.\d{3}ms C\d+ accept 127\.0\.0\.1:\d+ on http$/m);
    expect(text).toMatch(/ S0 upstream_response_headers 200$/m);
  });

  test("requests outside path_prefix leave no stream events; POST /trace/stop ends it; GET /trace cannot start one", async () => {
    await fetch(`http://127.0.0.1:${admin}/trace?duration=20s&path_prefix=/only`, { method: "POST" });
    await (await fetch(`http://127.0.0.1:${port}/elsewhere`)).text();
    const stop = await fetch(`http://127.0.0.1:${admin}/trace/stop`, { method: "POST" });
    expect(stop.status).toBe(200);
    const trace = (await (await fetch(`http://127.0.0.1:${admin}/trace`)).json()) as { traceEvents: { name: string; ph: string }[] };
    const names = trace.traceEvents.filter((e) => e.ph === "i").map((e) => e.name);
    expect(names).toContain("accept");
    expect(names).not.toContain("headers_complete");
    expect((await fetch(`http://127.0.0.1:${admin}/trace/stop`)).status).toBe(405);
    expect((await fetch(`http://127.0.0.1:${admin}/trace?duration=bogus`, { method: "POST" })).status).toBe(400);
  });
});
