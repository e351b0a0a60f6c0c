/**
 * Envoy's postgres_proxy network filter in front of tcp_proxy, on every runtime: a raw
 * PostgreSQL client and server (test/support/postgres-server.ts, the protocol's exact
 * bytes) run sessions through the proxy — the bytes pass unchanged, the stats count as
 * Envoy's (postgres.<stat_prefix>.*), the SQL's tables reach the tcp_proxy access log
 * through %DYNAMIC_METADATA(envoy.filters.network.postgres_proxy)%, an SSLRequest passes
 * through to the server, and terminate_ssl: true is refused at start with its reason.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { adminStats } from "../support/tls-probe.ts";
import { postgresServer, postgresSession, type PostgresServer } from "../support/postgres-server.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

type Config = { static_resources: { listeners: { filter_chains: { filters: { name: string; typed_config: Record<string, unknown> }[] }[] }[] } };

function postgresConfig(listenPort: number, upstreamPort: number, adminPort: number, logPath: string, postgres: Record<string, unknown>): object {
  const config = tcpProxyConfig({ listenPort, upstreamPorts: [upstreamPort], connectTimeout: "5s" }) as Config;
  const filters = config.static_resources.listeners[0]!.filter_chains[0]!.filters;
  filters[0]!.typed_config.access_log = [
    {
      name: "envoy.access_loggers.file",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path: logPath,
        log_format: { text_format_source: { inline_string: "%DYNAMIC_METADATA(envoy.filters.network.postgres_proxy)%\n" } },
      },
    },
  ];
  filters.unshift({
    name: "envoy.filters.network.postgres_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy", ...postgres },
  });
  return { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } };
}

async function logLines(path: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const all = (existsSync(path) ? readFileSync(path, "utf8") : "").split("\n").filter(Boolean);
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(RUNTIMES)("postgres_proxy on %s", (runtime) => {
  let server: PostgresServer;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let logPath: string;

  beforeAll(async () => {
    server = await postgresServer();
    port = await freePort();
    adminPort = await freePort();
    logPath = join(mkdtempSync(join(inject("tempRoot"), "postgres-proxy-")), "tcp.log");
    proxy = await ProxyProcess.start(runtime, postgresConfig(port, server.port, adminPort, logPath, { stat_prefix: "pg" }));
  });

  afterAll(async () => {
    await proxy?.stop();
    await server?.close();
  });

  const pgStats = async () => {
    const all = await adminStats(adminPort);
    return Object.fromEntries([...all].filter(([name]) => name.startsWith("postgres.pg.")).map(([name, value]) => [name.slice("postgres.pg.".length), value]));
  };

  test("a session through the proxy: answers unchanged, Envoy's counters, the tables in the access log", async () => {
    const queries = ["SELECT * FROM orders", "BEGIN", "INSERT INTO orders (id) VALUES (1)", "UPDATE orders SET n = n + 1", "COMMIT", "BAD query", "NOTICE me", "DELETE FROM orders WHERE id = 1"];
    const replies = await postgresSession(port, { user: "alice", database: "shop", queries });
    // The greeting, then each query's answer, message types in order.
    expect(replies).toEqual(["RSSKZ", "TDCZ", "CZ", "CZ", "CZ", "CZ", "EZ", "NCZ", "CZ"]);
    expect(server.queries).toEqual(queries);
    const stats = await pgStats();
    expect(stats).toMatchObject({
      sessions: 1,
      sessions_unencrypted: 1,
      sessions_encrypted: 0,
      // 8 queries + Terminate; the startup packet is not counted (as Envoy's).
      messages_frontend: 9,
      // Greeting 5, SELECT 4, four CommandComplete+ReadyForQuery, error 2, notice 3, DELETE 2.
      messages_backend: 5 + 4 + 4 * 2 + 2 + 3 + 2,
      messages_unknown: 0,
      statements: 7,
      statements_select: 1,
      statements_insert: 1,
      statements_update: 1,
      statements_delete: 1,
      statements_other: 3,
      // SELECT, BEGIN…COMMIT, DO, DELETE: four transactions, all committed.
      transactions: 4,
      transactions_commit: 4,
      transactions_rollback: 0,
      errors: 1,
      errors_error: 1,
      notices: 1,
      notices_warning: 1,
      // BEGIN, COMMIT and the four table statements parse; "BAD query" and "NOTICE me" do not.
      statements_parsed: 6,
      statements_parse_error: 2,
    });
    const [line] = await logLines(logPath, 1);
    expect(JSON.parse(line!)).toEqual({ "orders.shop": ["delete"] });
  });

  test("an SSLRequest passes to the server, which says N; the session is counted encrypted and not decoded further", async () => {
    const before = await pgStats();
    const replies = await postgresSession(port, { user: "bob", queries: ["SELECT 1"], sslRequest: true });
    expect(replies).toEqual(["ssl:N", "RSSKZ", "TDCZ"]);
    const after = await pgStats();
    expect(after.sessions_encrypted! - before.sessions_encrypted!).toBe(1);
    expect(after.statements! - before.statements!).toBe(0);
  });

  test("terminate_ssl: true is refused at start, naming the field and why", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "postgres-refused-"));
    const path = writeConfig(postgresConfig(await freePort(), server.port, await freePort(), join(dir, "log"), { stat_prefix: "pg", terminate_ssl: true }));
    const result = await runToExit(runtime, ["--mode", "validate", "-c", path], 60_000);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("filters[0].typed_config: `terminate_ssl` is an Envoy field that polyvoy does not support yet (only false: it needs Envoy's starttls transport socket");
  });
});
