/**
 * envoy.filters.http.grpc_stats on every runtime, black-box: a @grpc/grpc-js client calls a
 * @grpc/grpc-js server (h2c, raw-bytes methods, no protobuf) through polyvoy, and the
 * admin's /stats shows what Envoy's filter counts. Two listeners: one with an
 * individual_method_stats_allowlist (pkg.Echo's Say and Chat by name, any other method in
 * the shared `cluster.grpc.grpc.*`), enable_upstream_stats and emit_filter_state; one with
 * stats_for_all_methods and replace_dots_in_grpc_service_name. The first's access log reads
 * the filter state with %FILTER_STATE(envoy.filters.http.grpc_stats[:PLAIN])%.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { fileAccessLog, httpProxyConfig } from "../support/configs.ts";
import { lines } from "../support/log-lines.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const raw = (b: Buffer): Buffer => b;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({ path, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });
const GRPC_STATS = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig";

/** pkg.Echo: Say (unary, upper-cased), Fail (NOT_FOUND), Chat (each message back twice, then OK). */
async function startServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    { Say: method("/pkg.Echo/Say", false, false), Fail: method("/pkg.Echo/Fail", false, false), Chat: method("/pkg.Echo/Chat", true, true) },
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from(call.request.toString().toUpperCase())),
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback({ code: grpc.status.NOT_FOUND, details: "not found" }),
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on("data", (message: Buffer) => {
          call.write(message);
          call.write(message);
        });
        call.on("end", () => call.end());
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

function unary(client: grpc.Client, path: string, text: string): Promise<{ error: grpc.ServiceError | null; reply?: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, raw, raw, Buffer.from(text), (error, reply) => resolve({ error, reply: reply?.toString() }));
  });
}

/** Chat: `messages` sent, what comes back collected until the call ends. */
function chat(client: grpc.Client, messages: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest("/pkg.Echo/Chat", raw, raw);
    const got: string[] = [];
    call.on("data", (message: Buffer) => got.push(message.toString()));
    call.on("error", reject);
    call.on("status", (status: grpc.StatusObject) => (status.code === grpc.status.OK ? resolve(got) : reject(new Error(status.details))));
    for (const message of messages) call.write(Buffer.from(message));
    call.end();
  });
}

/** The text /stats line of a histogram (its quantiles, or "No recorded values"). */
async function histogramLine(adminPort: number, name: string): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  return text.split("\n").find((line) => line.startsWith(`${name}: `));
}

