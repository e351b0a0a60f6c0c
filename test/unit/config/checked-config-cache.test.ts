/**
 * core/config/checked-config-cache.ts: a config kept as checked is read back as exactly what
 * the check gave, for Envoy's example configs and ours; an entry is used only for the very
 * text and format it was made from, and a damaged one is a miss, never an error.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../core/config/load.ts";
import { checkedConfigEntry, checkedConfigName, MAX_CHECKED_TEXT, notKeptBecause, readCheckedConfig } from "../../../core/config/checked-config-cache.ts";
import type { CheckedConfigStore } from "../../../core/port.ts";
import type { ConfigFormat, ValidConfig } from "../../../core/config/config-source.ts";
import { plainDataDifference } from "../../support/plain-data.ts";
import { httpProxyConfig, tcpProxyConfig } from "../../support/configs.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

const ROOT = join(import.meta.dirname, "../../..");

/** One of our HTTP configs: routes with a regex, an upgrade and a header match; `port` varies its text. */
const httpConfig = (port: number, upstream = 8080): object =>
  httpProxyConfig({
    listenPort: port,
    clusters: { backend: [upstream] },
    routes: [
      { match: { safe_regex: { regex: "/api/v[0-9]+/.*" } }, cluster: "backend" },
      { match: { prefix: "/ws", headers: [{ name: "upgrade", string_match: { exact: "websocket" } }] }, action: { route: { cluster: "backend", upgrade_configs: [{ upgrade_type: "websocket" }] } } },
      { match: { prefix: "/" }, cluster: "backend" },
    ],
  });

function memoryStore(): CheckedConfigStore & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return { location: "memory", entries, read: (name) => entries.get(name), write: (name, data) => void entries.set(name, data) };
}

function valid(text: string, format: ConfigFormat): ValidConfig {
  const loaded = loadConfig(text, format);
  if ("problems" in loaded) throw new Error(loaded.problems.join("\n"));
  return loaded;
}

/** Keeps `text`'s checked config in `store`; returns it. */
function keep(store: CheckedConfigStore, text: string, format: ConfigFormat): ValidConfig {
  const config = valid(text, format);
  const entry = checkedConfigEntry(format, text, config, false);
  expect(entry).toBeDefined();
  store.write(checkedConfigName(format, text), entry!);
  return config;
}

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else if (/\.(ya?ml|json)$/.test(name)) out.push(path);
  }
  return out;
}

