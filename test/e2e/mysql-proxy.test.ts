/**
 * Envoy's mysql_proxy network filter in front of tcp_proxy, on every runtime: a raw MySQL
 * client and server (test/support/mysql-server.ts, the protocol's exact bytes) run sessions
 * through the proxy — the bytes pass unchanged, the stats count as Envoy's
 * (mysql.<stat_prefix>.*), the SQL's tables reach the tcp_proxy access log through
 * %DYNAMIC_METADATA(envoy.filters.network.mysql_proxy)%, an SSL request passes to the
 * server and is counted, and downstream_ssl: REQUIRE is refused at start with its reason.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { adminStats } from "../support/tls-probe.ts";
import { lines } from "../support/log-lines.ts";
import { mysqlServer, mysqlSession, type MySQLServer } from "../support/mysql-server.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

type Config = { static_resources: { listeners: { filter_chains: { filters: { name: string; typed_config: Record<string, unknown> }[] }[] }[] } };

function mysqlConfig(listenPort: number, upstreamPort: number, adminPort: number, logPath: string, mysql: Record<string, unknown>): object {
  const config = tcpProxyConfig({ listenPort, upstreamPorts: [upstreamPort], connectTimeout: "5s" }) as Config;
  const filters = config.static_resources.listeners[0]!.filter_chains[0]!.filters;
  filters[0]!.typed_config.access_log = [
    {
      name: "envoy.access_loggers.file",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path: logPath,
        log_format: { text_format_source: { inline_string: "%DYNAMIC_METADATA(envoy.filters.network.mysql_proxy)%\n" } },
      },
    },
  ];
  filters.unshift({
    name: "envoy.filters.network.mysql_proxy",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy", ...mysql },
  });
  return { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } };
}

describe.each(RUNTIMES)("mysql_proxy on %s", (runtime) => {
  let server: MySQLServer;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let logPath: string;

  beforeAll(async () => {
    server = await mysqlServer();
    port = await freePort();
    adminPort = await freePort();
    logPath = join(mkdtempSync(join(inject("tempRoot"), "mysql-proxy-")), "tcp.log");
    proxy = await ProxyProcess.start(runtime, mysqlConfig(port, server.port, adminPort, logPath, { stat_prefix: "egress_mysql" }));
  });

  afterAll(async () => {
    await proxy?.stop();
    await server?.close();
  });

  const myStats = async () => {
    const all = await adminStats(adminPort);
    return Object.fromEntries([...all].filter(([name]) => name.startsWith("mysql.egress_mysql.")).map(([name, value]) => [name.slice("mysql.egress_mysql.".length), value]));
  };
  const delta = (before: Record<string, number>, after: Record<string, number>) => Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0));

  test("a login and queries: answers unchanged, Envoy's counters, the tables in the access log", async () => {
    const queries = ["SELECT * FROM orders", "INSERT INTO orders (id) VALUES (1)", "BAD query", "UPDATE orders SET n = n + 1"];
    const replies = await mysqlSession(port, { user: "root", database: "shop", queries });
    expect(replies).toEqual(["greeting", "ok", "rows", "ok", "err", "ok"]);
    expect(server.queries).toEqual(queries);
    expect(await myStats()).toEqual({
      sessions: 1, login_attempts: 1, login_failures: 0, decoder_errors: 0, protocol_errors: 0,
      upgraded_to_ssl: 0, auth_switch_request: 0,
      // "BAD query" does not parse.
      queries_parsed: 3, queries_parse_error: 1,
    });
    const [line] = await lines(logPath, 1);
    // Envoy's decoder has no database for MySQL: keys are the table names; the last statement's list.
    expect(JSON.parse(line!)).toEqual({ orders: ["update"] });
  });

  test("a refused login counts login_failures; an auth switch counts auth_switch_request", async () => {
    const before = await myStats();
    expect(await mysqlSession(port, { user: "denied" })).toEqual(["greeting", "err"]);
    expect(await mysqlSession(port, { user: "switch", queries: ["SELECT 1"] })).toEqual(["greeting", "switch", "ok", "rows"]);
    expect(delta(before, await myStats())).toEqual({ sessions: 2, login_attempts: 2, login_failures: 1, auth_switch_request: 1, queries_parsed: 1 });
  });

  test("an SSL request passes to the server and is counted upgraded_to_ssl; nothing after it is decoded", async () => {
    const before = await myStats();
    const sslBefore = server.sslRequests;
    expect(await mysqlSession(port, { user: "root", sslRequest: true })).toEqual(["greeting"]);
    expect(server.sslRequests - sslBefore).toBe(1);
    expect(delta(before, await myStats())).toEqual({ sessions: 1, login_attempts: 1, upgraded_to_ssl: 1 });
  });

  test("downstream_ssl: REQUIRE is refused at start, naming the value and why", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "mysql-refused-"));
    const path = writeConfig(mysqlConfig(await freePort(), server.port, await freePort(), join(dir, "log"), { stat_prefix: "m", downstream_ssl: "REQUIRE" }));
    const result = await runToExit(runtime, ["--mode", "validate", "-c", path], 60_000);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("downstream_ssl: REQUIRE is an Envoy value that polyvoy does not support yet (supported: DISABLE; terminating the client's SSL needs Envoy's starttls transport socket");
  });
});