describe.each(RUNTIMES)("grpc_stats on %s", (runtime) => {
  const accessLog = join(inject("tempRoot"), `grpc-stats-${runtime}.log`);
  let upstream: { server: grpc.Server; port: number };
  let proxy: ProxyProcess;
  let adminPort: number;
  let allowlisted: grpc.Client;
  let allMethods: grpc.Client;

  beforeAll(async () => {
    upstream = await startServer();
    const [port, port2] = [await freePort(), await freePort()];
    adminPort = await freePort();
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { grpc: [upstream.port], empty: [] },
      routes: [
        { match: { prefix: "/down." }, cluster: "empty" },
        { match: { prefix: "/" }, cluster: "grpc" },
      ],
      clusterExtra: { http2_protocol_options: {} },
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.grpc_stats",
            typed_config: {
              "@type": GRPC_STATS,
              individual_method_stats_allowlist: { services: [{ name: "pkg.Echo", method_names: ["Say", "Chat"] }] },
              enable_upstream_stats: true,
              emit_filter_state: true,
            },
          },
          router,
        ],
        access_log: [fileAccessLog(accessLog, "%REQ(:PATH)% %FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)% %FILTER_STATE(envoy.filters.http.grpc_stats)%\n")],
      },
    }) as { static_resources: { listeners: Record<string, unknown>[] } };
    // A second listener, the same routes, its filter naming every method (dots replaced).
    const second = structuredClone(config.static_resources.listeners[0]!) as {
      name: string;
      address: { socket_address: { port_value: number } };
      filter_chains: { filters: { typed_config: { stat_prefix: string; http_filters: unknown[] } }[] }[];
    };
    second.name = "all_methods";
    second.address.socket_address.port_value = port2;
    const hcm = second.filter_chains[0]!.filters[0]!.typed_config;
    hcm.stat_prefix = "all_methods";
    delete (hcm as { access_log?: unknown }).access_log;
    hcm.http_filters = [{ name: "envoy.filters.http.grpc_stats", typed_config: { "@type": GRPC_STATS, stats_for_all_methods: true, replace_dots_in_grpc_service_name: true } }, router];
    config.static_resources.listeners.push(second);
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
    allowlisted = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    allMethods = new grpc.Client(`127.0.0.1:${port2}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    allowlisted?.close();
    allMethods?.close();
    await proxy?.stop("SIGKILL");
    upstream?.server.forceShutdown();
  });

  test("allowlisted unary calls: success, failure and total under the method's name, one message each way", async () => {
    expect(await unary(allowlisted, "/pkg.Echo/Say", "hi")).toEqual({ error: null, reply: "HI" });
    expect(await unary(allowlisted, "/pkg.Echo/Say", "again")).toEqual({ error: null, reply: "AGAIN" });
    const s = await adminStats(adminPort);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Say.0")).toBe(2);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Say.success")).toBe(2);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Say.total")).toBe(2);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Say.request_message_count")).toBe(2);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Say.response_message_count")).toBe(2);
  });

  test("a method not in the allowlist is counted in the shared cluster.<c>.grpc.* (a trailers-only NOT_FOUND: its status and failure)", async () => {
    const { error } = await unary(allowlisted, "/pkg.Echo/Fail", "x");
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    const s = await adminStats(adminPort);
    expect(s.get("cluster.grpc.grpc.5")).toBe(1);
    expect(s.get("cluster.grpc.grpc.failure")).toBe(1);
    expect(s.get("cluster.grpc.grpc.total")).toBe(1);
    expect([...s.keys()].filter((name) => name.includes("Fail"))).toEqual([]);
  });

  test("streaming: every message each way counted", async () => {
    expect(await chat(allowlisted, ["a", "b", "c"])).toEqual(["a", "a", "b", "b", "c", "c"]);
    const s = await adminStats(adminPort);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Chat.request_message_count")).toBe(3);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Chat.response_message_count")).toBe(6);
    expect(s.get("cluster.grpc.grpc.pkg.Echo.Chat.success")).toBe(1);
  });

  test("emit_filter_state: the access log reads the message counts, PLAIN and TYPED", async () => {
    let logged: string[] = [];
    for (let i = 0; i < 50 && logged.length === 0; i++) {
      logged = (await lines(accessLog, 1)).filter((line) => line.startsWith("/pkg.Echo/Chat "));
      if (logged.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logged).toEqual(['/pkg.Echo/Chat 3,6 {"requestMessageCount":"3","responseMessageCount":"6"}']);
  });

  test("enable_upstream_stats: upstream_rq_time recorded for the method", async () => {
    await unary(allowlisted, "/pkg.Echo/Say", "timed");
    const line = await histogramLine(adminPort, "cluster.grpc.grpc.pkg.Echo.Say.upstream_rq_time");
    expect(line).toBeDefined();
    expect(line).not.toContain("No recorded values");
  });

  test("stats_for_all_methods with replace_dots_in_grpc_service_name: pkg.Echo counted as pkg_Echo", async () => {
    expect((await unary(allMethods, "/pkg.Echo/Say", "x")).reply).toBe("X");
    await unary(allMethods, "/pkg.Echo/Fail", "x");
    const s = await adminStats(adminPort);
    expect(s.get("cluster.grpc.grpc.pkg_Echo.Say.success")).toBe(1);
    expect(s.get("cluster.grpc.grpc.pkg_Echo.Fail.5")).toBe(1);
    expect(s.get("cluster.grpc.grpc.pkg_Echo.Fail.failure")).toBe(1);
    // No upstream time without enable_upstream_stats.
    expect(await histogramLine(adminPort, "cluster.grpc.grpc.pkg_Echo.Say.upstream_rq_time")).toBeUndefined();
  });

  test("no cluster host (a local reply): counted from the reply's grpc-status, no upstream time", async () => {
    const { error } = await unary(allMethods, "/down.Svc/Call", "x");
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    const s = await adminStats(adminPort);
    expect(s.get("cluster.empty.grpc.down_Svc.Call.14")).toBe(1);
    expect(s.get("cluster.empty.grpc.down_Svc.Call.failure")).toBe(1);
  });
});