describe("checked configs", () => {
  test("every valid example config reads back as what its check gave", () => {
    const paths = [...files(join(ROOT, "test/fixtures/envoy-examples")), ...files(join(ROOT, "examples"))];
    let kept = 0;
    for (const path of paths) {
      const text = readFileSync(path, "utf8");
      const format: ConfigFormat = path.endsWith(".json") ? "json" : "yaml";
      const loaded = loadConfig(text, format);
      if ("problems" in loaded) continue;
      const store = memoryStore();
      keep(store, text, format);
      const back = readCheckedConfig(store, format, text);
      expect(back, path).toBeDefined();
      // Against a check of its own: nothing the first one built is shared with the entry.
      expect(plainDataDifference(valid(text, format), back!.config), path).toBeUndefined();
      kept++;
    }
    expect(kept).toBeGreaterThan(30);
  });

  test("ours too, in JSON and in YAML", () => {
    for (const config of [httpConfig(10000), tcpProxyConfig({ listenPort: 10001, upstreamPorts: [8081, 8082], idleTimeout: "30s" })]) {
      const store = memoryStore();
      const json = JSON.stringify(config);
      const checked = keep(store, json, "json");
      expect(plainDataDifference(checked, readCheckedConfig(store, "json", json)?.config)).toBeUndefined();
      // The same text as YAML is another entry.
      expect(readCheckedConfig(store, "yaml", json)).toBeUndefined();
    }
  });

  test("an entry serves only the text it was made from", () => {
    const store = memoryStore();
    const text = JSON.stringify(httpConfig(10000));
    keep(store, text, "json");
    const other = JSON.stringify(httpConfig(10000, 8081));
    expect(readCheckedConfig(store, "json", other)).toBeUndefined();
    // Two texts whose names collide: the entry found is the other text's, so a miss.
    const colliding: CheckedConfigStore = { location: "memory", read: () => store.entries.values().next().value, write() {} };
    expect(readCheckedConfig(colliding, "json", other)).toBeUndefined();
    expect(readCheckedConfig(colliding, "json", text)).toBeDefined();
  });

  test("names differ with the text and the format", () => {
    const names = new Set<string>();
    for (let port = 10000; port < 10200; port++) names.add(checkedConfigName("json", JSON.stringify(httpConfig(port))));
    expect(names.size).toBe(200);
    expect(checkedConfigName("json", "{}")).not.toBe(checkedConfigName("yaml", "{}"));
    expect(checkedConfigName("yaml", "{}")).toMatch(/^[0-9a-f]{14}\.yaml\.checked$/);
  });

  test("an entry says whether the check needed the RE2 engine (a regex field may be spelt with escapes)", () => {
    // `safe_\u0072egex`: mayHoldRegex does not see it in the text, the check does.
    const text = JSON.stringify(httpConfig(10000)).replaceAll("safe_regex", "safe_\\u0072egex").replaceAll('"regex"', '"\\u0072egex"');
    expect(text).not.toMatch(/regex/i);
    const config = valid(text, "json");
    for (const regexEngine of [true, false]) {
      const store = memoryStore();
      store.write(checkedConfigName("json", text), checkedConfigEntry("json", text, config, regexEngine)!);
      expect(readCheckedConfig(store, "json", text)?.regexEngine).toBe(regexEngine);
    }
  });

  test("not kept: a secret inline (a TLS private key, a credential header), or a text longer than the limit", () => {
    const tls = (privateKey: object) => ({
      static_resources: {
        listeners: [
          {
            name: "tls",
            address: { socket_address: { address: "127.0.0.1", port_value: 10443 } },
            filter_chains: [
              {
                filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "t", cluster: "c" } }],
                transport_socket: {
                  name: "envoy.transport_sockets.tls",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    common_tls_context: { tls_certificates: [{ certificate_chain: { filename: "/etc/cert.pem" }, private_key: privateKey }] },
                  },
                },
              },
            ],
          },
        ],
        clusters: [{ name: "c", connect_timeout: "1s", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }] } }],
      },
    });
    const inline = JSON.stringify(tls({ inline_string: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n" }));
    expect(notKeptBecause(inline, valid(inline, "json"))).toBe("it holds a secret inline");
    const fromFile = JSON.stringify(tls({ filename: "/etc/key.pem" }));
    expect(notKeptBecause(fromFile, valid(fromFile, "json"))).toBeUndefined();
    // An inline body is no secret.
    const direct = JSON.stringify(httpConfig(10000));
    expect(notKeptBecause(direct, valid(direct, "json"))).toBeUndefined();
    // A header added to requests: a credential by its name, or not.
    const withHeader = (key: string, value = "Basic dXNlcjpwYXNz") =>
      JSON.stringify(
        httpProxyConfig({
          listenPort: 10000,
          clusters: { backend: [8080] },
          routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, request_headers_to_add: [{ header: { key, value } }] } }],
        }),
      );
    for (const key of ["authorization", "X-Api-Key", "x-auth-token", "cookie"]) {
      expect(notKeptBecause(withHeader(key), valid(withHeader(key), "json")), key).toBe("it holds a secret inline");
    }
    // A credential by its value, whatever the header's name; neither: kept.
    expect(notKeptBecause(withHeader("x-upstream", "Bearer abc"), valid(withHeader("x-upstream", "Bearer abc"), "json"))).toBe("it holds a secret inline");
    expect(notKeptBecause(withHeader("x-forwarded-proto", "https"), valid(withHeader("x-forwarded-proto", "https"), "json"))).toBeUndefined();
    const long = `${direct}${" ".repeat(MAX_CHECKED_TEXT)}`;
    expect(notKeptBecause(long, valid(long, "json"))).toMatch(/^its text is longer than/);
  });

  test("a damaged entry, or a store that fails, is a miss", () => {
    const store = memoryStore();
    const text = JSON.stringify(httpConfig(10000));
    keep(store, text, "json");
    const [name, entry] = store.entries.entries().next().value!;
    for (const damaged of [entry.slice(0, entry.length - 10), entry.slice(0, entry.indexOf("\n")), entry.slice(0, 20), "", "\n", entry.replace('"entry":2', '"entry":1'), entry.replace('"regexEngine":false', '"regexEngine":0'), entry + "x"]) {
      store.entries.set(name, damaged);
      expect(readCheckedConfig(store, "json", text), JSON.stringify(damaged.slice(0, 40))).toBeUndefined();
    }
    const failing: CheckedConfigStore = {
      location: "memory",
      read: () => {
        throw new Error("EIO");
      },
      write() {},
    };
    expect(readCheckedConfig(failing, "json", text)).toBeUndefined();
  });
});
